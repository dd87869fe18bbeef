"""Bring your own data: interaction, item and user CSVs -> one dataset in the store, all or nothing.

Pipeline: check each file (engine.csv_read) -> resolve columns and the time format (engine.columns) ->
items and users into temp tables (engine.metadata) -> one transaction (store.dataset_write_on): DuckDB
reads the interactions file once, straight into the store's table, typing and checking each row on the
way (engine.csv_table, engine.interaction_checks; a large file in pieces read side by side,
engine.csv_pieces); rejected rows are listed and dropped, the rest counted,
and the write finished. No row passes through Python (only a 64-bit hash per row, for the duplicate
count), so memory stays bounded whatever the file size; rejected rows get their physical line from
engine.csv_lines.

Decisions a user can rely on:
- ids are kept verbatim: no number conversion and no trimming ("007" stays "007"; " 7" and "7" differ,
  and the report warns when ids have surrounding spaces). A blank id rejects the row.
- exact duplicate rows (same user, item, timestamp and rating) are kept, since repeat events are signal,
  and counted in the report.
- with a time column, a row without a valid timestamp is rejected; an empty rating is kept as "none".
- line numbers are the physical line where a row starts (header = line 1), quoted line breaks included.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd

from engine.columns import ColumnMapping, Columns, TimeFormat, detect_mapping, detect_time_format, resolve_columns
from engine.columns import uses_decimal_comma
from engine.csv_pieces import PIECE_SHIFT, Piece, positions_in_whole_file, split_csv, whole
from engine.csv_read import CsvFormat, IngestRefused, normalize_newlines, prepare_csv, sniff_csv
from engine.csv_table import MIXED_LINE_ENDINGS, MixedLineEndings, OwnRejections, Rejection, insert_csv_rows, list_rejections
from engine.csv_table import quoted
from engine.interaction_checks import InteractionQuery, own_rejections
from engine.ingest_report import FileReport, IngestReport
from engine.metadata import ITEM_ATTRIBUTES_TABLE, ITEMS_TABLE, USER_ATTRIBUTES_TABLE, stage_items, stage_users
from engine.schema import DATASET, INTERACTIONS, ITEM_ATTRIBUTES, ITEMS, USER_ATTRIBUTES, quote_ident
from engine.store import DatasetCounts, Store, StoreError, dataset_write_on, find_dataset_on

__all__ = ["ColumnMapping", "CsvPreview", "FileReport", "IngestRefused", "IngestReport", "Rejection",
           "detect_columns", "ingest_files", "ingest_files_on"]  # fmt: skip

MIN_EVALUABLE = 3  # interactions a user needs for train + validation + test targets
INGEST_MEMORY_LIMIT = "1GB"  # DuckDB spills beyond this (why: a 1 GB CSV must ingest in < 2 GiB RSS)
SKIPPED_COMPRESSION = "dict_fsst"  # (why: DuckDB 2.0 spends ~0.6 s per million strings choosing it; ids stay plain)
MAX_NAME_CHARS = 200
_REPEATED = "recscope_ingest_repeated_hashes"
NUMPY_HASH_ROWS = 50_000_000  # duplicate check: above this many rows DuckDB sorts the row hashes (400 MB in numpy)
_HASH_BATCH_ROWS = 1 << 20
_REJECTED_DATASET = "\x00recscope ingest: rejected rows"  # (why NUL: no dataset name can hold one; never committed)
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"
_GLOBAL_LOCK = threading.Lock()  # guards _GLOBAL_USERS: database path -> (ingests running, settings to restore)
_GLOBAL_USERS: dict[str, tuple[int, tuple | None]] = {}
_REJECTS = "recscope_ingest_rejects"
WORKDIR_PREFIX = "recscope-ingest-"  # then the ingesting process's id (why: orphaned folders are found by it)


@dataclass(frozen=True)
class CsvPreview:
    """What the upload page shows before loading: how the file reads and the detected mapping."""

    file: str
    delimiter: str
    encoding: str
    header: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]  # the first data rows, as text
    mapping: ColumnMapping  # detected names; None where nothing fits (the user must choose)


def detect_columns(path: str | Path, label: str | None = None, n_rows: int = 20) -> CsvPreview:
    """Read the start of `path` and detect its columns (IngestRefused if the file is unusable).

    Only the first megabyte is read, so an encoding problem further down shows up at ingest time."""
    fmt = sniff_csv(Path(path), label)
    return CsvPreview(fmt.label, fmt.delimiter, fmt.encoding, fmt.header, fmt.sample_rows[:n_rows], detect_mapping(fmt.header))


def ingest_files(
    store: Store,
    name: str,
    interactions_path: str | Path,
    items_path: str | Path | None = None,
    users_path: str | Path | None = None,
    mapping: ColumnMapping = ColumnMapping(),
    replace: bool = False,
    max_rows: int | None = None,
    item_attribute_separator: str = "|",
    *,
    max_bytes: int | None = None,
    labels: Mapping[str, str] | None = None,
    source: str | None = None,
) -> IngestReport:
    """Load the CSVs as dataset `name` in one transaction and report what happened to every row.

    IngestRefused (one sentence) when a file cannot be used at all, when more than `max_rows` interaction
    rows or `max_bytes` bytes are offered, or when `name` exists and `replace` is False; the store is then
    unchanged. labels: display names for messages ({"interactions": "ratings.csv"}), e.g. for uploads saved
    under a temporary name. On replace, the dataset's models are marked stale."""
    if store.read_only:
        raise StoreError(f"the store {store.path} is open read-only")
    plan = _plan(name, (interactions_path, items_path, users_path), mapping, max_rows, max_bytes, labels)
    with store.connect() as con:  # only after the files passed their checks: a refusal never waits for the store
        return _ingest_on(con, plan, replace, item_attribute_separator, source)


