"""Stored rows -> dense id maps, chronological per-user sequences, item feature slots, leave-last-out split.

Pure: takes the DataFrames the store returns and builds arrays; no database and no torch here, so the
baselines, the model and the dashboard all see exactly the same split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

PAD = 0  # dense index 0 is padding for users, items and feature values
MAX_FEATURE_SLOTS = 16  # attribute values kept per item (why: a few items carry dozens of user tags)
SPLITS = ("valid", "test", "serve")


@dataclass(frozen=True)
class IdMap:
    """Raw string ids <-> dense indices 1..n; index 0 is padding and maps to the empty string."""

    raw_ids: np.ndarray  # (n+1,) object array of str, raw_ids[0] == ""
    index: dict[str, int] = field(repr=False)

    @classmethod
    def from_ids(cls, ids: list[str]) -> IdMap:
        raw = np.array([""] + list(ids), dtype=object)
        return cls(raw_ids=raw, index={raw_id: i + 1 for i, raw_id in enumerate(ids)})

    def __len__(self) -> int:
        """Number of real ids (padding excluded)."""
        return len(self.raw_ids) - 1

    def to_dense(self, raw_id: str) -> int:
        """Dense index of a raw id; KeyError names the id when it is unknown."""
        try:
            return self.index[raw_id]
        except KeyError:
            raise KeyError(f"unknown id {raw_id!r}") from None

    def to_raw(self, dense: int) -> str:
        return str(self.raw_ids[dense])


@dataclass(frozen=True)
class ItemFeatures:
    """Each item's attribute values as padded slots of a shared vocabulary ("genre=Action", "year=1995")."""

    field_names: tuple[str, ...]  # (F,)
    value_labels: np.ndarray  # (V+1,) object array of str; value_labels[0] == ""
    value_field: np.ndarray  # (V+1,) int64 field index of each vocabulary value; 0 for padding
    item_slots: np.ndarray  # (I+1, S) int64 vocabulary ids per item, 0 = empty slot

    @property
    def n_values(self) -> int:
        return len(self.value_labels) - 1


