"""Private workspaces: one store per token, tokens that cannot name another path, per-user tokens by HMAC."""

from __future__ import annotations

from pathlib import Path

import pytest

from engine.ingest import ingest_files
from engine.workspace import WorkspaceError, is_valid_token, new_workspace_token, owner_token, workspace_path
from engine.workspace import workspace_store

SECRET = b"0123456789abcdef-server-secret"


def test_two_tokens_give_two_stores_that_do_not_see_each_other(tmp_path: Path) -> None:
    first, second = new_workspace_token(), new_workspace_token()
    assert first != second and is_valid_token(first) and is_valid_token(second)
    store_a, store_b = workspace_store(tmp_path, first), workspace_store(tmp_path, second)
    assert store_a.path == tmp_path / "workspaces" / f"{first}.duckdb"
    assert store_a.path != store_b.path
    csv = tmp_path / "mine.csv"
    csv.write_text("user,item\nu1,i1\n", encoding="utf-8")
    ingest_files(store_a, "my upload", csv)
    assert store_a.list_datasets()["name"].tolist() == ["my upload"]
    assert store_b.list_datasets().empty
    assert not store_b.dataset_exists("my upload")


@pytest.mark.parametrize("token", ["../x", "", "a" * 31, "a" * 33, "../" + "a" * 29, "a" * 31 + "/", "a" * 31 + ".",
                                   "%2e%2e%2fxxxxxxxxxxxxxxxxxxxxxxxxx", "a" * 31 + "\x00", None, 12345])  # fmt: skip
def test_malformed_tokens_are_refused(token, tmp_path: Path) -> None:
    assert not is_valid_token(token)
    with pytest.raises(WorkspaceError):
        workspace_store(tmp_path, token)


def test_valid_tokens_stay_inside_the_workspaces_folder(tmp_path: Path) -> None:
    for _ in range(50):
        path = workspace_path(tmp_path, new_workspace_token())
        assert path.parent == tmp_path / "workspaces" and path.resolve().is_relative_to(tmp_path.resolve())


def test_owner_token_is_stable_per_user_and_secret() -> None:
    alice = owner_token("alice@example.org", SECRET)
    assert alice == owner_token("alice@example.org", SECRET) and is_valid_token(alice)
    assert alice != owner_token("bob@example.org", SECRET)
    assert alice != owner_token("alice@example.org", SECRET + b"-rotated")
    with pytest.raises(WorkspaceError):
        owner_token("alice@example.org", b"short")
    with pytest.raises(WorkspaceError):
        owner_token("", SECRET)
