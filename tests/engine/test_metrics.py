"""Metric functions against values worked out by hand on tiny rank arrays and top-k lists."""

from __future__ import annotations

import math

import numpy as np
import pytest

from engine.metrics import (
    catalogue_coverage,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    popularity_percentile,
    popularity_percentiles,
)

RANKS = np.array([0, 1, 4])  # three users: target first, second, fifth


def test_hit_rate_counts_targets_inside_the_cut_off() -> None:
    assert hit_rate_at_k(RANKS, 1) == pytest.approx(1 / 3)  # only rank 0
    assert hit_rate_at_k(RANKS, 2) == pytest.approx(2 / 3)  # ranks 0 and 1
    assert hit_rate_at_k(RANKS, 4) == pytest.approx(2 / 3)  # rank 4 is the fifth place, still outside
    assert hit_rate_at_k(RANKS, 5) == pytest.approx(1.0)


def test_ndcg_uses_log2_of_rank_plus_two() -> None:
    # rank 0 -> 1/log2(2) = 1; rank 1 -> 1/log2(3) = 0.63093; rank 4 -> 1/log2(6) = 0.38685
    assert ndcg_at_k(RANKS, 1) == pytest.approx(1 / 3)
    assert ndcg_at_k(RANKS, 2) == pytest.approx((1 + 0.6309298) / 3)
    assert ndcg_at_k(RANKS, 10) == pytest.approx((1 + 0.6309298 + 0.3868528) / 3)


def test_mrr_is_reciprocal_rank_inside_the_cut_off() -> None:
    assert mrr_at_k(RANKS, 2) == pytest.approx((1 + 1 / 2) / 3)  # 0.5
    assert mrr_at_k(RANKS, 10) == pytest.approx((1 + 1 / 2 + 1 / 5) / 3)  # 0.56667


def test_a_single_user_at_rank_two() -> None:
    ranks = np.array([2])
    assert hit_rate_at_k(ranks, 3) == 1.0
    assert ndcg_at_k(ranks, 3) == pytest.approx(0.5)  # 1/log2(4)
    assert mrr_at_k(ranks, 3) == pytest.approx(1 / 3)
    assert ndcg_at_k(ranks, 2) == mrr_at_k(ranks, 2) == hit_rate_at_k(ranks, 2) == 0.0


@pytest.mark.parametrize("bad", [np.array([]), np.array([[0, 1]]), np.array([-1, 0])])
def test_rank_metrics_reject_empty_nested_or_negative_ranks(bad: np.ndarray) -> None:
    with pytest.raises(ValueError):
        ndcg_at_k(bad, 10)


def test_rank_metrics_reject_a_zero_cut_off() -> None:
    with pytest.raises(ValueError, match="k must be"):
        hit_rate_at_k(RANKS, 0)


def test_coverage_counts_distinct_items_and_ignores_padding() -> None:
    top_lists = np.array([[1, 2], [2, 3], [3, 0]])  # distinct real items {1, 2, 3}; 0 is an empty slot
    assert catalogue_coverage(top_lists, n_items=6) == pytest.approx(3 / 6)
    assert catalogue_coverage(top_lists[:, :1], n_items=6) == pytest.approx(3 / 6)  # {1, 2, 3}
    assert catalogue_coverage(np.array([[1], [1]]), n_items=4) == pytest.approx(1 / 4)


def test_popularity_percentiles_are_mid_ranks() -> None:
    counts = np.array([0, 5, 1, 1, 3])  # padding, then four items
    # sorted real counts [1, 1, 3, 5]: item 1 (5): 3 below + half of itself -> 3.5/4 = 87.5
    # items 2 and 3 (1): 0 below + half of two ties -> 1/4 = 25; item 4 (3): 2 below + 0.5 -> 62.5
    np.testing.assert_allclose(popularity_percentiles(counts), [0.0, 87.5, 25.0, 25.0, 62.5])
    assert popularity_percentiles(counts)[1:].mean() == pytest.approx(50.0)


def test_popularity_percentile_averages_recommended_items() -> None:
    counts = np.array([0, 5, 1, 1, 3])
    top_lists = np.array([[1, 4], [1, 0]])  # 87.5, 62.5, 87.5 (padding ignored)
    assert popularity_percentile(top_lists, counts) == pytest.approx((87.5 + 62.5 + 87.5) / 3)
    with pytest.raises(ValueError, match="no items"):
        popularity_percentile(np.zeros((2, 2), dtype=np.int64), counts)


def test_equal_counts_everywhere_give_fifty() -> None:
    counts = np.array([0, 7, 7, 7])
    assert popularity_percentile(np.array([[1, 2, 3]]), counts) == pytest.approx(50.0)
    assert not math.isnan(popularity_percentile(np.array([[3]]), counts))
