"""The synthetic generator: same seed same bytes, exact counts, power-law popularity, drifting tastes,
increasing timestamps, and files that ingest_files accepts row for row."""

from __future__ import annotations

import dataclasses

import numpy as np
import pandas as pd
import pytest

from engine.synthetic import SyntheticConfig, preset, user_lengths, write_synthetic

SMALL = SyntheticConfig(n_interactions=30_000, n_users=600, n_items=1_500, seed=3)


@pytest.fixture(scope="module")
def small_files(tmp_path_factory):
    return write_synthetic(SMALL, tmp_path_factory.mktemp("synthetic"))


@pytest.fixture(scope="module")
def small_frame(small_files) -> pd.DataFrame:
    return pd.read_csv(small_files.interactions)


def test_same_seed_gives_identical_files_and_another_seed_does_not(small_files, tmp_path):
    again = write_synthetic(SMALL, tmp_path / "again")
    assert again.interactions.read_bytes() == small_files.interactions.read_bytes()
    assert again.items.read_bytes() == small_files.items.read_bytes()
    other = write_synthetic(dataclasses.replace(SMALL, seed=4), tmp_path / "other")
    assert other.interactions.read_bytes() != small_files.interactions.read_bytes()


def test_counts_are_exact(small_files, small_frame):
    assert len(small_frame) == SMALL.n_interactions == small_files.n_interactions
    assert small_frame["user_id"].nunique() == SMALL.n_users
    assert small_frame.groupby("user_id").size().min() >= SMALL.min_per_user
    items = pd.read_csv(small_files.items)
    assert len(items) == SMALL.n_items and items["item_id"].is_unique
    assert set(small_frame["item_id"]) <= set(items["item_id"])


def test_lengths_sum_exactly_and_are_heavy_tailed():
    config = SyntheticConfig(n_interactions=1_000_003, n_users=40_000, n_items=100)
    lengths = user_lengths(config, np.random.default_rng(0))
    assert lengths.sum() == 1_000_003 and lengths.min() >= 3
    assert lengths.max() > 20 * np.median(lengths)  # a few very active users, as in real logs


def test_presets_reach_the_issue_sizes():
    big = preset("25M")
    assert (big.n_interactions, big.n_users, big.n_items) == (25_000_000, 1_000_000, 200_000)
    with pytest.raises(ValueError, match="unknown size"):
        preset("3M")


def test_popularity_is_skewed_like_a_power_law(small_frame):
    counts = np.sort(small_frame["item_id"].value_counts().to_numpy())[::-1]
    top_share = counts[: SMALL.n_items // 20].sum() / counts.sum()
    assert top_share > 0.3  # the top 5% of the catalogue takes a large share of interactions
    assert counts[0] < 0.05 * counts.sum()  # ... without one item dominating
    # log(count) falls roughly linearly in log(rank) over the head: a power law, not an exponential
    ranks = np.arange(1, 201)
    slope = np.polyfit(np.log(ranks + 10), np.log(counts[:200]), 1)[0]
    assert -1.6 < slope < -0.5


def test_timestamps_increase_along_each_user(small_frame):
    steps = small_frame.groupby("user_id")["timestamp"].diff().dropna()
    assert (steps > 0).all()


def _early_late_distance(config: SyntheticConfig, folder) -> float:
    """Mean total-variation distance between the genre mix of each long user's first and last third."""
    files = write_synthetic(config, folder)
    frame = pd.read_csv(files.interactions)
    items = pd.read_csv(files.items)
    primary = dict(zip(items["item_id"], items["genres"].str.split("|").str[0]))
    frame["genre"] = frame["item_id"].map(primary)
    distances = []
    for _, rows in frame.groupby("user_id"):
        if len(rows) < 60:
            continue
        third = len(rows) // 3
        early = rows["genre"].iloc[:third].value_counts(normalize=True)
        late = rows["genre"].iloc[-third:].value_counts(normalize=True)
        distances.append(0.5 * early.sub(late, fill_value=0).abs().sum())
    return float(np.mean(distances))


def test_interests_drift_over_a_history(tmp_path):
    config = SyntheticConfig(n_interactions=40_000, n_users=400, n_items=800, mainstream=0.0, seed=5)
    steady = _early_late_distance(dataclasses.replace(config, drift=0.0), tmp_path / "steady")
    drifting = _early_late_distance(config, tmp_path / "drifting")
    assert drifting > steady + 0.15


def test_ingest_accepts_every_row_and_every_item(small_files, tmp_path):
    from engine.ingest import ingest_files
    from engine.service import load_data
    from engine.store import Store

    store = Store(tmp_path / "synthetic.duckdb")
    report = ingest_files(store, "synthetic", small_files.interactions, small_files.items)
    assert report.interactions_read == report.interactions_accepted == SMALL.n_interactions
    assert report.interactions_rejected == 0 and report.duplicates == 0
    assert (report.n_users, report.items_without_metadata) == (SMALL.n_users, 0)
    assert report.items.accepted == SMALL.n_items and report.items.rejected_count == 0
    assert report.has_timestamps and report.users_with_too_few_interactions == 0
    data = load_data(store, "synthetic")
    assert set(data.features.field_names) == {"category", "genres", "year"}
    multi = [t for t in data.item_titles[1:] if ", The (" in t]
    assert multi, "titles with a comma survive quoting"
    slots_used = (data.features.item_slots[1:] != 0).sum(1)
    assert slots_used.max() >= 4  # category + year + up to three genres split on '|'
