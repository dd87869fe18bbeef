"""Fixtures for the dashboard tests: one real store with two really trained tiny models per session."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import torch
from streamlit.testing.v1 import AppTest

from dashboard_fixtures import build_trained_store, make_app
from engine.service import LoadedModel, load_model
from engine.store import Store



@pytest.fixture(scope="session", autouse=True)
def one_torch_thread() -> None:
    torch.set_num_threads(1)  # the test machine has 2 shared cores; see dashboard/resources.py


@pytest.fixture(scope="session")
def trained_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A store file with movielens-small and the models tiny-dot (1 layer, dot) and tiny-sigmoid (0 layers)."""
    return build_trained_store(tmp_path_factory.mktemp("store") / "recscope.duckdb")


@pytest.fixture(scope="session")
def models(trained_db: Path) -> dict[str, LoadedModel]:
    store = Store(trained_db)
    return {name: load_model(store, name) for name in ("tiny-dot", "tiny-sigmoid")}


@pytest.fixture
def private_db(trained_db: Path, tmp_path: Path) -> Path:
    """A copy of the trained store (and its checkpoints) that a test may change."""
    target = tmp_path / "recscope.duckdb"
    shutil.copyfile(trained_db, target)
    shutil.copytree(Store(trained_db).model_dir, Store(target).model_dir)
    return target


@pytest.fixture
def app(trained_db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The dashboard over the shared trained store, with tiny-dot picked (not yet run)."""
    at = make_app(trained_db, monkeypatch)
    at.session_state["sidebar.model"] = "tiny-dot"
    return at
