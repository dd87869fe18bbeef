"""SQL for one dataset's rows on an open connection: insert from frames, delete, count, fingerprint, select.

Kept apart from store.py, which owns the policy (connections, transactions, StoreError messages); these
functions only run statements, every value bound and every identifier from engine.schema.
"""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime

import duckdb
import pandas as pd

from engine.schema import DATASET, DATA_TABLES, DATASETS, INTERACTIONS, Table, data_columns, quote_ident

_STAGING_PREFIX = "recscope_staging_"  # per-connection views over the pandas frames being written


def insert_frame(con: duckdb.DuckDBPyConnection, table: Table, frame: pd.DataFrame, name: str) -> None:
    """INSERT ... SELECT from the registered frame (why: one vectorised scan, not a row-by-row executemany).

    ValueError if DuckDB reports a different row count than the frame has (nothing may be dropped silently)."""
    columns = data_columns(table)
    types = {column.name: column.sql_type for column in table.columns}
    view = _STAGING_PREFIX + table.name
    con.register(view, frame.loc[:, list(columns)])
    try:
        select = ", ".join(f"CAST({quote_ident(c)} AS {types[c]})" for c in columns)
        target = f"{table.ident} ({table.cols((DATASET, *columns))})"
        inserted = con.execute(f"INSERT INTO {target} SELECT ?, {select} FROM {quote_ident(view)}", [name]).fetchone()
    finally:
        with suppress(duckdb.Error):  # an aborted transaction refuses even this; closing the connection drops it
            con.unregister(view)
    if inserted is None or int(inserted[0]) != len(frame):
        raise ValueError(f"{table.name} stored {inserted} rows, expected {len(frame)}")


def insert_relation(con: duckdb.DuckDBPyConnection, table: Table, relation: str, name: str) -> int:
    """INSERT ... SELECT from a table or view already on `con` that has exactly `table`'s data columns.

    Why: ingest reads large CSVs straight into DuckDB temp tables, so their rows never become pandas
    frames. `relation` is quoted as an identifier; returns the number of rows inserted."""
    columns = data_columns(table)
    types = {column.name: column.sql_type for column in table.columns}
    select = ", ".join(f"CAST({quote_ident(c)} AS {types[c]})" for c in columns)
    target = f"{table.ident} ({table.cols((DATASET, *columns))})"
    inserted = con.execute(f"INSERT INTO {target} SELECT ?, {select} FROM {quote_ident(relation)}", [name]).fetchone()
    return 0 if inserted is None else int(inserted[0])


def delete_rows(con: duckdb.DuckDBPyConnection, name: str) -> None:
    """Delete the dataset's rows from every data table and its datasets row."""
    for table in DATA_TABLES:
        con.execute(f"DELETE FROM {table.ident} WHERE {table.col(DATASET)} = ?", [name])
    con.execute(f"DELETE FROM {DATASETS.ident} WHERE {DATASETS.col('name')} = ?", [name])


def fingerprint(con: duckdb.DuckDBPyConnection, name: str) -> str:
    """Row count plus two XORs of 64-bit per-row hashes over every interaction column, row_order included.

    Why XOR: bounded memory at any size, and row_order is unique per row, so reordering or duplicating
    rows still changes it. Why DuckDB's hash(): it hashes each value apart (ids cannot collide by
    concatenation) and costs ~0.1 CPU s per million rows, where md5 of each row's JSON cost ~0.65 s. The
    two hashes combine the columns in opposite orders, for 128 bits. It detects change, not tampering;
    the value is only ever compared with fingerprints stored by the same code."""
    i = INTERACTIONS
    columns = [i.col(column) for column in data_columns(i)]
    forward, backward = ", ".join(columns), ", ".join(reversed(columns))
    sql = f"SELECT count(*), bit_xor(hash({forward})), bit_xor(hash({backward})) FROM {i.ident} WHERE {i.col(DATASET)} = ?"
    count, first, second = con.execute(sql, [name]).fetchone()
    return f"{count}-{int(first or 0):016x}{int(second or 0):016x}"


def insert_dataset_row(
    con: duckdb.DuckDBPyConnection, name: str, source: str, has_timestamps: bool, digest: str, created_at: datetime,
    counts: tuple[int, int] | None = None,
) -> None:
    """The datasets row; its interaction count (and, unless `counts` gives (n_users, n_items), its distinct
    users and items) computed in SQL from the interactions just inserted."""
    d, i = DATASETS, INTERACTIONS
    if counts is None:
        distinct, params = f"count(DISTINCT {i.col('user_id')}), count(DISTINCT {i.col('item_id')})", []
    else:
        distinct, params = "?, ?", [int(counts[0]), int(counts[1])]
    sql = (f"INSERT INTO {d.ident} ({d.cols(d.column_names)}) SELECT ?, ?, {distinct}, count(*), ?, ?, ? "
           f"FROM {i.ident} WHERE {i.col(DATASET)} = ?")  # fmt: skip
    con.execute(sql, [name, source, *params, bool(has_timestamps), digest, created_at, name])


def dataset_row(con: duckdb.DuckDBPyConnection, name: str) -> tuple | None:
    """The datasets row in DATASETS column order, or None."""
    d = DATASETS
    return con.execute(f"SELECT {d.cols(d.column_names)} FROM {d.ident} WHERE {d.col('name')} = ?", [name]).fetchone()


def all_dataset_rows(con: duckdb.DuckDBPyConnection) -> pd.DataFrame:
    d = DATASETS
    return con.execute(f"SELECT {d.cols(d.column_names)} FROM {d.ident} ORDER BY {d.col('name')}").df()


def select_rows(con: duckdb.DuckDBPyConnection, table: Table, name: str, order_by: tuple[str, ...]) -> pd.DataFrame:
    """One dataset's rows of `table` without the dataset column, in a deterministic order."""
    columns = data_columns(table)
    sql = (f"SELECT {table.cols(columns)} FROM {table.ident} WHERE {table.col(DATASET)} = ? "
           f"ORDER BY {table.cols(order_by)}")  # fmt: skip
    return con.execute(sql, [name]).df()
