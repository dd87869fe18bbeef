"""Shared caches: the store handle, datasets and models in memory, and query results.

cache_resource holds objects shared by every session and never mutated after creation (the Store
handle, SequenceData, loaded models, fitted baselines) plus the thread-safe job registry. cache_data
holds results (frames, explanations, metrics), each keyed by the db path, dataset fingerprint and model
name + created_at, so a replaced dataset or a re-registered model name can never serve stale numbers.
Private uploads (issue 4) live in per-workspace store files (dashboard/workspace.py) whose path contains
the unguessable workspace token, so every key above that starts with the path is private to that workspace.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from dashboard.bundle import DatasetBundle, read_bundle
from dashboard.bundled import FIRST_RUN_MODEL, FIRST_RUN_TRAIN, BUNDLED_NAME, FirstRun, ensure_first_model
from dashboard.jobs import JobRefused, JobRegistry
from dashboard.steps import ScoreSteps, steps_from_trace
from engine.dataset import SequenceData
from engine.movielens import SAMPLE_NAME
from engine.registry import ModelRecord
from engine.store import DatasetInfo, Store, resolve_db_path

if TYPE_CHECKING:
    from engine.service import LoadedModel

FIRST_RUN_OWNER = "first-run"  # job owner of the default-model training every session can watch
_FIRST_RUN_LOCK = threading.Lock()


def db_path() -> str:
    """Absolute path of the store file ($RECSCOPE_DB or data/recscope.duckdb under the working dir)."""
    return str(resolve_db_path(None).expanduser().resolve())


@st.cache_resource(show_spinner="Opening the data store (the first start loads the bundled MovieLens sample)…")
def store(path: str) -> Store:
    """The store handle, with the bundled sample written on first use."""
    from dashboard.workspace import is_workspace_path
    from engine.sample import ensure_sample

    handle = Store(Path(path))
    if not is_workspace_path(path):  # a private workspace store holds only its own uploads
        ensure_sample(handle)
    return handle


SERVER_TORCH_THREADS = 1  # per request: sessions run in parallel threads, and 2 busy threads per call thrash 2 cores


@st.cache_resource
def configure_torch() -> int:
    """Once per process: one intra-op thread. Measured on the shared 2-core box, training with 2 threads
    while other processes ran was ~10x slower than with 1 (OpenMP threads spin-wait for each other)."""
    import torch

    torch.set_num_threads(SERVER_TORCH_THREADS)
    return SERVER_TORCH_THREADS


@st.cache_resource
def job_registry() -> JobRegistry:
    """The process-wide training job registry (internally locked; the one mutable shared object)."""
    return JobRegistry(max_running=2)


@st.cache_data(ttl=30, show_spinner=False)
def datasets(path: str, generation: int) -> pd.DataFrame:
    return store(path).list_datasets()


@st.cache_data(ttl=60, show_spinner=False)
def dataset_info(path: str, name: str, generation: int) -> DatasetInfo:
    return store(path).dataset_info(name)


@st.cache_data(ttl=15, show_spinner=False)
def models(path: str, dataset: str, generation: int) -> list[ModelRecord]:
    """Usable (non-stale) models of a dataset, newest first."""
    return [record for record in reversed(store(path).list_models(dataset)) if not record.stale]


@st.cache_resource(max_entries=4, show_spinner="Loading the dataset…")
def dataset_bundle(path: str, dataset: str, fingerprint: str) -> DatasetBundle:
    """The dataset read once: SequenceData plus ratings and attribute text (read-only arrays)."""
    return read_bundle(store(path), dataset)


def sequence_data(path: str, dataset: str, fingerprint: str) -> SequenceData:
    return dataset_bundle(path, dataset, fingerprint).data


@st.cache_resource(max_entries=3, show_spinner="Loading the model…")
def loaded_model(path: str, name: str, created_at: str) -> LoadedModel:
    """A registered model with its data; created_at is part of the key so a re-registered name reloads."""
    from engine.service import load_model

    configure_torch()
    handle = store(path)
    record = handle.get_model(name)
    info = handle.dataset_info(record.dataset)
    return load_model(handle, name, data=sequence_data(path, record.dataset, info.fingerprint))


def model_key(record: ModelRecord) -> tuple[str, str]:
    return record.name, str(record.created_at)


# --- first run -------------------------------------------------------------------------------------


@st.cache_resource(show_spinner="Preparing a model for the bundled sample…")
def first_run(path: str) -> FirstRun:
    """Once per server process: adopt the bundled model, or start training the default one."""
    with _FIRST_RUN_LOCK:
        handle = store(path)
        info = handle.dataset_info(SAMPLE_NAME)
        data = sequence_data(path, SAMPLE_NAME, info.fingerprint)
        outcome = ensure_first_model(handle, data)
        if outcome.model_name is not None:
            job_registry().bump()
        if outcome.needs_training:
            try:
                job_registry().start(FIRST_RUN_OWNER, Path(path), SAMPLE_NAME, FIRST_RUN_MODEL, FIRST_RUN_TRAIN,
                                     unique_model_name(path, BUNDLED_NAME), data=data)  # fmt: skip
            except JobRefused:
                pass  # a first-run job is already going (another session started it)
        return outcome


def unique_model_name(path: str, base: str) -> str:
    """`base`, or `base-2`, `base-3`, ... whichever is not registered yet."""
    handle = store(path)
    name, counter = base, 1
    while handle.model_name_exists(name):
        counter += 1
        name = f"{base}-{counter}"
    return name


# --- query results ---------------------------------------------------------------------------------


@st.cache_data(max_entries=512, show_spinner=False)
def explanation(path: str, name: str, created_at: str, user_id: str, k: int):
    """explain_user for one user (top-k with all attention), cached per model version."""
    from engine.explain import explain_user

    loaded = loaded_model(path, name, created_at)
    return explain_user(loaded.model, loaded.data, user_id, k)


@st.cache_data(max_entries=512, show_spinner=False)
def score_steps(path: str, name: str, created_at: str, user_id: str, item_id: str) -> ScoreSteps:
    """The step-by-step trace of one recommendation's score (same window as explain_user)."""
    from dataclasses import replace

    from engine.explain import trace_score, user_history

    loaded = loaded_model(path, name, created_at)
    history = user_history(loaded.data, user_id)
    trace = trace_score(loaded.model, loaded.data, history, loaded.data.items.to_dense(item_id))
    steps = steps_from_trace(trace, loaded.record.scorer)
    window = np.asarray(history[-loaded.model.config.max_len :], dtype=np.int64)
    return replace(steps, history_items=window[-len(steps.weights) :] if len(steps.weights) else window[:0])


@dataclass(frozen=True)
class UserSuggestion:
    user_id: str
    n_interactions: int


@st.cache_data(show_spinner=False)
def user_suggestions(path: str, dataset: str, fingerprint: str, limit: int = 200) -> list[UserSuggestion]:
    """The most active users first (ties by id), as picker suggestions."""
    data = sequence_data(path, dataset, fingerprint)
    lengths = np.array([len(seq) for seq in data.sequences[1:]])
    order = np.lexsort((np.arange(len(lengths)), -lengths))[:limit]
    return [UserSuggestion(data.users.to_raw(int(i) + 1), int(lengths[i])) for i in order]
