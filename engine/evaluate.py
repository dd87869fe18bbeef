"""Full-ranking evaluation shared by the attention model and every baseline, so their numbers compare.

Every catalogue item is a candidate (no sampled negatives); the items in the user's history for the
split (data.history) are masked. A target the user had already consumed stays rankable (masking it would
make the hit impossible); MovieLens ratings never repeat, and EvalResult counts such targets so a
dataset with re-consumption shows how often this applies. Ties are broken pessimistically: the target
is ranked after every unmasked item with an equal score, so a constant scorer gets zero, never a lucky
rank. Protocol follows RecBole's full-sort evaluation; metric definitions live in engine/metrics.py.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Protocol

import numpy as np
import torch

from engine.config import EvalConfig
from engine.dataset import PAD, SequenceData
from engine.metrics import (
    catalogue_coverage,
    hit_rate_at_k,
    mrr_at_k,
    ndcg_at_k,
    popularity_percentile,
)

DEFAULT_SEGMENT_BOUNDS = (20, 50, 200)  # history lengths splitting users into light .. heavy segments


class Scorer(Protocol):
    """Anything that can score the whole catalogue for a batch of users."""

    def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor | np.ndarray:
        """(B, I+1) scores for dense `users` predicting `split`; column 0 is padding (ignored)."""
        ...


@dataclass(frozen=True)
class SegmentMetrics:
    """Rank metrics for the users whose history length falls in [min_len, max_len)."""

    label: str  # "<20", "20–49", "≥200"
    min_len: int
    max_len: int | None  # None: no upper bound
    n_users: int
    metrics: dict[str, float]  # hr@k, ndcg@k, mrr@k; NaN when the segment is empty


@dataclass(frozen=True)
class EvalResult:
    """Metrics plus the per-user raw material the dashboard slices further."""

    split: str
    ks: tuple[int, ...]
    metrics: dict[str, float]  # "hr@10", "ndcg@10", "mrr@10", ..., "coverage@10", "popularity@10", ...
    users: np.ndarray  # (N,) int64 dense user ids, in evaluation order
    ranks: np.ndarray  # (N,) int64 0-based rank of each user's target among the unmasked items
    top_items: np.ndarray  # (N, max k) int64 dense item ids, best first; PAD when fewer candidates exist
    n_targets_in_history: int  # targets the user had already consumed (kept rankable; 0 on MovieLens)
    segments: tuple[SegmentMetrics, ...] = field(default=())

    @property
    def n_users(self) -> int:
        return int(self.users.size)


def history_mask(data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
    """(B, I+1) bool, True where item is in the user's history for `split` (what the user has seen)."""
    histories = [data.history(int(user), split) for user in users]
    lengths = torch.tensor([len(h) for h in histories], dtype=torch.long)  # (B,)
    rows = torch.repeat_interleave(torch.arange(len(histories)), lengths)  # (sum T,)
    cols = torch.from_numpy(np.concatenate([np.zeros(0, np.int64), *histories]).astype(np.int64))  # (sum T,)
    mask = torch.zeros(len(histories), data.n_items + 1, dtype=torch.bool)  # (B, I+1)
    mask[rows, cols] = True
    return mask


