"""Items and users CSVs -> staged temp tables: titles, and attribute values one row per value.

Every column other than the id (and, for items, the title) becomes an attribute whose field is the
column name; a multi-valued cell such as "Action|Comedy" gives one row per value. The first row of an id
wins; later rows with the same id are counted and ignored. Header names are user text, so they reach
SQL only as bound values.
"""

from __future__ import annotations

from pathlib import Path

import duckdb

from engine.columns import ITEM_NAMES, TITLE_NAMES, USER_NAMES, find_column, normalize
from engine.csv_read import CsvFormat, IngestRefused, prepare_csv
from engine.csv_table import REJECTED_KEPT, WHITESPACE, OwnRejections, blank_sql, column_name, list_rejections
from engine.csv_table import read_csv_table
from engine.ingest_report import FileReport
from engine.schema import quote_ident

ITEMS_TABLE, ITEM_ATTRIBUTES_TABLE = "recscope_ingest_items", "recscope_ingest_item_attributes"
USER_ATTRIBUTES_TABLE = "recscope_ingest_user_attributes"


def stage_items(
    con: duckdb.DuckDBPyConnection, fmt: CsvFormat | None, workdir: Path, item_column: str, separator: str
) -> FileReport:
    """Temp tables ITEMS_TABLE (item_id, title) and ITEM_ATTRIBUTES_TABLE (item_id, field, value)."""
    con.execute(f"CREATE TEMP TABLE {quote_ident(ITEMS_TABLE)} (item_id VARCHAR, title VARCHAR)")
    con.execute(f"CREATE TEMP TABLE {quote_ident(ITEM_ATTRIBUTES_TABLE)} (item_id VARCHAR, field VARCHAR, value VARCHAR)")
    if fmt is None:
        return FileReport()
    id_index = _id_column(fmt, item_column, ITEM_NAMES, "item")
    title_index = find_column(fmt.header, TITLE_NAMES, {id_index})
    fmt, warnings = prepare_csv(fmt, workdir / "items.csv")
    report = _stage(con, fmt, "items", id_index, title_index, ITEM_ATTRIBUTES_TABLE, separator, warnings, workdir)
    title = "CAST(NULL AS VARCHAR)"  # an item listed without a title still counts as having metadata
    if title_index is not None:
        title = f"trim({quote_ident(column_name(title_index))}, {WHITESPACE})"
    con.execute(f"INSERT INTO {quote_ident(ITEMS_TABLE)} SELECT {quote_ident(column_name(id_index))}, {title} "
                f"FROM {quote_ident(_first('items'))}")  # fmt: skip
    return report


def stage_users(
    con: duckdb.DuckDBPyConnection, fmt: CsvFormat | None, workdir: Path, user_column: str, separator: str
) -> FileReport:
    """Temp table USER_ATTRIBUTES_TABLE (user_id, field, value)."""
    con.execute(f"CREATE TEMP TABLE {quote_ident(USER_ATTRIBUTES_TABLE)} (user_id VARCHAR, field VARCHAR, value VARCHAR)")
    if fmt is None:
        return FileReport()
    id_index = _id_column(fmt, user_column, USER_NAMES, "user")
    fmt, warnings = prepare_csv(fmt, workdir / "users.csv")
    return _stage(con, fmt, "users", id_index, None, USER_ATTRIBUTES_TABLE, separator, warnings, workdir)


def _id_column(fmt: CsvFormat, interactions_name: str, candidates: tuple[str, ...], role: str) -> int:
    """The column named as in the interactions file, else a common id name, else "id"."""
    for names in ((normalize(interactions_name),), candidates, ("id",)):
        found = find_column(fmt.header, names)
        if found is not None:
            return found
    raise IngestRefused(
        f'{fmt.label} has no {role} id column; name it "{interactions_name}" as in the interactions file, or "id"'
    )


def _first(kind: str) -> str:
    return f"recscope_ingest_{kind}_first"


def _stage(con, fmt, kind, id_index, title_index, attributes_table, separator, warnings, workdir) -> FileReport:
    raw, rejects = f"recscope_ingest_{kind}_raw", f"recscope_ingest_{kind}_rejects"
    result, fmt = read_csv_table(con, fmt, raw, rejects, workdir)
    warnings = warnings + [f"{fmt.label}: {warning}" for warning in result.warnings]
    id_sql = quote_ident(column_name(id_index))
    blank = f"({blank_sql(id_sql)} OR contains({id_sql}, chr(0)))"
    (count,) = con.execute(f"SELECT count(*) FROM {quote_ident(raw)} WHERE {blank}").fetchone()
    bad = con.execute(f"SELECT rowid FROM {quote_ident(raw)} WHERE {blank} ORDER BY rowid LIMIT ?", [REJECTED_KEPT]).fetchall()
    own = OwnRejections(int(count), [(int(row[0]), id_index, f"empty {kind[:-1]} id") for row in bad])
    rejected, more = list_rejections(con, fmt, rejects, result.rejected, own)
    con.execute(f"CREATE TEMP TABLE {quote_ident(_first(kind))} AS SELECT * FROM {quote_ident(raw)} WHERE NOT {blank} "
                f"QUALIFY row_number() OVER (PARTITION BY {id_sql} ORDER BY rowid) = 1")  # fmt: skip
    (kept,) = con.execute(f"SELECT count(*) FROM {quote_ident(_first(kind))}").fetchone()
    attributes = [k for k, name in enumerate(fmt.header) if k not in (id_index, title_index) and name.strip()]
    for k in attributes:
        _insert_attribute(con, _first(kind), attributes_table, id_sql, k, fmt.header[k].strip(), separator)
    unnamed = sum(1 for k, name in enumerate(fmt.header) if k not in (id_index, title_index) and not name.strip())
    if unnamed:
        more.append(f"{fmt.label}: {unnamed} column(s) without a header name were ignored")
    return FileReport(
        file=fmt.label, encoding=fmt.encoding, delimiter=fmt.delimiter, id_column=fmt.header[id_index],
        title_column=None if title_index is None else fmt.header[title_index],
        attribute_columns=tuple(fmt.header[k] for k in attributes), read=result.kept + result.rejected,
        accepted=int(kept), rejected_count=result.rejected + own.count, rejected=tuple(rejected),
        duplicates=result.kept - own.count - int(kept), warnings=tuple(warnings + more),
    )  # fmt: skip


def _insert_attribute(con, source: str, target: str, id_sql: str, k: int, field: str, separator: str) -> None:
    """One attribute column -> (id, field, value) rows, split on `separator`, trimmed, empty values dropped."""
    cell = quote_ident(column_name(k))
    values = f"unnest(string_split({cell}, $separator))" if separator else cell
    sql = (f"INSERT INTO {quote_ident(target)} SELECT DISTINCT id, $field, value FROM "
           f"(SELECT {id_sql} AS id, trim({values}, {WHITESPACE}) AS value FROM {quote_ident(source)} "
           f"WHERE {cell} IS NOT NULL) WHERE value <> ''")  # fmt: skip
    params = {"field": field, "separator": separator} if separator else {"field": field}
    con.execute(sql, params)
