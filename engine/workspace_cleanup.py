"""Removing abandoned private workspaces: stores (and their models) that nobody opened for a while.

Why: every upload makes a store under `<root>/workspaces/`, and links get lost, so without a sweep the
folder only grows. A session records that it opened a workspace (`touch`: the mtime of `<token>.seen`);
`sweep` removes every workspace not seen for `ttl_hours`, except those the caller says are in use (a
running training job) and those another process holds open.

How it stays safe: one lock file per workspaces folder. `touch` holds it shared, `sweep` exclusively, so
a session can never record a visit half-way through a removal. Removal first renames the store file
into `.trash/` (one atomic rename: from then on the workspace is simply absent, and an opened link
finds an empty workspace), then moves its WAL, models folder and `.seen` file after it; a sweep
interrupted in between leaves only orphans, which the next sweep removes. The clock is a parameter
(`now`, seconds since the epoch) so tests can move time instead of sleeping.
"""

from __future__ import annotations

import fcntl
import logging
import math
import os
import shutil
import time
import uuid
from collections.abc import Collection, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import duckdb

from engine.workspace import WORKSPACES_DIR, is_valid_token, workspace_path

LOG = logging.getLogger(__name__)
TTL_ENV = "RECSCOPE_WORKSPACE_TTL_HOURS"
DEFAULT_TTL_HOURS = 7 * 24.0
LOCK_FILE = ".lock"
TRASH_DIR = ".trash"
UPLOADS_DIR = "uploads"  # temporary copies of uploads (dashboard/upload.py); abandoned ones expire too
SEEN_SUFFIX = ".seen"
_BUSY_MARKERS = ("Could not set lock", "Conflicting lock")


@dataclass(frozen=True)
class CleanupConfig:
    """How long an unopened workspace is kept (hours; 0 or less keeps everything) and how often the
    dashboard sweeps (minutes)."""

    ttl_hours: float = DEFAULT_TTL_HOURS
    every_minutes: float = 60.0

    @property
    def enabled(self) -> bool:
        return self.ttl_hours > 0

    @property
    def ttl_s(self) -> float:
        return self.ttl_hours * 3600.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] = os.environ) -> CleanupConfig:
        """$RECSCOPE_WORKSPACE_TTL_HOURS, or the default (7 days) when unset or not a number."""
        raw = env.get(TTL_ENV, "").strip()
        if not raw:
            return cls()
        try:
            hours = float(raw)
        except ValueError:
            LOG.warning("%s=%r is not a number of hours; keeping workspaces for %s hours", TTL_ENV, raw, DEFAULT_TTL_HOURS)
            return cls()
        if not math.isfinite(hours):  # NaN or infinite: keep everything
            return cls(ttl_hours=0.0)
        return cls(ttl_hours=hours)


@dataclass(frozen=True)
class CleanupReport:
    """What one sweep did. Tokens are secrets: callers log the counts, not these tuples."""

    removed: tuple[str, ...] = ()
    in_use: tuple[str, ...] = ()  # expired but kept: in use here or held by another process
    uploads_removed: int = 0
    orphans_removed: int = 0


def folder(root: Path) -> Path:
    return Path(root) / WORKSPACES_DIR


def seen_path(root: Path, token: str) -> Path:
    return workspace_path(root, token).with_suffix(SEEN_SUFFIX)


def models_path(root: Path, token: str) -> Path:
    """Where engine.store.Store keeps this workspace's checkpoints (`<stem>_models/` beside the file)."""
    db = workspace_path(root, token)
    return db.parent / f"{db.stem}_models"


@contextmanager
def _locked(root: Path, exclusive: bool) -> Iterator[None]:
    """The workspaces folder's lock: shared for visits, exclusive for a sweep (blocks until granted)."""
    path = folder(root)
    path.mkdir(parents=True, exist_ok=True)
    with open(path / LOCK_FILE, "a+b") as handle:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        try:
            yield
        finally:
            fcntl.flock(handle.fileno(), fcntl.LOCK_UN)


def touch(root: Path, token: str, now: float | None = None) -> bool:
    """Record that a session opened workspace `token` (at `now`, default the real clock).

    Returns False, and records nothing, when the workspace has no store (never uploaded to, or removed)."""
    stamp = time.time() if now is None else now
    with _locked(root, exclusive=False):
        if not workspace_path(root, token).is_file():
            return False
        seen = seen_path(root, token)
        seen.touch(exist_ok=True)
        os.utime(seen, (stamp, stamp))
    return True