def ingest_files_on(
    con: duckdb.DuckDBPyConnection,
    name: str,
    interactions_path: str | Path,
    items_path: str | Path | None = None,
    users_path: str | Path | None = None,
    mapping: ColumnMapping = ColumnMapping(),
    replace: bool = False,
    max_rows: int | None = None,
    item_attribute_separator: str = "|",
    *,
    max_bytes: int | None = None,
    labels: Mapping[str, str] | None = None,
    source: str | None = None,
) -> IngestReport:
    """ingest_files on an open store connection (Store.connect()), e.g. to load many files on one connection."""
    plan = _plan(name, (interactions_path, items_path, users_path), mapping, max_rows, max_bytes, labels)
    return _ingest_on(con, plan, replace, item_attribute_separator, source)


@dataclass(frozen=True)
class _Plan:
    """Everything decided from the files' first megabyte, before the store is touched."""

    name: str
    formats: dict[str, CsvFormat]  # "interactions", and "items"/"users" when given
    columns: Columns
    time_format: TimeFormat | None
    decimal_comma: bool
    max_rows: int | None


def _plan(name, paths, mapping, max_rows, max_bytes, labels) -> _Plan:
    _check_name(name)
    if max_rows is not None and max_rows < 1:
        raise IngestRefused("the row limit must be at least 1")
    labels = dict(labels or {})
    kinds = ("interactions", "items", "users")
    formats = {kind: _sniff(Path(path), labels.get(kind), max_bytes) for kind, path in zip(kinds, paths) if path is not None}
    fmt = formats["interactions"]
    columns = resolve_columns(fmt.header, mapping, fmt.label)
    time_format = None
    if columns.time is not None:
        time_format = detect_time_format(_sample(fmt, columns.time), fmt.header[columns.time], fmt.label)
    decimal_comma = uses_decimal_comma(_sample(fmt, columns.rating), fmt.delimiter)
    return _Plan(name, formats, columns, time_format, decimal_comma, max_rows)


def _ingest_on(con: duckdb.DuckDBPyConnection, plan: _Plan, replace: bool, separator: str, source: str | None) -> IngestReport:
    existed = find_dataset_on(con, plan.name) is not None
    if existed and not replace:
        raise IngestRefused(f'a dataset named "{plan.name}" already exists; choose another name or pass --replace (replace=True)')
    try:
        remove_orphaned_workdirs()
        with tempfile.TemporaryDirectory(prefix=f"{WORKDIR_PREFIX}{os.getpid()}-") as workdir, _settings(con):
            return _ingest(con, plan, Path(workdir), replace, separator, source)
    finally:
        _drop_staging(con)


