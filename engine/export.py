"""Export a stored dataset as Parquet for distributed training: per-user sequences sharded by user, plus items.

DuckDB does the work (dense ids, chronological lists, the split, the sharded COPY), so the export needs no
pandas pass over the interactions. The folder is built under a temporary sibling name and renamed into
place, so DIR either holds a complete export or does not exist. Layout (docs/DISTRIBUTED.md has more):

  DIR/manifest.json                     format, dataset, counts, store fingerprint, shard -> files (sha256)
  DIR/items.parquet                     item (dense 1..I), item_id (raw), title
  DIR/item_attributes.parquet           item, item_id, field, value (one row per value)
  DIR/sequences/shard=K/data_*.parquet  user (dense), user_id (raw), items (dense, chronological),
                                        timestamps (-1 unknown), n_train, valid_item, test_item (0 = none)
Dense ids are those engine.dataset.build_sequence_data assigns (raw ids sorted, 1-based), so a model
trained on the export scores the same catalogue as one trained from the store.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import duckdb

from engine.checkpoint_files import file_sha256
from engine.schema import DATASET, INTERACTIONS, ITEM_ATTRIBUTES, ITEMS
from engine.store import Store

FORMAT = "recscope-parquet-export"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
SEQUENCES_DIR = "sequences"
DEFAULT_ROW_GROUP_ROWS = 8192  # users per row group: ~20 MB of lists at MovieLens density, small enough to stream
_USERS, _ITEMS, _SEQUENCES = "recscope_export_users", "recscope_export_items", "recscope_export_sequences"


class ExportError(Exception):
    """The export cannot be written as asked; the message says why, in one sentence."""


@dataclass(frozen=True)
class ExportSummary:
    path: Path
    dataset: str
    n_users: int
    n_items: int
    n_interactions: int
    shard_users: tuple[int, ...]  # users per shard, shard 0 first
    shard_interactions: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "path": str(self.path)}

    def text(self) -> str:
        shards = ", ".join(f"{u} users/{i} interactions" for u, i in zip(self.shard_users, self.shard_interactions))
        return f"exported {self.dataset} to {self.path}: {self.n_users} users, {self.n_items} items in {len(self.shard_users)} shard(s) ({shards})"


def export_dataset(
    store: Store,
    dataset: str,
    out_dir: str | Path,
    n_shards: int = 1,
    row_group_rows: int | None = None,
) -> ExportSummary:
    """Write `dataset` under `out_dir` (which must not exist yet) as `n_shards` user-disjoint shards.

    Users go to shards round-robin in order of decreasing interaction count (ties by dense id), so
    shards hold nearly equal numbers of interactions; every shard gets at least one user with a
    training window, or ExportError says there are too few such users for `n_shards`."""
    out = Path(out_dir)
    row_group_rows = DEFAULT_ROW_GROUP_ROWS if row_group_rows is None else int(row_group_rows)
    if n_shards < 1:
        raise ExportError(f"--shards must be at least 1, got {n_shards}")
    if row_group_rows < 1:
        raise ExportError(f"--row-group-rows must be at least 1, got {row_group_rows}")
    if out.exists():
        raise ExportError(f"{out} already exists; choose a new --out folder (an export is never merged into another)")
    info = store.dataset_info(dataset)  # StoreError names an unknown dataset
    temp = out.parent / f".{out.name}.tmp-{uuid.uuid4().hex[:8]}"
    (temp / SEQUENCES_DIR).mkdir(parents=True)
    try:
        with store.connect() as con:
            _stage(con, dataset, n_shards)
            with_windows = con.execute(f"SELECT count(*) FROM {_SEQUENCES} WHERE len(items) >= 2").fetchone()[0]
            if with_windows < n_shards:
                raise ExportError(f"dataset {dataset!r} has {with_windows} user(s) with two or more interactions; "
                                  f"use at most that many shards (asked for {n_shards})")  # fmt: skip
            shard_rows = _write_files(con, dataset, temp, row_group_rows)
        manifest = _manifest(temp, info, n_shards, row_group_rows, shard_rows)
        (temp / MANIFEST).write_text(json.dumps(manifest, indent=1), encoding="utf-8")
        os.rename(temp, out)  # the commit point: readers see all of the export or none of it
    finally:
        if temp.exists():
            shutil.rmtree(temp, ignore_errors=True)
    return ExportSummary(out, dataset, info.n_users, info.n_items, info.n_interactions,
                         tuple(s["n_users"] for s in manifest["shards"]),
                         tuple(s["n_interactions"] for s in manifest["shards"]))  # fmt: skip


def _stage(con: duckdb.DuckDBPyConnection, dataset: str, n_shards: int) -> None:
    """Temp tables: dense item and user ids (raw ids in byte order, as Python's sorted() on str gives),
    each user's shard, and one row per user with the chronological list of dense items."""
    i = INTERACTIONS
    d = i.col(DATASET)
    uid, iid, ts, order = i.col("user_id"), i.col("item_id"), i.col("ts"), i.col("row_order")
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {_ITEMS} AS
        SELECT CAST(row_number() OVER (ORDER BY item_id) AS BIGINT) AS item, item_id
        FROM (SELECT DISTINCT {iid} AS item_id FROM {i.ident} WHERE {d} = ?)""", [dataset])  # fmt: skip
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {_USERS} AS
        SELECT user_id, user, CAST((row_number() OVER (ORDER BY n DESC, user) - 1) % ? AS BIGINT) AS shard
        FROM (SELECT user_id, CAST(row_number() OVER (ORDER BY user_id) AS BIGINT) AS user, n
              FROM (SELECT {uid} AS user_id, count(*) AS n FROM {i.ident} WHERE {d} = ? GROUP BY {uid}))""",
                [n_shards, dataset])  # fmt: skip
    # Same order as build_sequence_data: time (unknown = -1), then position in the source file.
    chrono = f"coalesce(x.{ts}, -1), x.{order}"
    con.execute(f"""CREATE OR REPLACE TEMP TABLE {_SEQUENCES} AS
        SELECT u.shard, u.user, u.user_id,
               list(it.item ORDER BY {chrono}) AS items,
               list(coalesce(x.{ts}, -1) ORDER BY {chrono}) AS timestamps
        FROM {i.ident} x JOIN {_USERS} u ON x.{uid} = u.user_id JOIN {_ITEMS} it ON x.{iid} = it.item_id
        WHERE x.{d} = ? GROUP BY u.shard, u.user, u.user_id""", [dataset])  # fmt: skip


