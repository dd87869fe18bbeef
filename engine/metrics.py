"""Ranking metrics on 0-based target ranks, and list-level metrics on top-k lists.

Pure numpy so they can be unit-tested by hand and reused by the dashboard. Each user has exactly one
target (leave-last-out), so a user's whole contribution is the rank of that target: rank 0 = top.
"""

from __future__ import annotations

import numpy as np

PAD = 0  # dense item 0 is padding; it marks empty slots in top-k lists


def _checked_ranks(ranks: np.ndarray, k: int) -> np.ndarray:
    ranks = np.asarray(ranks)
    if ranks.ndim != 1 or ranks.size == 0:
        raise ValueError(f"ranks must be a non-empty 1-D array, got shape {ranks.shape}")
    if k < 1:
        raise ValueError(f"k must be at least 1, got {k}")
    if np.any(ranks < 0):
        raise ValueError("ranks are 0-based and cannot be negative")
    return ranks


def hit_rate_at_k(ranks: np.ndarray, k: int) -> float:
    """Share of users whose target is in the top k."""
    ranks = _checked_ranks(ranks, k)
    return float(np.mean(ranks < k))


def ndcg_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean 1/log2(rank + 2) over users, counting 0 beyond k (one relevant item, so the ideal DCG is 1)."""
    ranks = _checked_ranks(ranks, k)
    gains = np.where(ranks < k, 1.0 / np.log2(ranks.astype(np.float64) + 2.0), 0.0)
    return float(np.mean(gains))


def mrr_at_k(ranks: np.ndarray, k: int) -> float:
    """Mean 1/(rank + 1) over users, counting 0 beyond k."""
    ranks = _checked_ranks(ranks, k)
    return float(np.mean(np.where(ranks < k, 1.0 / (ranks.astype(np.float64) + 1.0), 0.0)))


def catalogue_coverage(top_lists: np.ndarray, n_items: int) -> float:
    """Share of the n_items real items that appear in at least one user's list.

    top_lists: (N, k) dense item ids; PAD entries (lists shorter than k) are ignored."""
    if n_items < 1:
        raise ValueError(f"n_items must be at least 1, got {n_items}")
    items = np.unique(np.asarray(top_lists))
    return float(np.count_nonzero(items != PAD) / n_items)


def popularity_percentiles(item_counts: np.ndarray) -> np.ndarray:
    """(I+1,) mid-rank percentile (0..100) of each item's training count among the real items.

    percentile = 100 * (items with a smaller count + half the items with the same count) / n_items, so
    ties share one value and the catalogue mean is exactly 50 (a uniformly random recommender scores ~50).
    """
    counts = np.asarray(item_counts)[1:]  # (I,) without padding
    if counts.size == 0:
        raise ValueError("item_counts must cover at least one real item")
    ordered = np.sort(counts)
    below = np.searchsorted(ordered, counts, side="left")
    same = np.searchsorted(ordered, counts, side="right") - below
    percentiles = np.zeros(counts.size + 1, dtype=np.float64)
    percentiles[1:] = 100.0 * (below + 0.5 * same) / counts.size
    return percentiles


def popularity_percentile(top_lists: np.ndarray, item_counts: np.ndarray) -> float:
    """Mean popularity percentile (see popularity_percentiles) of all recommended items; PAD ignored.

    High values (near 100) mean the lists lean on blockbusters; 50 is what random lists would get."""
    items = np.asarray(top_lists).ravel()
    items = items[items != PAD]
    if items.size == 0:
        raise ValueError("top_lists contain no items")
    return float(np.mean(popularity_percentiles(item_counts)[items]))
