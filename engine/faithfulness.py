"""Does the attention explanation actually drive the recommendation? Measured, per recommendation.

Attention weights can look plausible while barely moving the score (Jain & Wallace 2019, "Attention is
not Explanation"; Wiegreffe & Pinter 2019). So every explanation is tested against the model itself:
- deletion curves: remove history items most-attended first, in random order (several draws) and in
  reverse order, re-scoring and re-ranking after each removal (Samek et al. 2017; ERASER, DeYoung et
  al. 2020 for comprehensiveness/sufficiency);
- rank flip: how many top-attended removals push the item out of the top-K;
- agreement (Kendall tau) of the attention order with leave-one-out occlusion and gradient x input.
"Removing" an item deletes it from the sequence, as if the user had never interacted with it; the set
of items excluded from ranking stays the user's original history, so removed items never pop up.
Speed (the Explore page measures one recommendation while the user waits): every distinct edited history
goes through the encoder once, in one batch, and ranks are exact without scoring the whole catalogue for
each history (see _ranks). tests/engine/faithfulness_reference.py keeps the straightforward version as
the oracle; benchmarks/explain_speed.py times both.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from engine.dataset import SequenceData
from engine.model import AttentionRecommender
from engine.predict import history_tensor

COMPREHENSIVENESS_KS = (1, 3, 5, 10)
_CHUNK_ELEMENTS = 2**19  # (variants x window x items) per chunk of exactly scored items, as in model.score_all
_FLIP_BATCH = 10  # removal counts re-ranked at once while searching the rank flip (a bracket is <= 9 wide)
_EXACT_GROUP = 8  # rows of variants scored over one shared set of undecided items
_BOUND_CHUNK_ELEMENTS = 2**18  # per chunk of bounded items: a smaller chunk stays in cache (measured ~2x faster)


@dataclass(frozen=True)
class DeletionCurve:
    """Score of the item after removing the first n items of an order, for each n in `removed`, and its
    rank at the sparser `rank_removed` points (a rank costs a full-catalogue pass, a score does not)."""

    removed: np.ndarray  # (P,) number of items removed
    scores: np.ndarray  # (P,)
    rank_removed: np.ndarray  # (R,) subset of `removed`
    ranks: np.ndarray  # (R,) 1-based rank among unseen items

    @property
    def score_auc(self) -> float:
        """Mean score over the curve relative to the start (lower = the order finds what matters sooner)."""
        return float(np.mean(self.scores - self.scores[0]))

    @property
    def rank_auc(self) -> float:
        """Mean log2 rank over the curve (higher = the item falls further, sooner)."""
        return float(np.mean(np.log2(self.ranks)))


@dataclass(frozen=True)
class Faithfulness:
    """All measures for one (history, item) pair, with a plain-language reading."""

    item: int
    view: str  # which per-item ranking was tested: "attention" or "contribution"
    top_k: int
    score: float
    rank: int
    ordered: DeletionCurve  # most important first, by `view`
    random: DeletionCurve  # mean over draws
    random_score_std: np.ndarray  # (P,) spread of the random draws
    reverse: DeletionCurve
    comprehensiveness: dict[int, tuple[float, int]]  # k -> (score drop without top-k, rank without top-k)
    sufficiency: dict[int, tuple[float, int]]  # k -> (score drop keeping only top-k, rank with only top-k)
    rank_flip: int | None  # removals (in order) until the item leaves the top-K; None: never
    random_rank_flip: float | None  # mean over draws, at the curve's resolution (None when no draw flips it)
    tau_occlusion: float  # Kendall tau between the view's order and leave-one-out score drops
    tau_gradient: float  # ... and gradient x input on the history item vectors
    verdict: str
    order: np.ndarray | None = None  # (T,) window positions in the tested order, most important first

    @property
    def score_gap(self) -> float:
        """Random AUC minus ordered AUC: > 0 when removing by this view hurts more than chance."""
        return self.random.score_auc - self.ordered.score_auc


def _removal_points(length: int) -> np.ndarray:
    points = [0, 1, 2, 3, 4, 5, 7, 10, 15, 20, 30, 40, 50, 75, 100, 150, 200]
    return np.array(sorted({p for p in points if p < length} | {length - 1}), dtype=np.int64)


def _rank_points(length: int) -> np.ndarray:
    return np.array(sorted({p for p in (0, *COMPREHENSIVENESS_KS, 20) if p < length}), dtype=np.int64)


class _Variants:
    """Distinct history variants in first-seen order. Why: every curve starts at the whole window and the
    ordered curve's points are the comprehensiveness variants, so many requests repeat; each is scored once."""

    def __init__(self) -> None:
        self._index: dict[bytes, int] = {}
        self.histories: list[np.ndarray] = []

    def add(self, history: np.ndarray) -> int:
        key = np.ascontiguousarray(history, dtype=np.int64).tobytes()
        if key not in self._index:
            self._index[key] = len(self.histories)
            self.histories.append(history)
        return self._index[key]


