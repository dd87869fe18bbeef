"""`python -m engine COMMAND`: the command line over the engine; the only module that reads argv.

Readable text by default, `--json` for scripts. Any invalid input ends with exit status 2 and one line
on stderr naming what is wrong; no traceback reaches the user.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Callable

from engine.config import SCORER_NAMES, ConfigError, EvalConfig, ModelConfig, TrainConfig

EXIT_USAGE = 2


class UsageError(Exception):
    """Bad input from the user: printed as one line, exit status 2."""


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m engine", description="Recscope engine: data, training, evaluation, explanations.")
    parser.add_argument("--db", help="DuckDB store file (default: $RECSCOPE_DB or data/recscope.duckdb)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def command(name: str, help_text: str) -> argparse.ArgumentParser:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.add_argument("--json", action="store_true", help="machine-readable output")
        return sub

    ingest = command("ingest", "load CSV files as a dataset (all-or-nothing)")
    ingest.add_argument("--name", required=True, help="dataset name")
    ingest.add_argument("--interactions", required=True, type=Path, help="interactions CSV (user, item, optional time and rating)")
    ingest.add_argument("--items", type=Path, help="items CSV (id, title, attribute columns)")
    ingest.add_argument("--users", type=Path, help="users CSV (id, attribute columns)")
    ingest.add_argument("--user-col", help="column holding user ids (default: detected)")
    ingest.add_argument("--item-col", help="column holding item ids (default: detected)")
    ingest.add_argument("--time-col", help="column holding timestamps (default: detected; none = file order)")
    ingest.add_argument("--rating-col", help="column holding ratings or weights (default: detected)")
    ingest.add_argument("--replace", action="store_true", help="replace an existing dataset of that name")
    ingest.add_argument("--max-rows", type=int, help="refuse files with more interaction rows than this")

    command("datasets", "list stored datasets")
    models = command("models", "list trained models")
    models.add_argument("--dataset", help="only models of this dataset")

    train = command("train", "train an attention model and register it")
    train.add_argument("--dataset", required=True)
    train.add_argument("--scorer", choices=SCORER_NAMES, default=ModelConfig.scorer)
    train.add_argument("--layers", type=int, default=ModelConfig.n_layers, help="self-attention blocks (0 allowed)")
    train.add_argument("--heads", type=int, default=ModelConfig.n_heads)
    train.add_argument("--dim", type=int, default=ModelConfig.embed_dim)
    train.add_argument("--max-len", type=int, default=ModelConfig.max_len)
    train.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    train.add_argument("--seed", type=int, default=TrainConfig.seed)
    train.add_argument("--threads", type=int, default=TrainConfig.threads, help="torch threads (default: the machine's 2 cores)")
    train.add_argument("--name", help="model name (default: derived from the settings)")

    evaluate = command("evaluate", "full-ranking metrics on the test split")
    evaluate.add_argument("--dataset", required=True)
    which = evaluate.add_mutually_exclusive_group(required=True)
    which.add_argument("--model")
    which.add_argument("--baseline", choices=("pop", "itemknn", "ease", "bpr"))
    evaluate.add_argument("--k", type=int, action="append", help="cut-off (repeatable; default 10 and 20)")

    recommend = command("recommend", "top-K items for a user, optionally explained")
    recommend.add_argument("--model", required=True)
    recommend.add_argument("--user", required=True, help="user id as in the data")
    recommend.add_argument("--k", type=int, default=10)
    recommend.add_argument("--explain", action="store_true", help="add history and feature attention, and faithfulness checks")

    faithful = command("faithfulness", "does attention explain this model? measures over a sample of users")
    faithful.add_argument("--model", required=True)
    faithful.add_argument("--users", type=int, default=30, help="users sampled (default 30)")
    faithful.add_argument("--seed", type=int, default=0)
    faithful.add_argument("--seed-models", default="", help="comma-separated models trained with other seeds (default: registered models with the same settings)")

    export = command("export", "write a dataset as sharded Parquet for distributed training (see docs/DISTRIBUTED.md)")
    export.add_argument("--dataset", required=True)
    export.add_argument("--out", required=True, type=Path, help="new folder to create (refused if it exists)")
    export.add_argument("--shards", type=int, default=1, help="user-disjoint shards; use the number of training processes or a multiple (default 1)")
    export.add_argument("--row-group-rows", type=int, help="users per Parquet row group (default 8192)")
    return parser


def _store(args: argparse.Namespace):
    from engine.sample import ensure_sample
    from engine.store import Store, resolve_db_path

    store = Store(resolve_db_path(args.db))
    ensure_sample(store)
    return store


def _cmd_datasets(args: argparse.Namespace) -> tuple[Any, str]:
    frame = _store(args).list_datasets()
    rows = json.loads(frame.to_json(orient="records", date_format="iso"))
    text = "\n".join(f"{r['name']}: {r['n_users']} users, {r['n_items']} items, {r['n_interactions']} interactions ({r['source']})" for r in rows)
    return {"datasets": rows}, text or "no datasets"


def _cmd_models(args: argparse.Namespace) -> tuple[Any, str]:
    records = _store(args).list_models(args.dataset)
    rows = [
        {"name": r.name, "dataset": r.dataset, "scorer": r.scorer, "stale": r.stale,
         "ndcg@10": r.metrics.get("test", {}).get("ndcg@10"), "created_at": str(r.created_at)}
        for r in records
    ]  # fmt: skip
    text = "\n".join(f"{r['name']}  dataset={r['dataset']} scorer={r['scorer']} test ndcg@10={r['ndcg@10']}" + ("  [stale]" if r["stale"] else "") for r in rows)
    return {"models": rows}, text or "no models"


def _cmd_train(args: argparse.Namespace) -> tuple[Any, str]:
    from engine.service import train_and_register

    model_config = ModelConfig(scorer=args.scorer, n_layers=args.layers, n_heads=args.heads, embed_dim=args.dim, max_len=args.max_len)
    train_config = TrainConfig(epochs=args.epochs, seed=args.seed, threads=args.threads)
    store = _store(args)
    if not store.dataset_exists(args.dataset):
        raise UsageError(f"unknown dataset {args.dataset!r}; see `python -m engine datasets`")

    def report(progress) -> None:
        if progress.metrics is not None and not args.json:
            print(f"epoch {progress.epoch}: loss {progress.loss:.4f}, valid ndcg@10 {progress.metrics['ndcg@10']:.4f}", file=sys.stderr)

    record = train_and_register(store, args.dataset, model_config, train_config, args.name, on_progress=report)
    test = record.metrics["test"]
    text = f"trained {record.name} in {record.metrics['train_seconds']} s; test ndcg@10 {test['ndcg@10']:.4f}, hr@10 {test['hr@10']:.4f}"
    return {"model": record.name, "dataset": record.dataset, "metrics": record.metrics}, text


def _cmd_evaluate(args: argparse.Namespace) -> tuple[Any, str]:
    from engine.baselines import fit_baseline
    from engine.evaluate import evaluate
    from engine.predict import ModelScorer
    from engine.service import load_data, load_model

    store = _store(args)
    ks = tuple(sorted(set(args.k))) if args.k else (10, 20)
    config = EvalConfig(ks=ks, split="test")
    if args.model:
        loaded = load_model(store, args.model)
        if loaded.record.dataset != args.dataset:
            raise UsageError(f"model {args.model!r} was trained on {loaded.record.dataset!r}, not {args.dataset!r}")
        scorer, data, label = ModelScorer(loaded.model), loaded.data, args.model
    else:
        data = load_data(store, args.dataset)
        scorer, label = fit_baseline(args.baseline, data), args.baseline
    result = evaluate(scorer, data, config)
    metrics = {key: float(value) for key, value in result.metrics.items()}
    text = f"{label} on {args.dataset} ({len(result.users)} users): " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items())
    return {"dataset": args.dataset, "model": args.model, "baseline": args.baseline, "n_users": len(result.users), "metrics": metrics}, text


def _cmd_recommend(args: argparse.Namespace) -> tuple[Any, str]:
    from engine.explain import explain_user, user_history
    from engine.faithfulness import faithfulness
    from engine.service import load_model

    if args.k < 1:
        raise UsageError("--k must be at least 1")
    loaded = load_model(_store(args), args.model)
    if args.user not in loaded.data.users.index:
        raise UsageError(f"unknown user {args.user!r} in dataset {loaded.data.name!r}")
    explanation = explain_user(loaded.model, loaded.data, args.user, args.k)
    items = []
    lines = [f"top {len(explanation.recommendations)} for user {args.user} ({args.model}):"]
    for rec in explanation.recommendations:
        row: dict[str, Any] = {"item_id": rec.item_id, "title": rec.title, "score": rec.score, "rank": rec.rank}
        lines.append(f"{rec.rank:>3}. {rec.title} [{rec.item_id}] score {rec.score:.4f}")
        if args.explain:
            history = sorted(rec.history, key=lambda h: -h.weight)
            row["history"] = [{"item_id": h.item_id, "title": h.title, "weight": h.weight, "contribution": h.contribution} for h in history]
            row["features"] = [{"field": f.field, "value": f.value, "weight": f.weight} for f in rec.features]
            row["item_bias"] = rec.item_bias
            lines.extend(f"       because of {h.title} (weight {h.weight:.3f})" for h in history[:3])
            lines.extend(f"       feature {f.field}={f.value} (weight {f.weight:.3f})" for f in rec.features[:3])
            check = faithfulness(loaded.model, loaded.data, user_history(loaded.data, args.user), rec.item, top_k=args.k)
            row["faithfulness"] = _faithfulness_row(check)
            lines.append(f"       {check.verdict}")
        items.append(row)
    return {"model": args.model, "user_id": args.user, "scorer": explanation.scorer, "items": items}, "\n".join(lines)


def _faithfulness_row(check) -> dict[str, Any]:
    return {
        "verdict": check.verdict,
        "score_gap": check.score_gap,
        "rank_flip": check.rank_flip,
        "random_rank_flip": check.random_rank_flip,
        "comprehensiveness": {str(k): {"score_drop": v[0], "rank": v[1]} for k, v in check.comprehensiveness.items()},
        "sufficiency": {str(k): {"score_drop": v[0], "rank": v[1]} for k, v in check.sufficiency.items()},
        "kendall_tau_occlusion": check.tau_occlusion,
        "kendall_tau_gradient": check.tau_gradient,
    }


def _cmd_faithfulness(args: argparse.Namespace) -> tuple[Any, str]:
    from dataclasses import asdict

    from engine.faithfulness_report import model_report
    from engine.service import load_model

    if args.users < 2:
        raise UsageError("--users must be at least 2")
    store = _store(args)
    loaded = load_model(store, args.model)
    names = [n for n in args.seed_models.split(",") if n] or _same_settings_models(store, loaded.record)
    others = [load_model(store, name, data=loaded.data).model for name in names]
    report = model_report(loaded.model, loaded.data, n_users=args.users, seed=args.seed, other_seeds=others)
    payload = {"model": args.model, "seed_models": names, **asdict(report)}
    return payload, "\n".join(report.statements)


def _same_settings_models(store, record) -> list[str]:
    """Registered, non-stale models of the same dataset and model settings, but another seed."""
    from engine.faithfulness_report import seed_siblings

    return [other.name for other in seed_siblings(record, store.list_models(record.dataset))]


def _cmd_export(args: argparse.Namespace) -> tuple[Any, str]:
    from engine.export import ExportError, export_dataset

    store = _store(args)
    if not store.dataset_exists(args.dataset):
        raise UsageError(f"unknown dataset {args.dataset!r}; see `python -m engine datasets`")
    try:
        summary = export_dataset(store, args.dataset, args.out, n_shards=args.shards, row_group_rows=args.row_group_rows)
    except ExportError as error:
        raise UsageError(str(error)) from None
    return summary.to_dict(), summary.text()


def _cmd_ingest(args: argparse.Namespace) -> tuple[Any, str]:
    from engine.ingest import ColumnMapping, ingest_files

    mapping = ColumnMapping(user=args.user_col, item=args.item_col, time=args.time_col, rating=args.rating_col)
    report = ingest_files(
        _store(args), args.name, args.interactions, items_path=args.items, users_path=args.users,
        mapping=mapping, replace=args.replace, max_rows=args.max_rows,
    )  # fmt: skip
    return report.to_dict(), report.summary()


COMMANDS: dict[str, Callable[[argparse.Namespace], tuple[Any, str]]] = {
    "ingest": _cmd_ingest,
    "datasets": _cmd_datasets,
    "models": _cmd_models,
    "train": _cmd_train,
    "evaluate": _cmd_evaluate,
    "recommend": _cmd_recommend,
    "faithfulness": _cmd_faithfulness,
    "export": _cmd_export,
}


def _user_errors() -> tuple[type[BaseException], ...]:
    """Exceptions whose message is meant for the user (imported late: importing torch is slow)."""
    from engine.checkpoint import CheckpointError
    from engine.service import ServiceError
    from engine.store import StoreError

    errors: list[type[BaseException]] = [UsageError, ConfigError, StoreError, ServiceError, CheckpointError]
    try:
        from engine.ingest import IngestRefused

        errors.append(IngestRefused)
    except ImportError:
        pass
    return tuple(errors)


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    try:
        payload, text = COMMANDS[args.command](args)
    except _user_errors() as error:
        print(f"error: {error}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return 130
    if args.json:
        print(json.dumps(payload, indent=1, default=str))
    else:
        print(text)
    return 0
