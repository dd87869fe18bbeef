"""Downloads: recommendations with their explanations (CSV, JSON) and a trained model (zip).

Pure functions over engine objects; no st.* here. Every CSV text cell that a spreadsheet would read as
a formula (starting with =, +, -, @, tab or carriage return) is prefixed with ' (OWASP CSV injection).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_HISTORY_COLUMNS = 3  # "because" columns per recommendation in the CSV


def neutralise(cell: Any) -> Any:
    """Text that a spreadsheet would evaluate gets a leading apostrophe; other values pass unchanged."""
    if isinstance(cell, str) and cell.startswith(FORMULA_STARTS):
        return "'" + cell
    return cell


def explanation_record(explanation: Any, top_history: int | None = None, top_features: int | None = None) -> dict[str, Any]:
    """One user's recommendations as plain JSON-ready data; history items by decreasing weight.

    top_history/top_features cut the lists (None keeps all: the whole window and every attribute)."""
    recommendations = []
    for rec in explanation.recommendations:
        history = sorted(rec.history, key=lambda h: -h.weight)[:top_history]
        recommendations.append({
            "rank": rec.rank, "item_id": rec.item_id, "title": rec.title, "score": rec.score, "item_bias": rec.item_bias,
            "history": [{"item_id": h.item_id, "title": h.title, "position": h.position, "weight": h.weight,
                         "contribution": h.contribution} for h in history],
            "features": [{"field": f.field, "value": f.value, "weight": f.weight} for f in rec.features[:top_features]],
        })  # fmt: skip
    return {"user_id": explanation.user_id, "scorer": explanation.scorer, "recommendations": recommendations}


def explanation_rows(explanation: Any) -> list[dict[str, Any]]:
    """Flat CSV rows, one per recommendation, with the most-attended history items and attributes."""
    rows = []
    for rec in explanation.recommendations:
        row: dict[str, Any] = {"user_id": explanation.user_id, "rank": rec.rank, "item_id": rec.item_id, "title": rec.title,
                               "score": rec.score, "item_bias": rec.item_bias, "scorer": explanation.scorer}  # fmt: skip
        history = sorted(rec.history, key=lambda h: -h.weight)
        for index in range(CSV_HISTORY_COLUMNS):
            row[f"because_{index + 1}"] = history[index].title if index < len(history) else ""
            row[f"weight_{index + 1}"] = history[index].weight if index < len(history) else None
        row["top_attributes"] = "; ".join(f"{f.field}={f.value} ({f.weight:.3f})" for f in rec.features[:5])
        rows.append(row)
    return rows


def to_csv(rows: Iterable[dict[str, Any]]) -> bytes:
    """UTF-8 CSV (with BOM, so spreadsheets detect the encoding) with formula-like text neutralised."""
    rows = list(rows)
    buffer = io.StringIO()
    if rows:
        writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({key: neutralise(value) for key, value in row.items()})
    return ("\ufeff" + buffer.getvalue()).encode("utf-8")


def to_json(model: dict[str, Any], users: Sequence[dict[str, Any]]) -> bytes:
    return json.dumps({"model": model, "users": list(users)}, indent=1, ensure_ascii=False, default=str).encode("utf-8")


def model_summary(record: Any) -> dict[str, Any]:
    """The model fields an export names (never its file path)."""
    return {"name": record.name, "dataset": record.dataset, "scorer": record.scorer,
            "config": record.config, "created_at": str(record.created_at)}  # fmt: skip


def model_zip(weights: Path, sidecar: Path, name: str) -> bytes:
    """The checkpoint pair as `<name>.safetensors` + `<name>.json` in a zip (the names the CLI expects)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.write(weights, f"{name}.safetensors")
        archive.write(sidecar, f"{name}.json")
    return buffer.getvalue()
