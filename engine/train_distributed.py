"""Data-parallel training under torchrun: DistributedDataParallel over AttentionRecommender, Parquet shards in.

    torchrun --nproc-per-node=N -m engine.train_distributed --data DIR --out STEM [options]

The model, loss (sampled softmax, log-Q corrected), Adam, learning-rate schedule and early stopping are
engine.train's; what changes is who sees which data. Each rank reads only its shards of an engine.export
folder and takes --batch-size / world windows per step. All ranks run the same number of steps per epoch
(a rank with fewer windows wraps around its own shuffled list, as DistributedSampler pads) and draw the
step's shared negatives from one generator seeded alike everywhere, so they score the same candidates.
Rank 0 alone reads the whole export: it evaluates (validation NDCG@10 decides early stopping, and the
decision is broadcast), then writes the checkpoint atomically and optionally registers it in a store.
docs/DISTRIBUTED.md has the commands for one node, several nodes and GPUs.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn
from torch.nn.parallel import DistributedDataParallel

from engine.batching import training_windows
from engine.checkpoint import CheckpointError, checkpoint_paths, save_checkpoint
from engine.config import SCORER_NAMES, ConfigError, EvalConfig, ModelConfig, TrainConfig
from engine.dataset import SequenceData
from engine.distributed import (BACKENDS, Cluster, DistributedError, broadcast_flag, broadcast_object,
                                gather_ints, gather_strings, join_cluster, leave_cluster, mean_over_ranks, state_digest)  # fmt: skip
from engine.evaluate import evaluate
from engine.model import AttentionRecommender
from engine.predict import ModelScorer
from engine.registry import ModelRecord
from engine.service import ServiceError, check_model_name, default_model_name
from engine.shards import ShardError, read_manifest, read_sequence_data, read_train_sequences, shards_for_rank
from engine.store import Store, StoreError
from engine.train import VALID_METRIC, make_scheduler, negative_distribution, seed_everything

EXIT_USAGE = 2


@dataclass(frozen=True)
class Catalogue:
    """The item side every rank needs to build the model and draw negatives; rank 0 builds it and broadcasts."""

    n_items: int
    item_slots: np.ndarray  # (I+1, S) int64 attribute slots
    n_feature_values: int
    sample_probs: np.ndarray  # (I,) negative-sampling probabilities over items 1..I
    log_expected: np.ndarray  # (I,) float32 log-Q correction


class _LossModule(nn.Module):
    """DDP synchronises the gradients of what runs inside forward(), so the loss is computed there."""

    def __init__(self, model: AttentionRecommender) -> None:
        super().__init__()
        self.model = model

    def forward(self, history, targets, negatives, log_expected) -> torch.Tensor:
        return self.model.loss(history, targets, negatives, log_expected)


class _CpuScorer:
    """ModelScorer with scores returned on the CPU, where engine.evaluate builds its masks (GPU-safe)."""

    def __init__(self, model: AttentionRecommender) -> None:
        self.inner = ModelScorer(model)

    def score_users(self, data: SequenceData, users: np.ndarray, split: str) -> torch.Tensor:
        return self.inner.score_users(data, users, split).cpu()


def train_distributed(args: argparse.Namespace, cluster: Cluster) -> dict[str, Any]:
    """Train on this rank's shards; on rank 0, also evaluate, save and register. Returns the run summary."""
    model_config = ModelConfig(scorer=args.scorer, n_layers=args.layers, n_heads=args.heads, embed_dim=args.dim, max_len=args.max_len)
    train_config = TrainConfig(epochs=args.epochs, batch_size=args.batch_size, lr=args.lr, n_negatives=args.negatives,
                               patience=args.patience, eval_every=args.eval_every, seed=args.seed, threads=args.threads)  # fmt: skip
    seed_everything(train_config.seed, train_config.threads)
    manifest = read_manifest(args.data)
    sequences = read_train_sequences(args.data, manifest, shards_for_rank(manifest["n_shards"], cluster.rank, cluster.world_size))
    data, model_name = None, None
    payload: Catalogue | str | None = None
    if cluster.is_main:
        try:
            data = read_sequence_data(args.data, manifest)
            model_name = _check_registration(args, manifest, model_config, cluster)
            probs, log_expected = negative_distribution(data, train_config)
            payload = Catalogue(data.n_items, data.features.item_slots, data.features.n_values, probs, log_expected)
        except (ShardError, StoreError, ServiceError) as error:
            payload = str(error)  # sent to every rank, so all of them stop with this message
    catalogue = broadcast_object(payload, cluster)
    if isinstance(catalogue, str):
        raise DistributedError(catalogue)

    torch.manual_seed(train_config.seed)  # the same initial weights everywhere (DDP also copies rank 0's)
    model = AttentionRecommender(model_config, catalogue.n_items, torch.from_numpy(catalogue.item_slots), catalogue.n_feature_values)
    model = model.to(cluster.device)
    device_ids = [cluster.device.index] if cluster.device.type == "cuda" else None
    # No buffer sync per step: the only buffer (item_feature_slots) is identical by construction.
    ddp = DistributedDataParallel(_LossModule(model), device_ids=device_ids, forward_sync_buffers=False,
                                  find_unused_parameters=not model_config.use_features)  # fmt: skip
    optimiser = torch.optim.Adam(ddp.parameters(), lr=train_config.lr, weight_decay=train_config.weight_decay)
    fit = _fit(ddp, optimiser, sequences, catalogue, data, model_config, train_config, cluster)
    summary = {"world_size": cluster.world_size, "backend": cluster.backend, "device": str(cluster.device), **fit.pop("public")}
    digests = gather_strings(state_digest(model), cluster)
    if args.digest_dir:
        Path(args.digest_dir).mkdir(parents=True, exist_ok=True)
        (Path(args.digest_dir) / f"rank-{cluster.rank}.sha256").write_text(digests[cluster.rank] + "\n", encoding="utf-8")
    if len(set(digests)) != 1:
        raise DistributedError(f"ranks hold different parameters after training: {digests}")
    if cluster.is_main:
        summary.update(_finish(args, model_name, model, fit["best_state"], data, manifest, summary, model_config, train_config))
    return summary


