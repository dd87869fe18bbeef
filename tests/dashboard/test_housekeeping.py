"""Workspace upkeep in the dashboard: opening a link records the visit, the sweep runs in the background
at most once per interval, keeps a workspace a training job writes to, and a swept link starts afresh."""

from __future__ import annotations

import os
import threading
import time
from pathlib import Path

import pytest
from test_upload import dataset_options, run, upload

from dashboard import housekeeping, state
from dashboard.jobs import JobRegistry
from dashboard_fixtures import make_app
from engine.config import ModelConfig, TrainConfig
from engine.ingest import ingest_files
from engine.registry import ModelRecord
from engine.workspace import WORKSPACES_DIR, new_workspace_token, workspace_path, workspace_store
from engine.workspace_cleanup import TTL_ENV, CleanupConfig, last_seen, seen_path

DAY = 86_400.0


def age(root: Path, token: str, seconds: float) -> None:
    """Pretend the workspace was last opened `seconds` ago (the .seen file, else the store file)."""
    stamp = time.time() - seconds
    target = seen_path(root, token) if seen_path(root, token).exists() else workspace_path(root, token)
    os.utime(target, (stamp, stamp))


def test_opening_a_link_records_the_visit(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = upload(make_app(private_db, monkeypatch))
    token = a.session_state[state.WORKSPACE]
    root = private_db.parent
    age(root, token, 3 * DAY)
    link = make_app(private_db, monkeypatch)
    link.query_params["ws"] = token
    before = time.time()
    run(link)
    assert last_seen(root, token) >= before - 1  # recorded by this run, not three days old
    stranger = make_app(private_db, monkeypatch)
    stranger.query_params["ws"] = new_workspace_token()
    run(stranger)
    assert [path.stem for path in (root / WORKSPACES_DIR).glob("*.seen")] == [token]  # an empty workspace's link records nothing


def test_sweeper_runs_when_due_and_keeps_a_training_workspace(tmp_path: Path) -> None:
    root, now = tmp_path, [1_000_000.0]
    busy, idle = new_workspace_token(), new_workspace_token()
    csv = tmp_path / "in.csv"
    csv.write_text("user,item\n" + "".join(f"u{u},i{k}\n" for u in range(4) for k in range(4)))
    for token in (busy, idle):
        ingest_files(workspace_store(root, token), "d", csv)
        os.utime(workspace_path(root, token), (now[0] - 10 * DAY, now[0] - 10 * DAY))
    registry, release, removed = JobRegistry(), threading.Event(), []

    def training(store, dataset, model_config, train_config, name, on_progress, should_stop, data):
        release.wait(10)
        return ModelRecord(name=name, dataset=dataset, scorer="dot", path="x")

    registry.start("someone", workspace_path(root, busy), "d", ModelConfig(), TrainConfig(epochs=1), "m", train_fn=training)
    sweeper = housekeeping.Sweeper(root, CleanupConfig(ttl_hours=24, every_minutes=30), registry,
                                   lambda: removed.append(True), clock=lambda: now[0])  # fmt: skip
    try:
        first = sweeper.maybe_start()
        assert first is not None
        first.join(10)
        assert sweeper.last_report.removed == (idle,) and sweeper.last_report.in_use == (busy,) and removed == [True]
        assert workspace_path(root, busy).is_file()
        assert sweeper.maybe_start() is None  # not due again for 30 minutes
        release.set()
        while registry.running():
            time.sleep(0.01)
        now[0] += 31 * 60
        second = sweeper.maybe_start()
        assert second is not None
        second.join(10)
        assert sweeper.last_report.removed == (busy,)  # the job ended, so its abandoned workspace goes
    finally:
        release.set()
    assert housekeeping.Sweeper(root, CleanupConfig(ttl_hours=0), registry, lambda: None).maybe_start() is None


def test_swept_workspace_disappears_and_its_link_starts_afresh(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(TTL_ENV, "1")
    housekeeping.sweeper.clear()  # a fresh server process: reads the ttl, first sweep due at once
    try:
        a = upload(make_app(private_db, monkeypatch), "old-shop")
        token = a.session_state[state.WORKSPACE]
        root = private_db.parent
        housekeeping.sweeper.clear()
        age(root, token, 2 * 3600)  # nobody opened it for two hours
        run(make_app(private_db, monkeypatch))  # any session's run starts the due sweep
        thread = housekeeping.sweeper(str(root))._thread
        assert thread is not None
        thread.join(30)
        assert not workspace_path(root, token).exists()
        assert not any(root.joinpath(WORKSPACES_DIR).glob(f"{token}*"))  # models folder and .seen too

        link = make_app(private_db, monkeypatch)
        link.query_params["ws"] = token
        assert "old-shop" not in dataset_options(run(link))
        again = upload(link, "new-shop")  # the same link uploads into a new store (no stale cached handle)
        assert "new-shop" in dataset_options(again) and "old-shop" not in dataset_options(again)
    finally:
        housekeeping.sweeper.clear()
