"""The vectorised data path equals the per-user Python code it replaced (tests/engine/dataset_reference.py):
DuckDB-numbered dense arrays, CSR sequences, split helpers, training windows and the validation sample."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from engine.batching import training_windows
from engine.config import TrainConfig
from engine.dataset import MAX_FEATURE_SLOTS, PAD, IdMap, _item_features, _titles, build_sequence_data
from engine.frames import DatasetFrames
from engine.ragged import Ragged
from engine.service import load_data
from engine.store import Store
from engine.train import validation_sample
from engine.windows import gather_windows, plan_windows
from dataset_reference import (  # beside this file (pytest puts tests/engine on the path)
    reference_evaluable_users,
    reference_item_slots,
    reference_sequences,
    reference_titles,
    reference_target,
    reference_train_item_counts,
    reference_train_sequence,
)


def _same_data(a, b) -> None:
    assert list(a.users.raw_ids) == list(b.users.raw_ids) and list(a.items.raw_ids) == list(b.items.raw_ids)
    assert np.array_equal(a.sequences.offsets, b.sequences.offsets)
    assert np.array_equal(a.sequences.values, b.sequences.values)
    assert np.array_equal(a.timestamps.values, b.timestamps.values)
    assert list(a.item_titles) == list(b.item_titles)
    assert np.array_equal(a.features.item_slots, b.features.item_slots)
    assert list(a.features.value_labels) == list(b.features.value_labels)
    assert a.fingerprint == b.fingerprint


def test_csr_sequences_equal_the_per_user_lists(movielens_frames, movielens_data):
    users, items, sequences, times = reference_sequences(movielens_frames.interactions)
    data = movielens_data
    assert list(data.users.raw_ids[1:]) == users and list(data.items.raw_ids[1:]) == items
    assert len(data.sequences) == len(sequences) == data.n_users + 1
    assert all(np.array_equal(a, b) for a, b in zip(data.sequences, sequences))
    assert all(np.array_equal(a, b) for a, b in zip(data.timestamps, times))


def test_split_helpers_equal_the_per_user_loops(movielens_data):
    data = movielens_data
    sequences = list(data.sequences)
    everyone = np.arange(data.n_users + 1)
    for split in ("valid", "test"):
        assert np.array_equal(data.evaluable_users(split), reference_evaluable_users(sequences, split))
        assert data.targets(everyone, split).tolist() == [reference_target(s, split) for s in sequences]
    assert np.array_equal(data.train_item_counts(), reference_train_item_counts(sequences, data.n_items))
    assert data.train_lengths().tolist() == [len(reference_train_sequence(s)) for s in sequences]
    for split in ("valid", "test", "serve"):
        assert data.history_lengths(split).tolist() == [len(data.history(u, split)) if u else 0 for u in everyone]


def test_short_users_have_no_targets_and_count_once():
    """Users with 1, 2 and 3 interactions: the edge cases of the leave-last-out split."""
    rows = [("a", "x"), ("b", "x"), ("b", "y"), ("c", "x"), ("c", "y"), ("c", "z")]
    frame = pd.DataFrame({"user_id": [u for u, _ in rows], "item_id": [i for _, i in rows],
                          "ts": pd.array([1] * len(rows), dtype="Int64"), "row_order": np.arange(len(rows))})  # fmt: skip
    data = build_sequence_data("short", frame, pd.DataFrame({"item_id": [], "title": []}), None, True)
    sequences = list(data.sequences)
    assert data.evaluable_users("valid").tolist() == [3] and data.evaluable_users("test").tolist() == [2, 3]
    assert data.targets(np.array([1, 2, 3]), "test").tolist() == [PAD, 2, 3]
    assert np.array_equal(data.train_item_counts(), reference_train_item_counts(sequences, data.n_items))


def _hostile_frames() -> DatasetFrames:
    """Ids whose string order differs from numeric and byte-naive order, missing and tied timestamps."""
    users = ["10", "9", "é", "B", "a", "10", "9", "10", "a", "é", "B", "9"]
    items = ["2", "10", "ä", "x", "2", "x", "10", "😀", "ä", "2", "10", "x"]
    ts = pd.array([5, 3, None, 1, 1, 5, None, 2, 1, None, 7, 3], dtype="Int64")
    interactions = pd.DataFrame({"user_id": users, "item_id": items, "ts": ts, "rating": pd.array([None] * 12, dtype="Float64"),
                                 "row_order": np.arange(12, dtype=np.int64)})  # fmt: skip
    titles = pd.DataFrame({"item_id": ["2", "x", "unused"], "title": ["Two", "Ex", "Never"]})
    attributes = pd.DataFrame({"item_id": ["2", "x", "10", "2"], "field": ["g", "g", "g", "y"], "value": ["A", "A", "B", "1"]})
    empty_users = pd.DataFrame({"user_id": [], "field": [], "value": []}, dtype="string")
    return DatasetFrames("hostile", "test", interactions, titles, attributes, empty_users, True)


@pytest.mark.parametrize("frames_of", ["sample", "hostile"])
def test_load_data_numbers_in_duckdb_like_the_frame_path(tmp_path, movielens_frames, frames_of):
    frames = movielens_frames if frames_of == "sample" else _hostile_frames()
    store = Store(tmp_path / "store.duckdb")
    store.write_dataset(frames)
    from_store = load_data(store, frames.name)
    from_frames = build_sequence_data(frames.name, frames.interactions, frames.items, frames.item_attributes, frames.has_timestamps)
    _same_data(from_store, from_frames)
    if frames_of == "sample":  # the fingerprint every existing movielens-small checkpoint was saved with
        assert from_store.fingerprint == "e596ee53d527c1d9"


def test_ragged_reads_like_a_list_and_accepts_one():
    rows = [np.zeros(0, np.int64), np.array([3, 1]), np.array([2])]
    ragged = Ragged.from_arrays(rows)
    assert len(ragged) == 3 and ragged[-1].tolist() == [2] and [r.tolist() for r in ragged[1:]] == [[3, 1], [2]]
    assert ragged.lengths.tolist() == [0, 2, 1]
    with pytest.raises(IndexError):
        ragged[3]


def test_a_list_of_sequences_is_converted(movielens_data):
    keep = {1, 5}
    empty = np.zeros(0, np.int64)
    subset = dataclasses.replace(movielens_data, sequences=[s if u in keep else empty for u, s in enumerate(movielens_data.sequences)])
    assert isinstance(subset.sequences, Ragged)
    assert subset.evaluable_users("test").tolist() == [1, 5]


@pytest.mark.parametrize("length", [2, 7, 50])
def test_window_plan_gathers_the_same_windows_in_the_same_order(movielens_data, length):
    data = movielens_data
    sequences = [data.train_sequence(u) for u in range(1, data.n_users + 1)]
    for offset in sorted({0, 1, length // 2, length - 1}):
        inputs, targets = training_windows(sequences, length, offset)
        plan = plan_windows(data.sequences.offsets, data.train_lengths(), length, offset)
        assert len(plan) == len(inputs)
        rows = np.random.default_rng(offset).permutation(len(plan))[:300]
        got_inputs, got_targets = gather_windows(data.sequences.values, plan, rows, length)
        assert np.array_equal(got_inputs, inputs[rows]) and np.array_equal(got_targets, targets[rows])


def test_window_plan_on_random_short_sequences():
    rng = np.random.default_rng(3)
    for _ in range(200):
        rows = [np.zeros(0, np.int64)] + [rng.integers(1, 30, size=rng.integers(0, 25)) for _ in range(rng.integers(0, 8))]
        ragged = Ragged.from_arrays(rows)
        lengths = ragged.lengths
        train_lengths = np.where(lengths >= 3, lengths - 2, np.minimum(lengths, 1))
        length = int(rng.integers(2, 9))
        offset = int(rng.integers(0, length))
        expected = training_windows([rows[u][: train_lengths[u]] for u in range(1, len(rows))], length, offset)
        plan = plan_windows(ragged.offsets, train_lengths, length, offset)
        got = gather_windows(ragged.values, plan, np.arange(len(plan)), length)
        assert np.array_equal(got[0], expected[0]) and np.array_equal(got[1], expected[1])


def test_validation_uses_every_user_below_the_cap_and_a_fixed_sample_above(movielens_data):
    users = movielens_data.evaluable_users("valid")
    assert np.array_equal(validation_sample(users, TrainConfig()), users)  # 610 users: all validated
    assert np.array_equal(validation_sample(users, TrainConfig(valid_users=0)), users)
    sample = validation_sample(users, TrainConfig(valid_users=100, seed=3))
    assert len(sample) == 100 and np.all(np.diff(sample) > 0) and set(sample) <= set(users)
    assert np.array_equal(sample, validation_sample(users, TrainConfig(valid_users=100, seed=3)))
    assert not np.array_equal(sample, validation_sample(users, TrainConfig(valid_users=100, seed=4)))


def _item_slots_by_the_loop(item_map: IdMap, attributes: pd.DataFrame, features) -> np.ndarray:
    frame = attributes[attributes["item_id"].isin(item_map.index.keys())].copy()
    frame["label"] = frame["field"].astype(str) + "=" + frame["value"].astype(str)
    frame = frame.drop_duplicates(["item_id", "label"])
    frame = frame[frame.groupby("label")["item_id"].transform("size") >= 2]
    value_index = {label: i for i, label in enumerate(features.value_labels) if i}
    return reference_item_slots(item_map.index, len(item_map), frame, value_index, MAX_FEATURE_SLOTS)


def test_item_feature_slots_equal_the_per_row_loop(movielens_frames):
    """Sorted and shuffled id maps, the MovieLens attributes and items with more values than slots."""
    attributes = movielens_frames.item_attributes
    ids = sorted(attributes["item_id"].astype(str).unique().tolist())
    rng = np.random.default_rng(0)
    crowded = pd.DataFrame({"item_id": rng.choice(ids[:40], 3000), "field": rng.choice(["a", "b", "tag"], 3000),
                            "value": rng.integers(0, 40, 3000).astype(str)})  # fmt: skip
    for item_map in (IdMap.from_ids(ids), IdMap.from_ids(list(rng.permutation(ids)))):
        for frame in (attributes, crowded):
            features = _item_features(item_map, frame)
            expected = _item_slots_by_the_loop(item_map, frame, features)
            assert features.item_slots.shape == expected.shape and np.array_equal(features.item_slots, expected)
            assert (features.item_slots > 0).sum(axis=1).max() <= MAX_FEATURE_SLOTS
    fields = _item_features(IdMap.from_ids(ids), attributes)
    assert all(fields.field_names[fields.value_field[v] - 1] == label.split("=")[0] for v, label in enumerate(fields.value_labels) if v)


def test_titles_equal_the_dict_lookup(movielens_frames):
    """Duplicate ids (the last row wins), missing and empty titles, items without metadata, any id order."""
    ids = sorted(movielens_frames.interactions["item_id"].astype(str).unique().tolist())
    odd = pd.DataFrame({"item_id": ["1", "1", "2", "3", "999"], "title": ["a", "b", None, "", "z"]})
    for item_map in (IdMap.from_ids(ids), IdMap.from_ids(["3", "2", "1", "7"])):
        for items in (movielens_frames.items, odd, odd.iloc[:0]):
            assert list(_titles(item_map, items)) == reference_titles(item_map.raw_ids, items)


def test_the_load_query_puts_duckdbs_memory_limit_back(tmp_path):
    from engine.interaction_arrays import dense_interactions

    store = Store(tmp_path / "store.duckdb")
    store.write_dataset(_hostile_frames())
    with store.connect() as con:
        con.execute("SET memory_limit = '2GiB'")  # a non-default value whose text form is exact
        before = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        rows = dense_interactions(con, "hostile")
        assert con.execute("SELECT current_setting('memory_limit')").fetchone()[0] == before
    assert len(rows.users) == 12 and rows.users.tolist() == sorted(rows.users.tolist())