def _ingest(con, plan: _Plan, workdir: Path, replace: bool, separator: str, source: str | None) -> IngestReport:
    columns = plan.columns
    fmt, warnings = prepare_csv(plan.formats["interactions"], workdir / "interactions.csv")
    # Items and users first, outside the write: a file DuckDB must read twice (mixed line endings) aborts a transaction.
    items = stage_items(con, plan.formats.get("items"), workdir, fmt.header[columns.item], separator)
    users = stage_users(con, plan.formats.get("users"), workdir, fmt.header[columns.user], separator)
    try:
        return _write(con, plan, fmt, _pieces(fmt, workdir / "pieces"), warnings, items, users, replace, source)
    except MixedLineEndings:
        con.execute(f"DROP TABLE IF EXISTS {quote_ident(_REJECTS)}; DROP TABLE IF EXISTS {quote_ident(_REJECTS + '_scans')}")
        fmt = normalize_newlines(fmt, workdir / "interactions-newlines.csv")
        pieces = _pieces(fmt, workdir / "pieces-newlines")
        return _write(con, plan, fmt, pieces, [*warnings, f"{fmt.label}: {MIXED_LINE_ENDINGS}"], items, users, replace, source)


def _pieces(fmt: CsvFormat, folder: Path) -> list[Piece]:
    """The pieces to read the interactions file in; the whole file when they cannot be written (e.g. no
    room on disk for the copies: slower, but nothing is refused for it)."""
    folder.mkdir()
    try:
        return split_csv(fmt, folder)
    except OSError:
        shutil.rmtree(folder, ignore_errors=True)
        return whole(fmt)


def _write(con, plan: _Plan, fmt: CsvFormat, pieces: list[Piece], warnings: list[str], items: FileReport,
           users: FileReport, replace: bool, source: str | None) -> IngestReport:
    """One transaction: DuckDB reads the file into the interactions table (rejected rows under a name no
    dataset can have), the rejected rows are listed and deleted, the rest counted and the write finished."""
    name, columns, time_format, max_rows = plan.name, plan.columns, plan.time_format, plan.max_rows
    values = InteractionQuery(columns, time_format, plan.decimal_comma)
    limit = None if max_rows is None else max_rows + 1
    target = f"{INTERACTIONS.ident} ({INTERACTIONS.cols(INTERACTIONS.column_names)})"
    with dataset_write_on(con, name, replace) as write:
        params = {"dataset": name, "rejected_dataset": _REJECTED_DATASET}
        result = insert_csv_rows(con, fmt, target, values.insert_select, _REJECTS, params, limit, pieces)
        read = result.kept + result.rejected
        if max_rows is not None and read > max_rows:
            raise IngestRefused(f"{fmt.label} has more than {max_rows:,} rows, the limit here; upload a smaller file")
        own = own_rejections(con, _REJECTED_DATASET, columns)
        if len(pieces) > 1 and own.rows:
            own = _positions_in_whole_file(con, name, own)
        rejected, more_warnings = list_rejections(con, fmt, _REJECTS, result.rejected, own)
        accepted = result.kept - own.count
        if accepted == 0:
            first = f" (line {rejected[0].line}: {rejected[0].reason})" if rejected else ""
            raise IngestRefused(f"{fmt.label} has no usable rows: all {read:,} rows were rejected{first}")
        if own.count:
            con.execute(f"DELETE FROM {INTERACTIONS.ident} WHERE {INTERACTIONS.col(DATASET)} = ?", [_REJECTED_DATASET])
        stats = _statistics(con, name, accepted, items.file is not None)  # a failure here leaves the store as it was
        relations = {ITEMS.name: ITEMS_TABLE, ITEM_ATTRIBUTES.name: ITEM_ATTRIBUTES_TABLE, USER_ATTRIBUTES.name: USER_ATTRIBUTES_TABLE}
        has_timestamps = time_format is not None
        write.finish(source or f"CSV upload: {fmt.label}", has_timestamps, relations,
                     DatasetCounts(stats["n_users"], stats["n_items"]))  # fmt: skip
    info = find_dataset_on(con, name)
    if stats["items_without_metadata"] is None:  # no items file: no item has metadata
        stats["items_without_metadata"] = info.n_items
    return IngestReport(
        dataset=name, replaced=write.existed, fingerprint=info.fingerprint, interactions_file=fmt.label,
        interactions_read=read, interactions_accepted=accepted, interactions_rejected=read - accepted,
        rejected=tuple(rejected), duplicates=stats["duplicates"], n_users=stats["n_users"], n_items=stats["n_items"],
        users_with_too_few_interactions=stats["users_with_too_few_interactions"],
        items_without_metadata=stats["items_without_metadata"], has_timestamps=has_timestamps,
        timestamp_format=None if time_format is None else time_format.name, delimiter=fmt.delimiter,
        encoding=fmt.encoding, mapping=columns.mapping(fmt.header), items=items, users=users,
        warnings=tuple(warnings + more_warnings + _warnings(stats, time_format, items, _padded_id(fmt, columns))),
    )  # fmt: skip


