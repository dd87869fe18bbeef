"""Each scorer against a 2-candidate x 3-position example worked out by hand."""

import math

import pytest
import torch

from engine.attention import AdditiveScorer, ScaledDotProductScorer, SigmoidScorer, make_scorer

QUERY = torch.tensor([[[1.0, 0.0], [0.0, 1.0]]])  # (1, 2, 2): two candidates
KEYS = torch.tensor([[[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]]])  # (1, 3, 2): three history positions
ALL_VALID = torch.tensor([[True, True, True]])


def _identity(linear: torch.nn.Linear) -> None:
    with torch.no_grad():
        linear.weight.copy_(torch.eye(linear.weight.shape[0], linear.weight.shape[1]))
        if linear.bias is not None:
            linear.bias.zero_()


def _softmax(values):
    exps = [math.exp(v) for v in values]
    return [e / sum(exps) for e in exps]


def test_scaled_dot_product_matches_hand_computation():
    scorer = ScaledDotProductScorer(2)
    _identity(scorer.query_proj)
    _identity(scorer.key_proj)
    logits = scorer.logits(QUERY, KEYS)
    r = 1 / math.sqrt(2)
    # candidate 1 = [1, 0]: dots with keys are 1, 0, 1; candidate 2 = [0, 1]: 0, 1, 1; scaled by 1/sqrt(2)
    expected_logits = [[r, 0.0, r], [0.0, r, r]]
    assert torch.allclose(logits[0].T, torch.tensor(expected_logits), atol=1e-6)
    weights = scorer.weights(logits, ALL_VALID)
    assert torch.allclose(weights[0].T, torch.tensor([_softmax(row) for row in expected_logits]), atol=1e-6)
    assert torch.allclose(weights.sum(1), torch.ones(1, 2))


def test_sigmoid_scorer_is_not_normalised():
    scorer = SigmoidScorer(2)
    _identity(scorer.query_proj)
    _identity(scorer.key_proj)
    weights = scorer.weights(scorer.logits(QUERY, KEYS), ALL_VALID)
    r = 1 / math.sqrt(2)
    sigma = lambda v: 1 / (1 + math.exp(-v))  # noqa: E731
    expected = [[sigma(r), sigma(0.0), sigma(r)], [sigma(0.0), sigma(r), sigma(r)]]
    assert torch.allclose(weights[0].T, torch.tensor(expected), atol=1e-6)
    assert weights[0, :, 0].sum() > 1.5  # 0.67 + 0.5 + 0.67: plainly not a distribution


def test_additive_scorer_matches_hand_computation():
    scorer = AdditiveScorer(2, hidden=2)
    _identity(scorer.query_proj)
    _identity(scorer.key_proj)
    with torch.no_grad():
        scorer.energy.weight.copy_(torch.tensor([[1.0, 1.0]]))
    logits = scorer.logits(QUERY, KEYS)
    t = math.tanh
    # v . tanh(q + k) with v = [1, 1]
    expected_logits = [
        [t(2) + t(0), t(1) + t(1), t(2) + t(1)],
        [t(1) + t(1), t(0) + t(2), t(1) + t(2)],
    ]
    assert torch.allclose(logits[0].T, torch.tensor(expected_logits), atol=1e-6)
    weights = scorer.weights(logits, ALL_VALID)
    assert torch.allclose(weights[0].T, torch.tensor([_softmax(row) for row in expected_logits]), atol=1e-6)


@pytest.mark.parametrize("name", ["dot", "additive", "sigmoid"])
def test_padding_positions_get_zero_weight(name):
    scorer = make_scorer(name, 2)
    mask = torch.tensor([[False, True, True]])
    weights = scorer.weights(scorer.logits(QUERY, KEYS), mask)
    assert torch.all(weights[:, 0, :] == 0)
    if name != "sigmoid":
        assert torch.allclose(weights.sum(1), torch.ones(1, 2), atol=1e-6)


@pytest.mark.parametrize("name", ["dot", "additive", "sigmoid"])
def test_shared_query_equals_batched_query(name):
    torch.manual_seed(0)
    scorer = make_scorer(name, 4)
    query = torch.randn(5, 4)
    keys = torch.randn(3, 6, 4)
    shared = scorer.logits(query, keys)
    batched = scorer.logits(query.unsqueeze(0).expand(3, -1, -1), keys)
    assert shared.shape == (3, 6, 5)
    assert torch.allclose(shared, batched, atol=1e-5)
