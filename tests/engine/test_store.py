"""The DuckDB store on real files under tmp_path: round trips, atomic writes, hostile text, the model registry."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from dataclasses import replace
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from engine import dataset_rows
from engine.frames import INTERACTION_COLUMNS, DatasetFrames, empty_frame
from engine.movielens import SAMPLE_NAME, read_movielens
from engine.store import DEFAULT_DB_PATH, ModelRecord, Store, StoreError, resolve_db_path

REPO_ROOT = Path(__file__).resolve().parents[2]
HOSTILE = [
    "'; DROP TABLE interactions; --",
    'Robert"); DROP TABLE "datasets"; --',
    "<script>alert('x')</script><b>bold</b>",
    "Ünïcødé ✓ 日本語 🎬",
    "tab\there, new\nline; back\\slash",
    "  padded  ",
    "=HYPERLINK(\"http://x\")",
    "? $1 %s :name",
]


def small_frames(name: str = "shop", users: tuple[str, ...] = ("u1", "u2"), tag: str = "a") -> DatasetFrames:
    """A three-interaction dataset; `tag` changes the item ids so two versions are told apart."""
    interactions = pd.DataFrame(
        {
            "user_id": list(users) + [users[0]],
            "item_id": [f"{tag}1", f"{tag}2", f"{tag}2"],
            "ts": pd.array([10, None, 30], dtype="Int64"),
            "rating": pd.array([None, 2.5, 5.0], dtype="Float64"),
            "row_order": np.arange(3, dtype=np.int64),
        }
    )
    items = pd.DataFrame({"item_id": [f"{tag}1", f"{tag}2"], "title": ["One", "Two"]})
    attributes = pd.DataFrame({"item_id": [f"{tag}1"], "field": ["genre"], "value": ["Drama"]})
    user_attributes = pd.DataFrame({"user_id": [users[0]], "field": ["country"], "value": ["NL"]})
    return DatasetFrames(name, f"test {tag}", interactions, items, attributes, user_attributes, has_timestamps=True)


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.duckdb")


@pytest.fixture(scope="module")
def movielens() -> DatasetFrames:
    return read_movielens()


def snapshot(store: Store, name: str) -> tuple:
    """Everything stored for one dataset, to compare before and after a refused or failed write."""
    return (
        store.dataset_info(name),
        store.load_interactions(name),
        store.load_items(name),
        store.load_item_attributes(name),
        store.load_user_attributes(name),
    )


def assert_same_snapshot(left: tuple, right: tuple) -> None:
    assert left[0] == right[0]
    for a, b in zip(left[1:], right[1:]):
        pd.testing.assert_frame_equal(a, b)


def test_movielens_round_trip(store: Store, movielens: DatasetFrames) -> None:
    started = time.perf_counter()
    info = store.write_dataset(movielens)
    elapsed_s = time.perf_counter() - started
    assert elapsed_s < 2.0, f"writing 100k interactions took {elapsed_s:.2f} s"
    assert (info.n_users, info.n_items, info.n_interactions) == (610, 9724, 100836)
    assert info.has_timestamps and info.source == movielens.source
    loaded = store.load_interactions(SAMPLE_NAME)
    assert list(loaded.dtypes.astype(str)) == ["str", "str", "Int64", "Float64", "int64"]
    pd.testing.assert_frame_equal(loaded, movielens.interactions)
    assert loaded.iloc[0].tolist() == ["1", "1", 964982703, 4.0, 0]
    items = store.load_items(SAMPLE_NAME)
    assert len(items) == 9742
    expected_items = movielens.items.sort_values("item_id").reset_index(drop=True)
    pd.testing.assert_frame_equal(items, expected_items)
    attributes = store.load_item_attributes(SAMPLE_NAME)
    key = ["item_id", "field", "value"]
    pd.testing.assert_frame_equal(attributes, movielens.item_attributes.sort_values(key).reset_index(drop=True))
    assert store.load_user_attributes(SAMPLE_NAME).empty
    listed = store.list_datasets()
    assert listed["name"].tolist() == [SAMPLE_NAME] and listed.loc[0, "n_interactions"] == 100836


def test_read_only_store_lists_and_loads_but_refuses_writes(store: Store) -> None:
    store.write_dataset(small_frames())
    reader = Store(store.path, read_only=True)
    assert reader.list_datasets()["name"].tolist() == ["shop"]
    assert reader.load_interactions("shop")["item_id"].tolist() == ["a1", "a2", "a2"]
    with pytest.raises(StoreError, match="read-only"):
        reader.write_dataset(small_frames("other"))
    with pytest.raises(StoreError, match="no Recscope store"):
        Store(store.path.with_name("absent.duckdb"), read_only=True).list_datasets()


def test_nulls_survive_as_pandas_na(store: Store) -> None:
    store.write_dataset(small_frames())
    loaded = store.load_interactions("shop")
    assert loaded["ts"].isna().tolist() == [False, True, False]
    assert loaded["rating"].isna().tolist() == [True, False, False]
    assert loaded["rating"].iloc[2] == 5.0


def test_existing_name_is_refused_without_replace_and_left_untouched(store: Store) -> None:
    store.write_dataset(small_frames(tag="a"))
    before = snapshot(store, "shop")
    with pytest.raises(StoreError, match='dataset "shop" already exists, pass replace=True'):
        store.write_dataset(small_frames(tag="b"))
    assert_same_snapshot(before, snapshot(store, "shop"))


def test_replace_swaps_rows_and_marks_only_that_datasets_models_stale(store: Store) -> None:
    first = store.write_dataset(small_frames(tag="a"))
    store.write_dataset(small_frames("other"))
    store.register_model(ModelRecord("m-shop", "shop", "dot", "m-shop/weights.safetensors", fingerprint="f"))
    store.register_model(ModelRecord("m-other", "other", "dot", "m-other/weights.safetensors", fingerprint="f"))
    second = store.write_dataset(small_frames(tag="b", users=("x", "y")), replace=True)
    assert second.fingerprint != first.fingerprint and second.source == "test b"
    assert store.load_interactions("shop")["item_id"].tolist() == ["b1", "b2", "b2"]
    assert store.load_items("shop")["item_id"].tolist() == ["b1", "b2"]
    assert store.load_user_attributes("shop")["user_id"].tolist() == ["x"]
    assert store.get_model("m-shop").stale is True
    assert store.get_model("m-other").stale is False
    assert store.load_interactions("other")["item_id"].tolist() == ["a1", "a2", "a2"]


def test_fingerprint_follows_row_content_and_order(store: Store) -> None:
    base = small_frames().interactions
    swapped = base.assign(row_order=base["row_order"].to_numpy()[::-1].copy())
    prints = []
    for name, interactions in [("a", base), ("b", base.copy()), ("c", swapped)]:
        frames = small_frames(name)
        prints.append(store.write_dataset(replace(frames, interactions=interactions)).fingerprint)
    assert prints[0] == prints[1] != prints[2]


def test_failure_midway_rolls_back_to_the_previous_content(store: Store, monkeypatch: pytest.MonkeyPatch) -> None:
    store.write_dataset(small_frames(tag="a"))
    store.register_model(ModelRecord("m", "shop", "dot", "m/w.safetensors"))
    before = snapshot(store, "shop")

    def explode(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk on fire")  # after the old rows were deleted and the new ones inserted

    monkeypatch.setattr(dataset_rows, "insert_dataset_row", explode)
    with pytest.raises(RuntimeError, match="disk on fire"):
        store.write_dataset(small_frames(tag="b"), replace=True)
    monkeypatch.undo()
    assert_same_snapshot(before, snapshot(store, "shop"))
    assert store.get_model("m").stale is False


def test_bad_rows_are_refused_atomically(store: Store) -> None:
    store.write_dataset(small_frames(tag="a"))
    before = snapshot(store, "shop")
    bad = small_frames(tag="b")
    bad.interactions.loc[1, "user_id"] = None
    with pytest.raises(StoreError, match='dataset "shop" was not written.*NOT NULL'):
        store.write_dataset(bad, replace=True)
    assert_same_snapshot(before, snapshot(store, "shop"))
    unparsable = bad.interactions.assign(user_id="u", ts=["yesterday", "1", "2"])
    with pytest.raises(StoreError, match='dataset "shop" was not written.*yesterday'):
        store.write_dataset(replace(bad, interactions=unparsable), replace=True)
    with pytest.raises(StoreError, match="lacks column"):
        store.write_dataset(replace(bad, items=pd.DataFrame({"item_id": ["x"]})), replace=True)
    empty = empty_frame(INTERACTION_COLUMNS)
    with pytest.raises(StoreError, match="has no interactions"):
        store.write_dataset(replace(bad, interactions=empty), replace=True)
    assert_same_snapshot(before, snapshot(store, "shop"))


def test_hostile_strings_round_trip_verbatim(store: Store) -> None:
    n = len(HOSTILE)
    interactions = pd.DataFrame(
        {"user_id": HOSTILE, "item_id": HOSTILE[::-1], "ts": pd.array([None] * n, dtype="Int64"),
         "rating": pd.array([None] * n, dtype="Float64"), "row_order": np.arange(n, dtype=np.int64)}
    )  # fmt: skip
    items = pd.DataFrame({"item_id": HOSTILE, "title": HOSTILE[::-1]})
    attributes = pd.DataFrame({"item_id": HOSTILE, "field": HOSTILE, "value": HOSTILE[::-1]})
    users = pd.DataFrame({"user_id": HOSTILE, "field": HOSTILE[::-1], "value": HOSTILE})
    name = HOSTILE[0]
    store.write_dataset(DatasetFrames(name, HOSTILE[2], interactions, items, attributes, users, has_timestamps=False))
    loaded = store.load_interactions(name)
    assert loaded["user_id"].tolist() == HOSTILE and loaded["item_id"].tolist() == HOSTILE[::-1]
    assert dict(zip(*store.load_items(name).to_dict("list").values())) == dict(zip(HOSTILE, HOSTILE[::-1]))
    stored = store.load_item_attributes(name)
    assert set(stored.itertuples(index=False, name=None)) == set(zip(HOSTILE, HOSTILE, HOSTILE[::-1]))
    stored = store.load_user_attributes(name)
    assert set(stored.itertuples(index=False, name=None)) == set(zip(HOSTILE, HOSTILE[::-1], HOSTILE))
    info = store.dataset_info(name)
    assert (info.name, info.source, info.has_timestamps) == (name, HOSTILE[2], False)
    assert store.list_datasets()["name"].tolist() == [name]
    with duckdb.connect(str(store.path), read_only=True) as con:  # the tables are all still there
        tables = {row[0] for row in con.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert {"interactions", "datasets", "items", "models"} <= tables


def test_model_registry_round_trip(store: Store) -> None:
    store.write_dataset(small_frames())
    record = ModelRecord(
        name=HOSTILE[1], dataset="shop", scorer="additive", path="run-1/model.safetensors",
        config={"scorer": "additive", "layers": 2, "nested": {"heads": [1, 2]}},
        metrics={"ndcg@10": np.float32(0.25), "users": np.int64(3)}, fingerprint="abc",
    )  # fmt: skip
    stored = store.register_model(record)
    assert stored.created_at is not None and stored.stale is False
    assert stored.metrics == {"ndcg@10": 0.25, "users": 3} and stored.config == record.config
    assert store.get_model(record.name) == stored
    assert store.model_name_exists(record.name) and not store.model_name_exists("nope")
    assert store.model_path(stored) == store.path.parent / "store_models" / "run-1" / "model.safetensors"
    assert store.model_dir == store.path.parent / "store_models"
    with pytest.raises(StoreError, match="already exists"):
        store.register_model(record)
    assert store.register_model(record, replace=True).scorer == "additive"
    store.write_dataset(small_frames("other"))
    store.register_model(ModelRecord("second", "other", "dot", "second.safetensors"))
    assert [m.name for m in store.list_models()] == [record.name, "second"]
    assert [m.name for m in store.list_models("other")] == ["second"]
    assert store.delete_model("second").name == "second"
    assert [m.name for m in store.list_models()] == [record.name]
    with pytest.raises(StoreError, match='unknown model "second"'):
        store.get_model("second")
    with pytest.raises(StoreError, match='unknown dataset "ghost"'):
        store.register_model(ModelRecord("x", "ghost", "dot", "x.safetensors"))


@pytest.mark.parametrize("path", ["/etc/passwd", "../outside.safetensors", "a/../../b", "", "a\\b"])
def test_model_paths_must_stay_inside_the_model_dir(store: Store, path: str) -> None:
    store.write_dataset(small_frames())
    with pytest.raises(StoreError, match="must be relative"):
        store.register_model(ModelRecord("m", "shop", "dot", path))
    assert store.list_models() == []


def test_delete_dataset_removes_rows_and_marks_models_stale(store: Store) -> None:
    store.write_dataset(small_frames())
    store.register_model(ModelRecord("m", "shop", "dot", "m.safetensors"))
    store.delete_dataset("shop")
    assert not store.dataset_exists("shop")
    assert store.get_model("m").stale
    with pytest.raises(StoreError, match='unknown dataset "shop"'):
        store.load_interactions("shop")
    store.write_dataset(small_frames())  # the name is free again
    assert store.dataset_exists("shop")


def test_unknown_dataset_is_a_clear_error(store: Store) -> None:
    with pytest.raises(StoreError, match='^unknown dataset "x"$'):
        store.dataset_info("x")
    assert not store.dataset_exists("x")


def test_a_file_that_is_not_a_duckdb_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "notes.duckdb"
    path.write_bytes(b"these are my notes, not a database\n" * 200)
    for read_only in (False, True):
        with pytest.raises(StoreError, match="is not a Recscope store \\(not a DuckDB file, or corrupt\\)"):
            Store(path, read_only=read_only).list_datasets()
    assert path.read_bytes().startswith(b"these are my notes")


def test_a_foreign_duckdb_database_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "other.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE TABLE invoices (id INTEGER)")
    with pytest.raises(StoreError, match="is a DuckDB file but not a Recscope store"):
        Store(path).list_datasets()


def test_resolve_db_path_prefers_flag_then_env_then_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RECSCOPE_DB", raising=False)
    assert resolve_db_path(None) == DEFAULT_DB_PATH == Path("data/recscope.duckdb")
    monkeypatch.setenv("RECSCOPE_DB", "env.duckdb")
    assert resolve_db_path(None) == Path("env.duckdb")
    assert resolve_db_path("flag.duckdb") == Path("flag.duckdb")


def run_helper(tmp_path: Path, body: str, *args: str) -> subprocess.Popen:
    """Start a Python child that imports the engine from this checkout."""
    script = tmp_path / "helper.py"
    script.write_text(textwrap.dedent(body))
    env = {**os.environ, "PYTHONPATH": str(REPO_ROOT)}
    return subprocess.Popen([sys.executable, str(script), *args], stdout=subprocess.PIPE, text=True, env=env)


KILLED_WRITER = """
    import sys, time
    import numpy as np, pandas as pd
    from engine import dataset_rows
    from engine.frames import DatasetFrames
    from engine.store import Store
    n = 600_000
    rows = np.arange(n, dtype=np.int64)
    interactions = pd.DataFrame({"user_id": (rows % 5000).astype(str), "item_id": (rows % 777).astype(str),
        "ts": pd.array(rows, dtype="Int64"), "rating": pd.array(np.ones(n), dtype="Float64"), "row_order": rows})
    items = pd.DataFrame({"item_id": ["x"], "title": ["big"]})
    empty = pd.DataFrame({"item_id": [], "field": [], "value": []}, dtype="string")
    users = pd.DataFrame({"user_id": [], "field": [], "value": []}, dtype="string")
    def stall(*args, **kwargs):
        print("midway", flush=True)  # old rows deleted, 600k new rows inserted, nothing committed
        time.sleep(600)
    dataset_rows.insert_dataset_row = stall
    frames = DatasetFrames("shop", "big", interactions, items, empty, users, True)
    Store(sys.argv[1]).write_dataset(frames, replace=True)
