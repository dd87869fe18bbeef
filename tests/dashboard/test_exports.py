"""Exports: formula-like CSV cells are neutralised; CSV/JSON carry the engine's explanation; model zips load."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path

from dashboard import exports
from engine.checkpoint import checkpoint_paths, load_checkpoint
from engine.explain import explain_user
from engine.store import Store


def test_neutralise_prefixes_formula_starts_only() -> None:
    for cell in ("=1+1", "+SUM(A1)", "-2", "@cmd", "\tx", "\rx"):
        assert exports.neutralise(cell) == "'" + cell
    assert exports.neutralise("Toy Story (1995)") == "Toy Story (1995)"
    assert exports.neutralise(-2.5) == -2.5  # numbers stay numbers


def test_csv_and_json_of_one_user(models) -> None:
    loaded = models["tiny-dot"]
    explanation = explain_user(loaded.model, loaded.data, "414", 5)
    rows = list(csv.DictReader(io.StringIO(exports.to_csv(exports.explanation_rows(explanation)).decode("utf-8-sig"))))
    assert [row["item_id"] for row in rows] == explanation.top_item_ids()
    assert float(rows[0]["score"]) == explanation.recommendations[0].score
    top = max(explanation.recommendations[0].history, key=lambda h: h.weight)
    assert rows[0]["because_1"] == exports.neutralise(top.title)
    document = json.loads(exports.to_json({"name": "tiny-dot"}, [exports.explanation_record(explanation)]))
    first = document["users"][0]["recommendations"][0]
    assert first["item_id"] == explanation.recommendations[0].item_id
    assert len(first["history"]) == len(explanation.history_items)  # one user: the whole window
    assert [h["weight"] for h in first["history"]] == sorted((h.weight for h in explanation.recommendations[0].history), reverse=True)


def test_hostile_titles_are_neutralised_in_csv() -> None:
    rows = [{"user_id": "=cmd|' /C calc'!A0", "title": "@SUM(1)", "score": -1.0}]
    parsed = list(csv.DictReader(io.StringIO(exports.to_csv(rows).decode("utf-8-sig"))))
    assert parsed[0]["user_id"].startswith("'=") and parsed[0]["title"] == "'@SUM(1)" and parsed[0]["score"] == "-1.0"


def test_model_zip_round_trips(trained_db: Path, models, tmp_path: Path) -> None:
    store = Store(trained_db)
    record = store.get_model("tiny-dot")
    weights, sidecar = checkpoint_paths(store.model_path(record))
    payload = exports.model_zip(weights, sidecar, "tiny-dot")
    with zipfile.ZipFile(io.BytesIO(payload)) as archive:
        assert sorted(archive.namelist()) == ["tiny-dot.json", "tiny-dot.safetensors"]
        archive.extractall(tmp_path)
    restored = load_checkpoint(tmp_path / "tiny-dot", models["tiny-dot"].data)
    assert restored.model.config == models["tiny-dot"].model.config
