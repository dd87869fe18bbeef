"""Measured stages, each run in a fresh interpreter by benchmarks.measure.run_child:

    python -m benchmarks.child STAGE '{"json": "arguments"}'

The last stdout line is RESULT_MARK + JSON, always with the process's peak RSS (peak_rss_mib).
"""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from pathlib import Path

import numpy as np

from benchmarks.environment import ROOT
from benchmarks.measure import RESULT_MARK, PeakMeter, peak_rss_mib, summarise_ms, timed

sys.path.insert(0, str(ROOT))


def movielens_data():
    from engine.dataset import build_sequence_data
    from engine.movielens import read_movielens

    frames = read_movielens()
    return build_sequence_data(frames.name, frames.interactions, frames.items, frames.item_attributes, frames.has_timestamps)


def stage_train_eval(args: dict) -> dict:
    """Train one attention model on movielens-small, evaluate on test (full ranking); optionally save it."""
    from engine.checkpoint import save_checkpoint
    from engine.config import EvalConfig, ModelConfig, TrainConfig
    from engine.evaluate import evaluate
    from engine.predict import ModelScorer
    from engine.train import train

    data = movielens_data()
    model_config, train_config = ModelConfig.from_dict(args["model"]), TrainConfig.from_dict(args["train"])
    result = train(data, model_config, train_config)
    test = evaluate(ModelScorer(result.model), data, EvalConfig(ks=(10, 20), split="test"))
    if args.get("save"):
        save_checkpoint(result.model, data, Path(args["save"]), metrics={"test": test.metrics},
                        extra={"train_config": train_config.to_dict()})  # fmt: skip
    return {"metrics": test.metrics, "valid": result.best_valid, "train_seconds": result.seconds,
            "best_epoch": result.best_epoch, "epochs_run": len(result.history), "stopped_early": result.stopped_early}  # fmt: skip


def stage_baseline_eval(args: dict) -> dict:
    from engine.baselines import fit_baseline
    from engine.config import EvalConfig
    from engine.evaluate import evaluate

    data = movielens_data()
    seconds, scorer = timed(fit_baseline, args["name"], data, **args.get("params", {}))
    test = evaluate(scorer, data, EvalConfig(ks=(10, 20), split="test"))
    return {"metrics": test.metrics, "fit_seconds": seconds}


def stage_speed(args: dict) -> dict:
    """Latencies on a trained movielens-small model: explain, faithfulness, what-if; scoring throughput."""
    import torch

    from engine.checkpoint import load_checkpoint
    from engine.config import EvalConfig
    from engine.evaluate import evaluate
    from engine.explain import explain_history, explain_user, user_history
    from engine.faithfulness import faithfulness
    from engine.predict import ModelScorer

    data = movielens_data()
    model = load_checkpoint(Path(args["checkpoint"]), data, torch.device("cpu")).model.eval()
    rng = np.random.default_rng(args.get("seed", 0))
    users = [data.users.to_raw(int(u)) for u in rng.permutation(np.arange(1, data.n_users + 1))]
    torch.set_num_threads(args.get("latency_threads", 1))  # what the dashboard server does
    cold, _ = timed(explain_user, model, data, users[0], 10)
    explain = [timed(explain_user, model, data, user, 10)[0] for user in users[: args["n_users"]]]
    faith, whatif = [], []
    for user in users[: args["n_faithfulness"]]:
        history = user_history(data, user)
        item = explain_user(model, data, user, 10).recommendations[0].item
        faith.append(timed(faithfulness, model, data, history, item)[0])
    for user in users[: args["n_users"]]:
        edited = _edited_history(user_history(data, user), data.n_items, rng)
        whatif.append(timed(explain_history, model, data, edited, 10)[0])
    scorer, all_users = ModelScorer(model), np.arange(1, data.n_users + 1)
    batch, repeats = EvalConfig().batch_size, args.get("repeats", 3)
    by_threads = {}
    for threads in (1, 2):  # both, in the same run: their ratio shows whether the second core helps right now
        torch.set_num_threads(threads)
        passes = [timed(lambda: [scorer.score_users(data, all_users[i : i + batch], "test") for i in range(0, len(all_users), batch)])[0]
                  for _ in range(repeats)]  # fmt: skip
        evals = [timed(evaluate, scorer, data, EvalConfig(split="test"))[0] for _ in range(repeats)]
        by_threads[str(threads)] = {"scoring_users_per_s": [len(all_users) / s for s in passes], "evaluate_seconds": evals}
    return {"explain_cold_ms": cold * 1000, "explain": summarise_ms(explain), "faithfulness": summarise_ms(faith),
            "whatif": summarise_ms(whatif), "throughput": by_threads, **by_threads["2"],
            "n_users": data.n_users, "n_items": data.n_items}  # fmt: skip


