"""Data: the stored datasets with their counts, how interactions are distributed, and an item browser.

Upload (issue 4): interactions CSV (required), items and users CSVs (optional) into this session's
private workspace, with a preview, a correctable column mapping and the validation report.
"""

from __future__ import annotations

import os

import pandas as pd
import streamlit as st

from dashboard import account, analysis, charts, components, resources, state, upload, workspace
from engine.ingest import ColumnMapping, IngestRefused, IngestReport, detect_columns

BROWSER_ROWS = 500  # items shown at once in the browser (search narrows the list)


def render() -> None:
    st.title("Data")
    context = state.context()
    _upload(resources.db_path())
    if context is None or context.dataset is None:
        st.info("No dataset is stored yet.")
        return
    _datasets(context)
    info = context.dataset
    summary = analysis.data_summary(context.db_path, info.name, info.fingerprint)
    _overview(info, summary)
    _distributions(info, summary)
    _item_browser(context)


NONE = "(none)"
ROLES = (("user", "User column", False), ("item", "Item column", False),
         ("time", "Time column", True), ("rating", "Rating column", True))


def uploader_key(base: str) -> str:
    """The uploaders' keys change after each successful load, which empties them (and their temp copies)."""
    return f"{base}.{st.session_state.get(state.DATA_UPLOAD_ROUND, 0)}"


def _saved(main_path: str, uploaded) -> str | None:
    """The temporary copy of an uploaded file (made once per upload), or None without one."""
    if uploaded is None:
        return None
    saved = st.session_state.setdefault(state.DATA_UPLOAD_FILES, {})
    path = saved.get(uploaded.file_id)
    if path is None or not os.path.isfile(path):
        path = str(upload.save_upload(main_path, uploaded))
        saved[uploaded.file_id] = path
    return path


def _upload(main_path: str) -> None:
    with st.expander("Upload your own data", expanded=_upload_open()):
        owner = account.signed_in_identity()
        if owner is not None:
            st.caption(components.md_escape(f"Your upload goes to the workspace of your account ({owner}); "
                                            "the bundled sample stays shared and unchanged."))  # fmt: skip
        else:
            st.caption("Your upload is private to this browser session and to whoever has this page's link "
                       "(the `ws` part of the address). The bundled sample stays shared and unchanged.")
        interactions = st.file_uploader("Interactions CSV (user, item, optional time and rating)", type=["csv", "tsv", "txt"],
                                        key=uploader_key(state.DATA_UPLOAD_INTERACTIONS))  # fmt: skip
        left, right = st.columns(2)
        items = left.file_uploader("Items CSV (optional: id, title, attributes)", type=["csv", "tsv", "txt"], key=uploader_key(state.DATA_UPLOAD_ITEMS))
        users = right.file_uploader("Users CSV (optional)", type=["csv", "tsv", "txt"], key=uploader_key(state.DATA_UPLOAD_USERS))
        if interactions is None:
            _report(st.session_state.get(state.DATA_UPLOAD_REPORT))
            return
        workspace.token(create=True)  # the first upload makes the workspace (and its link)
        paths = {"interactions": _saved(main_path, interactions), "items": _saved(main_path, items),
                 "users": _saved(main_path, users)}  # fmt: skip
        labels = {role: file.name for role, file in (("interactions", interactions), ("items", items), ("users", users)) if file}
        try:
            preview = detect_columns(paths["interactions"], labels["interactions"], n_rows=5)
        except IngestRefused as error:
            st.error(components.md_escape(str(error)))
            return
        st.caption(components.md_escape(f"{preview.file}: delimiter {preview.delimiter!r}, encoding {preview.encoding}"))
        st.dataframe(pd.DataFrame(list(preview.rows), columns=_unique(preview.header)), hide_index=True, key="data.upload_preview")
        mapping = _mapping(preview)
        stem = os.path.splitext(interactions.name)[0][:60] or "upload"
        name = st.text_input("Dataset name", value=stem, key=state.DATA_UPLOAD_NAME)
        token = workspace.token()
        exists = bool(name.strip()) and token is not None and upload.private_exists(main_path, token, name.strip())
        replace = st.checkbox(components.md_escape(f"Replace the existing dataset \"{name.strip()}\" (its models become stale)"),
                              key=state.DATA_UPLOAD_REPLACE) if exists else False  # fmt: skip
        if st.button("Load", key=state.DATA_UPLOAD_LOAD, type="primary", disabled=exists and not replace):
            if not isinstance(handle_load(main_path, token, name, paths, mapping, replace, labels), str):
                st.rerun()  # the sidebar selects the new dataset
        elif exists:
            st.warning(components.md_escape(f"A dataset named \"{name.strip()}\" already exists in your workspace. "
                                            "Tick “replace” to replace it, or choose another name."))  # fmt: skip
        _report(st.session_state.get(state.DATA_UPLOAD_REPORT))


