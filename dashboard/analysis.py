"""Cached derived data for the Data, Evaluate and Item map pages (all cache_data: results, not handles).

Every function is keyed by the db path plus the dataset fingerprint or the model name + created_at.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import resources
from engine.dataset import SequenceData

BASELINE_LABELS = {"pop": "Most popular", "itemknn": "Item kNN", "ease": "EASE", "bpr": "BPR-MF"}
EVAL_KS = (10, 20)


@dataclass(frozen=True)
class DataSummary:
    user_counts: np.ndarray  # (U,) interactions per user
    item_counts: np.ndarray  # (I,) interactions per item
    ratings: np.ndarray  # (N,) non-missing ratings
    timestamps: np.ndarray  # (N,) known Unix seconds


@st.cache_data(show_spinner="Summarising the dataset…")
def data_summary(path: str, dataset: str, fingerprint: str) -> DataSummary:
    data = resources.sequence_data(path, dataset, fingerprint)
    lengths = np.array([len(seq) for seq in data.sequences[1:]], dtype=np.int64)
    every_item = np.concatenate(data.sequences[1:]) if data.n_users else np.zeros(0, np.int64)
    item_counts = np.bincount(every_item, minlength=data.n_items + 1)[1:]
    times = np.concatenate(data.timestamps[1:]) if data.n_users else np.zeros(0, np.int64)
    every_rating = resources.dataset_bundle(path, dataset, fingerprint).ratings.values
    ratings = every_rating[np.isfinite(every_rating)]
    return DataSummary(lengths, item_counts, ratings, times[times >= 0])


@st.cache_data(show_spinner=False)
def item_table(path: str, dataset: str, fingerprint: str) -> pd.DataFrame:
    """One row per catalogue item (dense order): item_id, title, one text column per attribute field
    ('Action, Comedy', at most a few values then '(+n)'), interactions."""
    bundle = resources.dataset_bundle(path, dataset, fingerprint)
    data = bundle.data
    frame = pd.DataFrame({"item_id": data.items.raw_ids[1:].astype(str), "title": data.item_titles[1:].astype(str),
                          **{field: np.asarray(text) for field, text in bundle.attribute_text.items()}})  # fmt: skip
    every_item = np.concatenate(data.sequences[1:]) if data.n_users else np.zeros(0, np.int64)
    frame["interactions"] = np.bincount(every_item, minlength=data.n_items + 1)[1:]
    return frame


@st.cache_data(show_spinner=False)
def item_details(path: str, dataset: str, fingerprint: str) -> np.ndarray:
    """(I+1,) short attribute text per dense item id (0 = padding) for hovers: 'genre: A, B · year: 1995'."""
    table = item_table(path, dataset, fingerprint)
    fields = [c for c in table.columns if c not in ("item_id", "title", "interactions")]
    text = pd.Series("", index=table.index)
    for field in fields:
        part = (field + ": " + table[field]).where(table[field] != "", "")
        text = text + pd.Series(np.where((text != "") & (part != ""), " · ", ""), index=table.index) + part
    return np.concatenate([[""], text.to_numpy(dtype=object)])


# --- evaluation ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class EvalSummary:
    label: str
    metrics: dict[str, float]
    segments: pd.DataFrame  # segment, n_users, one column per metric
    n_users: int
    seconds: float


def _summarise(label: str, result: object, started: float) -> EvalSummary:
    rows = [{"segment": seg.label, "n_users": seg.n_users, **seg.metrics} for seg in result.segments]
    return EvalSummary(label, dict(result.metrics), pd.DataFrame(rows), result.n_users, time.perf_counter() - started)


@st.cache_data(show_spinner=False, max_entries=32)
def evaluate_model(path: str, name: str, created_at: str) -> EvalSummary:
    """Test-split, full-ranking metrics of a registered model, overall and per activity segment."""
    from engine.config import EvalConfig
    from engine.evaluate import DEFAULT_SEGMENT_BOUNDS, evaluate
    from engine.predict import ModelScorer

    started = time.perf_counter()
    loaded = resources.loaded_model(path, name, created_at)
    result = evaluate(ModelScorer(loaded.model), loaded.data, EvalConfig(ks=EVAL_KS, split="test"), DEFAULT_SEGMENT_BOUNDS)
    return _summarise(name, result, started)


@st.cache_resource(max_entries=8, show_spinner=False)
def fitted_baseline(path: str, dataset: str, fingerprint: str, baseline: str) -> object:
    """A fitted baseline (read-only after fit; EASE takes seconds, so it is fitted once per dataset)."""
    from engine.baselines import fit_baseline

    resources.configure_torch()
    return fit_baseline(baseline, resources.sequence_data(path, dataset, fingerprint))


@st.cache_data(show_spinner=False, max_entries=32)
def evaluate_baseline(path: str, dataset: str, fingerprint: str, baseline: str) -> EvalSummary:
    from engine.config import EvalConfig
    from engine.evaluate import DEFAULT_SEGMENT_BOUNDS, evaluate

    started = time.perf_counter()
    scorer = fitted_baseline(path, dataset, fingerprint, baseline)
    data = resources.sequence_data(path, dataset, fingerprint)
    result = evaluate(scorer, data, EvalConfig(ks=EVAL_KS, split="test"), DEFAULT_SEGMENT_BOUNDS)
    return _summarise(BASELINE_LABELS.get(baseline, baseline), result, started)


# --- item map --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Projection:
    coords: np.ndarray  # (I, 2) item i+1 at row i
    variance_explained: tuple[float, float]


@st.cache_data(show_spinner="Projecting the item vectors…", max_entries=8)
def item_projection(path: str, name: str, created_at: str) -> Projection:
    """PCA (SVD of the centred vectors) of the model's item table e_c, the vectors every score uses."""
    import torch

    loaded = resources.loaded_model(path, name, created_at)
    with torch.no_grad():
        table = loaded.model.item_table()[1:].float().cpu().numpy().astype(np.float64)  # (I, D)
    return project_2d(table)


