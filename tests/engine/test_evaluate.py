"""evaluate() on a hand-built 4-user dataset with fake scorers whose ranks are worked out by hand."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest
import torch

from engine.config import EvalConfig
from engine.dataset import SequenceData, build_sequence_data
from engine.evaluate import evaluate, history_mask, metrics_by_segment

# Items a..f become dense ids 1..6 (sorted raw ids). Splits: train = all but the last two, valid target =
# second-last, test target = last; user 4 has only two interactions, so no valid target.
#   user 1: a b c d -> test history {a, b, c}, target d
#   user 2: b c e   -> test history {b, c},    target e
#   user 3: a e f d -> test history {a, e, f}, target d
#   user 4: c f     -> test history {c},       target f
HISTORIES = {"1": "abcd", "2": "bce", "3": "aefd", "4": "cf"}
PREFERENCE = torch.tensor([0.0, 6, 5, 4, 3, 2, 1])  # (I+1,) a best ... f worst; column 0 padding


def sequence_data(histories: dict[str, str]) -> SequenceData:
    rows = [(user, item) for user, items in histories.items() for item in items]
    interactions = pd.DataFrame(
        {
            "user_id": [user for user, _ in rows],
            "item_id": [item for _, item in rows],
            "ts": pd.array(range(len(rows)), dtype="Int64"),
            "row_order": np.arange(len(rows), dtype=np.int64),
        }
    )
    items = pd.DataFrame({"item_id": sorted({item for _, item in rows}), "title": ""})
    attributes = pd.DataFrame({"item_id": [], "field": [], "value": []})
    return build_sequence_data("tiny", interactions, items, attributes, has_timestamps=True)


class FixedScorer:
    """The same score row for every user."""

    def __init__(self, row: torch.Tensor) -> None:
        self.row = row

    def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
        return self.row.unsqueeze(0).repeat(len(users), 1)  # (B, I+1)


@pytest.fixture(scope="module")
def data() -> SequenceData:
    return sequence_data(HISTORIES)


def test_ranks_follow_hand_computed_candidates(data: SequenceData) -> None:
    # unmasked candidates by preference: user 1 d e f (d first: 0); user 2 a d e f (e third: 2);
    # user 3 b c d (d third: 2); user 4 a b d e f (f fifth: 4)
    result = evaluate(FixedScorer(PREFERENCE), data, EvalConfig(ks=(1, 3)))
    np.testing.assert_array_equal(result.users, [1, 2, 3, 4])
    np.testing.assert_array_equal(result.ranks, [0, 2, 2, 4])
    assert result.ranks.dtype == np.int64 and result.n_users == 4
    assert result.metrics["hr@1"] == pytest.approx(1 / 4)
    assert result.metrics["hr@3"] == pytest.approx(3 / 4)
    assert result.metrics["ndcg@3"] == pytest.approx((1 + 0.5 + 0.5 + 0) / 4)  # 1/log2(4) = 0.5
    assert result.metrics["mrr@3"] == pytest.approx((1 + 1 / 3 + 1 / 3 + 0) / 4)


def test_metric_keys_and_list_metrics(data: SequenceData) -> None:
    result = evaluate(FixedScorer(PREFERENCE), data, EvalConfig(ks=(1, 3)))
    expected = ["hr@1", "ndcg@1", "mrr@1", "hr@3", "ndcg@3", "mrr@3", "coverage@1", "coverage@3", "popularity@1", "popularity@3"]
    assert list(result.metrics) == expected
    # top-3 lists: u1 d e f, u2 a d e, u3 b c d, u4 a b d -> every item once or more
    np.testing.assert_array_equal(result.top_items, [[4, 5, 6], [1, 4, 5], [2, 3, 4], [1, 2, 4]])
    assert result.metrics["coverage@3"] == pytest.approx(6 / 6)
    assert result.metrics["coverage@1"] == pytest.approx(3 / 6)  # {d, a, b}
    # train counts a2 b2 c1 d0 e1 f0 -> mid-rank percentiles a,b 5/6, c,e 3/6, d,f 1/6 (x100)
    assert result.metrics["popularity@1"] == pytest.approx((100 / 6 + 3 * 500 / 6) / 4)  # d, a, b, a


def test_seen_items_are_masked_even_when_a_scorer_loves_them(data: SequenceData) -> None:
    class HistoryLover:
        def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
            return PREFERENCE + 100.0 * history_mask(data, users, split).float()  # (B, I+1)

    result = evaluate(HistoryLover(), data, EvalConfig(ks=(3,)))
    np.testing.assert_array_equal(result.ranks, [0, 2, 2, 4])
    for user, top in zip(result.users, result.top_items):
        assert not set(top) & set(data.history(int(user), "test")) and 0 not in top


def test_ties_never_help_the_target(data: SequenceData) -> None:
    # every unmasked candidate ties with the target, which is placed after all of them
    result = evaluate(FixedScorer(torch.ones(7)), data, EvalConfig(ks=(1,)))
    np.testing.assert_array_equal(result.ranks, [2, 3, 2, 4])  # candidates minus one: 3-1, 4-1, 3-1, 5-1
    assert result.metrics["hr@1"] == 0.0


def test_a_nan_target_score_ranks_last(data: SequenceData) -> None:
    row = PREFERENCE.clone()
    row[4] = float("nan")  # d, the test target of users 1 and 3
    result = evaluate(FixedScorer(row), data, EvalConfig(ks=(1,)))
    assert result.ranks[0] == 2 and result.ranks[2] == 2  # behind e, f and b, c
    assert result.top_items[0, 0] == 5  # user 1's candidates d e f: NaN d never tops the list


def test_valid_split_skips_users_without_a_valid_target(data: SequenceData) -> None:
    # valid: user 1 history {a, b} target c; user 2 history {b} target c; user 3 history {a, e} target f
    result = evaluate(FixedScorer(PREFERENCE), data, EvalConfig(ks=(1,), split="valid"))
    np.testing.assert_array_equal(result.users, [1, 2, 3])
    np.testing.assert_array_equal(result.ranks, [0, 1, 3])  # c first; a c; b c d f


def test_batching_does_not_change_results(data: SequenceData) -> None:
    whole = evaluate(FixedScorer(PREFERENCE), data, EvalConfig(ks=(2,), batch_size=256))
    one_by_one = evaluate(FixedScorer(PREFERENCE), data, EvalConfig(ks=(2,), batch_size=1))
    np.testing.assert_array_equal(whole.ranks, one_by_one.ranks)
    np.testing.assert_array_equal(whole.top_items, one_by_one.top_items)


def test_a_reconsumed_target_stays_rankable() -> None:
    data = sequence_data({"1": "abca", "2": "bcd"})  # user 1's test target a is also in the history
    result = evaluate(FixedScorer(torch.tensor([0.0, 4, 3, 2, 1])), data, EvalConfig(ks=(1,)))
    assert result.ranks[0] == 0 and result.n_targets_in_history == 1
    assert result.top_items[0, 0] == 1  # a itself, while b and c stay masked


def test_numpy_scores_are_accepted_and_wrong_shapes_rejected(data: SequenceData) -> None:
    class NumpyScorer:
        def __init__(self, width: int) -> None:
            self.width = width

        def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> np.ndarray:
            return np.tile(PREFERENCE.numpy()[: self.width], (len(users), 1))

    assert evaluate(NumpyScorer(7), data, EvalConfig(ks=(3,))).ranks.tolist() == [0, 2, 2, 4]
    with pytest.raises(ValueError, match="expected"):
        evaluate(NumpyScorer(6), data, EvalConfig(ks=(3,)))


def test_segments_group_users_by_history_length(data: SequenceData) -> None:
    # test history lengths: u1 3, u2 2, u3 3, u4 1 -> "<3" holds u2, u4 (ranks 2, 4), "≥3" u1, u3 (ranks 0, 2)
    result = evaluate(FixedScorer(PREFERENCE), data, EvalConfig(ks=(3,)), segment_bounds=(3, 100))
    light, heavy, empty = result.segments
    assert (light.label, light.n_users, light.metrics["hr@3"]) == ("<3", 2, 0.5)
    assert (heavy.label, heavy.n_users, heavy.metrics["hr@3"]) == ("3–99", 2, 1.0)
    assert heavy.metrics["ndcg@3"] == pytest.approx((1 + 0.5) / 2)
    assert empty.label == "≥100" and empty.n_users == 0 and math.isnan(empty.metrics["ndcg@3"])
    assert metrics_by_segment(result, data, (3, 100))[:2] == result.segments[:2]  # NaN != NaN in the third
    with pytest.raises(ValueError, match="increasing"):
        metrics_by_segment(result, data, (50, 20))
