"""One dataset read once from the store, in the read-only forms every page needs.

Why not engine.service.load_data alone: the pages also need each user's ratings (history timeline) and
the attribute values as text (tables, hovers). Everything is read on one connection (each DuckDB open
costs ~30 ms CPU), the interactions numbered and sorted in DuckDB exactly as load_data does
(engine.interaction_arrays), the ratings in that same order as one flat array, and the attribute text
joined in SQL; a pandas frame of every interaction's string ids cost ~0.6 s CPU of a cold start.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

import duckdb
import numpy as np
import pandas as pd

from engine.dataset import IdMap, SequenceData, sequence_data_from_arrays
from engine.dataset_rows import select_rows
from engine.interaction_arrays import dense_interactions
from engine.ragged import Ragged
from engine.schema import DATASET, INTERACTIONS, ITEM_ATTRIBUTES, ITEMS, data_columns
from engine.store import Store, StoreError, find_dataset_on

MAX_VALUES_SHOWN = 4  # attribute values listed per field in tables and hovers (tags can run to dozens)


@dataclass(frozen=True)
class DatasetBundle:
    data: SequenceData
    ratings: Ragged  # row u: dense user u's ratings in sequence order (float, NaN when none); offsets of data.sequences
    attribute_text: Mapping[str, np.ndarray]  # field -> (I,) joined values per dense item 1..I ('' when none)

    def user_ratings(self, user_id: str) -> np.ndarray:
        """One user's ratings aligned with their sequence (empty for an unknown user)."""
        dense = self.data.users.index.get(user_id)
        return self.ratings[dense] if dense is not None else np.zeros(0)


def read_bundle(store: Store, dataset: str) -> DatasetBundle:
    with store.connect() as con:
        info = find_dataset_on(con, dataset)
        if info is None:
            raise StoreError(f'unknown dataset "{dataset}"')
        rows = dense_interactions(con, dataset)
        ratings = _ratings_in_sequence_order(con, dataset)
        items = _frame(con, ITEMS, dataset, ("item_id",))
        attributes = _frame(con, ITEM_ATTRIBUTES, dataset, ("item_id", "field", "value"))
        joined = _joined_attributes(con, dataset)
    user_map, item_map = IdMap.from_ids(rows.user_ids.tolist()), IdMap.from_ids(rows.item_ids.tolist())
    data = sequence_data_from_arrays(dataset, info.has_timestamps, user_map, item_map, rows.users, rows.items, rows.ts, items, attributes)
    return DatasetBundle(data, Ragged(_frozen(ratings), data.sequences.offsets), _attribute_text(data, joined))


def _frozen(array: np.ndarray) -> np.ndarray:
    array.flags.writeable = False
    return array


def _frame(con: duckdb.DuckDBPyConnection, table, dataset: str, order_by: tuple[str, ...]) -> pd.DataFrame:
    """A table's rows with the dtypes Store.load_items / load_item_attributes return (all text)."""
    return select_rows(con, table, dataset, order_by).astype({column: "str" for column in data_columns(table)})


def _ratings_in_sequence_order(con: duckdb.DuckDBPyConnection, dataset: str) -> np.ndarray:
    """(N,) ratings sorted like dense_interactions sorts the rows: user id, time (unknown = -1), file position."""
    i = INTERACTIONS
    sql = (f"SELECT coalesce(CAST({i.col('rating')} AS DOUBLE), 'NaN'::DOUBLE) AS rating FROM {i.ident} "
           f"WHERE {i.col(DATASET)} = $name ORDER BY {i.col('user_id')}, coalesce({i.col('ts')}, -1), {i.col('row_order')}")  # fmt: skip
    return np.asarray(con.execute(sql, {"name": dataset}).fetchnumpy()["rating"], dtype=np.float64)


def _joined_attributes(con: duckdb.DuckDBPyConnection, dataset: str, limit: int = MAX_VALUES_SHOWN) -> pd.DataFrame:
    """item_id, field, joined: each item's values of a field joined by ', ' in value order (at most
    `limit`, then '(+n)'), aggregated in DuckDB (a pandas groupby with a Python join took seconds)."""
    a = ITEM_ATTRIBUTES
    sql = f"""
        WITH ranked AS (
            SELECT {a.col('item_id')} AS item_id, {a.col('field')} AS field, {a.col('value')} AS value,
                   row_number() OVER (PARTITION BY {a.col('item_id')}, {a.col('field')} ORDER BY {a.col('value')}) AS n,
                   count(*) OVER (PARTITION BY {a.col('item_id')}, {a.col('field')}) AS total
            FROM {a.ident} WHERE {a.col(DATASET)} = $name)
        SELECT item_id, field,
               string_agg(value, ', ' ORDER BY value) FILTER (WHERE n <= $limit)
                 || CASE WHEN max(total) > $limit THEN ' (+' || CAST(max(total) - $limit AS VARCHAR) || ')' ELSE '' END AS joined
        FROM ranked GROUP BY item_id, field"""  # fmt: skip
    return con.execute(sql, {"name": dataset, "limit": limit}).df()


def _attribute_text(data: SequenceData, joined: pd.DataFrame) -> Mapping[str, np.ndarray]:
    """Per field, the joined text aligned with dense item ids 1..I ('' for items without that field)."""
    if not len(joined):
        return MappingProxyType({})
    dense = pd.Index(data.items.raw_ids[1:].astype(str)).get_indexer(joined["item_id"].astype(str))  # -1: no interactions
    known = dense >= 0
    fields = joined["field"].astype(str).to_numpy(dtype=object)[known]
    text, dense = joined["joined"].to_numpy(dtype=object)[known], dense[known]
    columns = {}
    for field in sorted(set(fields)):
        values = np.full(data.n_items, "", dtype=object)
        rows = fields == field
        values[dense[rows]] = text[rows]
        columns[field] = _frozen(values)
    return MappingProxyType(columns)
