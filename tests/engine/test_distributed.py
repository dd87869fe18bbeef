"""Parquet export and torchrun training: shards that partition the users, an export that rebuilds the store's
dataset exactly, and a real 2-process gloo job that exits in time, frees its port, ends with identical
parameters on both ranks and matches single-process quality within measured noise.

The data is the first 150 users of the sample restricted to its 300 most-rated films (7.9k interactions):
small enough to train twice in well under a minute of CPU, dense enough that a trained model's NDCG@10
(test 0.04-0.06, validation about 0.08 after 24 epochs; popularity: 0.034 and 0.030) stands clear of
the noise floor, unlike a sparse 100-user slice where every model scores about 0.00.
"""

from __future__ import annotations

import dataclasses
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest

from engine.checkpoint import load_checkpoint
from engine.cli import main as cli_main
from engine.config import EvalConfig, ModelConfig, TrainConfig
from engine.evaluate import evaluate
from engine.export import ExportError, export_dataset
from engine.frames import DatasetFrames
from engine.predict import ModelScorer
from engine.service import load_data, load_model
from engine.shards import ShardError, read_manifest, read_sequence_data, read_train_sequences, shards_for_rank
from engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
DATASET = "ml-dense"
JOB_TIME_LIMIT_S = 240  # the job takes 40-90 s on a loaded 2-core machine, much of it importing torch twice
MODEL = ModelConfig(embed_dim=16, max_len=20)
TRAINING = TrainConfig(epochs=24, batch_size=32, lr=3e-3, n_negatives=64, seed=7, threads=1)
JOB_FLAGS = ["--dim", "16", "--max-len", "20", "--epochs", "24", "--batch-size", "32", "--lr", "0.003",
             "--negatives", "64", "--seed", "7", "--threads", "1"]  # fmt: skip


@pytest.fixture(scope="module")
def store(tmp_path_factory, movielens_frames) -> Store:
    frames = movielens_frames
    top_items = frames.interactions["item_id"].value_counts().index[:300]
    dense = frames.interactions[frames.interactions["item_id"].isin(top_items)]
    users = sorted(dense["user_id"].unique(), key=int)[:150]
    subset = dataclasses.replace(frames, name=DATASET, interactions=dense[dense["user_id"].isin(users)].reset_index(drop=True))
    store = Store(tmp_path_factory.mktemp("dist") / "store.duckdb")
    store.write_dataset(subset)
    return store


@pytest.fixture(scope="module")
def export(store) -> Path:
    out = store.path.parent / "export"
    export_dataset(store, DATASET, out, n_shards=2)
    return out


@pytest.fixture(scope="module")
def data(store):
    return load_data(store, DATASET)


# --- export -----------------------------------------------------------------------------------------


def test_shards_are_disjoint_complete_and_match_the_manifest(export, data):
    manifest = read_manifest(export)
    assert manifest["n_shards"] == 2 and manifest["compression"] == "zstd"
    users_per_shard = []
    for entry in manifest["shards"]:
        tables = [pq.read_table(export / f["path"]) for f in entry["files"]]
        users = [u for table in tables for u in table.column("user_id").to_pylist()]
        assert len(users) == entry["n_users"]
        assert sum(len(items) for t in tables for items in t.column("items").to_pylist()) == entry["n_interactions"]
        for f in entry["files"]:
            metadata = pq.ParquetFile(export / f["path"]).metadata
            assert all(metadata.row_group(g).column(c).compression == "ZSTD"
                       for g in range(metadata.num_row_groups) for c in range(metadata.num_columns))  # fmt: skip
        users_per_shard.append(set(users))
    assert not users_per_shard[0] & users_per_shard[1]
    assert users_per_shard[0] | users_per_shard[1] == set(data.users.raw_ids[1:])
    assert abs(manifest["shards"][0]["n_interactions"] - manifest["shards"][1]["n_interactions"]) < 0.1 * manifest["n_interactions"]


