"""Fit an AttentionRecommender: sampled softmax, Adam, early stopping on validation NDCG@10 only.

Seeded and deterministic on the CPU (same seed, same thread count -> same weights). Progress goes to
an optional callback, never to stdout, so the CLI, the dashboard and tests each decide what to show.
"""

from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch

from engine.config import EvalConfig, ModelConfig, TrainConfig
from engine.dataset import SequenceData
from engine.device import pick_device
from engine.evaluate import evaluate
from engine.model import AttentionRecommender
from engine.predict import ModelScorer
from engine.windows import gather_windows, plan_windows

VALID_METRIC = "ndcg@10"


@dataclass(frozen=True)
class Progress:
    """One report to the caller: after each step (metrics None) and after each validation check."""

    epoch: int  # 1-based
    step: int  # 1-based within the epoch
    steps_per_epoch: int
    loss: float  # mean loss of the epoch so far
    metrics: dict[str, float] | None = None  # validation metrics, on epoch reports only
    elapsed_s: float = 0.0
    valid_users: int = 0  # users the validation metrics rank (a sample when fewer than have a target)
    valid_users_total: int = 0  # users with a validation target


class TrainingCancelled(Exception):
    """Raised when the caller's should_stop() says so; nothing is saved."""


@dataclass
class TrainResult:
    model: AttentionRecommender
    best_epoch: int
    best_valid: dict[str, float]
    history: list[dict[str, float]] = field(default_factory=list)  # per validation check: epoch, loss, metrics
    stopped_early: bool = False
    seconds: float = 0.0
    valid_users: int = 0  # users each validation check ranked
    valid_users_total: int = 0  # users with a validation target (more than valid_users: a seeded sample)


def build_model(data: SequenceData, config: ModelConfig) -> AttentionRecommender:
    """A fresh model sized from the dataset (sizes passed explicitly, never read inside the model)."""
    slots = torch.from_numpy(data.features.item_slots)
    return AttentionRecommender(config, data.n_items, slots, data.features.n_values)


def make_scheduler(optimiser: torch.optim.Optimizer, config: TrainConfig, steps_per_epoch: int):
    """Per-step learning-rate factor: constant, or one epoch of linear warm-up then cosine decay to 0
    at the last epoch (why: the small dataset gives few steps per epoch, so a high peak rate helps early
    and a decayed rate settles the embeddings before early stopping picks the best check)."""
    total = config.epochs * steps_per_epoch

    def factor(step: int) -> float:
        if config.lr_schedule == "constant":
            return 1.0
        if step < steps_per_epoch:
            return (step + 1) / steps_per_epoch
        progress = (step - steps_per_epoch) / max(total - steps_per_epoch, 1)
        return 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return torch.optim.lr_scheduler.LambdaLR(optimiser, factor)


def negative_distribution(data: SequenceData, config: TrainConfig) -> tuple[np.ndarray, np.ndarray]:
    """Sampling probabilities q (I,) over items 1..I, proportional to (train count + 1)**negative_power,
    and log(I * q) (I,) float32, the log-Q correction subtracted from each negative's logit: relative to
    uniform sampling, so power 0 gives zeros and a popular item is not pushed down for being drawn often."""
    counts = data.train_item_counts()[1:].astype(np.float64) + 1.0  # +1: unseen items can still be drawn
    weights = counts**config.negative_power
    probs = weights / weights.sum()
    return probs, np.log(len(probs) * probs).astype(np.float32)


def draw_negatives(rng: np.random.Generator, probs: np.ndarray, config: TrainConfig) -> np.ndarray:
    """(N,) dense item ids 1..I; uniform draws keep the generator's integer stream of earlier versions."""
    if config.negative_power == 0.0:
        return rng.integers(1, len(probs) + 1, size=config.n_negatives)
    return rng.choice(len(probs), size=config.n_negatives, p=probs) + 1


def seed_everything(seed: int, threads: int) -> None:
    """Same seed and thread count -> same weights. Deterministic kernels are required because the CPU
    embedding backward otherwise accumulates in a thread-dependent order when two threads run."""
    torch.manual_seed(seed)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True, warn_only=True)