def _distinct(variants: list[np.ndarray]) -> tuple[_Variants, np.ndarray]:
    distinct = _Variants()
    return distinct, np.array([distinct.add(v) for v in variants], dtype=np.int64)


@dataclass(frozen=True)
class _Encoded:
    """Distinct history variants through the encoder once, with the item's score under each."""

    states: torch.Tensor  # (V, T, D) history states, zero at padding
    mask: torch.Tensor  # (V, T)
    target: torch.Tensor  # (V,) score of the item
    index: np.ndarray  # request i -> row of the distinct variants


def _encode(model: AttentionRecommender, variants: list[np.ndarray], item: int) -> _Encoded:
    """Same path as model.score_all (cached item table), so scores agree with full-catalogue ranking."""
    distinct, index = _distinct(variants)
    batch = history_tensor(model, distinct.histories)
    table = model.item_table()
    states, mask, _ = model.encode_history(batch, table[batch])
    target = _exact_scores(model, states, mask, torch.tensor([item], device=batch.device))[:, 0]
    return _Encoded(states, mask, target, index)


@torch.no_grad()
def item_scores(model: AttentionRecommender, variants: list[np.ndarray], item: int) -> np.ndarray:
    """Score of `item` for each history variant: one batched pass over the distinct variants, one candidate."""
    if not variants:
        return np.zeros(0, dtype=np.float32)
    encoded = _encode(model, variants, item)
    return encoded.target.cpu().numpy()[encoded.index]