def test_export_rebuilds_the_dataset_exactly(export, data):
    """Same dense ids, sequences, split, item features and fingerprint as building from the store."""
    manifest = read_manifest(export)
    rebuilt = read_sequence_data(export, manifest)
    assert rebuilt.fingerprint == data.fingerprint
    assert list(rebuilt.items.raw_ids) == list(data.items.raw_ids)
    assert all(np.array_equal(a, b) for a, b in zip(rebuilt.sequences, data.sequences))
    assert np.array_equal(rebuilt.features.item_slots, data.features.item_slots)
    rows = pq.read_table(export / "sequences").to_pandas()  # the hive folders: also what DuckDB would read
    for row in rows.itertuples():
        user = data.users.to_dense(row.user_id)
        assert row.user == user
        assert list(row.items[: row.n_train]) == list(data.train_sequence(user))
        assert (row.valid_item, row.test_item) == (data.valid_target(user), data.test_target(user))
    both = read_train_sequences(export, manifest, [0]) + read_train_sequences(export, manifest, [1])
    assert sorted(map(tuple, both)) == sorted(tuple(data.train_sequence(u)) for u in range(1, data.n_users + 1))


def test_hostile_ids_untimed_rows_and_row_group_size(tmp_path):
    """Non-ASCII ids sort as Python sorts them, file order decides without timestamps, row groups stay bounded."""
    rng = np.random.default_rng(0)
    users = [f"u{i}" for i in range(6000)] + ["é", "Z", "ä", "😀", "a'b\"c"]
    rows = [(user, item) for user in users for item in rng.choice(["i1", "ö", "I2", "x;--", "😀"], size=3)]
    interactions = pd.DataFrame({"user_id": [u for u, _ in rows], "item_id": [i for _, i in rows],
                                 "ts": pd.array([None] * len(rows), dtype="Int64"),
                                 "rating": pd.array([None] * len(rows), dtype="Float64"),
                                 "row_order": np.arange(len(rows), dtype=np.int64)})  # fmt: skip
    empty = pd.DataFrame({"item_id": pd.Series(dtype="str"), "title": pd.Series(dtype="str")})
    no_attributes = pd.DataFrame({c: pd.Series(dtype="str") for c in ("item_id", "field", "value")})
    no_users = pd.DataFrame({c: pd.Series(dtype="str") for c in ("user_id", "field", "value")})
    store = Store(tmp_path / "s.duckdb")
    store.write_dataset(DatasetFrames("odd", "test", interactions, empty, no_attributes, no_users, False))
    export_dataset(store, "odd", tmp_path / "out", n_shards=2, row_group_rows=1024)
    manifest = read_manifest(tmp_path / "out")
    rebuilt, expected = read_sequence_data(tmp_path / "out", manifest), load_data(store, "odd")
    assert rebuilt.fingerprint == expected.fingerprint
    assert list(rebuilt.users.raw_ids) == list(expected.users.raw_ids)
    groups = [pq.ParquetFile(tmp_path / "out" / f["path"]).metadata for s in manifest["shards"] for f in s["files"]]
    sizes = [m.row_group(g).num_rows for m in groups for g in range(m.num_row_groups)]
    assert len(sizes) > len(groups) and max(sizes) <= 2048  # DuckDB rounds 1024 up to its 2,048-row vector


def test_export_is_atomic_and_refuses_to_overwrite(store, export, tmp_path):
    with pytest.raises(ExportError, match="already exists"):
        export_dataset(store, DATASET, export, n_shards=2)
    with pytest.raises(ExportError, match="at most that many shards"):
        export_dataset(store, DATASET, tmp_path / "too-many", n_shards=10_000)
    assert not any(tmp_path.iterdir())  # no partial folder, no temporary sibling left behind
    (export / "items.parquet").rename(export / "moved")
    try:
        with pytest.raises(ShardError, match="missing"):
            read_sequence_data(export, read_manifest(export))
    finally:
        (export / "moved").rename(export / "items.parquet")


def test_cli_export(store, tmp_path, capsys):
    out = tmp_path / "cli-export"
    code = cli_main(["--db", str(store.path), "export", "--dataset", DATASET, "--out", str(out), "--shards", "3", "--json"])
    payload = json.loads(capsys.readouterr().out)
    assert code == 0 and payload["n_users"] == 150 and len(payload["shard_users"]) == 3
    assert cli_main(["--db", str(store.path), "export", "--dataset", DATASET, "--out", str(out)]) == 2
    assert "already exists" in capsys.readouterr().err


def test_shards_for_rank():
    assert [shards_for_rank(4, rank, 2) for rank in range(2)] == [[0, 2], [1, 3]]
    with pytest.raises(ShardError, match="re-export with --shards 3"):
        shards_for_rank(2, 0, 3)


