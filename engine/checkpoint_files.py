"""A checkpoint's files, read and verified without torch: the weights' checksum, the sidecar's format and
the dataset it was trained on.

Why apart from engine.checkpoint: the dashboard's first run adopts the bundled checkpoint before torch has
imported (its ~2.5 s of CPU would otherwise delay the first screen); building the model from the weights
is left to engine.checkpoint.load_checkpoint, which runs these same checks first.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from engine.config import ConfigError, ModelConfig
from engine.dataset import SequenceData

FORMAT = "recscope-checkpoint"
FORMAT_VERSION = 1
WEIGHTS_SUFFIX = ".safetensors"
SIDECAR_SUFFIX = ".json"


class CheckpointError(Exception):
    """A checkpoint cannot be used; the message says which file and why."""


def checkpoint_paths(stem: Path) -> tuple[Path, Path]:
    """The weights and sidecar files of a checkpoint stem (no suffix)."""
    return stem.with_name(stem.name + WEIGHTS_SUFFIX), stem.with_name(stem.name + SIDECAR_SUFFIX)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_sidecar(stem: Path) -> dict[str, Any]:
    """Parse and check the JSON sidecar without touching the weights."""
    _, sidecar_path = checkpoint_paths(stem)
    try:
        meta = json.loads(sidecar_path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise CheckpointError(f"checkpoint metadata {sidecar_path.name} is missing") from None
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise CheckpointError(f"checkpoint metadata {sidecar_path.name} is not valid JSON (truncated or corrupt)") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise CheckpointError(f"{sidecar_path.name} is not a Recscope checkpoint")
    if meta.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(f"{sidecar_path.name} has format version {meta.get('format_version')!r}; expected {FORMAT_VERSION}")
    return meta


def verify_files(stem: Path, data: SequenceData | None = None) -> tuple[dict[str, Any], ModelConfig, int, int]:
    """Everything about a checkpoint that can be checked without building its model: the sidecar, the
    weights' checksum, the dataset (when `data` is given) and the configuration. Returns the sidecar, the
    model configuration, the number of items and of attribute values; CheckpointError otherwise."""
    weights_path, _ = checkpoint_paths(stem)
    meta = read_sidecar(stem)
    if not weights_path.exists():
        raise CheckpointError(f"checkpoint weights {weights_path.name} are missing")
    if file_sha256(weights_path) != meta.get("weights_sha256"):
        raise CheckpointError(f"checkpoint weights {weights_path.name} do not match their metadata (changed, truncated or corrupt)")
    if data is not None:
        check_dataset(meta, data)
    try:
        config = ModelConfig.from_dict(meta["model_config"])
        n_items, n_values = int(meta["n_items"]), int(meta["n_feature_values"])
    except (KeyError, TypeError, ValueError, ConfigError) as error:
        raise CheckpointError(f"checkpoint metadata is incomplete or invalid: {error}") from None
    return meta, config, n_items, n_values


def check_dataset(meta: dict[str, Any], data: SequenceData) -> None:
    if meta.get("dataset_fingerprint") != data.fingerprint or meta.get("item_ids") != [str(x) for x in data.items.raw_ids[1:]]:
        raise CheckpointError(
            f"this model was trained on dataset {meta.get('dataset')!r} as it was then "
            f"(fingerprint {meta.get('dataset_fingerprint')}); the data now loaded ({data.name!r}, "
            f"fingerprint {data.fingerprint}) differs - retrain the model on it"
        )
