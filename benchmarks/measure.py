"""Timing and memory helpers: percentiles, a child process per measured stage, and a peak-RSS meter.

Each expensive stage runs in its own process (`python -m benchmarks.child STAGE ARGS`), so its peak
memory is its own (getrusage ru_maxrss, exact) and one stage's leftovers never inflate the next.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import time
from contextlib import contextmanager
from typing import Iterator

from benchmarks.environment import ROOT

RESULT_MARK = "BENCHMARK-RESULT "


def summarise_ms(values_s: list[float]) -> dict:
    """p50, p95, max and n of durations given in seconds, in milliseconds."""
    ordered = sorted(v * 1000 for v in values_s)
    if not ordered:
        return {"n": 0}
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return {"p50": statistics.median(ordered), "p95": p95, "max": ordered[-1], "n": len(ordered)}


def median(values: list[float]) -> float:
    return float(statistics.median(values))


def timed(function, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    value = function(*args, **kwargs)
    return time.perf_counter() - started, value


class ChildFailed(RuntimeError):
    """A measured stage crashed, ran out of time or printed no result."""


def run_child(stage: str, args: dict, timeout_s: float = 3600) -> dict:
    """Run benchmarks.child STAGE in a fresh interpreter and return its JSON result (with peak_rss_mib)."""
    command = [sys.executable, "-m", "benchmarks.child", stage, json.dumps(args)]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        raise ChildFailed(f"{stage} took longer than {timeout_s:.0f} s") from None
    lines = [line for line in done.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if done.returncode != 0 or not lines:
        tail = (done.stderr or done.stdout).strip().splitlines()[-5:]
        raise ChildFailed(f"{stage} failed (exit {done.returncode}): {' | '.join(tail)}")
    return json.loads(lines[-1][len(RESULT_MARK) :])


def peak_rss_mib() -> float:
    """Peak resident memory of this process so far (Linux reports kilobytes)."""
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


class PeakMeter:
    """Polls this process's RSS every `interval_s` and keeps the peak per named stage.

    Polling can miss a spike shorter than the interval; the process-wide ru_maxrss does not, so
    reports give both."""

    def __init__(self, interval_s: float = 0.02) -> None:
        import psutil

        self._process = psutil.Process()
        self._interval_s = interval_s
        self._current: str | None = None
        self.peaks_mib: dict[str, float] = {}
        self._running = True
        self._thread = threading.Thread(target=self._poll, daemon=True)
        self._thread.start()

    def _sample(self) -> None:
        name = self._current
        if name is not None:
            rss = self._process.memory_info().rss / 2**20
            self.peaks_mib[name] = max(self.peaks_mib.get(name, 0.0), rss)

    def _poll(self) -> None:
        while self._running:
            self._sample()
            time.sleep(self._interval_s)

    @contextmanager
    def stage(self, name: str) -> Iterator[None]:
        self._current = name
        self._sample()
        try:
            yield
        finally:
            self._sample()
            self._current = None

    def stop(self) -> dict[str, float]:
        self._running = False
        self._thread.join(timeout=1)
        return {name: round(value, 1) for name, value in self.peaks_mib.items()}
