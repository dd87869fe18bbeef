"""Upload handling for the Data page, kept apart from the widgets so tests can call it directly.

Uploaded bytes are copied to a temporary file with a random name under the workspaces folder (the
uploaded file name is only ever a label in messages, never a path) and read by engine.ingest, which
writes the dataset into this session's private workspace store.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path
from typing import BinaryIO

from dashboard import exports, resources
from dashboard.workspace import root, store_path
from engine.ingest import ColumnMapping, IngestRefused, IngestReport, ingest_files
from engine.store import Store
from engine.workspace import WORKSPACES_DIR

MAX_ROWS_ENV = "RECSCOPE_MAX_UPLOAD_ROWS"  # interaction rows an upload may hold (unset: no cap)
UPLOADS_DIR = "uploads"  # <root>/workspaces/uploads/: temporary copies, deleted after loading
REJECTED_SHOWN = 20


def max_rows() -> int | None:
    value = os.environ.get(MAX_ROWS_ENV, "").strip()
    return int(value) if value.isdigit() and int(value) > 0 else None


def save_upload(main_path: str, data: BinaryIO) -> Path:
    """Copy an upload's bytes to a new randomly named file under the workspaces folder (streamed)."""
    folder = root(main_path) / WORKSPACES_DIR / UPLOADS_DIR
    folder.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(suffix=".csv", dir=folder)
    with os.fdopen(handle, "wb") as target:
        if hasattr(data, "seek"):
            data.seek(0)
        shutil.copyfileobj(data, target, 1 << 20)
    return Path(name)


def discard(path: Path | None) -> None:
    if path is not None:
        Path(path).unlink(missing_ok=True)


def shared_names(main_path: str) -> list[str]:
    return resources.datasets(main_path, resources.job_registry().generation)["name"].tolist()


def private_exists(main_path: str, workspace: str, name: str) -> bool:
    path = Path(store_path(main_path, workspace))
    return path.is_file() and name in resources.store(str(path)).list_datasets()["name"].tolist()


def load(main_path: str, workspace: str, name: str, interactions: Path, items: Path | None = None,
         users: Path | None = None, mapping: ColumnMapping = ColumnMapping(), replace: bool = False,
         labels: dict[str, str] | None = None) -> IngestReport:
    """Ingest the saved files as dataset `name` of `workspace` (IngestRefused: one sentence to show)."""
    name = name.strip()
    if not name:
        raise IngestRefused("Give the dataset a name.")
    if name in shared_names(main_path):
        raise IngestRefused(f'"{name}" is the name of a shared dataset; choose another name.')
    store: Store = resources.store(store_path(main_path, workspace))
    report = ingest_files(store, name, interactions, items, users, mapping=mapping, replace=replace,
                          max_rows=max_rows(), labels=labels, source="upload")  # fmt: skip
    resources.job_registry().bump()  # dataset and model lists are cached per generation
    return report


def rejected_rows(report: IngestReport) -> list[dict[str, object]]:
    return [rejection.to_dict() for rejection in report.rejected]


def rejected_csv(report: IngestReport) -> bytes:
    """The rejected rows as CSV, spreadsheet formulas neutralised."""
    rows = rejected_rows(report)
    return exports.to_csv(rows) if rows else b"line,column,reason\n"