def _edited_history(history: np.ndarray, n_items: int, rng: np.random.Generator) -> np.ndarray:
    """A what-if edit: drop one random past item and add one item the user has not seen."""
    kept = np.delete(history, rng.integers(len(history))) if len(history) > 1 else history
    new = int(rng.integers(1, n_items + 1))
    while new in set(history.tolist()):
        new = int(rng.integers(1, n_items + 1))
    return np.append(kept, new)


def stage_ingest(args: dict) -> dict:
    """ingest_files of an interactions CSV (and items CSV) into a fresh store."""
    from engine.ingest import ingest_files
    from engine.store import Store

    items = args.get("items")
    seconds, report = timed(ingest_files, Store(Path(args["db"])), args["name"], Path(args["interactions"]),
                            Path(items) if items else None, replace=True)  # fmt: skip
    return {"seconds": seconds, "rows": report.interactions_accepted, "rejected": report.interactions_rejected,
            "n_users": report.n_users, "n_items": report.n_items}  # fmt: skip


def stage_plain_ingest(args: dict) -> dict:
    """ingest_throughput's measurement (interactions only), or one of its baselines (DuckDB raw, pandas)."""
    from benchmarks import ingest_throughput

    if args["kind"] == "pandas":
        return ingest_throughput.measure_pandas(Path(args["csv"]))
    if args["kind"] == "duckdb":
        return ingest_throughput.measure_duckdb(Path(args["csv"]), Path(args["db"]))
    return ingest_throughput.measure_ingest(Path(args["csv"]), Path(args["db"]))


def stage_write_1gb(args: dict) -> dict:
    from benchmarks import ingest_throughput

    seconds, _ = timed(ingest_throughput.write_csv, Path(args["csv"]), args["rows"], wide=True)
    return {"seconds": seconds, "bytes": Path(args["csv"]).stat().st_size}


def stage_synthesize(args: dict) -> dict:
    from engine.synthetic import preset, write_synthetic

    seconds, files = timed(write_synthetic, preset(args["size"], args.get("seed", 0)), Path(args["dir"]))
    return {"seconds": seconds, "bytes": files.interactions_bytes, "n_interactions": files.n_interactions,
            "n_users": files.n_users, "n_items": files.n_items}  # fmt: skip


def stage_scale_probe(args: dict) -> dict:
    """At one synthetic size: load_data, a fixed number of training steps, a sampled evaluation, explain.

    Every stage records wall and CPU seconds of this process and the load average around it (the
    machine is shared: CPU time is the steadier figure)."""
    import torch

    from engine.config import ModelConfig, TrainConfig
    from engine.service import load_data
    from engine.store import Store
    from engine.train import build_model

    meter, clocks = PeakMeter(), {}
    with meter.stage("load_data"), _Clock(clocks, "load_data"):
        load_s, data = timed(load_data, Store(Path(args["db"]), read_only=True), args["name"])
    train_config = TrainConfig() if args.get("threads") is None else dataclasses.replace(TrainConfig(), threads=args["threads"])
    with meter.stage("train"), _Clock(clocks, "train"):
        train = _train_steps(data, ModelConfig(), train_config, args["n_steps"])
    train["threads"] = train_config.threads
    windows = _window_setup(data, ModelConfig().max_len)
    model = build_model(data, ModelConfig()).eval()  # latency and evaluation cost do not depend on the weights
    with meter.stage("evaluate"), _Clock(clocks, "evaluate"):
        evaluation = _sampled_evaluation(model, data, args["n_eval_users"], train_config)
    torch.set_num_threads(1)  # what the dashboard server uses per request
    with meter.stage("explain"), _Clock(clocks, "explain"):
        explain = _explain_latency(model, data, args["n_explain_users"])
    torch.set_num_threads(2)  # the engine's default: one request alone on both cores (CLI, a quiet server)
    with meter.stage("explain_2threads"), _Clock(clocks, "explain_2threads"):
        explain_two = _explain_latency(model, data, args["n_explain_users"])
    return {"load_seconds": load_s, "n_users": data.n_users, "n_items": data.n_items, "train": train,
            "windows": windows, "evaluate": evaluation, "explain": explain, "explain_2threads": explain_two,
            "stage_peak_mib": meter.stop(), "clocks": clocks}  # fmt: skip


