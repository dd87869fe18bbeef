"""What the server does once, in the background: import torch and the model code, and at launch also
give the bundled sample its model and load it, so the first page view finds them ready.

Why: the server is idle between launch and the first browser request, while a cold first page view spent
~2.3 s CPU importing torch plus ~1 s reading the dataset and the model, on a process whose threads share
one interpreter lock (so overlapping them with the page's own work saved little). `streamlit run
dashboard/app.py` finds the st.App in app.py and runs `lifespan` at launch; every session still calls
`warm_up()` (imports only), which is what AppTest and any other runner get.
"""

from __future__ import annotations

import importlib
import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

LOG = logging.getLogger(__name__)
MODEL_MODULES = ("engine.service", "engine.explain", "engine.faithfulness_report")
_LOCK = threading.Lock()
_threads: dict[str, threading.Thread] = {}
_DATA_READY = threading.Event()  # set by the launch thread once the store and the sample are read
_FIRST_VIEW_DRAWN = threading.Event()  # set by a page once it has drawn what it can without the model
# how long the launch holds torch's import back for a first page view that can be drawn from a stored
# first screen; after that it imports anyway, so a server nobody has opened yet still gets ready
FIRST_VIEW_GRACE_S = 15.0


def warm_up() -> threading.Thread:
    """Once per process: import the model code in a background thread. Under `streamlit run` the launch
    thread does the imports, at the moment it chooses (see prepare_first_screen), so this starts nothing."""
    return _launch_thread() or _once("imports", _import_model_code)


def first_view_drawn() -> None:
    """A page calls this once it has drawn all it can without the model (before it waits for the launch):
    the launch may now import torch, which would otherwise slow that drawing by holding the interpreter lock."""
    _FIRST_VIEW_DRAWN.set()


def wait_for_launch() -> None:
    """Block until the launch preparation (if any) has finished: the page needs its results anyway, and
    two threads opening and closing one DuckDB file at once can collide ("Unique file handle conflict")."""
    thread = _launch_thread()
    if thread is not None:
        thread.join()


def wait_for_data() -> None:
    """Block until the launch has opened the store and read the sample (not the model): enough for the
    sidebar and for a first screen from stored results (dashboard/first_screen.py)."""
    if _launch_thread() is not None:
        _DATA_READY.wait()


def model_pending() -> bool:
    """Whether the launch is still importing torch or loading the model."""
    thread = _launch_thread()
    return thread is not None and thread.is_alive()


def _launch_thread() -> threading.Thread | None:
    with _LOCK:
        return _threads.get("launch")


def _import_model_code() -> None:
    for module in MODEL_MODULES:
        importlib.import_module(module)


def _once(name: str, target) -> threading.Thread:
    with _LOCK:
        thread = _threads.get(name)
        if thread is None:
            thread = _threads[name] = threading.Thread(target=target, name=f"recscope-{name}", daemon=True)
            thread.start()
        return thread


def prepare_first_screen() -> None:
    """The sample's store and first-run model, then torch and the sidebar's default model loaded with the
    catalogue vectors computed and the default user's explanation, through the same caches the pages use.
    The data comes first so a page can draw from stored results while torch imports; the explanation is
    stored beside the checkpoint for the next launch's first screen. A failure is only logged: the first
    page view repeats the step and shows the error."""
    logging.getLogger(SCRIPT_CONTEXT_LOGGER).addFilter(_quiet_launch_thread)
    try:
        from dashboard import components  # logs this thread's wall and CPU time when RECSCOPE_TIMINGS=1
        from dashboard import resources

        with components.timed("launch data"):
            path = resources.db_path()
            outcome = resources.first_run(path)
        _DATA_READY.set()
        if outcome.model_name is None:
            return
        if _has_stored_first_screen(path):
            with components.timed("launch waits for the first view"):
                _FIRST_VIEW_DRAWN.wait(FIRST_VIEW_GRACE_S)
        with components.timed("launch imports"):
            _import_model_code()
        with components.timed("launch first screen"):
            _load_default_model(path)
    except Exception:  # noqa: BLE001 - any problem surfaces again, with its message, on the page
        LOG.warning("preparing the first screen at launch failed; the first page view will retry", exc_info=True)
    finally:
        _DATA_READY.set()


def _has_stored_first_screen(path: str) -> bool:
    """Whether the sidebar's default model has a first screen stored beside it (dashboard/first_screen.py),
    so that a first page view can draw without torch. Its key is checked by the page, not here: a stale
    record only means the page finds nothing to draw and asks for the model at once."""
    from dashboard import components, first_screen, resources
    from engine.movielens import SAMPLE_NAME

    record = components.default_model(resources.models(path, SAMPLE_NAME, resources.job_registry().generation))
    return record is not None and first_screen.snapshot_path(resources.store(path).model_path(record)).exists()


def _load_default_model(path: str) -> None:
    import torch

    from dashboard import components, first_screen, resources
    from dashboard.explore import DEFAULT_K
    from engine.movielens import SAMPLE_NAME

    handle = resources.store(path)
    info = handle.dataset_info(SAMPLE_NAME)
    record = components.default_model(resources.models(path, SAMPLE_NAME, resources.job_registry().generation))
    if record is None:
        return
    with torch.no_grad():  # the caches every first ranking fills (item table; additive: projected queries)
        resources.loaded_model(path, *resources.model_key(record)).model.warm_scoring_caches()
    suggestions = resources.user_suggestions(path, SAMPLE_NAME, info.fingerprint)
    if not suggestions:
        return
    user_id, stem = suggestions[0].user_id, handle.model_path(record)
    explanation = resources.explanation(path, *resources.model_key(record), user_id, DEFAULT_K)
    key = first_screen.checkpoint_key(stem, user_id, DEFAULT_K)
    if key is not None and first_screen.read(stem, key) is None:
        first_screen.write(stem, key, explanation)


SCRIPT_CONTEXT_LOGGER = "streamlit.runtime.scriptrunner_utils.script_run_context"


def _quiet_launch_thread(record: logging.LogRecord) -> bool:
    """Drop 'missing ScriptRunContext' from the launch thread: its cache spinners have no page to show on."""
    return not (record.threadName == "recscope-launch" and "missing ScriptRunContext" in record.getMessage())


def open_browser_unless_headless() -> None:
    """What `streamlit run` does for a plain script and skips for an st.App: open the app in a browser
    on a desktop (not headless). Mirrors streamlit.web.bootstrap's maybe_open_browser (1.67)."""
    from streamlit import cli_util, config
    from streamlit.web.server import server_address_is_unix_socket, server_util

    if config.get_option("server.headless"):
        return
    if config.is_manually_set("browser.serverAddress"):
        address = config.get_option("browser.serverAddress")
    elif config.is_manually_set("server.address"):
        if server_address_is_unix_socket():
            return
        address = server_util.get_display_address(config.get_option("server.address"))
    else:
        address = "localhost"
    cli_util.open_browser(server_util.get_url(address))


@asynccontextmanager
async def lifespan(_app: object) -> AsyncIterator[None]:
    """st.App lifespan: start preparing at launch; the server accepts requests meanwhile."""
    _once("launch", prepare_first_screen)
    open_browser_unless_headless()
    yield
