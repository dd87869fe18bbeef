"""Training windows cut with numpy from the flat (CSR) sequences, gathered lazily one batch at a time.

Same windows, in the same order, as engine.batching.training_windows over every user's train_sequence,
but without a Python loop over users and without holding the epoch's (W, max_len) input and target
arrays: a plan keeps two int64 numbers per window and each step gathers only its own rows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class WindowPlan:
    """Window w predicts values[stop[w] - length + 1 + p] from values[stop[w] - length + p], for the
    positions p whose input index is >= first[w] (the start of its user's sequence); others are padding."""

    first: np.ndarray  # (W,) int64 flat index of the user's first item
    stop: np.ndarray  # (W,) int64 flat index one past the window's last input

    def __len__(self) -> int:
        return len(self.first)


def plan_windows(offsets: np.ndarray, train_lengths: np.ndarray, length: int, offset: int = 0) -> WindowPlan:
    """Windows of every row whose training part (the first train_lengths[r] items from offsets[r]) has
    at least two items, row by row, each row's windows cut backwards from its end exactly like
    training_windows: the most recent window whole, then ends moved back by `offset` and by `length`."""
    rows = np.flatnonzero(train_lengths >= 2)
    inputs = train_lengths[rows].astype(np.int64) - 1  # (R,) inputs per row: x = seq[:-1]
    shifted = inputs - offset  # the second window ends here minus `length`
    counts = 1 + np.maximum((shifted - 1) // length, 0)  # (R,) windows per row
    firsts = np.asarray(offsets, dtype=np.int64)[rows]
    row_of = np.repeat(np.arange(len(rows)), counts)  # (W,)
    k = np.arange(len(row_of)) - np.repeat(np.cumsum(counts) - counts, counts)  # (W,) window index in its row
    ends = np.where(k == 0, inputs[row_of], shifted[row_of] - k * length)
    return WindowPlan(first=firsts[row_of], stop=firsts[row_of] + ends)


def gather_windows(values: np.ndarray, plan: WindowPlan, rows: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Left-padded inputs and targets (B, length) int64 of the plan's windows `rows`."""
    stop, first = plan.stop[rows], plan.first[rows]
    at = stop[:, None] - length + np.arange(length)  # (B, L) flat index of each input
    real = at >= first[:, None]
    at = np.where(real, at, 0)
    inputs = np.where(real, values[at], 0).astype(np.int64, copy=False)
    targets = np.where(real, values[at + 1], 0).astype(np.int64, copy=False) if len(values) else inputs.copy()
    return inputs, targets
