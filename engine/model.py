"""The attention recommender: item vectors from ids and attributes, a causal self-attention history
encoder, and target attention from each candidate over that history.

score(user, c) = sum_t w_t(c) * (v_t . e_c) + b_c
  e_c  candidate vector = id embedding + attention-pooled attribute embeddings (feature weights)
  v_t  history state at position t (after N causal self-attention blocks; N = 0 keeps item vectors)
  w_t  target-attention weight from the chosen scorer (dot / additive: softmax; sigmoid: unnormalised)
  b_c  per-item bias (a popularity prior, shown separately in explanations)
Because the score is an exact sum over history positions plus the bias, the per-position terms
w_t * (v_t . e_c) ("contributions") add up to the score: explanations are read off the forward pass.
References: SASRec (Kang & McAuley 2018) for the encoder, DIN (Zhou et al. 2018) for target attention.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from engine.attention import catalogue_softmax as attention_catalogue_softmax
from engine.attention import make_scorer
from engine.config import ModelConfig


@dataclass
class ModelOutput:
    """Scores with every attention weight that produced them (explanations are built from these)."""

    scores: torch.Tensor  # (B, C)
    history_weights: torch.Tensor  # (B, C, T) target attention per candidate
    contributions: torch.Tensor  # (B, C, T) w_t * (v_t . e_c); sums with item_bias to scores
    item_bias: torch.Tensor  # (B, C)
    feature_weights: torch.Tensor  # (B, C, S) attention over each candidate's attribute slots
    self_attention: list[torch.Tensor]  # per layer (B, H, T, T)
    history_mask: torch.Tensor  # (B, T) True where a real item sits


@dataclass
class ScoreTrace:
    """Every intermediate number of one score, for the step-by-step panel (batch of one, candidate of one)."""

    query: torch.Tensor  # (D,) or (A,) projected candidate query
    keys: torch.Tensor  # (T, D) or (T, A) projected history keys
    logits: torch.Tensor  # (T,) raw attention scores
    weights: torch.Tensor  # (T,) after softmax (dot, additive) or sigmoid (unnormalised)
    values: torch.Tensor  # (T, D) history states v_t
    interest: torch.Tensor  # (D,) sum_t w_t v_t
    candidate: torch.Tensor  # (D,) e_c
    item_bias: float
    score: float  # interest . candidate + item_bias
    history_mask: torch.Tensor  # (T,)


_CHUNK_ELEMENTS = 2**19  # (chunk, B, T) elements per chunk of the additive scorer's catalogue pass
_BILINEAR_CHUNK_ELEMENTS = 2**18  # (chunk, 2, B, T) elements per chunk of the dot / sigmoid pass: 1 MB
# softmax sums of unshifted exponentials that are safe to divide by: from 2**-64 up the largest weight is far
# above float32's smallest normal numbers (no precision lost to underflow); up to 2**96 exp cannot overflow
_EXP_SUM_MIN, _EXP_SUM_MAX = 2.0**-64, 2.0**96


class CausalSelfAttentionBlock(nn.Module):
    """Pre-norm transformer block over the history; returns its per-head attention map for display."""

    def __init__(self, dim: int, n_heads: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm_attn = nn.LayerNorm(dim)
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.norm_ffn = nn.LayerNorm(dim)
        self.ffn = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        batch, length, dim = x.shape
        head_dim = dim // self.n_heads
        q, k, v = self.qkv(self.norm_attn(x)).split(dim, dim=-1)
        q, k, v = (t.view(batch, length, self.n_heads, head_dim).transpose(1, 2) for t in (q, k, v))  # (B, H, T, d)
        logits = q @ k.transpose(-1, -2) / math.sqrt(head_dim)  # (B, H, T, T)
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        allowed = causal & mask[:, None, None, :]
        allowed = allowed | torch.eye(length, dtype=torch.bool, device=x.device)  # padding rows attend to self
        attn = torch.softmax(logits.masked_fill(~allowed, float("-inf")), dim=-1)  # (B, H, T, T)
        mixed = (self.dropout(attn) @ v).transpose(1, 2).reshape(batch, length, dim)  # (B, T, D)
        x = x + self.dropout(self.out(mixed))
        x = x + self.dropout(self.ffn(self.norm_ffn(x)))
        return x * mask.unsqueeze(-1), attn


class AttentionRecommender(nn.Module):
    """Target-attention recommender over a left-padded history window of `config.max_len` items."""

    def __init__(self, config: ModelConfig, n_items: int, item_feature_slots: torch.Tensor, n_feature_values: int):
        super().__init__()
        dim = config.embed_dim
        self.config = config
        self.n_items = n_items
        self.item_embedding = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.feature_embedding = nn.Embedding(n_feature_values + 1, dim, padding_idx=0)
        self.feature_query = nn.Linear(dim, dim, bias=False)
        self.register_buffer("item_feature_slots", item_feature_slots.long().clone(), persistent=True)  # (I+1, S)
        self.position_embedding = nn.Embedding(config.max_len, dim)
        self.blocks = nn.ModuleList(
            CausalSelfAttentionBlock(dim, config.n_heads, config.dropout) for _ in range(config.n_layers)
        )
        self.final_norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(config.dropout)
        self.scorer = make_scorer(config.scorer, dim)
        self.item_bias = nn.Embedding(n_items + 1, 1, padding_idx=0)
        self._table_cache: torch.Tensor | None = None
        self._queries_cache: torch.Tensor | None = None
        nn.init.normal_(self.item_embedding.weight, std=dim**-0.5)
        nn.init.normal_(self.feature_embedding.weight, std=dim**-0.5)
        nn.init.normal_(self.position_embedding.weight, std=dim**-0.5)  # same scale as items, not N(0, 1)
        nn.init.zeros_(self.item_bias.weight)
        with torch.no_grad():
            self.item_embedding.weight[0].zero_()
            self.feature_embedding.weight[0].zero_()

    # ---- item side -------------------------------------------------------------------------------
    def item_vectors(self, items: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Vectors e_c (..., D) and attribute-slot weights (..., S) for dense item ids (...)."""
        id_vec = self.item_embedding(items)  # (..., D)
        slots = self.item_feature_slots[items]  # (..., S)
        if not self.config.use_features:
            return id_vec, torch.zeros(slots.shape, dtype=id_vec.dtype, device=id_vec.device)
        feat = self.feature_embedding(slots)  # (..., S, D)
        query = self.feature_query(id_vec).unsqueeze(-2)  # (..., 1, D)
        logits = (query * feat).sum(-1) / math.sqrt(id_vec.shape[-1])  # (..., S)
        present = slots != 0
        weights = torch.softmax(logits.masked_fill(~present, float("-inf")), dim=-1)
        weights = torch.nan_to_num(weights, nan=0.0)  # items without attributes
        return id_vec + (weights.unsqueeze(-1) * feat).sum(-2), weights

    # ---- history side ----------------------------------------------------------------------------
    def item_table(self) -> torch.Tensor:
        """Vectors of the whole catalogue (I+1, D), shared by history and candidates.

        In inference (eval mode, no autograd) the table is cached: pooling every item's attributes is the
        most expensive part of scoring one user. train(True), load_state_dict() and moving the model drop it."""
        if self.training or torch.is_grad_enabled():
            return self._compute_item_table()
        device = self.item_embedding.weight.device
        if self._table_cache is None or self._table_cache.device != device:
            self._table_cache = self._compute_item_table()
            self._queries_cache = None
        return self._table_cache

    def catalogue_queries(self) -> torch.Tensor:
        """The scorer's projected query of every item (I+1, D or A), cached with the item table in inference."""
        table = self.item_table()
        if self.training or torch.is_grad_enabled():
            return self.scorer.catalogue_queries(table)
        if self._queries_cache is None or self._queries_cache.device != table.device:
            self._queries_cache = self.scorer.catalogue_queries(table)
        return self._queries_cache

    def warm_scoring_caches(self) -> None:
        """Fill, in inference, exactly the caches score_all will read: the item table, plus the projected
        queries for the additive scorer (dot and sigmoid fold the query projection into the keys)."""
        self.item_table()
        if not self.scorer.bilinear:
            self.catalogue_queries()

    def _compute_item_table(self) -> torch.Tensor:
        table, _ = self.item_vectors(torch.arange(self.n_items + 1, device=self.item_embedding.weight.device))
        return table

    def train(self, mode: bool = True) -> AttentionRecommender:
        if mode:  # parameters only change in training mode, which never fills the cache
            self._table_cache = self._queries_cache = None
        return super().train(mode)

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        self._table_cache = self._queries_cache = None
        return super().load_state_dict(state_dict, strict=strict, assign=assign)

    def encode_history(
        self, history: torch.Tensor, vectors: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor]]:
        """States v (B, T, D), mask (B, T) and self-attention maps for a left-padded history (B, T).

        `vectors` (B, T, D) may be passed when the caller already has the item vectors."""
        mask = history != 0
        length = history.shape[1]
        vectors = vectors if vectors is not None else self.item_vectors(history)[0]  # (B, T, D)
        offset = self.config.max_len - length  # windows shorter than max_len keep right-aligned positions
        positions = torch.arange(offset, offset + length, device=history.device)
        x = self.dropout(vectors + self.position_embedding(positions)) * mask.unsqueeze(-1)
        maps = []
        for block in self.blocks:
            x, attn = block(x, mask)
            maps.append(attn)
        return self.final_norm(x) * mask.unsqueeze(-1), mask, maps

    # ---- scoring ---------------------------------------------------------------------------------
    def _attend(self, candidates_vec: torch.Tensor, states: torch.Tensor, mask: torch.Tensor):
        """Weights and contributions (B, T, C) for candidate vectors (B, C, D), or (C, D) shared by the batch.

        Key-major layout: with shared candidates both products are a single (B*T, D) x (D, C) matmul."""
        logits = self.scorer.logits(candidates_vec, states)  # (B, T, C)
        weights = self.scorer.weights(logits, mask)  # (B, T, C)
        relevance = torch.matmul(states, candidates_vec.transpose(-1, -2))  # (B, T, C) v_t . e_c
        return weights, weights * relevance

    def forward(self, history: torch.Tensor, candidates: torch.Tensor) -> ModelOutput:
        """Scores (B, C) and all attention for candidate ids (B, C) given left-padded histories (B, T)."""
        states, mask, maps = self.encode_history(history)
        cand_vec, feature_weights = self.item_vectors(candidates)  # (B, C, D), (B, C, S)
        weights, contributions = self._attend(cand_vec, states, mask)
        bias = self.item_bias(candidates).squeeze(-1)  # (B, C)
        return ModelOutput(
            scores=contributions.sum(1) + bias,
            history_weights=weights.transpose(1, 2),
            contributions=contributions.transpose(1, 2),
            item_bias=bias,
            feature_weights=feature_weights,
            self_attention=maps,
            history_mask=mask,
        )

    @torch.no_grad()
    def score_all(self, history: torch.Tensor, item_chunk: int | None = None) -> torch.Tensor:
        """Scores (B, I+1) of the whole catalogue, column 0 (padding) = -inf; the same arithmetic as forward().

        Items go in chunks whose (chunk, B, T) intermediates stay in the CPU cache, written into buffers
        allocated once per call (fresh multi-MB tensors per chunk were mapped and page-faulted anew)."""
        table = self.item_table()  # (I+1, D)
        states, mask, _ = self.encode_history(history, table[history])
        keys = self.scorer.key_proj(states)  # (B, T, D or A), once per batch rather than per chunk
        # written in place: keeping one small result per chunk alive between the chunks' large temporaries
        # fragmented the heap (a 256-user batch over 133 k items held 7 GB of RSS instead of ~0.2 GB)
        if self.scorer.bilinear:
            scores = states.new_empty(states.shape[0], self.n_items + 1)  # (B, I+1)
            self._score_bilinear(table, states, keys, mask, scores, item_chunk)
            scores += self.item_bias.weight.T
        else:
            scores = states.new_empty(self.n_items + 1, states.shape[0])  # (I+1, B)
            self._score_projected(table, states, keys, mask, scores, item_chunk)
            scores = (scores + self.item_bias.weight).T.contiguous()  # (B, I+1)
        scores[:, 0] = float("-inf")
        return scores

    def _score_bilinear(self, table, states, keys, mask, scores, item_chunk: int | None) -> None:
        """Dot-product and sigmoid scorers: logit_t(c) = e_c . a_t with a_t = W_q^T k_t / sqrt(D), so the
        logits and the relevance v_t . e_c of a chunk come from ONE product (2BT, D) x (D, c) (the
        catalogue's projected queries are not needed). Key-major (2, B, T, c): each half is contiguous
        (an in-place exp over a strided half ran at a fifth of the speed) and the sums over T add whole
        rows of c items."""
        batch, length, dim = states.shape
        width = batch * length
        lhs = torch.cat([self.scorer.catalogue_keys(keys).reshape(width, dim), states.reshape(width, dim)])  # (2BT, D)
        n = self.n_items + 1
        # per thread: with two threads each chunk is split between them, and fewer chunks mean fewer joins
        chunk = min(item_chunk or max(64, _BILINEAR_CHUNK_ELEMENTS * torch.get_num_threads() // (2 * width)), n)
        buffer = states.new_empty(2 * width, chunk)  # reused by every chunk
        sums = states.new_empty(2, batch, n)  # the weights' sums (softmax: divided by at the end), weighted sums
        padding = None if bool(mask.all()) else ~mask.unsqueeze(-1)  # (B, T, 1); a trimmed single history has none
        for start in range(0, n, chunk):
            stop = min(start + chunk, n)
            both = buffer if stop - start == chunk else buffer.new_empty(2 * width, stop - start)
            torch.mm(lhs, table[start:stop].T, out=both)  # (2BT, c): logits then relevance
            self.scorer.catalogue_sums(both.view(2, batch, length, -1), padding, sums[:, :, start:stop])
        scores.copy_(sums[1])
        if self.scorer.normalised:
            self._normalise(table, lhs, mask, scores, sums[0])

    def _normalise(self, table, lhs, mask, scores, totals) -> None:
        """scores /= totals (the softmax denominators), and the rare items whose unshifted exponentials
        left the safe range (a logit above ~66, every logit below ~-44, or an overflowing sum) scored again
        with a max-shifted softmax, so the result is the softmax's whatever the logits."""
        empty = ~mask.any(-1, keepdim=True)  # (B, 1) a history without any item: weights 0, score = bias
        scores.div_(totals.clamp_min(_EXP_SUM_MIN))
        unsafe = ~(totals <= _EXP_SUM_MAX) | ((totals < _EXP_SUM_MIN) & ~empty) | ~torch.isfinite(scores)  # NaN too
        if bool(unsafe.any()):
            items = torch.nonzero(unsafe.any(0)).squeeze(1)
            batch, length = mask.shape
            both = (table[items] @ lhs.T).view(len(items), 2, batch, length)  # item-major (n, 2, B, T)
            weights = attention_catalogue_softmax(both[:, 0], mask)  # (n, B, T)
            scores[:, items] = (weights * both[:, 1]).sum(-1).T

    def _score_projected(self, table, states, keys, mask, scores, item_chunk: int | None) -> None:
        """Additive scorer: logits from the cached projected queries of the catalogue (tanh is not bilinear)."""
        batch, length, dim = states.shape
        chunk = item_chunk or max(64, _CHUNK_ELEMENTS // (batch * length))
        queries = self.catalogue_queries()  # (I+1, A), projected once per model, not per user
        flat_states = states.reshape(batch * length, dim)
        for start in range(0, self.n_items + 1, chunk):  # item-major (c, B, T): see catalogue_logits
            stop = start + chunk
            weights = self.scorer.catalogue_weights(self.scorer.catalogue_logits(queries[start:stop], keys), mask)
            relevance = (table[start:stop] @ flat_states.T).view(-1, batch, length)  # (c, B, T) v_t . e_c
            torch.sum(weights.mul_(relevance), dim=-1, out=scores[start:stop])

    @torch.no_grad()
    def trace(self, history: torch.Tensor, item: int) -> ScoreTrace:
        """Every step of one score for a single history (1, T) and dense item id."""
        states, mask, _ = self.encode_history(history)
        cand_vec, _ = self.item_vectors(torch.tensor([[item]], device=history.device))  # (1, 1, D)
        query, keys = self.scorer.project(cand_vec, states)
        logits = self.scorer.logits(cand_vec, states)  # (1, T, 1)
        weights = self.scorer.weights(logits, mask)
        interest = (weights[0, :, 0].unsqueeze(-1) * states[0]).sum(0)  # (D,)
        bias = float(self.item_bias.weight[item, 0])
        return ScoreTrace(
            query=query[0, 0],
            keys=keys[0],
            logits=logits[0, :, 0],
            weights=weights[0, :, 0],
            values=states[0],
            interest=interest,
            candidate=cand_vec[0, 0],
            item_bias=bias,
            score=float(interest @ cand_vec[0, 0]) + bias,
            history_mask=mask[0],
        )

    # ---- training --------------------------------------------------------------------------------
    def window_scores(self, history: torch.Tensor, targets: torch.Tensor, negatives: torch.Tensor) -> torch.Tensor:
        """Scores (B, T, 1+N) of each position's target (column 0) and of shared negatives (N,).

        history (B, T) inputs, targets (B, T) next items (0 = no target). Position p sees history[:, :p+1];
        its candidates' attention runs over that prefix only, computed for all p at once with prefix sums
        (at p = T-1 this is exactly forward()).
        """
        # vectors only for the items this batch touches (why: the attribute pooling is the costly part,
        # and a 200k-item catalogue must not be re-encoded at every step)
        needed = torch.unique(torch.cat([history.flatten(), targets.flatten(), negatives]))  # sorted, has 0
        sub_table, _ = self.item_vectors(needed)  # (U, D)
        local = lambda ids: torch.searchsorted(needed, ids)  # noqa: E731 - dense id -> row of sub_table
        states, mask, _ = self.encode_history(history, sub_table[local(history)])
        bias = self.item_bias.weight.squeeze(-1)
        length = history.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=history.device).tril()

        pos_vec = sub_table[local(targets)]  # (B, T, D): the query of position p is its target
        pos_logits = self.scorer.logits(pos_vec, states)  # (B, T_key, T_query)
        prefix_mask = causal.T.unsqueeze(0) & mask.unsqueeze(-1)  # key t visible to query p when t <= p
        pos_weights = self.scorer.weights(pos_logits, prefix_mask)
        pos_rel = torch.matmul(states, pos_vec.transpose(-1, -2))  # (B, T_key, T_query)
        pos_scores = (pos_weights * pos_rel).sum(1) + bias[targets]  # (B, T)

        neg_vec = sub_table[local(negatives)]  # (N, D), shared by the batch
        neg_logits = self.scorer.logits(neg_vec, states)  # (B, T, N)
        neg_rel = torch.matmul(states, neg_vec.T)  # (B, T, N)
        neg_scores = self._prefix_scores(neg_logits, neg_rel, mask) + bias[negatives]  # (B, T, N)
        return torch.cat([pos_scores.unsqueeze(-1), neg_scores], dim=-1)  # (B, T, 1+N)

    def loss(
        self,
        history: torch.Tensor,
        targets: torch.Tensor,
        negatives: torch.Tensor,
        log_expected: torch.Tensor | None = None,
    ) -> torch.Tensor:
        """Sampled-softmax cross-entropy over every position with a target; negatives that happen to be
        the target are masked out. `log_expected` (N,) = log(I * q_i) for negatives drawn with probability
        q_i: subtracting it (log-Q correction) makes the loss estimate what uniform sampling would."""
        logits = self.window_scores(history, targets, negatives)  # (B, T, 1+N)
        accidental = negatives.view(1, 1, -1) == targets.unsqueeze(-1)  # (B, T, N)
        negative_logits = logits[..., 1:] if log_expected is None else logits[..., 1:] - log_expected
        logits = torch.cat([logits[..., :1], negative_logits.masked_fill(accidental, float("-inf"))], dim=-1)
        valid = (targets != 0) & (history != 0)  # (B, T)
        labels = torch.zeros(int(valid.sum()), dtype=torch.long, device=history.device)
        return nn.functional.cross_entropy(logits[valid], labels)

    def _prefix_scores(self, logits: torch.Tensor, relevance: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """sum_{t<=p} w_pt * relevance_t for every prefix end p: (B, T, N) in, (B, T, N) out.

        Softmax over a prefix = cumulative sums of exp(logit - shift); one shift per column keeps it
        stable (clamped at -60 so an early prefix far below the column's maximum cannot become 0/0)."""
        key_mask = mask.unsqueeze(-1)  # (B, T, 1)
        if not self.scorer.normalised:
            return torch.cumsum(torch.sigmoid(logits) * key_mask * relevance, dim=1)
        shift = logits.masked_fill(~key_mask, float("-inf")).amax(1, keepdim=True).detach()
        shift = torch.nan_to_num(shift, neginf=0.0)
        expo = torch.exp((logits - shift).clamp_min(-60.0)) * key_mask  # (B, T, N)
        numer = torch.cumsum(expo * relevance, dim=1)
        denom = torch.cumsum(expo, dim=1)
        return numer / denom.clamp_min(1e-30)
