"""Data: the stored datasets with their counts, how interactions are distributed, and an item browser.

Issue 4 adds CSV upload and its validation report above the overview (`_upload` slot in render()).
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis, charts, components, resources, state

BROWSER_ROWS = 500  # items shown at once in the browser (search narrows the list)


def render() -> None:
    st.title("Data")
    context = state.context()
    if context is None or context.dataset is None:
        st.info("No dataset is stored yet.")
        return
    _datasets(context)
    info = context.dataset
    summary = analysis.data_summary(context.db_path, info.name, info.fingerprint)
    _overview(info, summary)
    _distributions(info, summary)
    _item_browser(context)


def _datasets(context: state.Context) -> None:
    frame = resources.datasets(context.db_path, resources.job_registry().generation)
    shown = frame[["name", "source", "n_users", "n_items", "n_interactions", "has_timestamps", "created_at"]].rename(
        columns={"n_users": "users", "n_items": "items", "n_interactions": "interactions", "has_timestamps": "timestamps"})  # fmt: skip
    st.dataframe(shown, hide_index=True, key="data.datasets")
    st.caption("Pick the dataset to explore in the sidebar.")


def _overview(info, summary: analysis.DataSummary) -> None:
    st.subheader(components.md_escape(info.name))
    density = info.n_interactions / max(info.n_users * info.n_items, 1)
    cols = st.columns(5)
    cols[0].metric("Users", f"{info.n_users:,}")
    cols[1].metric("Items", f"{info.n_items:,}")
    cols[2].metric("Interactions", f"{info.n_interactions:,}")
    cols[3].metric("Density", f"{density:.2%}", help="interactions / (users × items)")
    cols[4].metric("Median history", f"{int(pd.Series(summary.user_counts).median()) if len(summary.user_counts) else 0}")
    if not info.has_timestamps:
        st.info("This dataset has no timestamps: histories follow the file order, and there is no activity-over-time chart.")


def _distributions(info, summary: analysis.DataSummary) -> None:
    left, right = st.columns(2)
    left.plotly_chart(charts.log_histogram(summary.user_counts, "Interactions per user", "interactions per user (log)", "users (log)"),
                      key="data.user_hist")  # fmt: skip
    right.plotly_chart(charts.log_histogram(summary.item_counts, "Interactions per item", "interactions per item (log)", "items (log)"),
                       key="data.item_hist")  # fmt: skip
    left, right = st.columns(2)
    if len(summary.ratings):
        left.plotly_chart(charts.value_counts_chart(summary.ratings, "Ratings", "rating"), key="data.ratings")
    else:
        left.caption("No ratings in this dataset (implicit feedback).")
    if len(summary.timestamps):
        right.plotly_chart(charts.activity_chart(summary.timestamps, "Activity over time"), key="data.activity")


def _item_browser(context: state.Context) -> None:
    st.subheader("Items")
    info = context.dataset
    table = analysis.item_table(context.db_path, info.name, info.fingerprint)
    query = st.text_input("Search titles", key=state.DATA_ITEM_SEARCH, placeholder="e.g. toy story")
    if query:
        table = table[table["title"].str.contains(query, case=False, regex=False)]
    table = table.sort_values("interactions", ascending=False, kind="stable")
    table = table[["item_id", "title", "interactions", *[c for c in table.columns if c not in ("item_id", "title", "interactions")]]]
    st.caption(f"{len(table):,} items" + (f", the {BROWSER_ROWS} most interacted with shown" if len(table) > BROWSER_ROWS else ""))
    st.dataframe(table.head(BROWSER_ROWS), hide_index=True, key="data.items",
                 column_config={"interactions": st.column_config.ProgressColumn(
                     format="%d", min_value=0, max_value=int(table["interactions"].max()) if len(table) else 1)})  # fmt: skip


if __name__ == "__main__":
    render()
