"""The engine's use cases, shared by the CLI and the dashboard: load data, train and register, load a model.

Keeps the orchestration (store -> dataset -> train -> evaluate -> checkpoint -> registry) in one place
so both front ends behave identically. Checkpoint file names are random tokens, never derived from a
user-supplied model name.
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch

from engine.checkpoint import CheckpointError, checkpoint_paths, load_checkpoint, save_checkpoint
from engine.config import EvalConfig, ModelConfig, TrainConfig
from engine.dataset import IdMap, SequenceData, sequence_data_from_arrays
from engine.device import pick_device
from engine.evaluate import evaluate
from engine.model import AttentionRecommender
from engine.predict import ModelScorer
from engine.registry import ModelRecord
from engine.store import Store, StoreError
from engine.train import Progress, train

MODEL_NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")


class ServiceError(Exception):
    """A request cannot be carried out; the message is meant for the user."""


@dataclass(frozen=True)
class LoadedModel:
    record: ModelRecord
    model: AttentionRecommender
    data: SequenceData


def load_data(store: Store, dataset: str) -> SequenceData:
    """Dense sequences of a stored dataset (StoreError names an unknown dataset)."""
    info = store.dataset_info(dataset)
    rows = store.load_dense_interactions(dataset)  # numbered and sorted in DuckDB: no string-id frame
    return sequence_data_from_arrays(
        dataset,
        info.has_timestamps,
        IdMap.from_ids(rows.user_ids.tolist()),
        IdMap.from_ids(rows.item_ids.tolist()),
        rows.users,
        rows.items,
        rows.ts,
        store.load_items(dataset),
        store.load_item_attributes(dataset),
    )


def check_model_name(name: str) -> str:
    if not MODEL_NAME_PATTERN.match(name):
        raise ServiceError(
            f"model name {name!r} is not allowed: use 1-64 letters, digits, '.', '_' or '-', starting with a letter or digit"
        )
    return name


def default_model_name(dataset: str, config: ModelConfig, seed: int) -> str:
    base = re.sub(r"[^A-Za-z0-9._-]", "-", dataset)[:32].strip("-.") or "data"
    return f"{base}-{config.scorer}-L{config.n_layers}-d{config.embed_dim}-s{seed}"


def train_and_register(
    store: Store,
    dataset: str,
    model_config: ModelConfig,
    train_config: TrainConfig,
    name: str | None = None,
    on_progress: Callable[[Progress], None] | None = None,
    should_stop: Callable[[], bool] | None = None,
    data: SequenceData | None = None,
) -> ModelRecord:
    """Train, evaluate on the test split, save the checkpoint atomically, then register it.

    Nothing is registered until the checkpoint is on disk, so a failed or cancelled run leaves the
    registry and earlier models untouched."""
    name = check_model_name(name or default_model_name(dataset, model_config, train_config.seed))
    if store.model_name_exists(name):
        raise ServiceError(f"a model named {name!r} already exists; choose another name")
    data = data or load_data(store, dataset)
    result = train(data, model_config, train_config, on_progress=on_progress, should_stop=should_stop)
    test = evaluate(ModelScorer(result.model), data, EvalConfig(split="test"))
    metrics = {
        "test": test.metrics,
        "valid": result.best_valid,
        "best_epoch": result.best_epoch,
        "train_seconds": round(result.seconds, 2),
        "n_users_evaluated": len(test.users),
        "valid_users": result.valid_users,  # below valid_users_total: validation ranked a seeded sample
        "valid_users_total": result.valid_users_total,
        "curve": result.history,
    }
    relative = f"{uuid.uuid4().hex}"
    save_checkpoint(result.model, data, store.model_dir / relative, metrics=metrics, extra={"train_config": train_config.to_dict()})
    record = ModelRecord(
        name=name,
        dataset=dataset,
        scorer=model_config.scorer,
        path=relative,
        config={"model": model_config.to_dict(), "train": train_config.to_dict()},
        metrics=metrics,
        fingerprint=data.fingerprint,
    )
    try:
        return store.register_model(record)
    except StoreError:
        for path in checkpoint_paths(store.model_dir / relative):
            path.unlink(missing_ok=True)
        raise


def load_model(store: Store, name: str, data: SequenceData | None = None, device: torch.device | None = None) -> LoadedModel:
    """A registered model with its dataset; refuses stale models and mismatched checkpoints clearly."""
    record = store.get_model(name)
    if record.stale:
        raise ServiceError(f"model {name!r} is stale: its dataset {record.dataset!r} was replaced after training; retrain it")
    data = data or load_data(store, record.dataset)
    stem: Path = store.model_path(record)
    try:
        checkpoint = load_checkpoint(stem, data, device or pick_device())
    except CheckpointError as error:
        raise ServiceError(f"model {name!r} cannot be loaded: {error}") from None
    return LoadedModel(record, checkpoint.model, data)
