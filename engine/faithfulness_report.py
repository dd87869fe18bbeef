"""Model-level faithfulness: the per-recommendation measures averaged over a sample of users, for the
attention view and the contribution view, against two controls (uniform weights, an untrained model),
plus seed variance of the attention itself. It decides which view the Explore page shows first and
says plainly when attention is not a faithful explanation for this model and data.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch

from engine.dataset import SequenceData
from engine.explain import rank_items
from engine.faithfulness import COMPREHENSIVENESS_KS, Faithfulness, faithfulness
from engine.model import AttentionRecommender
from engine.predict import history_tensor
from engine.registry import ModelRecord
from engine.train import build_model

VIEWS = ("attention", "contribution", "uniform")


@dataclass(frozen=True)
class ViewSummary:
    """Means over the sampled (user, top item) pairs for one explanation view."""

    view: str
    n: int
    score_gap: float  # random AUC - ordered AUC (score drop relative to chance; > 0 is better than chance)
    score_gap_se: float  # standard error of that mean
    comprehensiveness: dict[int, float]  # k -> mean score drop when the top-k are removed
    sufficiency: dict[int, float]  # k -> mean score drop when only the top-k are kept
    tau_occlusion: float
    tau_gradient: float


@dataclass(frozen=True)
class FaithfulnessReport:
    scorer: str
    n_users: int
    views: dict[str, ViewSummary]  # attention, contribution, uniform (control)
    untrained: ViewSummary  # attention view of a randomly initialised model of the same shape (control)
    seed_divergence: float | None  # mean Jensen-Shannon divergence of attention across seeds (None: one model)
    preferred_view: str  # the view the Explore page shows first
    statements: list[str] = field(default_factory=list)


def _summarise(view: str, results: list[Faithfulness]) -> ViewSummary:
    gaps = np.array([r.score_gap for r in results])
    ks = [k for k in COMPREHENSIVENESS_KS if all(k in r.comprehensiveness for r in results)]
    return ViewSummary(
        view=view,
        n=len(results),
        score_gap=float(gaps.mean()),
        score_gap_se=float(gaps.std(ddof=1) / np.sqrt(len(gaps))) if len(gaps) > 1 else float("nan"),
        comprehensiveness={k: float(np.mean([r.comprehensiveness[k][0] for r in results])) for k in ks},
        sufficiency={k: float(np.mean([r.sufficiency[k][0] for r in results])) for k in ks},
        tau_occlusion=float(np.nanmean([r.tau_occlusion for r in results])) if view != "uniform" else float("nan"),
        tau_gradient=float(np.nanmean([r.tau_gradient for r in results])) if view != "uniform" else float("nan"),
    )


def seed_siblings(record: ModelRecord, records: list[ModelRecord]) -> list[ModelRecord]:
    """Non-stale models of the same dataset and model settings as `record` but trained with another seed:
    the models whose attention the seed-divergence measure compares."""
    seed = record.config.get("train", {}).get("seed")
    return [other for other in records
            if other.name != record.name and not other.stale and (other.dataset, other.fingerprint) == (record.dataset, record.fingerprint)
            and other.config.get("model") == record.config.get("model") and other.config.get("train", {}).get("seed") != seed]  # fmt: skip


def sample_users(data: SequenceData, n_users: int, seed: int) -> list[int]:
    """Dense ids of up to n_users users with at least 5 interactions, drawn reproducibly."""
    eligible = [u for u in range(1, data.n_users + 1) if len(data.sequences[u]) >= 5]
    rng = np.random.default_rng(seed)
    return sorted(rng.choice(eligible, size=min(n_users, len(eligible)), replace=False).tolist())


def _pairs(model: AttentionRecommender, data: SequenceData, users: list[int]) -> list[tuple[np.ndarray, int]]:
    pairs = []
    for user in users:
        history = data.sequences[user]
        items, _ = rank_items(model, data, history, 1)
        pairs.append((history, int(items[0])))
    return pairs


def model_report(
    model: AttentionRecommender,
    data: SequenceData,
    n_users: int = 30,
    seed: int = 0,
    other_seeds: list[AttentionRecommender] | None = None,
) -> FaithfulnessReport:
    """Score-based measures on each sampled user's top recommendation (ranks are left to the
    per-recommendation view: re-ranking the catalogue for every removal would cost ~20x more)."""
    users = sample_users(data, n_users, seed)
    pairs = _pairs(model, data, users)
    summaries = {}
    for view in VIEWS:
        results = [faithfulness(model, data, h, i, view=view, seed=seed + n, with_ranks=False) for n, (h, i) in enumerate(pairs)]
        summaries[view] = _summarise(view, results)
    torch.manual_seed(seed)
    untrained_model = build_model(data, model.config).eval()
    untrained_pairs = _pairs(untrained_model, data, users)
    untrained = _summarise(
        "attention",
        [faithfulness(untrained_model, data, h, i, seed=seed + n, with_ranks=False) for n, (h, i) in enumerate(untrained_pairs)],
    )
    divergence = seed_divergence([model, *other_seeds], data, pairs) if other_seeds else None
    preferred = _preferred_view(summaries)
    return FaithfulnessReport(
        scorer=model.config.scorer,
        n_users=len(users),
        views=summaries,
        untrained=untrained,
        seed_divergence=divergence,
        preferred_view=preferred,
        statements=_statements(summaries, untrained, divergence, preferred),
    )


def _preferred_view(summaries: dict[str, ViewSummary]) -> str:
    """The view whose top items matter most beyond chance, judged by the deletion gap."""
    attention, contribution = summaries["attention"], summaries["contribution"]
    return "contribution" if contribution.score_gap > attention.score_gap else "attention"


VIEW_NAMES = {"attention": "attention weights", "contribution": "contributions"}


def preference_sentence(report: FaithfulnessReport) -> str:
    """One plain sentence: why the Explore page shows the report's preferred view first (from its measures)."""
    first = report.preferred_view
    other = "attention" if first == "contribution" else "contribution"
    if report.n_users == 0:
        return f"{VIEW_NAMES[first].capitalize()} are shown first by default: no user has the 5 interactions the faithfulness test needs."
    shown, rival = report.views[first], report.views[other]
    sentence = (f"{VIEW_NAMES[first].capitalize()} are shown first: over {report.n_users} sampled users, removing the history items "
                f"they rank highest lowered the score more beyond random removals (gap {shown.score_gap:.3f} ± {shown.score_gap_se:.3f}) "
                f"than for {VIEW_NAMES[other]} (gap {rival.score_gap:.3f} ± {rival.score_gap_se:.3f})")  # fmt: skip
    if not _significant(shown):
        sentence += ", though neither clearly beats chance, so read both with care"
    return sentence + "."


