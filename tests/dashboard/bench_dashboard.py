"""Dashboard speed and memory on a trained model (issue 3's targets). Not a test; run it by hand:

    python tests/dashboard/bench_dashboard.py --db data/recscope.duckdb --model movielens-small-default

1. engine: recommend + explain one user (explain_user, k=10), median and p95 over many users;
2. server time of a rerun after switching the user or the selected item: the app's own per-run timing
   (RECSCOPE_TIMINGS=1) read from its log while AppTest drives the widgets;
3. cold start: `streamlit run` launched, then headless chromium opens it; time until the Explore page shows
   the "Why #1" explanation, and the server's memory (RSS) afterwards.
Prints a Markdown table for docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import socket
import statistics
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))


def percentiles(values: list[float]) -> str:
    ordered = sorted(values)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"median {statistics.median(ordered):.0f} ms, p95 {p95:.0f} ms, max {ordered[-1]:.0f} ms (n={len(ordered)})"


def bench_engine(db: Path, model: str, n_users: int) -> str:
    import torch

    from engine.explain import explain_user
    from engine.service import load_model
    from engine.store import Store

    torch.set_num_threads(1)
    loaded = load_model(Store(db, read_only=True), model)
    users = [str(u) for u in loaded.data.users.raw_ids[1 : n_users + 1]]
    explain_user(loaded.model, loaded.data, users[0], 10)  # warm-up
    times, cpu = [], []
    for user in users:
        started, cpu_started = time.perf_counter(), time.thread_time()
        explain_user(loaded.model, loaded.data, user, 10)
        times.append((time.perf_counter() - started) * 1000)
        cpu.append((time.thread_time() - cpu_started) * 1000)
    return f"wall {percentiles(times)}; cpu {percentiles(cpu)}"


class RunTimes(logging.Handler):
    """Collects the app's own 'script run app: <wall> ms wall, <cpu> ms cpu' lines."""

    def __init__(self) -> None:
        super().__init__()
        self.times: list[float] = []
        self.cpu: list[float] = []

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if message.startswith("script run app:"):
            wall, cpu = message.split(": ", 1)[1].split(", ")
            self.times.append(float(wall.split()[0]))
            self.cpu.append(float(cpu.split()[0]))


def bench_reruns(db: Path, model: str, n_users: int) -> tuple[str, str]:
    from streamlit.testing.v1 import AppTest

    os.environ["RECSCOPE_DB"], os.environ["RECSCOPE_TIMINGS"] = str(db), "1"
    handler = RunTimes()
    logging.getLogger("recscope.dashboard").addHandler(handler)
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=300)
    at.session_state["sidebar.model"] = model
    at.run()
    users = [option.split(" · ")[0] for option in at.selectbox(key="sidebar.user").options[1 : n_users + 1]]
    handler.times.clear(), handler.cpu.clear()
    for user in users:
        at.selectbox(key="sidebar.user").set_value(user).run()
    user_times = f"wall {percentiles(handler.times)}; cpu {percentiles(handler.cpu)}"
    handler.times.clear(), handler.cpu.clear()
    for index in range(1, len(at.selectbox(key="explore.item").options)):
        at.selectbox(key="explore.item").select_index(index).run()  # AppTest reruns the whole page, not just the fragment
    return user_times, f"wall {percentiles(handler.times)}; cpu {percentiles(handler.cpu)}"


RETURNING_LAUNCHES = 3


def bench_cold_start(db: Path, model: str) -> str:
    """Launches on the same store: the first finds the model but no stored first screen (it writes one,
    dashboard/first_screen.py); the next RETURNING_LAUNCHES are cold starts with an existing model as a
    returning user has them, reported by the median launch (the first "(... s after launch)") and all."""
    first, _ = _launch_once(db, model)
    again = sorted((_launch_once(db, model) for _ in range(RETURNING_LAUNCHES)), key=lambda launch: launch[1])
    median, _ = again[len(again) // 2]
    every = " / ".join(f"{useful_s:.1f}" for _, useful_s in again)
    return (f"{median}; returning launches: median of {len(again)}, first useful screen {every} s after launch; "
            f"first launch on this store (no stored first screen yet): {first}")  # fmt: skip


USEFUL_LIST = '[data-testid="stMarkdownContainer"] table td, [data-testid="stDataFrame"] canvas'


def _launch_once(db: Path, model: str) -> tuple[str, float]:
    """The browser is started (and a blank tab opened) before the server, so "after launch" counts the
    server's start and the page, not Chromium's own start-up; the tab asks as soon as the server is healthy.
    Returns the launch's line and its seconds from launch to the first useful screen."""
    import psutil
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    if chromium is None:
        return "skipped: chromium is not on PATH", float("inf")
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "RECSCOPE_DB": str(db)}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--headless", "--no-sandbox", "--disable-gpu"])
        tab = browser.new_page()
        started = time.perf_counter()
        server = subprocess.Popen([sys.executable, "-m", "streamlit", "run", "dashboard/app.py", "--server.headless", "true",
                                   "--server.port", str(port), "--server.fileWatcherType", "none"],
                                  cwd=ROOT, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
        try:
            while True:
                try:
                    urllib.request.urlopen(f"http://127.0.0.1:{port}/_stcore/health", timeout=1)
                    break
                except OSError:
                    time.sleep(0.1)
            healthy = opened = time.perf_counter()
            tab.goto(f"http://127.0.0.1:{port}/?model={model}")
            # useful: the list drawn (a Markdown table from the stored first screen, or the live data grid's
            # canvas) and "Why #1" under it; then the live page (on the loaded model) with its first Plotly chart
            tab.locator(USEFUL_LIST).first.wait_for(timeout=300_000)
            tab.locator("h3", has_text="Why #1").wait_for(timeout=300_000)
            useful = time.perf_counter()
            tab.get_by_text("How this score was computed").first.wait_for(timeout=300_000)  # only on the live page
            tab.locator(".js-plotly-plot .main-svg").first.wait_for(timeout=300_000)
            charted = time.perf_counter()
            process = psutil.Process(server.pid)
            rss = process.memory_info().rss + sum(child.memory_info().rss for child in process.children(recursive=True))
        finally:
            browser.close()
            server.terminate()
            server.wait(timeout=20)
    line = (f"server healthy {healthy - started:.1f} s after launch; Explore with an explanation {useful - opened:.1f} s after the "
            f"browser asked ({useful - started:.1f} s after launch); the live page with its charts {charted - started:.1f} s after launch; "
            f"server RSS {rss / 2**30:.2f} GiB")  # fmt: skip
    return line, useful - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--db", type=Path, default=ROOT / "data" / "recscope.duckdb")
    parser.add_argument("--model", required=True)
    parser.add_argument("--users", type=int, default=50)
    args = parser.parse_args()
    db = args.db.resolve()
    cold = bench_cold_start(db, args.model)  # first, while nothing is cached in this process
    engine = bench_engine(db, args.model, args.users)
    user_switch, item_switch = bench_reruns(db, args.model, min(args.users, 20))
    print(f"| measure | result |\n|---|---|\n| recommend + explain one user (engine, k=10) | {engine} |\n"
          f"| rerun after switching the user (server script time) | {user_switch} |\n"
          f"| rerun after switching the selected item (server script time) | {item_switch} |\n| cold start | {cold} |")  # fmt: skip


if __name__ == "__main__":
    main()
