"""Every file of tests/data/bad_csv/ against the outcome its manifest promises.

Each case ingests into a store that already holds another dataset, and checks afterwards that this
dataset is untouched and the store still lists and loads (so neither a refusal nor a hostile file can
damage what was there).
"""

from __future__ import annotations

import math
import tomllib
from pathlib import Path

import pandas as pd
import pytest

from engine.ingest import ColumnMapping, IngestRefused, ingest_files
from engine.store import Store

CORPUS = Path(__file__).resolve().parent.parent / "data" / "bad_csv"
CASES = tomllib.loads((CORPUS / "manifest.toml").read_text(encoding="utf-8"))["case"]


def _case_id(case: dict) -> str:
    return case["file"].removesuffix(".csv") + ("+mapping" if "mapping" in case else "") + (f"+max{case['max_rows']}" if "max_rows" in case else "")


@pytest.fixture(scope="module")
def base_store(tmp_path_factory) -> Store:
    """One store for the whole corpus, holding a dataset every case must leave untouched."""
    tmp_path = tmp_path_factory.mktemp("corpus")
    store = Store(tmp_path / "corpus.duckdb")
    path = tmp_path / "base.csv"
    path.write_text("user_id,item_id,timestamp\na,x,1\na,y,2\nb,x,3\n", encoding="utf-8")
    ingest_files(store, "base", path)
    return store


def test_every_corpus_file_has_a_case() -> None:
    named = {case[key] for case in CASES for key in ("file", "items", "users") if key in case}
    on_disk = {path.name for path in CORPUS.glob("*.csv")}
    assert on_disk == named


@pytest.mark.parametrize("number", range(len(CASES)), ids=[_case_id(case) for case in CASES])
def test_corpus_file(number: int, base_store: Store) -> None:
    case, name = CASES[number], f"case-{number}"
    before = base_store.list_datasets()
    kwargs = {
        "items_path": CORPUS / case["items"] if "items" in case else None,
        "users_path": CORPUS / case["users"] if "users" in case else None,
        "mapping": ColumnMapping(**case.get("mapping", {})),
        "max_rows": case.get("max_rows"),
    }
    if case["expect"] == "refused":
        with pytest.raises(IngestRefused) as refused:
            ingest_files(base_store, name, CORPUS / case["file"], **kwargs)
        message = str(refused.value)
        assert case["message"] in message
        assert "\n" not in message and "Traceback" not in message
        pd.testing.assert_frame_equal(base_store.list_datasets(), before)
    else:
        report = ingest_files(base_store, name, CORPUS / case["file"], **kwargs)
        _check_loaded(case, report, base_store, name)
    assert base_store.load_interactions("base")["user_id"].tolist() == ["a", "a", "b"]


def _check_loaded(case: dict, report, store: Store, name: str) -> None:
    assert report.interactions_accepted == case["accepted"]
    rejected = [(r.line, r.column) for r in report.rejected]
    assert rejected == [(r["line"], r.get("column")) for r in case["rejected"]]
    for got, want in zip(report.rejected, case["rejected"]):
        assert want["reason"] in got.reason
    assert report.interactions_rejected == len(case["rejected"])
    assert report.interactions_read == case.get("read", report.interactions_accepted + report.interactions_rejected)
    for key in ("delimiter", "encoding", "timestamp_format", "has_timestamps", "duplicates", "items_without_metadata"):
        if key in case:
            assert getattr(report, key) == case[key], key
    for warning in case.get("warnings", []):
        assert any(warning in text for text in report.warnings), (warning, report.warnings)

    rows = store.load_interactions(name)
    assert len(rows) == case["accepted"]
    if "ids" in case:
        assert [list(pair) for pair in zip(rows["user_id"], rows["item_id"])] == case["ids"]
    if "ts" in case:
        assert rows["ts"].tolist() == case["ts"]
    if "ratings" in case:
        got = [math.nan if pd.isna(value) else float(value) for value in rows["rating"]]
        assert len(got) == len(case["ratings"])
        assert all((math.isnan(a) and math.isnan(b)) or a == b for a, b in zip(got, case["ratings"]))

    for kind in ("items", "users"):
        part = getattr(report, kind)
        if f"{kind}_accepted" in case:
            assert part.accepted == case[f"{kind}_accepted"]
        if f"{kind}_encoding" in case:
            assert part.encoding == case[f"{kind}_encoding"]
        if f"{kind}_duplicates" in case:
            assert part.duplicates == case[f"{kind}_duplicates"]
        if f"{kind}_rejected" in case:
            assert [(r.line, r.column) for r in part.rejected] == [(r["line"], r.get("column")) for r in case[f"{kind}_rejected"]]
            assert all(want["reason"] in got.reason for got, want in zip(part.rejected, case[f"{kind}_rejected"]))
    if "titles" in case:
        items = store.load_items(name)
        titles = dict(zip(items["item_id"], items["title"]))
        assert {key: titles.get(key) for key in case["titles"]} == case["titles"]
    if "attributes" in case:
        frame = store.load_item_attributes(name)
        assert sorted(map(list, zip(frame["item_id"], frame["field"], frame["value"]))) == sorted(case["attributes"])
    if "user_attributes" in case:
        frame = store.load_user_attributes(name)
        assert sorted(map(list, zip(frame["user_id"], frame["field"], frame["value"]))) == sorted(case["user_attributes"])
