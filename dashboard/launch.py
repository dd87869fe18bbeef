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


def warm_up() -> threading.Thread:
    """Once per process: import the model code in a background thread."""
    return _once("imports", _import_model_code)


def wait_for_launch() -> None:
    """Block until the launch preparation (if any) has finished: the page needs its results anyway, and
    two threads opening and closing one DuckDB file at once can collide ("Unique file handle conflict")."""
    with _LOCK:
        thread = _threads.get("launch")
    if thread is not None:
        thread.join()


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
    """The sample's store, first-run model and its loaded form with the catalogue vectors computed,
    through the same caches the pages use. A failure is only logged: the first page view repeats the
    step and shows the error."""
    logging.getLogger(SCRIPT_CONTEXT_LOGGER).addFilter(_quiet_launch_thread)
    try:
        from dashboard import components  # logs this thread's wall and CPU time when RECSCOPE_TIMINGS=1

        with components.timed("launch imports"):
            _import_model_code()
        import torch

        from dashboard import resources

        with components.timed("launch first screen"):
            path = resources.db_path()
            outcome = resources.first_run(path)
            if outcome.model_name is not None:
                record = resources.store(path).get_model(outcome.model_name)
                with torch.no_grad():  # the item table + queries cache every first ranking fills (~0.17 s CPU)
                    resources.loaded_model(path, *resources.model_key(record)).model.catalogue_queries()
    except Exception:  # noqa: BLE001 - any problem surfaces again, with its message, on the page
        LOG.warning("preparing the first screen at launch failed; the first page view will retry", exc_info=True)


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
