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

import streamlit as st

from dashboard import exports
from dashboard.components import md_escape

LOG = logging.getLogger(__name__)
SUFFIX = ".first-screen.json"  # beside <stem>.safetensors and <stem>.json
FORMAT_VERSION = 1
HISTORY_ROWS = 10  # past items listed under "Why #1" (the live page charts the whole window)


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
    """The top of the Explore page from a stored record, as Markdown tables: the list, and why #1 (the
    history items with the most attention, and the item's attributes), then one chart under them. Why
    Markdown: the page's own script bundle draws it, while a data grid, an Arrow table or a Plotly chart
    first fetches a large bundle of its own, just when the server's torch import holds its interpreter
    lock (measured: the stored screen's data grid showed 1.5-3 s after its heading, an st.table
    0.4-0.9 s). Why the one chart, last: the browser then fetches Plotly while the model loads, and the
    live page's charts came ~3 s sooner (10-11 s after launch instead of 13-14). Every cell is escaped."""
    recs = record["recommendations"]
    st.title("Explore recommendations")
    st.caption(md_escape(caption))
    st.info("Loading the model: the charts, the score's step-by-step computation, the faithfulness test and the what-if "
            "editor follow in a moment.")  # fmt: skip
    st.subheader(f"Top {len(recs)} recommendations")
    st.markdown(markdown_table(("rank", "title", "score", "id"), ":-:-",
                               [(r["rank"], r["title"], f"{r['score']:.4f}", r["item_id"]) for r in recs]))  # fmt: skip
    top = recs[0]
    st.subheader(f"Why #{top['rank']}: {md_escape(top['title'])}")
    history = sorted(top["history"], key=lambda h: -h["weight"])[:HISTORY_ROWS]
    weight = "attention weight" if normalised else "attention weight (sigmoid, not normalised)"
    left, right = st.columns([3, 2])
    left.caption(f"The {len(history)} past items with the most attention, of {len(top['history'])} in the window.")
    left.markdown(markdown_table(("past item", weight, "contribution"), "-::",
                                 [(h["title"], f"{h['weight']:.3f}", f"{h['contribution']:+.3f}") for h in history]))  # fmt: skip
    if top["features"]:
        right.caption("Attention over the item's attributes.")
        right.markdown(markdown_table(("attribute", "weight"), "-:",
                                      [(f"{f['field']} = {f['value']}", f"{f['weight']:.3f}") for f in top["features"]]))  # fmt: skip
    # last, under what is already readable: the whole window's attention as the live page charts it, so the
    # browser fetches and compiles Plotly while the model loads instead of after (imported here: the launch's
    # data step imports this module through bundled.py, and Plotly's own import need not be on that path)
    from dashboard import charts

    window = sorted(top["history"], key=lambda h: h["position"])  # window order, oldest first
    left.plotly_chart(charts.history_attention_chart([h["title"] for h in window], [h["weight"] for h in window],
                                                     [h["contribution"] for h in window], top["title"], normalised))  # fmt: skip


def markdown_table(header: tuple[str, ...], align: str, rows: list[tuple[object, ...]]) -> str:
    """A GitHub-flavoured Markdown table with every cell escaped as literal text; `align` has one character
    per column: ':' right-aligned (numbers), '-' left."""
    def line(cells) -> str:
        return "| " + " | ".join(md_escape(cell) for cell in cells) + " |"

    rule = "|" + "|".join("---:" if a == ":" else "---" for a in align) + "|"
    return "\n".join([line(header), rule, *(line(row) for row in rows)])
