"""The model's scores decompose exactly, all scoring paths agree, and attention comes with the scores."""

import pytest
import torch

from engine.config import ModelConfig
from engine.model import AttentionRecommender

N_ITEMS, N_VALUES = 30, 7


def _model(scorer: str, n_layers: int = 1, use_features: bool = True) -> AttentionRecommender:
    torch.manual_seed(3)
    slots = torch.zeros(N_ITEMS + 1, 3, dtype=torch.long)
    for item in range(1, N_ITEMS + 1):
        slots[item, 0] = 1 + item % N_VALUES
        if item % 2:
            slots[item, 1] = 1 + (item + 3) % N_VALUES
    config = ModelConfig(scorer=scorer, embed_dim=16, n_layers=n_layers, n_heads=2, max_len=8, dropout=0.0, use_features=use_features)
    model = AttentionRecommender(config, N_ITEMS, slots, N_VALUES)
    with torch.no_grad():  # non-zero biases so the decomposition test sees them
        model.item_bias.weight.normal_()
        model.item_bias.weight[0].zero_()
    return model.eval()


HISTORY = torch.tensor([[0, 0, 0, 4, 9, 2, 17, 5], [1, 2, 3, 4, 5, 6, 7, 8]])  # (2, 8) left-padded
CANDIDATES = torch.tensor([[11, 12, 4], [20, 21, 22]])


@pytest.mark.parametrize("scorer", ["dot", "additive", "sigmoid"])
@pytest.mark.parametrize("n_layers", [0, 2])
def test_score_is_sum_of_contributions_plus_bias(scorer, n_layers):
    out = _model(scorer, n_layers)(HISTORY, CANDIDATES)
    assert out.scores.shape == (2, 3)
    assert torch.allclose(out.contributions.sum(-1) + out.item_bias, out.scores, atol=1e-5)
    assert out.history_weights.shape == (2, 3, 8)
    assert torch.all(out.history_weights[0, :, :3] == 0)  # padding never attended
    assert len(out.self_attention) == n_layers


@pytest.mark.parametrize("scorer", ["dot", "additive"])
def test_softmax_scorers_normalise(scorer):
    out = _model(scorer)(HISTORY, CANDIDATES)
    assert torch.allclose(out.history_weights.sum(-1), torch.ones(2, 3), atol=1e-5)


def test_sigmoid_weights_are_independent_per_position():
    out = _model("sigmoid")(HISTORY, CANDIDATES)
    sums = out.history_weights.sum(-1)
    assert not torch.allclose(sums, torch.ones_like(sums), atol=1e-2)
    assert torch.all((out.history_weights >= 0) & (out.history_weights <= 1))


@pytest.mark.parametrize("scorer", ["dot", "additive", "sigmoid"])
def test_score_all_matches_forward(scorer):
    model = _model(scorer)
    everything = model.score_all(HISTORY, item_chunk=7)  # small chunks exercise the chunking
    out = model(HISTORY, CANDIDATES)
    assert everything.shape == (2, N_ITEMS + 1)
    assert torch.isneginf(everything[:, 0]).all()
    assert torch.allclose(everything.gather(1, CANDIDATES), out.scores, atol=1e-5)


@pytest.mark.parametrize("scorer", ["dot", "additive", "sigmoid"])
def test_training_scores_at_last_position_equal_serving_scores(scorer):
    model = _model(scorer)
    targets = torch.tensor([[0, 0, 0, 9, 2, 17, 5, 13], [2, 3, 4, 5, 6, 7, 8, 19]])
    negatives = torch.tensor([11, 25, 3])
    with torch.no_grad():
        window = model.window_scores(HISTORY, targets, negatives)  # (2, 8, 4)
        candidates = torch.cat([targets[:, -1:], negatives.expand(2, -1)], dim=1)
        served = model(HISTORY, candidates).scores
    assert torch.allclose(window[:, -1, :], served, atol=1e-5)


@pytest.mark.parametrize("scorer", ["dot", "additive", "sigmoid"])
def test_trace_reproduces_the_score(scorer):
    model = _model(scorer)
    trace = model.trace(HISTORY[:1], 11)
    score = model(HISTORY[:1], torch.tensor([[11]])).scores[0, 0]
    assert trace.score == pytest.approx(float(score.detach()), abs=1e-5)
    assert torch.allclose((trace.weights.unsqueeze(-1) * trace.values).sum(0), trace.interest, atol=1e-6)
    assert float(trace.interest @ trace.candidate) + trace.item_bias == pytest.approx(trace.score, abs=1e-5)


def test_feature_weights_cover_only_present_attributes():
    out = _model("dot")(HISTORY, CANDIDATES)
    weights = out.feature_weights.detach()  # (2, 3, S)
    # item 12 is even: one attribute slot; item 11 is odd: two
    assert float(weights[0, 1, 1]) == 0 and float(weights[0, 1, 0]) == pytest.approx(1.0)
    assert float(weights[0, 0, :2].sum()) == pytest.approx(1.0, abs=1e-6) and float(weights[0, 0, 2]) == 0


def test_features_off_gives_plain_id_embeddings():
    model = _model("dot", use_features=False)
    vectors, weights = model.item_vectors(torch.tensor([3, 4]))
    assert torch.equal(vectors, model.item_embedding(torch.tensor([3, 4])))
    assert torch.all(weights == 0)


def test_loss_is_finite_and_ignores_padding_targets():
    model = _model("dot").train()
    targets = torch.tensor([[0, 0, 0, 9, 2, 17, 5, 13], [2, 3, 4, 5, 6, 7, 8, 19]])
    loss = model.loss(HISTORY, targets, torch.tensor([11, 25, 3, 9]))
    assert torch.isfinite(loss)
    loss.backward()
    assert model.item_embedding.weight.grad is not None


@pytest.mark.parametrize("scorer, needs_queries", [("dot", False), ("sigmoid", False), ("additive", True)])
def test_warming_fills_only_the_caches_score_all_reads(scorer, needs_queries):
    """A server warms a model before its first page; the additive scorer alone reads projected queries."""
    model = _model(scorer)
    with torch.no_grad():
        model.warm_scoring_caches()
        assert model._table_cache is not None
        assert (model._queries_cache is not None) == needs_queries
        warmed = model.score_all(HISTORY)
        assert (model._queries_cache is not None) == needs_queries  # scoring did not need more
    fresh = _model(scorer)
    with torch.no_grad():
        assert torch.equal(warmed, fresh.score_all(HISTORY))