def stage_load_old(args: dict) -> dict:
    """The replaced load path, for a ratio in the same run: every row into pandas with string ids
    (Store.load_interactions), then build_sequence_data's sort and dict mapping."""
    from engine.dataset import build_sequence_data
    from engine.store import Store

    store, name = Store(Path(args["db"]), read_only=True), args["name"]
    info = store.dataset_info(name)
    cpu = time.process_time()
    seconds, data = timed(lambda: build_sequence_data(name, store.load_interactions(name), store.load_items(name),
                                                      store.load_item_attributes(name), info.has_timestamps))  # fmt: skip
    out = {"seconds": seconds, "cpu_seconds": time.process_time() - cpu, "fingerprint": data.fingerprint}
    from engine.batching import training_windows  # the replaced per-user loop that materialised every window

    cpu, started = time.process_time(), time.perf_counter()
    training_windows([data.train_sequence(u) for u in range(1, data.n_users + 1)], args.get("max_len", 50), 7)
    return {**out, "windows_seconds": time.perf_counter() - started, "windows_cpu_seconds": time.process_time() - cpu}


class _Clock:
    """Wall and CPU seconds of a block and the 1-minute load average before and after it."""

    def __init__(self, into: dict, name: str) -> None:
        self.into, self.name = into, name

    def __enter__(self) -> None:
        import os

        self.wall, self.cpu, self.load = time.perf_counter(), time.process_time(), os.getloadavg()[0]

    def __exit__(self, *exc) -> None:
        import os

        self.into[self.name] = {"wall_seconds": time.perf_counter() - self.wall, "cpu_seconds": time.process_time() - self.cpu,
                                "load_start": round(self.load, 2), "load_end": round(os.getloadavg()[0], 2)}  # fmt: skip


def _window_setup(data, length: int) -> dict:
    """Cost of one epoch's window plan, what training builds per epoch now (the replaced per-user loop
    is timed in stage_load_old, in its own process, so its memory does not count here)."""
    from engine.windows import plan_windows

    cpu = time.process_time()
    seconds, plan = timed(plan_windows, data.sequences.offsets, data.train_lengths(), length, 7)
    return {"plan_seconds": seconds, "plan_cpu_seconds": time.process_time() - cpu, "windows": len(plan)}


def _train_steps(data, model_config, train_config, n_steps: int) -> dict:
    """Run engine.train.train for n_steps steps (then cancel) and time its setup and its steps."""
    from engine.train import TrainingCancelled, train

    marks: list[float] = []
    seen = {}

    def on_progress(progress) -> None:
        marks.append(time.perf_counter())
        seen["steps_per_epoch"] = progress.steps_per_epoch

    started = time.perf_counter()
    try:
        train(data, model_config, train_config, on_progress=on_progress, should_stop=lambda: len(marks) >= n_steps)
    except TrainingCancelled:
        pass
    steps = np.diff([started, *marks])
    step_s = float(np.median(steps[1:])) if len(steps) > 1 else float(steps[0])
    setup_s = float(steps[0] - step_s)  # model, sequences, negatives and the epoch's windows, before step 1
    per_epoch = seen["steps_per_epoch"]
    return {"setup_seconds": setup_s, "step_ms": step_s * 1000, "steps_timed": len(marks), "steps_per_epoch": per_epoch,
            "epoch_steps_seconds": per_epoch * step_s}  # fmt: skip


def _sampled_evaluation(model, data, n_users: int, train_config) -> dict:
    """Time evaluate() on n and 2n sampled users; a line through both extrapolates to every user and to
    the validation check training now runs (TrainConfig.valid_users users at most)."""
    from engine.config import EvalConfig
    from engine.evaluate import evaluate
    from engine.predict import ModelScorer

    rng = np.random.default_rng(0)
    evaluable = data.evaluable_users("valid")
    users = np.sort(rng.choice(evaluable, size=min(2 * n_users, len(evaluable)), replace=False))
    times, cpu = {}, {}
    for n in (len(users) // 2, len(users)):
        started = time.process_time()
        times[n] = timed(evaluate, ModelScorer(model), data, EvalConfig(ks=(10,), split="valid"), None, users[:n])[0]
        cpu[n] = time.process_time() - started
    (n1, t1), (n2, t2) = sorted(times.items())
    per_user = (t2 - t1) / max(n2 - n1, 1)
    per_user_cpu = (cpu[n2] - cpu[n1]) / max(n2 - n1, 1)
    n_all, n_check = len(evaluable), min(len(evaluable), train_config.valid_users or len(evaluable))
    return {"sampled": {str(n): t for n, t in times.items()}, "sampled_cpu": {str(n): c for n, c in cpu.items()},
            "per_user_ms": per_user * 1000, "per_user_cpu_ms": per_user_cpu * 1000, "fixed_seconds": t1 - per_user * n1,
            "all_users": n_all, "estimate_seconds": t1 + per_user * (n_all - n1),
            "check_users": n_check, "check_seconds": t1 + per_user * (n_check - n1),
            "check_cpu_seconds": cpu[n1] + per_user_cpu * (n_check - n1)}  # fmt: skip


def _explain_latency(model, data, n_users: int) -> dict:
    from engine.explain import explain_user

    rng = np.random.default_rng(1)
    users = [data.users.to_raw(int(u)) for u in rng.choice(np.arange(1, data.n_users + 1), size=n_users, replace=False)]
    cold, _ = timed(explain_user, model, data, users[0], 10)
    walls, cpus = [], []
    for user in users:
        cpu = time.process_time()
        walls.append(timed(explain_user, model, data, user, 10)[0])
        cpus.append(time.process_time() - cpu)
    return {"cold_ms": cold * 1000, **summarise_ms(walls), "cpu": summarise_ms(cpus)}


def stage_ranks(args: dict) -> dict:
    """Every user's 0-based target rank (test split unless args["split"] says otherwise) under each saved default
    model and each baseline, users in one order for all (benchmarks.uncertainty pairs them user by user)."""
    import torch

    from engine.baselines import fit_baseline
    from engine.checkpoint import load_checkpoint
    from engine.config import EvalConfig
    from engine.evaluate import evaluate
    from engine.predict import ModelScorer

    data = movielens_data()
    config = EvalConfig(ks=(10,), split=args.get("split", "test"))

    users = None

    def ranks_of(scorer, name: str) -> list[int]:
        nonlocal users
        result = evaluate(scorer, data, config)
        ordered = np.sort(result.users)
        users = ordered if users is None else users
        if not np.array_equal(ordered, users):
            raise RuntimeError(f"{name} was evaluated on other users than the first model")
        return result.ranks[np.argsort(result.users, kind="stable")].tolist()

    default = [ranks_of(ModelScorer(load_checkpoint(Path(stem), data, torch.device("cpu")).model.eval()), stem)
               for stem in args["checkpoints"]]  # fmt: skip
    baselines = {name: ranks_of(fit_baseline(name, data), name) for name in args["baselines"]}
    return {"default": default, "baselines": baselines}


STAGES = {"train_eval": stage_train_eval, "baseline_eval": stage_baseline_eval, "speed": stage_speed,
          "ingest": stage_ingest, "plain_ingest": stage_plain_ingest, "write_1gb": stage_write_1gb,
          "synthesize": stage_synthesize, "scale_probe": stage_scale_probe, "load_old": stage_load_old,
          "ranks": stage_ranks}  # fmt: skip


def main() -> None:
    from benchmarks.results import code_hash, kind_hashes

    stage, args = sys.argv[1], json.loads(sys.argv[2])
    code, hashes = code_hash(), kind_hashes()  # of the engine files this process imports (others may edit them)
    started = time.perf_counter()
    result = STAGES[stage](args)
    result.update(peak_rss_mib=peak_rss_mib(), wall_seconds=time.perf_counter() - started, code_hash=code,
                  code_hashes=hashes)
    print(RESULT_MARK + json.dumps(result, default=float))


if __name__ == "__main__":
    main()
