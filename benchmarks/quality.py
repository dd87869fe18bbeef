"""Quality on movielens-small (leave-last-out, full ranking): the attention model's variants and the
baselines, several seeds each, within a time budget.

Jobs run in priority order (the default model first, then the baselines, then the other scorers and
the variants without self-attention blocks), each in its own process. Finished runs are stored at once,
so a later call resumes where the budget stopped this one. The default configs are read from
engine.config at run time: the page always describes the current defaults.
"""

from __future__ import annotations

import dataclasses
import statistics
import threading
import time
from concurrent.futures import ThreadPoolExecutor

from benchmarks import results
from benchmarks.environment import load_average
from benchmarks.measure import ChildFailed, run_child

DETERMINISTIC_BASELINES = ("pop", "itemknn", "ease")  # same numbers for every seed: run once
SEEDED_BASELINES = ("bpr",)


def model_variants() -> list[tuple[str, dict]]:
    """(label, ModelConfig dict): the default first, then the other scorers at the default depth, then every
    scorer at the other depth (with blocks when the default has none, and the reverse). Cheap scorers come
    before the additive one (several times the cost per epoch), so a time budget still covers each scorer."""
    from engine.config import SCORER_NAMES, ModelConfig

    default = ModelConfig()
    other_depth = 0 if default.n_layers else 2
    by_cost = sorted(SCORER_NAMES, key=lambda name: name == "additive")
    variants = [("default", default)]
    for layers in (default.n_layers, other_depth):
        for scorer in by_cost:
            config = dataclasses.replace(default, scorer=scorer, n_layers=layers)
            if config != default:
                variants.append((f"{scorer}, {layers} blocks", config))
    return [(label, config.to_dict()) for label, config in variants]


def default_label() -> str:
    from engine.config import ModelConfig

    config = ModelConfig()
    return f"default ({config.scorer}, {config.n_layers} blocks)"


def seeds(n_seeds: int) -> list[int]:
    from engine.config import TrainConfig

    return [TrainConfig().seed + i for i in range(n_seeds)]


def plan(n_seeds: int, quick: bool, threads: int | None = None) -> list[dict]:
    """Jobs in priority order (baselines first: minutes, and unaffected by retuning the model); quick runs the
    default model once. `threads` overrides the
    training thread count (e.g. 1 on a shared machine, where two threads contend badly)."""
    from engine.config import TrainConfig

    train = TrainConfig().to_dict()
    if threads is not None:
        train["threads"] = threads
    jobs = [{"kind": "baseline", "label": name, "name": name, "params": {}, "seed": None} for name in DETERMINISTIC_BASELINES]
    jobs += [{"kind": "baseline", "label": name, "name": name, "params": {"seed": s}, "seed": s}
             for name in SEEDED_BASELINES for s in seeds(1 if quick else n_seeds)]  # fmt: skip
    jobs += [{"kind": "attention", "label": "default", "model": model_variants()[0][1], "train": {**train, "seed": s}, "seed": s}
             for s in seeds(1 if quick else n_seeds)]  # fmt: skip
    if not quick:  # every seed of the cheap scorers' variants before the additive ones (~10x the cost per run)
        variants = model_variants()[1:]
        for costly in (False, True):
            for s in seeds(n_seeds):
                jobs += [{"kind": "attention", "label": label, "model": config, "train": {**train, "seed": s}, "seed": s}
                         for label, config in variants if (config["scorer"] == "additive") == costly]  # fmt: skip
    return jobs


def _same_job(run: dict, job: dict, codes: dict[str, str]) -> bool:
    """Same experiment on the same code; the thread count changes timings, not what is learned on average."""
    keys = ("kind", "label", "seed", "model", "name", "params")
    same_train = {**run.get("train", {}), "threads": 0} == {**job.get("train", {}), "threads": 0} if "train" in job else True
    return run.get("code_hash") == codes[job["kind"]] and same_train and all(run.get(key) == job.get(key) for key in keys)


