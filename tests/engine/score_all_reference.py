"""The full-catalogue scoring that AttentionRecommender.score_all replaced (issue 6), kept to check the
new path against and to time it beside the new one (benchmarks/explain_scale.py).

Item-major (chunk, B, T) products from the scorer's cached catalogue queries, a softmax (or sigmoid)
over each history row, then the weighted relevance; chunks of about 2**19 (chunk, B, T) elements."""

from __future__ import annotations

import torch

_CHUNK_ELEMENTS = 2**19


@torch.no_grad()
def score_all(model, history: torch.Tensor, item_chunk: int | None = None) -> torch.Tensor:
    """Scores (B, I+1) of the whole catalogue, column 0 (padding) = -inf."""
    if item_chunk is None:
        item_chunk = max(64, _CHUNK_ELEMENTS // max(history.numel(), 1))
    table = model.item_table()  # (I+1, D)
    queries = model.catalogue_queries()  # (I+1, D or A)
    states, mask, _ = model.encode_history(history, table[history])
    keys = model.scorer.key_proj(states)  # (B, T, D or A)
    batch, length, dim = states.shape
    flat_states = states.reshape(batch * length, dim)
    bias = model.item_bias.weight.squeeze(-1)  # (I+1,)
    scores = torch.empty(model.n_items + 1, batch, dtype=states.dtype, device=states.device)  # (I+1, B)
    for start in range(0, model.n_items + 1, item_chunk):
        stop = start + item_chunk
        weights = model.scorer.catalogue_weights(model.scorer.catalogue_logits(queries[start:stop], keys), mask)
        relevance = (table[start:stop] @ flat_states.T).view(-1, batch, length)  # (c, B, T)
        torch.sum(weights.mul_(relevance), dim=-1, out=scores[start:stop])
    scores = (scores + bias.unsqueeze(1)).T.contiguous()  # (B, I+1)
    scores[:, 0] = float("-inf")
    return scores
