"""One dataset's interactions as dense numpy arrays, computed inside DuckDB.

Why: reading every row into a pandas frame of string ids and mapping them through Python dicts costs
memory and time proportional to the log (16 s and 660 MiB at 1 M rows). DuckDB numbers the distinct
ids (sorted, 1-based, exactly like engine.dataset.IdMap.from_ids over sorted ids), sorts the rows by
user, time (unknown = -1) and file position, and hands back three int64 columns; only the distinct id
strings become Python objects.
"""

from __future__ import annotations

import threading
from contextlib import suppress
from dataclasses import dataclass

import duckdb
import numpy as np

from engine.schema import DATASET, INTERACTIONS


QUERY_MEMORY_LIMIT = "512MB"  # DuckDB's join and sort spill to a temp folder beside the store beyond this
_LIMIT_LOCK = threading.Lock()


@dataclass(frozen=True)
class DenseInteractions:
    """Rows sorted by (user, ts, row_order); ids dense 1..n in sorted raw-id order."""

    user_ids: np.ndarray  # (U,) object array of str, sorted: dense user u is user_ids[u - 1]
    item_ids: np.ndarray  # (I,) object array of str, sorted
    users: np.ndarray  # (N,) int64 dense user of each row
    items: np.ndarray  # (N,) int64 dense item
    ts: np.ndarray  # (N,) int64 Unix seconds, -1 when unknown


def dense_interactions(con: duckdb.DuckDBPyConnection, name: str) -> DenseInteractions:
    """Dense arrays of dataset `name` (which must exist). Strings sort by code point in both DuckDB
    (byte order of UTF-8) and Python, so the dense ids equal build_sequence_data's."""
    i = INTERACTIONS
    rows = f"SELECT {i.col('user_id')} AS u, {i.col('item_id')} AS it, coalesce({i.col('ts')}, -1) AS ts, " \
           f"{i.col('row_order')} AS ro FROM {i.ident} WHERE {i.col(DATASET)} = $name"  # fmt: skip
    ids = {}
    for column in ("u", "it"):
        sql = f"WITH r AS ({rows}) SELECT DISTINCT {column} AS id FROM r ORDER BY id"
        ids[column] = con.execute(sql, {"name": name}).fetchnumpy()["id"]
    sql = (f"WITH r AS ({rows}), "
           f"du AS (SELECT u, row_number() OVER (ORDER BY u) AS d FROM (SELECT DISTINCT u FROM r)), "
           f"di AS (SELECT it, row_number() OVER (ORDER BY it) AS d FROM (SELECT DISTINCT it FROM r)) "
           f"SELECT CAST(du.d AS BIGINT) AS user, CAST(di.d AS BIGINT) AS item, CAST(r.ts AS BIGINT) AS ts "
           f"FROM r JOIN du USING (u) JOIN di USING (it) ORDER BY du.d, r.ts, r.ro")  # fmt: skip
    arrays = _with_memory_limit(con, lambda: con.execute(sql, {"name": name}).fetchnumpy())
    return DenseInteractions(
        user_ids=_object_strings(ids["u"]),
        item_ids=_object_strings(ids["it"]),
        users=np.asarray(arrays["user"], dtype=np.int64),
        items=np.asarray(arrays["item"], dtype=np.int64),
        ts=np.asarray(arrays["ts"], dtype=np.int64),
    )


def _with_memory_limit(con: duckdb.DuckDBPyConnection, run):
    """Run with DuckDB's memory capped at QUERY_MEMORY_LIMIT, then restore the previous limit.

    Why: uncapped, the join and sort of 25 M rows took the loading process to 4.4 GiB; capped at 512 MB
    the sorted runs spill to disk and the query peaked at 1.6 GiB, no slower on this machine. The limit
    is database-wide, so loads in one process take turns (a lock) and each puts the setting back."""
    with _LIMIT_LOCK:
        previous = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        con.execute("SET memory_limit = ?", [QUERY_MEMORY_LIMIT])
        try:
            return run()
        finally:
            with suppress(duckdb.Error):  # an aborted connection is closed next anyway
                con.execute("RESET memory_limit")  # exact when it was the default; its text form is rounded
                if con.execute("SELECT current_setting('memory_limit')").fetchone()[0] != previous:
                    con.execute("SET memory_limit = ?", [previous])


def _object_strings(values: np.ndarray) -> np.ndarray:
    return np.asarray(values, dtype=object).astype(str).astype(object) if len(values) else np.zeros(0, dtype=object)