@dataclass(frozen=True)
class SequenceData:
    """Everything a model, a baseline or an explanation needs about one dataset, in dense form."""

    name: str
    has_timestamps: bool  # False: order follows the file, and the UI says so
    users: IdMap
    items: IdMap
    item_titles: np.ndarray  # (I+1,) object array of str
    sequences: list[np.ndarray]  # per dense user, chronological dense item ids; sequences[0] is empty
    timestamps: list[np.ndarray]  # per dense user, int64 Unix seconds aligned with sequences (-1 when unknown)
    features: ItemFeatures
    fingerprint: str  # hash of the interaction rows; checkpoints refuse to load against a different one

    @property
    def n_users(self) -> int:
        return len(self.users)

    @property
    def n_items(self) -> int:
        return len(self.items)

    def train_sequence(self, user: int) -> np.ndarray:
        """Interactions used for fitting: all but the validation and test targets."""
        seq = self.sequences[user]
        return seq[: max(len(seq) - 2, 1)] if len(seq) >= 3 else seq[: max(len(seq) - 1, 1)]

    def valid_target(self, user: int) -> int:
        """Second-last interaction, or PAD when the user has fewer than three."""
        seq = self.sequences[user]
        return int(seq[-2]) if len(seq) >= 3 else PAD

    def test_target(self, user: int) -> int:
        """Last interaction, or PAD when the user has fewer than two."""
        seq = self.sequences[user]
        return int(seq[-1]) if len(seq) >= 2 else PAD

    def history(self, user: int, split: str) -> np.ndarray:
        """What the model may look at when predicting `split`: valid -> train part, test -> train + valid,
        serve -> everything (live recommendations). These items are also the ones masked from ranking."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        seq = self.sequences[user]
        if split == "serve":
            return seq
        if split == "test":
            return seq[:-1] if len(seq) >= 2 else seq
        return self.train_sequence(user)

    def target(self, user: int, split: str) -> int:
        return self.valid_target(user) if split == "valid" else self.test_target(user)

    def evaluable_users(self, split: str) -> np.ndarray:
        """Dense ids of users that have a target for `split`."""
        users = np.arange(1, self.n_users + 1)
        return np.array([u for u in users if self.target(int(u), split) != PAD], dtype=np.int64)

    def train_item_counts(self) -> np.ndarray:
        """(I+1,) interaction counts over the training parts only (popularity without test leakage)."""
        counts = np.zeros(self.n_items + 1, dtype=np.int64)
        for u in range(1, self.n_users + 1):
            np.add.at(counts, self.train_sequence(u), 1)
        counts[PAD] = 0
        return counts


def build_sequence_data(
    name: str,
    interactions: pd.DataFrame,
    items: pd.DataFrame,
    attributes: pd.DataFrame,
    has_timestamps: bool,
) -> SequenceData:
    """Build dense sequences from store frames.

    interactions: user_id, item_id (str), ts (Int64 or NA), row_order (int; position in the source file)
    items: item_id, title; attributes: item_id, field, value (one row per value of a multi-valued field)
    Ties in time keep file order; without timestamps the file order alone decides.
    """
    frame = interactions[["user_id", "item_id", "ts", "row_order"]].copy()
    frame["ts"] = pd.to_numeric(frame["ts"], errors="coerce").fillna(-1).astype("int64")
    frame = frame.sort_values(["user_id", "ts", "row_order"], kind="stable")
    user_map = IdMap.from_ids(sorted(frame["user_id"].unique().tolist()))
    item_ids = sorted(set(frame["item_id"].unique().tolist()))
    item_map = IdMap.from_ids(item_ids)

    user_dense = frame["user_id"].map(user_map.index).to_numpy(np.int64)
    item_dense = frame["item_id"].map(item_map.index).to_numpy(np.int64)
    ts = frame["ts"].to_numpy(np.int64)
    bounds = np.flatnonzero(np.diff(user_dense)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(user_dense)]])
    sequences: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * (len(user_map) + 1)
    times: list[np.ndarray] = [np.zeros(0, dtype=np.int64)] * (len(user_map) + 1)
    for start, end in zip(starts, ends):
        if end > start:
            sequences[user_dense[start]] = item_dense[start:end]
            times[user_dense[start]] = ts[start:end]

    titles = _titles(item_map, items)
    features = _item_features(item_map, attributes)
    return SequenceData(
        name=name,
        has_timestamps=has_timestamps,
        users=user_map,
        items=item_map,
        item_titles=titles,
        sequences=sequences,
        timestamps=times,
        features=features,
        fingerprint=_fingerprint(user_dense, item_dense, ts, user_map, item_map),
    )


def _titles(item_map: IdMap, items: pd.DataFrame) -> np.ndarray:
    """Titles by dense id; an item without metadata shows its raw id."""
    titles = np.array(item_map.raw_ids, dtype=object)
    if len(items):
        lookup = dict(zip(items["item_id"].astype(str), items["title"]))
        for dense in range(1, len(titles)):
            title = lookup.get(titles[dense])
            if isinstance(title, str) and title:
                titles[dense] = title
    return titles


def _item_features(item_map: IdMap, attributes: pd.DataFrame) -> ItemFeatures:
    """Vocabulary of (field, value) pairs and each item's first MAX_FEATURE_SLOTS values.

    Values seen on a single item carry no shared signal and are dropped (why: hundreds of one-off
    user tags would each get an embedding that never trains)."""
    n_items = len(item_map)
    if attributes is None or not len(attributes):
        return ItemFeatures((), np.array([""], dtype=object), np.zeros(1, np.int64), np.zeros((n_items + 1, 1), np.int64))
    frame = attributes[attributes["item_id"].isin(item_map.index.keys())].copy()
    frame["label"] = frame["field"].astype(str) + "=" + frame["value"].astype(str)
    frame = frame.drop_duplicates(["item_id", "label"])
    support = frame.groupby("label")["item_id"].transform("size")
    frame = frame[support >= 2]
    field_names = tuple(sorted(frame["field"].astype(str).unique().tolist()))
    field_index = {name: i + 1 for i, name in enumerate(field_names)}
    labels = sorted(frame["label"].unique().tolist())
    value_index = {label: i + 1 for i, label in enumerate(labels)}
    value_field = np.zeros(len(labels) + 1, dtype=np.int64)
    for label in labels:
        value_field[value_index[label]] = field_index[label.split("=", 1)[0]]
    slots = np.zeros((n_items + 1, MAX_FEATURE_SLOTS), dtype=np.int64)
    filled = np.zeros(n_items + 1, dtype=np.int64)
    frame = frame.sort_values(["item_id", "field", "label"], kind="stable")
    for item_id, label in zip(frame["item_id"].astype(str), frame["label"]):
        dense = item_map.index[item_id]
        if filled[dense] < MAX_FEATURE_SLOTS:
            slots[dense, filled[dense]] = value_index[label]
            filled[dense] += 1
    width = max(int(filled.max()), 1)
    return ItemFeatures(field_names, np.array([""] + labels, dtype=object), value_field, slots[:, :width])


def _fingerprint(users: np.ndarray, items: np.ndarray, ts: np.ndarray, user_map: IdMap, item_map: IdMap) -> str:
    digest = hashlib.sha256()
    for array in (users, items, ts):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\x1f".join(user_map.raw_ids[1:]).encode())
    digest.update("\x1f".join(item_map.raw_ids[1:]).encode())
    return digest.hexdigest()[:16]
