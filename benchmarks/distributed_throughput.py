"""Training throughput of engine.train_distributed with 1 and 2 processes (torchrun, gloo, CPU) on this machine.

    python benchmarks/distributed_throughput.py [--dataset movielens-small] [--epochs 2] [--runs 1x1,2x1,1x2]

Exports the dataset once (2 shards, so one export serves every run), then for each run PxT starts
`torchrun --nproc-per-node=P` with T torch threads per process and the default model and global batch,
and reads the job's summary: training windows per second over the training steps only (validation and
start-up excluded), counting padded repeats; "unique" counts each epoch's windows once. 1x2 (one process,
two threads) is the fair single-process reference on a 2-core machine. Each run is its own job, so
start-up costs are reported separately as wall seconds. The machine's load average is printed with the
figures because other work on a shared machine moves them.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def export(db: Path, dataset: str, out: Path) -> None:
    sys.path.insert(0, str(ROOT))
    from engine.export import export_dataset
    from engine.sample import ensure_sample
    from engine.store import Store

    store = Store(db)
    ensure_sample(store)
    export_dataset(store, dataset, out, n_shards=2)


def run_job(data: Path, folder: Path, processes: int, threads: int, epochs: int) -> dict:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    summary = folder / f"summary-{processes}x{threads}.json"
    command = [sys.executable, "-m", "torch.distributed.run", f"--nproc-per-node={processes}", f"--master-port={port}",
               "-m", "engine.train_distributed", "--data", str(data), "--out", str(folder / f"model-{processes}x{threads}"),
               "--epochs", str(epochs), "--eval-every", str(epochs), "--threads", str(threads), "--summary", str(summary)]  # fmt: skip
    env = {**os.environ, "RECSCOPE_DEVICE": "cpu", "PYTHONPATH": str(ROOT)}
    started = time.perf_counter()
    subprocess.run(command, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    result = json.loads(summary.read_text())
    result["wall_seconds"] = time.perf_counter() - started
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dataset", default="movielens-small")
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--runs", default="1x1,2x1,1x2", help="comma-separated PROCESSESxTHREADS")
    args = parser.parse_args()
    runs = [tuple(int(n) for n in run.split("x")) for run in args.runs.split(",")]
    with tempfile.TemporaryDirectory(prefix="recscope-ddp-bench-") as temp:
        folder = Path(temp)
        export(folder / "store.duckdb", args.dataset, folder / "export")
        results = {}
        for processes, threads in runs:
            load = os.getloadavg()[0]
            results[(processes, threads)] = result = run_job(folder / "export", folder, processes, threads, args.epochs)
            print(f"{processes} process(es) x {threads} thread(s): {result['windows_per_s']:8.1f} windows/s "
                  f"({result['unique_windows_per_s']:.1f} unique), {result['steps']} steps in {result['train_seconds']:.1f} s, "
                  f"wall {result['wall_seconds']:.0f} s, test ndcg@10 {result['test']['ndcg@10']:.4f}, load avg {load:.1f}",
                  flush=True)  # fmt: skip
        if (1, 1) in results and (2, 1) in results:
            ratio = results[(2, 1)]["windows_per_s"] / results[(1, 1)]["windows_per_s"]
            print(f"2 processes / 1 process (1 thread each): {ratio:.2f}x")
        if (1, 2) in results and (2, 1) in results:
            ratio = results[(2, 1)]["windows_per_s"] / results[(1, 2)]["windows_per_s"]
            print(f"2 processes x 1 thread / 1 process x 2 threads: {ratio:.2f}x")


if __name__ == "__main__":
    main()
