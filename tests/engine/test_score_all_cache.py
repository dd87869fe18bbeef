"""score_all's item-major path and its cached catalogue queries: equal to forward() for every scorer,
with padded and unpadded histories, and never stale after the weights change."""

import pytest
import torch

from engine.config import ModelConfig
from engine.model import AttentionRecommender

N_ITEMS = 40


def _model(scorer: str, seed: int = 5) -> AttentionRecommender:
    torch.manual_seed(seed)
    slots = torch.randint(0, 6, (N_ITEMS + 1, 2))
    slots[0] = 0
    config = ModelConfig(scorer=scorer, embed_dim=16, n_layers=1, n_heads=2, max_len=6, dropout=0.0)
    model = AttentionRecommender(config, N_ITEMS, slots, 5)
    with torch.no_grad():
        model.item_bias.weight.normal_()
        model.item_bias.weight[0].zero_()
    return model.eval()


@pytest.mark.parametrize("scorer", ["dot", "additive", "sigmoid"])
@pytest.mark.parametrize("history", [[[3, 9, 1, 4, 7, 2]], [[0, 0, 0, 0, 5, 8], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]]])
def test_item_major_scores_equal_forward(scorer, history):
    model = _model(scorer)
    history = torch.tensor(history)
    candidates = torch.arange(1, N_ITEMS + 1).expand(len(history), -1)
    expected = model(history, candidates).scores
    for chunk in (None, 7):
        assert torch.allclose(model.score_all(history, item_chunk=chunk)[:, 1:], expected, atol=1e-5)


@pytest.mark.parametrize("scorer", ["dot", "additive", "sigmoid"])
def test_cached_queries_follow_new_weights(scorer):
    model, other = _model(scorer), _model(scorer, seed=9)
    history = torch.tensor([[2, 4, 6, 8, 10, 12]])
    before = model.score_all(history)
    model.load_state_dict(other.state_dict())
    assert torch.allclose(model.score_all(history), other.score_all(history), atol=1e-6)
    model.train()
    with torch.no_grad():
        model.scorer.query_proj.weight.mul_(-1.0)  # a training step would change it like this
    model.eval()
    assert not torch.allclose(model.score_all(history)[:, 1:], other.score_all(history)[:, 1:])
    assert not torch.allclose(before[:, 1:], model.score_all(history)[:, 1:])