def _write_files(con: duckdb.DuckDBPyConnection, dataset: str, temp: Path, row_group_rows: int) -> list[tuple]:
    """COPY the three parts as zstd Parquet; returns (shard, users, interactions, training interactions)."""
    n = "len(items)"
    # The split of engine.dataset.SequenceData: last item = test, second-last = validation (3+ items).
    split = (f"CASE WHEN {n} >= 3 THEN {n} - 2 ELSE 1 END AS n_train, "
             f"CASE WHEN {n} >= 3 THEN items[{n} - 1] ELSE 0 END AS valid_item, "
             f"CASE WHEN {n} >= 2 THEN items[{n}] ELSE 0 END AS test_item")  # fmt: skip
    options = f"FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE {int(row_group_rows)}"  # an int, never text
    con.execute(f"COPY (SELECT shard, user, user_id, items, timestamps, {split} FROM {_SEQUENCES} ORDER BY user) "
                f"TO ? ({options}, PARTITION_BY (shard))", [str(temp / SEQUENCES_DIR)])  # fmt: skip
    t, a = ITEMS, ITEM_ATTRIBUTES
    con.execute(f"""COPY (SELECT it.item, it.item_id, m.title FROM {_ITEMS} it LEFT JOIN
        (SELECT {t.col('item_id')} AS item_id, max({t.col('title')}) AS title FROM {t.ident}
         WHERE {t.col(DATASET)} = ? GROUP BY {t.col('item_id')}) m ON m.item_id = it.item_id ORDER BY it.item)
        TO ? ({options})""", [dataset, str(temp / "items.parquet")])  # fmt: skip
    con.execute(f"""COPY (SELECT it.item, it.item_id, x.{a.col('field')} AS field, x.{a.col('value')} AS value
        FROM {a.ident} x JOIN {_ITEMS} it ON x.{a.col('item_id')} = it.item_id WHERE x.{a.col(DATASET)} = ?
        ORDER BY it.item, field, value) TO ? ({options})""", [dataset, str(temp / "item_attributes.parquet")])  # fmt: skip
    sql = (f"SELECT shard, count(*), sum({n}), sum(CASE WHEN {n} >= 3 THEN {n} - 2 ELSE 1 END) "
           f"FROM {_SEQUENCES} GROUP BY shard ORDER BY shard")  # fmt: skip
    return con.execute(sql).fetchall()


def _manifest(temp: Path, info, n_shards: int, row_group_rows: int, shard_rows: list[tuple]) -> dict[str, Any]:
    """What a reader needs before opening any Parquet file: counts, fingerprint, and each shard's files."""
    shards = []
    for shard, n_users, n_interactions, n_train in shard_rows:
        folder = temp / SEQUENCES_DIR / f"shard={shard}"
        files = [{"path": path.relative_to(temp).as_posix(), "bytes": path.stat().st_size, "sha256": file_sha256(path)}
                 for path in sorted(folder.glob("*.parquet"))]  # fmt: skip
        shards.append({"shard": int(shard), "n_users": int(n_users), "n_interactions": int(n_interactions),
                       "n_train_interactions": int(n_train), "files": files})  # fmt: skip
    if [s["shard"] for s in shards] != list(range(n_shards)):
        raise ExportError(f"DuckDB wrote shards {[s['shard'] for s in shards]}, expected 0..{n_shards - 1}")
    return {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "dataset": info.name,
        "source": info.source,
        "has_timestamps": bool(info.has_timestamps),
        "store_fingerprint": info.fingerprint,  # the store's fingerprint of the rows exported
        "n_users": int(info.n_users),
        "n_items": int(info.n_items),
        "n_interactions": int(info.n_interactions),
        "n_shards": n_shards,
        "sharding": "users round-robin by decreasing interaction count",
        "ids": "dense 1-based ids: raw ids sorted by UTF-8 bytes (items: items.parquet); 0 = padding / none",
        "row_group_rows": row_group_rows,
        "compression": "zstd",
        "items": {"path": "items.parquet", "sha256": file_sha256(temp / "items.parquet")},
        "item_attributes": {"path": "item_attributes.parquet", "sha256": file_sha256(temp / "item_attributes.parquet")},
        "shards": shards,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }


