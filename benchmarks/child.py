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
    """The colleague's ingest_throughput measurement (interactions only), or its pandas.read_csv baseline."""
    from benchmarks import ingest_throughput

    if args["kind"] == "pandas":
        return ingest_throughput.measure_pandas(Path(args["csv"]))
    return ingest_throughput.measure_ingest(Path(args["csv"]), Path(args["db"]))


def stage_write_1gb(args: dict) -> dict:
    from benchmarks import ingest_throughput

    seconds, _ = timed(ingest_throughput.write_csv, Path(args["csv"]), args["rows"])
    return {"seconds": seconds, "bytes": Path(args["csv"]).stat().st_size}


def stage_synthesize(args: dict) -> dict:
    from engine.synthetic import preset, write_synthetic

    seconds, files = timed(write_synthetic, preset(args["size"], args.get("seed", 0)), Path(args["dir"]))
    return {"seconds": seconds, "bytes": files.interactions_bytes, "n_interactions": files.n_interactions,
            "n_users": files.n_users, "n_items": files.n_items}  # fmt: skip


def stage_scale_probe(args: dict) -> dict:
    """At one synthetic size: load_data, a fixed number of training steps, a sampled evaluation, explain."""
    import torch

    from engine.config import ModelConfig, TrainConfig
    from engine.service import load_data
    from engine.store import Store
    from engine.train import build_model

    meter = PeakMeter()
    with meter.stage("load_data"):
        load_s, data = timed(load_data, Store(Path(args["db"]), read_only=True), args["name"])
    train_config = TrainConfig() if args.get("threads") is None else dataclasses.replace(TrainConfig(), threads=args["threads"])
    with meter.stage("train"):
        train = _train_steps(data, ModelConfig(), train_config, args["n_steps"])
    train["threads"] = train_config.threads
    model = build_model(data, ModelConfig()).eval()  # latency and evaluation cost do not depend on the weights
    with meter.stage("evaluate"):
        evaluation = _sampled_evaluation(model, data, args["n_eval_users"])
    torch.set_num_threads(1)
    with meter.stage("explain"):
        explain = _explain_latency(model, data, args["n_explain_users"])
    return {"load_seconds": load_s, "n_users": data.n_users, "n_items": data.n_items, "train": train,
            "evaluate": evaluation, "explain": explain, "stage_peak_mib": meter.stop()}  # fmt: skip


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


def _sampled_evaluation(model, data, n_users: int) -> dict:
    """Time evaluate() on n and 2n sampled users; a line through both extrapolates to every user."""
    from engine.config import EvalConfig
    from engine.evaluate import evaluate
    from engine.predict import ModelScorer

    rng = np.random.default_rng(0)
    users = rng.choice(np.arange(1, data.n_users + 1), size=min(2 * n_users, data.n_users), replace=False)
    empty = np.zeros(0, dtype=np.int64)
    times = {}
    for n in (len(users) // 2, len(users)):
        keep = set(users[:n].tolist())
        subset = dataclasses.replace(data, sequences=[s if u in keep else empty for u, s in enumerate(data.sequences)])
        times[n] = timed(evaluate, ModelScorer(model), subset, EvalConfig(ks=(10,), split="valid"))[0]
    (n1, t1), (n2, t2) = sorted(times.items())
    per_user = (t2 - t1) / max(n2 - n1, 1)
    n_all = int(sum(1 for s in data.sequences if len(s) >= 3))
    return {"sampled": {str(n): t for n, t in times.items()}, "per_user_ms": per_user * 1000,
            "fixed_seconds": t1 - per_user * n1, "all_users": n_all, "estimate_seconds": t1 + per_user * (n_all - n1)}  # fmt: skip


def _explain_latency(model, data, n_users: int) -> dict:
    from engine.explain import explain_user

    rng = np.random.default_rng(1)
    users = [data.users.to_raw(int(u)) for u in rng.choice(np.arange(1, data.n_users + 1), size=n_users, replace=False)]
    cold, _ = timed(explain_user, model, data, users[0], 10)
    return {"cold_ms": cold * 1000, **summarise_ms([timed(explain_user, model, data, u, 10)[0] for u in users])}


STAGES = {"train_eval": stage_train_eval, "baseline_eval": stage_baseline_eval, "speed": stage_speed,
          "ingest": stage_ingest, "plain_ingest": stage_plain_ingest, "write_1gb": stage_write_1gb,
          "synthesize": stage_synthesize, "scale_probe": stage_scale_probe}  # fmt: skip


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