def remove_orphaned_workdirs(parent: Path | None = None) -> list[Path]:
    """Delete the work folders of ingests whose process has died (a killed ingest leaves its copies of the
    file behind: a gigabyte for a large one); returns what was removed."""
    removed = []
    for folder in Path(parent or tempfile.gettempdir()).glob(f"{WORKDIR_PREFIX}*-*"):
        pid = folder.name[len(WORKDIR_PREFIX):].split("-", 1)[0]
        if pid.isdigit() and not _process_alive(int(pid)) and folder.is_dir() and not folder.is_symlink():
            shutil.rmtree(folder, ignore_errors=True)
            removed.append(folder)
    return removed


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # alive, but another user's
        return True
    return True


def _positions_in_whole_file(con: duckdb.DuckDBPyConnection, name: str, own: OwnRejections) -> OwnRejections:
    """Own rejections with piece positions turned into indices among all the rows DuckDB parsed, which is
    what engine.csv_lines locates."""
    i = INTERACTIONS
    counts = dict(con.execute(
        f"SELECT {i.col('row_order')} >> {PIECE_SHIFT} AS piece, count(*) FROM {i.ident} "
        f"WHERE {i.col(DATASET)} IN (?, ?) GROUP BY piece", [name, _REJECTED_DATASET]).fetchall())  # fmt: skip
    positions = positions_in_whole_file([position for position, _, _ in own.rows], counts)
    return OwnRejections(own.count, [(at, column, reason) for at, (_, column, reason) in zip(positions, own.rows)])


def _sniff(path: Path, label: str | None, max_bytes: int | None) -> CsvFormat:
    label = label or path.name
    if max_bytes is not None:
        try:
            size = path.stat().st_size
        except OSError as error:
            raise IngestRefused(f"{label} cannot be opened: {error.strerror or error}") from None
        if size > max_bytes:
            raise IngestRefused(f"{label} is {size / 2**20:,.1f} MiB, more than the {max_bytes / 2**20:,.1f} MiB limit here")
    return sniff_csv(path, label)


def _check_name(name: str) -> None:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME_CHARS or not name.isprintable():
        raise IngestRefused(f"a dataset name must be 1-{MAX_NAME_CHARS} printable characters")


def _padded_id(fmt: CsvFormat, columns: Columns) -> str | None:
    """A user or item id with surrounding whitespace among the sample rows, if any (why the sample: the
    check costs a second per 5 M rows over the whole file, for a warning)."""
    ids = _sample(fmt, columns.user) + _sample(fmt, columns.item)
    return next((value for value in ids if value != value.strip(_ASCII_WHITESPACE) and value.strip(_ASCII_WHITESPACE)), None)


