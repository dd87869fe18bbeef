"""The three target-attention scorers: how much each history position matters for a candidate item.

All share one call shape, key-major so that scoring a whole catalogue is one matrix product:
`logits(query (B,C,D) or (C,D), keys (B,T,D)) -> (B,T,C)` and `weights(logits, key_mask (B,T)) -> (B,T,C)`,
normalised over the history axis T (dim 1). The dot-product and additive scorers normalise with a
softmax over the history (weights sum to 1); the sigmoid scorer does NOT normalise: each position gets
sigma(logit) independently, as in DIN, so the total weight grows with the amount of relevant history.
References: Vaswani et al. 2017 (scaled dot product), Bahdanau et al. 2015 (additive), Zhou et al. 2018 (DIN).
"""

from __future__ import annotations

import math

import torch
from torch import nn

_ADDITIVE_CHUNK_ELEMENTS = 2**24  # bound the (B, C, T, A) tanh tensor to ~64 MB per chunk


def _broadcast_mask(key_mask: torch.Tensor, logits: torch.Tensor) -> torch.Tensor:
    """A (B, T) key mask applies to every candidate; a (B, T, C) mask (causal prefixes) is used as is."""
    return key_mask if key_mask.dim() == logits.dim() else key_mask.unsqueeze(-1)


