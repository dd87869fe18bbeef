"""The per-user Python-loop versions replaced by the CSR code in engine.dataset and engine.batching,
kept verbatim as the reference the vectorised paths are tested equal to (same ids, split, windows)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from engine.dataset import PAD


def reference_sequences(interactions: pd.DataFrame) -> tuple[list[str], list[str], list[np.ndarray], list[np.ndarray]]:
    """(sorted user ids, sorted item ids, per-user item lists, per-user timestamp lists) as the list code built them."""
    frame = interactions[["user_id", "item_id", "ts", "row_order"]].copy()
    frame["ts"] = pd.to_numeric(frame["ts"], errors="coerce").fillna(-1).astype("int64")
    frame = frame.sort_values(["user_id", "ts", "row_order"], kind="stable")
    users = sorted(frame["user_id"].unique().tolist())
    items = sorted(set(frame["item_id"].unique().tolist()))
    user_index = {raw: i + 1 for i, raw in enumerate(users)}
    item_index = {raw: i + 1 for i, raw in enumerate(items)}
    user_dense = frame["user_id"].map(user_index).to_numpy(np.int64)
    item_dense = frame["item_id"].map(item_index).to_numpy(np.int64)
    ts = frame["ts"].to_numpy(np.int64)
    bounds = np.flatnonzero(np.diff(user_dense)) + 1
    starts = np.concatenate([[0], bounds])
    ends = np.concatenate([bounds, [len(user_dense)]])
    sequences = [np.zeros(0, dtype=np.int64)] * (len(users) + 1)
    times = [np.zeros(0, dtype=np.int64)] * (len(users) + 1)
    for start, end in zip(starts, ends):
        if end > start:
            sequences[user_dense[start]] = item_dense[start:end]
            times[user_dense[start]] = ts[start:end]
    return users, items, sequences, times


def reference_train_sequence(seq: np.ndarray) -> np.ndarray:
    return seq[: max(len(seq) - 2, 1)] if len(seq) >= 3 else seq[: max(len(seq) - 1, 1)]


def reference_target(seq: np.ndarray, split: str) -> int:
    if split == "valid":
        return int(seq[-2]) if len(seq) >= 3 else PAD
    return int(seq[-1]) if len(seq) >= 2 else PAD


def reference_evaluable_users(sequences: list[np.ndarray], split: str) -> np.ndarray:
    users = np.arange(1, len(sequences))
    return np.array([u for u in users if reference_target(sequences[u], split) != PAD], dtype=np.int64)


def reference_train_item_counts(sequences: list[np.ndarray], n_items: int) -> np.ndarray:
    counts = np.zeros(n_items + 1, dtype=np.int64)
    for u in range(1, len(sequences)):
        np.add.at(counts, reference_train_sequence(sequences[u]), 1)
    counts[PAD] = 0
    return counts


def reference_item_slots(item_index: dict[str, int], n_items: int, frame: pd.DataFrame, value_index: dict[str, int],
                         max_slots: int) -> np.ndarray:  # fmt: skip
    """The per-row loop that filled ItemFeatures.item_slots: each item's first `max_slots` labels in
    (item_id, field, label) order; `frame` holds the kept item_id, field, label rows."""
    slots = np.zeros((n_items + 1, max_slots), dtype=np.int64)
    filled = np.zeros(n_items + 1, dtype=np.int64)
    frame = frame.sort_values(["item_id", "field", "label"], kind="stable")
    for item_id, label in zip(frame["item_id"].astype(str), frame["label"]):
        dense = item_index[item_id]
        if filled[dense] < max_slots:
            slots[dense, filled[dense]] = value_index[label]
            filled[dense] += 1
    return slots[:, : max(int(filled.max()), 1)]


def reference_titles(raw_ids: np.ndarray, items: pd.DataFrame) -> list[str]:
    """The dict-and-loop title lookup: the last row's title per item id, the raw id when it has none."""
    titles = list(raw_ids)
    lookup = dict(zip(items["item_id"].astype(str), items["title"]))
    for dense in range(1, len(titles)):
        title = lookup.get(titles[dense])
        if isinstance(title, str) and title:
            titles[dense] = title
    return titles
