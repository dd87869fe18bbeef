"""SQL that types the interaction columns and finds each row's first problem, and the reasons it reports.

Casting happens here with TRY_CAST rather than in DuckDB's CSV reader, so a bad value is rejected with
the exact line of its row (engine.csv_lines) and the text as written. Decisions: a blank or NUL-holding
id, a missing/unreadable/non-finite timestamp or one outside 1900-2200, and a rating that is not a finite
number reject the row; an empty rating is kept as "no rating".
"""

from __future__ import annotations

import duckdb

from engine.columns import MAX_TS, MIN_TS, Columns, TimeFormat
from engine.csv_table import REJECTED_KEPT, WHITESPACE, OwnRejections, blank_sql, column_name, padded_sql, quoted
from engine.schema import DATASET, INTERACTIONS, quote_ident

_COMMA, _DOT = "','", "'.'"

_REASONS = {
    1: "empty user id", 2: "the user id contains a NUL character", 3: "empty item id",
    4: "the item id contains a NUL character", 5: "missing timestamp", 6: "not a timestamp: {}",
    7: "timestamp {} is not a finite value", 8: "timestamp {} is outside the years 1900-2200 (wrong unit?)",
    9: "not a number: {}", 10: "rating {} is not a finite number",
}  # fmt: skip
_REASON_ROLE = {1: "user", 2: "user", 3: "item", 4: "item", 5: "time", 6: "time", 7: "time", 8: "time",
                9: "rating", 10: "rating"}  # fmt: skip


