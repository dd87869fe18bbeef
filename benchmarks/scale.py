"""Scale on synthetic logs (engine.synthetic) of 1 M, 5 M and 25 M interactions: ingest, memory, training
cost per epoch (timed steps, extrapolated), evaluation cost (sampled, extrapolated) and explain latency.

Generated CSVs and stores are cached under data/benchmarks/ (git-ignored) and reused.
"""

from __future__ import annotations

import shutil
from pathlib import Path

from benchmarks import results
from benchmarks.environment import load_average
from benchmarks.measure import ChildFailed, median, run_child

COMPARE_UP_TO = 5_000_000  # sizes whose replaced load and window code is also timed (25 M would need GiBs of pandas)
def one_gb_rows() -> int:
    """Rows of ingest_throughput's wide format (string ids, ~40 bytes a row) that make about 1 GB."""
    from benchmarks.ingest_throughput import rows_for_bytes

    return rows_for_bytes(1e9)


def _fresh_store(path: Path) -> None:
    for leftover in (path, path.with_name(path.name + ".wal"), path.parent / f"{path.stem}_models"):
        if leftover.is_dir():
            shutil.rmtree(leftover)
        elif leftover.exists():
            leftover.unlink()


def synthesize(size: str, seed: int, log) -> tuple[Path, dict]:
    folder = results.CACHE_DIR / "synthetic" / f"{size}-s{seed}"
    marker = folder / "generated.json"
    if marker.exists():
        import json

        return folder, json.loads(marker.read_text())
    log(f"scale {size}: generating (load {load_average()})")
    info = run_child("synthesize", {"size": size, "seed": seed, "dir": str(folder)}, timeout_s=3 * 3600)
    import json

    marker.write_text(json.dumps(info))
    return folder, info


def measure_size(size: str, repeats: int, quick: bool, log, threads: int | None = None) -> dict:
    folder, generated = synthesize(size, 0, log)
    db = results.CACHE_DIR / "stores" / f"{size}.duckdb"
    db.parent.mkdir(parents=True, exist_ok=True)
    ingests = []
    for attempt in range(repeats):
        _fresh_store(db)
        log(f"scale {size}: ingest {attempt + 1}/{repeats} (load {load_average()})")
        args = {"interactions": str(folder / "interactions.csv"), "items": str(folder / "items.csv"), "db": str(db), "name": size}
        ingests.append({**run_child("ingest", args, timeout_s=3 * 3600), "load_start": load_average()})
    seconds = median([run["seconds"] for run in ingests])
    entry = {"generated": generated, "measured_at": results.now(), "ingest_runs": ingests, "ingest_seconds": seconds,
             "ingest_rows_per_s": ingests[0]["rows"] / seconds, "ingest_peak_mib": max(r["peak_rss_mib"] for r in ingests)}  # fmt: skip
    log(f"scale {size}: load_data, training steps, sampled evaluation, explain (load {load_average()})")
    compare = generated["n_interactions"] <= COMPARE_UP_TO  # the replaced code, in the same run, for a ratio
    probe = {"db": str(db), "name": size, "n_steps": 40 if quick else 150, "n_eval_users": 256 if quick else 1024,
             "n_explain_users": 40 if quick else 300, "threads": threads}  # fmt: skip
    load_start = load_average()
    try:
        entry["probe"] = {**run_child("scale_probe", probe, timeout_s=4 * 3600), "load_start": load_start, "load_end": load_average()}
    except ChildFailed as error:
        entry["probe"] = {"error": str(error), "load_start": load_start}
    if compare:
        log(f"scale {size}: the replaced pandas load path, for comparison (load {load_average()})")
        load_start = load_average()
        try:
            entry["load_old"] = {**run_child("load_old", {"db": str(db), "name": size}, timeout_s=3600),
                                 "load_start": load_start, "load_end": load_average()}  # fmt: skip
        except ChildFailed as error:
            entry["load_old"] = {"error": str(error), "load_start": load_start}
    return entry


def measure_1gb(repeats: int, log) -> dict:
    """Issue 4's target on the ingest benchmark's own 1 GB file (interactions only), against DuckDB reading the
    same file raw into a table (the same engine's floor) and pandas.read_csv, measured in the same run."""
    csv = results.CACHE_DIR / "ingest-1gb-wide" / "interactions.csv"
    csv.parent.mkdir(parents=True, exist_ok=True)
    if not csv.exists():
        log("scale: writing the 1 GB interactions CSV")
        run_child("write_1gb", {"csv": str(csv), "rows": one_gb_rows()}, timeout_s=3 * 3600)
    runs = _timed_reads("ingest", "1 GB ingest", csv, repeats, log)
    raw = _timed_reads("duckdb", "DuckDB read_csv of the 1 GB file into a table", csv, repeats, log)  # nothing checked: the floor
    log(f"scale: pandas.read_csv of the 1 GB file (load {load_average()})")
    pandas = run_child("plain_ingest", {"kind": "pandas", "csv": str(csv)}, timeout_s=3 * 3600)
    ingest, raw_read = _read_summary(runs), _read_summary(raw)
    return {"bytes": csv.stat().st_size, "rows": runs[0]["rows"], **ingest, "repeats": repeats, "pandas": pandas,
            "ratio_to_pandas": pandas["seconds"] / ingest["seconds"], "duckdb": raw_read,
            "ratio_to_duckdb": raw_read["seconds"] / ingest["seconds"], "measured_at": results.now()}  # fmt: skip


def _timed_reads(kind: str, label: str, csv: Path, repeats: int, log) -> list[dict]:
    """`repeats` runs of ingest_throughput's `kind` on `csv`, each into a fresh database file beside it."""
    runs = []
    for attempt in range(repeats):
        db = csv.parent / f"{kind}.duckdb"
        _fresh_store(db)
        log(f"scale: {label} {attempt + 1}/{repeats} (load {load_average()})")
        runs.append(run_child("plain_ingest", {"kind": kind, "csv": str(csv), "db": str(db)}, timeout_s=3 * 3600))
    return runs


def _read_summary(runs: list[dict]) -> dict:
    seconds = median([run["seconds"] for run in runs])
    return {"seconds": seconds, "rows_per_s": runs[0]["rows"] / seconds, "cpu_seconds": median([run["cpu_s"] for run in runs]),
            "peak_rss_mib": max(run["peak_rss_mib"] for run in runs)}  # fmt: skip


def run_scale(sizes: list[str], repeats: int, quick: bool, with_1gb: bool, env: dict, log, threads: int | None = None) -> dict:
    stored = results.load("scale")
    stored.setdefault("sizes", {})
    for size in sizes:
        entry = measure_size(size, repeats, quick, log, threads)
        stored["sizes"][size] = {**entry, "quick": quick, "env": {**env, "load_end": load_average()}}
        stored["env"] = env
        results.save("scale", stored)
    if with_1gb:
        stored["ingest_1gb"] = {**measure_1gb(repeats, log), "env": {**env, "load_end": load_average()}}
        results.save("scale", stored)
    return stored