def _sample(fmt: CsvFormat, index: int | None) -> list[str]:
    return [] if index is None else [row[index] for row in fmt.sample_rows if len(row) == len(fmt.header)]


def _drop_staging(con: duckdb.DuckDBPyConnection) -> None:
    """Drop this module's temp tables and views, so a reused connection starts clean (and frees their memory)."""
    try:
        rows = con.execute(
            "SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = 'temp' "
            "AND starts_with(table_name, 'recscope_ingest_')"
        ).fetchall()
        drops = [f"DROP {'VIEW' if kind == 'VIEW' else 'TABLE'} IF EXISTS temp.{quote_ident(table)}" for table, kind in rows]
        if drops:
            con.execute("; ".join(drops))  # one round trip; the names come from the catalog, quoted
    except duckdb.Error:
        pass  # a connection that failed this badly is closed by its owner, temp objects with it


@contextmanager
def _settings(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """For this ingest: UTC for ISO timestamps and no progress bar (this connection); a memory cap, reads in
    file order and no dict_fsst compression (database-wide, so they are set by the first of concurrent
    ingests on a database and put back by the last). Everything is restored afterwards."""
    local = con.execute("SELECT current_setting('TimeZone'), current_setting('enable_progress_bar')").fetchone()
    con.execute("SET TimeZone = 'UTC'; SET enable_progress_bar = false")  # the bar would go to stdout, into --json
    (database,) = con.execute("SELECT path FROM duckdb_databases() WHERE database_name = current_database()").fetchone()
    with _GLOBAL_LOCK:
        users, saved = _GLOBAL_USERS.get(database, (0, None))
        if users == 0:
            saved = con.execute("SELECT current_setting('memory_limit'), current_setting('preserve_insertion_order'), "
                                "current_setting('disabled_compression_methods')").fetchone()  # fmt: skip
            con.execute("SET memory_limit = ?", [INGEST_MEMORY_LIMIT])
            con.execute("SET preserve_insertion_order = true")  # rows numbered and stored in file order
            con.execute("SET disabled_compression_methods = ?", [SKIPPED_COMPRESSION])
        _GLOBAL_USERS[database] = (users + 1, saved)
    try:
        yield
    finally:
        with _GLOBAL_LOCK, suppress(duckdb.Error):  # an aborted connection is closed next anyway
            users, saved = _GLOBAL_USERS.pop(database)
            if users > 1:
                _GLOBAL_USERS[database] = (users - 1, saved)
            else:
                con.execute("RESET memory_limit")  # exact when it was the default; its text form is rounded
                if con.execute("SELECT current_setting('memory_limit')").fetchone()[0] != saved[0]:
                    con.execute("SET memory_limit = ?", [saved[0]])
                con.execute("SET preserve_insertion_order = ?", [bool(saved[1])])
                con.execute("SET disabled_compression_methods = ?", [saved[2] or ""])
        with suppress(duckdb.Error):
            con.execute("RESET SESSION preserve_insertion_order")  # a read in pieces sets it for this connection
            con.execute("SET TimeZone = ?", [local[0]])
            con.execute("SET enable_progress_bar = ?", [bool(local[1])])


def _statistics(con: duckdb.DuckDBPyConnection, name: str, accepted: int, with_items_file: bool) -> dict[str, int | None]:
    """Over the dataset's rows as written (uncommitted): users (and those too short to evaluate), items,
    items without metadata (None without an items file) and exact duplicate rows. The user and item counts
    go into the datasets row as well (why: counting distinct ids there again cost seconds at 25 M rows)."""
    i = INTERACTIONS
    rows = f"FROM {i.ident} WHERE {i.col(DATASET)} = $name"
    sql = (f"SELECT count(*), count(*) FILTER (WHERE n < $few) FROM (SELECT {i.col('user_id')}, count(*) AS n {rows} "
           f"GROUP BY {i.col('user_id')})")  # fmt: skip
    users, few = con.execute(sql, {"name": name, "few": MIN_EVALUABLE}).fetchone()
    items = f"(SELECT {i.col('item_id')} AS item_id {rows} GROUP BY {i.col('item_id')})"
    if with_items_file:
        sql = (f"SELECT count(*), count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM {quote_ident(ITEMS_TABLE)} m "
               f"WHERE m.item_id = d.item_id)) FROM {items} d")  # fmt: skip
        n_items, bare = con.execute(sql, {"name": name}).fetchone()
    else:
        (n_items,), bare = con.execute(f"SELECT count(*) FROM {items}", {"name": name}).fetchone(), None
    return {"n_users": int(users), "n_items": int(n_items), "users_with_too_few_interactions": int(few),
            "duplicates": _duplicates(con, name, accepted), "items_without_metadata": None if bare is None else int(bare)}  # fmt: skip


def _duplicates(con: duckdb.DuckDBPyConnection, name: str, accepted: int) -> int:
    """Rows that repeat an earlier row exactly (user, item, timestamp and rating).

    Rows whose 64-bit hash repeats are found first; only they are then compared column by column, so the
    count is exact. Up to NUMPY_HASH_ROWS rows the hashes are sorted in numpy (why: DuckDB's sort of 25 M
    hashes spilled past the memory cap and cost ~10 CPU s; numpy's takes ~0.6 s, at 8 bytes a row);
    beyond that DuckDB sorts them, spilling to disk, so memory stays bounded at any size."""
    i = INTERACTIONS
    values = i.cols(("user_id", "item_id", "ts", "rating"))
    rows = f"FROM {i.ident} WHERE {i.col(DATASET)} = ?"
    repeated = quote_ident(_REPEATED)
    if accepted <= NUMPY_HASH_ROWS:
        hashes = np.empty(accepted, dtype=np.uint64)
        filled = 0
        con.complete()  # the previous statement's result (con.sql refuses to start while one is open)
        reader = con.sql(f"SELECT hash({values}) AS h {rows}", params=[name]).to_arrow_reader(_HASH_BATCH_ROWS)  # streamed
        for batch in reader:
            chunk = batch.column(0).to_numpy()
            hashes[filled : filled + len(chunk)] = chunk
            filled += len(chunk)
        if filled != accepted:
            raise RuntimeError(f"{filled:,} row hashes for {accepted:,} accepted rows")
        hashes.sort()
        found = np.unique(hashes[1:][hashes[1:] == hashes[:-1]])
        del hashes
        if not len(found):
            return 0
        view = _REPEATED + "_found"
        con.register(view, pd.DataFrame({"h": found}))
        try:
            con.execute(f"CREATE TEMP TABLE {repeated} AS SELECT h FROM {quote_ident(view)}").fetchall()
        finally:
            con.unregister(view)
    else:
        con.execute(f"CREATE TEMP TABLE {repeated} AS SELECT DISTINCT h FROM (SELECT h, lag(h) OVER (ORDER BY h) AS previous "
                    f"FROM (SELECT hash({values}) AS h {rows})) WHERE h = previous", [name])  # fmt: skip
    (duplicates,) = con.execute(f"SELECT coalesce(sum(n) - count(*), 0) FROM (SELECT count(*) AS n {rows} "
                                f"AND hash({values}) IN (SELECT h FROM {repeated}) GROUP BY {values})", [name]).fetchone()  # fmt: skip
    return int(duplicates)


def _warnings(stats: dict[str, int], time_format: TimeFormat | None, items: FileReport, padded: str | None) -> list[str]:
    found = []
    if time_format is None:
        found.append("no time column: each user's order follows the file, top to bottom")
    if padded:
        found.append(f"ids with surrounding spaces, such as {quoted(padded)} in the first rows, are kept as given "
                     "(so \" 42\" and \"42\" are different ids)")  # fmt: skip
    if stats["users_with_too_few_interactions"]:
        found.append(f"{stats['users_with_too_few_interactions']:,} users have fewer than {MIN_EVALUABLE} interactions "
                     "and cannot be evaluated")  # fmt: skip
    if not items.file:
        found.append("no items file: titles show the item ids and the model has no item attributes")
    elif stats["items_without_metadata"]:
        found.append(f"{stats['items_without_metadata']:,} items have no row in {items.file} (no title or attributes)")
    return found
