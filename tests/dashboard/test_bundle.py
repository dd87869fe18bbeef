"""dashboard.bundle reads on one connection what the frame-based code built from three pandas reads:
the same SequenceData as engine.service.load_data, the ratings of every user in sequence order, and the
attribute text (this file keeps that frame-based code as the reference)."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from dashboard.bundle import MAX_VALUES_SHOWN, read_bundle
from engine.dataset import build_sequence_data
from engine.frames import DatasetFrames, USER_ATTRIBUTE_COLUMNS, empty_frame
from engine.service import load_data
from engine.store import Store, StoreError


def reference_ratings(interactions: pd.DataFrame) -> dict[str, np.ndarray]:
    frame = interactions[["user_id", "ts", "row_order", "rating"]].copy()
    frame["ts"] = pd.to_numeric(frame["ts"], errors="coerce").fillna(-1)
    frame = frame.sort_values(["user_id", "ts", "row_order"], kind="stable")
    users = frame["user_id"].to_numpy(dtype=object)
    ratings = frame["rating"].to_numpy(dtype=float, na_value=np.nan)
    bounds = np.flatnonzero(users[1:] != users[:-1]) + 1
    starts, ends = np.concatenate([[0], bounds]), np.concatenate([bounds, [len(users)]])
    return {str(users[s]): ratings[s:e] for s, e in zip(starts, ends) if e > s}


def reference_attribute_text(data, attributes: pd.DataFrame, limit: int = MAX_VALUES_SHOWN) -> dict[str, np.ndarray]:
    sql = """
        WITH ranked AS (
            SELECT item_id, field, value, row_number() OVER (PARTITION BY item_id, field ORDER BY value) AS n,
                   count(*) OVER (PARTITION BY item_id, field) AS total
            FROM attributes)
        SELECT item_id, field,
               string_agg(value, ', ' ORDER BY value) FILTER (WHERE n <= $limit)
                 || CASE WHEN max(total) > $limit THEN ' (+' || CAST(max(total) - $limit AS VARCHAR) || ')' ELSE '' END AS joined
        FROM ranked GROUP BY item_id, field"""
    with duckdb.connect() as con:
        con.register("attributes", attributes[["item_id", "field", "value"]])
        joined = con.execute(sql, {"limit": limit}).df()
    dense = joined["item_id"].map(data.items.index)
    joined, dense = joined[dense.notna()], dense[dense.notna()].astype(np.int64).to_numpy() - 1
    columns = {}
    for field in sorted(joined["field"].astype(str).unique()):
        text = np.full(data.n_items, "", dtype=object)
        rows = (joined["field"] == field).to_numpy()
        text[dense[rows]] = joined["joined"].to_numpy(dtype=object)[rows]
        columns[field] = text
    return columns


def _check_against_frames(store: Store, name: str) -> None:
    bundle = read_bundle(store, name)
    interactions, attributes = store.load_interactions(name), store.load_item_attributes(name)
    info = store.dataset_info(name)
    expected = build_sequence_data(name, interactions, store.load_items(name), attributes, info.has_timestamps)
    for data in (expected, load_data(store, name)):
        assert bundle.data.fingerprint == data.fingerprint
        assert list(bundle.data.users.raw_ids) == list(data.users.raw_ids) and list(bundle.data.items.raw_ids) == list(data.items.raw_ids)
        assert np.array_equal(bundle.data.sequences.values, data.sequences.values)
        assert np.array_equal(bundle.data.timestamps.values, data.timestamps.values)
        assert list(bundle.data.item_titles) == list(data.item_titles)
        assert np.array_equal(bundle.data.features.item_slots, data.features.item_slots)
    ratings = reference_ratings(interactions)
    assert set(ratings) == {str(u) for u in bundle.data.users.raw_ids[1:]}
    for user_id, values in ratings.items():
        np.testing.assert_array_equal(bundle.user_ratings(user_id), values)
    assert len(bundle.user_ratings("no such user")) == 0
    text = reference_attribute_text(bundle.data, attributes)
    assert list(bundle.attribute_text) == list(text)
    for field, values in text.items():
        assert list(bundle.attribute_text[field]) == list(values)
    assert not bundle.ratings.values.flags.writeable


def test_movielens_bundle_equals_the_frame_based_reads(trained_db):
    _check_against_frames(Store(trained_db), "movielens-small")


def test_ties_missing_ratings_and_no_timestamps(tmp_path):
    """Equal timestamps keep file order, missing ratings are NaN, a file without timestamps keeps file order."""
    store = Store(tmp_path / "recscope.duckdb")
    rows = pd.DataFrame({"user_id": ["b", "a", "b", "a", "b", "c"], "item_id": ["x", "y", "y", "x", "z", "x"],
                         "ts": pd.array([5, 3, 5, 1, 2, None], dtype="Int64"),
                         "rating": pd.array([1.0, None, 3.0, 4.0, 5.0, 2.5], dtype="Float64"),
                         "row_order": np.arange(6, dtype=np.int64)})  # fmt: skip
    items = pd.DataFrame({"item_id": ["x", "y", "z", "w"], "title": ["X", "Y", None, "W"]})
    attributes = pd.DataFrame({"item_id": ["x"] * 6 + ["y", "w"], "field": ["tag"] * 5 + ["genre", "genre", "genre"],
                               "value": ["e", "d", "c", "b", "a", "G", "G", "H"]})  # fmt: skip
    for name, frame, has_timestamps in (("timed", rows, True), ("untimed", rows.assign(ts=pd.array([None] * 6, dtype="Int64")), False)):
        store.write_dataset(DatasetFrames(name, "test", frame, items, attributes, empty_frame(USER_ATTRIBUTE_COLUMNS), has_timestamps))
        _check_against_frames(store, name)
    assert list(read_bundle(store, "timed").attribute_text["tag"]) == ["a, b, c, d (+1)", "", ""]
    with pytest.raises(StoreError):
        read_bundle(store, "missing")
