"""Private workspaces in the dashboard: which store holds this session's uploads, and the sidebar over
the shared sample plus this workspace's datasets.

A session's workspace token lives in session state and is mirrored in the URL (`?ws=`), so whoever holds
the link reopens the same workspace; it is created on the first upload. When sign-in is fully set up
(dashboard/account.py checks it) and the user is signed in, the token is derived from their identity
instead (engine.workspace.owner_token under a server secret), so the workspace follows the user, not the
link; without a complete setup st.user is never trusted, whatever it holds.
The shared store is only read here; uploads and models of private datasets go to the workspace store,
whose path (it contains the token) keys every cache, so nothing private is served to another session.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from dashboard import account, components, resources, state
from engine.workspace import WORKSPACES_DIR, is_valid_token, new_workspace_token, owner_token, workspace_path

PARAM = "ws"  # URL query parameter holding the workspace token


def root(main_path: str) -> Path:
    """The folder whose workspaces/ subfolder holds the private stores: the shared store's folder."""
    return Path(main_path).parent


def is_workspace_path(path: str) -> bool:
    """True for `<root>/workspaces/<valid token>.duckdb` (a private store: never given the sample)."""
    candidate = Path(path)
    return candidate.parent.name == WORKSPACES_DIR and candidate.suffix == ".duckdb" and is_valid_token(candidate.stem)


def token(create: bool = False) -> str | None:
    """This session's workspace token: the signed-in user's, else the URL's / session's, else a new one
    when `create` (first upload), else None. An invalid `?ws=` is dropped with a warning."""
    identity = account.signed_in_identity()  # None unless sign-in (and the workspace secret) is fully set up
    if identity is not None:
        secret = account.workspace_secret()
        if secret is not None:
            try:
                return owner_token(identity, secret)
            except ValueError as error:
                st.warning(components.md_escape(f"Your workspace is unavailable: {error}."))
                return None
    current = state.get_str(state.WORKSPACE)
    if current is None:
        param = st.query_params.get(PARAM)
        if param:
            if is_valid_token(param):
                current = param
            else:
                st.query_params.pop(PARAM, None)
                st.warning("This workspace link is not valid, so it was ignored; an upload starts a new workspace.")
    if current is None and create:
        current = new_workspace_token()
    if current is not None:
        state.set_value(state.WORKSPACE, current)
    return current


def sync_url() -> None:
    """Keep `?ws=` in the URL (page switches clear query parameters); signed-in users need no link."""
    current = state.get_str(state.WORKSPACE)
    if current is not None and account.signed_in_identity() is None and st.query_params.get(PARAM) != current:
        st.query_params[PARAM] = current


def store_path(main_path: str, workspace: str) -> str:
    """The private store file of `workspace` (validated; never built from user input otherwise)."""
    return str(workspace_path(root(main_path), workspace))


def private_names(main_path: str, workspace: str | None) -> list[str]:
    """Dataset names in this workspace's store ([] without a workspace or before its first upload)."""
    if workspace is None:
        return []
    path = store_path(main_path, workspace)
    if not Path(path).is_file():
        return []
    return resources.datasets(path, resources.job_registry().generation)["name"].tolist()


def sources(main_path: str, workspace: str | None) -> dict[str, str]:
    """Dataset name -> store path: the shared datasets, then this workspace's (shared names win)."""
    shared = resources.datasets(main_path, resources.job_registry().generation)["name"].tolist()
    found = {name: main_path for name in shared}
    if workspace is not None:
        for name in private_names(main_path, workspace):
            found.setdefault(name, store_path(main_path, workspace))
    return found


def sidebar(main_path: str) -> state.Context:
    """Dataset (shared + this workspace), model and user pickers; the Context's db_path is the store
    that holds the chosen dataset, so pages read, train and register models there."""
    registry = resources.job_registry()
    by_name = sources(main_path, token())
    names = list(by_name)
    if not names:
        st.warning("The store holds no dataset yet.")
        return state.Context(main_path, None, None, None)
    pending = state.get_str(state.DATA_UPLOAD_SELECT)
    if pending is not None:  # a dataset just uploaded on the Data page becomes the sidebar's choice
        state.set_value(state.DATA_UPLOAD_SELECT, None)
        if pending in by_name:
            state.set_value(state.DATASET, pending)
    components._keep_valid(state.DATASET, names, "movielens-small" if "movielens-small" in names else names[0])
    dataset = st.selectbox("Dataset", names, key=state.DATASET,
                           format_func=lambda n: n if by_name[n] == main_path else f"{n} (private)")  # fmt: skip
    path = by_name[dataset]
    generation = registry.generation
    state.set_value(state.MODELS_GENERATION, generation)  # a job page compares it: see components.watch_job
    info = resources.dataset_info(path, dataset, generation)
    records = resources.models(path, dataset, generation)
    models = {record.name: record for record in records}
    model = None
    if records:
        preferred = next((r.name for r in records if r.name.endswith("-default")), records[0].name)
        components._keep_valid(state.MODEL, list(models), preferred)
        name = st.selectbox("Model", list(models), key=state.MODEL, format_func=lambda n: components.model_label(models[n]),
                            help="Trained models of this dataset, newest first; train more on the Train page.")  # fmt: skip
        model = models.get(name)
        if model is not None:
            st.caption(components.md_escape(components.model_details(model)))
    elif not any(view.dataset == dataset for view in registry.running()):
        st.info("No trained model for this dataset yet. Train one on the Train page.")
    return state.Context(path, info, model, components._user_picker(path, dataset, info.fingerprint))
