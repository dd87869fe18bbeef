"""Small reusable st.* renderers: the shared sidebar pickers, training progress, text helpers.

Data (titles, ids, attribute values) is shown with st.text, st.dataframe or Plotly, or escaped with
`md_escape` where a Markdown element is unavoidable; nothing here enables raw HTML.
"""

from __future__ import annotations

import logging
import os
import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Callable

import pandas as pd
import streamlit as st

from dashboard import charts, resources, state
from dashboard.jobs import CANCELLED, DONE, FAILED, JobView
from engine.registry import ModelRecord

TIMINGS = os.environ.get("RECSCOPE_TIMINGS") == "1"  # log each script or fragment run's server time (benchmarks)
TIMING_LOG = logging.getLogger("recscope.dashboard")
_MARKDOWN_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&])")


@contextmanager
def timed(label: str) -> Iterator[None]:
    """Log 'script run <label>: <wall> ms wall, <cpu> ms cpu' when RECSCOPE_TIMINGS=1. The CPU time of the
    script thread is the work done, independent of how busy the machine is; wall time includes waiting."""
    started, cpu_started = time.perf_counter(), time.thread_time()
    try:
        yield
    finally:
        if TIMINGS:
            wall_ms, cpu_ms = (time.perf_counter() - started) * 1000, (time.thread_time() - cpu_started) * 1000
            TIMING_LOG.warning("script run %s: %.1f ms wall, %.1f ms cpu", label, wall_ms, cpu_ms)


def md_escape(text: object) -> str:
    """Text shown literally inside Markdown (no emphasis, links, HTML entities, LaTeX or lists)."""
    return _MARKDOWN_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def metric_text(record: ModelRecord, metric: str = "ndcg@10") -> str:
    value = record.metrics.get("test", {}).get(metric)
    return f"{value:.3f}" if isinstance(value, (int, float)) else "n/a"


def model_label(record: ModelRecord) -> str:
    return f"{record.name} ({record.scorer})"


def model_details(record: ModelRecord) -> str:
    model_config = record.config.get("model", {})
    return (f"{record.scorer} scorer · {model_config.get('n_layers', '?')} layer(s) × {model_config.get('n_heads', '?')} heads · "
            f"d={model_config.get('embed_dim', '?')} · window {model_config.get('max_len', '?')} · test NDCG@10 {metric_text(record)}")  # fmt: skip


# --- the shared sidebar ----------------------------------------------------------------------------


def _keep_valid(key: str, options: list[str], default: str | None) -> None:
    """Reset a selectbox's stored value when it is no longer among its options (before it renders)."""
    if st.session_state.get(key) not in options:
        st.session_state[key] = default


def seed_from_query_params() -> None:
    """Apply ?dataset=&model=&user= from the URL once per session (links can point at a user)."""
    if st.session_state.get(state.QUERY_SEEDED):
        return
    st.session_state[state.QUERY_SEEDED] = True
    for param, key in (("dataset", state.DATASET), ("model", state.MODEL), ("user", state.USER)):
        value = st.query_params.get(param)
        if value:
            st.session_state[key] = value


def sidebar(path: str) -> state.Context:
    """Dataset, model and user pickers; their keys live in the frame, so values survive page switches."""
    registry = resources.job_registry()
    names = resources.datasets(path, registry.generation)["name"].tolist()
    if not names:
        st.warning("The store holds no dataset yet.")
        return state.Context(path, None, None, None)
    _keep_valid(state.DATASET, names, "movielens-small" if "movielens-small" in names else names[0])
    dataset = st.selectbox("Dataset", names, key=state.DATASET)
    info = resources.dataset_info(path, dataset, registry.generation)

    records = resources.models(path, dataset, registry.generation)
    by_name = {record.name: record for record in records}
    model = None
    if records:
        _keep_valid(state.MODEL, list(by_name), default_model(records).name)
        name = st.selectbox("Model", list(by_name), key=state.MODEL, format_func=lambda n: model_label(by_name[n]),
                            help="Trained models of this dataset, newest first; train more on the Train page.")  # fmt: skip
        model = by_name.get(name)
        if model is not None:
            st.caption(md_escape(model_details(model)))
    elif not any(view.dataset == dataset for view in registry.running()):
        st.info("No trained model for this dataset yet. Train one on the Train page.")
    return state.Context(path, info, model, _user_picker(path, dataset, info.fingerprint))


