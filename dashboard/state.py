"""Every st.session_state key the dashboard uses, as a named constant with typed accessors.

Keys are namespaced by where they live ("sidebar.", "explore.", "train.", ...) so two pages can never
collide on a name. Widget keys are listed too: tests find widgets by these keys.
"""

from __future__ import annotations

import secrets
from collections.abc import MutableMapping
from dataclasses import dataclass
from typing import Any

import streamlit as st

from engine.registry import ModelRecord
from engine.store import DatasetInfo

# --- sidebar (rendered by app.py on every page, so their values survive page switches) --------------
DATASET = "sidebar.dataset"  # selectbox: dataset name
MODEL = "sidebar.model"  # selectbox: registered model name (None when the dataset has none)
MODELS_GENERATION = "sidebar.models_generation"  # the job registry generation the sidebar's model list was read at
USER = "sidebar.user"  # selectbox (accepts typed ids): raw user id

# --- the frame's resolved choices, handed from app.py to the page it runs -------------------------------
CONTEXT = "frame.context"
QUERY_SEEDED = "frame.query_seeded"  # the URL's ?dataset=&model=&user= were applied once

# --- session identity ------------------------------------------------------------------------------
SESSION_TOKEN = "session.token"  # random; owns this session's training jobs (issue 4 adds workspaces)
WORKSPACE = "session.workspace"  # private workspace token (also in the URL as ?ws=); see dashboard/workspace.py
WORKSPACE_SEEN = "session.workspace_seen"  # (token, time) of this session's last recorded visit (dashboard/housekeeping.py)

# --- explore page ----------------------------------------------------------------------------------
EXPLORE_ITEM = "explore.item"  # selectbox: item_id of the selected recommendation
EXPLORE_ITEM_OWNER = "explore.item_owner"  # model + user the selected item belongs to
EXPLORE_K = "explore.k"  # slider: how many recommendations
EXPLORE_TABLE = "explore.recs_table"  # prefix of the recommendations table key (+ context)
EXPLORE_CHART = "explore.recs_chart"  # prefix of the score chart key (+ context)
EXPLORE_EXPORT_ALL = "explore.export_all"  # (model key, k, csv bytes, json bytes) of the all-users export
EXPLORE_EXPORT_BUTTON = "explore.export_all_button"
EXPLORE_FAITHFULNESS = "explore.faithfulness"  # metric label prefix / container of the faithfulness indicator
EXPLORE_FAITHFULNESS_OPEN = "explore.faithfulness_open"  # lazy expander: the faithfulness test runs only while open
EXPLORE_FAITHFULNESS_CURVES = "explore.faithfulness_curves_on"  # toggle: deletion curves and ERASER measures
EXPLORE_VIEW_TAB = "explore.view_tab"  # lazy tabs: label of the open view (attention weights / contributions)
EXPLORE_STEPS_TABLE_OPEN = "explore.steps_table_open"  # lazy expander: every history item's numbers
WHATIF_HISTORY = "explore.whatif.history"  # list[int]: the edited history (dense item ids, oldest first)
WHATIF_OWNER = "explore.whatif.owner"  # model + user the edited history started from
WHATIF_REMOVE = "explore.whatif.remove"  # multiselect: positions of the edited history to remove
WHATIF_REMOVE_BUTTON = "explore.whatif.remove_button"
WHATIF_ADD = "explore.whatif.add"  # selectbox (search by title): dense id of an item to add
WHATIF_ADD_BUTTON = "explore.whatif.add_button"
WHATIF_MOVE = "explore.whatif.move"  # selectbox: position of the edited history to move
WHATIF_MOVE_TO = "explore.whatif.move_to"  # number_input: where to move it, in steps back (0 = most recent)
WHATIF_MOVE_BUTTON = "explore.whatif.move_button"
WHATIF_CLEAR = "explore.whatif.clear"  # button: remove every history item (a brand-new user)
WHATIF_RESET = "explore.whatif.reset"  # button: back to the user's real history
WHATIF_TABLE = "explore.whatif.table"
WHATIF_OPEN = "explore.whatif.open"  # lazy expander: the what-if editor runs only while open

