"""Read a prepared CSV into a DuckDB table (a temp table, or straight into a store table with each row's
position), and report every row that was rejected on its physical line.

Two kinds of rejection meet here: rows DuckDB itself refuses while parsing (wrong number of fields, a
value that does not cast, a broken quote, invalid UTF-8), found in its rejects table by start byte, and
rows the caller refuses after parsing (empty id, ...), found by their position among the kept rows.
engine.csv_lines turns both into line numbers in one scan of the file.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np

from engine.csv_lines import locate_lines
from engine.csv_pieces import PIECE_SHIFT, Piece, whole
from engine.csv_read import MAX_LINE_BYTES, CsvFormat, IngestRefused, normalize_newlines
from engine.schema import quote_ident

REJECTED_KEPT = 100_000  # rejected rows listed in a report (why: bounded memory on a file of garbage)
WHITESPACE = "' ' || chr(9) || chr(10) || chr(13) || chr(11) || chr(12)"  # SQL: the ASCII whitespace characters
_STRUCTURAL_FIRST = "CASE error_type WHEN 'CAST' THEN 1 ELSE 0 END"
_COUNTS = re.compile(r"Expected Number of Columns: (\d+) Found: (\d+)")
_CAST_VALUE = re.compile(r'Could not convert string "(.*)" to ', re.S)
MIXED_LINE_ENDINGS = "line endings mixed \\n, \\r\\n and \\r; all were read as \\n"  # the warning after a re-read


class MixedLineEndings(Exception):
    """DuckDB refused the file: its line endings change between rows outside quotes (the statement failed)."""


@dataclass(frozen=True)
class Rejection:
    """One rejected row: 1-based physical line where it starts (header = line 1), column (None = whole row)."""

    line: int
    column: str | None
    reason: str

    def to_dict(self) -> dict[str, object]:
        return {"line": self.line, "column": self.column, "reason": self.reason}


@dataclass(frozen=True)
class OwnRejections:
    """Rows the caller rejects after parsing: (row position among kept rows, column index, reason), first ones."""

    count: int
    rows: list[tuple[int, int | None, str]]


@dataclass(frozen=True)
class ReadResult:
    kept: int  # rows DuckDB parsed; the temp table's rowid is their position
    rejected: int  # rows DuckDB refused
    warnings: tuple[str, ...] = ()


def column_name(k: int) -> str:
    """The SQL name of the k-th CSV column in a temp table (why: header names are user text, never SQL)."""
    return f"c{k}"


def read_csv_table(
    con: duckdb.DuckDBPyConnection,
    fmt: CsvFormat,
    table: str,
    rejects: str,
    workdir: Path,
    query: Callable[[str], str] = lambda source: f"SELECT * FROM {source}",
    limit: int | None = None,
) -> tuple[ReadResult, CsvFormat]:
    """CREATE TEMP TABLE `table` AS query(source), where source reads the file's text columns c0, c1, ...;
    returns counts and the format actually read. The temp table's rowid is a kept row's position.

    `query` builds SQL from constants and quote_ident(column_name(k)) only, never from file content, and
    must keep the rows in file order. Every reader option is explicit (no sniffing): RFC 4180 quoting, header row, empty field
    = NULL, strict structure, all text. Rows DuckDB cannot split into the header's fields go to the temp
    table `rejects`; values are checked by the caller's SQL, so each such row keeps an exact line number.
    `limit` stops after that many kept rows. DuckDB refuses files whose line endings change between rows
    outside quotes; those are read again from a copy with every line ending turned into \n (line numbers
    stay the same)."""
    try:
        return _read(con, fmt, table, query, rejects, limit), fmt
    except duckdb.InvalidInputException as error:
        if "invalid state" not in str(error):
            raise IngestRefused(f"{fmt.label} could not be read as CSV ({_first_line(error)})") from None
    for name in (rejects, rejects + "_scans"):
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(name)}")
    fmt = normalize_newlines(fmt, workdir / f"{table}.csv")
    try:
        result = _read(con, fmt, table, query, rejects, limit)
    except duckdb.InvalidInputException as error:
        raise IngestRefused(f"{fmt.label} could not be read as CSV ({_first_line(error)})") from None
    return ReadResult(result.kept, result.rejected, (MIXED_LINE_ENDINGS,)), fmt


def _read(con, fmt: CsvFormat, table: str, query: Callable[[str], str], rejects: str, limit: int | None) -> ReadResult:
    source, params = _source(fmt, rejects)
    sql = f"CREATE TEMP TABLE {quote_ident(table)} AS {query(source)}"
    if limit is not None:
        sql += " LIMIT $limit"
        params["limit"] = limit
    con.execute(sql, params)
    kept, rejected = con.execute(f"SELECT (SELECT count(*) FROM {quote_ident(table)}), "
                                 f"(SELECT count(DISTINCT line_byte_position) FROM {quote_ident(rejects)})").fetchone()  # fmt: skip
    return ReadResult(int(kept), int(rejected))


def insert_csv_rows(
    con: duckdb.DuckDBPyConnection,
    fmt: CsvFormat,
    target: str,
    select: Callable[[str], str],
    rejects: str,
    params: dict[str, object] | None = None,
    limit: int | None = None,
    pieces: list[Piece] | None = None,
) -> ReadResult:
    """INSERT INTO `target` select(source): the file goes straight into a table in one pass, with no staging
    copy (why: staging 25 M rows in a temp table spilled past the memory cap and doubled the cost).

    `target` is SQL (a quoted table and its column list); `select` builds SQL from constants and named
    parameters, given in `params` (bound as $name; delim, columns, rejects, scans, max_line, limit and
    names starting with path_ and skip_ are taken), and must keep the rows in file order. The source has
    the text columns c0, c1, ... as read_csv_table's, plus `position`: a row's 0-based index among the rows
    DuckDB parsed (rows it rejects get none), which is read_csv_table's rowid; when the file is read as
    several `pieces` (engine.csv_pieces), (piece << PIECE_SHIFT) + its index in its piece. Rejected rows'
    byte positions are put back into the whole file's terms. Returns the rows inserted as `kept`.
    MixedLineEndings when DuckDB refuses the file's line endings; nothing is retried here, because the
    failed statement aborts the caller's transaction (normalize_newlines, then start it again)."""
    pieces = pieces or whole(fmt)
    bound: dict[str, object] = {}
    numbered = []
    for index, piece in enumerate(pieces):
        source, piece_params = _source(fmt, rejects, piece, f"_{index}")
        bound.update(piece_params)
        numbered.append(f"SELECT * EXCLUDE (ordinality), ordinality - 1 + {index << PIECE_SHIFT} AS position "
                        f"FROM {source} WITH ORDINALITY")  # fmt: skip
    sql = f"INSERT INTO {target} {select('(' + ' UNION ALL '.join(numbered) + ')')}"
    if limit is not None:
        sql += " LIMIT $limit"
        bound["limit"] = limit
    if len(pieces) > 1:  # positions are explicit: the pieces may be read side by side, in any order
        con.execute("SET SESSION preserve_insertion_order = false")
    try:
        (inserted,) = con.execute(sql, {**(params or {}), **bound}).fetchone()
    except duckdb.InvalidInputException as error:
        if "invalid state" in str(error):
            raise MixedLineEndings(fmt.label) from None
        raise IngestRefused(f"{fmt.label} could not be read as CSV ({_first_line(error)})") from None
    finally:
        if len(pieces) > 1:
            with suppress(duckdb.Error):  # an aborted transaction refuses it: the caller resets the session
                con.execute("RESET SESSION preserve_insertion_order")
    distinct_rows = "count(DISTINCT (scan_id, file_id, line_byte_position))"  # a piece's offsets are its own
    (rejected,) = con.execute(f"SELECT {distinct_rows} FROM {quote_ident(rejects)}").fetchone()
    if rejected and len(pieces) > 1:
        _rejects_in_whole_file(con, rejects, pieces)
    return ReadResult(int(inserted), int(rejected))


