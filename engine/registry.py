"""The model registry's rows: one ModelRecord per trained model, read and written on an open connection.

Kept apart from store.py so the store stays about datasets; Store's register_model/get_model/... wrap
these and turn their ValueErrors and Nones into StoreErrors. config and metrics are stored as JSON text.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import PurePosixPath
from typing import Any

import duckdb

from engine.schema import DATASET, MODELS


@dataclass(frozen=True)
class ModelRecord:
    name: str
    dataset: str
    scorer: str
    path: str  # relative to Store.model_dir (why: the store file and its checkpoints move together)
    config: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    stale: bool = False  # set when the dataset was replaced or deleted after training
    created_at: datetime | None = None  # naive UTC; register_model fills it in when None


def checked_relative_path(path: str) -> PurePosixPath:
    """ValueError on absolute paths, '..', backslashes or NUL (why: a row must never point outside model_dir)."""
    relative = PurePosixPath(path)
    if not path or relative.is_absolute() or ".." in relative.parts or "\\" in path or "\x00" in path:
        raise ValueError(f"model path {path!r} must be relative to the model directory, without '..'")
    return relative


def to_json(value: dict[str, Any]) -> str:
    """JSON text; numpy scalars become plain numbers, anything else unserialisable is a ValueError."""

    def plain(obj: Any) -> Any:
        if hasattr(obj, "item"):
            return obj.item()
        raise ValueError(f"cannot store a {type(obj).__name__} in a model's config or metrics")

    return json.dumps(value, sort_keys=True, default=plain)


def insert_model(con: duckdb.DuckDBPyConnection, record: ModelRecord, created_at: datetime) -> None:
    """Insert one row; ValueError for a path outside model_dir or config/metrics that are not JSON."""
    checked_relative_path(record.path)
    config, metrics = to_json(record.config), to_json(record.metrics)
    stamp = record.created_at or created_at
    row = [record.name, record.dataset, record.scorer, record.path, config, metrics, record.fingerprint,
           bool(record.stale), stamp]  # fmt: skip
    marks = ", ".join("?" for _ in MODELS.columns)
    con.execute(f"INSERT INTO {MODELS.ident} ({MODELS.cols(MODELS.column_names)}) VALUES ({marks})", row)


def find_model(con: duckdb.DuckDBPyConnection, name: str) -> ModelRecord | None:
    sql = f"SELECT {MODELS.cols(MODELS.column_names)} FROM {MODELS.ident} WHERE {MODELS.col('name')} = ?"
    row = con.execute(sql, [name]).fetchone()
    return None if row is None else _record(row)


def list_models(con: duckdb.DuckDBPyConnection, dataset: str | None) -> list[ModelRecord]:
    sql = f"SELECT {MODELS.cols(MODELS.column_names)} FROM {MODELS.ident}"
    params: list[Any] = []
    if dataset is not None:
        sql += f" WHERE {MODELS.col(DATASET)} = ?"
        params.append(dataset)
    sql += f" ORDER BY {MODELS.col('created_at')}, {MODELS.col('name')}"
    return [_record(row) for row in con.execute(sql, params).fetchall()]


def delete_model(con: duckdb.DuckDBPyConnection, name: str) -> None:
    con.execute(f"DELETE FROM {MODELS.ident} WHERE {MODELS.col('name')} = ?", [name])


def mark_stale(con: duckdb.DuckDBPyConnection, dataset: str) -> None:
    """Flag every model of `dataset` (why: its rows changed under it, so its id maps no longer match)."""
    con.execute(f"UPDATE {MODELS.ident} SET {MODELS.col('stale')} = ? WHERE {MODELS.col(DATASET)} = ?", [True, dataset])


def _record(row: tuple) -> ModelRecord:
    name, dataset, scorer, path, config_json, metrics_json, fingerprint, stale, created_at = row
    return ModelRecord(name, dataset, scorer, path, json.loads(config_json), json.loads(metrics_json),
                       fingerprint, bool(stale), created_at)  # fmt: skip
