"""Sequences -> padded tensors: left-padded history windows for scoring and training windows.

Pure numpy (torch conversion happens at the caller, on the model's device). Left padding keeps the
most recent item at the last position, which is where the position embedding expects it.
"""

from __future__ import annotations

import numpy as np


def left_pad(sequences: list[np.ndarray], length: int) -> np.ndarray:
    """(B, length) int64: each sequence's last `length` items, right-aligned, zeros in front."""
    out = np.zeros((len(sequences), length), dtype=np.int64)
    for row, seq in enumerate(sequences):
        tail = np.asarray(seq, dtype=np.int64)[-length:]
        if len(tail):
            out[row, length - len(tail) :] = tail
    return out


def training_windows(sequences: list[np.ndarray], length: int, offset: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Cut every sequence into next-item windows: inputs (W, length) and targets (W, length).

    Each window predicts item t+1 from items <= t. Windows are cut backwards from the end of the
    sequence, so the most recent window is always whole; `offset` (0..length-1) moves the other cut
    points between epochs so no pair of neighbours is always split apart.
    """
    inputs, targets = [], []
    for seq in sequences:
        seq = np.asarray(seq, dtype=np.int64)
        if len(seq) < 2:
            continue
        x, y = seq[:-1], seq[1:]
        ends = [len(x)]
        end = len(x) - offset - length if offset else len(x) - length
        while end > 0:
            ends.append(end)
            end -= length
        for end in ends:
            start = max(end - length, 0)
            inputs.append(x[start:end])
            targets.append(y[start:end])
    return left_pad(inputs, length), left_pad(targets, length)