# --- a real 2-process job ---------------------------------------------------------------------------


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@pytest.fixture(scope="module")
def job(store, export):
    """torchrun with 2 gloo processes on the CPU, registering into the store; killed if over the limit."""
    folder = store.path.parent
    port = _free_port()
    command = [sys.executable, "-m", "torch.distributed.run", "--nproc-per-node=2", f"--master-port={port}",
               "-m", "engine.train_distributed", "--data", str(export), "--out", str(folder / "ddp"), *JOB_FLAGS,
               "--db", str(store.path), "--name", "ddp", "--summary", str(folder / "summary.json"),
               "--digest-dir", str(folder / "digests")]  # fmt: skip
    env = {**os.environ, "RECSCOPE_DEVICE": "cpu", "PYTHONPATH": str(ROOT)}
    started = time.monotonic()
    process = subprocess.Popen(command, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True)  # fmt: skip
    try:
        out, err = process.communicate(timeout=JOB_TIME_LIMIT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # torchrun and its workers share the session
        process.communicate()
        pytest.fail(f"the distributed job did not finish within {JOB_TIME_LIMIT_S} s")
    return {"code": process.returncode, "stderr": err, "seconds": time.monotonic() - started, "port": port,
            "folder": folder, "summary": json.loads((folder / "summary.json").read_text()) if process.returncode == 0 else None}  # fmt: skip


def test_job_exits_in_time_and_frees_its_port(job):
    assert job["code"] == 0, job["stderr"][-3000:]
    assert job["seconds"] < JOB_TIME_LIMIT_S
    with socket.socket() as listener:  # SO_REUSEADDR: lingering TIME_WAIT is fine, a live listener is not
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", job["port"]))
        listener.listen()


def test_both_ranks_hold_identical_parameters(job):
    assert job["code"] == 0, job["stderr"][-3000:]
    digests = [(job["folder"] / "digests" / f"rank-{rank}.sha256").read_text().strip() for rank in (0, 1)]
    assert len(digests[0]) == 64 and digests[0] == digests[1]
    summary = job["summary"]
    assert summary["world_size"] == 2 and summary["backend"] == "gloo" and summary["local_batch"] == 16
    assert summary["curve"][-1]["loss"] < summary["curve"][0]["loss"]  # it trained


def test_checkpoint_loads_and_is_registered_like_any_model(job, store, data):
    assert job["code"] == 0, job["stderr"][-3000:]
    checkpoint = load_checkpoint(job["folder"] / "ddp", data)  # refuses a different dataset: ids and fingerprint match
    loaded = load_model(store, "ddp")  # what the dashboard does
    assert loaded.record.metrics["test"]["ndcg@10"] == pytest.approx(checkpoint.meta["metrics"]["test"]["ndcg@10"])
    again = evaluate(ModelScorer(loaded.model), data, EvalConfig(split="test")).metrics["ndcg@10"]
    assert again == pytest.approx(job["summary"]["test"]["ndcg@10"], abs=1e-9)


def test_quality_within_noise_of_single_process(job, data):
    """|test NDCG@10 difference| <= 2 standard errors of the difference between two independent means of
    per-user NDCG (149 users). Why this yardstick: the two runs see the same windows in different
    batches, which is no smaller a change than another seed, and on this data single-process seeds 7, 8
    and 9 alone spread 0.044-0.064 (SE of each mean about 0.015). The tolerance is wide, so the job must
    also have learned: its validation NDCG@10 must exceed twice popularity's (measured: 0.080 against
    0.030; single-process seed 7 reaches 0.077)."""
    from engine.baselines import fit_baseline
    from engine.train import train

    assert job["code"] == 0, job["stderr"][-3000:]
    single = train(data, MODEL, TRAINING).model
    distributed = load_checkpoint(job["folder"] / "ddp", data).model
    gains = []
    for model in (single, distributed):
        ranks = evaluate(ModelScorer(model), data, EvalConfig(split="test")).ranks
        gains.append(np.where(ranks < 10, 1.0 / np.log2(ranks + 2.0), 0.0))
    difference = gains[1].mean() - gains[0].mean()
    standard_error = np.sqrt(sum(g.var(ddof=1) / len(g) for g in gains))
    assert abs(difference) <= 2 * standard_error, (gains[0].mean(), gains[1].mean(), standard_error)
    popularity = evaluate(fit_baseline("pop", data), data, EvalConfig(ks=(10,), split="valid")).metrics["ndcg@10"]
    assert job["summary"]["valid"]["ndcg@10"] > 2 * popularity
