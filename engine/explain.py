"""Explained recommendations: top-K items with the attention that produced each score.

Everything shown is read off the model's own forward pass (`AttentionRecommender.forward` / `trace`),
never recomputed by a different path: history weights, per-position contributions (which add up with
the item bias to the score), attribute weights and self-attention maps.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.dataset import PAD, SequenceData
from engine.model import AttentionRecommender, ScoreTrace
from engine.predict import history_tensor


@dataclass(frozen=True)
class HistoryWeight:
    """One past interaction's share in a recommendation."""

    position: int  # 0 = oldest item in the window
    item: int  # dense id
    item_id: str
    title: str
    weight: float  # target-attention weight (sums to 1 for dot/additive, unnormalised for sigmoid)
    contribution: float  # weight * (v_t . e_c): this position's additive share of the score


@dataclass(frozen=True)
class FeatureWeight:
    """One attribute value's share in the candidate item's vector."""

    field: str
    value: str
    weight: float


@dataclass(frozen=True)
class Recommendation:
    rank: int  # 1-based
    item: int
    item_id: str
    title: str
    score: float
    item_bias: float  # the part of the score not attributed to any history item
    history: tuple[HistoryWeight, ...]  # in window order (oldest first)
    features: tuple[FeatureWeight, ...]  # by decreasing weight


@dataclass(frozen=True)
class Explanation:
    """Top-K for one user (or an edited history) with the attention of every recommendation."""

    user_id: str | None  # None for a what-if history
    scorer: str
    history_items: np.ndarray  # (T,) dense ids in the model's window, oldest first (padding removed)
    recommendations: tuple[Recommendation, ...]
    weights: np.ndarray  # (K, T) history weights per recommendation (heatmap)
    self_attention: tuple[np.ndarray, ...]  # per layer (H, T, T), padding removed

    def top_item_ids(self) -> list[str]:
        return [rec.item_id for rec in self.recommendations]


def user_history(data: SequenceData, user_id: str) -> np.ndarray:
    """A user's full chronological history (dense ids); KeyError names an unknown user."""
    try:
        return data.sequences[data.users.to_dense(user_id)]
    except KeyError:
        raise KeyError(f"unknown user {user_id!r} in dataset {data.name!r}") from None


def rank_items(model: AttentionRecommender, data: SequenceData, history: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-k dense ids and scores over the whole catalogue with the history's items excluded."""
    scores = model.score_all(history_tensor(model, [history]))[0]  # (I+1,)
    seen = torch.tensor(np.asarray(history, dtype=np.int64), device=scores.device)
    scores[seen] = float("-inf")
    k = max(1, min(k, int(torch.isfinite(scores).sum())))
    top = torch.topk(scores, k)
    return top.indices.cpu().numpy(), top.values.cpu().numpy()


@torch.no_grad()
def explain_history(
    model: AttentionRecommender, data: SequenceData, history: np.ndarray, k: int = 10, user_id: str | None = None
) -> Explanation:
    """Recommend for an arbitrary history (a real user's or an edited one) and explain every item."""
    model.eval()
    history = np.asarray(history, dtype=np.int64)
    items, _ = rank_items(model, data, history, k)
    padded = history_tensor(model, [history])  # (1, T)
    out = model(padded, torch.as_tensor(items, device=padded.device).unsqueeze(0))
    real = out.history_mask[0].cpu().numpy()  # (T,)
    window = padded[0].cpu().numpy()[real]
    weights = out.history_weights[0].cpu().numpy()[:, real]  # (K, T')
    contributions = out.contributions[0].cpu().numpy()[:, real]
    feature_weights = out.feature_weights[0].cpu().numpy()  # (K, S)
    scores = out.scores[0].cpu().numpy()
    bias = out.item_bias[0].cpu().numpy()
    # each history position's ids and title once, not once per recommendation; rows as Python floats in one call
    positions = [(pos, int(h), data.items.to_raw(int(h)), str(data.item_titles[h])) for pos, h in enumerate(window)]
    weight_rows, contribution_rows = weights.tolist(), contributions.tolist()
    recs = []
    for row, item in enumerate(items):
        history_rows = tuple(
            HistoryWeight(pos, h, raw, title, weight, contribution)
            for (pos, h, raw, title), weight, contribution in zip(positions, weight_rows[row], contribution_rows[row])
        )
        recs.append(
            Recommendation(
                rank=row + 1,
                item=int(item),
                item_id=data.items.to_raw(int(item)),
                title=str(data.item_titles[item]),
                score=float(scores[row]),
                item_bias=float(bias[row]),
                history=history_rows,
                features=_feature_weights(model, data, int(item), feature_weights[row]),
            )
        )
    maps = tuple(layer[0].cpu().numpy()[:, real][:, :, real] for layer in out.self_attention)
    return Explanation(user_id, model.config.scorer, window, tuple(recs), weights, maps)


def explain_user(model: AttentionRecommender, data: SequenceData, user_id: str, k: int = 10) -> Explanation:
    """Live recommendations for a known user: the whole history is input and excluded from ranking."""
    return explain_history(model, data, user_history(data, user_id), k, user_id=user_id)


def _feature_weights(model: AttentionRecommender, data: SequenceData, item: int, weights: np.ndarray) -> tuple[FeatureWeight, ...]:
    slots = model.item_feature_slots[item].cpu().numpy()
    rows = []
    for slot, value_id in enumerate(slots):
        if value_id == PAD:
            continue
        label = str(data.features.value_labels[value_id])
        field, _, value = label.partition("=")
        rows.append(FeatureWeight(field, value, float(weights[slot])))
    return tuple(sorted(rows, key=lambda row: -row.weight))


def trace_score(model: AttentionRecommender, data: SequenceData, history: np.ndarray, item: int) -> ScoreTrace:
    """Every intermediate number of one score (the step-by-step panel)."""
    model.eval()
    return model.trace(history_tensor(model, [np.asarray(history, dtype=np.int64)]), item)