def _masked_softmax(logits: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the history axis ignoring padded keys; a column with no valid key gets zero weights."""
    mask = _broadcast_mask(key_mask, logits)
    # a history without padding (one user's trimmed window) needs no fill: one pass less over (B, T, C)
    filled = logits if bool(key_mask.all()) else logits.masked_fill(~mask, float("-inf"))
    weights = torch.softmax(filled, dim=1)
    if not bool(mask.any(dim=1).all()):  # only an empty history needs the NaN clean-up
        weights = torch.nan_to_num(weights, nan=0.0)
    return weights


def catalogue_softmax(logits: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
    """Softmax over the last (history) axis of item-major logits (C, B, T) with a (B, T) key mask."""
    filled = logits if bool(key_mask.all()) else logits.masked_fill(~key_mask, float("-inf"))
    weights = torch.softmax(filled, dim=-1)
    if not bool(key_mask.any(dim=-1).all()):
        weights = torch.nan_to_num(weights, nan=0.0)
    return weights


class ScaledDotProductScorer(nn.Module):
    """logit_t = (W_q q) . (W_k k_t) / sqrt(D); weights = softmax over valid positions."""

    normalised = True
    bilinear = True  # logit = e_c . (W_q^T W_k v_t) / sqrt(D): model.score_all folds the query projection into the keys

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.query_proj = nn.Linear(dim, dim, bias=False)
        self.key_proj = nn.Linear(dim, dim, bias=False)
        self.scale = 1.0 / math.sqrt(dim)

    def project(self, query: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Projected query (B,C,D) and keys (B,T,D): the vectors the step-by-step panel shows."""
        return self.query_proj(query), self.key_proj(keys)

    def logits(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        q, k = self.project(query, keys)  # a (C, D) query is projected once and shared by the batch
        return torch.matmul(k, q.transpose(-1, -2)) * self.scale  # (B, T, C)

    def catalogue_queries(self, table: torch.Tensor) -> torch.Tensor:
        """(I+1, D) projected and scaled queries of every item: what score_all caches in inference
        (why: re-projecting a 200 k-item catalogue per user cost more than the attention itself)."""
        return self.query_proj(table) * self.scale

    def catalogue_logits(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Item-major (C, B, T) logits from catalogue_queries rows (C, D) and key_proj keys (B, T, D).

        Why item-major: one (C, D) x (D, B*T) product, and the softmax then runs over contiguous
        history rows; on one CPU thread this scored a 200 k-item catalogue ~1.6x faster than (B, T, C)."""
        batch, length, dim = keys.shape
        return (queries @ keys.reshape(batch * length, dim).T).view(-1, batch, length)

    def catalogue_weights(self, logits: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        """Weights (C, B, T) for catalogue_logits, normalised over T."""
        return catalogue_softmax(logits, key_mask)

    def catalogue_keys(self, keys: torch.Tensor) -> torch.Tensor:
        """(B, T, D) keys with the query projection and scale folded in: the logit of item vector e_c at
        position t is e_c . a_t, so the catalogue is scored from the item table without projected queries."""
        return (keys @ self.query_proj.weight) * self.scale

    def catalogue_sums(self, both: torch.Tensor, padding: torch.Tensor | None, out: torch.Tensor) -> None:
        """From key-major logits both[0] and relevance both[1] (B, T, c): out[0] (B, c) = sum_t exp(logit_t)
        and out[1] = sum_t exp(logit_t) * relevance_t, over the positions not in `padding` (B, T, 1) (None:
        no padding); the caller divides, which is the softmax. The exponentials are not shifted by each
        item's largest logit (that reduction cost as much as the exp): the caller re-scores the items whose
        sums left the range where this is exact. Overwrites both."""
        if padding is not None:
            both[0].masked_fill_(padding, float("-inf"))
        weights = both[0].exp_()
        both[1].mul_(weights)
        torch.sum(both, dim=2, out=out)  # (2, B, c), one reduction for both

    def weights(self, logits: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        return _masked_softmax(logits, key_mask)


class SigmoidScorer(ScaledDotProductScorer):
    """Same logits as the dot-product scorer, but weights = sigmoid(logit) per position, unnormalised (DIN)."""

    normalised = False

    def weights(self, logits: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) * _broadcast_mask(key_mask, logits).to(logits.dtype)

    def catalogue_weights(self, logits: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(logits) * key_mask.to(logits.dtype)

    def catalogue_sums(self, both: torch.Tensor, padding: torch.Tensor | None, out: torch.Tensor) -> None:
        """out[1] (B, c) = sum_t sigmoid(logit_t) * relevance_t over non-padding positions (out[0] unused)."""
        weights = both[0].sigmoid_()
        if padding is not None:
            weights.masked_fill_(padding, 0.0)
        torch.sum(both[1].mul_(weights), dim=1, out=out[1])


class AdditiveScorer(nn.Module):
    """logit_t = v . tanh(W_q q + W_k k_t) (Bahdanau); weights = softmax over valid positions."""

    normalised = True
    bilinear = False  # tanh: model.score_all uses the cached projected queries of the catalogue

    def __init__(self, dim: int, hidden: int | None = None) -> None:
        super().__init__()
        hidden = hidden or max(dim // 2, 8)
        self.query_proj = nn.Linear(dim, hidden, bias=True)
        self.key_proj = nn.Linear(dim, hidden, bias=False)
        self.energy = nn.Linear(hidden, 1, bias=False)

    def project(self, query: torch.Tensor, keys: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """W_q q (B,C,A) and W_k k (B,T,A)."""
        return self.query_proj(query), self.key_proj(keys)

    def catalogue_queries(self, table: torch.Tensor) -> torch.Tensor:
        """(I+1, A) W_q e_c of every item, cached by score_all in inference."""
        return self.query_proj(table)

    def logits(self, query: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        q, k = self.project(query, keys)  # (B, C, A) or (C, A), (B, T, A)
        return self.logits_from(q, k)

    def catalogue_logits(self, queries: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
        """Item-major (C, B, T) logits from catalogue_queries rows (C, A) and key_proj keys (B, T, A)."""
        return self.logits_from(queries, keys).permute(2, 0, 1)

    def catalogue_weights(self, logits: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        return catalogue_softmax(logits, key_mask)

    def logits_from(self, q: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        """(B, T, C) from projected queries (C, A) or (B, C, A) and projected keys (B, T, A)."""
        if q.dim() == 2:
            q = q.unsqueeze(0).expand(k.shape[0], -1, -1)
        batch, length, hidden = k.shape
        step = max(_ADDITIVE_CHUNK_ELEMENTS // max(batch * length * hidden, 1), 1)
        v = self.energy.weight.squeeze(0)  # (A,)
        parts = []
        for start in range(0, q.shape[1], step):
            q_part = q[:, start : start + step]  # (B, c, A)
            hidden_act = torch.tanh(k.unsqueeze(2) + q_part.unsqueeze(1))  # (B, T, c, A)
            parts.append(hidden_act @ v)  # (B, T, c)
        return torch.cat(parts, dim=2) if parts else k.new_zeros(batch, length, 0)

    def weights(self, logits: torch.Tensor, key_mask: torch.Tensor) -> torch.Tensor:
        return _masked_softmax(logits, key_mask)


SCORERS: dict[str, type[nn.Module]] = {
    "dot": ScaledDotProductScorer,
    "additive": AdditiveScorer,
    "sigmoid": SigmoidScorer,
}


def make_scorer(name: str, dim: int) -> nn.Module:
    """Build the scorer a ModelConfig names (the config has already checked the name)."""
    return SCORERS[name](dim)
