"""The frame around every page: page config, navigation over dashboard/views/, the shared sidebar
(dataset, model, user) whose widgets live here so their values survive page switches, and the
first-run check that gives the bundled sample a model. app.py runs `main()` as every session's script.
"""

from __future__ import annotations

import streamlit as st

from dashboard import account, components, housekeeping, launch, resources, state, workspace
from dashboard.jobs import DONE
from dashboard.resources import FIRST_RUN_OWNER
from engine.store import StoreError

PAGES = (
    ("views/explore.py", "Explore", ":material/psychology:", True),
    ("views/data.py", "Data", ":material/table_chart:", False),
    ("views/train.py", "Train", ":material/model_training:", False),
    ("views/evaluate.py", "Evaluate", ":material/leaderboard:", False),
    ("views/item_map.py", "Item map", ":material/scatter_plot:", False),
)


def main() -> None:
    st.set_page_config(page_title="Recscope", page_icon=":material/psychology:", layout="wide")
    page = st.navigation([st.Page(path, title=title, icon=icon, default=default) for path, title, icon, default in PAGES])
    path = resources.db_path()
    launch.warm_up()
    launch.wait_for_data()
    try:
        resources.store(path)
        first_run = resources.first_run(path)
    except StoreError as error:
        st.error(components.md_escape(f"The data store cannot be opened: {error}"))
        st.stop()
    housekeeping.maybe_sweep(path)  # in the background, at most hourly: abandoned workspaces go
    components.seed_from_query_params()
    with st.sidebar:
        st.caption("Recscope · attention-based recommendations, explained")
        housekeeping.visit(path, workspace.token())  # before reading it: an opened workspace is never swept
        context = workspace.sidebar(path)  # the shared datasets plus this session's private workspace
        account.sidebar(has_workspace=state.get_str(state.WORKSPACE) is not None)
        _first_run_status(first_run.message)
    state.set_context(context)
    components.sync_query_params(context)
    workspace.sync_url()
    if page.title == "Explore" and launch.model_pending() and _stored_first_screen(context):
        launch.first_view_drawn()
        launch.wait_for_launch()
        st.rerun()  # the live page, on the model the launch just loaded
    launch.first_view_drawn()  # nothing (more) to draw without the model: let the launch import torch now
    launch.wait_for_launch()
    page.run()


def _stored_first_screen(context: state.Context) -> bool:
    """Draw Explore's first screen from results stored beside the model (dashboard/first_screen.py) when
    they match this model, data, user and list length exactly; False (nothing drawn) otherwise."""
    from dashboard import first_screen
    from dashboard.explore import DEFAULT_K
    from dashboard.steps import SCORER_NAMES

    if context.model is None or context.user_id is None or context.dataset is None:
        return False
    data = resources.sequence_data(context.db_path, context.dataset.name, context.dataset.fingerprint)
    stem = resources.store(context.db_path).model_path(context.model)
    key = first_screen.checkpoint_key(stem, context.user_id, state.explore_k(DEFAULT_K))
    record = None if key is None or key.dataset_fingerprint != data.fingerprint else first_screen.read(stem, key)
    if record is None or not record["recommendations"]:
        return False
    n_interactions = len(data.sequences[data.users.to_dense(context.user_id)])
    model = context.model
    first_screen.show(record, f"User {context.user_id} · {n_interactions:,} interactions · model {model.name}: {SCORER_NAMES[model.scorer]}.",
                      normalised=model.scorer != "sigmoid")  # fmt: skip
    return True


def _first_run_status(message: str | None) -> None:
    """While the default model trains on a fresh install, show its progress under the pickers."""
    view = resources.job_registry().latest(FIRST_RUN_OWNER)
    if view is None or view.status == DONE:
        return
    if message and view.is_running:
        st.caption(message)
    components.watch_job(view.job_id, lambda current: components.job_status(current, show_curves=False), every_s=2.0)