def _significant(summary: ViewSummary) -> bool:
    return summary.score_gap > 2 * summary.score_gap_se


def _statements(summaries, untrained: ViewSummary, divergence: float | None, preferred: str) -> list[str]:
    attention = summaries["attention"]
    lines = []
    if _significant(attention) and attention.score_gap > 2 * abs(summaries["uniform"].score_gap):
        lines.append(
            f"Attention is a faithful explanation for this model: removing the most-attended items lowers the score "
            f"more than random removals (gap {attention.score_gap:.3f} ± {attention.score_gap_se:.3f})."
        )
    else:
        lines.append(
            f"Attention is NOT a faithful explanation for this model and data: removing the most-attended items "
            f"hurts no more than random removals (gap {attention.score_gap:.3f} ± {attention.score_gap_se:.3f})."
        )
    contribution = summaries["contribution"]
    lines.append(
        f"Contributions (weight × item-level score, which add up to the score) give a gap of "
        f"{contribution.score_gap:.3f} ± {contribution.score_gap_se:.3f}; the Explore page shows the {preferred} view first."
    )
    lines.append(
        f"Controls: uniform weights {summaries['uniform'].score_gap:.3f} (should be ~0), "
        f"untrained model {untrained.score_gap:.3f}."
    )
    if divergence is not None:
        lines.append(f"Across seeds the attention over the same history differs by a Jensen-Shannon divergence of {divergence:.3f} (0 = identical, 0.69 = disjoint).")
    return lines


@torch.no_grad()
def seed_divergence(models: list[AttentionRecommender], data: SequenceData, pairs: list[tuple[np.ndarray, int]]) -> float:
    """Mean pairwise Jensen-Shannon divergence (nats) between the models' normalised attention over the
    same history for the same item: how much the explanation depends on the training seed."""
    values = []
    for history, item in pairs:
        dists = []
        for model in models:
            model.eval()
            padded = history_tensor(model, [history])
            weights = model(padded, torch.tensor([[item]])).history_weights[0, 0].cpu().numpy()
            weights = weights[padded[0].cpu().numpy() != 0]
            dists.append(weights / max(weights.sum(), 1e-12))
        for a in range(len(dists)):
            for b in range(a + 1, len(dists)):
                if len(dists[a]) == len(dists[b]):
                    values.append(_js(dists[a], dists[b]))
    return float(np.mean(values)) if values else float("nan")


def _js(p: np.ndarray, q: np.ndarray) -> float:
    m = 0.5 * (p + q)

    def kl(x, y):
        mask = x > 0
        return float(np.sum(x[mask] * np.log(x[mask] / y[mask])))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)
