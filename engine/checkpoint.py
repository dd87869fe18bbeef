"""Save and load trained models safely: safetensors weights plus a JSON sidecar.

The weights file holds tensors only (no pickle, so loading executes nothing). The sidecar holds what
is needed to rebuild and to refuse a wrong pairing: model config, item ids, dataset fingerprint,
metrics, versions and the SHA-256 of the weights. Both files are written to temporary names and then
renamed, weights first; a sidecar that does not match its weights is treated as a broken checkpoint.
"""

from __future__ import annotations

import json
import os
import platform
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import safetensors
import torch
from safetensors.torch import load_file, save_file

from engine.checkpoint_files import (
    FORMAT,
    FORMAT_VERSION,
    CheckpointError,
    checkpoint_paths,
    file_sha256,
    read_sidecar,
    verify_files,
)
from engine.dataset import SequenceData
from engine.model import AttentionRecommender

# the file-level names live in engine.checkpoint_files (no torch); they are re-exported for callers
__all__ = ["FORMAT", "FORMAT_VERSION", "Checkpoint", "CheckpointError", "checkpoint_paths", "load_checkpoint",
           "read_sidecar", "save_checkpoint"]  # fmt: skip


@dataclass(frozen=True)
class Checkpoint:
    model: AttentionRecommender
    meta: dict[str, Any]  # the parsed sidecar


def _atomic_write(target: Path, write) -> None:
    """Write through a temporary file in the same folder, fsync, then rename over the target."""
    target.parent.mkdir(parents=True, exist_ok=True)
    handle, temp_name = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.", suffix=".tmp")
    os.close(handle)
    try:
        write(Path(temp_name))
        with open(temp_name, "rb") as fh:
            os.fsync(fh.fileno())
        os.replace(temp_name, target)
    finally:
        if os.path.exists(temp_name):
            os.unlink(temp_name)


def save_checkpoint(
    model: AttentionRecommender,
    data: SequenceData,
    stem: Path,
    metrics: dict[str, Any] | None = None,
    extra: dict[str, Any] | None = None,
) -> tuple[Path, Path]:
    """Write `<stem>.safetensors` and `<stem>.json` atomically; returns both paths."""
    weights_path, sidecar_path = checkpoint_paths(stem)
    state = {name: tensor.detach().cpu().contiguous() for name, tensor in model.state_dict().items()}
    _atomic_write(weights_path, lambda p: save_file(state, str(p), metadata={"format": FORMAT}))
    meta = {
        "format": FORMAT,
        "format_version": FORMAT_VERSION,
        "model_config": model.config.to_dict(),
        "n_items": model.n_items,
        "n_feature_values": int(model.feature_embedding.num_embeddings - 1),
        "dataset": data.name,
        "dataset_fingerprint": data.fingerprint,
        "item_ids": [str(x) for x in data.items.raw_ids[1:]],
        "metrics": metrics or {},
        "extra": extra or {},
        "weights_sha256": file_sha256(weights_path),
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    _atomic_write(sidecar_path, lambda p: p.write_text(json.dumps(meta, indent=1), encoding="utf-8"))
    return weights_path, sidecar_path


def load_checkpoint(stem: Path, data: SequenceData | None = None, device: torch.device | None = None) -> Checkpoint:
    """Rebuild the model; refuses corrupt files and (when `data` is given) a different dataset."""
    weights_path, _ = checkpoint_paths(stem)
    meta, config, n_items, n_values = verify_files(stem, data)
    try:
        state = load_file(str(weights_path))  # tensors only: nothing is executed
    except (safetensors.SafetensorError, OSError, ValueError) as error:
        raise CheckpointError(f"{weights_path.name} is not a readable safetensors file: {error}") from None
    slots = state.get("item_feature_slots")
    if slots is None or slots.dim() != 2 or slots.shape[0] != n_items + 1:
        raise CheckpointError(f"{weights_path.name} lacks a valid item feature table")
    model = AttentionRecommender(config, n_items, slots, n_values)
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as error:
        first_line = str(error).splitlines()[0]
        raise CheckpointError(f"{weights_path.name} does not fit the model its metadata describes: {first_line}") from None
    model.eval()
    if device is not None:
        model.to(device)
    return Checkpoint(model=model, meta=meta)
