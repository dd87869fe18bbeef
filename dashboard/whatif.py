"""Cached faithfulness evidence and what-if re-ranking for the Explore and Evaluate pages.

Every function is keyed by db path + model name + created_at (+ user, item, edited history), like the
caches in resources.py, so a re-registered model never serves stale evidence. Results are computed
only for what the page shows: one selected recommendation, one edited history, one model report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import streamlit as st

from dashboard import resources

if TYPE_CHECKING:
    from engine.explain import Explanation
    from engine.registry import ModelRecord
    from engine.faithfulness import Faithfulness
    from engine.faithfulness_report import FaithfulnessReport

COUNTERFACTUAL_TITLES = 5  # titles named in the counterfactual sentence (why: a greedy set can hold most of the history)
REPORT_USERS = 12  # users sampled by the Evaluate page's model report (~6 s per 10 users)


@st.cache_data(max_entries=256, show_spinner="Testing the explanation against the model…")
def faithfulness(path: str, name: str, created_at: str, user_id: str, item_id: str, top_k: int) -> Faithfulness:
    """engine.faithfulness for one user's recommendation (attention view, the user's full history)."""
    from engine.explain import user_history
    from engine.faithfulness import faithfulness as measure

    loaded = resources.loaded_model(path, name, created_at)
    history = user_history(loaded.data, user_id)
    return measure(loaded.model, loaded.data, history, loaded.data.items.to_dense(item_id), top_k=top_k)


@dataclass(frozen=True)
class CounterfactualView:
    found: bool
    removed_titles: tuple[str, ...]
    replacement_title: str | None
    new_rank: int

    def sentence(self) -> str:
        if not self.found:
            return "No small set found: removing this user's history items in attention order never drops this item out of the list."
        n = len(self.removed_titles)
        films = "item" if n == 1 else "items"
        shown = self.removed_titles[:COUNTERFACTUAL_TITLES]
        listed = "; ".join(shown) + (f"; and {n - len(shown)} more, in attention order" if n > len(shown) else "")
        instead = f"{self.replacement_title} would take its place" if self.replacement_title else "another item would take its place"
        return f"Without these {n} {films} ({listed}), this would not be recommended (it falls to #{self.new_rank}); {instead}."


@st.cache_data(max_entries=256, show_spinner="Searching the smallest set of history items that changes the list…")
def counterfactual(path: str, name: str, created_at: str, user_id: str, item_id: str, top_k: int) -> CounterfactualView:
    """The smallest set (greedy, attention order) whose removal drops the item out of the list, read from
    the faithfulness test of the same recommendation (cached), which has already found where it drops out."""
    from engine.explain import user_history
    from engine.faithfulness import counterfactual_from

    loaded = resources.loaded_model(path, name, created_at)
    titles = loaded.data.item_titles
    tested = faithfulness(path, name, created_at, user_id, item_id, top_k)
    found = counterfactual_from(loaded.model, user_history(loaded.data, user_id), tested)
    replacement = None if found.replacement is None else str(titles[found.replacement])
    return CounterfactualView(found.found, tuple(str(titles[i]) for i in found.removed), replacement, found.new_rank)


def history_key(history: list[int]) -> bytes:
    """An edited history as one bytes value: the cache hashes it in one step, where a tuple of a long
    history's ints is hashed element by element (~12 ms per thousand items)."""
    return np.asarray(history, dtype=np.int64).tobytes()


@st.cache_data(max_entries=128, show_spinner=False)
def edited_explanation(path: str, name: str, created_at: str, history: bytes, k: int) -> Explanation:
    """explain_history for an edited history (dense ids, oldest first, as `history_key` packs them)."""
    from engine.explain import explain_history

    loaded = resources.loaded_model(path, name, created_at)
    return explain_history(loaded.model, loaded.data, np.frombuffer(history, dtype=np.int64).copy(), k)


def rank_changes(original: list[str], edited: list[str]) -> list[str]:
    """For each item of the edited list: 'new', '=', '↑n' or '↓n' against its rank in the original list."""
    before = {item: rank for rank, item in enumerate(original)}
    changes = []
    for rank, item in enumerate(edited):
        if item not in before:
            changes.append("new")
        elif before[item] == rank:
            changes.append("=")
        else:
            delta = before[item] - rank
            changes.append(f"↑{delta}" if delta > 0 else f"↓{-delta}")
    return changes


def move(history: list[int], position: int, steps_back: int) -> list[int]:
    """The history with the item at `position` (0 = oldest) moved to `steps_back` from the end (0 = most
    recent); out-of-range values are clamped, an invalid position leaves the history as it is."""
    if not 0 <= position < len(history):
        return list(history)
    edited = list(history)
    item = edited.pop(position)
    edited.insert(len(edited) - min(max(steps_back, 0), len(edited)), item)
    return edited


def verdict_label(verdict: str) -> str:
    """The verdict sentence's conclusion in one or two words (for the badge)."""
    if "NOT faithful" in verdict:
        return "not faithful"
    if "weakly faithful" in verdict:
        return "weakly faithful"
    if "is faithful" in verdict:
        return "faithful"
    return "not tested"


def report_for(path: str, record: ModelRecord, records: list[ModelRecord]) -> FaithfulnessReport:
    """The model-level report of `record`, with seed divergence against its same-settings siblings among
    `records`; the Explore and Evaluate pages call this, so they share one cached report per model version."""
    from engine.faithfulness_report import seed_siblings

    siblings = tuple(resources.model_key(other) for other in seed_siblings(record, records))
    return model_report(path, *resources.model_key(record), siblings=siblings)


@st.cache_data(max_entries=16, show_spinner="Measuring faithfulness over a sample of users…")
def model_report(path: str, name: str, created_at: str, n_users: int = REPORT_USERS,
                 siblings: tuple[tuple[str, str], ...] = ()) -> FaithfulnessReport:  # fmt: skip
    """engine model_report; `siblings` are (name, created_at) of same-settings models with other seeds."""
    from engine.faithfulness_report import model_report as report

    loaded = resources.loaded_model(path, name, created_at)
    others = [resources.loaded_model(path, *key).model for key in siblings]
    return report(loaded.model, loaded.data, n_users=n_users, seed=0, other_seeds=others or None)