def project_2d(vectors: np.ndarray) -> Projection:
    """First two principal components of `vectors` (N, D) and their share of the total variance."""
    centred = vectors - vectors.mean(axis=0, keepdims=True)
    _, singular, right = np.linalg.svd(centred, full_matrices=False)
    coords = centred @ right[:2].T  # (N, 2)
    total = float((singular**2).sum()) or 1.0
    share = singular[:2] ** 2 / total
    return Projection(coords, (float(share[0]), float(share[1]) if len(share) > 1 else 0.0))


def colour_options(data: SequenceData, table: pd.DataFrame, max_categories: int = 20) -> list[str]:
    """Attribute fields usable as map colours (first value per item, few distinct values) + derived ones."""
    fields = [c for c in table.columns if c not in ("item_id", "title", "interactions")]
    options = []
    for field in fields:
        first = table[field].str.split(", ").str[0]
        if 1 < first.nunique() <= max_categories:
            options.append(field)
    if "year" in fields:
        options.append("decade")
    return options + ["popularity"]


def colour_values(table: pd.DataFrame, option: str) -> pd.Series:
    """Category text per item for a colour option (first value of a field, decade, popularity band)."""
    if option == "decade":
        years = pd.to_numeric(table["year"].str[:4], errors="coerce")
        return (years // 10 * 10).map(lambda y: "unknown" if pd.isna(y) else f"{int(y)}s")
    if option == "popularity":
        bands = pd.cut(table["interactions"], bins=[-1, 0, 4, 19, 99, np.inf],
                       labels=["never seen", "1–4", "5–19", "20–99", "100+"])  # fmt: skip
        return bands.astype(str) + " interactions"
    first = table[option].str.split(", ").str[0].str.replace(r" \(\+\d+\)$", "", regex=True)
    return first.mask(first == "", "(none)")
