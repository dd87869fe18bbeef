"""Seeded synthetic interaction logs for scale benchmarks: interactions and items CSVs, streamed in chunks.

What makes it realistic enough to benchmark on: item popularity follows a power law (Zipf); each user
has a mixture of interests over latent topics that random-walks as their history grows (drifting
tastes); items carry a categorical attribute, a multi-valued genre field ("Drama|Noir") and a year;
timestamps increase along each user's history; activity per user is heavy-tailed (lognormal). Users
are generated a chunk at a time and written with pyarrow, so memory stays flat from 1 M to 25 M rows.
The output is a pure function of the config (same seed, same bytes).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.csv as pa_csv

INTERACTIONS_HEADER = "user_id,item_id,timestamp,rating\n"
ITEMS_HEADER = "item_id,title,category,genres,year\n"
USERS_PER_CHUNK = 10_000  # users generated at once (why: ~250 k rows x topics in float64 stays under ~100 MB)
START_TS = 1_420_070_400  # 2015-01-01 UTC: first possible interaction
SPAN_S = 8 * 365 * 86_400  # users join at a uniform time over eight years

TOPICS = ("Action", "Adventure", "Animation", "Biography", "Comedy", "Crime", "Documentary", "Drama",
          "Family", "Fantasy", "History", "Horror", "Music", "Musical", "Mystery", "Noir", "Romance",
          "Sci-Fi", "Sport", "Thriller", "War", "Western", "Anime", "Reality")  # fmt: skip
CATEGORIES = ("feature", "series", "short", "documentary", "special")
CATEGORY_SHARES = (0.55, 0.25, 0.1, 0.07, 0.03)
_ADJECTIVES = ("Silent", "Crimson", "Last", "Hidden", "Broken", "Golden", "Lonely", "Electric", "Distant",
               "Wild", "Frozen", "Secret", "Burning", "Hollow", "Midnight", "Quiet", "Restless", "Iron")  # fmt: skip
_NOUNS = ("Harbor", "Garden", "Empire", "River", "Signal", "Orchard", "Machine", "Kingdom", "Letter",
          "Horizon", "Station", "Mirror", "Voyage", "Promise", "Frontier", "Circus", "Island", "Witness")  # fmt: skip


@dataclass(frozen=True)
class SyntheticConfig:
    """Size and shape of a synthetic log; every field changes the output, the seed included."""

    n_interactions: int
    n_users: int
    n_items: int
    n_topics: int = 16  # latent interests; each item has one primary topic (its first genre)
    zipf_exponent: float = 1.0  # item weight ~ (popularity_rank + offset) ** -exponent (Zipf-Mandelbrot)
    zipf_offset: float = 10.0  # flattens the head (why: with 0, the top item alone took 5% of a 1 M log)
    focus: float = 2.5  # std of a user's initial topic logits (larger = narrower tastes)
    drift: float = 0.25  # std of the per-interaction random-walk step of the topic logits
    mainstream: float = 0.2  # share of picks drawn from global popularity, whatever the user's tastes
    activity_sigma: float = 1.1  # lognormal spread of interactions per user (heavy tail)
    min_per_user: int = 3  # every user can be evaluated (train, validation and test targets)
    seed: int = 0

    def __post_init__(self) -> None:
        if self.n_users < 1 or self.n_items < 2 or not 2 <= self.n_topics <= len(TOPICS):
            raise ValueError(f"need n_users >= 1, n_items >= 2 and 2 <= n_topics <= {len(TOPICS)}")
        if self.n_interactions < self.n_users * self.min_per_user:
            raise ValueError(f"{self.n_interactions:,} interactions cannot give {self.n_users:,} users "
                             f"{self.min_per_user} each")  # fmt: skip
        if not 0.0 <= self.mainstream <= 1.0 or self.zipf_exponent <= 0 or self.zipf_offset < 0 or self.drift < 0:
            raise ValueError("mainstream must be in [0, 1], zipf_exponent > 0, zipf_offset >= 0 and drift >= 0")


def preset(size: str, seed: int = 0) -> SyntheticConfig:
    """The benchmark sizes: "100k", "1M", "5M", "25M" interactions, 25 per user on average and 125 per item
    (so 25M has 1 M users and 200 k items)."""
    sizes = {"100k": 100_000, "1M": 1_000_000, "5M": 5_000_000, "25M": 25_000_000}
    if size not in sizes:
        raise ValueError(f"unknown size {size!r}; choose one of {', '.join(sizes)}")
    n = sizes[size]
    return SyntheticConfig(n_interactions=n, n_users=n // 25, n_items=n // 125, seed=seed)


@dataclass(frozen=True)
class SyntheticFiles:
    interactions: Path
    items: Path
    n_interactions: int
    n_users: int
    n_items: int
    interactions_bytes: int


@dataclass(frozen=True)
class _Catalogue:
    """Items in popularity order (index 0 = most popular) and what sampling needs."""

    raw_ids: np.ndarray  # (I,) int64 public ids, a permutation of 1..I (ids do not reveal popularity)
    topic: np.ndarray  # (I,) int64 primary topic
    global_cdf: np.ndarray  # (I,) cumulative Zipf weights, last = 1
    topic_items: list[np.ndarray]  # per topic, item indices (popularity order)
    topic_cdfs: list[np.ndarray]  # per topic, cumulative weights of those items, last = 1


def write_synthetic(config: SyntheticConfig, directory: str | Path) -> SyntheticFiles:
    """Write `interactions.csv` (user_id, item_id, timestamp, rating) and `items.csv` (item_id, title,
    category, genres joined by '|', year) into `directory`; rows are grouped by user, in time order."""
    folder = Path(directory)
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng([config.seed, 0])
    catalogue = _catalogue(config, rng)
    lengths = user_lengths(config, rng)
    items_path = folder / "items.csv"
    _write_items(config, catalogue, np.random.default_rng([config.seed, 1]), items_path)
    interactions_path = folder / "interactions.csv"
    with open(interactions_path, "wb") as sink:
        sink.write(INTERACTIONS_HEADER.encode())
        for chunk, first in enumerate(range(0, config.n_users, USERS_PER_CHUNK)):
            chunk_rng = np.random.default_rng([config.seed, 2, chunk])
            table = _user_chunk(config, catalogue, lengths, first, min(first + USERS_PER_CHUNK, config.n_users), chunk_rng)
            pa_csv.write_csv(table, sink, pa_csv.WriteOptions(include_header=False))
    return SyntheticFiles(interactions_path, items_path, int(lengths.sum()), config.n_users, config.n_items,
                          interactions_path.stat().st_size)  # fmt: skip


def user_lengths(config: SyntheticConfig, rng: np.random.Generator) -> np.ndarray:
    """(U,) interactions per user: min_per_user plus a lognormal share of the rest, summing exactly to
    n_interactions (largest remainders get the leftover units)."""
    weights = rng.lognormal(0.0, config.activity_sigma, config.n_users)  # (U,)
    extra = config.n_interactions - config.min_per_user * config.n_users
    exact = weights / weights.sum() * extra
    lengths = np.floor(exact).astype(np.int64)
    leftover = extra - int(lengths.sum())
    lengths[np.argsort(-(exact - lengths), kind="stable")[:leftover]] += 1
    return lengths + config.min_per_user


def _catalogue(config: SyntheticConfig, rng: np.random.Generator) -> _Catalogue:
    n_items, n_topics = config.n_items, config.n_topics
    weights = (np.arange(1, n_items + 1) + config.zipf_offset) ** -config.zipf_exponent  # (I,) by popularity rank
    topic_share = np.arange(1, n_topics + 1, dtype=np.float64) ** -0.5  # some topics are bigger than others
    topic = rng.choice(n_topics, size=n_items, p=topic_share / topic_share.sum())  # (I,)
    topic_items, topic_cdfs = [], []
    for k in range(n_topics):
        members = np.flatnonzero(topic == k)
        if members.size == 0:  # tiny catalogues: every topic still has one item to draw
            members = np.array([k % n_items])
        topic_items.append(members)
        topic_cdfs.append(_cdf(weights[members]))
    raw_ids = rng.permutation(n_items).astype(np.int64) + 1
    return _Catalogue(raw_ids, topic, _cdf(weights), topic_items, topic_cdfs)


def _cdf(weights: np.ndarray) -> np.ndarray:
    cdf = np.cumsum(weights)
    cdf /= cdf[-1]
    cdf[-1] = 1.0
    return cdf


def _draw(cdf: np.ndarray, uniforms: np.ndarray) -> np.ndarray:
    return np.minimum(np.searchsorted(cdf, uniforms, side="right"), len(cdf) - 1)


def _user_chunk(config, catalogue: _Catalogue, lengths: np.ndarray, first: int, last: int, rng) -> pa.Table:
    """Interactions of users first..last-1: drifting topic mixture -> topic -> item within topic by popularity."""
    n_rows = lengths[first:last]  # (U',)
    total = int(n_rows.sum())
    row_user = np.repeat(np.arange(first, last), n_rows)  # (M,)
    starts = np.concatenate([[0], np.cumsum(n_rows)[:-1]])  # (U',) first row of each user
    base = rng.normal(0.0, config.focus, (last - first, config.n_topics))  # (U', K) initial tastes
    steps = rng.normal(0.0, config.drift, (total, config.n_topics))  # (M, K) random-walk increments
    walk = np.cumsum(steps, axis=0)  # (M, K)
    walk -= np.repeat(walk[starts] - steps[starts], n_rows, axis=0)  # restart the walk at each user's first row
    logits = walk + np.repeat(base, n_rows, axis=0)  # (M, K)
    topic = np.argmax(logits + rng.gumbel(size=logits.shape), axis=1)  # (M,) one draw from softmax(logits)
    uniforms = rng.random(total)  # (M,)
    item = _draw(catalogue.global_cdf, uniforms)  # (M,) mainstream picks, overwritten below for the rest
    personal = rng.random(total) >= config.mainstream
    for k in range(config.n_topics):
        rows = np.flatnonzero(personal & (topic == k))
        item[rows] = catalogue.topic_items[k][_draw(catalogue.topic_cdfs[k], uniforms[rows])]
    joined = START_TS + rng.integers(0, SPAN_S, last - first)  # (U',)
    gaps = np.maximum(np.rint(rng.lognormal(np.log(6 * 3600), 2.0, total)), 1).astype(np.int64)  # (M,) seconds
    elapsed = np.cumsum(gaps)
    elapsed -= np.repeat(elapsed[starts] - gaps[starts], n_rows)  # per-user running time, strictly increasing
    rating = np.clip(np.rint(2 * rng.normal(3.6, 0.9, total)) / 2, 0.5, 5.0)  # (M,) half stars like MovieLens
    return pa.table({
        "user_id": row_user + 1,
        "item_id": catalogue.raw_ids[item],
        "timestamp": np.repeat(joined, n_rows) + elapsed,
        "rating": rating,
    })  # fmt: skip


def _write_items(config: SyntheticConfig, catalogue: _Catalogue, rng: np.random.Generator, path: Path) -> None:
    """items.csv in id order: a title (some with a comma, so quoting is exercised), a category, 1-3 genres
    (the primary topic first) and a release year."""
    n_items, n_topics = config.n_items, config.n_topics
    order = np.argsort(catalogue.raw_ids)  # popularity index of item id 1, 2, ...
    n_extra = rng.choice(3, size=n_items, p=(0.5, 0.35, 0.15))  # (I,) extra genres besides the primary
    extra = rng.integers(0, n_topics, (n_items, 2))  # (I, 2)
    adjective = rng.integers(0, len(_ADJECTIVES), n_items)
    noun = rng.integers(0, len(_NOUNS), n_items)
    category = rng.choice(len(CATEGORIES), size=n_items, p=CATEGORY_SHARES)
    year = 2025 - np.minimum(rng.geometric(0.06, n_items) - 1, 75)  # (I,) recent years are commoner
    with open(path, "w", encoding="utf-8", newline="") as handle:
        handle.write(ITEMS_HEADER)
        lines = []
        for index in order:
            names = [TOPICS[catalogue.topic[index]]]
            names += [TOPICS[t] for t in extra[index, : n_extra[index]] if TOPICS[t] not in names]
            title = f"{_ADJECTIVES[adjective[index]]} {_NOUNS[noun[index]]} {catalogue.raw_ids[index]}"
            if index % 7 == 0:
                title = f'"{_NOUNS[noun[index]]}, The ({catalogue.raw_ids[index]})"'
            lines.append(f"{catalogue.raw_ids[index]},{title},{CATEGORIES[category[index]]},{'|'.join(names)},{year[index]}\n")
            if len(lines) >= 50_000:
                handle.write("".join(lines))
                lines.clear()
        handle.write("".join(lines))
