"""Upload on the Data page through AppTest: the dataset lands in this session's private workspace, the
validation report is shown, and another session (other or no workspace token) never lists it."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state
from dashboard_fixtures import make_app
from engine.workspace import WORKSPACES_DIR, is_valid_token, new_workspace_token

CSV = ("customer;sku;stars\n" + "".join(f"u{u};i{(u * 7 + k) % 11};{1 + k % 5}\n" for u in range(8) for k in range(5))
       + ";i1;3\n").encode("utf-8")  # fmt: skip  (the last row has no user: rejected)


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def dataset_options(at: AppTest) -> list[str]:
    """The sidebar's dataset names (AppTest gives the labels; private ones end in " (private)")."""
    return [option.removesuffix(" (private)") for option in at.selectbox(key=state.DATASET).options]


def upload(at: AppTest, name: str = "my-shop", round_: int = 0) -> AppTest:
    """Upload CSV as `name` on the Data page (round_: successful loads so far in this session)."""
    run(at)
    run(at.switch_page("views/data.py"))
    at.get_by_key(f"{state.DATA_UPLOAD_INTERACTIONS}.{round_}").upload("orders.csv", CSV, "text/csv")
    run(at)
    assert at.selectbox(key=state.DATA_UPLOAD_MAP + "user").value == "customer"
    assert at.selectbox(key=state.DATA_UPLOAD_MAP + "item").value == "sku"
    at.text_input(key=state.DATA_UPLOAD_NAME).input(name)
    run(at)
    at.button(key=state.DATA_UPLOAD_LOAD).click()
    return run(at)


def test_upload_is_listed_only_in_its_workspace(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    a = upload(make_app(private_db, monkeypatch))
    token = a.session_state[state.WORKSPACE]
    assert is_valid_token(token) and a.query_params.get("ws") in (token, [token])
    assert "my-shop" in dataset_options(a)
    assert a.selectbox(key=state.DATASET).value == "my-shop"
    shown = {m.label: m.value for m in a.metric}
    assert shown["Rows read"] == "41" and shown["Accepted"] == "40" and shown["Rejected"] == "1"
    assert any("file order" in i.value for i in a.info)  # no time column
    # the dataset lives in the workspace store only, never in the shared one; uploads leave no temp copy
    assert (private_db.parent / WORKSPACES_DIR / f"{token}.duckdb").is_file()
    assert not list((private_db.parent / WORKSPACES_DIR / "uploads").glob("*"))

    b = run(make_app(private_db, monkeypatch))  # a new session without a token
    assert "my-shop" not in dataset_options(b) and "movielens-small" in dataset_options(b)
    other = make_app(private_db, monkeypatch)
    other.query_params["ws"] = new_workspace_token()  # someone else's workspace
    assert "my-shop" not in dataset_options(run(other))
    link = make_app(private_db, monkeypatch)
    link.query_params["ws"] = token  # whoever holds the link reopens the workspace
    assert "my-shop" in dataset_options(run(link))


def test_invalid_token_is_ignored_and_existing_name_needs_replace(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    bad = make_app(private_db, monkeypatch)
    bad.query_params["ws"] = "../../etc/passwd"
    run(bad)
    assert any("not valid" in w.value for w in bad.warning)
    assert state.WORKSPACE not in bad.session_state
    a = upload(make_app(private_db, monkeypatch), "movielens-small")  # a shared name is refused
    assert any("shared dataset" in e.value for e in a.error)
    a.text_input(key=state.DATA_UPLOAD_NAME).input("again")
    run(a)
    a.button(key=state.DATA_UPLOAD_LOAD).click()
    run(a)
    assert a.selectbox(key=state.DATASET).value == "again"
    a.get_by_key(f"{state.DATA_UPLOAD_INTERACTIONS}.1").upload("orders.csv", CSV, "text/csv")  # the uploader emptied after the load
    run(a)
    a.text_input(key=state.DATA_UPLOAD_NAME).input("again")
    run(a)
    assert a.button(key=state.DATA_UPLOAD_LOAD).disabled  # the name exists: replacing needs the checkbox
    a.checkbox(key=state.DATA_UPLOAD_REPLACE).check()
    run(a)
    a.button(key=state.DATA_UPLOAD_LOAD).click()
    run(a)
    assert any("replaced" in s.value for s in a.success)