def _rejects_in_whole_file(con: duckdb.DuckDBPyConnection, rejects: str, pieces: list[Piece]) -> None:
    """Rewrite the rejected rows' byte positions from their piece's terms into the whole file's."""
    shifts = ", ".join(f"($path_{k}, {piece.start - piece.prefix})" for k, piece in enumerate(pieces))
    con.execute(
        f"UPDATE {quote_ident(rejects)} AS r SET line_byte_position = r.line_byte_position + shift.bytes "
        f"FROM {quote_ident(rejects + '_scans')} AS s, (VALUES {shifts}) AS shift(path, bytes) "
        "WHERE r.scan_id = s.scan_id AND r.file_id = s.file_id AND s.file_path = shift.path",
        {f"path_{k}": str(piece.path) for k, piece in enumerate(pieces)},
    )


def _source(fmt: CsvFormat, rejects: str, piece: Piece | None = None, suffix: str = "") -> tuple[str, dict[str, object]]:
    """read_csv of `fmt` (or of one piece of it) with every option explicit, and its named parameters;
    `suffix` names the path and skip parameters, which differ between pieces."""
    columns = {column_name(k): "VARCHAR" for k in range(len(fmt.header))}
    options = ("delim = $delim, quote = '\"', escape = '\"', header = true, auto_detect = false, columns = $columns, "
               "store_rejects = true, rejects_table = $rejects, rejects_scan = $scans, nullstr = '', encoding = 'utf-8', "
               f"max_line_size = $max_line, null_padding = false, strict_mode = true, skip = $skip{suffix}")  # fmt: skip
    piece = piece or whole(fmt)[0]
    params: dict[str, object] = {f"path{suffix}": str(piece.path), "delim": fmt.delimiter, "columns": columns,
                                 "rejects": rejects, "scans": rejects + "_scans", "max_line": MAX_LINE_BYTES,
                                 f"skip{suffix}": piece.skip}  # fmt: skip
    return f"read_csv($path{suffix}, {options})", params


