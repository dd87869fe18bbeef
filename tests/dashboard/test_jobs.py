"""The job registry runs training outside the script run: progress, cancel, failure, success, limits."""

from __future__ import annotations

import threading
import time
from pathlib import Path

import pytest

from dashboard.jobs import CANCELLED, DONE, FAILED, RUNNING, JobRefused, JobRegistry
from engine.config import ModelConfig, TrainConfig
from engine.registry import ModelRecord
from engine.service import ServiceError
from engine.train import Progress, TrainingCancelled

CONFIGS = (ModelConfig(), TrainConfig(epochs=2))


def wait_for(registry: JobRegistry, job_id: str, status: str, timeout_s: float = 10.0):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        view = registry.snapshot(job_id)
        if view is not None and view.status == status:
            return view
        time.sleep(0.01)
    raise AssertionError(f"job {job_id} did not reach {status}; it is {registry.snapshot(job_id)}")


def scripted_train(release: threading.Event, outcome: str):
    """A stand-in for train_and_register: reports progress, then waits for `release` or a stop request."""

    def train(store, dataset, model_config, train_config, name, on_progress, should_stop, data):
        on_progress(Progress(1, 1, 2, 5.0, None, 0.1))
        on_progress(Progress(1, 2, 2, 4.0, {"ndcg@10": 0.05, "hr@10": 0.1}, 0.2))
        while not release.wait(0.01):
            if should_stop():
                raise TrainingCancelled("cancelled")
        if outcome == "fail":
            raise ServiceError("the dataset changed while training")
        if outcome == "crash":
            raise RuntimeError("boom")
        return ModelRecord(name=name, dataset=dataset, scorer="dot", path="x", metrics={"test": {"ndcg@10": 0.1}})

    return train


def start(registry: JobRegistry, owner: str, train, name: str = "m") -> str:
    return registry.start(owner, Path("unused.duckdb"), "data", *CONFIGS, name, train_fn=train)


def test_progress_is_visible_while_running_and_success_registers() -> None:
    registry, release = JobRegistry(), threading.Event()
    job_id = start(registry, "alice", scripted_train(release, "ok"))
    deadline = time.monotonic() + 5
    while not (view := registry.snapshot(job_id)).validations and time.monotonic() < deadline:
        time.sleep(0.01)
    assert view.status == RUNNING and view.epoch == 1 and view.step == 2 and view.loss == 4.0
    assert view.steps == ((0.5, 5.0), (1.0, 4.0)) and view.validations[0]["ndcg@10"] == 0.05
    assert view.fraction == pytest.approx(0.5)  # 2 of 2 x 2 planned steps
    generation = registry.generation
    release.set()
    done = wait_for(registry, job_id, DONE)
    assert done.record.name == "m" and done.fraction == 1.0 and registry.generation == generation + 1


def test_cancel_stops_the_run_and_only_the_owner_may_cancel() -> None:
    registry, release = JobRegistry(), threading.Event()
    job_id = start(registry, "alice", scripted_train(release, "ok"))
    assert not registry.cancel(job_id, "mallory")
    assert registry.cancel(job_id, "alice")
    view = wait_for(registry, job_id, CANCELLED)
    assert view.record is None and "cancelled" in view.error


@pytest.mark.parametrize(("outcome", "message"), [("fail", "the dataset changed while training"), ("crash", "unexpected error (RuntimeError: boom)")])
def test_failures_end_as_a_message(outcome: str, message: str) -> None:
    registry, release = JobRegistry(), threading.Event()
    release.set()
    generation = registry.generation
    view = wait_for(registry, start(registry, "alice", scripted_train(release, outcome)), FAILED)
    assert message in view.error and view.record is None and registry.generation == generation


def test_one_run_per_owner_and_a_server_wide_limit() -> None:
    registry, release = JobRegistry(max_running=2), threading.Event()
    try:
        first = start(registry, "alice", scripted_train(release, "ok"))
        with pytest.raises(JobRefused, match="this session"):
            start(registry, "alice", scripted_train(release, "ok"))
        start(registry, "bob", scripted_train(release, "ok"))
        with pytest.raises(JobRefused, match="already running"):
            start(registry, "carol", scripted_train(release, "ok"))
        assert {view.owner for view in registry.running()} == {"alice", "bob"}
        assert registry.latest("alice").job_id == first and registry.latest("nobody") is None
    finally:
        release.set()
