"""Whether sign-in really works on this server, so a workspace is tied to an account only when it is.

Streamlit's st.login (1.67) needs, in `.streamlit/secrets.toml`, an `[auth]` section with `redirect_uri`
(ending in `/oauth2callback`) and `cookie_secret`, plus `client_id`, `client_secret` and
`server_metadata_url` either directly in `[auth]` (the default provider) or in an `[auth.<name>]`
section; and the Authlib package (>= 1.3.2). Without an `[auth]` section st.user has no `is_logged_in`
at all. Recscope additionally needs a workspace secret to derive a user's workspace from their
identity (dashboard/workspace.py). Only when all of that is present is a signed-in identity used;
otherwise workspaces are reached by their link, the page says so, and an incomplete setup is named.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Callable

import streamlit as st

from dashboard import components
from engine.workspace import MIN_SECRET_BYTES

SECRET_ENV = "RECSCOPE_WORKSPACE_SECRET"  # server secret for signed-in users' workspaces (or st.secrets)
SECRET_KEY = "workspace_secret"
PROVIDER_KEYS = ("client_id", "client_secret", "server_metadata_url")
AUTHLIB_MIN = (1, 3, 2)


@dataclass(frozen=True)
class AuthSettings:
    """What the server's sign-in setup allows. `configured`: an [auth] section exists at all."""

    configured: bool
    problems: tuple[str, ...] = ()  # why sign-in cannot be used; empty when it can
    provider: str | None = None  # the provider st.login should use (None: the default one)

    @property
    def usable(self) -> bool:
        return self.configured and not self.problems


@functools.cache
def authlib_installed() -> bool:
    try:
        version = importlib.metadata.version("authlib")
    except importlib.metadata.PackageNotFoundError:
        return False
    parts = tuple(int(part) for part in version.split(".")[:3] if part.isdigit())
    return parts >= AUTHLIB_MIN


def read_settings(secrets: Mapping[str, Any], env: Mapping[str, str], has_authlib: bool) -> AuthSettings:
    """The sign-in setup described by `secrets` (st.secrets as a mapping) and `env`; pure, so testable."""
    auth = secrets.get("auth")
    if not isinstance(auth, Mapping):
        return AuthSettings(configured=False)
    problems = []
    redirect = auth.get("redirect_uri")
    if not isinstance(redirect, str) or not redirect:
        problems.append("[auth] has no redirect_uri")
    elif not redirect.endswith("/oauth2callback"):
        problems.append("[auth] redirect_uri must end with /oauth2callback")
    cookie = auth.get("cookie_secret")
    if not isinstance(cookie, str) or not cookie:
        problems.append("[auth] has no cookie_secret")
    provider: str | None = None
    if not all(auth.get(key) for key in PROVIDER_KEYS):
        named = [name for name, section in auth.items()
                 if isinstance(section, Mapping) and all(section.get(key) for key in PROVIDER_KEYS)]  # fmt: skip
        if named:
            provider = named[0]
        else:
            problems.append("no provider has client_id, client_secret and server_metadata_url")
    if not has_authlib:
        problems.append("the Authlib package (>= 1.3.2) is not installed")
    secret = env.get(SECRET_ENV) or secrets.get(SECRET_KEY)
    if not isinstance(secret, str) or len(secret.encode("utf-8")) < MIN_SECRET_BYTES:
        problems.append(f"no workspace secret of at least {MIN_SECRET_BYTES} bytes ({SECRET_ENV} or {SECRET_KEY} in secrets)")
    return AuthSettings(configured=True, problems=tuple(problems), provider=provider)


def _secrets() -> Mapping[str, Any]:
    try:
        return {key: st.secrets[key] for key in st.secrets}
    except Exception:  # no secrets.toml at all (Streamlit raises when it is missing or unreadable)
        return {}


def settings() -> AuthSettings:
    """This server's sign-in setup, read from st.secrets and the environment on every run."""
    return read_settings(_secrets(), os.environ, authlib_installed())


def workspace_secret() -> bytes | None:
    """The secret that derives signed-in users' workspace tokens, or None."""
    value = os.environ.get(SECRET_ENV) or _secrets().get(SECRET_KEY)
    return value.encode("utf-8") if isinstance(value, str) and value else None


def signed_in_identity(current: AuthSettings | None = None) -> str | None:
    """The signed-in user's email (or subject) when sign-in is fully set up and they are signed in;
    None otherwise, whatever st.user holds (so no workspace pretends to belong to someone)."""
    current = current or settings()
    if not current.usable:
        return None
    try:
        user = st.user
        if not user.get("is_logged_in"):
            return None
        identity = user.get("email") or user.get("sub")
    except Exception:  # st.user unavailable outside a session
        return None
    return identity if isinstance(identity, str) and identity else None


def sidebar(has_workspace: bool) -> None:
    """Who owns this session's workspace, in words that match the setup; sign-in / sign-out buttons."""
    current = settings()
    if current.configured and not current.usable:
        st.warning(components.md_escape("Sign-in is set up but incomplete, so it is off: " + "; ".join(current.problems)
                                        + ". Workspaces are reached by their link only."))  # fmt: skip
        return
    if not current.configured:
        if has_workspace:
            st.caption("Your workspace is not tied to an account (this server has no sign-in): anyone with this "
                       "page's link, including its `ws` part, can open it.")  # fmt: skip
        return
    identity = signed_in_identity(current)
    if identity is None:
        st.caption("Sign in to keep your uploads in a workspace of your own account.")
        st.button("Sign in", key="account.login", on_click=_login(current.provider))
        return
    st.caption(components.md_escape(f"Signed in as {identity}: your uploads go to your account's workspace."))
    st.button("Sign out", key="account.logout", on_click=st.logout)


def _login(provider: str | None) -> Callable[[], None]:
    return (lambda: st.login(provider)) if provider else st.login
