"""The numbers of one score, step by step, as plain numpy: what the "How this score was computed" panel shows.

Built from the engine's own ScoreTrace (`engine.explain.trace_score`), with padding positions removed,
then recomputed here from the displayed numbers alone (logits -> weights -> interest -> score) so the
panel can show that the steps really add up to the model's score.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FORMULAS = {
    "dot": (r"\ell_t = \frac{(W_q e_c)\cdot(W_k v_t)}{\sqrt{D}}", r"w_t = \operatorname{softmax}_t(\ell)"),
    "additive": (r"\ell_t = a^\top \tanh(W_q e_c + b_q + W_k v_t)", r"w_t = \operatorname{softmax}_t(\ell)"),
    "sigmoid": (r"\ell_t = \frac{(W_q e_c)\cdot(W_k v_t)}{\sqrt{D}}", r"w_t = \sigma(\ell_t)\ \text{(not normalised)}"),
}
SCORER_NAMES = {
    "dot": "scaled dot-product attention (softmax over the history)",
    "additive": "additive (Bahdanau) attention (softmax over the history)",
    "sigmoid": "sigmoid attention as in DIN (each weight in (0, 1), not normalised)",
}


@dataclass(frozen=True)
class ScoreSteps:
    """One candidate's score for one history window, every intermediate value (padding removed)."""

    scorer: str
    history_items: np.ndarray  # (T,) dense ids, oldest first
    query: np.ndarray  # (A,) projected candidate query W_q e_c (A = D for dot/sigmoid)
    keys: np.ndarray  # (T, A) projected history keys W_k v_t
    logits: np.ndarray  # (T,)
    weights: np.ndarray  # (T,)
    values: np.ndarray  # (T, D) history states v_t
    interest: np.ndarray  # (D,) sum_t w_t v_t
    candidate: np.ndarray  # (D,) e_c
    item_bias: float
    score: float  # as the engine computed it: interest . candidate + item_bias

    @property
    def relevance(self) -> np.ndarray:
        """(T,) v_t . e_c: how well each history state matches the candidate."""
        return self.values @ self.candidate

    @property
    def contributions(self) -> np.ndarray:
        """(T,) w_t (v_t . e_c); with the item bias these add up to the score."""
        return self.weights * self.relevance


@dataclass(frozen=True)
class Recomputed:
    """The score rebuilt in float64 from the displayed logits, values and candidate vector."""

    weights: np.ndarray  # (T,) softmax or sigmoid of the logits
    interest: np.ndarray  # (D,)
    dot: float  # interest . candidate
    score: float  # dot + item bias
    max_weight_error: float  # largest |recomputed weight - model weight|


def steps_from_trace(trace: object, scorer: str) -> ScoreSteps:
    """Convert an engine ScoreTrace (torch tensors, left-padded window) into ScoreSteps."""
    mask = _numpy(trace.history_mask).astype(bool)  # (T_pad,)
    keys = _numpy(trace.keys)
    return ScoreSteps(
        scorer=scorer,
        history_items=np.zeros(0, dtype=np.int64),
        query=_numpy(trace.query).astype(np.float64),
        keys=keys[mask].astype(np.float64),
        logits=_numpy(trace.logits)[mask].astype(np.float64),
        weights=_numpy(trace.weights)[mask].astype(np.float64),
        values=_numpy(trace.values)[mask].astype(np.float64),
        interest=_numpy(trace.interest).astype(np.float64),
        candidate=_numpy(trace.candidate).astype(np.float64),
        item_bias=float(trace.item_bias),
        score=float(trace.score),
    )


def recompute(steps: ScoreSteps) -> Recomputed:
    """Redo steps 3-5 from the displayed logits alone (why: the panel proves its numbers add up)."""
    logits = steps.logits
    if steps.scorer == "sigmoid":
        weights = 1.0 / (1.0 + np.exp(-logits))
    else:
        shifted = np.exp(logits - logits.max()) if len(logits) else logits
        weights = shifted / shifted.sum() if len(logits) else shifted
    interest = weights @ steps.values if len(weights) else np.zeros_like(steps.candidate)  # (D,)
    dot = float(interest @ steps.candidate)
    error = float(np.max(np.abs(weights - steps.weights))) if len(weights) else 0.0
    return Recomputed(weights, interest, dot, dot + steps.item_bias, error)


def first_values(vector: np.ndarray, first: int = 6) -> str:
    """'[+0.120, -0.400, …]': the start of a long vector."""
    head = ", ".join(f"{value:+.3f}" for value in vector[:first])
    return f"[{head}{', …' if len(vector) > first else ''}]"


def _numpy(tensor: object) -> np.ndarray:
    """A torch tensor (or array-like) as a numpy array on the CPU, without importing torch here."""
    if hasattr(tensor, "detach"):
        return tensor.detach().cpu().numpy()
    return np.asarray(tensor)
