"""Shared fixtures, layered like the data flow: sample frames -> sequences -> a store -> a trained model.

Everything is real: the bundled MovieLens files, DuckDB files under pytest's temporary folders, and a
small attention model actually trained (a couple of epochs) on the sample.
"""

from __future__ import annotations

import pytest

from engine.config import ModelConfig, TrainConfig
from engine.dataset import SequenceData, build_sequence_data
from engine.frames import DatasetFrames
from engine.movielens import read_movielens

TINY_MODEL = ModelConfig(embed_dim=16, n_layers=1, n_heads=2, max_len=20, dropout=0.1)
TINY_TRAINING = TrainConfig(epochs=2, batch_size=128, n_negatives=64, lr=3e-3, seed=7)


@pytest.fixture(scope="session")
def movielens_frames() -> DatasetFrames:
    return read_movielens()


@pytest.fixture(scope="session")
def movielens_data(movielens_frames: DatasetFrames) -> SequenceData:
    frames = movielens_frames
    return build_sequence_data(frames.name, frames.interactions, frames.items, frames.item_attributes, frames.has_timestamps)


@pytest.fixture(scope="session")
def trained_store(tmp_path_factory):
    """A store file holding the sample and one tiny model really trained on it: (store, record)."""
    from engine.sample import ensure_sample
    from engine.service import train_and_register
    from engine.store import Store

    store = Store(tmp_path_factory.mktemp("store") / "recscope.duckdb")
    ensure_sample(store)
    record = train_and_register(store, "movielens-small", TINY_MODEL, TINY_TRAINING, name="tiny")
    return store, record


@pytest.fixture(scope="session")
def trained_model(trained_store):
    """The tiny trained model loaded from its checkpoint, with its dataset (a LoadedModel)."""
    from engine.service import load_model

    store, record = trained_store
    return load_model(store, record.name)
