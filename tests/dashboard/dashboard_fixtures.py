"""Builds a real store with really trained (tiny) models; shared by the AppTest and browser tests.

Tiny on purpose: one epoch at dimension 16 trains in ~10 s on one core, enough to produce genuine
attention weights, scores and checkpoints for the dashboard to show.
"""

from __future__ import annotations

import base64
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from engine.config import ModelConfig, TrainConfig
from engine.movielens import SAMPLE_NAME
from engine.sample import ensure_sample
from engine.service import load_data, train_and_register
from engine.store import Store

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"
APP_TIMEOUT_S = 120  # the first run of a fresh process loads the sample and a model
TINY_TRAIN = TrainConfig(epochs=1, batch_size=512, n_negatives=64, threads=1)
TINY_MODELS = {
    "tiny-dot": ModelConfig(scorer="dot", embed_dim=16, n_layers=1, n_heads=2, max_len=20),
    "tiny-sigmoid": ModelConfig(scorer="sigmoid", embed_dim=16, n_layers=0, n_heads=1, max_len=20),
}


def build_trained_store(path: Path, names: tuple[str, ...] = tuple(TINY_MODELS)) -> Path:
    """A store at `path` with the MovieLens sample and the named tiny models, trained in that order."""
    store = Store(path)
    ensure_sample(store)
    data = load_data(store, SAMPLE_NAME)
    for name in names:
        train_and_register(store, SAMPLE_NAME, TINY_MODELS[name], TINY_TRAIN, name=name, data=data)
    return path


def make_app(db: Path, monkeypatch: pytest.MonkeyPatch) -> AppTest:
    """The dashboard as an AppTest over the store at `db` (not yet run)."""
    monkeypatch.setenv("RECSCOPE_DB", str(db))
    return AppTest.from_file(str(APP), default_timeout=APP_TIMEOUT_S)


def assert_faithfulness_panel_matches(app: AppTest, loaded, history, item: int):
    """The opened faithfulness panel shows the engine's verdict, badge and counterfactual for `item`;
    returns (faithfulness result, counterfactual result, the counterfactual sentence) for further checks."""
    from dashboard import whatif
    from engine.faithfulness import counterfactual, faithfulness

    expected = faithfulness(loaded.model, loaded.data, history, item, top_k=10)
    shown = [t.value for t in app.text]
    assert expected.verdict in shown
    assert {m.label: m.value for m in app.metric}["Is this attention faithful?"] == whatif.verdict_label(expected.verdict)
    found = counterfactual(loaded.model, history, item, top_k=10)
    sentence = next(t for t in shown if t.startswith("Without these") or t.startswith("No small set found"))
    assert sentence.startswith("Without these") == found.found
    return expected, found, sentence


def trace_values(values) -> np.ndarray:
    """A trace's numbers as Plotly serialised them (a list, or base64 with a dtype)."""
    if isinstance(values, dict):
        return np.frombuffer(base64.b64decode(values["bdata"]), dtype=values["dtype"])
    return np.asarray(values, dtype=float)
