"""The Explore page's first screen while torch is still importing, from results stored beside the model.

Why: a cold start spent ~2.5 s CPU importing torch and ~0.5 s loading the model before the first page
could show anything, on a server whose threads share one interpreter lock. When the server loads a model
at launch it stores the default user's top-K explanation beside the checkpoint, keyed by the weights'
checksum and the dataset fingerprint; the next launch shows that while torch imports, then reruns the page
on the live model. The numbers are the engine's own (explain_user's output; JSON floats round-trip
exactly), and a snapshot whose key does not match the checkpoint and data is never shown.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import streamlit as st

from dashboard import charts, exports
from dashboard.components import md_escape

LOG = logging.getLogger(__name__)
SUFFIX = ".first-screen.json"  # beside <stem>.safetensors and <stem>.json
FORMAT_VERSION = 1


@dataclass(frozen=True)
class SnapshotKey:
    """What a stored first screen is valid for: exactly these weights, data, user and list length."""

    weights_sha256: str
    dataset_fingerprint: str
    user_id: str
    k: int


def snapshot_path(stem: Path) -> Path:
    return stem.with_name(stem.name + SUFFIX)


def checkpoint_key(stem: Path, user_id: str, k: int) -> SnapshotKey | None:
    """The key of the checkpoint at `stem` as it is now, read from its sidecar (no torch); None if unreadable."""
    try:
        meta = json.loads(stem.with_name(stem.name + ".json").read_text(encoding="utf-8"))
        return SnapshotKey(str(meta["weights_sha256"]), str(meta["dataset_fingerprint"]), str(user_id), int(k))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def write(stem: Path, key: SnapshotKey, explanation: Any) -> None:
    """Store `explanation` (engine.explain.Explanation) for `key`, atomically; a failure is only logged."""
    payload = {"format_version": FORMAT_VERSION, "key": key.__dict__, "explanation": exports.explanation_record(explanation)}
    target = snapshot_path(stem)
    try:
        handle, temporary = tempfile.mkstemp(dir=target.parent, prefix=target.name, suffix=".tmp")
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            json.dump(payload, file)
        os.replace(temporary, target)
    except OSError:
        LOG.warning("could not store the first screen beside %s", stem.name, exc_info=True)


def read(stem: Path, key: SnapshotKey) -> dict[str, Any] | None:
    """The stored explanation record for exactly `key`, else None (absent, stale or unreadable)."""
    try:
        payload = json.loads(snapshot_path(stem).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("format_version") != FORMAT_VERSION or payload.get("key") != key.__dict__:
        return None
    return payload.get("explanation")


def show(record: dict[str, Any], caption: str, normalised: bool) -> None:
    """The top of the Explore page from a stored record: the list, and why #1 with its attention."""
    recs = record["recommendations"]
    st.title("Explore recommendations")
    st.caption(md_escape(caption))
    st.info("Loading the model: the score's step-by-step computation, the faithfulness test and the what-if editor follow in a moment.")
    st.subheader(f"Top {len(recs)} recommendations")
    left, right = st.columns([1, 1])
    left.dataframe(pd.DataFrame({"rank": [r["rank"] for r in recs], "title": [r["title"] for r in recs],
                                 "score": [r["score"] for r in recs], "id": [r["item_id"] for r in recs]}),
                   hide_index=True, column_config={"score": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip
    right.plotly_chart(charts.score_chart([r["title"] for r in recs], [r["score"] for r in recs], [r["item_id"] for r in recs],
                                          recs[0]["item_id"]))  # fmt: skip
    top = recs[0]
    st.subheader(f"Why #{top['rank']}: {md_escape(top['title'])}")
    history = sorted(top["history"], key=lambda h: h["position"])  # window order, oldest first
    left, right = st.columns([3, 2])
    left.plotly_chart(charts.history_attention_chart([h["title"] for h in history], [h["weight"] for h in history],
                                                     [h["contribution"] for h in history], top["title"], normalised))  # fmt: skip
    if top["features"]:
        right.plotly_chart(charts.feature_attention_chart([f"{f['field']} = {f['value']}" for f in top["features"]],
                                                          [f["weight"] for f in top["features"]], top["title"]))  # fmt: skip
