"""How much of the quality table is the test split's luck: a bootstrap over movielens-small's test users.

The seed spread in the quality table measures training randomness only. Every seed is ranked on the same
610 test users, so which users happen to be in the split adds an error that more seeds never average
away. Resampling those users (with replacement) gives it: a confidence interval for the default model's
NDCG@10, and, pairing each user's gain under the default with the same user's gain under a baseline, an
interval for the margin over each baseline.

    python -m benchmarks --only uncertainty   # needs the default model's checkpoints from --only quality
    python -m benchmarks.uncertainty --split valid   # the same on the validation targets, printed only
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from benchmarks import results
from benchmarks.environment import load_average
from benchmarks.measure import ChildFailed, run_child
from benchmarks.quality import DETERMINISTIC_BASELINES, seeds

N_RESAMPLES = 10_000
LEVEL = 0.95


@dataclass(frozen=True)
class Interval:
    """A mean over users with its bootstrap standard error and percentile interval."""

    mean: float
    se: float
    low: float
    high: float


def ndcg_gains(ranks: np.ndarray, k: int) -> np.ndarray:
    """Each user's NDCG@k (one relevant item): 1/log2(rank + 2) inside the top k, else 0; ranks 0-based."""
    ranks = np.asarray(ranks, dtype=np.float64)
    return np.where(ranks < k, 1.0 / np.log2(ranks + 2.0), 0.0)


def resample_means(values: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = 0) -> np.ndarray:
    """Means of `values` (N,) over n_resamples draws of N users with replacement, the same draws for a given
    seed (so two calls with one seed pair up user by user)."""
    values = np.asarray(values, dtype=np.float64)
    if values.ndim != 1 or values.size < 2:
        raise ValueError(f"need a 1-D array of at least two users, got shape {values.shape}")
    picks = np.random.default_rng(seed).integers(0, values.size, size=(n_resamples, values.size))
    return values[picks].mean(axis=1)


def interval(values: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = 0, level: float = LEVEL) -> Interval:
    """Bootstrap interval of the mean of per-user values."""
    return _interval_of(values, resample_means(values, n_resamples, seed), level)


def _interval_of(values: np.ndarray, means: np.ndarray, level: float) -> Interval:
    """The Interval of `values`' mean from its resampled means."""
    tail = 100 * (1 - level) / 2
    low, high = np.percentile(means, [tail, 100 - tail])
    return Interval(float(np.mean(values)), float(means.std(ddof=1)), float(low), float(high))


def paired_margin(better: np.ndarray, other: np.ndarray, n_resamples: int = N_RESAMPLES, seed: int = 0,
                  level: float = LEVEL) -> tuple[Interval, float]:
    """Interval of mean(better - other) over the same users, and the share of resamples in which the margin
    is zero or negative (how often a redrawn test split would not show `better` ahead)."""
    better, other = np.asarray(better, dtype=np.float64), np.asarray(other, dtype=np.float64)
    if better.shape != other.shape:
        raise ValueError(f"paired values need the same users, got shapes {better.shape} and {other.shape}")
    difference = better - other
    means = resample_means(difference, n_resamples, seed)
    return _interval_of(difference, means, level), float(np.mean(means <= 0.0))


def summarise(default_ranks: list[np.ndarray], baseline_ranks: dict[str, np.ndarray], k: int = 10) -> dict:
    """The stored figures: the default model's interval (each user's gain averaged over the seeds first, as
    the table's mean is) and its paired margin over every baseline."""
    if not default_ranks:
        raise ValueError("no default-model ranks to summarise")
    default = np.mean([ndcg_gains(ranks, k) for ranks in default_ranks], axis=0)  # (N,)
    summary = {"k": k, "n_users": int(default.size), "n_seeds": len(default_ranks), "n_resamples": N_RESAMPLES,
               "level": LEVEL, "default": asdict(interval(default)), "baselines": {}}  # fmt: skip
    for name, ranks in baseline_ranks.items():
        margin, not_ahead = paired_margin(default, ndcg_gains(ranks, k))
        summary["baselines"][name] = {"margin": asdict(margin), "share_not_ahead": not_ahead}
    return summary


def is_current(stored: dict | None) -> bool:
    """Whether a stored summary was measured on the working tree's engine code (model and baselines)."""
    return bool(stored) and stored.get("code_hashes") == results.kind_hashes()


def unresolved_baselines(stored: dict) -> list[str]:
    """The baselines whose margin interval includes 0: the test split cannot tell the default ahead of them."""
    return sorted(name for name, row in stored["baselines"].items() if row["margin"]["low"] <= 0.0)


def default_checkpoints(code: str, n_seeds: int) -> list[Path]:
    """The quality runs' saved default models for this engine code (benchmarks.quality saves them)."""
    stems = [results.CACHE_DIR / "models" / f"default-{code}-s{seed}" for seed in seeds(n_seeds)]
    return [stem for stem in stems if stem.with_suffix(".safetensors").exists()]


def measure(split: str, n_seeds: int, log) -> dict | None:
    """The summary for `split` from the current code's default checkpoints; None when there are none."""
    codes = results.kind_hashes()
    stems = default_checkpoints(codes["attention"], n_seeds)
    if not stems:
        log("uncertainty: no default-model checkpoint of the current engine code; run --only quality first")
        return None
    log(f"uncertainty: {len(stems)} default checkpoint(s) and baselines {', '.join(DETERMINISTIC_BASELINES)} on {split}")
    try:
        outcome = run_child("ranks", {"checkpoints": [str(s) for s in stems], "baselines": list(DETERMINISTIC_BASELINES),
                                           "split": split})  # fmt: skip
    except ChildFailed as error:
        log(f"uncertainty: failed: {error}")
        return None
    summary = summarise([np.asarray(r) for r in outcome["default"]], {k: np.asarray(v) for k, v in outcome["baselines"].items()})
    return {"code_hashes": outcome["code_hashes"], "split": split, **summary}


def run_uncertainty(n_seeds: int, env: dict, log) -> dict | None:
    """Rank the test users with the stored default checkpoints and every deterministic baseline, in a child
    process, and store the bootstrap summary; None (and nothing stored) when no checkpoint exists yet."""
    summary = measure("test", n_seeds, log)
    if summary is None:
        return None
    payload = {"env": {**env, "load_end": load_average()}, "measured_at": results.now(), **summary}
    results.save("uncertainty", payload)
    return payload


def main(argv: list[str] | None = None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(prog="python -m benchmarks.uncertainty", description="bootstrap over one split's users, printed")
    parser.add_argument("--split", choices=("valid", "test"), default="valid")
    parser.add_argument("--seeds", type=int, default=3)
    args = parser.parse_args(argv)
    summary = measure(args.split, args.seeds, print)
    print(json.dumps(summary, indent=1) if summary else "nothing measured")


if __name__ == "__main__":
    main()