def _first_line(error: Exception) -> str:
    return str(error).strip().splitlines()[0][:200]


def list_rejections(
    con: duckdb.DuckDBPyConnection, fmt: CsvFormat, rejects: str, parser_total: int, own: OwnRejections
) -> tuple[list[Rejection], list[str]]:
    """The first REJECTED_KEPT rejected rows (DuckDB's, `parser_total` in all, and the caller's) in file
    order, with warnings."""
    sql = (f"SELECT DISTINCT ON (line_byte_position) line_byte_position, line, column_name, error_type, "
           f"error_message FROM {quote_ident(rejects)} "
           f"ORDER BY line_byte_position, {_STRUCTURAL_FIRST}, column_idx LIMIT ?")  # fmt: skip
    parser_rows = con.execute(sql, [REJECTED_KEPT]).fetchall()
    if not parser_rows and not own.rows:
        return [], []
    offsets = np.array([row[0] for row in parser_rows], dtype=np.int64)
    positions = np.array([row[0] for row in own.rows], dtype=np.int64)
    scan = locate_lines(fmt.path, fmt.data_start, fmt.delimiter, offsets, positions)
    warnings = []
    if scan.unmatched_offsets or len(scan.row_lines) < len(np.unique(positions)):
        warnings.append(f"{fmt.label}: irregular quoting; some line numbers of rejected rows are approximate")
    found: list[tuple[int, int, Rejection]] = []
    for offset, duck_line, column, error_type, message in parser_rows:
        line = scan.offset_lines.get(int(offset), int(duck_line))
        index = _column_index(fmt, column) if error_type in ("CAST", "UNQUOTED VALUE") else None
        reason = _parser_reason(error_type, message)
        found.append((line, 0, Rejection(line, None if index is None else fmt.header[index], reason)))
    # Past the last listed DuckDB reject, unlisted ones would be counted as kept rows and shift the count;
    # such rows have REJECTED_KEPT rejections before them anyway, so they are left out.
    last_listed = max(entry[0] for entry in found) if parser_total > len(parser_rows) else None
    for position, index, reason in own.rows:
        line = scan.row_lines.get(position, position + 2)
        if last_listed is None or line < last_listed:
            found.append((line, 1, Rejection(line, None if index is None else fmt.header[index], reason)))
    found.sort(key=lambda entry: (entry[0], entry[1]))
    return [entry[2] for entry in found[:REJECTED_KEPT]], warnings


def blank_sql(column: str) -> str:
    """SQL: the text column is NULL or only ASCII whitespace (trim() runs only where the first character is
    whitespace, because it is slow: seconds per million rows)."""
    return (f"(CASE WHEN {column} IS NULL THEN true WHEN {_whitespace_code(f'ascii({column})')} "
            f"THEN trim({column}, {WHITESPACE}) = '' ELSE false END)")  # fmt: skip


def padded_sql(column: str) -> str:
    """SQL: the text column starts or ends with ASCII whitespace."""
    return f"({_whitespace_code(f'ascii({column})')} OR {_whitespace_code(f'ascii(right({column}, 1))')})"


def _whitespace_code(code: str) -> str:
    """SQL: the character code is ASCII whitespace: 9-13 (tab, LF, VT, FF, CR) or 32 (space). Why not
    `IN (32, 9, ...)`: DuckDB plans an IN list of six values as a hash join against the list, which made
    the interaction checks cost about a CPU second per 3 M rows; two comparisons cost next to nothing."""
    return f"({code} BETWEEN 9 AND 13 OR {code} = 32)"


def quoted(value: object, width: int = 60) -> str:
    """A value for a reason text: double-quoted, shortened, control characters escaped."""
    text = str(value)
    if len(text) > width:
        text = text[: width - 1] + "…"
    if not text.isprintable():
        text = text.encode("unicode_escape").decode("ascii")
    return f'"{text}"'


def _column_index(fmt: CsvFormat, column: str | None) -> int | None:
    if isinstance(column, str) and column[:1] == "c" and column[1:].isdigit() and int(column[1:]) < len(fmt.header):
        return int(column[1:])
    return None


def _parser_reason(error_type: str, message: str) -> str:
    counts = _COUNTS.search(message or "")
    if error_type == "MISSING COLUMNS" and counts:
        return f"too few fields: expected {counts[1]}, found {counts[2]}"
    if error_type == "TOO MANY COLUMNS" and counts:
        return f"too many fields: expected {counts[1]}, found {counts[2]}"
    if error_type == "UNQUOTED VALUE":
        return "a quoted field is not closed properly (a stray quote character?)"
    if error_type == "LINE SIZE OVER MAXIMUM":
        return f"the row is longer than {MAX_LINE_BYTES // (1 << 20)} MiB"
    if error_type.startswith("INVALID"):
        return "the row holds bytes that are not valid UTF-8"
    if error_type == "CAST":
        value = _CAST_VALUE.search(message or "")
        return f"cannot read {quoted(value[1]) if value else 'the value'}"
    return (message or error_type).strip().splitlines()[0][:200]
