"""The DuckDB store: datasets, their rows and the model registry in one embedded file.

Why this shape: connections are short-lived (opened per call, closed in finally) so processes and threads
take turns on one file; every dataset write is one transaction, so a failure or a killed process leaves
the previous content intact. The SQL itself lives in dataset_rows.py and registry.py; names in schema.py.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, suppress
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import duckdb
import pandas as pd

from engine import dataset_rows, registry, schema
from engine.frames import DatasetFrames
from engine.interaction_arrays import DenseInteractions, dense_interactions
from engine.registry import ModelRecord
from engine.schema import INTERACTIONS, ITEM_ATTRIBUTES, ITEMS, META, USER_ATTRIBUTES, Table, data_columns

__all__ = ["DEFAULT_DB_PATH", "DatasetCounts", "DatasetInfo", "DatasetWrite", "ModelRecord", "Store", "StoreError",
           "dataset_write_on", "find_dataset_on", "resolve_db_path", "write_dataset_on", "write_staged_dataset_on"]  # fmt: skip

DEFAULT_DB_PATH = Path("data") / "recscope.duckdb"
DB_ENV_VAR = "RECSCOPE_DB"
LOCK_TIMEOUT_S = 5.0  # how long to wait for another process's write before giving up (sample write: < 1 s)
# "Unique file handle conflict": two threads of one process opening the same file at the same moment
_BUSY_MARKERS = ("Could not set lock", "Conflicting lock", "different configuration", "Unique file handle conflict")
_SCHEMA_LOCK = threading.Lock()  # two threads creating the schema of one new file would conflict
_LOAD_DTYPES = {"user_id": "str", "item_id": "str", "title": "str", "field": "str", "value": "str",
                "ts": "Int64", "rating": "Float64", "row_order": "int64"}  # fmt: skip
_LIST_DTYPES = {"name": "str", "source": "str", "n_users": "int64", "n_items": "int64", "n_interactions": "int64",
                "has_timestamps": "bool", "fingerprint": "str", "created_at": "datetime64[us]"}  # fmt: skip


class StoreError(Exception):
    """A store problem explained in one sentence the dashboard and CLI can show as is."""


@dataclass(frozen=True)
class DatasetInfo:
    name: str
    source: str
    n_users: int
    n_items: int  # distinct items with at least one interaction (the model's catalogue)
    n_interactions: int
    has_timestamps: bool
    fingerprint: str  # changes whenever any interaction row changes
    created_at: datetime  # naive UTC


def resolve_db_path(cli_value: str | None) -> Path:
    """The store file: --db if given, else $RECSCOPE_DB, else data/recscope.duckdb under the cwd."""
    if cli_value:
        return Path(cli_value).expanduser()
    from_env = os.environ.get(DB_ENV_VAR, "").strip()
    return Path(from_env).expanduser() if from_env else DEFAULT_DB_PATH


class Store:
    """One DuckDB file. Cheap to construct; nothing is opened until a method runs."""

    def __init__(self, path: str | Path, read_only: bool = False, lock_timeout_s: float = LOCK_TIMEOUT_S) -> None:
        self.path = Path(path)
        self.read_only = read_only
        self.lock_timeout_s = lock_timeout_s
        self._schema_ready = False

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, read_only={self.read_only})"

    @property
    def model_dir(self) -> Path:
        """Checkpoints live beside the db file in `<stem>_models/`."""
        return self.path.parent / f"{self.path.stem}_models"

    def model_path(self, record: ModelRecord) -> Path:
        """Where a model's checkpoint lives; StoreError if its path would leave model_dir."""
        try:
            return self.model_dir / registry.checked_relative_path(record.path)
        except ValueError as error:
            raise StoreError(str(error)) from None

    @contextmanager
    def connect(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """A fresh connection with the schema in place, closed when the block ends."""
        con = self._open()
        try:
            self._ensure_schema(con)
            yield con
        except (duckdb.IOException, duckdb.FatalException, duckdb.InternalException) as error:
            raise StoreError(f"the store {self.path} could not be read or written: {error}") from error
        finally:
            con.close()

    # --- datasets ---------------------------------------------------------------------------------

    def list_datasets(self) -> pd.DataFrame:
        """One row per dataset, by name, with the DatasetInfo fields as columns."""
        with self.connect() as con:
            return dataset_rows.all_dataset_rows(con).astype(_LIST_DTYPES)

    def dataset_exists(self, name: str) -> bool:
        with self.connect() as con:
            return dataset_rows.dataset_row(con, name) is not None

    def dataset_info(self, name: str) -> DatasetInfo:
        with self.connect() as con:
            return _dataset_info(con, name)

    def write_dataset(self, frames: DatasetFrames, replace: bool = False) -> DatasetInfo:
        """Write every table of `frames` in one transaction; on replace, mark the dataset's models stale.

        StoreError if the name exists and replace is False, a frame lacks a column, or a row lacks an id.
        Any failure, StoreError or not, rolls the whole write back."""
        self._check_writable()
        _check_frames(frames)  # before opening, so a malformed frame never holds the file
        with self.connect() as con:
            return write_dataset_on(con, frames, replace)

    def delete_dataset(self, name: str) -> None:
        """Remove a dataset's rows; its models stay registered but are marked stale."""
        self._check_writable()
        with self.connect() as con, _transaction(con):
            _dataset_info(con, name)
            dataset_rows.delete_rows(con, name)
            registry.mark_stale(con, name)

    def load_interactions(self, name: str) -> pd.DataFrame:
        """user_id, item_id (str), ts (Int64, NA), rating (Float64, NA), row_order (int64), in file order."""
        return self._load(INTERACTIONS, name, ("row_order",))

    def load_dense_interactions(self, name: str) -> DenseInteractions:
        """Interactions as dense int64 arrays sorted by (user, time, file order), numbered in DuckDB
        (engine.interaction_arrays; why: no pandas frame of string ids at 25 M rows)."""
        with self.connect() as con:
            _dataset_info(con, name)
            return dense_interactions(con, name)

    def load_items(self, name: str) -> pd.DataFrame:
        """item_id, title (str, NaN when unknown), by item_id."""
        return self._load(ITEMS, name, ("item_id",))

    def load_item_attributes(self, name: str) -> pd.DataFrame:
        """item_id, field, value (str), one row per value, sorted."""
        return self._load(ITEM_ATTRIBUTES, name, ("item_id", "field", "value"))

    def load_user_attributes(self, name: str) -> pd.DataFrame:
        """user_id, field, value (str), one row per value, sorted."""
        return self._load(USER_ATTRIBUTES, name, ("user_id", "field", "value"))

    # --- model registry (its SQL is in engine.registry) -----------------------------------------

    def register_model(self, record: ModelRecord, replace: bool = False) -> ModelRecord:
        """Add a model row (created_at defaults to now); StoreError if the name is taken or the dataset unknown."""
        self._check_writable()
        with self.connect() as con, _transaction(con):
            _dataset_info(con, record.dataset)
            if registry.find_model(con, record.name) is not None:
                if not replace:
                    raise StoreError(f'model "{record.name}" already exists, pass replace=True')
                registry.delete_model(con, record.name)
            try:
                registry.insert_model(con, record, _utc_now())
            except ValueError as error:
                raise StoreError(str(error)) from None
        return self.get_model(record.name)

    def list_models(self, dataset: str | None = None) -> list[ModelRecord]:
        """Registered models, oldest first, optionally only those of one dataset."""
        with self.connect() as con:
            return registry.list_models(con, dataset)

    def get_model(self, name: str) -> ModelRecord:
        with self.connect() as con:
            record = registry.find_model(con, name)
        if record is None:
            raise StoreError(f'unknown model "{name}"')
        return record

    def model_name_exists(self, name: str) -> bool:
        with self.connect() as con:
            return registry.find_model(con, name) is not None

    def delete_model(self, name: str) -> ModelRecord:
        """Remove the registry row and return it (the caller owns the checkpoint file at model_path)."""
        self._check_writable()
        with self.connect() as con, _transaction(con):
            record = registry.find_model(con, name)
            if record is None:
                raise StoreError(f'unknown model "{name}"')
            registry.delete_model(con, name)
        return record

    # --- internals ----------------------------------------------------------------------------------

    def _check_writable(self) -> None:
        if self.read_only:
            raise StoreError(f"the store {self.path} is open read-only")

    def _load(self, table: Table, name: str, order_by: tuple[str, ...]) -> pd.DataFrame:
        with self.connect() as con:
            _dataset_info(con, name)
            frame = dataset_rows.select_rows(con, table, name, order_by)
        return frame.astype({column: _LOAD_DTYPES[column] for column in data_columns(table)})

    def _open(self) -> duckdb.DuckDBPyConnection:
        """Connect, retrying while another process (or a differently-configured connection) holds the file."""
        if self.read_only and not self.path.is_file():
            raise StoreError(f"there is no Recscope store at {self.path}")
        if not self.read_only:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        deadline, delay_s = time.monotonic() + self.lock_timeout_s, 0.02
        while True:
            try:
                return duckdb.connect(str(self.path), read_only=self.read_only)
            except duckdb.Error as error:
                message = str(error)
                if "not a valid DuckDB database file" in message:
                    raise StoreError(f"{self.path} is not a Recscope store (not a DuckDB file, or corrupt)") from None
                if not any(marker in message for marker in _BUSY_MARKERS):
                    raise StoreError(f"cannot open the store {self.path}: {message}") from error
                if time.monotonic() >= deadline:
                    raise StoreError(f"the store {self.path} is busy (another process holds it); try again") from None
                time.sleep(delay_s)
                delay_s = min(delay_s * 2, 0.25)

    def _ensure_schema(self, con: duckdb.DuckDBPyConnection) -> None:
        """Create the tables in a new file; refuse files that hold something else or a newer schema."""
        if self._schema_ready:
            return
        with _SCHEMA_LOCK:
            sql = ("SELECT table_name FROM information_schema.tables "
                   "WHERE table_catalog = current_database() AND table_schema = ?")  # fmt: skip
            existing = {row[0] for row in con.execute(sql, ["main"]).fetchall()}
            if existing and META.name not in existing:
                raise StoreError(f"{self.path} is a DuckDB file but not a Recscope store")
            if META.name in existing:
                sql = f"SELECT {META.col('value')} FROM {META.ident} WHERE {META.col('key')} = ?"
                row = con.execute(sql, [schema.META_SCHEMA_VERSION_KEY]).fetchone()
                if row is None or not str(row[0]).isdigit() or int(row[0]) > schema.SCHEMA_VERSION:
                    raise StoreError(f"{self.path} was written by a newer or unknown Recscope version")
            missing = [table for table in schema.ALL_TABLES if table.name not in existing]
            if missing and self.read_only:
                raise StoreError(f"{self.path} is not a Recscope store (tables missing)")
            if missing:
                with _transaction(con):
                    for table in missing:
                        con.execute(table.ddl())
                    if META in missing:
                        version = [schema.META_SCHEMA_VERSION_KEY, str(schema.SCHEMA_VERSION)]
                        con.execute(f"INSERT INTO {META.ident} ({META.cols(META.column_names)}) VALUES (?, ?)", version)
            self._schema_ready = True


def write_dataset_on(con: duckdb.DuckDBPyConnection, frames: DatasetFrames, replace: bool) -> DatasetInfo:
    """Store.write_dataset on an open connection (why: ensure_sample checks and writes on one connection)."""
    _check_frames(frames)
    name = frames.name
    try:
        with _transaction(con):
            existed = dataset_rows.dataset_row(con, name) is not None
            if existed and not replace:
                raise StoreError(f'dataset "{name}" already exists, pass replace=True to overwrite it')
            dataset_rows.delete_rows(con, name)
            for table, frame in zip(schema.DATA_TABLES, _frames_in_table_order(frames)):
                dataset_rows.insert_frame(con, table, frame, name)
            digest = dataset_rows.fingerprint(con, name)
            dataset_rows.insert_dataset_row(con, name, frames.source, frames.has_timestamps, digest, _utc_now())
            if existed:
                registry.mark_stale(con, name)
    except (duckdb.ConstraintException, duckdb.DataError, ValueError) as error:
        raise StoreError(f'dataset "{name}" was not written: {error}') from error
    except duckdb.TransactionException as error:
        if "duplicate key" in str(error):  # a concurrent writer committed the same name first
            raise StoreError(f'dataset "{name}" already exists, pass replace=True to overwrite it') from error
        raise StoreError(f'dataset "{name}" was not written: {error}') from error
    return _dataset_info(con, name)


def write_staged_dataset_on(
    con: duckdb.DuckDBPyConnection,
    name: str,
    source: str,
    has_timestamps: bool,
    relations: Mapping[str, str],
    replace: bool,
) -> DatasetInfo:
    """write_dataset_on for rows already in DuckDB: `relations` maps each data table's name to a temp table
    or view on `con` with exactly that table's data columns (why: rows that are not pandas frames). Same
    single transaction, checks, replace rule and stale-marking as write_dataset_on."""
    missing = [table.name for table in schema.DATA_TABLES if table.name not in relations]
    if missing:
        raise StoreError(f'dataset "{name}": no staged rows for {", ".join(missing)}')
    with dataset_write_on(con, name, replace) as write:
        dataset_rows.insert_relation(con, INTERACTIONS, relations[INTERACTIONS.name], name)
        write.finish(source, has_timestamps, relations)
    return _dataset_info(con, name)


@dataclass(frozen=True)
class DatasetCounts:
    """A dataset's distinct users and items, when the writer has counted them already (why: counting
    distinct ids again over 25 M stored rows costs seconds)."""

    n_users: int
    n_items: int


class DatasetWrite:
    """An open dataset write (dataset_write_on): the old rows are gone and the caller inserts the new
    interaction rows for `name` itself, then calls finish()."""

    def __init__(self, con: duckdb.DuckDBPyConnection, name: str, existed: bool) -> None:
        self.con, self.name, self.existed = con, name, existed
        self.finished = False

    def finish(self, source: str, has_timestamps: bool, relations: Mapping[str, str], counts: DatasetCounts | None = None) -> None:
        """Insert the items, item attributes and user attributes from `relations` (as in
        write_staged_dataset_on; an interactions entry is ignored), fingerprint the interactions, add the
        datasets row (with `counts` if given, else counted here) and mark old models stale."""
        con, name = self.con, self.name
        missing = [table.name for table in schema.DATA_TABLES[1:] if table.name not in relations]
        if missing:
            raise StoreError(f'dataset "{name}": no staged rows for {", ".join(missing)}')
        for table in schema.DATA_TABLES[1:]:
            dataset_rows.insert_relation(con, table, relations[table.name], name)
        digest = dataset_rows.fingerprint(con, name)
        if digest.startswith("0-"):
            raise StoreError(f'dataset "{name}" has no interactions')
        counts = None if counts is None else (counts.n_users, counts.n_items)
        dataset_rows.insert_dataset_row(con, name, source, has_timestamps, digest, _utc_now(), counts)
        if self.existed:
            registry.mark_stale(con, name)
        self.finished = True


@contextmanager
def dataset_write_on(con: duckdb.DuckDBPyConnection, name: str, replace: bool) -> Iterator[DatasetWrite]:
    """One transaction that replaces dataset `name` with rows the caller inserts itself (why: engine.ingest
    reads a CSV straight into the interactions table, so each row is written once). StoreError if `name`
    exists and replace is False; then the old rows are deleted and the block runs; it must end with
    DatasetWrite.finish(). Any exception, or a block that did not finish, rolls the whole write back."""
    if not isinstance(name, str) or not name.strip() or "\x00" in name:
        raise StoreError("a dataset name must be non-empty text without NUL characters")
    try:
        with _transaction(con):
            existed = dataset_rows.dataset_row(con, name) is not None
            if existed and not replace:
                raise StoreError(f'dataset "{name}" already exists, pass replace=True to overwrite it')
            dataset_rows.delete_rows(con, name)
            write = DatasetWrite(con, name, existed)
            yield write
            if not write.finished:
                raise StoreError(f'dataset "{name}" was not written: the write was not finished')
    except (duckdb.ConstraintException, duckdb.DataError) as error:
        raise StoreError(f'dataset "{name}" was not written: {error}') from error
    except duckdb.TransactionException as error:
        if "duplicate key" in str(error):  # a concurrent writer committed the same name first
            raise StoreError(f'dataset "{name}" already exists, pass replace=True to overwrite it') from error
        raise StoreError(f'dataset "{name}" was not written: {error}') from error


def find_dataset_on(con: duckdb.DuckDBPyConnection, name: str) -> DatasetInfo | None:
    """The dataset's row on an open connection, or None when there is no such dataset."""
    row = dataset_rows.dataset_row(con, name)
    return None if row is None else DatasetInfo(*row)


def _dataset_info(con: duckdb.DuckDBPyConnection, name: str) -> DatasetInfo:
    info = find_dataset_on(con, name)
    if info is None:
        raise StoreError(f'unknown dataset "{name}"')
    return info


@contextmanager
def _transaction(con: duckdb.DuckDBPyConnection) -> Iterator[None]:
    """BEGIN ... COMMIT, with ROLLBACK on any exception, KeyboardInterrupt included."""
    con.begin()
    try:
        yield
    except BaseException:
        with suppress(duckdb.Error):  # the original error matters more than a failed rollback
            con.rollback()
        raise
    con.commit()


def _check_frames(frames: DatasetFrames) -> None:
    if not isinstance(frames.name, str) or not frames.name.strip() or "\x00" in frames.name:
        raise StoreError("a dataset name must be non-empty text without NUL characters")
    for table, frame in zip(schema.DATA_TABLES, _frames_in_table_order(frames)):
        missing = ", ".join(column for column in data_columns(table) if column not in frame.columns)
        if missing:
            raise StoreError(f'dataset "{frames.name}": the {table.name} frame lacks column(s) {missing}')
    if not len(frames.interactions):
        raise StoreError(f'dataset "{frames.name}" has no interactions')


def _frames_in_table_order(frames: DatasetFrames) -> tuple[pd.DataFrame, ...]:
    return frames.interactions, frames.items, frames.item_attributes, frames.user_attributes


def _utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)
