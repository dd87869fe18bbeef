"""One dataset read once from the store, in the read-only forms every page needs.

Why not engine.service.load_data alone: the pages also need each user's ratings (history timeline) and
the attribute values as text (tables, hovers). Reading the interactions and attributes a second time
cost ~0.5-1 s of a cold start, so the frames are read here once and SequenceData is built from them
with the engine's own build_sequence_data, exactly as load_data does.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import duckdb
import numpy as np
import pandas as pd

from engine.dataset import SequenceData, build_sequence_data
from engine.store import Store

MAX_VALUES_SHOWN = 4  # attribute values listed per field in tables and hovers (tags can run to dozens)


@dataclass(frozen=True)
class DatasetBundle:
    data: SequenceData
    ratings: Mapping[str, np.ndarray]  # user id -> (len(sequence),) ratings in sequence order, NaN when none
    attribute_text: Mapping[str, np.ndarray]  # field -> (I,) joined values per dense item 1..I ('' when none)


def read_bundle(store: Store, dataset: str) -> DatasetBundle:
    info = store.dataset_info(dataset)
    interactions = store.load_interactions(dataset)
    attributes = store.load_item_attributes(dataset)
    data = build_sequence_data(dataset, interactions, store.load_items(dataset), attributes, info.has_timestamps)
    return DatasetBundle(data, _ratings_by_user(interactions), _attribute_text(data, attributes))


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _ratings_by_user(interactions: pd.DataFrame) -> Mapping[str, np.ndarray]:
    """Ratings per user, ordered like build_sequence_data orders the sequence (time, then file order)."""
    frame = interactions[["user_id", "ts", "row_order", "rating"]].copy()
    frame["ts"] = pd.to_numeric(frame["ts"], errors="coerce").fillna(-1)
    frame = frame.sort_values(["user_id", "ts", "row_order"], kind="stable")
    users = frame["user_id"].to_numpy(dtype=object)
    ratings = frame["rating"].to_numpy(dtype=float, na_value=np.nan)
    bounds = np.flatnonzero(users[1:] != users[:-1]) + 1
    starts, ends = np.concatenate([[0], bounds]), np.concatenate([bounds, [len(users)]])
    return MappingProxyType({str(users[s]): _frozen(ratings[s:e].copy()) for s, e in zip(starts, ends) if e > s})


def _attribute_text(data: SequenceData, attributes: pd.DataFrame, limit: int = MAX_VALUES_SHOWN) -> Mapping[str, np.ndarray]:
    """Per field, each item's values joined by ', ' (at most `limit`, then '(+n)'), aligned with dense ids.

    Vectorised with DuckDB's string_agg over the in-memory frame (a pandas groupby with a Python join
    took seconds on MovieLens' 9.7k items)."""
    if not len(attributes):
        return MappingProxyType({})
    sql = """
        WITH ranked AS (
            SELECT item_id, field, value, row_number() OVER (PARTITION BY item_id, field ORDER BY value) AS n,
                   count(*) OVER (PARTITION BY item_id, field) AS total
            FROM attributes)
        SELECT item_id, field,
               string_agg(value, ', ' ORDER BY value) FILTER (WHERE n <= $limit)
                 || CASE WHEN max(total) > $limit THEN ' (+' || CAST(max(total) - $limit AS VARCHAR) || ')' ELSE '' END AS joined
        FROM ranked GROUP BY item_id, field"""
    with duckdb.connect() as con:
        con.register("attributes", attributes[["item_id", "field", "value"]])
        joined = con.execute(sql, {"limit": limit}).df()
    dense = joined["item_id"].map(data.items.index)
    joined = joined[dense.notna()]
    dense = dense[dense.notna()].astype(np.int64).to_numpy() - 1
    columns = {}
    for field in sorted(joined["field"].astype(str).unique()):
        text = np.full(data.n_items, "", dtype=object)
        rows = (joined["field"] == field).to_numpy()
        text[dense[rows]] = joined["joined"].to_numpy(dtype=object)[rows]
        columns[field] = _frozen(text)
    return MappingProxyType(columns)
