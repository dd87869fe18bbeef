"""ensure_sample: written once, never twice, also when threads and processes race for it."""

from __future__ import annotations

import os
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from engine import sample as sample_module
from engine.movielens import SAMPLE_NAME
from engine.sample import ensure_sample
from engine.store import Store, StoreError

REPO_ROOT = Path(__file__).resolve().parents[2]


def test_ensure_sample_writes_once_and_is_idempotent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    store = Store(tmp_path / "s.duckdb")
    first = ensure_sample(store)
    assert (first.name, first.n_users, first.n_interactions) == (SAMPLE_NAME, 610, 100836)

    def no_second_write(*args: object, **kwargs: object) -> None:
        raise AssertionError("ensure_sample wrote the sample twice")

    monkeypatch.setattr(sample_module, "write_dataset_on", no_second_write)
    monkeypatch.setattr(sample_module, "read_movielens", no_second_write)
    assert ensure_sample(store) == first
    assert ensure_sample(Store(store.path, read_only=True)) == first
    assert store.list_datasets()["name"].tolist() == [SAMPLE_NAME]


def test_read_only_store_without_the_sample_is_not_written(tmp_path: Path) -> None:
    store = Store(tmp_path / "s.duckdb")
    store.list_datasets()  # creates an empty store
    with pytest.raises(StoreError, match="read-only store .* has no \"movielens-small\" dataset"):
        ensure_sample(Store(store.path, read_only=True))
    assert store.list_datasets().empty


def test_threads_racing_for_the_sample_write_it_once(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    with ThreadPoolExecutor(max_workers=4) as pool:
        infos = list(pool.map(lambda _: ensure_sample(Store(path)), range(4)))
    assert len({info.created_at for info in infos}) == 1
    assert Store(path).load_interactions(SAMPLE_NAME).shape == (100836, 5)


def test_processes_racing_for_the_sample_write_it_once(tmp_path: Path) -> None:
    path = tmp_path / "s.duckdb"
    code = (
        "import sys; from engine.sample import ensure_sample; from engine.store import Store; "
        "print(ensure_sample(Store(sys.argv[1], lock_timeout_s=60)).created_at.isoformat())"
    )
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    children = [
        subprocess.Popen([sys.executable, "-c", code, str(path)], stdout=subprocess.PIPE, text=True, env=env)
        for _ in range(2)
    ]
    outputs = [child.communicate(timeout=120)[0].strip() for child in children]
    assert [child.returncode for child in children] == [0, 0]
    assert len(set(outputs)) == 1  # all report the one write
    assert Store(path).dataset_info(SAMPLE_NAME).n_interactions == 100836