def _fit(ddp, optimiser, sequences, catalogue, data, model_config, train_config, cluster) -> dict[str, Any]:
    """The epoch loop; rank 0 keeps the best validation state. Timing covers training steps only."""
    model = ddp.module.model
    shared_rng = np.random.default_rng(train_config.seed)  # offsets and negatives: identical on every rank
    local_rng = np.random.default_rng([train_config.seed, cluster.rank])  # this rank's window order
    local_batch = max(train_config.batch_size // cluster.world_size, 1)
    log_expected = torch.from_numpy(catalogue.log_expected).to(cluster.device)
    valid_config = EvalConfig(ks=(10,), split="valid")
    best_state, best_valid, best_epoch, checks_without_gain = None, {VALID_METRIC: -1.0}, 0, 0
    curve, train_s, eval_s, windows_done, windows_unique, steps_done, stopped_early = [], 0.0, 0.0, 0, 0, 0, False
    for epoch in range(1, train_config.epochs + 1):
        offset = int(shared_rng.integers(model_config.max_len)) if epoch > 1 else 0
        inputs, targets = training_windows(sequences, model_config.max_len, offset)
        counts = gather_ints(len(inputs), cluster)
        if min(counts) == 0:
            raise DistributedError(f"a rank has no training windows (windows per rank: {counts}); use fewer processes")
        n_steps = math.ceil(max(counts) / local_batch)
        order = np.resize(local_rng.permutation(len(inputs)), n_steps * local_batch)  # wraps around: equal steps
        if epoch == 1:
            scheduler = make_scheduler(optimiser, train_config, n_steps)
        ddp.train()
        started, total = time.perf_counter(), 0.0
        for step in range(n_steps):
            rows = order[step * local_batch : (step + 1) * local_batch]
            negatives = shared_rng.choice(catalogue.n_items, size=train_config.n_negatives, p=catalogue.sample_probs) + 1
            loss = ddp(torch.from_numpy(inputs[rows]).to(cluster.device), torch.from_numpy(targets[rows]).to(cluster.device),
                       torch.from_numpy(negatives).to(cluster.device), log_expected[negatives - 1])  # fmt: skip
            optimiser.zero_grad(set_to_none=True)
            loss.backward()
            optimiser.step()
            scheduler.step()
            total += float(loss.detach())
        train_s += time.perf_counter() - started
        steps_done += n_steps
        windows_done += n_steps * local_batch * cluster.world_size
        windows_unique += sum(counts)
        mean_loss = mean_over_ranks(total / n_steps, cluster)
        if epoch % train_config.eval_every and epoch != train_config.epochs:
            continue
        stop = False
        if cluster.is_main:
            started = time.perf_counter()
            valid = evaluate(_CpuScorer(model), data, valid_config).metrics
            eval_s += time.perf_counter() - started
            curve.append({"epoch": float(epoch), "loss": mean_loss, **valid})
            print(f"epoch {epoch}: loss {mean_loss:.4f}, valid {VALID_METRIC} {valid[VALID_METRIC]:.4f} "
                  f"({n_steps} steps, {train_s:.1f} s training so far)", file=sys.stderr, flush=True)  # fmt: skip
            if valid[VALID_METRIC] > best_valid[VALID_METRIC]:
                best_state, best_valid, best_epoch, checks_without_gain = copy.deepcopy(model.state_dict()), valid, epoch, 0
            else:
                checks_without_gain += 1
                stop = checks_without_gain >= train_config.patience
        if broadcast_flag(stop, cluster):
            stopped_early = True
            break
    public = {"epochs_run": epoch, "steps": steps_done, "local_batch": local_batch, "train_seconds": round(train_s, 3),
              "eval_seconds": round(eval_s, 3), "windows_per_s": windows_done / train_s if train_s else 0.0,
              "unique_windows_per_s": windows_unique / train_s if train_s else 0.0, "stopped_early": stopped_early,
              "best_epoch": best_epoch, "valid": best_valid, "curve": curve}  # fmt: skip
    return {"public": public, "best_state": best_state}


def _check_registration(args: argparse.Namespace, manifest: dict[str, Any], config: ModelConfig, cluster: Cluster) -> str | None:
    """Before any training: the store must hold the exported dataset unchanged, and the name must be free.
    Returns the model name to register under (None without --db)."""
    if not args.db:
        return None
    name = check_model_name(args.name or f"{default_model_name(manifest['dataset'], config, args.seed)}-ddp{cluster.world_size}")
    store = Store(Path(args.db))
    info = store.dataset_info(manifest["dataset"])
    if info.fingerprint != manifest["store_fingerprint"]:
        raise ServiceError(f"dataset {info.name!r} in {args.db} changed since it was exported (fingerprint "
                           f"{info.fingerprint}, export {manifest['store_fingerprint']}); export it again")  # fmt: skip
    if store.model_name_exists(name):
        raise ServiceError(f"a model named {name!r} already exists in {args.db}; choose another --name")
    return name


def _finish(args, model_name, model, best_state, data, manifest, summary, model_config, train_config) -> dict[str, Any]:
    """Rank 0: restore the best validation epoch, test it, save atomically, register when --db is given."""
    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    test = evaluate(_CpuScorer(model), data, EvalConfig(split="test"))
    distributed = {key: summary[key] for key in ("world_size", "backend", "local_batch", "windows_per_s")}
    distributed.update(export_fingerprint=manifest["store_fingerprint"], n_shards=manifest["n_shards"])
    metrics = {"test": test.metrics, "valid": summary["valid"], "best_epoch": summary["best_epoch"],
               "train_seconds": summary["train_seconds"], "n_users_evaluated": len(test.users),
               "curve": summary["curve"], "distributed": distributed}  # fmt: skip
    extra = {"train_config": train_config.to_dict(), "distributed": distributed}
    weights, _ = save_checkpoint(model, data, Path(args.out), metrics=metrics, extra=extra)
    result: dict[str, Any] = {"test": test.metrics, "checkpoint": str(weights), "fingerprint": data.fingerprint}
    if args.db:
        result["model"] = _register(Store(Path(args.db)), model_name, model, data, metrics, extra, model_config, train_config).name
    return result


def _register(store, name, model, data, metrics, extra, model_config, train_config) -> ModelRecord:
    """A second copy of the checkpoint under the store's model folder, then the registry row (the same
    order as engine.service.train_and_register: nothing is registered before its file is on disk)."""
    relative = uuid.uuid4().hex
    save_checkpoint(model, data, store.model_dir / relative, metrics=metrics, extra=extra)
    record = ModelRecord(name=name, dataset=data.name, scorer=model_config.scorer, path=relative,
                         config={"model": model_config.to_dict(), "train": train_config.to_dict()},
                         metrics=metrics, fingerprint=data.fingerprint)  # fmt: skip
    try:
        return store.register_model(record)
    except StoreError:
        for path in checkpoint_paths(store.model_dir / relative):
            path.unlink(missing_ok=True)
        raise


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="torchrun --nproc-per-node=N -m engine.train_distributed",
                                     description="Data-parallel training over an `engine export` folder (docs/DISTRIBUTED.md).")  # fmt: skip
    parser.add_argument("--data", required=True, type=Path, help="folder written by `python -m engine export`")
    parser.add_argument("--out", required=True, type=Path, help="checkpoint stem: writes STEM.safetensors and STEM.json")
    parser.add_argument("--scorer", choices=SCORER_NAMES, default=ModelConfig.scorer)
    parser.add_argument("--layers", type=int, default=ModelConfig.n_layers)
    parser.add_argument("--heads", type=int, default=ModelConfig.n_heads)
    parser.add_argument("--dim", type=int, default=ModelConfig.embed_dim)
    parser.add_argument("--max-len", type=int, default=ModelConfig.max_len)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--batch-size", type=int, default=TrainConfig.batch_size, help="global windows per step, split over the processes")
    parser.add_argument("--lr", type=float, default=TrainConfig.lr)
    parser.add_argument("--negatives", type=int, default=TrainConfig.n_negatives, help="shared sampled negatives per step")
    parser.add_argument("--patience", type=int, default=TrainConfig.patience, help="validation checks without improvement before stopping")
    parser.add_argument("--eval-every", type=int, default=TrainConfig.eval_every, help="epochs between validation checks")
    parser.add_argument("--seed", type=int, default=TrainConfig.seed)
    parser.add_argument("--threads", type=int, default=1, help="torch threads per process (default 1: one process per core)")
    parser.add_argument("--backend", choices=BACKENDS, default="auto", help="auto: nccl when CUDA is present, else gloo")
    parser.add_argument("--timeout-min", type=float, default=30.0, help="how long a collective may wait for a slow rank")
    parser.add_argument("--db", help="also register the model in this store (its dataset must match the export)")
    parser.add_argument("--name", help="model name when registering (default: derived from the settings)")
    parser.add_argument("--summary", type=Path, help="rank 0 writes the run summary (metrics, throughput) here as JSON")
    parser.add_argument("--digest-dir", type=Path, help="each rank writes the SHA-256 of its final parameters here")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.name and not args.db:
        print("error: --name needs --db (the store to register in)", file=sys.stderr)
        return EXIT_USAGE
    cluster = None
    try:
        cluster = join_cluster(args.backend, args.timeout_min)
        summary = train_distributed(args, cluster)
    except (DistributedError, ShardError, ConfigError, StoreError, ServiceError, CheckpointError) as error:
        rank = f"rank {cluster.rank}: " if cluster is not None else ""
        print(f"error: {rank}{error}", file=sys.stderr)
        return EXIT_USAGE
    finally:
        leave_cluster()
    if cluster.is_main:
        text = json.dumps(summary, indent=1, default=str)
        if args.summary:
            args.summary.write_text(text, encoding="utf-8")
        print(f"test {VALID_METRIC} {summary['test'][VALID_METRIC]:.4f}; checkpoint {summary['checkpoint']}"
              + (f"; registered as {summary['model']}" if "model" in summary else ""), file=sys.stderr)  # fmt: skip
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