def run_quality(n_seeds: int, budget_s: float | None, quick: bool, env: dict, log, threads: int | None = None,
                jobs: int = 1) -> dict:
    """Run the pending jobs until the budget is spent, up to `jobs` at a time (each in its own process:
    on a 2-core machine, two one-thread trainings side by side); returns the updated stored payload."""
    stored = results.load("quality")
    runs: list[dict] = stored.get("runs", [])
    started = time.perf_counter()
    lock, slots = threading.Lock(), threading.Semaphore(jobs)

    def run_and_store(job: dict, code: str) -> None:
        try:
            run = _run(job, code)
            if run is not None:
                with lock:  # each finished run is stored at once, whatever the others do
                    runs.append(run)
                    stored.update(runs=runs, env={**env, "load_end": load_average()})
                    results.save("quality", stored)
        finally:
            slots.release()

    futures = []
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        for job in plan(n_seeds, quick, threads):
            slots.acquire()  # wait for a free slot, so the budget is checked when a job can start
            codes = results.kind_hashes()  # again per job: colleagues may edit the engine meanwhile
            with lock:
                done = any(_same_job(run, job, codes) for run in runs)
                estimate = _estimate(runs, job)
            elapsed = time.perf_counter() - started
            if done or (budget_s is not None and elapsed + estimate > budget_s):
                slots.release()
                if done:
                    continue
                log(f"quality: budget reached, {job['label']} seed {job['seed']} and later jobs stay pending")
                break
            log(f"quality: {job['label']} seed {job['seed']} (estimate {estimate:.0f} s, load {load_average()})")
            futures.append(pool.submit(run_and_store, job, codes[job["kind"]]))
    for future in futures:
        future.result()  # a failure to store a run is raised here, not lost in its thread
    return stored


def _estimate(runs: list[dict], job: dict) -> float:
    similar = [r["wall_seconds"] for r in runs if r["kind"] == job["kind"] and r["label"] == job["label"]]
    similar = similar or [r["wall_seconds"] for r in runs if r["kind"] == job["kind"]]
    return statistics.median(similar) if similar else 0.0


def _run(job: dict, code: str) -> dict | None:
    load_start = load_average()
    try:
        if job["kind"] == "attention":
            save = None
            if job["label"] == "default":
                save = str(results.CACHE_DIR / "models" / f"default-{code}-s{job['seed']}")
            outcome = run_child("train_eval", {"model": job["model"], "train": job["train"], "save": save}, timeout_s=3 * 3600)
        else:
            outcome = run_child("baseline_eval", {"name": job["name"], "params": job["params"]}, timeout_s=3600)
    except ChildFailed as error:
        print(f"quality: {job['label']} seed {job['seed']} failed: {error}")
        return None
    code = outcome.pop("code_hashes", {}).get(job["kind"], code)  # what the training process really imported
    outcome.pop("code_hash", None)
    return {**job, **outcome, "code_hash": code, "measured_at": results.now(), "load_start": load_start,
            "load_end": load_average()}  # fmt: skip


def current_runs(stored: dict) -> tuple[list[dict], bool]:
    """The runs to report and whether they are current: those of the current engine code and defaults if
    any, else all runs of the most recent code (flagged: the defaults or the model changed since)."""
    runs = stored.get("runs", [])
    codes = results.kind_hashes()
    planned = plan(10, quick=False)
    fresh = [run for run in runs if any(_same_job(run, job, codes) for job in planned)]
    if not [run for run in fresh if run["kind"] == "attention"] and any(run["kind"] == "attention" for run in runs):
        latest = [run for run in runs if run["kind"] == "attention"][-1]["code_hash"]
        stale = [run for run in runs if run["kind"] == "attention" and run["code_hash"] == latest]
        return fresh + stale, False
    return fresh, True


def _load_range(group: list[dict]) -> str:
    loads = [r[key] for r in group for key in ("load_start", "load_end") if isinstance(r.get(key), (int, float))]
    return f"{min(loads):.1f}–{max(loads):.1f}" if loads else "?"


def summarise(runs: list[dict]) -> list[dict]:
    """One row per model/baseline: mean and std over seeds of every metric."""
    rows: dict[str, list[dict]] = {}
    for run in runs:
        rows.setdefault(run["label"], []).append(run)
    table = []
    for label, group in rows.items():
        metrics = {}
        for key in group[0]["metrics"]:
            values = [r["metrics"][key] for r in group]
            metrics[key] = (statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0)
        seconds = [r.get("train_seconds", r.get("fit_seconds", 0.0)) for r in group]
        table.append({"label": label, "kind": group[0]["kind"], "n": len(group), "metrics": metrics,
                      "seconds": statistics.median(seconds), "peak_rss_mib": max(r["peak_rss_mib"] for r in group),
                      "seeds": [r["seed"] for r in group], "model": group[0].get("model"),
                      "threads": sorted({r["train"]["threads"] for r in group if "train" in r}),
                      "load": _load_range(group)})  # fmt: skip
    return table
