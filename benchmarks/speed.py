"""Speed on movielens-small: training (from the quality runs of the default model), latencies of
recommend + explain, faithfulness and what-if, catalogue scoring throughput, sample ingest, dashboard.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

from benchmarks import quality, results
from benchmarks.environment import ROOT, load_average
from benchmarks.measure import ChildFailed, median, run_child

SAMPLE_DIR = ROOT / "sample_data" / "movielens-small"
DASHBOARD_SCRIPT = ROOT / "tests" / "dashboard" / "bench_dashboard.py"
DASHBOARD_MODEL = "benchmark-default"
DISTRIBUTED_SCRIPT = ROOT / "benchmarks" / "distributed_throughput.py"


def default_checkpoint(env: dict, log) -> Path:
    """A trained default model: of the current engine code if one exists, else the newest one that has the
    current default architecture (latency depends on the architecture, not on the exact weights), else a
    new one trained now (which is also a quality run)."""
    from engine.checkpoint import checkpoint_paths, read_sidecar
    from engine.config import ModelConfig

    code = results.code_hash()
    job = next(job for job in quality.plan(1, quick=True) if job["label"] == "default")
    stem = results.CACHE_DIR / "models" / f"default-{code}-s{job['seed']}"
    if all(path.exists() for path in checkpoint_paths(stem)):
        return stem
    for sidecar in sorted((results.CACHE_DIR / "models").glob("default-*.json"), key=lambda p: -p.stat().st_mtime):
        older = sidecar.with_suffix("")
        if read_sidecar(older)["model_config"] == ModelConfig().to_dict():
            log(f"speed: using {older.name} (trained on older engine code, same default architecture)")
            return older
    log("speed: training the default model (also a quality run)")
    stored = results.load("quality")
    run = quality._run(job, code)
    if run is None:
        raise ChildFailed("training the default model failed")
    stored.setdefault("runs", []).append(run)
    stored["env"] = env
    results.save("quality", stored)
    return stem


def run_speed(quick: bool, env: dict, log) -> dict:
    stem = default_checkpoint(env, log)
    payload: dict = {"env": env, "measured_at": results.now(), "code_hash": results.code_hash(), "checkpoint": stem.name}
    log(f"speed: latencies (load {load_average()})")
    sizes = {"n_users": 30, "n_faithfulness": 5, "repeats": 1} if quick else {"n_users": 300, "n_faithfulness": 60, "repeats": 3}
    payload["latency"] = run_child("speed", {"checkpoint": str(stem), **sizes}, timeout_s=3600)
    log(f"speed: sample ingest (load {load_average()})")
    payload["ingest_sample"] = sample_ingest(2 if quick else 5)
    if not quick and DASHBOARD_SCRIPT.exists():
        log(f"speed: dashboard script {DASHBOARD_SCRIPT.relative_to(ROOT)} (load {load_average()})")
        payload["dashboard"] = dashboard(stem)
    if not quick and DISTRIBUTED_SCRIPT.exists():
        log(f"speed: distributed training script {DISTRIBUTED_SCRIPT.relative_to(ROOT)} (load {load_average()})")
        payload["distributed"] = distributed()
    payload["load_end"] = payload["env"]["load_end"] = load_average()
    results.save("speed", payload)
    return payload


def sample_ingest(repeats: int) -> dict:
    """ingest_files of ratings.csv + movies.csv into fresh stores, against pandas.read_csv of ratings.csv."""
    ingest, pandas = [], []
    with tempfile.TemporaryDirectory(prefix="recscope-bench-") as folder:
        for attempt in range(repeats):
            args = {"interactions": str(SAMPLE_DIR / "ratings.csv"), "items": str(SAMPLE_DIR / "movies.csv"),
                    "db": str(Path(folder) / f"sample{attempt}.duckdb"), "name": "movielens-small"}  # fmt: skip
            ingest.append(run_child("ingest", args, timeout_s=600))
            pandas.append(run_child("plain_ingest", {"kind": "pandas", "csv": str(SAMPLE_DIR / "ratings.csv")}, timeout_s=600))
    rows = ingest[0]["rows"]
    seconds = median([run["seconds"] for run in ingest])
    pandas_seconds = median([run["seconds"] for run in pandas])
    return {"rows": rows, "seconds": seconds, "rows_per_s": rows / seconds, "pandas_seconds": pandas_seconds,
            "ratio_to_pandas": pandas_seconds / seconds, "peak_rss_mib": max(r["peak_rss_mib"] for r in ingest),
            "repeats": repeats, "bytes": (SAMPLE_DIR / "ratings.csv").stat().st_size}  # fmt: skip


def register_default(stem: Path, folder: Path):
    """A scratch store holding the sample and the checkpoint at `stem`, registered as DASHBOARD_MODEL."""
    from engine.checkpoint import checkpoint_paths, read_sidecar
    from engine.registry import ModelRecord
    from engine.sample import ensure_sample
    from engine.store import Store

    store = Store(folder / "recscope.duckdb")
    ensure_sample(store)
    for source in checkpoint_paths(stem):
        target = store.model_dir / source.name.replace(stem.name, "default", 1)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(source, target)
    meta = read_sidecar(stem)
    config = meta["model_config"]
    store.register_model(ModelRecord(name=DASHBOARD_MODEL, dataset="movielens-small", scorer=config["scorer"], path="default",
                                     config={"model": config, "train": meta["extra"].get("train_config", {})},
                                     metrics=meta.get("metrics", {}), fingerprint=meta["dataset_fingerprint"]))  # fmt: skip
    return store


def dashboard(stem: Path) -> dict:
    """Run the dashboard team's benchmark script, as is, on the default model in a scratch store."""
    with tempfile.TemporaryDirectory(prefix="recscope-bench-") as folder:
        store = register_default(stem, Path(folder))
        command = [sys.executable, str(DASHBOARD_SCRIPT), "--db", str(store.path), "--model", DASHBOARD_MODEL]
        try:
            done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        except subprocess.TimeoutExpired:
            return {"error": "the dashboard benchmark took longer than 30 minutes"}
    table = [line for line in done.stdout.splitlines() if line.startswith("|")]
    if done.returncode != 0 or not table:
        return {"error": f"exit {done.returncode}: {' | '.join((done.stderr or '').strip().splitlines()[-3:])}"}
    return {"table": table, "command": "python tests/dashboard/bench_dashboard.py --db DB --model MODEL"}


def distributed() -> dict:
    """Run the distributed-training team's throughput script (1 and 2 torchrun processes) as is; keep its lines."""
    command = [sys.executable, str(DISTRIBUTED_SCRIPT)]
    try:
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=3600)
    except subprocess.TimeoutExpired:
        return {"error": "the distributed benchmark took longer than an hour"}
    lines = [line.strip() for line in done.stdout.splitlines() if "windows/s" in line or line.strip().endswith("x")]
    if done.returncode != 0 or not lines:
        return {"error": f"exit {done.returncode}: {' | '.join((done.stderr or '').strip().splitlines()[-3:])}"}
    return {"lines": lines, "command": "python benchmarks/distributed_throughput.py"}
