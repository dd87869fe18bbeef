"""An ingest killed with SIGKILL mid-way leaves the store as it was: openable, old datasets intact, no part
of the new one. Killed twice: while DuckDB reads the CSV into the store's interactions table (inside the
write transaction), and after the interaction rows were inserted but before the commit.

The child process announces each point on stdout (a wrapper around the engine function, added by the
child only), so the kill lands exactly there rather than after a guessed delay.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from engine.ingest import ingest_files
from engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
N_ROWS = 2_000_000
CHILD = """
import sys, time
sys.path.insert(0, {root!r})
from engine import ingest
from engine.store import Store

point = {point!r}
insert = ingest.insert_csv_rows
def announced_insert(*args, **kwargs):
    if point == "reading":
        print("reading", flush=True)
    result = insert(*args, **kwargs)
    if point == "inserted":
        print("inserted", result.kept, flush=True)
        time.sleep(60)
    return result
ingest.insert_csv_rows = announced_insert
ingest.ingest_files(Store({db!r}), "big", {csv!r}, replace=True)
print("finished", flush=True)
"""


@pytest.fixture(scope="module")
def big_csv(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("kill") / "big.csv"
    rng = np.random.default_rng(3)
    with open(path, "w", encoding="utf-8") as handle:
        handle.write("user_id,item_id,timestamp,rating\n")
        for start in range(0, N_ROWS, 500_000):
            users, items = rng.integers(0, 50_000, 500_000), rng.integers(0, 20_000, 500_000)
            handle.write("".join(f"u{u},i{i},{1_600_000_000 + start + k},4\n" for k, (u, i) in enumerate(zip(users, items))))
    return path


def _kill_at(point: str, db: Path, csv_path: Path, delay_s: float) -> str:
    script = CHILD.format(root=str(ROOT), point=point, db=str(db), csv=str(csv_path))
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        line = child.stdout.readline().strip()
        time.sleep(delay_s)
        assert child.poll() is None, "the ingest finished before it could be killed"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.wait(timeout=60)
        child.stdout.close()
    assert child.returncode == -signal.SIGKILL
    return line


@pytest.mark.parametrize(("point", "delay_s"), [("reading", 0.5), ("inserted", 0.0)])
def test_sigkill_mid_ingest_leaves_the_store_intact(point: str, delay_s: float, big_csv: Path, tmp_path: Path) -> None:
    db = tmp_path / "store.duckdb"
    small = tmp_path / "small.csv"
    small.write_text("user,item\nu1,i1\nu1,i2\nu2,i1\n", encoding="utf-8")
    store = Store(db)
    ingest_files(store, "small", small)
    ingest_files(store, "big", small)  # the killed ingest replaces this one
    before = store.list_datasets()

    announced = _kill_at(point, db, big_csv, delay_s)
    assert announced.startswith(point)
    if point == "inserted":
        assert announced == f"inserted {N_ROWS}"  # the rows were in the file, uncommitted, when the process died

    reopened = Store(db)
    assert reopened.list_datasets().equals(before)
    assert reopened.load_interactions("small")["item_id"].tolist() == ["i1", "i2", "i1"]
    assert reopened.load_interactions("big")["user_id"].tolist() == ["u1", "u1", "u2"]
    with reopened.connect() as con:
        (count,) = con.execute("SELECT count(*) FROM interactions").fetchone()
    assert count == 6
    report = ingest_files(reopened, "after", small)  # and it still takes writes
    assert report.interactions_accepted == 3
