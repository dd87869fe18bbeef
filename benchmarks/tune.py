"""One tuning run on movielens-small: train a configuration, report validation and test metrics.

Used to choose the engine's defaults (docs/experiments/model_tuning.md). Choices are made on the
validation numbers only; the test numbers are printed for the record. Each run appends one JSON line
to the file given by --log, so a stopped session keeps what finished.

    python -m benchmarks.tune --set n_layers=0 --set max_len=100 --seeds 42 1 2 --log runs.jsonl
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import resource
import sys
import tempfile
import time
from pathlib import Path


def parse_overrides(pairs: list[str]) -> dict[str, object]:
    """key=value pairs, values parsed as JSON when they can be (numbers, true/false), else text."""
    overrides: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise SystemExit(f"--set expects key=value, got {pair!r}")
        try:
            overrides[key] = json.loads(raw)
        except json.JSONDecodeError:
            overrides[key] = raw
    return overrides


def split_overrides(overrides: dict[str, object]):
    """Route each key to ModelConfig or TrainConfig by field name; unknown keys stop the run."""
    from engine.config import ModelConfig, TrainConfig

    model_fields = {f.name for f in dataclasses.fields(ModelConfig)}
    train_fields = {f.name for f in dataclasses.fields(TrainConfig)}
    model_part = {k: v for k, v in overrides.items() if k in model_fields}
    train_part = {k: v for k, v in overrides.items() if k in train_fields}
    unknown = set(overrides) - model_fields - train_fields
    if unknown:
        raise SystemExit(f"unknown setting(s): {', '.join(sorted(unknown))}")
    return model_part, train_part


def run_one(data, model_part: dict, train_part: dict, seed: int, threads: int) -> dict:
    from engine.config import EvalConfig, ModelConfig, TrainConfig
    from engine.evaluate import evaluate
    from engine.predict import ModelScorer
    from engine.train import train

    model_config = ModelConfig.from_dict({**ModelConfig().to_dict(), **model_part})
    train_config = TrainConfig.from_dict({**TrainConfig().to_dict(), **train_part, "seed": seed, "threads": threads})
    cpu_start = time.process_time()
    result = train(data, model_config, train_config)
    cpu_train = time.process_time() - cpu_start
    test = evaluate(ModelScorer(result.model), data, EvalConfig(ks=(10,), split="test")).metrics
    return {
        "overrides": {**model_part, **train_part},
        "seed": seed,
        "threads": threads,
        "best_epoch": result.best_epoch,
        "stopped_early": result.stopped_early,
        "valid_ndcg@10": result.best_valid["ndcg@10"],
        "test": test,
        "history": [{"epoch": int(h["epoch"]), "valid_ndcg@10": h["ndcg@10"]} for h in result.history],
        "train_cpu_s": round(cpu_train, 1),
        "train_wall_s": round(result.seconds, 1),
        "peak_rss_mib": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.tune", description=__doc__.splitlines()[0])
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="ModelConfig/TrainConfig field")
    parser.add_argument("--seeds", type=int, nargs="+", default=[42])
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--log", type=Path, help="append one JSON line per run")
    args = parser.parse_args(argv)
    model_part, train_part = split_overrides(parse_overrides(args.set))

    from engine.sample import ensure_sample
    from engine.service import load_data
    from engine.store import Store

    with tempfile.TemporaryDirectory() as scratch:
        store = Store(Path(scratch) / "tune.duckdb")
        ensure_sample(store)
        data = load_data(store, "movielens-small")
    for seed in args.seeds:
        row = run_one(data, model_part, train_part, seed, args.threads)
        line = json.dumps(row, sort_keys=True)
        print(line, flush=True)
        if args.log is not None:
            with args.log.open("a", encoding="utf-8") as log:
                log.write(line + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
