"""Training is seeded and deterministic, reports progress, can be cancelled, and learns something."""

import numpy as np
import pytest
import torch

from engine.config import EvalConfig, ModelConfig, TrainConfig
from engine.dataset import build_sequence_data
from engine.evaluate import evaluate
from engine.predict import ModelScorer
from engine.train import TrainingCancelled, train

SMALL = ModelConfig(embed_dim=16, n_layers=1, n_heads=2, max_len=20, dropout=0.1)


@pytest.fixture(scope="module")
def small_data(movielens_frames):
    """The first 120 users of the sample: big enough to learn from, small enough to train in seconds."""
    frames = movielens_frames
    keep = frames.interactions["user_id"].isin([str(u) for u in range(1, 121)])
    return build_sequence_data("ml-120", frames.interactions[keep], frames.items, frames.item_attributes, True)


def test_same_seed_gives_identical_weights(small_data):
    config = TrainConfig(epochs=2, n_negatives=32, seed=11)
    first = train(small_data, SMALL, config).model.state_dict()
    second = train(small_data, SMALL, config).model.state_dict()
    assert first.keys() == second.keys()
    assert all(torch.equal(first[name], second[name]) for name in first)


def test_different_seed_gives_different_weights(small_data):
    first = train(small_data, SMALL, TrainConfig(epochs=1, n_negatives=32, seed=1)).model.state_dict()
    second = train(small_data, SMALL, TrainConfig(epochs=1, n_negatives=32, seed=2)).model.state_dict()
    assert not torch.equal(first["item_embedding.weight"], second["item_embedding.weight"])


def test_progress_reports_steps_and_validation_metrics(small_data):
    reports = []
    result = train(small_data, SMALL, TrainConfig(epochs=2, n_negatives=32), on_progress=reports.append)
    steps = [r for r in reports if r.metrics is None]
    checks = [r for r in reports if r.metrics is not None]
    assert steps and steps[0].epoch == 1 and steps[0].step == 1
    assert [r.epoch for r in checks] == [1, 2]
    assert all("ndcg@10" in r.metrics for r in checks)
    assert [h["epoch"] for h in result.history] == [1.0, 2.0]
    assert result.best_valid["ndcg@10"] == max(h["ndcg@10"] for h in result.history)


def test_cancel_stops_training(small_data):
    calls = {"n": 0}

    def should_stop() -> bool:
        calls["n"] += 1
        return calls["n"] > 3

    with pytest.raises(TrainingCancelled):
        train(small_data, SMALL, TrainConfig(epochs=5, n_negatives=32), should_stop=should_stop)


def test_early_stopping_uses_validation_only(small_data, monkeypatch):
    """The validation target decides; test targets are never looked at during training."""
    seen_splits = []
    import engine.train as train_module

    real = train_module.evaluate

    def spy(scorer, data, config, *args, **kwargs):
        seen_splits.append(config.split)
        return real(scorer, data, config, *args, **kwargs)

    monkeypatch.setattr(train_module, "evaluate", spy)
    train(small_data, SMALL, TrainConfig(epochs=2, n_negatives=32))
    assert seen_splits and set(seen_splits) == {"valid"}


def test_training_lowers_loss_and_beats_random(small_data):
    result = train(small_data, SMALL, TrainConfig(epochs=4, n_negatives=64, lr=3e-3))
    losses = [h["loss"] for h in result.history]
    assert losses[-1] < losses[0]
    ndcg = evaluate(ModelScorer(result.model), small_data, EvalConfig(ks=(10,), split="test")).metrics["ndcg@10"]
    random_ndcg = 10 / small_data.n_items  # a random ranking's hit rate at 10 is ~10/I, its NDCG lower still
    assert ndcg > 2 * random_ndcg
    assert np.isfinite(ndcg)