def _exact_scores(model: AttentionRecommender, states: torch.Tensor, mask: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
    """Scores (V, n) of `items` through the model's own target attention, as score_all computes them."""
    table, bias = model.item_table(), model.item_bias.weight[:, 0]
    parts, step = [], max(64, _CHUNK_ELEMENTS // max(states.shape[0] * states.shape[1], 1) // 64 * 64)
    for start in range(0, len(items), step):
        chunk = items[start : start + step]
        _, contributions = model._attend(table[chunk], states, mask)  # (V, T, c)
        parts.append(contributions.sum(1) + bias[chunk])
    return torch.cat(parts, 1) if parts else states.new_zeros(states.shape[0], 0)


def _score_bounds(relevance: torch.Tensor, normalised: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """Bounds (V, c) on sum_t w_t * relevance_t: with weights >= 0 summing to 1 the sum lies between the
    smallest and the largest relevance; with weights in (0, 1) between the sums of the negative and the
    positive terms. Padded positions hold zero states (relevance 0), which can only widen the bounds.
    (amin and amax apart: measured ~2x faster than torch.aminmax over the middle axis.)"""
    if normalised:
        return relevance.amin(1), relevance.amax(1)
    return relevance.clamp_max(0.0).sum(1), relevance.clamp_min(0.0).sum(1)


def _ranks(model: AttentionRecommender, encoded: _Encoded, rows: np.ndarray, item: int, excluded: np.ndarray) -> np.ndarray:
    """Exact 1-based rank of `item` among non-excluded items for the given rows of `encoded`.

    A rank only needs to know which items score above the item, so the catalogue is not scored in full:
    one matrix product gives every item's relevance v_t . e_c, whose bounds (_score_bounds) settle most
    items as surely above or surely below; only items whose bounds straddle the item's score (a few
    hundred of ~10k on movielens-small) are scored by the model. A margin of 1e-3 (1 + |score|) absorbs
    float rounding between bounds and scores: items inside it are scored, never guessed."""
    rows_t = torch.as_tensor(rows, device=encoded.states.device)
    states, mask, target = encoded.states[rows_t], encoded.mask[rows_t], encoded.target[rows_t]
    device, table, bias = states.device, model.item_table(), model.item_bias.weight[:, 0]
    allowed = torch.ones(model.n_items + 1, dtype=torch.bool, device=device)
    allowed[0] = allowed[item] = False
    allowed[torch.tensor(np.asarray(excluded, dtype=np.int64), device=device)] = False
    step = max(64, _BOUND_CHUNK_ELEMENTS // max(states.shape[0] * states.shape[1], 1) // 64 * 64)  # a multiple of 64:
    # an odd width (174 items) made the same products ~1.4x slower than 128 or 256 in a measurement
    bounds = [_score_bounds(torch.matmul(states, table[start : start + step].T), model.scorer.normalised)  # (V, c) each
              for start in range(0, model.n_items + 1, step)]  # fmt: skip
    low, high = (torch.cat(side, 1) + bias for side in zip(*bounds))  # (V, I+1)
    margin = (1e-3 * (1.0 + target.abs()))[:, None]
    surely_above = (low > target[:, None] + margin) & allowed
    above = surely_above.sum(1)
    undecided_all = (high >= target[:, None] - margin) & ~surely_above & allowed  # (V, I+1)
    above += _count_above(model, states, mask, target, undecided_all)
    return (above + 1).cpu().numpy()


def _count_above(model: AttentionRecommender, states, mask, target, undecided: torch.Tensor) -> torch.Tensor:
    """(V,) how many of each row's undecided items the model scores above the row's target.

    Rows are grouped by their number of undecided items (a row whose item sank to #3000 has thousands, a
    top-ranked row a few hundred) and each group is scored over the union of its rows' items: shared
    candidates are projected once for the group, which measured faster than scoring every row over only
    its own items (~55 vs ~67 ms per faithfulness call on movielens-small)."""
    above = torch.zeros(len(target), dtype=torch.long, device=target.device)
    for group in torch.argsort(undecided.sum(1)).split(_EXACT_GROUP):
        candidates = torch.nonzero(undecided[group].any(0)).squeeze(1)
        exact = _exact_scores(model, states[group], mask[group], candidates)  # (g, n)
        above[group] += ((exact > target[group, None]) & undecided[group][:, candidates]).sum(1)
    return above


@torch.no_grad()
def score_and_rank(model: AttentionRecommender, variants: list[np.ndarray], item: int, excluded: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Score of `item` and its exact 1-based rank among non-excluded items, for each history variant
    (all distinct variants in one batch; see _ranks for why the catalogue need not be scored in full)."""
    if not variants:
        return np.zeros(0, dtype=np.float32), np.zeros(0, dtype=np.int64)
    encoded = _encode(model, variants, item)
    ranks = _ranks(model, encoded, np.arange(len(encoded.target)), item, excluded)
    return encoded.target.cpu().numpy()[encoded.index], ranks[encoded.index]


def _without(history: np.ndarray, positions: np.ndarray) -> np.ndarray:
    keep = np.ones(len(history), dtype=bool)
    keep[positions] = False
    return history[keep]


@torch.no_grad()
def _deletion_curves(model, history, item, excluded, orders, points, with_ranks: bool, kept: list[np.ndarray]):
    """One deletion curve per order, plus score and rank of each `kept` variant. Every distinct variant
    goes through the encoder once (the rank points are a subset of the score points) and all ranks are
    settled in one _ranks call. Returns (curves, kept scores, kept ranks)."""
    removed = [_without(history, order[:n]) for order in orders for n in points]
    encoded = _encode(model, removed + list(kept), item)
    scores = encoded.target.cpu().numpy()[encoded.index]
    curve_scores, kept_scores = scores[: len(removed)].reshape(len(orders), len(points)), scores[len(removed) :]
    if not with_ranks:
        empty = np.zeros(0, np.int64)
        return [DeletionCurve(points, row, empty, empty) for row in curve_scores], kept_scores, np.zeros(len(kept), np.int64)
    rank_points = _rank_points(len(history))
    at = np.searchsorted(points, rank_points)  # rank points are removal points
    wanted = np.concatenate([encoded.index[: len(removed)].reshape(len(orders), len(points))[:, at].ravel(), encoded.index[len(removed) :]])
    rows, back = np.unique(wanted, return_inverse=True)
    ranks = _ranks(model, encoded, rows, item, excluded)[back]
    curve_ranks = ranks[: len(orders) * len(rank_points)].reshape(len(orders), len(rank_points))
    curves = [DeletionCurve(points, row, rank_points, rank_row) for row, rank_row in zip(curve_scores, curve_ranks)]
    return curves, kept_scores, ranks[len(orders) * len(rank_points) :]


def _first_crossing(curve: DeletionCurve, top_k: int) -> int | None:
    """First point of a curve at which the item is out of the top-K (None: never on the curve)."""
    crossed = np.flatnonzero(curve.ranks > top_k)
    return int(curve.rank_removed[crossed[0]]) if crossed.size else None


def _rank_flip(model, history, item, excluded, order, top_k, curve: DeletionCurve) -> int | None:
    """Exact number of removals (in `order`) until the item leaves the top-K.

    The curve brackets the first crossing; only the removal counts inside that bracket are re-ranked.
    Between two curve points the rank is assumed not to dip out and back in (checked at the points)."""
    upper = _first_crossing(curve, top_k)
    if upper is None:  # not out by the last rank point: scan the rest of the order
        start = int(curve.rank_removed[-1])
        inside = list(range(start + 1, len(history)))
    else:
        lower = int(curve.rank_removed[np.searchsorted(curve.rank_removed, upper) - 1])
        inside = list(range(lower + 1, upper))
    for start in range(0, len(inside), _FLIP_BATCH):  # in order, a batch at a time: stop at the first crossing
        counts = inside[start : start + _FLIP_BATCH]
        _, ranks = score_and_rank(model, [_without(history, order[:n]) for n in counts], item, excluded)
        crossed = np.flatnonzero(ranks > top_k)
        if crossed.size:
            return counts[int(crossed[0])]
    return upper


def _mean_curve(draws: list[DeletionCurve]) -> DeletionCurve:
    first = draws[0]
    ranks = np.round(np.mean([d.ranks for d in draws], 0)).astype(np.int64)
    return DeletionCurve(first.removed, np.mean([d.scores for d in draws], 0), first.rank_removed, ranks)


def kendall_tau(a: np.ndarray, b: np.ndarray) -> float:
    """Kendall's tau-b between two score vectors (ties counted per Kendall 1945); NaN when undefined."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    if len(a) < 2:
        return float("nan")
    da = np.sign(a[:, None] - a[None, :])
    db = np.sign(b[:, None] - b[None, :])
    upper = np.triu_indices(len(a), 1)
    concordance = (da * db)[upper].sum()
    ties_a, ties_b = (da[upper] != 0).sum(), (db[upper] != 0).sum()
    if ties_a == 0 or ties_b == 0:
        return float("nan")
    return float(concordance / np.sqrt(ties_a * ties_b))


def position_importance(model: AttentionRecommender, history: np.ndarray, item: int) -> dict[str, np.ndarray]:
    """Per-position attention weight, contribution, occlusion drop and gradient x input (window order)."""
    model.eval()
    window = history[-model.config.max_len :]
    padded = history_tensor(model, [window])
    real = (padded[0] != 0).cpu().numpy()
    with torch.no_grad():
        out = model(padded, torch.tensor([[item]], device=padded.device))
        loo = [_without(window, np.array([p])) for p in range(len(window))]
        scores = item_scores(model, [window, *loo], item)  # one batch; the same path for the full and the occluded score
        full, loo_scores = scores[0], scores[1:]
    with torch.enable_grad():
        vectors = model.item_vectors(padded)[0].detach().requires_grad_(True)  # (1, T, D)
        states, mask, _ = model.encode_history(padded, vectors)
        candidate = model.item_vectors(torch.tensor([[item]], device=padded.device))[0]
        _, contributions = model._attend(candidate, states, mask)
        (gradient,) = torch.autograd.grad(contributions.sum(), vectors)  # leaves the parameters' .grad alone
    grad_x_input = (gradient * vectors).sum(-1)[0].detach().cpu().numpy()[real]
    return {
        "attention": out.history_weights[0, 0].cpu().numpy()[real],
        "contribution": out.contributions[0, 0].cpu().numpy()[real],
        "occlusion": full - loo_scores,
        "gradient": grad_x_input,
    }


def faithfulness(
    model: AttentionRecommender,
    data: SequenceData,
    history: np.ndarray,
    item: int,
    top_k: int = 10,
    view: str = "attention",
    n_random: int = 3,
    seed: int = 0,
    with_ranks: bool = True,
) -> Faithfulness:
    """Test one explanation: does removing what `view` ranks highest change the recommendation most?

    with_ranks=False keeps only score-based measures (no re-ranking: several times cheaper), for
    model-level reports over many users; rank fields are then 0 / None."""
    if view not in ("attention", "contribution", "uniform"):
        raise ValueError(f"view must be attention, contribution or uniform, got {view!r}")
    model.eval()
    window = np.asarray(history, dtype=np.int64)[-model.config.max_len :]
    excluded = np.asarray(history, dtype=np.int64)
    importance = position_importance(model, window, item)
    rng = np.random.default_rng(seed)
    if view == "uniform":  # control: all weights equal, ties broken at random
        order = rng.permutation(len(window))
    else:
        order = np.argsort(-importance[view], kind="stable")
    points = _removal_points(len(window))
    random_orders = [rng.permutation(len(window)) for _ in range(n_random)]
    ks = [k for k in COMPREHENSIVENESS_KS if k < len(window)]
    kept = [window[np.sort(order[:k])] for k in ks]  # sufficiency: only the top-k stay
    curves, kept_scores, kept_ranks = _deletion_curves(model, window, item, excluded, [order, *random_orders, order[::-1]],
                                                       points, with_ranks, kept)  # fmt: skip
    ordered, draws, reverse = curves[0], curves[1:-1], curves[-1]
    random = _mean_curve(draws)
    if not with_ranks:
        return _scores_only(window, item, view, top_k, ordered, random, reverse, draws, importance, kept_scores)

    score0, rank0 = float(ordered.scores[0]), int(ordered.ranks[0])
    comprehensiveness = {  # removing the top-k is a point of the ordered curve already
        k: (score0 - float(ordered.scores[ordered.removed == k][0]), int(ordered.ranks[ordered.rank_removed == k][0])) for k in ks
    }
    sufficiency = {k: (score0 - float(kept_scores[i]), int(kept_ranks[i])) for i, k in enumerate(ks)}

    flip = _rank_flip(model, window, item, excluded, order, top_k, ordered)
    flips = [f for f in (_first_crossing(draw, top_k) for draw in draws) if f is not None]  # at curve resolution
    uniform = np.ones(len(window))  # the control's weights: every tau against them is undefined (NaN)
    tested = uniform if view == "uniform" else importance[view]
    result = Faithfulness(
        item=item,
        view=view,
        top_k=top_k,
        score=score0,
        rank=rank0,
        ordered=ordered,
        random=random,
        random_score_std=np.std([d.scores for d in draws], 0),
        reverse=reverse,
        comprehensiveness=comprehensiveness,
        sufficiency=sufficiency,
        rank_flip=flip,
        random_rank_flip=float(np.mean(flips)) if flips else None,
        tau_occlusion=kendall_tau(tested, importance["occlusion"]),
        tau_gradient=kendall_tau(tested, importance["gradient"]),
        verdict="",
        order=order,
    )
    return _with_verdict(result, data)


def _scores_only(window, item, view, top_k, ordered, random, reverse, draws, importance, kept) -> Faithfulness:
    ks = [k for k in COMPREHENSIVENESS_KS if k < len(window)]
    score0 = float(ordered.scores[0])
    tested = np.ones(len(window)) if view == "uniform" else importance[view]
    return Faithfulness(
        item=item, view=view, top_k=top_k, score=score0, rank=0, ordered=ordered, random=random,
        random_score_std=np.std([d.scores for d in draws], 0), reverse=reverse,
        comprehensiveness={k: (score0 - float(ordered.scores[ordered.removed == k][0]), 0) for k in ks},
        sufficiency={k: (score0 - float(kept[i]), 0) for i, k in enumerate(ks)},
        rank_flip=None, random_rank_flip=None,
        tau_occlusion=kendall_tau(tested, importance["occlusion"]),
        tau_gradient=kendall_tau(tested, importance["gradient"]),
        verdict="",
    )  # fmt: skip


def _with_verdict(result: Faithfulness, data: SequenceData) -> Faithfulness:
    """One plain sentence: what removing the top items does, against chance."""
    k = 3 if 3 in result.comprehensiveness else (max(result.comprehensiveness) if result.comprehensiveness else 0)
    noun = "items" if k != 1 else "item"
    what = "most-attended" if result.view == "attention" else ("highest-contributing" if result.view == "contribution" else "uniformly-weighted")
    if not k:
        return _replace_verdict(result, "The history is too short to test this explanation.")
    rank_after = result.comprehensiveness[k][1]
    random_at_k = int(np.interp(k, result.random.rank_removed, result.random.ranks))
    sentence = f"Removing the {k} {what} {noun} moves this item from #{result.rank} to #{rank_after}; random removals move it to #{random_at_k}."
    if result.score_gap > 2 * float(np.mean(result.random_score_std)) and rank_after > random_at_k:
        sentence += " The explanation is faithful: what it highlights drives the score."
    elif result.score_gap <= 0:
        sentence += " The explanation is NOT faithful here: its top items matter no more than random ones."
    else:
        sentence += " The explanation is only weakly faithful: its top items matter a little more than random ones."
    return _replace_verdict(result, sentence)


def _replace_verdict(result: Faithfulness, verdict: str) -> Faithfulness:
    from dataclasses import replace

    return replace(result, verdict=verdict)


@dataclass(frozen=True)
class Counterfactual:
    """The smallest set of history items (found greedily) whose removal drops the item out of the top-K."""

    item: int
    removed: tuple[int, ...]  # dense ids, in removal order; empty when no set was found
    found: bool
    new_rank: int
    replacement: int | None  # the item that takes the freed top-K slot
    order: str  # "attention", "contribution" or "random"


@torch.no_grad()
def counterfactual(
    model: AttentionRecommender, history: np.ndarray, item: int, top_k: int = 10, order: str = "attention", seed: int = 0
) -> Counterfactual:
    """Greedy in the given order, each step verified by re-ranking the whole catalogue."""
    model.eval()
    window = np.asarray(history, dtype=np.int64)[-model.config.max_len :]
    excluded = np.asarray(history, dtype=np.int64)
    if order == "random":
        ranking = np.random.default_rng(seed).permutation(len(window))
    else:
        ranking = np.argsort(-position_importance(model, window, item)[order], kind="stable")
    (curve,), _, _ = _deletion_curves(model, window, item, excluded, [ranking], _removal_points(len(window)), True, [])
    flip = _rank_flip(model, window, item, excluded, ranking, top_k, curve)
    return _counterfactual_at(model, window, excluded, item, top_k, ranking, flip, order)


@torch.no_grad()
def counterfactual_from(model: AttentionRecommender, history: np.ndarray, result: Faithfulness) -> Counterfactual:
    """The counterfactual of a faithfulness test already run on `history`: the same greedy search in the
    tested order, whose rank flip that test has found (why: searching again repeated its importance,
    deletion curve and flip search, about a third of the opened panel's cost). The uniform view's order
    is a random one. ValueError for a test run without ranks (with_ranks=False)."""
    if result.order is None or result.rank == 0:
        raise ValueError("the faithfulness result holds no ranks (with_ranks=False): run counterfactual() instead")
    model.eval()
    window = np.asarray(history, dtype=np.int64)[-model.config.max_len :]
    excluded = np.asarray(history, dtype=np.int64)
    order = "random" if result.view == "uniform" else result.view
    return _counterfactual_at(model, window, excluded, result.item, result.top_k, result.order, result.rank_flip, order)


def _counterfactual_at(model, window, excluded, item: int, top_k: int, ranking: np.ndarray, flip: int | None, order: str) -> Counterfactual:
    """The Counterfactual once the first `flip` positions of `ranking` are known to drop `item` out of the
    top-K: its new rank and the item that takes the freed slot (None: no flip)."""
    if flip is None:
        return Counterfactual(item, (), False, 0, None, order)
    remaining = _without(window, ranking[:flip])
    scores, original = model.score_all(history_tensor(model, [remaining, window]))  # both lists in one pass
    scores[torch.tensor(excluded)] = float("-inf")
    top = torch.topk(scores, top_k + 1).indices.cpu().numpy()
    new_rank = int((scores > scores[item]).sum()) + 1
    original[torch.tensor(excluded)] = float("-inf")
    before = set(torch.topk(original, top_k).indices.cpu().numpy().tolist())
    newcomers = [int(i) for i in top[:top_k] if int(i) not in before]
    removed = tuple(int(window[p]) for p in ranking[:flip])
    return Counterfactual(item, removed, True, new_rank, newcomers[0] if newcomers else None, order)
