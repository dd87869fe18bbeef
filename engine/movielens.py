"""Read the bundled MovieLens ml-latest-small files into DatasetFrames.

Attributes follow the issue: genres split on '|', release year parsed from the title, and user tags
(lower-cased and trimmed, so "Funny" and "funny " are one value).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from engine.frames import DatasetFrames, empty_frame, USER_ATTRIBUTE_COLUMNS

SAMPLE_NAME = "movielens-small"
SAMPLE_DIR = Path(__file__).resolve().parent.parent / "sample_data" / "movielens-small"
_YEAR = r"\((\d{4})\)\s*$"


def read_movielens(directory: Path = SAMPLE_DIR, name: str = SAMPLE_NAME) -> DatasetFrames:
    ratings = pd.read_csv(directory / "ratings.csv", dtype={"userId": str, "movieId": str})
    movies = pd.read_csv(directory / "movies.csv", dtype={"movieId": str, "title": str, "genres": str})
    tags = pd.read_csv(directory / "tags.csv", dtype={"userId": str, "movieId": str, "tag": str})

    interactions = pd.DataFrame(
        {
            "user_id": ratings["userId"],
            "item_id": ratings["movieId"],
            "ts": ratings["timestamp"].astype("Int64"),
            "rating": ratings["rating"].astype("Float64"),
            "row_order": pd.Series(range(len(ratings)), dtype="int64"),
        }
    )
    items = pd.DataFrame({"item_id": movies["movieId"], "title": movies["title"].str.strip()})

    genres = movies[["movieId", "genres"]].assign(value=movies["genres"].str.split("|")).explode("value")
    genres = genres[genres["value"].notna() & (genres["value"] != "(no genres listed)")]
    genre_rows = pd.DataFrame({"item_id": genres["movieId"], "field": "genre", "value": genres["value"]})

    years = movies["title"].str.extract(_YEAR, expand=False)
    year_rows = pd.DataFrame({"item_id": movies["movieId"], "field": "year", "value": years}).dropna()

    tag_values = tags["tag"].astype(str).str.strip().str.lower()
    tag_rows = pd.DataFrame({"item_id": tags["movieId"], "field": "tag", "value": tag_values})
    tag_rows = tag_rows[tag_rows["value"] != ""].drop_duplicates()

    attributes = pd.concat([genre_rows, year_rows, tag_rows], ignore_index=True)
    return DatasetFrames(
        name=name,
        source="bundled MovieLens ml-latest-small (GroupLens, 2018)",
        interactions=interactions,
        items=items,
        item_attributes=attributes.reset_index(drop=True),
        user_attributes=empty_frame(USER_ATTRIBUTE_COLUMNS),
        has_timestamps=True,
    )
