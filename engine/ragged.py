"""Per-user arrays stored as one flat array plus offsets (CSR layout), read like a list of arrays.

Why: a million users as a million separate numpy arrays costs a Python object each and forces
per-user loops; one flat array lets counts, targets and training windows be computed with numpy
at once, while `ragged[u]` still returns user u's slice (a view, no copy) for code that wants it.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np


class Ragged(Sequence):
    """Row r is values[offsets[r]:offsets[r + 1]]; offsets (R+1,) int64, non-decreasing, offsets[0] == 0."""

    __slots__ = ("values", "offsets")

    def __init__(self, values: np.ndarray, offsets: np.ndarray) -> None:
        offsets = np.asarray(offsets, dtype=np.int64)
        if offsets.ndim != 1 or not len(offsets) or offsets[0] != 0 or offsets[-1] != len(values):
            raise ValueError("offsets must start at 0 and end at len(values)")
        self.values = values
        self.offsets = offsets

    @classmethod
    def from_arrays(cls, rows: Sequence[np.ndarray], dtype=np.int64) -> Ragged:
        """Concatenate separate per-row arrays (the list layout earlier versions used)."""
        lengths = np.fromiter((len(row) for row in rows), dtype=np.int64, count=len(rows))
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        values = np.concatenate([np.asarray(row, dtype=dtype) for row in rows]) if len(rows) else np.zeros(0, dtype)
        return cls(values.astype(dtype, copy=False), offsets)

    @property
    def lengths(self) -> np.ndarray:
        """(R,) int64 length of every row."""
        return np.diff(self.offsets)

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, index):
        if isinstance(index, slice):
            return [self[row] for row in range(*index.indices(len(self)))]
        row = int(index)
        if row < 0:
            row += len(self)
        if not 0 <= row < len(self):
            raise IndexError(f"row {index} out of range for {len(self)} rows")
        return self.values[self.offsets[row] : self.offsets[row + 1]]

    def __iter__(self) -> Iterator[np.ndarray]:
        for row in range(len(self)):
            yield self.values[self.offsets[row] : self.offsets[row + 1]]

    def __repr__(self) -> str:
        return f"Ragged({len(self)} rows, {len(self.values)} values)"
