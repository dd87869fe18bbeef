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


HISTORIES = [
    [[3, 9, 1, 4, 7, 2]],  # one trimmed window: no padding
    [[0, 0, 0, 0, 5, 8], [1, 2, 3, 4, 5, 6], [0, 0, 0, 0, 0, 0]],  # padded rows and an empty history
]


@pytest.mark.parametrize("scorer", ["dot", "additive", "sigmoid"])
@pytest.mark.parametrize("history", HISTORIES)
def test_chunked_scores_equal_one_chunk_and_the_replaced_path(scorer, history):
    """Every chunk size (one item, odd sizes, a last partial chunk, the whole catalogue) gives the scores of
    the single-chunk pass and of the item-major implementation it replaced (score_all_reference.py)."""
    from score_all_reference import score_all as replaced  # beside this file (pytest puts tests/engine on the path)

    model = _model(scorer)
    history = torch.tensor(history)
    whole = model.score_all(history, item_chunk=N_ITEMS + 1)
    assert torch.isneginf(whole[:, 0]).all() and torch.isfinite(whole[:, 1:]).all()
    assert torch.allclose(whole[:, 1:], replaced(model, history)[:, 1:], atol=1e-5)
    for chunk in (1, 7, 16, None):
        assert torch.allclose(model.score_all(history, item_chunk=chunk)[:, 1:], whole[:, 1:], atol=1e-5)
    if len(history) > 1:  # the empty history scores its items by the bias alone
        assert torch.allclose(whole[2, 1:], model.item_bias.weight[1:, 0], atol=1e-6)


@pytest.mark.parametrize("history", HISTORIES)
def test_softmax_without_max_shift_falls_back_when_logits_leave_the_safe_range(history, monkeypatch):
    """Logits of several hundred (exp overflows float32) are re-scored with a max-shifted softmax: the
    scores stay finite and equal to forward()'s."""
    import engine.model

    model = _model("dot")
    with torch.no_grad():
        model.scorer.query_proj.weight.mul_(400.0)
    model.train()
    model.eval()  # drop the cached item table's companions, as after a training step
    history = torch.tensor(history)
    calls = []
    original = engine.model.attention_catalogue_softmax
    monkeypatch.setattr(engine.model, "attention_catalogue_softmax", lambda *a: calls.append(1) or original(*a))
    scores = model.score_all(history, item_chunk=7)
    assert calls, "the fallback was not exercised"
    expected = model(history, torch.arange(1, N_ITEMS + 1).expand(len(history), -1)).scores
    assert torch.isfinite(scores[:, 1:]).all()
    assert torch.allclose(scores[:, 1:], expected, atol=1e-4, rtol=1e-5)