def rank_targets(scores: torch.Tensor, seen: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """(B,) 0-based rank of each target: unmasked items scoring >= the target, the target excluded.

    scores (B, I+1) float, seen (B, I+1) bool, targets (B,) long. Column 0 and seen items are never
    counted; NaN scores count as -inf (a NaN target lands after everything it ties with)."""
    scores = _without_nan(scores)  # (B, I+1)
    rows = torch.arange(scores.shape[0])
    candidates = ~seen  # (B, I+1)
    candidates[:, PAD] = False
    candidates[rows, targets] = False
    target_scores = scores[rows, targets].unsqueeze(1)  # (B, 1)
    return (candidates & (scores >= target_scores)).sum(dim=1)  # (B,)


def _without_nan(scores: torch.Tensor) -> torch.Tensor:
    """Floating scores with NaN replaced by -inf, so a broken score can never rank first."""
    scores = scores if scores.is_floating_point() else scores.double()
    return torch.where(torch.isnan(scores), -torch.inf, scores)


def _score_batch(scorer: Scorer, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
    # Scores may come from a CUDA model; masks and ranks are built on the CPU, so bring them over once.
    scores = torch.as_tensor(scorer.score_users(data, users, split)).detach().cpu()  # (B, I+1)
    expected = (len(users), data.n_items + 1)
    if tuple(scores.shape) != expected:
        raise ValueError(f"scorer returned shape {tuple(scores.shape)}, expected {expected}")
    return _without_nan(scores)


@torch.no_grad()
def evaluate(
    scorer: Scorer,
    data: SequenceData,
    config: EvalConfig,
    segment_bounds: tuple[int, ...] | None = None,
    users: np.ndarray | None = None,
) -> EvalResult:
    """Rank every evaluable user's target for config.split, batch by batch; see the module docstring.

    `users` restricts the pass to those dense ids (each must have a target for the split), e.g. the
    fixed validation sample training uses on large datasets; by default every evaluable user counts."""
    if users is None:
        users = data.evaluable_users(config.split)
    else:
        users = np.asarray(users, dtype=np.int64)
        if users.size and (data.targets(users, config.split) == PAD).any():
            raise ValueError(f"some of the given users have no {config.split} target")
    if users.size == 0:
        raise ValueError(f"no users have a {config.split} target")
    max_k = max(config.ks)
    all_ranks, all_top, n_repeats = [], [], 0
    for start in range(0, users.size, config.batch_size):
        batch = users[start : start + config.batch_size]  # (B,)
        targets = torch.from_numpy(data.targets(batch, config.split))  # (B,)
        scores = _score_batch(scorer, data, batch, config.split)  # (B, I+1)
        seen = history_mask(data, batch, config.split)  # (B, I+1)
        rows = torch.arange(len(batch))
        n_repeats += int(seen[rows, targets].sum())
        seen[rows, targets] = False  # a re-consumed target stays rankable
        seen[:, PAD] = True
        all_ranks.append(rank_targets(scores, seen, targets))
        masked = scores.masked_fill(seen, -torch.inf)  # (B, I+1)
        top_scores, top_items = torch.topk(masked, k=min(max_k, data.n_items + 1), dim=1)  # (B, K)
        top_items = top_items.masked_fill(top_scores == -torch.inf, PAD)
        all_top.append(top_items)

    ranks = torch.cat(all_ranks).numpy().astype(np.int64)  # (N,)
    top = torch.cat(all_top).numpy().astype(np.int64)  # (N, K)
    metrics = rank_metrics(ranks, config.ks)
    counts = data.train_item_counts()
    for k in config.ks:
        metrics[f"coverage@{k}"] = catalogue_coverage(top[:, :k], data.n_items)
    for k in config.ks:
        metrics[f"popularity@{k}"] = popularity_percentile(top[:, :k], counts)
    result = EvalResult(config.split, tuple(config.ks), metrics, users, ranks, top, n_repeats)
    if segment_bounds is None:
        return result
    return replace(result, segments=metrics_by_segment(result, data, segment_bounds))


def rank_metrics(ranks: np.ndarray, ks: tuple[int, ...]) -> dict[str, float]:
    """hr@k, ndcg@k and mrr@k for each k, in that order."""
    metrics: dict[str, float] = {}
    for k in ks:
        metrics[f"hr@{k}"] = hit_rate_at_k(ranks, k)
        metrics[f"ndcg@{k}"] = ndcg_at_k(ranks, k)
        metrics[f"mrr@{k}"] = mrr_at_k(ranks, k)
    return metrics


def metrics_by_segment(
    result: EvalResult,
    data: SequenceData,
    bounds: tuple[int, ...] = DEFAULT_SEGMENT_BOUNDS,
) -> tuple[SegmentMetrics, ...]:
    """Rank metrics per user-activity segment, by the length of the history the scorer saw for the split.

    bounds (20, 50, 200) give segments <20, 20–49, 50–199, ≥200. Empty segments are kept with NaN
    metrics so tables and charts always have the same rows."""
    if list(bounds) != sorted(set(bounds)) or any(b < 1 for b in bounds):
        raise ValueError(f"segment bounds must be positive and strictly increasing, got {bounds}")
    lengths = np.array([len(data.history(int(u), result.split)) for u in result.users], dtype=np.int64)  # (N,)
    edges = [0, *bounds, None]
    segments = []
    for low, high in zip(edges[:-1], edges[1:]):
        in_segment = (lengths >= low) & (lengths < high if high is not None else True)
        label = f"<{high}" if low == 0 else (f"≥{low}" if high is None else f"{low}–{high - 1}")
        ranks = result.ranks[in_segment]
        if ranks.size:
            metrics = rank_metrics(ranks, result.ks)
        else:
            metrics = {key: float("nan") for key in rank_metrics(np.zeros(1, np.int64), result.ks)}
        segments.append(SegmentMetrics(label, low, high, int(ranks.size), metrics))
    return tuple(segments)