def default_model(records: list[ModelRecord]) -> ModelRecord | None:
    """The model the sidebar picks first among `records` (newest first): a `-default` one, else the newest."""
    return next((r for r in records if r.name.endswith("-default")), records[0] if records else None)


def _user_picker(path: str, dataset: str, fingerprint: str) -> str | None:
    suggestions = resources.user_suggestions(path, dataset, fingerprint)
    counts = {s.user_id: s.n_interactions for s in suggestions}
    options = list(counts)
    data = resources.sequence_data(path, dataset, fingerprint)
    current = st.session_state.get(state.USER)
    if isinstance(current, str) and current not in counts:
        options.insert(0, current)  # a typed id (checked below) stays visible and selected
    elif current not in counts:
        st.session_state[state.USER] = options[0] if options else None
    user = st.selectbox(
        "User", options, key=state.USER, accept_new_options=True,
        format_func=lambda u: f"{u} · {counts[u]:,} interactions" if u in counts else str(u),
        help="Most active users first. Type any user id to look it up.",
    )  # fmt: skip
    if user is not None and user not in data.users.index:
        st.warning(md_escape(f"There is no user with id {user!r} in this dataset."))
        return None
    return user


def sync_query_params(context: state.Context) -> None:
    """Mirror the current choices in the URL so a link reopens the same view."""
    wanted = {"dataset": context.dataset.name if context.dataset else None,
              "model": context.model.name if context.model else None, "user": context.user_id}  # fmt: skip
    for param, value in wanted.items():
        if value is None:
            st.query_params.pop(param, None)
        elif st.query_params.get(param) != value:
            st.query_params[param] = value


# --- training progress -----------------------------------------------------------------------------


def job_status(view: JobView, show_curves: bool = True) -> None:
    """Progress bar, live numbers and curves of a training job, or its outcome once it ended."""
    if view.is_running:
        text = f"Training {view.model_name}: epoch {max(view.epoch, 1)} of at most {view.epochs}"
        if view.steps_per_epoch:
            text += f", step {view.step}/{view.steps_per_epoch}, loss {view.loss:.4f}"
        st.progress(view.fraction, text=md_escape(f"{text} · {view.elapsed_s:.0f} s"))
        if view.validations:
            last = view.validations[-1]
            st.caption(f"Last validation (epoch {last['epoch']:.0f}): NDCG@10 {last.get('ndcg@10', float('nan')):.4f}")
    elif view.status == DONE and view.record is not None:
        st.success(md_escape(f"Finished: model {view.record.name} is registered (test NDCG@10 {metric_text(view.record)})."))
    elif view.status == FAILED:
        st.error(md_escape(f"Training {view.model_name} failed: {view.error}. Earlier models are unchanged."))
    elif view.status == CANCELLED:
        st.warning(md_escape(f"Training {view.model_name} was cancelled; nothing was saved."))
    if show_curves and view.steps:
        st.plotly_chart(charts.training_curves(*curve_frames(view)), key=f"train.curves.{view.job_id}")


def curve_frames(view: JobView) -> tuple[pd.DataFrame, pd.DataFrame]:
    steps = pd.DataFrame(list(view.steps), columns=["epoch_progress", "loss"])
    epochs = pd.DataFrame(list(view.validations))
    keep = ["epoch"] + [c for c in ("ndcg@10", "hr@10") if c in epochs.columns]
    return steps, (epochs[keep] if len(epochs) else pd.DataFrame({"epoch": []}))


def watch_job(job_id: str, render: Callable[[JobView], None], every_s: float = 1.0) -> JobView | None:
    """Draw a job with `render`, redrawn every `every_s` seconds while it runs (a fragment), and rerun
    the whole app once when it ends so new models reach the sidebar picker."""
    registry = resources.job_registry()
    view = registry.snapshot(job_id)
    if view is None:
        return None
    if not view.is_running and state.models_generation() not in (None, registry.generation):
        st.rerun()  # the job ended after the sidebar listed the models in this very run: list them again

    def draw() -> None:
        current = registry.snapshot(job_id)
        if current is None:
            return
        render(current)
        if view.is_running and not current.is_running:
            st.rerun(scope="app")

    st.fragment(draw, run_every=every_s if view.is_running else None)()
    return view