# --- train page ------------------------------------------------------------------------------------
TRAIN_JOB = "train.job_id"  # id of this session's latest training job
TRAIN_FORM = "train.form"
TRAIN_SCORER = "train.scorer"
TRAIN_LAYERS = "train.layers"
TRAIN_HEADS = "train.heads"
TRAIN_DIM = "train.dim"
TRAIN_MAX_LEN = "train.max_len"
TRAIN_EPOCHS = "train.epochs"
TRAIN_SEED = "train.seed"
TRAIN_NAME = "train.name"
TRAIN_SUBMIT = "train.submit"
TRAIN_CANCEL = "train.cancel"
TRAIN_DOWNLOAD_CHOICE = "train.download_choice"
TRAIN_DOWNLOAD_MODEL = "train.download_model"
TRAIN_OPEN_MODEL = "train.open_model"  # button: select the finished model and go to Explore
TRAIN_GOTO_EXPLORE = "train.goto_explore"  # set by that button's callback; the next run switches page

# --- evaluate page ---------------------------------------------------------------------------------
EVALUATE_MODELS = "evaluate.models"
EVALUATE_BASELINES = "evaluate.baselines"
EVALUATE_COMPARE_A = "evaluate.compare_a"
EVALUATE_COMPARE_B = "evaluate.compare_b"
EVALUATE_FAITHFULNESS_MODEL = "evaluate.faithfulness_model"  # selectbox: model of the faithfulness report
EVALUATE_FAITHFULNESS_RUN = "evaluate.faithfulness_run"  # button: run the report
EVALUATE_FAITHFULNESS_DONE = "evaluate.faithfulness_done"  # (model key) whose report this session asked for

# --- data page -------------------------------------------------------------------------------------
DATA_ITEM_SEARCH = "data.item_search"
DATA_UPLOAD_INTERACTIONS = "data.upload_interactions"  # file_uploader (key prefix, + ".<round>")
DATA_UPLOAD_ITEMS = "data.upload_items"
DATA_UPLOAD_USERS = "data.upload_users"
DATA_UPLOAD_NAME = "data.upload_name"  # text_input: dataset name
DATA_UPLOAD_REPLACE = "data.upload_replace"  # checkbox: replace an existing dataset of that name
DATA_UPLOAD_LOAD = "data.upload_load"  # button
DATA_UPLOAD_MAP = "data.upload_map."  # prefix of the mapping selectboxes (+ user / item / time / rating)
DATA_UPLOAD_SELECT = "data.upload_select"  # a just-loaded dataset the sidebar selects on its next run
DATA_UPLOAD_FILES = "data.upload_files"  # {uploader file_id: saved temporary path}
DATA_UPLOAD_ROUND = "data.upload_round"  # bumped after a load: the uploaders start empty (see uploader_key)
DATA_UPLOAD_REPORT = "data.upload_report"  # the last IngestReport of this session (or a refusal message)

# --- item map page ---------------------------------------------------------------------------------
MAP_COLOUR = "item_map.colour"


def _state() -> MutableMapping[str, Any]:
    return st.session_state


def get_str(key: str) -> str | None:
    """The text stored under `key`, or None when unset or not text."""
    value = _state().get(key)
    return value if isinstance(value, str) else None


def set_value(key: str, value: Any) -> None:
    _state()[key] = value


def models_generation() -> int | None:
    """The job-registry generation at which the sidebar listed this run's models (None before it did)."""
    value = _state().get(MODELS_GENERATION)
    return value if isinstance(value, int) else None


def dataset() -> str | None:
    return get_str(DATASET)


def model() -> str | None:
    return get_str(MODEL)


def user() -> str | None:
    return get_str(USER)


def select_model(name: str) -> None:
    """Make `name` the sidebar's model (call before the sidebar renders, e.g. from a callback)."""
    _state()[MODEL] = name


def session_token() -> str:
    """This browser session's random token (created on first use)."""
    token = get_str(SESSION_TOKEN)
    if token is None:
        token = secrets.token_urlsafe(16)
        _state()[SESSION_TOKEN] = token
    return token


def train_job() -> str | None:
    return get_str(TRAIN_JOB)


def set_train_job(job_id: str | None) -> None:
    _state()[TRAIN_JOB] = job_id


def explore_item() -> str | None:
    return get_str(EXPLORE_ITEM)


def set_explore_item(item_id: str) -> None:
    _state()[EXPLORE_ITEM] = item_id


def explore_k(default: int) -> int:
    value = _state().get(EXPLORE_K)
    return value if isinstance(value, int) else default


@dataclass(frozen=True)
class Context:
    """What the sidebar resolved this run: every page reads it instead of re-deriving it."""

    db_path: str
    dataset: DatasetInfo | None
    model: ModelRecord | None
    user_id: str | None  # a user that exists in the dataset, or None


def set_context(context: Context) -> None:
    _state()[CONTEXT] = context


def context() -> Context | None:
    return _state().get(CONTEXT)  # not isinstance-checked: a dev-mode module reload makes a new class
