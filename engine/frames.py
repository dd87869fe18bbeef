"""The canonical in-memory shape of one dataset, as ingest produces it and the store writes it.

interactions: user_id (str), item_id (str), ts (Int64 Unix seconds, NA when unknown), rating (float, NA
when absent), row_order (int64, position in the source file; breaks timestamp ties)
items: item_id (str), title (str)
item_attributes: item_id (str), field (str), value (str) - one row per value of a multi-valued field
user_attributes: user_id (str), field (str), value (str)
"""

from __future__ import annotations

from dataclasses import dataclass

import pandas as pd

INTERACTION_COLUMNS = ("user_id", "item_id", "ts", "rating", "row_order")
ITEM_COLUMNS = ("item_id", "title")
ATTRIBUTE_COLUMNS = ("item_id", "field", "value")
USER_ATTRIBUTE_COLUMNS = ("user_id", "field", "value")


@dataclass(frozen=True)
class DatasetFrames:
    """One dataset ready to be written in a single transaction."""

    name: str
    source: str  # where it came from, shown in the dataset list ("bundled MovieLens ml-latest-small", a file name)
    interactions: pd.DataFrame
    items: pd.DataFrame
    item_attributes: pd.DataFrame
    user_attributes: pd.DataFrame
    has_timestamps: bool


def empty_frame(columns: tuple[str, ...]) -> pd.DataFrame:
    return pd.DataFrame({name: pd.Series(dtype="string") for name in columns})
