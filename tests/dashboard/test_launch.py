"""`streamlit run dashboard/app.py` serves the st.App in app.py, whose lifespan starts the first-screen
preparation once; a page waits for it. (The browser tests run the real server through this path.)"""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path

from streamlit.web.server.app_discovery import discover_asgi_app

from dashboard import launch

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


def test_streamlit_run_finds_the_app():
    found = discover_asgi_app(APP)
    assert found.is_asgi_app and found.import_string == "app:app"


def test_lifespan_prepares_once_and_pages_wait_for_it(monkeypatch):
    release, calls = threading.Event(), []

    def prepare() -> None:
        calls.append(threading.current_thread().name)
        release.wait(10)

    monkeypatch.setattr(launch, "prepare_first_screen", prepare)
    monkeypatch.setattr(launch, "_threads", {})
    monkeypatch.setattr(launch, "open_browser_unless_headless", lambda: None)

    async def serve_twice() -> None:
        for _ in range(2):
            async with launch.lifespan(None):
                pass

    asyncio.run(serve_twice())  # the server accepts requests while the preparation runs
    waiter = threading.Thread(target=launch.wait_for_launch)
    waiter.start()
    waiter.join(0.2)
    assert waiter.is_alive()  # a page blocks until the preparation is done
    release.set()
    waiter.join(10)
    assert not waiter.is_alive() and calls == ["recscope-launch"]


def test_without_a_launch_pages_do_not_wait(monkeypatch):
    monkeypatch.setattr(launch, "_threads", {})
    launch.wait_for_launch()  # AppTest and other runners: nothing to wait for


def test_prepare_first_screen_fills_the_page_caches(private_db, monkeypatch):
    """Through the pages' own caches: the first-run model is loaded with its catalogue vectors computed."""
    from dashboard import resources

    monkeypatch.setenv("RECSCOPE_DB", str(private_db))
    launch.prepare_first_screen()
    path = resources.db_path()
    outcome = resources.first_run(path)
    record = resources.store(path).get_model(outcome.model_name)
    loaded = resources.loaded_model(path, *resources.model_key(record))
    assert loaded is resources.loaded_model(path, *resources.model_key(record))
    assert loaded.model._table_cache is not None
    assert (loaded.model._queries_cache is not None) == (not loaded.model.scorer.bilinear)  # dot: not needed


def test_a_desktop_launch_opens_the_browser_and_a_headless_one_does_not(monkeypatch):
    """streamlit run opens the browser for a plain script; for an st.App the lifespan does it."""
    from streamlit import cli_util, config
    from streamlit.web.server import server_util

    opened = []
    monkeypatch.setattr(cli_util, "open_browser", opened.append)
    monkeypatch.setattr(config, "is_manually_set", lambda key: False)
    monkeypatch.setattr(server_util, "get_url", lambda address: f"http://{address}:8501")
    for headless in (True, False):
        monkeypatch.setattr(config, "get_option", lambda key, headless=headless: headless if key == "server.headless" else None)
        launch.open_browser_unless_headless()
    assert opened == ["http://localhost:8501"]


def _prepare_in_background(monkeypatch, stored_first_screen: bool, grace_s: float) -> tuple[threading.Thread, list[str]]:
    """prepare_first_screen on a store whose first run found a model, with the steps around torch recorded."""
    from dashboard import resources
    from dashboard.bundled import FirstRun

    steps: list[str] = []
    monkeypatch.setattr(launch, "_DATA_READY", threading.Event())
    monkeypatch.setattr(launch, "_FIRST_VIEW_DRAWN", threading.Event())
    monkeypatch.setattr(launch, "FIRST_VIEW_GRACE_S", grace_s)
    monkeypatch.setattr(resources, "db_path", lambda: "unused.duckdb")
    monkeypatch.setattr(resources, "first_run", lambda path: FirstRun("movielens-small-default", needs_training=False))
    monkeypatch.setattr(launch, "_has_stored_first_screen", lambda path: stored_first_screen)
    monkeypatch.setattr(launch, "_import_model_code", lambda: steps.append("import torch"))
    monkeypatch.setattr(launch, "_load_default_model", lambda path: steps.append("load model"))
    thread = threading.Thread(target=launch.prepare_first_screen)
    thread.start()
    return thread, steps


def test_with_a_stored_first_screen_torch_waits_until_the_first_view_is_drawn(monkeypatch):
    """Why: importing torch holds the interpreter lock for ~2.5 s of CPU; the first view, drawn from the
    stored screen, must not share the lock with it."""
    thread, steps = _prepare_in_background(monkeypatch, stored_first_screen=True, grace_s=30.0)
    assert launch._DATA_READY.wait(10)
    thread.join(0.5)
    assert thread.is_alive() and steps == []  # data ready, torch held back
    launch.first_view_drawn()
    thread.join(10)
    assert not thread.is_alive() and steps == ["import torch", "load model"]


def test_without_a_view_the_launch_imports_after_the_grace_period(monkeypatch):
    thread, steps = _prepare_in_background(monkeypatch, stored_first_screen=True, grace_s=0.3)
    thread.join(10)
    assert not thread.is_alive() and steps == ["import torch", "load model"]


def test_without_a_stored_first_screen_the_launch_imports_at_once(monkeypatch):
    """A first launch has nothing to draw without the model: torch overlaps the browser's loading instead."""
    thread, steps = _prepare_in_background(monkeypatch, stored_first_screen=False, grace_s=30.0)
    thread.join(10)
    assert not thread.is_alive() and steps == ["import torch", "load model"]


def test_sessions_leave_the_imports_to_the_launch_thread(monkeypatch):
    """Under `streamlit run` a session's warm_up must not start torch's import beside the launch's data step."""
    launch_thread = threading.Thread(target=lambda: None)
    monkeypatch.setattr(launch, "_threads", {"launch": launch_thread})
    assert launch.warm_up() is launch_thread
    assert set(launch._threads) == {"launch"}