def _upload_open() -> bool:
    """Open before the first upload, while a file is chosen and while a report is shown. Why: the
    expander's identity follows this value, so it must not flip when the first file creates the
    workspace, or the preview and the Load button would fold away under the user's cursor."""
    return (state.get_str(state.WORKSPACE) is None or st.session_state.get(state.DATA_UPLOAD_REPORT) is not None
            or st.session_state.get(uploader_key(state.DATA_UPLOAD_INTERACTIONS)) is not None)  # fmt: skip


def handle_load(main_path: str, token: str, name: str, paths: dict[str, str | None], mapping: ColumnMapping,
                replace: bool, labels: dict[str, str]) -> IngestReport | str:
    """Run the ingest; keep the report (or the refusal sentence) for the page and select the dataset."""
    try:
        report = upload.load(main_path, token, name, paths["interactions"], paths.get("items"), paths.get("users"),
                             mapping, replace, labels)  # fmt: skip
    except IngestRefused as error:
        st.session_state[state.DATA_UPLOAD_REPORT] = str(error)
        return str(error)
    st.session_state[state.DATA_UPLOAD_REPORT] = report
    st.session_state[state.DATA_UPLOAD_SELECT] = report.dataset
    st.session_state[state.DATA_UPLOAD_ROUND] = st.session_state.get(state.DATA_UPLOAD_ROUND, 0) + 1
    for path in (st.session_state.pop(state.DATA_UPLOAD_FILES, None) or {}).values():
        upload.discard(path)
    return report


def _unique(header: tuple[str, ...]) -> list[str]:
    seen: dict[str, int] = {}
    names = []
    for column in header:
        seen[column] = seen.get(column, 0) + 1
        names.append(column if seen[column] == 1 else f"{column} ({seen[column]})")
    return names


def _mapping(preview) -> ColumnMapping:
    """The detected mapping in selectboxes the user can correct."""
    header = list(dict.fromkeys(preview.header))
    detected = preview.mapping.to_dict()
    chosen = {}
    cols = st.columns(len(ROLES))
    for col, (role, label, optional) in zip(cols, ROLES):
        options = ([NONE] if optional else []) + header
        default = detected.get(role) if detected.get(role) in options else (NONE if optional else None)
        key = state.DATA_UPLOAD_MAP + role
        if st.session_state.get(key) not in options:
            st.session_state[key] = default
        chosen[role] = col.selectbox(label, options, key=key)
    if chosen["time"] == NONE:
        st.info("No time column: histories follow the file order.")
    return ColumnMapping(chosen["user"], chosen["item"], "" if chosen["time"] == NONE else chosen["time"],
                         "" if chosen["rating"] == NONE else chosen["rating"])  # fmt: skip


def _report(report: IngestReport | str | None) -> None:
    if report is None:
        return
    if isinstance(report, str):
        st.error(components.md_escape(report))
        return
    st.success(components.md_escape(f"Loaded \"{report.dataset}\"{' (replaced)' if report.replaced else ''} into your workspace."))
    cols = st.columns(3)
    cols[0].metric("Rows read", f"{report.interactions_read:,}")
    cols[1].metric("Accepted", f"{report.interactions_accepted:,}")
    cols[2].metric("Rejected", f"{report.interactions_rejected:,}")
    if not report.has_timestamps:
        st.info("No timestamps: file order is used for each user's history.")
    st.caption(components.md_escape(f"{report.duplicates:,} duplicate rows kept · {report.users_with_too_few_interactions:,} users with "
                                    f"fewer than 3 interactions (not evaluated) · {report.items_without_metadata:,} items without metadata"))  # fmt: skip
    for warning in (*report.warnings, *report.items.warnings, *report.users.warnings):
        st.warning(components.md_escape(warning))
    rows = upload.rejected_rows(report)
    if rows:
        st.dataframe(pd.DataFrame(rows[: upload.REJECTED_SHOWN]), hide_index=True, key="data.upload_rejected")
        st.download_button("Download rejected rows (CSV)", upload.rejected_csv(report), file_name=f"{report.dataset}-rejected.csv",
                           mime="text/csv", key="data.upload_rejected_csv")  # fmt: skip


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
