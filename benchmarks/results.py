"""Stored measurements: one JSON file per section under docs/benchmarks/results/, read back by the report.

Runs carry a hash of the engine files that decide model quality, so results of older code are never
mixed silently with new ones (colleagues retune the model while benchmarks run).
"""

from __future__ import annotations

import hashlib
import json
import os
import tempfile
from datetime import datetime, timezone
from pathlib import Path

from benchmarks.environment import ROOT

RESULTS_DIR = ROOT / "docs" / "benchmarks" / "results"
CACHE_DIR = ROOT / "data" / "benchmarks"  # generated CSVs, stores and checkpoints (git-ignored)
QUALITY_FILES = ("attention.py", "baselines.py", "batching.py", "config.py", "dataset.py", "evaluate.py",
                 "metrics.py", "model.py", "movielens.py", "predict.py", "train.py")  # fmt: skip
BASELINE_FILES = ("baselines.py", "dataset.py", "evaluate.py", "metrics.py", "movielens.py")  # what baselines depend on


def code_hash(files: tuple[str, ...] = QUALITY_FILES) -> str:
    """Short hash of the engine files that decide what a model learns and how it is scored (BASELINE_FILES:
    what a baseline's numbers depend on, so retuning the attention model does not invalidate them)."""
    digest = hashlib.sha256()
    for name in files:
        path = ROOT / "engine" / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.exists() else b""))
    return digest.hexdigest()[:12]


def now() -> str:
    return datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")


def load(section: str) -> dict:
    path = RESULTS_DIR / f"{section}.json"
    if not path.exists():
        return {}
    return json.loads(path.read_text())


def save(section: str, payload: dict) -> None:
    """Write atomically, so an interrupted run never leaves half a file."""
    RESULTS_DIR.mkdir(parents=True, exist_ok=True)
    target = RESULTS_DIR / f"{section}.json"
    handle, temporary = tempfile.mkstemp(dir=RESULTS_DIR, suffix=".tmp")
    with os.fdopen(handle, "w") as out:
        json.dump(payload, out, indent=1, sort_keys=True, default=float)
        out.write("\n")
    os.replace(temporary, target)


def kind_hashes() -> dict[str, str]:
    """The code hash that identifies each kind of quality run."""
    return {"attention": code_hash(QUALITY_FILES), "baseline": code_hash(BASELINE_FILES)}
