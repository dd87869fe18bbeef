"""Ingest throughput and peak memory on a synthetic interactions CSV, against pandas.read_csv of the same file.

    python benchmarks/ingest_throughput.py [N_ROWS] [--keep FILE] [--skip-baseline]

Writes a seeded CSV of N_ROWS rows (default 5,000,000: user_id, item_id, timestamp, rating; about 22
bytes a row, so 1 GB is about 48 M rows), ingests it into a fresh store in a child process and reports
rows/s, CPU seconds and that process's peak RSS; then does the same for pandas.read_csv (the baseline,
which only parses: no validation, no database). Each measurement runs in its own process, so peak RSS
is its own. The load average is printed too: on a shared machine, wall-clock rows/s mostly measures the
neighbours, and CPU seconds say more about the code.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK_ROWS = 1_000_000


def write_csv(path: Path, n_rows: int, seed: int = 0) -> None:
    """Seeded synthetic interactions: Zipf-ish users and items, increasing timestamps, ratings 0.5-5."""
    import numpy as np

    rng = np.random.default_rng(seed)
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("user_id,item_id,timestamp,rating\n")
        start = 1_500_000_000
        for first in range(0, n_rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, n_rows - first)
            users = rng.zipf(1.3, n) % 200_000
            items = rng.zipf(1.2, n) % 100_000
            stamps = start + first + np.arange(n)
            ratings = rng.integers(1, 11, n) / 2
            lines = [f"u{u},i{i},{t},{r:g}\n" for u, i, t, r in zip(users, items, stamps, ratings)]
            handle.write("".join(lines))


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def measure_ingest(csv_path: Path, db_path: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from engine.ingest import ingest_files
    from engine.store import Store

    start, cpu = time.perf_counter(), time.process_time()
    report = ingest_files(Store(db_path), "bench", csv_path)
    seconds = time.perf_counter() - start
    return {"rows": report.interactions_accepted, "seconds": seconds, "cpu_s": time.process_time() - cpu,
            "peak_rss_mib": _peak_rss_mib()}  # fmt: skip


def measure_pandas(csv_path: Path) -> dict:
    import pandas as pd

    start, cpu = time.perf_counter(), time.process_time()
    frame = pd.read_csv(csv_path)
    seconds = time.perf_counter() - start
    return {"rows": len(frame), "seconds": seconds, "cpu_s": time.process_time() - cpu, "peak_rss_mib": _peak_rss_mib()}


def _in_child(kind: str, csv_path: Path, db_path: Path) -> dict:
    command = [sys.executable, __file__, "--child", kind, str(csv_path), str(db_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_rows", nargs="?", type=int, default=5_000_000)
    parser.add_argument("--keep", type=Path, help="write the CSV here and keep it (reused if it exists)")
    parser.add_argument("--skip-baseline", action="store_true", help="do not run pandas.read_csv")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, csv_path, db_path = args.child
        result = measure_ingest(Path(csv_path), Path(db_path)) if kind == "ingest" else measure_pandas(Path(csv_path))
        print(json.dumps(result))
        return
    with tempfile.TemporaryDirectory(prefix="recscope-bench-") as folder:
        csv_path = args.keep or Path(folder) / "interactions.csv"
        if not csv_path.exists():
            write_csv(csv_path, args.n_rows)
        size_mib = os.path.getsize(csv_path) / 2**20
        print(f"file: {csv_path.name}, {args.n_rows:,} rows, {size_mib:,.0f} MiB; "
              f"{os.cpu_count()} cores, load average {os.getloadavg()[0]:.1f}")  # fmt: skip
        ingest = _in_child("ingest", csv_path, Path(folder) / "bench.duckdb")
        _print("ingest_files", ingest)
        if not args.skip_baseline:
            base = _in_child("pandas", csv_path, Path(folder) / "unused")
            _print("pandas.read_csv", base)
            print(f"ratio: ingest_files takes {ingest['seconds'] / base['seconds']:.1f}x the wall time of "
                  f"pandas.read_csv ({ingest['cpu_s'] / base['cpu_s']:.1f}x its CPU time)")  # fmt: skip


def _print(label: str, result: dict) -> None:
    print(f"{label:16s} {result['rows'] / result['seconds']:>11,.0f} rows/s  {result['seconds']:7.1f} s wall  "
          f"{result['cpu_s']:7.1f} s CPU  peak RSS {result['peak_rss_mib']:,.0f} MiB")  # fmt: skip


if __name__ == "__main__":
    main()
