"""First run: make sure the bundled sample has a usable model, at once when a pretrained one ships.

Order: a registered, non-stale model of the sample -> nothing to do; else the bundled checkpoint in
sample_data/models/ is verified against the data, copied under a random name into the store's model
directory and registered; else (absent or unusable) the caller starts a background training run.
"""

from __future__ import annotations

import shutil
import uuid
from dataclasses import dataclass
from pathlib import Path

from engine.config import ModelConfig, TrainConfig
from engine.dataset import SequenceData
from engine.movielens import SAMPLE_NAME
from engine.registry import ModelRecord
from engine.store import Store, StoreError

BUNDLED_DIR = Path(__file__).resolve().parent.parent / "sample_data" / "models"
BUNDLED_NAME = f"{SAMPLE_NAME}-default"  # checkpoint stem and registered model name
FIRST_RUN_MODEL = ModelConfig()  # the defaults, trained when no checkpoint ships
FIRST_RUN_TRAIN = TrainConfig(threads=1)  # one torch thread: the other core keeps the pages responsive


@dataclass(frozen=True)
class FirstRun:
    """What the first-run check found or did; `message` is shown to the user when not None."""

    model_name: str | None  # a usable model, when there is one
    needs_training: bool  # no model and no usable bundled checkpoint
    message: str | None = None


def usable_models(store: Store, dataset: str) -> list[ModelRecord]:
    return [record for record in store.list_models(dataset) if not record.stale]


def adopt_bundled_model(store: Store, data: SequenceData, stem: Path, name: str = BUNDLED_NAME) -> ModelRecord:
    """Verify the checkpoint at `stem` against `data`, copy it into the store and register it as `name`;
    a first screen stored beside it (dashboard/first_screen.py) is copied too.

    The files are verified without torch (checksum, sidecar, dataset, configuration: engine.checkpoint_files)
    so that the first launch can show the stored first screen while torch imports; the model itself is
    built when it is first loaded, by load_checkpoint, which repeats these checks. CheckpointError when the
    files are missing, corrupt or trained on other data; StoreError when the registry refuses (e.g. the
    name is taken). Nothing is left behind on failure."""
    from dashboard.first_screen import snapshot_path
    from engine.checkpoint_files import CheckpointError, checkpoint_paths, verify_files

    meta, _, _, _ = verify_files(stem, data)
    copy = store.model_dir / uuid.uuid4().hex
    sources, targets = checkpoint_paths(stem), checkpoint_paths(copy)
    if snapshot_path(stem).is_file():  # its key (weights' checksum, data, user, k) travels with the copy
        sources, targets = (*sources, snapshot_path(stem)), (*targets, snapshot_path(copy))
    try:
        store.model_dir.mkdir(parents=True, exist_ok=True)
        for source, target in zip(sources, targets):
            shutil.copyfile(source, target)
        model_config = meta["model_config"]
        record = ModelRecord(
            name=name,
            dataset=data.name,
            scorer=str(model_config["scorer"]),
            path=copy.name,
            config={"model": model_config, "train": meta.get("extra", {}).get("train_config", {})},
            metrics=meta.get("metrics", {}),
            fingerprint=str(meta["dataset_fingerprint"]),
        )
        return store.register_model(record)
    except (OSError, KeyError, TypeError, StoreError) as error:
        for target in targets:
            target.unlink(missing_ok=True)
        if isinstance(error, StoreError):
            raise
        raise CheckpointError(f"the bundled checkpoint could not be adopted: {error}") from None


def ensure_first_model(store: Store, data: SequenceData, bundled_dir: Path = BUNDLED_DIR) -> FirstRun:
    """The sample's usable model, adopting the bundled checkpoint when there is none yet."""
    existing = usable_models(store, data.name)
    if existing:
        return FirstRun(existing[-1].name, needs_training=False)
    from engine.checkpoint_files import CheckpointError, checkpoint_paths

    stem = bundled_dir / BUNDLED_NAME
    if not all(path.is_file() for path in checkpoint_paths(stem)):
        return FirstRun(None, needs_training=True, message="No pretrained model ships with this copy, so a default model is being trained.")
    try:
        record = adopt_bundled_model(store, data, stem)
    except (CheckpointError, StoreError) as error:
        return FirstRun(None, needs_training=True, message=f"The bundled model could not be used ({error}); a default model is being trained instead.")
    return FirstRun(record.name, needs_training=False, message=f"Loaded the pretrained model {record.name}.")
