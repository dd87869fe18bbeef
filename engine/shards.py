"""Read an engine.export folder with pyarrow: the manifest, one rank's training sequences, or all of it.

A rank reads only the shard files the manifest assigns to it; rank 0 alone rebuilds the full SequenceData
(through engine.dataset.build_sequence_data, so ids, split and fingerprint are the engine's own) because it
evaluates and writes the checkpoint. Every file is checked against the manifest's SHA-256 before use.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from engine.checkpoint_files import file_sha256
from engine.dataset import SequenceData, build_sequence_data
from engine.export import FORMAT, FORMAT_VERSION, MANIFEST


class ShardError(Exception):
    """An export folder is missing, of another format, or does not match its manifest."""


def read_manifest(directory: str | Path) -> dict[str, Any]:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ShardError(f"{directory} is not a Recscope export (no {MANIFEST}); run `python -m engine export`") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise ShardError(f"{path} is not valid JSON (truncated or corrupt)") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise ShardError(f"{path} is not a Recscope export manifest")
    if manifest.get("format_version") != FORMAT_VERSION:
        raise ShardError(f"{path} has format version {manifest.get('format_version')!r}; expected {FORMAT_VERSION}")
    return manifest


def shards_for_rank(n_shards: int, rank: int, world_size: int) -> list[int]:
    """Shards rank, rank + world, ... (why round-robin: any n_shards >= world_size works; a multiple of
    world_size gives every rank the same number of shards)."""
    if n_shards < world_size:
        raise ShardError(f"the export has {n_shards} shard(s) for {world_size} processes; re-export with "
                         f"--shards {world_size} (or a multiple of it)")  # fmt: skip
    return list(range(rank, n_shards, world_size))


def read_train_sequences(directory: str | Path, manifest: dict[str, Any], shards: list[int]) -> list[np.ndarray]:
    """The training part (dense item ids, chronological) of every user in `shards`, ordered by dense user id."""
    table = _read_shards(directory, manifest, shards, ["user", "items", "n_train"])
    offsets, values = _list_parts(table.column("items"))
    n_train = table.column("n_train").to_numpy()
    return [values[offsets[row] : offsets[row] + n_train[row]] for row in range(table.num_rows)]


def read_sequence_data(directory: str | Path, manifest: dict[str, Any]) -> SequenceData:
    """The whole dataset as SequenceData, identical (fingerprint included) to building it from the store."""
    table = _read_shards(directory, manifest, list(range(manifest["n_shards"])), ["user", "user_id", "items", "timestamps"])
    items = _read_checked(directory, manifest["items"], ["item", "item_id", "title"])
    raw_items = np.array([""] + items.column("item_id").to_pylist(), dtype=object)  # dense id -> raw id
    offsets, dense = _list_parts(table.column("items"))
    _, stamps = _list_parts(table.column("timestamps"))
    lengths = np.diff(offsets)
    interactions = pd.DataFrame({
        "user_id": np.repeat(np.array(table.column("user_id").to_pylist(), dtype=object), lengths),
        "item_id": raw_items[dense],
        "ts": pd.array(stamps, dtype="Int64"),
        "row_order": np.arange(len(dense), dtype=np.int64),  # rows are already chronological per user
    }).astype({"user_id": "str", "item_id": "str"})  # fmt: skip
    item_frame = items.select(["item_id", "title"]).to_pandas().astype({"item_id": "str", "title": "str"})
    attributes = _read_checked(directory, manifest["item_attributes"], ["item_id", "field", "value"]).to_pandas()
    attributes = attributes.astype({"item_id": "str", "field": "str", "value": "str"})
    data = build_sequence_data(manifest["dataset"], interactions, item_frame, attributes, bool(manifest["has_timestamps"]))
    if data.n_users != manifest["n_users"] or data.n_items != manifest["n_items"]:
        raise ShardError(f"the export holds {data.n_users} users and {data.n_items} items; its manifest says "
                         f"{manifest['n_users']} and {manifest['n_items']}")  # fmt: skip
    return data


def _read_shards(directory: str | Path, manifest: dict[str, Any], shards: list[int], columns: list[str]) -> pa.Table:
    """Rows of the given shards sorted by dense user id (why sorted: DuckDB writes partitions in any order,
    and the window order must not depend on it, or one export could train two different models)."""
    known = {entry["shard"]: entry for entry in manifest["shards"]}
    tables = []
    for shard in shards:
        if shard not in known:
            raise ShardError(f"shard {shard} is not in the manifest (it lists {sorted(known)})")
        tables.extend(_read_checked(directory, entry, columns) for entry in known[shard]["files"])
    table = pa.concat_tables(tables) if tables else pa.table({name: [] for name in columns})
    return table.sort_by("user")


def _read_checked(directory: str | Path, entry: dict[str, Any], columns: list[str]) -> pa.Table:
    path = Path(directory) / entry["path"]
    if not path.is_file():
        raise ShardError(f"{path} is listed in the manifest but missing")
    if file_sha256(path) != entry["sha256"]:
        raise ShardError(f"{path} does not match the manifest's SHA-256 (changed, truncated or corrupt)")
    return pq.read_table(path, columns=columns, use_threads=False)


def _list_parts(column: pa.ChunkedArray) -> tuple[np.ndarray, np.ndarray]:
    """(offsets (R+1,), values) of a list<int64> column, offsets starting at 0."""
    array = column.combine_chunks() if column.num_chunks != 1 else column.chunk(0)
    if isinstance(array, pa.ChunkedArray):  # combine_chunks of an empty column
        array = pa.array([], type=pa.list_(pa.int64()))
    offsets = array.offsets.to_numpy().astype(np.int64)
    values = array.flatten().to_numpy().astype(np.int64)
    return offsets - offsets[0], values
