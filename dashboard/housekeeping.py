"""Workspace upkeep inside the server: record that a session opened its workspace, and now and then
remove workspaces nobody opened for the configured time (engine/workspace_cleanup.py does the work).

Why here: the server is the one process that sees every visit and every running training job, so it
can both keep last-seen times current and say which workspaces are in use. The sweep runs in a
background thread at most once per `CleanupConfig.every_minutes`, so no page waits for it.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

import streamlit as st

from dashboard import resources, state
from dashboard.jobs import JobRegistry
from dashboard.workspace import is_workspace_path, root
from engine.workspace_cleanup import CleanupConfig, CleanupReport, sweep, touch

LOG = logging.getLogger(__name__)
VISIT_EVERY_S = 60.0  # a session re-records its visit at most this often


def visit(main_path: str, token: str | None, now: float | None = None) -> None:
    """Record that this session has workspace `token` open (throttled per session)."""
    if token is None:
        return
    stamp = time.time() if now is None else now
    last = st.session_state.get(state.WORKSPACE_SEEN)
    if isinstance(last, tuple) and last[0] == token and stamp - last[1] < VISIT_EVERY_S:
        return
    if touch(root(main_path), token, stamp):
        state.set_value(state.WORKSPACE_SEEN, (token, stamp))


def in_use(registry: JobRegistry) -> set[str]:
    """Tokens of the workspaces that a running training job writes to."""
    return {Path(view.db_path).stem for view in registry.running() if view.db_path and is_workspace_path(view.db_path)}


class Sweeper:
    """Starts a sweep when one is due and none is running; thread-safe, one per workspaces root."""

    def __init__(self, root_: Path, config: CleanupConfig, registry: JobRegistry, on_removed: Callable[[], None],
                 clock: Callable[[], float] = time.time) -> None:  # fmt: skip
        self.root, self.config, self.registry = root_, config, registry
        self.on_removed, self.clock = on_removed, clock
        self._lock = threading.Lock()
        self._due = 0.0
        self._thread: threading.Thread | None = None
        self.last_report: CleanupReport | None = None

    def maybe_start(self) -> threading.Thread | None:
        """The started sweep's thread, or None when it is not due, already running, or disabled."""
        if not self.config.enabled:
            return None
        with self._lock:
            now = self.clock()
            if now < self._due or (self._thread is not None and self._thread.is_alive()):
                return None
            self._due = now + self.config.every_minutes * 60.0
            self._thread = threading.Thread(target=self._run, args=(now,), name="recscope-workspace-sweep", daemon=True)
            self._thread.start()
            return self._thread

    def _run(self, now: float) -> None:
        try:
            report = sweep(self.root, self.config, now, in_use(self.registry))
        except Exception:  # noqa: BLE001 - upkeep must never take the server down; the next sweep retries
            LOG.exception("workspace cleanup failed")
            return
        self.last_report = report
        if report.removed:
            self.on_removed()


def _forget_removed() -> None:
    """Removed stores must not be served from the caches (a cached handle would skip creating the schema
    when the same link uploads again), and the dataset lists must refresh."""
    resources.store.clear()
    resources.job_registry().bump()


@st.cache_resource
def sweeper(root_: str) -> Sweeper:
    return Sweeper(Path(root_), CleanupConfig.from_env(), resources.job_registry(), _forget_removed)


def maybe_sweep(main_path: str) -> None:
    sweeper(str(root(main_path))).maybe_start()
