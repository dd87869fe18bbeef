"""Train: choose scorer, layers, heads, dimension, epochs and seed; training runs in the background with
a live progress bar and curves, can be cancelled, and the finished model joins the sidebar picker.
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import streamlit as st

from dashboard import components, exports, resources, state
from dashboard.jobs import JobRefused
from dashboard.steps import SCORER_NAMES
from engine.checkpoint import checkpoint_paths
from engine.config import SCORER_NAMES as SCORERS
from engine.config import ConfigError, ModelConfig, TrainConfig
from engine.service import ServiceError, check_model_name, default_model_name

DASHBOARD_THREADS = 1  # torch threads per dashboard training: the other core keeps every page responsive


def render() -> None:
    if st.session_state.pop(state.TRAIN_GOTO_EXPLORE, False):
        st.switch_page("views/explore.py")
    st.title("Train a model")
    context = state.context()
    if context is None or context.dataset is None:
        st.info("No dataset is stored yet.")
        return
    st.caption(components.md_escape(f"Dataset: {context.dataset.name} ({context.dataset.n_interactions:,} interactions).") +
               " Training runs in the background: you can switch pages, and other visitors are not blocked.")  # fmt: skip
    job_id = state.train_job()
    running = job_id is not None and (view := resources.job_registry().snapshot(job_id)) is not None and view.is_running
    _form(context, disabled=running)
    if job_id is not None:
        _job_panel(job_id, "Current run")
    elif (first := resources.job_registry().latest(resources.FIRST_RUN_OWNER)) is not None and first.is_running:
        _job_panel(first.job_id, "First-run model (trained once for the bundled sample)")
    _models(context)


def _form(context: state.Context, disabled: bool) -> None:
    with st.form(state.TRAIN_FORM, border=True):
        left, middle, right = st.columns(3)
        scorer = left.radio("Target-attention scorer", SCORERS, key=state.TRAIN_SCORER, format_func=lambda s: SCORER_NAMES[s])
        layers = middle.number_input("Self-attention layers", 0, 8, ModelConfig.n_layers, key=state.TRAIN_LAYERS)
        heads = middle.number_input("Heads per layer", 1, 8, ModelConfig.n_heads, key=state.TRAIN_HEADS, help="must divide the dimension")
        dim = middle.select_slider("Dimension", [16, 32, 48, 64, 96, 128, 256], ModelConfig.embed_dim, key=state.TRAIN_DIM)
        max_len = right.number_input("History window (items)", 2, 1000, ModelConfig.max_len, key=state.TRAIN_MAX_LEN)
        epochs = right.number_input("Epochs (at most; stops early on validation)", 1, 200, TrainConfig.epochs, key=state.TRAIN_EPOCHS)
        seed = right.number_input("Seed", 0, 2**31 - 1, TrainConfig.seed, key=state.TRAIN_SEED)
        name = st.text_input("Model name (optional)", key=state.TRAIN_NAME, max_chars=64,
                             placeholder="letters, digits, '.', '_' or '-'; derived from the settings when empty")  # fmt: skip
        submitted = st.form_submit_button("Start training", type="primary", disabled=disabled, key=state.TRAIN_SUBMIT)
    if disabled:
        st.caption("A run of this session is in progress; cancel it or wait for it to finish before starting another.")
    if submitted:
        _start(context, scorer, int(layers), int(heads), int(dim), int(max_len), int(epochs), int(seed), name.strip())


def _start(context: state.Context, scorer: str, layers: int, heads: int, dim: int, max_len: int, epochs: int, seed: int,
           name: str) -> None:  # fmt: skip
    try:
        model_config = ModelConfig(scorer=scorer, n_layers=layers, n_heads=heads, embed_dim=dim, max_len=max_len)
        train_config = TrainConfig(epochs=epochs, seed=seed, threads=DASHBOARD_THREADS)
        if name:
            check_model_name(name)
            if resources.store(context.db_path).model_name_exists(name):
                raise ServiceError(f"a model named {name!r} already exists; choose another name")
        else:
            name = resources.unique_model_name(context.db_path, default_model_name(context.dataset.name, model_config, seed))
        data = resources.sequence_data(context.db_path, context.dataset.name, context.dataset.fingerprint)
        job_id = resources.job_registry().start(state.session_token(), Path(context.db_path), context.dataset.name,
                                                model_config, train_config, name, data=data)  # fmt: skip
    except (ConfigError, ServiceError, JobRefused) as error:
        st.error(components.md_escape(str(error)))
        return
    state.set_train_job(job_id)
    st.rerun()


def _job_panel(job_id: str, title: str) -> None:
    registry = resources.job_registry()

    def draw(view) -> None:
        components.job_status(view)
        owned = view.owner == state.session_token()
        if view.is_running and owned and st.button("Cancel training", key=state.TRAIN_CANCEL):
            registry.cancel(job_id, state.session_token())
            st.toast("Cancelling: the run stops at its next step.")
        if view.status == "done" and view.record is not None and owned:
            st.button("Explore this model", key=state.TRAIN_OPEN_MODEL, on_click=_open_model, args=(view.record.name,))

    with st.container(border=True):
        st.subheader(title)
        components.watch_job(job_id, draw, every_s=1.0)


def _open_model(name: str) -> None:
    """Button callback: runs before the sidebar renders, so it may set the model picker's value."""
    state.select_model(name)
    st.session_state[state.TRAIN_GOTO_EXPLORE] = True


def _models(context: state.Context) -> None:
    st.subheader("Trained models of this dataset")
    records = resources.models(context.db_path, context.dataset.name, resources.job_registry().generation)
    if not records:
        st.caption("None yet.")
        return
    rows = []
    for record in records:
        model_config = record.config.get("model", {})
        test = record.metrics.get("test", {})
        rows.append({"name": record.name, "scorer": record.scorer, "layers": model_config.get("n_layers"), "heads": model_config.get("n_heads"),
                     "dim": model_config.get("embed_dim"), "window": model_config.get("max_len"),
                     "test NDCG@10": test.get("ndcg@10"), "test HR@10": test.get("hr@10"),
                     "best epoch": record.metrics.get("best_epoch"), "train s": record.metrics.get("train_seconds"),
                     "created (UTC)": record.created_at})  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="train.models")
    names = [record.name for record in records]
    chosen = st.selectbox("Download a model (weights + metadata, zip)", names, key=state.TRAIN_DOWNLOAD_CHOICE,
                          index=names.index(context.model.name) if context.model and context.model.name in names else 0)  # fmt: skip
    record = next(r for r in records if r.name == chosen)
    weights, sidecar = checkpoint_paths(resources.store(context.db_path).model_path(record))
    if weights.is_file() and sidecar.is_file():
        st.download_button(components.md_escape(f"Download {chosen}.zip"), lambda: exports.model_zip(weights, sidecar, chosen),
                           file_name=f"{chosen}.zip", mime="application/zip", key=state.TRAIN_DOWNLOAD_MODEL)  # fmt: skip
    else:
        st.warning("This model's checkpoint files are missing from the store's model directory.")


if __name__ == "__main__":
    render()