"""


def test_a_writer_killed_mid_transaction_leaves_the_previous_content(store: Store, tmp_path: Path) -> None:
    store.write_dataset(small_frames(tag="a"))
    store.register_model(ModelRecord("m", "shop", "dot", "m.safetensors"))
    before = snapshot(store, "shop")
    child = run_helper(tmp_path, KILLED_WRITER, str(store.path))
    try:
        assert child.stdout is not None
        assert child.stdout.readline().strip() == "midway"
        os.kill(child.pid, signal.SIGKILL)
    finally:
        child.kill()
        child.wait(timeout=30)
    assert child.returncode == -signal.SIGKILL
    reopened = Store(store.path)
    assert_same_snapshot(before, snapshot(reopened, "shop"))
    assert reopened.get_model("m").stale is False
    assert reopened.write_dataset(small_frames(tag="c"), replace=True).n_interactions == 3  # still writable


HOLDER = """
    import sys, time, duckdb
    con = duckdb.connect(sys.argv[1])
    print("holding", flush=True)
    time.sleep(float(sys.argv[2]))
    con.close()
"""


def test_a_store_held_by_another_process_is_waited_for_then_reported_busy(store: Store, tmp_path: Path) -> None:
    store.write_dataset(small_frames())
    child = run_helper(tmp_path, HOLDER, str(store.path), "1.5")
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "holding"
        with pytest.raises(StoreError, match="is busy"):
            Store(store.path, lock_timeout_s=0.2).list_datasets()
        assert Store(store.path, lock_timeout_s=20).dataset_exists("shop")  # waits for the holder to let go
    finally:
        child.kill()
        child.wait(timeout=30)


def test_a_reader_waits_for_a_writer_in_the_same_process(store: Store) -> None:
    """DuckDB refuses a read-only connection while a read-write one is open in this process; Store waits."""
    store.write_dataset(small_frames())
    with store.connect():
        with pytest.raises(StoreError, match="is busy"):
            Store(store.path, read_only=True, lock_timeout_s=0.1).list_datasets()
    assert Store(store.path, read_only=True, lock_timeout_s=0.1).dataset_exists("shop")


def test_a_file_handle_conflict_between_threads_is_retried(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two threads of one server opening the same file at the same moment: DuckDB refuses one with 'Unique
    file handle conflict' (seen with raw connects from 6 threads; through the store it is rare, so the refusal
    is injected here). The store must wait and retry like for a lock held by another process, not fail a page."""
    import engine.store as store_module

    store = Store(tmp_path / "shared.duckdb")
    store.list_datasets()  # the file and schema exist
    real_connect, refusals = duckdb.connect, []

    def conflicting_connect(*args, **kwargs):
        if len(refusals) < 2:
            refusals.append(1)
            raise duckdb.Error('Resource In Use Error: Unique file handle conflict: Cannot attach "shared" - '
                               'the database file is already attached by database "shared"')  # fmt: skip
        return real_connect(*args, **kwargs)

    monkeypatch.setattr(store_module.duckdb, "connect", conflicting_connect)
    assert Store(store.path).list_datasets().empty
    assert len(refusals) == 2


