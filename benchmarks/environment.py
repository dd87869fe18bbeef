"""What a measurement ran on: machine, versions, code state and load, recorded beside every number.

The code state matters because several people change the engine at once: a result names the commit and
the engine files that differed from it, and the load average says how much the machine was shared.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("torch", "duckdb", "streamlit", "pandas", "numpy", "pyarrow", "plotly")


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def machine() -> dict:
    import psutil

    return {
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "cpu": cpu_model(),
        "os": f"{platform.system()} {platform.release()}",
    }


def versions() -> dict:
    found = {"python": platform.python_version()}
    for name in PACKAGES:
        try:
            found[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            found[name] = "absent"
    return found


def code_state() -> dict:
    """Commit and the engine/ files that differ from it (uncommitted work a number may depend on)."""

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True, timeout=20).stdout
        except (OSError, subprocess.SubprocessError):
            return ""

    porcelain = git("status", "--porcelain", "--", "engine").splitlines()  # "XY path": the status may start with a space
    changed = [line[3:] for line in porcelain if len(line) > 3]
    return {"commit": git("rev-parse", "--short", "HEAD").strip() or "unknown", "engine_changes": sorted(changed)}


def load_average() -> float:
    return round(os.getloadavg()[0], 2)


def snapshot(command: str) -> dict:
    """Everything a table or figure must name, taken when a section starts."""
    return {"machine": machine(), "versions": versions(), "code": code_state(), "command": command,
            "load_start": load_average()}  # fmt: skip


def describe(env: dict) -> str:
    """One line for captions: machine, versions, load, code state."""
    m, v, code = env["machine"], env["versions"], env["code"]
    dirty = f", uncommitted engine changes: {', '.join(code['engine_changes'])}" if code["engine_changes"] else ""
    load = f"load average {env.get('load_start', '?')} at start, {env.get('load_end', '?')} at end"
    return (f"{m['cores']} cores, {m['memory_gib']} GiB, {m['cpu']}; Python {v['python']}, torch {v['torch']}, "
            f"duckdb {v['duckdb']}, streamlit {v['streamlit']}; {load}; commit {code['commit']}{dirty}")  # fmt: skip


def command_line() -> str:
    """How this process was started, as a user would type it (no machine paths)."""
    args = [arg for arg in sys.argv[1:]]
    return " ".join(["python -m benchmarks", *args])