class InteractionQuery:
    """The query that reads the interaction columns as text, types them and finds each row's first problem.

    Casting happens here with TRY_CAST rather than in the CSV reader, so a bad value is rejected with the
    exact line of its row (engine.csv_lines) and the text as written; and it happens once, while DuckDB
    reads the file, so later steps only filter on `problem` (a _REASONS code; NULL = accepted). The
    detailed CASE runs only for rows that fail a cheap all-clear test (why: a long CASE over every row
    costs DuckDB about a second per million rows)."""

    def __init__(self, columns: Columns, time_format: TimeFormat | None, decimal_comma: bool) -> None:
        self.time_format, self.decimal_comma = time_format, decimal_comma
        self.raw = {role: None if k is None else quote_ident(column_name(k))
                    for role, k in (("user", columns.user), ("item", columns.item), ("time", columns.time),
                                    ("rating", columns.rating))}  # fmt: skip

    def _number(self, text: str) -> str:
        return f"TRY_CAST({f'replace({text}, {_COMMA}, {_DOT})' if self.decimal_comma else text} AS DOUBLE)"

    def _typed(self) -> str:
        """Inner select: the text columns u, i, t_text, r_text and the typed t_val, r_val."""
        parts = [f"{self.raw['user']} AS u", f"{self.raw['item']} AS i"]
        t = self.raw["time"]
        if t is not None:
            iso = self.time_format.sql_type == "TIMESTAMPTZ"
            typed = f"TRY_CAST(CASE WHEN {padded_sql(t)} THEN trim({t}, {WHITESPACE}) ELSE {t} END AS TIMESTAMPTZ)"
            parts += [f"{t} AS t_text", f"{typed if iso else self._number(t)} AS t_val"]
        if self.raw["rating"] is not None:
            parts += [f"{self.raw['rating']} AS r_text", f"{self._number(self.raw['rating'])} AS r_val"]
        return ", ".join(parts)

    def _seconds(self) -> str:
        if self.time_format.sql_type == "TIMESTAMPTZ":
            return "epoch(t_val)"
        return f"(t_val / {int(self.time_format.divisor)})"

    def _problem(self) -> str:
        clear = ["ascii(u) > 32", "NOT contains(u, chr(0))", "ascii(i) > 32", "NOT contains(i, chr(0))"]
        checks = [(1, blank_sql("u")), (2, "contains(u, chr(0))"), (3, blank_sql("i")), (4, "contains(i, chr(0))")]
        if self.raw["time"] is not None:
            in_range = f"{self._seconds()} BETWEEN {MIN_TS} AND {MAX_TS}"
            clear.append(in_range)
            checks += [(5, blank_sql("t_text")), (6, "t_val IS NULL"), (7, "NOT isfinite(t_val)"), (8, f"NOT ({in_range})")]
        if self.raw["rating"] is not None:
            clear.append("(r_text IS NULL OR isfinite(r_val))")
            checks += [(9, f"(NOT {blank_sql('r_text')} AND r_val IS NULL)"), (10, "NOT isfinite(r_val)")]
        detailed = "CASE " + " ".join(f"WHEN {condition} THEN {code}" for code, condition in checks) + " END"
        return f"CASE WHEN {' AND '.join(clear)} THEN NULL ELSE {detailed} END"

    def insert_select(self, source: str) -> str:
        """SELECT dataset, user_id, item_id, ts, rating, row_order FROM `source` (engine.csv_table's, with
        `position`), for INSERT INTO the store's interactions table: every parsed row, the accepted ones
        under the dataset $dataset and the rejected ones under $rejected_dataset, holding their problem
        code (a _REASONS key) in ts and the offending text, if any, in item_id (own_rejections reads them
        back; the caller deletes them before committing). Why both in one table: one pass over the file
        writes the dataset and finds the rejected rows, with no staging copy of the rows.

        Three levels, so that each expression is computed once (DuckDB copies an expression wherever its
        alias is used in the same SELECT)."""
        has_time, has_rating = self.raw["time"] is not None, self.raw["rating"] is not None
        ts = f"TRY_CAST(floor({self._seconds()}) AS BIGINT)" if has_time else "CAST(NULL AS BIGINT)"
        texts = ", t_text" * has_time + ", r_text" * has_rating
        shown = (["WHEN problem IN (6, 7, 8) THEN t_text"] if has_time else []) + (
            ["WHEN problem IN (9, 10) THEN r_text"] if has_rating else [])  # fmt: skip
        shown_sql = f"CASE {' '.join(shown)} END" if shown else "CAST(NULL AS VARCHAR)"
        checked = (f"SELECT u AS user_id, i AS item_id, {ts} AS ts, {'r_val' if has_rating else 'CAST(NULL AS DOUBLE)'} "
                   f"AS rating, CAST({self._problem()} AS UTINYINT) AS problem, position{texts} "
                   f"FROM (SELECT {self._typed()}, position FROM {source})")  # fmt: skip
        # an accepted row has no problem and nothing shown; a rejected row's ids may be NULL (not in the table)
        return ("SELECT CASE WHEN problem IS NULL THEN $dataset ELSE $rejected_dataset END, coalesce(user_id, ''), "
                "coalesce(shown, item_id, ''), coalesce(problem, ts), rating, position "
                f"FROM (SELECT user_id, item_id, ts, rating, problem, {shown_sql} AS shown, position FROM ({checked}))")


def own_rejections(con: duckdb.DuckDBPyConnection, rejected_dataset: str, columns: Columns) -> OwnRejections:
    """The rows InteractionQuery.insert_select put in the interactions table under `rejected_dataset` (rows
    DuckDB parsed but that cannot be used): their count, and the first REJECTED_KEPT as (position, column
    index, reason)."""
    i = INTERACTIONS
    sql = (f"SELECT {i.cols(('row_order', 'ts', 'item_id'))}, count(*) OVER () FROM {i.ident} WHERE {i.col(DATASET)} = ? "
           f"ORDER BY {i.col('row_order')} LIMIT ?")  # fmt: skip
    found = con.execute(sql, [rejected_dataset, REJECTED_KEPT]).fetchall()
    index = {"user": columns.user, "item": columns.item, "time": columns.time, "rating": columns.rating}
    rows = [(int(position), index[_REASON_ROLE[code]], _REASONS[code].format(quoted(shown)))
            for position, code, shown, _ in found]  # fmt: skip
    return OwnRejections(int(found[0][3]) if found else 0, rows)
