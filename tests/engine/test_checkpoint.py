"""Checkpoints round-trip exactly and refuse corrupt, mismatched and malicious files without running them."""

import json
import pickle

import numpy as np
import pytest
import torch

from engine.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, save_checkpoint
from engine.config import ModelConfig
from engine.dataset import build_sequence_data
from engine.predict import ModelScorer
from engine.train import build_model

CONFIG = ModelConfig(embed_dim=16, n_layers=1, n_heads=2, max_len=20)


@pytest.fixture(scope="module")
def saved(movielens_data, tmp_path_factory):
    torch.manual_seed(0)
    model = build_model(movielens_data, CONFIG).eval()
    stem = tmp_path_factory.mktemp("ckpt") / "model"
    save_checkpoint(model, movielens_data, stem, metrics={"test": {"ndcg@10": 0.1}})
    return model, stem


def _copy(stem, tmp_path):
    target = tmp_path / "copy"
    for source, dest in zip(checkpoint_paths(stem), checkpoint_paths(target)):
        dest.write_bytes(source.read_bytes())
    return target


def test_round_trip_gives_identical_scores(saved, movielens_data):
    model, stem = saved
    loaded = load_checkpoint(stem, movielens_data)
    users = np.arange(1, 9)
    before = ModelScorer(model).score_users(movielens_data, users, "test")
    after = ModelScorer(loaded.model).score_users(movielens_data, users, "test")
    assert torch.equal(before, after)
    assert loaded.meta["metrics"]["test"]["ndcg@10"] == 0.1
    assert loaded.meta["model_config"] == CONFIG.to_dict()
    assert loaded.meta["dataset_fingerprint"] == movielens_data.fingerprint


def test_no_temporary_files_are_left_behind(saved):
    _, stem = saved
    assert sorted(p.name for p in stem.parent.iterdir()) == ["model.json", "model.safetensors"]


def test_other_dataset_is_refused(saved, movielens_frames):
    _, stem = saved
    frames = movielens_frames
    fewer = frames.interactions[frames.interactions["user_id"] != "1"]
    other = build_sequence_data(frames.name, fewer, frames.items, frames.item_attributes, True)
    with pytest.raises(CheckpointError, match="differs"):
        load_checkpoint(stem, other)


def test_truncated_weights_are_refused(saved, tmp_path, movielens_data):
    stem = _copy(saved[1], tmp_path)
    weights, _ = checkpoint_paths(stem)
    weights.write_bytes(weights.read_bytes()[:1000])
    with pytest.raises(CheckpointError, match="do not match their metadata"):
        load_checkpoint(stem, movielens_data)


def test_corrupt_sidecar_is_refused(saved, tmp_path):
    stem = _copy(saved[1], tmp_path)
    _, sidecar = checkpoint_paths(stem)
    sidecar.write_text(sidecar.read_text()[:50])
    with pytest.raises(CheckpointError, match="not valid JSON"):
        load_checkpoint(stem)


def test_missing_weights_are_refused(saved, tmp_path):
    stem = _copy(saved[1], tmp_path)
    checkpoint_paths(stem)[0].unlink()
    with pytest.raises(CheckpointError, match="missing"):
        load_checkpoint(stem)


class _Exploit:
    """Unpickling this would create a marker file: proof that code ran."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (str(self.marker), "w"))


def test_pickled_code_is_never_executed(saved, tmp_path):
    """A pickle posing as weights (with a sidecar forged to match its hash) is refused and not run."""
    import hashlib

    stem = _copy(saved[1], tmp_path)
    weights, sidecar = checkpoint_paths(stem)
    marker = tmp_path / "pwned"
    payload = pickle.dumps({"item_embedding.weight": _Exploit(marker)})
    weights.write_bytes(payload)
    meta = json.loads(sidecar.read_text())
    meta["weights_sha256"] = hashlib.sha256(payload).hexdigest()
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="not a readable safetensors file"):
        load_checkpoint(stem)
    assert not marker.exists()


def test_config_with_unknown_keys_is_refused(saved, tmp_path):
    stem = _copy(saved[1], tmp_path)
    _, sidecar = checkpoint_paths(stem)
    meta = json.loads(sidecar.read_text())
    meta["model_config"]["exec"] = "import os"
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="unknown setting"):
        load_checkpoint(stem)


def test_weights_of_another_shape_are_refused(saved, tmp_path, movielens_data):
    import hashlib

    stem = _copy(saved[1], tmp_path)
    weights, sidecar = checkpoint_paths(stem)
    other = build_model(movielens_data, ModelConfig(embed_dim=32, n_layers=1, n_heads=2, max_len=20))
    save_checkpoint(other, movielens_data, tmp_path / "other")
    weights.write_bytes(checkpoint_paths(tmp_path / "other")[0].read_bytes())
    meta = json.loads(sidecar.read_text())
    meta["weights_sha256"] = hashlib.sha256(weights.read_bytes()).hexdigest()
    sidecar.write_text(json.dumps(meta))
    with pytest.raises(CheckpointError, match="does not fit"):
        load_checkpoint(stem)