def last_seen(root: Path, token: str) -> float | None:
    """When the workspace was last opened: its `.seen` mtime, else (workspaces older than this module)
    the store file's mtime; None when there is no store."""
    db = workspace_path(root, token)
    try:
        return seen_path(root, token).stat().st_mtime
    except FileNotFoundError:
        pass
    try:
        return db.stat().st_mtime
    except FileNotFoundError:
        return None


def tokens(root: Path) -> list[str]:
    """Tokens of the workspace stores in the folder (other files are ignored)."""
    base = folder(root)
    if not base.is_dir():
        return []
    return sorted(path.stem for path in base.glob("*.duckdb") if is_valid_token(path.stem) and path.is_file())


def sweep(root: Path, config: CleanupConfig, now: float, in_use: Collection[str] = ()) -> CleanupReport:
    """Remove every workspace not seen since `now - ttl`, with its models; never one in `in_use` or
    open in another process. Also removes upload copies older than the ttl and leftovers of an
    interrupted sweep. A disabled config removes nothing."""
    if not config.enabled or not folder(root).is_dir():
        return CleanupReport()
    cutoff = now - config.ttl_s
    removed, kept = [], []
    with _locked(root, exclusive=True):
        orphans = _empty_trash(root)
        for token in tokens(root):
            seen = last_seen(root, token)
            if seen is None or seen >= cutoff:
                continue
            if token in in_use or _held_elsewhere(workspace_path(root, token)):
                kept.append(token)
                continue
            _remove(root, token)
            removed.append(token)
        orphans += _remove_orphans(root)
        uploads = _expire_uploads(root, cutoff)
    if removed or uploads or orphans:
        LOG.info("workspace cleanup: %d workspace(s), %d upload copies, %d leftovers removed", len(removed), uploads, orphans)
    return CleanupReport(tuple(removed), tuple(kept), uploads, orphans)


def _held_elsewhere(db: Path) -> bool:
    """True when another process has the store open (DuckDB refuses a second process's connection)."""
    try:
        duckdb.connect(str(db)).close()
    except duckdb.Error as error:
        return any(marker in str(error) for marker in _BUSY_MARKERS)
    return False


def _remove(root: Path, token: str) -> None:
    """Rename the store into the trash (the atomic step), then its WAL, models and `.seen`; delete."""
    db = workspace_path(root, token)
    bin_ = folder(root) / TRASH_DIR / uuid.uuid4().hex
    bin_.mkdir(parents=True)
    os.replace(db, bin_ / "store.duckdb")
    for source, target in ((db.with_name(db.name + ".wal"), "store.duckdb.wal"), (models_path(root, token), "models"),
                           (seen_path(root, token), "seen")):  # fmt: skip
        if source.exists():
            os.replace(source, bin_ / target)
    shutil.rmtree(bin_, ignore_errors=True)


def _empty_trash(root: Path) -> int:
    trash = folder(root) / TRASH_DIR
    if not trash.is_dir():
        return 0
    leftovers = list(trash.iterdir())
    for path in leftovers:
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
    return len(leftovers)


def _remove_orphans(root: Path) -> int:
    """WAL files, models folders and `.seen` files whose store is gone (an interrupted removal)."""
    count = 0
    for path in folder(root).iterdir():
        name = path.name
        if name.endswith(".duckdb.wal"):
            token = name[: -len(".duckdb.wal")]
        elif name.endswith("_models"):
            token = name[: -len("_models")]
        elif name.endswith(SEEN_SUFFIX):
            token = name[: -len(SEEN_SUFFIX)]
        else:
            continue
        if not is_valid_token(token) or workspace_path(root, token).exists():
            continue
        shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink(missing_ok=True)
        count += 1
    return count


def _expire_uploads(root: Path, cutoff: float) -> int:
    """Upload copies last written before `cutoff` (a session left before loading them)."""
    uploads = folder(root) / UPLOADS_DIR
    if not uploads.is_dir():
        return 0
    count = 0
    for path in uploads.iterdir():
        if path.is_file() and path.stat().st_mtime < cutoff:
            path.unlink(missing_ok=True)
            count += 1
    return count
