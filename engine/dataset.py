"""Stored rows -> dense id maps, chronological per-user sequences, item feature slots, leave-last-out split.

Pure: takes the DataFrames the store returns and builds arrays; no database and no torch here, so the
baselines, the model and the dashboard all see exactly the same split.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from engine.ragged import Ragged

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
    """Everything a model, a baseline or an explanation needs about one dataset, in dense form.

    `sequences[u]` and `timestamps[u]` read like per-user arrays but live in one flat array with
    offsets (engine.ragged.Ragged), so the split, counts and training windows are computed with numpy
    rather than a Python loop over users. A plain list of arrays is accepted and converted."""

    name: str
    has_timestamps: bool  # False: order follows the file, and the UI says so
    users: IdMap
    items: IdMap
    item_titles: np.ndarray  # (I+1,) object array of str
    sequences: Ragged  # per dense user, chronological dense item ids; sequences[0] is empty
    timestamps: Ragged  # per dense user, int64 Unix seconds aligned with sequences (-1 when unknown)
    features: ItemFeatures
    fingerprint: str  # hash of the interaction rows; checkpoints refuse to load against a different one

    def __post_init__(self) -> None:
        for name in ("sequences", "timestamps"):
            value = getattr(self, name)
            if not isinstance(value, Ragged):
                object.__setattr__(self, name, Ragged.from_arrays(list(value)))

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

    # ---- the same split for every user at once (CSR arithmetic, no loop over users) -------------
    def train_lengths(self) -> np.ndarray:
        """(U+1,) length of every user's train_sequence (row 0 = padding user, 0)."""
        lengths = self.sequences.lengths
        return np.where(lengths >= 3, lengths - 2, np.minimum(lengths, 1))

    def history_lengths(self, split: str) -> np.ndarray:
        """(U+1,) length of every user's history(split)."""
        if split not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {split!r}")
        lengths = self.sequences.lengths
        if split == "serve":
            return lengths
        if split == "test":
            return np.where(lengths >= 2, lengths - 1, lengths)
        return self.train_lengths()

    def targets(self, users: np.ndarray, split: str) -> np.ndarray:
        """(B,) int64 target(u, split) of each dense user in `users`; PAD where the user has none."""
        users = np.asarray(users, dtype=np.int64)
        lengths = self.sequences.lengths[users]
        back, needed = (2, 3) if split == "valid" else (1, 2)
        has = lengths >= needed
        out = np.zeros(len(users), dtype=np.int64)
        out[has] = self.sequences.values[self.sequences.offsets[users[has]] + lengths[has] - back]
        return out

    def evaluable_users(self, split: str) -> np.ndarray:
        """Dense ids of users that have a target for `split`."""
        needed = 3 if split == "valid" else 2
        return (np.flatnonzero(self.sequences.lengths[1:] >= needed) + 1).astype(np.int64)

    def train_item_counts(self) -> np.ndarray:
        """(I+1,) interaction counts over the training parts only (popularity without test leakage).

        Every interaction counted, minus the one or two held-out targets at the end of each sequence."""
        seqs = self.sequences
        counts = np.bincount(seqs.values, minlength=self.n_items + 1).astype(np.int64)
        held = self.sequences.lengths - self.train_lengths()  # (U+1,) 0, 1 or 2 targets per user
        ends = seqs.offsets[1:]
        for back in (1, 2):
            rows = held >= back
            counts -= np.bincount(seqs.values[ends[rows] - back], minlength=self.n_items + 1)
        counts[PAD] = 0
        return counts[: self.n_items + 1]


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
    (engine.interaction_arrays does the same in DuckDB for stored datasets of any size.)
    """
    frame = interactions[["user_id", "item_id", "ts", "row_order"]].copy()
    frame["ts"] = pd.to_numeric(frame["ts"], errors="coerce").fillna(-1).astype("int64")
    frame = frame.sort_values(["user_id", "ts", "row_order"], kind="stable")
    user_ids = sorted(frame["user_id"].unique().tolist())
    item_ids = sorted(set(frame["item_id"].unique().tolist()))
    user_map, item_map = IdMap.from_ids(user_ids), IdMap.from_ids(item_ids)
    user_dense = frame["user_id"].map(user_map.index).to_numpy(np.int64)
    item_dense = frame["item_id"].map(item_map.index).to_numpy(np.int64)
    ts = frame["ts"].to_numpy(np.int64)
    return sequence_data_from_arrays(name, has_timestamps, user_map, item_map, user_dense, item_dense, ts, items, attributes)


def sequence_data_from_arrays(
    name: str,
    has_timestamps: bool,
    user_map: IdMap,
    item_map: IdMap,
    user_dense: np.ndarray,
    item_dense: np.ndarray,
    ts: np.ndarray,
    items: pd.DataFrame,
    attributes: pd.DataFrame,
) -> SequenceData:
    """SequenceData from interaction rows already sorted by (dense user, time, file position).

    user_dense, item_dense, ts: (N,) int64; every user of user_map has at least one row."""
    per_user = np.bincount(user_dense, minlength=len(user_map) + 1).astype(np.int64)  # (U+1,), row 0 empty
    offsets = np.concatenate([[0], np.cumsum(per_user)]).astype(np.int64)  # (U+2,)
    titles = _titles(item_map, items)
    features = _item_features(item_map, attributes)
    return SequenceData(
        name=name,
        has_timestamps=has_timestamps,
        users=user_map,
        items=item_map,
        item_titles=titles,
        sequences=Ragged(item_dense, offsets),
        timestamps=Ragged(ts, offsets),
        features=features,
        fingerprint=_fingerprint(user_dense, item_dense, ts, user_map, item_map),
    )


def _titles(item_map: IdMap, items: pd.DataFrame) -> np.ndarray:
    """Titles by dense id; an item without metadata shows its raw id."""
    titles = np.array(item_map.raw_ids, dtype=object)
    if len(items):
        known = items.drop_duplicates("item_id", keep="last")  # as a dict of the rows would keep it
        where = pd.Index(known["item_id"].astype(str)).get_indexer(titles[1:].astype(str))  # matched with pandas:
        found = known["title"].to_numpy(dtype=object, na_value=None)[where]  # iterating the frame cost ~0.1 s
        usable = (where >= 0) & np.array([isinstance(title, str) and title != "" for title in found], dtype=bool)
        titles[1:][usable] = found[usable]
    return titles


def _item_features(item_map: IdMap, attributes: pd.DataFrame) -> ItemFeatures:
    """Vocabulary of (field, value) pairs and each item's first MAX_FEATURE_SLOTS values.

    Values seen on a single item carry no shared signal and are dropped (why: hundreds of one-off
    user tags would each get an embedding that never trains)."""
    n_items = len(item_map)
    if attributes is None or not len(attributes):
        return ItemFeatures((), np.array([""], dtype=object), np.zeros(1, np.int64), np.zeros((n_items + 1, 1), np.int64))
    known = pd.Index(item_map.raw_ids[1:].astype(str)).get_indexer(attributes["item_id"].astype(str)) + 1  # 0: unknown item
    frame = attributes[known > 0].assign(dense=known[known > 0])
    frame["label"] = frame["field"].astype(str) + "=" + frame["value"].astype(str)
    frame = frame.drop_duplicates(["item_id", "label"])
    support = frame.groupby("label")["item_id"].transform("size")
    frame = frame[support >= 2]
    field_names = tuple(sorted(frame["field"].astype(str).unique().tolist()))
    field_index = {name: i + 1 for i, name in enumerate(field_names)}
    labels = sorted(frame["label"].unique().tolist())
    value_field = np.array([0] + [field_index[label.split("=", 1)[0]] for label in labels], dtype=np.int64)
    # Each item's first MAX_FEATURE_SLOTS values in (field, label) order, placed with numpy (a per-row
    # Python loop and dict lookups cost ~0.25 s of every MovieLens read, this ~0.1 s).
    frame = frame.sort_values(["item_id", "field", "label"], kind="stable")
    dense = frame["dense"].to_numpy(np.int64)
    values = pd.Index(labels).get_indexer(frame["label"]).astype(np.int64) + 1
    rows = np.arange(len(dense))
    starts = np.ones(len(dense), dtype=bool)
    starts[1:] = dense[1:] != dense[:-1]  # the sort groups each item's rows together
    position = rows - np.maximum.accumulate(np.where(starts, rows, 0))  # rank within the item
    keep = position < MAX_FEATURE_SLOTS
    slots = np.zeros((n_items + 1, MAX_FEATURE_SLOTS), dtype=np.int64)
    slots[dense[keep], position[keep]] = values[keep]
    filled = np.minimum(np.bincount(dense, minlength=n_items + 1), MAX_FEATURE_SLOTS)
    width = max(int(filled.max()), 1)
    return ItemFeatures(field_names, np.array([""] + labels, dtype=object), value_field, slots[:, :width])


def _fingerprint(users: np.ndarray, items: np.ndarray, ts: np.ndarray, user_map: IdMap, item_map: IdMap) -> str:
    digest = hashlib.sha256()
    for array in (users, items, ts):
        digest.update(np.ascontiguousarray(array).tobytes())
    digest.update("\x1f".join(user_map.raw_ids[1:]).encode())
    digest.update("\x1f".join(item_map.raw_ids[1:]).encode())
    return digest.hexdigest()[:16]
