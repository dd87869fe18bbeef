"""Abandoned workspaces are removed with their models after the ttl, on a fake clock, never while in use.

Real parts: workspace stores written by engine.ingest, a model really trained and checkpointed into one
of them, a second process holding a store open. Only time is injected.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from engine.config import ModelConfig, TrainConfig
from engine.ingest import ingest_files
from engine.service import load_model, train_and_register
from engine.workspace import WORKSPACES_DIR, new_workspace_token, workspace_path, workspace_store
from engine.workspace_cleanup import (TTL_ENV, CleanupConfig, last_seen, models_path, seen_path, sweep, touch,
                                      tokens)  # fmt: skip

HOUR = 3600.0
DAY = 24 * HOUR
T0 = 1_750_000_000.0  # an arbitrary fake "now"
CONFIG = CleanupConfig(ttl_hours=7 * 24)
CSV = "user,item,ts\n" + "".join(f"u{u},i{(u * 3 + k) % 10},{1000 + 10 * u + k}\n" for u in range(12) for k in range(6))


def make_workspace(root: Path, tmp_path: Path, dataset: str = "shop") -> str:
    token = new_workspace_token()
    source = tmp_path / f"{token}.csv"
    source.write_text(CSV)
    ingest_files(workspace_store(root, token), dataset, source)
    return token


def files_of(root: Path, token: str) -> list[Path]:
    db = workspace_path(root, token)
    return [path for path in (db, db.with_name(db.name + ".wal"), models_path(root, token), seen_path(root, token)) if path.exists()]


def test_config_from_env() -> None:
    assert CleanupConfig.from_env({}).ttl_hours == 168 and CleanupConfig.from_env({}).enabled
    assert CleanupConfig.from_env({TTL_ENV: "1.5"}).ttl_s == 1.5 * HOUR
    assert not CleanupConfig.from_env({TTL_ENV: "0"}).enabled
    assert not CleanupConfig.from_env({TTL_ENV: "inf"}).enabled
    assert CleanupConfig.from_env({TTL_ENV: "a week"}).ttl_hours == 168  # not a number: the default


def test_unopened_workspace_and_its_model_are_removed_others_stay(tmp_path: Path) -> None:
    root = tmp_path / "root"
    old, fresh = make_workspace(root, tmp_path), make_workspace(root, tmp_path)
    record = train_and_register(workspace_store(root, old), "shop", ModelConfig(embed_dim=16, n_layers=0, n_heads=1, max_len=10),
                                TrainConfig(epochs=1, batch_size=64, n_negatives=8, threads=1), name="m")  # fmt: skip
    assert record.name == "m" and len(list(models_path(root, old).iterdir())) >= 2  # weights + metadata on disk
    assert load_model(workspace_store(root, old), "m").record.dataset == "shop"
    assert touch(root, old, now=T0) and touch(root, fresh, now=T0)
    assert last_seen(root, old) == T0

    assert sweep(root, CONFIG, now=T0 + 7 * DAY - HOUR).removed == ()  # not yet expired
    assert touch(root, fresh, now=T0 + 5 * DAY)  # someone opened this one's link
    report = sweep(root, CONFIG, now=T0 + 7 * DAY + HOUR)

    assert report.removed == (old,)
    assert files_of(root, old) == [] and tokens(root) == [fresh]
    assert not list((root / WORKSPACES_DIR / ".trash").iterdir())
    assert workspace_store(root, fresh).list_datasets()["name"].tolist() == ["shop"]  # untouched and readable
    assert not touch(root, old, now=T0 + 8 * DAY)  # opening a removed workspace's link records nothing
    assert not workspace_path(root, old).exists()
    # the link still works afterwards: it starts an empty workspace that a new upload fills
    ingest_files(workspace_store(root, old), "again", tmp_path / f"{fresh}.csv")
    assert workspace_store(root, old).list_datasets()["name"].tolist() == ["again"]

    assert sweep(root, CONFIG, now=T0 + 12 * DAY + 2 * HOUR).removed == (fresh,)  # 7 days after its last visit


def test_workspaces_in_use_are_kept(tmp_path: Path) -> None:
    root = tmp_path / "root"
    training, held, idle = (make_workspace(root, tmp_path) for _ in range(3))
    for token in (training, held, idle):
        touch(root, token, now=T0)
    ready = tmp_path / "ready"
    holder = subprocess.Popen([sys.executable, "-c", "import duckdb, sys, pathlib, time\n"
                               "con = duckdb.connect(sys.argv[1]); pathlib.Path(sys.argv[2]).touch(); time.sleep(60)",
                               str(workspace_path(root, held)), str(ready)])  # fmt: skip
    try:
        while not ready.exists():
            assert holder.poll() is None, "the holding process exited"
            threading.Event().wait(0.05)
        report = sweep(root, CONFIG, now=T0 + 30 * DAY, in_use={training})
    finally:
        holder.kill()
        holder.wait()
    assert report.removed == (idle,)
    assert sorted(report.in_use) == sorted([training, held])
    assert tokens(root) == sorted([training, held])
    assert sweep(root, CONFIG, now=T0 + 30 * DAY).removed == tuple(sorted([training, held]))  # released: now they go


def test_no_seen_file_falls_back_to_the_store_mtime_and_disabled_keeps_all(tmp_path: Path) -> None:
    root = tmp_path / "root"
    token = make_workspace(root, tmp_path)  # a workspace made before last-seen was recorded
    db = workspace_path(root, token)
    os.utime(db, (T0, T0))
    assert last_seen(root, token) == T0
    assert sweep(root, CleanupConfig(ttl_hours=0), now=T0 + 365 * DAY).removed == ()
    assert sweep(root, CONFIG, now=T0 + 6 * DAY).removed == ()
    assert sweep(root, CONFIG, now=T0 + 8 * DAY).removed == (token,)


def test_old_upload_copies_and_interrupted_removals_are_cleaned(tmp_path: Path) -> None:
    root = tmp_path / "root"
    keep = make_workspace(root, tmp_path)
    touch(root, keep, now=T0)
    uploads = root / WORKSPACES_DIR / "uploads"
    uploads.mkdir()
    stale, recent = uploads / "tmp1.csv", uploads / "tmp2.csv"
    for path, stamp in ((stale, T0 - 8 * DAY), (recent, T0 - HOUR)):
        path.write_text(CSV)
        os.utime(path, (stamp, stamp))
    gone = new_workspace_token()  # a removal that died after renaming the store away
    models_path(root, gone).mkdir()
    (models_path(root, gone) / "m.safetensors").write_bytes(b"x")
    seen_path(root, gone).touch()
    (root / WORKSPACES_DIR / ".trash" / "half").mkdir(parents=True)

    report = sweep(root, CONFIG, now=T0)
    assert report.removed == () and report.uploads_removed == 1 and report.orphans_removed == 3
    assert not stale.exists() and recent.exists()
    assert not models_path(root, gone).exists() and not seen_path(root, gone).exists()
    assert tokens(root) == [keep] and load_safe(root, keep)


def load_safe(root: Path, token: str) -> bool:
    return workspace_store(root, token).dataset_info("shop").n_interactions == 72


def test_a_visit_waits_for_a_running_sweep(tmp_path: Path) -> None:
    """touch holds the folder lock shared, sweep exclusive: a visit during a sweep lands after it."""
    from engine import workspace_cleanup

    root = tmp_path / "root"
    token = make_workspace(root, tmp_path)
    touch(root, token, now=T0)
    entered, release, visited = threading.Event(), threading.Event(), []
    original = workspace_cleanup._remove

    def slow_remove(root_: Path, token_: str) -> None:
        entered.set()
        release.wait(5)
        original(root_, token_)

    workspace_cleanup._remove = slow_remove
    try:
        sweeper = threading.Thread(target=sweep, args=(root, CONFIG, T0 + 8 * DAY))
        sweeper.start()
        assert entered.wait(5)
        visitor = threading.Thread(target=lambda: visited.append(touch(root, token, now=T0 + 8 * DAY)))
        visitor.start()
        visitor.join(0.3)
        assert visitor.is_alive() and visited == []  # blocked while the removal runs
        release.set()
        sweeper.join(5)
        visitor.join(5)
    finally:
        workspace_cleanup._remove = original
    assert visited == [False] and tokens(root) == []  # the visit saw the workspace gone, not half-removed


@pytest.mark.parametrize("bad", ["../escape", "x" * 31, ""])
def test_bad_tokens_are_never_paths(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError):
        touch(tmp_path, bad, now=T0)
