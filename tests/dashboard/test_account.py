"""Sign-in and workspaces through AppTest: a workspace follows an account only when sign-in is fully set
up; without it the page says the workspace is reached by its link; an incomplete setup is named."""

from __future__ import annotations

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest
from test_upload import dataset_options, run, upload

from dashboard import account, state
from dashboard_fixtures import make_app
from engine.workspace import WORKSPACES_DIR, is_valid_token, owner_token

SECRET = "a-workspace-secret-of-enough-bytes"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "cookie-secret-cookie-secret",
        "client_id": "recscope", "client_secret": "client-secret", "server_metadata_url":
        "https://accounts.example.com/.well-known/openid-configuration"}  # fmt: skip
ALICE = {"is_logged_in": True, "email": "alice@example.com", "name": "Alice"}


def app(db: Path, monkeypatch: pytest.MonkeyPatch, auth: dict | None, user: dict) -> AppTest:
    monkeypatch.setenv(account.SECRET_ENV, SECRET)
    at = make_app(db, monkeypatch)
    if auth is not None:
        at.secrets["auth"] = auth
    at.user = user
    return at


def sidebar_text(at: AppTest) -> str:
    return " ".join(element.value for element in (*at.sidebar.caption, *at.sidebar.warning))


def test_without_sign_in_a_claimed_identity_owns_nothing(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = upload(app(private_db, monkeypatch, None, ALICE))  # st.user says "logged in", but the server has no [auth]
    token = at.session_state[state.WORKSPACE]
    assert is_valid_token(token) and token != owner_token("alice@example.com", SECRET.encode())
    assert at.query_params.get("ws") in (token, [token])  # reached by its link
    text = sidebar_text(at)
    assert "not tied to an account" in text and "Signed in" not in text
    assert not at.sidebar.button  # no sign-in button without a sign-in setup
    assert any("whoever has this page's link" in c.value for c in at.main.caption)
    assert not (private_db.parent / WORKSPACES_DIR / f"{owner_token('alice@example.com', SECRET.encode())}.duckdb").exists()


@pytest.mark.parametrize(("missing", "named"), [("cookie_secret", "cookie_secret"), ("redirect_uri", "redirect_uri"),
                                                ("client_secret", "client_secret")])  # fmt: skip
def test_incomplete_sign_in_is_named_and_not_used(private_db: Path, monkeypatch: pytest.MonkeyPatch, missing: str, named: str) -> None:
    monkeypatch.setattr(account, "authlib_installed", lambda: True)
    auth = {key: value for key, value in AUTH.items() if key != missing}
    at = run(app(private_db, monkeypatch, auth, ALICE))
    warnings = [w.value for w in at.sidebar.warning]
    assert len(warnings) == 1 and "incomplete" in warnings[0] and named.replace("_", "\\_") in warnings[0]
    assert "Signed in" not in sidebar_text(at)
    upload(at)
    assert at.session_state[state.WORKSPACE] != owner_token("alice@example.com", SECRET.encode())  # the link rules


def test_missing_authlib_or_workspace_secret_is_named(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(account, "authlib_installed", lambda: False)
    at = run(app(private_db, monkeypatch, AUTH, ALICE))
    assert any("Authlib" in w.value for w in at.sidebar.warning)
    monkeypatch.setattr(account, "authlib_installed", lambda: True)
    monkeypatch.delenv(account.SECRET_ENV)
    at.user = ALICE
    run(at)
    assert any("workspace secret" in w.value for w in at.sidebar.warning)


def test_complete_sign_in_gives_each_account_its_workspace(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(account, "authlib_installed", lambda: True)
    alice = upload(app(private_db, monkeypatch, AUTH, ALICE), "alices-shop")
    assert not any("Sign-in" in w.value or "workspace" in w.value for w in alice.sidebar.warning)
    assert "Signed in as alice@example" in sidebar_text(alice)
    assert [b.label for b in alice.sidebar.button] == ["Sign out"]
    assert (private_db.parent / WORKSPACES_DIR / f"{owner_token('alice@example.com', SECRET.encode())}.duckdb").is_file()
    assert "ws" not in alice.query_params  # the account, not a link, holds the workspace
    assert "alices-shop" in dataset_options(alice)
    assert any("workspace of your account" in c.value for c in alice.main.caption)  # the Data page says whose it is

    again = run(app(private_db, monkeypatch, AUTH, ALICE))  # Alice in another browser: same workspace
    assert "alices-shop" in dataset_options(again)
    bob = run(app(private_db, monkeypatch, AUTH, {"is_logged_in": True, "email": "bob@example.com"}))
    assert "alices-shop" not in dataset_options(bob)
    visitor = run(app(private_db, monkeypatch, AUTH, {"is_logged_in": False}))
    assert "alices-shop" not in dataset_options(visitor)
    assert [b.label for b in visitor.sidebar.button] == ["Sign in"] and "Sign in to keep" in sidebar_text(visitor)


def test_read_settings_picks_a_named_provider() -> None:
    shared = {key: AUTH[key] for key in ("redirect_uri", "cookie_secret")}
    provider = {key: AUTH[key] for key in ("client_id", "client_secret", "server_metadata_url")}
    settings = account.read_settings({"auth": {**shared, "google": provider}, account.SECRET_KEY: SECRET}, {}, True)
    assert settings.usable and settings.provider == "google"
    assert not account.read_settings({}, {account.SECRET_ENV: SECRET}, True).configured
    bad = account.read_settings({"auth": {**AUTH, "redirect_uri": "http://localhost:8501/"}}, {account.SECRET_ENV: SECRET}, True)
    assert not bad.usable and any("oauth2callback" in problem for problem in bad.problems)
