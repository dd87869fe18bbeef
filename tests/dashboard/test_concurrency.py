"""One server, several sessions at once: a training job started from the Train page keeps running in
its thread while other AppTest sessions upload into their workspaces and browse Explore; a refused
upload and a training job that fails stay in their own session.

Real parts throughout: one DuckDB file (a copy of the trained store) and its workspaces folder, the
dashboard's own job registry and training, AppTest sessions that share the process like browser tabs
share the server. The sessions' script runs interleave with the training thread (AppTest runs one
script at a time; the training is a genuine background thread, as on the server).
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_app import assert_shows_engine_recommendations, plain
from test_upload import CSV, dataset_options, run, upload

from dashboard import resources, state
from dashboard.jobs import DONE, FAILED, RUNNING
from dashboard_fixtures import make_app
from engine.service import load_model
from engine.store import Store
from engine.workspace import WORKSPACES_DIR

BAD_CSV = Path(__file__).resolve().parents[1] / "data" / "bad_csv" / "binary_garbage.csv"
ONE_EACH = ("user,item\n" + "".join(f"u{u},i{u % 3}\n" for u in range(6))).encode()  # loads, but nothing to train on
TIMEOUT_S = 240


def start_training(at: AppTest, name: str, epochs: int) -> str:
    """Train page: a small model in the background; returns the job id this session owns."""
    run(at.switch_page("views/train.py"))
    at.number_input(key=state.TRAIN_LAYERS).set_value(0)
    at.number_input(key=state.TRAIN_HEADS).set_value(1)
    at.select_slider(key=state.TRAIN_DIM).set_value(16)
    at.number_input(key=state.TRAIN_MAX_LEN).set_value(20)
    at.number_input(key=state.TRAIN_EPOCHS).set_value(epochs)
    at.text_input(key=state.TRAIN_NAME).input(name)
    at.button(key=state.TRAIN_SUBMIT).click()
    run(at)
    job_id = at.session_state[state.TRAIN_JOB]
    assert isinstance(job_id, str), [e.value for e in at.error]
    return job_id


def wait_until_finished(job_id: str):
    registry, deadline = resources.job_registry(), time.monotonic() + TIMEOUT_S
    while (view := registry.snapshot(job_id)).is_running:
        assert time.monotonic() < deadline, f"job {job_id} still running"
        time.sleep(0.2)
    return view


def test_sessions_progress_while_a_model_trains_and_errors_stay_local(private_db: Path, models, monkeypatch: pytest.MonkeyPatch) -> None:
    shared_before = Store(private_db).list_datasets()["name"].tolist()
    registry = resources.job_registry()

    trainer = run(make_app(private_db, monkeypatch))
    job = start_training(trainer, "while-others-work", epochs=2)
    started = registry.snapshot(job)
    assert started is not None and started.status == RUNNING and started.db_path == str(private_db)

    # session 2 browses Explore; session 3 uploads; session 4's upload is refused; session 5's training fails
    explorer = make_app(private_db, monkeypatch)
    explorer.session_state[state.MODEL] = "tiny-dot"
    run(explorer)
    assert_shows_engine_recommendations(explorer, models["tiny-dot"], explorer.selectbox(key=state.USER).value)

    uploader = upload(make_app(private_db, monkeypatch), "busy-shop")
    assert {m.label: m.value for m in uploader.metric}["Accepted"] == "40"

    refused = run(make_app(private_db, monkeypatch))
    run(refused.switch_page("views/data.py"))
    refused.get_by_key(f"{state.DATA_UPLOAD_INTERACTIONS}.0").upload("garbage.csv", BAD_CSV.read_bytes(), "text/csv")
    run(refused)
    assert refused.error and not [button for button in refused.button if button.key == state.DATA_UPLOAD_LOAD]

    failing = run(make_app(private_db, monkeypatch))
    run(failing.switch_page("views/data.py"))
    failing.get_by_key(f"{state.DATA_UPLOAD_INTERACTIONS}.0").upload("one-each.csv", ONE_EACH, "text/csv")
    run(failing)
    failing.text_input(key=state.DATA_UPLOAD_NAME).input("one-each")
    run(failing)
    failing.button(key=state.DATA_UPLOAD_LOAD).click()
    run(failing)
    assert failing.selectbox(key=state.DATASET).value == "one-each"
    doomed = start_training(failing, "cannot-train", epochs=1)

    explorer.selectbox(key=state.USER).set_value("68")  # the explorer keeps working meanwhile
    run(explorer)
    assert_shows_engine_recommendations(explorer, models["tiny-dot"], "68")
    progressed = registry.snapshot(job)
    assert progressed.step > 0 or progressed.epoch > 1 or progressed.status == DONE  # training advanced meanwhile

    failed = wait_until_finished(doomed)
    assert failed.status == FAILED and "no users have a valid target" in failed.error
    run(failing)
    assert any("no users have a valid target" in plain(e.value) for e in failing.error)

    done = wait_until_finished(job)
    assert done.status == DONE and done.record.name == "while-others-work"  # the failure next door changed nothing
    run(trainer)
    assert any("while-others-work is registered" in plain(s.value) for s in trainer.success)
    assert load_model(Store(private_db), "while-others-work").record.dataset == "movielens-small"

    # every session still sees exactly its own data
    assert Store(private_db).list_datasets()["name"].tolist() == shared_before
    run(uploader)
    assert "busy-shop" in dataset_options(uploader) and "one-each" not in dataset_options(uploader)
    run(explorer)
    assert not {"busy-shop", "one-each"} & set(dataset_options(explorer))
    assert_shows_engine_recommendations(explorer, models["tiny-dot"], "68")
    run(refused)
    assert state.WORKSPACE in refused.session_state  # the refused file made a workspace token but stored nothing
    token = refused.session_state[state.WORKSPACE]
    assert not (private_db.parent / WORKSPACES_DIR / f"{token}.duckdb").exists()
    assert not Store(private_db).model_name_exists("cannot-train")
