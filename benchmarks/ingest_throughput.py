"""Ingest throughput and peak memory on synthetic interactions CSVs, against DuckDB reading the same file raw.

    python benchmarks/ingest_throughput.py [N_ROWS ...] [--gb SIZE] [--wide] [--repeats N]
                                           [--baseline duckdb|pandas|both|none] [--keep FILE] [--json]

For each size, writes a seeded CSV (user_id, item_id, timestamp, rating; default 5,000,000 rows), ingests
it into a fresh store `--repeats` times and reads it with the baseline as often, each run in its own
process (so peak RSS, getrusage ru_maxrss of the whole process, is its own), and prints medians of wall
time, CPU time (all threads) and rows/s, plus the ratio to the baseline measured in the same run.

The default baseline is DuckDB's read_csv of the same file into a table of a fresh database file, with
explicit column types and no validation: what ingest would cost if it only parsed and stored (issue 4
asks to "let DuckDB read the CSV"). pandas.read_csv is still available (`--baseline pandas`).

Rows are ~22 bytes ("u12,i7,1500000000,4.5"); `--wide` writes ~40-byte rows with string ids
("user-00012345", "item-0012345"), and `--gb 1` picks the row count that makes a file of about 1 GB
in that format (issue 4's 1 GB file: ~26 M wide rows). Files go to a temporary folder and are deleted
afterwards unless `--keep` names one.

The machine may be shared: the load average is printed at the start and end of every run, and CPU
seconds beside wall seconds. Rows per CPU second does not depend on the neighbours nearly as much.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHUNK_ROWS = 1_000_000
WIDE_ROW_BYTES = 40.5  # measured mean of the --wide format (the 1 GB row count is derived from it)
BASELINE_TYPES = {"user_id": "VARCHAR", "item_id": "VARCHAR", "timestamp": "BIGINT", "rating": "DOUBLE"}


def write_csv(path: Path, n_rows: int, seed: int = 0, wide: bool = False) -> None:
    """Seeded synthetic interactions: Zipf-ish users and items, increasing timestamps, ratings 0.5-5.

    wide: zero-padded string ids ("user-00012345") over 1 M users and 200 k items, as in exports whose
    ids are text."""
    import numpy as np

    rng = np.random.default_rng(seed)
    n_users, n_items = (1_000_000, 200_000) if wide else (200_000, 100_000)
    row = "user-{:08d},item-{:07d},{},{:g}\n" if wide else "u{},i{},{},{:g}\n"
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write("user_id,item_id,timestamp,rating\n")
        start = 1_500_000_000
        for first in range(0, n_rows, CHUNK_ROWS):
            n = min(CHUNK_ROWS, n_rows - first)
            users = rng.zipf(1.3, n) % n_users
            items = rng.zipf(1.2, n) % n_items
            stamps = start + first + np.arange(n)
            ratings = rng.integers(1, 11, n) / 2
            handle.write("".join(row.format(u, i, t, r) for u, i, t, r in zip(users.tolist(), items.tolist(),
                                                                               stamps.tolist(), ratings.tolist())))  # fmt: skip


def rows_for_bytes(n_bytes: float) -> int:
    """Rows of the --wide format that make a file of about n_bytes."""
    return int(n_bytes / WIDE_ROW_BYTES)


def _peak_rss_mib() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # kilobytes on Linux


def _timed(function) -> dict:
    load = os.getloadavg()[0]
    start, cpu = time.perf_counter(), time.process_time()  # process_time: CPU of every thread of this process
    rows = function()
    seconds = time.perf_counter() - start
    return {"rows": rows, "seconds": seconds, "cpu_s": time.process_time() - cpu, "peak_rss_mib": _peak_rss_mib(),
            "load_start": load, "load_end": os.getloadavg()[0]}  # fmt: skip


def measure_ingest(csv_path: Path, db_path: Path) -> dict:
    sys.path.insert(0, str(ROOT))
    from engine.ingest import ingest_files
    from engine.store import Store

    return _timed(lambda: ingest_files(Store(db_path), "bench", csv_path).interactions_accepted)


def measure_duckdb(csv_path: Path, db_path: Path) -> dict:
    """The raw read: DuckDB's read_csv of the file into a table of a new database file, types given, nothing
    checked (why a file, not memory: ingest stores its rows too)."""
    import duckdb

    def read() -> int:
        con = duckdb.connect(str(db_path))
        try:
            con.execute("CREATE TABLE interactions AS SELECT * FROM read_csv(?, header = true, auto_detect = false, "
                        "columns = ?)", [str(csv_path), BASELINE_TYPES])  # fmt: skip
            return int(con.execute("SELECT count(*) FROM interactions").fetchone()[0])
        finally:
            con.close()

    return _timed(read)


def measure_pandas(csv_path: Path) -> dict:
    import pandas as pd

    return _timed(lambda: len(pd.read_csv(csv_path)))


_MEASURES = {"ingest": lambda csv, db: measure_ingest(csv, db), "duckdb": lambda csv, db: measure_duckdb(csv, db),
             "pandas": lambda csv, db: measure_pandas(csv)}  # fmt: skip


def _in_child(kind: str, csv_path: Path, db_path: Path) -> dict:
    for leftover in (db_path, db_path.with_name(db_path.name + ".wal")):
        leftover.unlink(missing_ok=True)
    command = [sys.executable, __file__, "--child", kind, str(csv_path), str(db_path)]
    result = subprocess.run(command, capture_output=True, text=True, check=True)
    for leftover in (db_path, db_path.with_name(db_path.name + ".wal")):
        leftover.unlink(missing_ok=True)  # (why: a 1 GB ingest leaves a ~0.5 GB store; disk may be tight)
    return json.loads(result.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    """Medians over runs (rows/s from the median wall time), the highest peak RSS, the load range."""
    seconds = statistics.median(run["seconds"] for run in runs)
    cpu = statistics.median(run["cpu_s"] for run in runs)
    rows = runs[0]["rows"]
    return {"rows": rows, "runs": len(runs), "seconds": seconds, "cpu_s": cpu, "rows_per_s": rows / seconds,
            "rows_per_cpu_s": rows / cpu, "peak_rss_mib": max(run["peak_rss_mib"] for run in runs),
            "load_min": min(run["load_start"] for run in runs), "load_max": max(max(run["load_start"], run["load_end"]) for run in runs),
            "all_seconds": [round(run["seconds"], 2) for run in runs]}  # fmt: skip


def measure_file(csv_path: Path, workdir: Path, repeats: int, baselines: list[str]) -> dict:
    """Ingest and each baseline, `repeats` runs each, interleaved (why: a load spike hits both alike)."""
    runs: dict[str, list[dict]] = {kind: [] for kind in ["ingest", *baselines]}
    for _ in range(repeats):
        for kind in runs:
            runs[kind].append(_in_child(kind, csv_path, workdir / f"{kind}.duckdb"))
    return {kind: summarise(kind_runs) for kind, kind_runs in runs.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("n_rows", nargs="*", type=int, help="row counts to measure (default 5,000,000)")
    parser.add_argument("--gb", type=float, action="append", default=[], help="also a --wide file of about this many GB")
    parser.add_argument("--wide", action="store_true", help="string ids of ~40-byte rows for the N_ROWS files too")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--baseline", choices=("duckdb", "pandas", "both", "none"), default="duckdb")
    parser.add_argument("--keep", type=Path, help="write the (single) CSV here and keep it (reused if it exists)")
    parser.add_argument("--json", action="store_true", help="print one JSON line per size as well")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        kind, csv_path, db_path = args.child
        print(json.dumps(_MEASURES[kind](Path(csv_path), Path(db_path))))
        return
    baselines = {"both": ["duckdb", "pandas"], "none": []}.get(args.baseline, [args.baseline])
    sizes = [(n, args.wide) for n in args.n_rows] + [(rows_for_bytes(gb * 1e9), True) for gb in args.gb]
    sizes = sizes or [(5_000_000, args.wide)]
    with tempfile.TemporaryDirectory(prefix="recscope-bench-") as folder:
        for n_rows, wide in sizes:
            csv_path = args.keep or Path(folder) / "interactions.csv"
            if not csv_path.exists():
                write_csv(csv_path, n_rows, wide=wide)
            size_mib = os.path.getsize(csv_path) / 2**20
            load = os.getloadavg()[0]
            results = measure_file(csv_path, Path(folder), args.repeats, baselines)
            print(f"file: {results['ingest']['rows']:,} rows{' (string ids)' if wide else ''}, {size_mib:,.0f} MiB; "
                  f"{os.cpu_count()} cores, load average {load:.1f} at the start; medians of {args.repeats}")  # fmt: skip
            for kind, result in results.items():
                _print({"ingest": "ingest_files", "duckdb": "duckdb read_csv", "pandas": "pandas.read_csv"}[kind], result)
            for kind in baselines:
                base, ingest = results[kind], results["ingest"]
                print(f"ratio: ingest runs at {base['seconds'] / ingest['seconds']:.2f}x the speed of {kind} alone "
                      f"(wall; {base['cpu_s'] / ingest['cpu_s']:.2f}x by CPU time)")  # fmt: skip
            if args.json:
                print(json.dumps({"rows": results["ingest"]["rows"], "wide": wide, "bytes": os.path.getsize(csv_path), "cores": os.cpu_count(),
                                  **results}))  # fmt: skip
            if not args.keep:
                csv_path.unlink()


def _print(label: str, result: dict) -> None:
    print(f"{label:16s} {result['rows_per_s']:>11,.0f} rows/s  {result['seconds']:7.1f} s wall  {result['cpu_s']:7.1f} s CPU "
          f"({result['rows_per_cpu_s']:,.0f} rows per CPU s)  peak RSS {result['peak_rss_mib']:,.0f} MiB  "
          f"load {result['load_min']:.1f}-{result['load_max']:.1f}  runs {result['all_seconds']}")  # fmt: skip


if __name__ == "__main__":
    main()
