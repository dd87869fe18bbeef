"""Latency of the Explore page's evidence on movielens-small: faithfulness of one recommendation (target
<= 300 ms) and a what-if re-rank of an edited history (target <= 100 ms), one torch thread, like the
dashboard server. Not a test; run it by hand:

    python -m benchmarks.explain_speed
    python -m benchmarks.explain_speed --checkpoint data/benchmarks/models/default-<code>-s42
    python -m benchmarks.explain_speed --db data/recscope.duckdb --model <name>

Without options it uses the pretrained default model that ships in sample_data/models (the dashboard's
model on the bundled sample), else the newest default-architecture checkpoint that
`python -m benchmarks speed` left in data/benchmarks/models. The machine is usually shared, so every timing is given as wall and
CPU time (time.process_time) with the load average, and each is paired with a baseline measured on the
same users in the same run, interleaved: faithfulness against the straightforward implementation it
replaced (tests/engine/faithfulness_reference.py: one full-catalogue pass per history variant), the
what-if re-rank against explaining the unedited history. The ratios survive load better than the times.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.environment import ROOT, load_average
from benchmarks.measure import summarise_ms

FAITHFULNESS_TARGET_MS = 300.0
WHATIF_TARGET_MS = 100.0


def load(args: argparse.Namespace):
    """(model, data) from a store's registered model or from a checkpoint file stem."""
    import torch

    if args.db:
        from engine.service import load_model
        from engine.store import Store

        loaded = load_model(Store(Path(args.db), read_only=True), args.model)
        return loaded.model.eval(), loaded.data
    from benchmarks.child import movielens_data
    from engine.checkpoint import load_checkpoint

    stem = Path(args.checkpoint) if args.checkpoint else newest_default_checkpoint()
    data = movielens_data()
    return load_checkpoint(stem, data, torch.device("cpu")).model.eval(), data


SHIPPED = ROOT / "sample_data" / "models" / "movielens-small-default"


def newest_default_checkpoint() -> Path:
    from benchmarks import results
    from engine.checkpoint import read_sidecar
    from engine.config import ModelConfig

    if SHIPPED.with_suffix(".json").exists():
        return SHIPPED
    for sidecar in sorted((results.CACHE_DIR / "models").glob("default-*.json"), key=lambda p: -p.stat().st_mtime):
        if read_sidecar(sidecar.with_suffix(""))["model_config"] == ModelConfig().to_dict():
            return sidecar.with_suffix("")
    raise SystemExit("no default checkpoint in data/benchmarks/models: run `python -m benchmarks speed --quick` once, "
                     "or pass --db and --model of a trained model")  # fmt: skip


def clock(function, *args, **kwargs) -> tuple[float, float]:
    """(wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    function(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def measure(model, data, n_users: int, seed: int) -> dict[str, list[tuple[float, float]]]:
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    import faithfulness_reference

    from benchmarks.child import _edited_history
    from engine.explain import explain_history, explain_user, user_history
    from engine.faithfulness import faithfulness

    rng = np.random.default_rng(seed)
    users = [data.users.to_raw(int(u)) for u in rng.permutation(np.arange(1, data.n_users + 1))[:n_users]]
    times: dict[str, list[tuple[float, float]]] = {"faithfulness": [], "faithfulness, straightforward": [],
                                                   "what-if re-rank": [], "explain, unedited": []}  # fmt: skip
    explain_user(model, data, users[0], 10)  # warm-up: item table cache, allocator
    for index, user in enumerate(users):
        history = user_history(data, user)
        item = explain_user(model, data, user, 10).recommendations[0].item
        pair = [("faithfulness", faithfulness), ("faithfulness, straightforward", faithfulness_reference.faithfulness)]
        for name, function in pair if index % 2 == 0 else pair[::-1]:  # alternate: neither always runs second
            times[name].append(clock(function, model, data, history, item))
        edited = _edited_history(history, data.n_items, rng)
        times["what-if re-rank"].append(clock(explain_history, model, data, edited, 10))
        times["explain, unedited"].append(clock(explain_history, model, data, history, 10))
    return times


def report(times: dict[str, list[tuple[float, float]]], load_start: str, load_end: str, threads: int) -> str:
    lines = [f"{len(times['faithfulness'])} users, top recommendation each; torch threads {threads}; "
             f"load average {load_start} at start, {load_end} at end (2 cores on the reference machine)", "",
             "| measured | wall p50 | wall p95 | CPU p50 | CPU p95 |", "|---|---|---|---|---|"]  # fmt: skip
    summary = {}
    for name, pairs in times.items():
        wall, cpu = summarise_ms([w for w, _ in pairs]), summarise_ms([c for _, c in pairs])
        summary[name] = (wall, cpu)
        lines.append(f"| {name} | {wall['p50']:.0f} ms | {wall['p95']:.0f} ms | {cpu['p50']:.0f} ms | {cpu['p95']:.0f} ms |")
    lines.append("")
    for name, baseline in (("faithfulness", "faithfulness, straightforward"), ("what-if re-rank", "explain, unedited")):
        ratio = summary[baseline][1]["p50"] / summary[name][1]["p50"]
        lines.append(f"baseline ratio: '{baseline}' takes {ratio:.2f}x the CPU time of '{name}' (p50, same users, same run)")
    for name, target in (("faithfulness", FAITHFULNESS_TARGET_MS), ("what-if re-rank", WHATIF_TARGET_MS)):
        wall, cpu = summary[name]
        verdict = "met" if wall["p95"] <= target else ("met in CPU time, not in wall time (load)" if cpu["p95"] <= target else "missed")
        lines.append(f"target {name} <= {target:.0f} ms at p95: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", help="checkpoint file stem (without .safetensors)")
    parser.add_argument("--db", help="a store holding a trained model (with --model)")
    parser.add_argument("--model", help="registered model name in --db")
    parser.add_argument("--users", type=int, default=40)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=1)
    args = parser.parse_args(argv)
    if bool(args.db) != bool(args.model):
        parser.error("--db and --model go together")
    import torch

    torch.set_num_threads(args.threads)
    model, data = load(args)
    load_start = load_average()
    times = measure(model, data, args.users, args.seed)
    print(f"model: {args.checkpoint or (args.db and args.model) or newest_default_checkpoint().relative_to(ROOT)} "
          f"({model.config.scorer}, {model.config.n_layers} self-attention layer(s), window {model.config.max_len})")
    print(report(times, load_start, load_average(), args.threads))


if __name__ == "__main__":
    main()
