"""The command line: JSON shapes, readable text, exit status 2 with one line for bad input, --help everywhere."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
COMMANDS = ["ingest", "datasets", "models", "train", "evaluate", "recommend", "faithfulness"]


def run(*args: str, db: Path | None = None) -> subprocess.CompletedProcess:
    prefix = ["--db", str(db)] if db else []
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", "engine", *prefix, *args], capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)


@pytest.mark.parametrize("command", COMMANDS)
def test_every_command_has_help(command):
    result = run(command, "--help")
    assert result.returncode == 0
    assert "--json" in result.stdout


def test_datasets_lists_the_sample(trained_store):
    store, _ = trained_store
    result = run("datasets", "--json", db=store.path)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)["datasets"]}
    assert rows["movielens-small"]["n_interactions"] == 100836
    assert rows["movielens-small"]["n_users"] == 610


def test_models_lists_the_trained_model(trained_store):
    store, record = trained_store
    result = run("models", "--json", db=store.path)
    names = [row["name"] for row in json.loads(result.stdout)["models"]]
    assert record.name in names


def test_recommend_explain_json_shape(trained_store):
    store, record = trained_store
    result = run("recommend", "--model", record.name, "--user", "1", "--k", "5", "--explain", "--json", db=store.path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert [item["rank"] for item in payload["items"]] == [1, 2, 3, 4, 5]
    first = payload["items"][0]
    assert set(first) >= {"item_id", "title", "score", "rank", "history", "features"}
    assert {"item_id", "title", "weight"} <= set(first["history"][0])
    assert {"field", "value", "weight"} <= set(first["features"][0])
    scores = [item["score"] for item in payload["items"]]
    assert scores == sorted(scores, reverse=True)
    weights = [h["weight"] for h in first["history"]]
    assert sum(weights) == pytest.approx(1.0, abs=1e-4)  # the default dot scorer normalises
    check = first["faithfulness"]
    assert check["verdict"].startswith("Removing the 3 most-attended items moves this item from #1")
    assert set(check["comprehensiveness"]) == {"1", "3", "5", "10"}


def test_recommend_text_output(trained_store):
    store, record = trained_store
    result = run("recommend", "--model", record.name, "--user", "1", "--k", "3", db=store.path)
    assert result.returncode == 0
    assert result.stdout.startswith("top 3 for user 1")


def test_evaluate_baseline_json(trained_store):
    store, _ = trained_store
    result = run("evaluate", "--dataset", "movielens-small", "--baseline", "pop", "--k", "10", "--json", db=store.path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["n_users"] == 610
    assert set(payload["metrics"]) >= {"ndcg@10", "hr@10", "mrr@10"}
    assert 0.005 < payload["metrics"]["ndcg@10"] < 0.04


def test_evaluate_model_matches_registered_metrics(trained_store):
    store, record = trained_store
    result = run("evaluate", "--dataset", "movielens-small", "--model", record.name, "--json", db=store.path)
    payload = json.loads(result.stdout)
    assert payload["metrics"]["ndcg@10"] == pytest.approx(record.metrics["test"]["ndcg@10"], abs=1e-9)


@pytest.mark.parametrize(
    "args, message",
    [
        (["recommend", "--model", "tiny", "--user", "no-such-user"], "unknown user"),
        (["recommend", "--model", "no-such-model", "--user", "1"], "no-such-model"),
        (["recommend", "--model", "tiny", "--user", "1", "--k", "0"], "--k"),
        (["train", "--dataset", "nope"], "unknown dataset"),
        (["train", "--dataset", "movielens-small", "--heads", "3"], "n_heads"),
        (["evaluate", "--dataset", "nope", "--baseline", "pop"], "nope"),
    ],
)
def test_invalid_input_exits_2_with_one_line(trained_store, args, message):
    store, _ = trained_store
    result = run(*args, db=store.path)
    assert result.returncode == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and message in lines[0]
    assert "Traceback" not in result.stderr


def test_unknown_scorer_is_an_argument_error(tmp_path):
    result = run("train", "--dataset", "movielens-small", "--scorer", "cosine", db=tmp_path / "x.duckdb")
    assert result.returncode == 2
    assert "invalid choice" in result.stderr


def test_faithfulness_report(trained_store):
    store, record = trained_store
    result = run("faithfulness", "--model", record.name, "--users", "4", "--json", db=store.path)
    assert result.returncode == 0, result.stderr
    payload = json.loads(result.stdout)
    assert payload["n_users"] == 4
    assert set(payload["views"]) == {"attention", "contribution", "uniform"}
    assert payload["preferred_view"] in ("attention", "contribution")
    assert payload["seed_divergence"] is None  # only one model trained with these settings
    assert any("faithful explanation" in line for line in payload["statements"])