def _staged_tables(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    con.execute("CREATE TEMP TABLE staged_items (item_id VARCHAR, title VARCHAR)")
    con.execute("CREATE TEMP TABLE staged_item_attributes (item_id VARCHAR, field VARCHAR, value VARCHAR)")
    con.execute("CREATE TEMP TABLE staged_user_attributes (user_id VARCHAR, field VARCHAR, value VARCHAR)")
    return {"items": "staged_items", "item_attributes": "staged_item_attributes", "user_attributes": "staged_user_attributes"}


def _insert_rows(con: duckdb.DuckDBPyConnection, name: str, rows: list[tuple]) -> None:
    con.executemany("INSERT INTO interactions VALUES (?, ?, ?, ?, ?, ?)", [(name, *row) for row in rows])


def test_a_dataset_write_with_rows_inserted_by_the_caller(store: Store) -> None:
    """dataset_write_on: the caller inserts the interactions itself; counts it gives go into the datasets row;
    the fingerprint equals a frames write of the same rows."""
    from engine.store import DatasetCounts, dataset_write_on

    frames = small_frames()
    expected = store.write_dataset(replace(frames, name="reference"))
    rows = list(frames.interactions.astype(object).where(frames.interactions.notna(), None).itertuples(index=False))
    with store.connect() as con:
        relations = _staged_tables(con)
        with dataset_write_on(con, "shop", replace=False) as write:
            _insert_rows(con, "shop", rows)
            write.finish("caller rows", True, relations, DatasetCounts(n_users=2, n_items=2))
    info = store.dataset_info("shop")
    assert (info.n_users, info.n_items, info.n_interactions, info.source) == (2, 2, 3, "caller rows")
    assert info.fingerprint == expected.fingerprint


def test_a_dataset_write_that_fails_or_is_not_finished_changes_nothing(store: Store) -> None:
    from engine.store import dataset_write_on

    store.write_dataset(small_frames(tag="a"))
    store.register_model(ModelRecord("m", "shop", "dot", "m.safetensors"))
    before = snapshot(store, "shop")
    with store.connect() as con:
        relations = _staged_tables(con)
        with pytest.raises(RuntimeError, match="midway"):
            with dataset_write_on(con, "shop", replace=True):
                _insert_rows(con, "shop", [("u9", "i9", 1, None, 0)])
                raise RuntimeError("midway")
        with pytest.raises(StoreError, match="not finished"):
            with dataset_write_on(con, "shop", replace=True):
                _insert_rows(con, "shop", [("u9", "i9", 1, None, 0)])
        with pytest.raises(StoreError, match="already exists"):
            with dataset_write_on(con, "shop", replace=False):
                pass
        with pytest.raises(StoreError, match="no interactions"):
            with dataset_write_on(con, "shop", replace=True) as write:
                write.finish("empty", True, relations)
    assert_same_snapshot(snapshot(store, "shop"), before)
    assert not store.get_model("m").stale
