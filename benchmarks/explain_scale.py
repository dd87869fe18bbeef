"""Recommend-and-explain latency at 200 k items without the 25 M-row ingest of `benchmarks scale`.

The catalogue is the 25 M preset's (200 k items with its category / genres / year attributes, so the
same attribute slots), but only a few users are generated (20 k users, about 25 interactions each like
the preset, so the same spread of history lengths); every catalogue item is in the model whether or not
somebody interacted with it. The model is untrained (engine.train.build_model, like the scale probe):
the exact full-catalogue path does the same work whatever the weights, and it is scored with random
weights plus a random item bias so that the top-K is not decided by ties.

Each user is timed with explain_user (the dashboard's call) and, interleaved on the same users in the
same process, with the scoring path it replaced (tests/engine/score_all_reference.py), as wall and CPU
time with the load average; the two must give the same top-10. Run it by hand:

    python -m benchmarks.explain_scale                   # 200 k items, 1 and 2 torch threads
    python -m benchmarks.explain_scale --threads 1 --users 100
    python -m benchmarks.explain_scale --movielens       # the shipped trained model on movielens-small
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

from benchmarks.environment import ROOT, load_average
from benchmarks.measure import summarise_ms


def synthetic_data(n_items: int, n_users: int, seed: int = 0):
    """SequenceData of a synthetic log: n_items catalogue items (all of them in the id map), n_users users."""
    import pandas as pd

    from engine.dataset import IdMap, sequence_data_from_arrays
    from engine.synthetic import SyntheticConfig, write_synthetic

    config = SyntheticConfig(n_interactions=25 * n_users, n_users=n_users, n_items=n_items, seed=seed)
    with tempfile.TemporaryDirectory() as folder:
        files = write_synthetic(config, folder)
        rows = pd.read_csv(files.interactions, dtype={"user_id": str, "item_id": str})
        items = pd.read_csv(files.items, dtype={"item_id": str, "year": str}, keep_default_na=False)
    rows = rows.sort_values(["user_id", "timestamp"], kind="stable")
    user_map = IdMap.from_ids(sorted(rows["user_id"].unique().tolist()))
    item_map = IdMap.from_ids(sorted(items["item_id"].tolist()))
    genres = items[["item_id", "genres"]].assign(value=items["genres"].str.split("|")).explode("value")
    attributes = pd.concat([
        items[["item_id"]].assign(field="category", value=items["category"]),
        genres[["item_id"]].assign(field="genres", value=genres["value"]),
        items[["item_id"]].assign(field="year", value=items["year"]),
    ], ignore_index=True)  # fmt: skip
    return sequence_data_from_arrays(
        f"synthetic-{n_items}-items",
        True,
        user_map,
        item_map,
        rows["user_id"].map(user_map.index).to_numpy(np.int64),
        rows["item_id"].map(item_map.index).to_numpy(np.int64),
        rows["timestamp"].to_numpy(np.int64),
        items[["item_id", "title"]],
        attributes,
    )


def untrained_model(data, scorer: str, seed: int = 0):
    import torch

    from engine.config import ModelConfig
    from engine.train import build_model

    torch.manual_seed(seed)
    model = build_model(data, ModelConfig(scorer=scorer))
    with torch.no_grad():
        model.item_bias.weight.normal_(0.0, 0.1)
        model.item_bias.weight[0].zero_()
    return model.eval()


@contextmanager
def reference_scoring(model):
    """explain_user with score_all swapped for the replaced implementation (same model, same weights)."""
    sys.path.insert(0, str(ROOT / "tests" / "engine"))
    import score_all_reference

    model.score_all = lambda history, item_chunk=None: score_all_reference.score_all(model, history, item_chunk)
    try:
        yield
    finally:
        del model.score_all  # the class's method again


def measure(model, data, n_users: int, seed: int, compare: bool) -> dict[str, list[tuple[float, float]]]:
    from engine.explain import explain_user

    rng = np.random.default_rng(seed)
    users = [data.users.to_raw(int(u)) for u in rng.choice(np.arange(1, data.n_users + 1), size=n_users, replace=False)]
    times: dict[str, list[tuple[float, float]]] = {"explain": []}
    if compare:
        times["explain, replaced scoring"] = []
    explain_user(model, data, users[0], 10)  # warm-up: item table and query caches, allocator
    for index, user in enumerate(users):
        runs = [("explain", None)] + ([("explain, replaced scoring", reference_scoring)] if compare else [])
        tops = {}
        for name, context in runs if index % 2 == 0 else runs[::-1]:  # alternate: neither always runs second
            wall, cpu = time.perf_counter(), time.process_time()
            if context is None:
                explanation = explain_user(model, data, user, 10)
            else:
                with context(model):
                    explanation = explain_user(model, data, user, 10)
            times[name].append((time.perf_counter() - wall, time.process_time() - cpu))
            tops[name] = explanation.top_item_ids()
        if compare and tops["explain"] != tops["explain, replaced scoring"]:
            raise SystemExit(f"user {user}: top-10 differs from the replaced scoring path")
    return times


def report(times: dict[str, list[tuple[float, float]]], threads: int, load_start: str, load_end: str) -> list[str]:
    lines = [f"torch threads {threads}; load average {load_start} at start, {load_end} at end", "",
             "| measured | wall p50 | wall p95 | CPU p50 | CPU p95 |", "|---|---|---|---|---|"]  # fmt: skip
    for name, pairs in times.items():
        wall, cpu = summarise_ms([w for w, _ in pairs]), summarise_ms([c for _, c in pairs])
        lines.append(f"| {name} | {wall['p50']:.1f} ms | {wall['p95']:.1f} ms | {cpu['p50']:.1f} ms | {cpu['p95']:.1f} ms |")
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--items", type=int, default=200_000)
    parser.add_argument("--data-users", type=int, default=20_000, help="users generated (about 25 interactions each)")
    parser.add_argument("--users", type=int, default=60, help="users timed")
    parser.add_argument("--scorer", default="dot", choices=("dot", "additive", "sigmoid"))
    parser.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-compare", action="store_true", help="skip the replaced scoring path")
    parser.add_argument("--movielens", action="store_true", help="the shipped trained model on movielens-small instead")
    args = parser.parse_args(argv)
    import torch

    started = time.perf_counter()
    if args.movielens:
        from benchmarks.explain_speed import load

        model, data = load(argparse.Namespace(db=None, model=None, checkpoint=None))
        kind = f"shipped trained {model.config.scorer} model"
    else:
        data = synthetic_data(args.items, args.data_users, args.seed)
        model = untrained_model(data, args.scorer, args.seed)
        kind = f"untrained {args.scorer} model"
    lengths = np.minimum(np.diff(data.sequences.offsets[1:]), model.config.max_len)
    print(f"{data.name}: {data.n_items:,} items, {data.n_users:,} users (history window p50 {np.median(lengths):.0f}, "
          f"share at the full {model.config.max_len}: {np.mean(lengths == model.config.max_len):.0%}); "
          f"{kind}, ready in {time.perf_counter() - started:.0f} s")  # fmt: skip
    for threads in args.threads:
        torch.set_num_threads(threads)
        load_start = load_average()
        times = measure(model, data, args.users, args.seed, compare=not args.no_compare)
        print("\n".join(["", *report(times, threads, load_start, load_average())]))


if __name__ == "__main__":
    main()
