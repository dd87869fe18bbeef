"""Private upload workspaces: one DuckDB store per unguessable token, so sessions never see each other's data.

The shared sample lives in the main store; uploaded datasets and their models live only in the
workspace store named by the session's token (kept in the URL, or derived from the signed-in user).
A token is checked against a strict pattern before it becomes part of a file name, so it can never
point outside `<root>/workspaces/`.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from pathlib import Path

from engine.store import Store

TOKEN_BYTES = 24  # 192 random bits -> 32 URL-safe characters
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32}")
WORKSPACES_DIR = "workspaces"
MIN_SECRET_BYTES = 16


class WorkspaceError(ValueError):
    """A token or secret that must not be used; the message is meant for the user."""


def new_workspace_token() -> str:
    """A fresh random token for a new private workspace."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def is_valid_token(token: object) -> bool:
    """True only for exactly 32 characters of A-Z, a-z, 0-9, '_' and '-' (what new_workspace_token makes)."""
    return isinstance(token, str) and _TOKEN.fullmatch(token) is not None


def owner_token(user_identity: str, secret: bytes) -> str:
    """The workspace token of a signed-in user: HMAC-SHA256 of their identity under the server secret.

    Why HMAC: the same user always gets the same workspace, and without the secret nobody can compute
    another user's token from their (possibly public) identity."""
    if not isinstance(secret, bytes) or len(secret) < MIN_SECRET_BYTES:
        raise WorkspaceError(f"the workspace secret must be at least {MIN_SECRET_BYTES} bytes")
    if not isinstance(user_identity, str) or not user_identity:
        raise WorkspaceError("a signed-in user needs a non-empty identity")
    digest = hmac.new(secret, user_identity.encode("utf-8"), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:TOKEN_BYTES]).decode("ascii")


def workspace_path(root: Path, token: str) -> Path:
    """`root / "workspaces" / "<token>.duckdb"`; WorkspaceError for anything that is not a valid token."""
    if not is_valid_token(token):
        raise WorkspaceError("this workspace link is not valid; start a new workspace")
    folder = Path(root) / WORKSPACES_DIR
    path = folder / f"{token}.duckdb"
    if path.parent != folder:  # cannot happen for a valid token; kept as a second lock on the door
        raise WorkspaceError("this workspace link is not valid; start a new workspace")
    return path


def workspace_store(root: Path, token: str) -> Store:
    """The private store of `token` (created on first write)."""
    return Store(workspace_path(root, token))