def train(
    data: SequenceData,
    model_config: ModelConfig,
    train_config: TrainConfig,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    device: torch.device | None = None,
) -> TrainResult:
    """Train from scratch and return the model restored to its best validation epoch."""
    started = time.perf_counter()
    seed_everything(train_config.seed, train_config.threads)
    rng = np.random.default_rng(train_config.seed)
    device = device or pick_device()
    model = build_model(data, model_config).to(device)
    optimiser = torch.optim.Adam(model.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
    train_lengths = data.train_lengths()  # (U+1,) the windows are cut from each user's training part
    scorer = ModelScorer(model)
    all_valid = data.evaluable_users("valid")
    valid_users = validation_sample(all_valid, train_config)
    valid_config = EvalConfig(ks=(10,), split="valid")
    sample_probs, log_expected = negative_distribution(data, train_config)
    log_expected = torch.from_numpy(log_expected).to(device)

    best_state, best_valid, best_epoch, checks_without_gain = None, {VALID_METRIC: -1.0}, 0, 0
    history: list[dict[str, float]] = []
    stopped_early = False
    for epoch in range(1, train_config.epochs + 1):
        offset = int(rng.integers(model_config.max_len)) if epoch > 1 else 0
        plan = plan_windows(data.sequences.offsets, train_lengths, model_config.max_len, offset)
        order = rng.permutation(len(plan))
        n_steps = max((len(order) + train_config.batch_size - 1) // train_config.batch_size, 1)
        if epoch == 1:
            scheduler = make_scheduler(optimiser, train_config, n_steps)
        model.train()
        total = 0.0
        for step in range(n_steps):
            if should_stop is not None and should_stop():
                raise TrainingCancelled("training was cancelled")
            rows = order[step * train_config.batch_size : (step + 1) * train_config.batch_size]
            negatives = draw_negatives(rng, sample_probs, train_config)
            inputs, targets = gather_windows(data.sequences.values, plan, rows, model_config.max_len)
            loss = model.loss(
                torch.from_numpy(inputs).to(device),
                torch.from_numpy(targets).to(device),
                torch.from_numpy(negatives).to(device),
                log_expected[negatives - 1],
            )
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += float(loss.detach())
            if on_progress is not None:
                on_progress(Progress(epoch, step + 1, n_steps, total / (step + 1), None, time.perf_counter() - started))
        if epoch % train_config.eval_every and epoch != train_config.epochs:
            continue
        valid = evaluate(scorer, data, valid_config, users=valid_users).metrics
        history.append({"epoch": float(epoch), "loss": total / n_steps, **valid})
        if on_progress is not None:
            on_progress(Progress(epoch, n_steps, n_steps, total / n_steps, valid, time.perf_counter() - started,
                                 len(valid_users), len(all_valid)))  # fmt: skip
        if valid[VALID_METRIC] > best_valid[VALID_METRIC]:
            best_state, best_valid, best_epoch, checks_without_gain = copy.deepcopy(model.state_dict()), valid, epoch, 0
        else:
            checks_without_gain += 1
            if checks_without_gain >= train_config.patience:
                stopped_early = True
                break
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return TrainResult(model, best_epoch, best_valid, history, stopped_early, time.perf_counter() - started,
                       len(valid_users), len(all_valid))  # fmt: skip


def validation_sample(users: np.ndarray, config: TrainConfig) -> np.ndarray:
    """The users every validation check ranks: all of them, or, when more than config.valid_users have
    a target, a sample fixed for the whole run (seeded by config.seed, sorted). Why: ranking the full
    catalogue for a million users costs far more than an epoch of steps, while 10,000 users already put
    the standard error of the mean NDCG@10 at 1% of its per-user spread. Its own generator leaves the
    training stream (batch order, negatives) unchanged."""
    if not config.valid_users or len(users) <= config.valid_users:
        return users
    rng = np.random.default_rng([config.seed, 1])
    return np.sort(rng.choice(users, size=config.valid_users, replace=False))
