"""First run: a bundled checkpoint is verified, copied and registered; a broken one leads to training."""

from __future__ import annotations

from pathlib import Path

from dashboard.bundled import BUNDLED_NAME, ensure_first_model
from engine.checkpoint import checkpoint_paths, save_checkpoint
from engine.movielens import SAMPLE_NAME
from engine.sample import ensure_sample
from engine.service import load_data, load_model
from engine.store import Store


def fresh_store(tmp_path: Path) -> Store:
    store = Store(tmp_path / "fresh" / "recscope.duckdb")
    ensure_sample(store)
    return store


def bundle(models, directory: Path) -> Path:
    loaded = models["tiny-dot"]
    save_checkpoint(loaded.model, loaded.data, directory / BUNDLED_NAME, metrics=loaded.record.metrics,
                    extra={"train_config": loaded.record.config["train"]})  # fmt: skip
    return directory


def test_bundled_checkpoint_is_adopted(models, tmp_path: Path) -> None:
    store = fresh_store(tmp_path)
    data = load_data(store, SAMPLE_NAME)
    outcome = ensure_first_model(store, data, bundle(models, tmp_path / "bundled"))
    assert outcome.model_name == BUNDLED_NAME and not outcome.needs_training
    record = store.get_model(BUNDLED_NAME)
    assert record.scorer == "dot" and record.fingerprint == data.fingerprint and record.config["model"]["embed_dim"] == 16
    assert load_model(store, BUNDLED_NAME).model.config == models["tiny-dot"].model.config
    again = ensure_first_model(store, data, tmp_path / "bundled")  # second start: nothing to do
    assert again.model_name == BUNDLED_NAME and again.message is None


def test_missing_or_corrupt_checkpoint_asks_for_training(models, tmp_path: Path) -> None:
    store = fresh_store(tmp_path)
    data = load_data(store, SAMPLE_NAME)
    absent = ensure_first_model(store, data, tmp_path / "nowhere")
    assert absent.needs_training and absent.model_name is None
    directory = bundle(models, tmp_path / "bundled")
    weights, _ = checkpoint_paths(directory / BUNDLED_NAME)
    weights.write_bytes(weights.read_bytes()[:-16])  # truncated download
    broken = ensure_first_model(store, data, directory)
    assert broken.needs_training and "could not be used" in broken.message
    assert store.list_models() == []
    assert not store.model_dir.exists() or not any(store.model_dir.iterdir())


def test_shipped_checkpoint_matches_the_sample_and_its_recorded_metrics(tmp_path: Path) -> None:
    """The pretrained model in sample_data/models must load against a freshly loaded sample (same dataset
    fingerprint) and still rank the test targets exactly as its sidecar says: a change to ingest, id
    numbering or the split that silently invalidates the shipped model fails here, not on a user's first run."""
    from dashboard.bundled import BUNDLED_DIR
    from engine.checkpoint import read_sidecar
    from engine.config import EvalConfig, ModelConfig
    from engine.evaluate import evaluate
    from engine.predict import ModelScorer

    store = fresh_store(tmp_path)
    data = load_data(store, SAMPLE_NAME)
    outcome = ensure_first_model(store, data)
    assert outcome.model_name == BUNDLED_NAME and not outcome.needs_training
    assert outcome.message is not None and "pretrained" in outcome.message
    loaded = load_model(store, BUNDLED_NAME, data=data)
    assert loaded.model.config == ModelConfig(), "the shipped model should be the current default configuration"
    recorded = read_sidecar(BUNDLED_DIR / BUNDLED_NAME)["metrics"]["test"]
    measured = evaluate(ModelScorer(loaded.model), data, EvalConfig(ks=(10,))).metrics
    assert abs(measured["ndcg@10"] - recorded["ndcg@10"]) < 1e-6
    assert abs(measured["hr@10"] - recorded["hr@10"]) < 1e-9


def test_shipped_first_screen_is_the_shipped_models_own(tmp_path: Path, monkeypatch) -> None:
    """sample_data/models also ships the default user's first screen (dashboard/first_screen.py), so even the
    first launch of a fresh clone draws it before torch imports. Adopting the model copies it, and its key
    and numbers must be the shipped model's own. When the model is retrained, this fails: start the
    dashboard once on a fresh store and copy the <model>.first-screen.json it writes beside the adopted
    checkpoint to sample_data/models/movielens-small-default.first-screen.json."""
    from dashboard import exports, first_screen, resources
    from dashboard.explore import DEFAULT_K
    from engine.explain import explain_user

    store = fresh_store(tmp_path)
    data = load_data(store, SAMPLE_NAME)
    assert ensure_first_model(store, data).model_name == BUNDLED_NAME
    stem = store.model_path(store.get_model(BUNDLED_NAME))
    monkeypatch.setenv("RECSCOPE_DB", str(store.path))
    user = resources.user_suggestions(resources.db_path(), SAMPLE_NAME, data.fingerprint)[0].user_id  # the sidebar's default
    stored = first_screen.read(stem, first_screen.checkpoint_key(stem, user, DEFAULT_K))
    assert stored is not None, "the shipped first screen is missing or stale for the shipped model"
    expected = exports.explanation_record(explain_user(load_model(store, BUNDLED_NAME, data=data).model, data, user, DEFAULT_K))
    assert [r["item_id"] for r in stored["recommendations"]] == [r["item_id"] for r in expected["recommendations"]]
    for shown, own in zip(stored["recommendations"], expected["recommendations"]):
        assert abs(shown["score"] - own["score"]) < 1e-5
        assert [h["item_id"] for h in shown["history"]] == [h["item_id"] for h in own["history"]]
        assert max(abs(a["weight"] - b["weight"]) for a, b in zip(shown["history"], own["history"])) < 1e-6
