"""ingest_files end to end on real store files: the bundled sample, replace and stale models, atomicity,
limits, the report, the preview, and the line scanner on hand-checked input."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path

import duckdb
import numpy as np
import pytest

from engine import dataset_rows
from engine.csv_lines import locate_lines
from engine.ingest import ColumnMapping, IngestRefused, detect_columns, ingest_files, ingest_files_on
from engine.movielens import SAMPLE_DIR
from engine.registry import ModelRecord
from engine.sample import ensure_sample
from engine.store import Store, StoreError

REPORT_KEYS = {"interactions_read", "interactions_accepted", "interactions_rejected", "rejected", "duplicates",
               "users_with_too_few_interactions", "items_without_metadata", "has_timestamps", "timestamp_format",
               "delimiter", "encoding", "mapping", "warnings"}  # fmt: skip


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8", newline="")
    return path


@pytest.fixture
def store(tmp_path: Path) -> Store:
    return Store(tmp_path / "store.duckdb")


def test_movielens_files_load_like_the_bundled_sample(tmp_path: Path) -> None:
    store = Store(tmp_path / "ml.duckdb")
    sample = ensure_sample(store)
    report = ingest_files(store, "ml-upload", SAMPLE_DIR / "ratings.csv", SAMPLE_DIR / "movies.csv")
    assert (report.interactions_read, report.interactions_accepted, report.interactions_rejected) == (100836, 100836, 0)
    assert (report.n_users, report.n_items, report.items.accepted) == (610, 9724, 9742)
    assert report.timestamp_format == "unix_seconds" and report.items_without_metadata == 0
    assert report.mapping == ColumnMapping("userId", "movieId", "timestamp", "rating")
    assert report.fingerprint == sample.fingerprint  # the same rows, in the same order, as the bundled loader's
    genres = store.load_item_attributes("ml-upload").query("item_id == '1' and field == 'genres'")["value"]
    assert sorted(genres) == ["Adventure", "Animation", "Children", "Comedy", "Fantasy"]


def test_existing_name_needs_replace_and_replacing_marks_models_stale(store: Store, tmp_path: Path) -> None:
    first = write(tmp_path / "a.csv", "user,item\nu1,i1\nu1,i2\n")
    second = write(tmp_path / "b.csv", "user,item\nu2,i3\n")
    ingest_files(store, "shop", first)
    store.register_model(ModelRecord("m", "shop", "dot", "m.safetensors"))
    with pytest.raises(IngestRefused, match="--replace"):
        ingest_files(store, "shop", second)
    assert store.load_interactions("shop")["item_id"].tolist() == ["i1", "i2"]
    assert not store.get_model("m").stale
    report = ingest_files(store, "shop", second, replace=True)
    assert report.replaced and report.to_dict()["replaced"] is True
    assert store.load_interactions("shop")["item_id"].tolist() == ["i3"]
    assert store.get_model("m").stale


def test_failure_inside_the_write_leaves_the_store_as_it_was(store: Store, tmp_path: Path, monkeypatch) -> None:
    ingest_files(store, "shop", write(tmp_path / "a.csv", "user,item\nu1,i1\n"))
    before = store.list_datasets()

    def broken(*args, **kwargs):
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(dataset_rows, "insert_dataset_row", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        ingest_files(store, "shop", write(tmp_path / "b.csv", "user,item\nu9,i9\n"), replace=True)
    with pytest.raises(RuntimeError):
        ingest_files(store, "new", write(tmp_path / "c.csv", "user,item\nu9,i9\n"))
    monkeypatch.undo()
    assert store.list_datasets().equals(before)
    assert store.load_interactions("shop")["user_id"].tolist() == ["u1"]
    assert not store.dataset_exists("new")


def test_report_is_json_with_the_promised_keys_and_a_formula_safe_download(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "f.csv", "user,item,rating\nu1,i1,4\n=cmd,i2,high\nu2,,1\n")
    report = ingest_files(store, "f", path)
    payload = json.loads(json.dumps(report.to_dict()))
    assert REPORT_KEYS <= set(payload)
    assert payload["rejected"] == [
        {"line": 3, "column": "rating", "reason": 'not a number: "high"'},
        {"line": 4, "column": "item", "reason": "empty item id"},
    ]
    assert payload["mapping"] == {"user": "user", "item": "item", "time": None, "rating": "rating"}
    assert "1 of 3 rows of f.csv accepted, 2 rejected" in report.summary()
    rows = list(csv.reader(io.StringIO(report.rejected_csv())))
    assert rows[0] == ["file", "line", "column", "reason"]
    assert rows[1] == ["f.csv", "3", "rating", 'not a number: "high"']
    formula = write(tmp_path / "g.csv", "user,item,=score\nu1,i1,4\nu2,i2,=1+1\n")
    report = ingest_files(store, "g", formula, mapping=ColumnMapping(rating="=score"), labels={"interactions": "@x.csv"})
    rows = list(csv.reader(io.StringIO(report.rejected_csv())))
    assert rows[1] == ["'@x.csv", "3", "'=score", 'not a number: "=1+1"']


def test_detect_columns_previews_without_loading(tmp_path: Path) -> None:
    path = write(tmp_path / "p.csv", "Customer ID;SKU;Purchased At;Qty;Channel\nc1;s1;2021-01-01;2;web\n")
    preview = detect_columns(path)
    assert (preview.delimiter, preview.encoding) == (";", "utf-8")
    assert preview.header == ("Customer ID", "SKU", "Purchased At", "Qty", "Channel")
    assert preview.rows == (("c1", "s1", "2021-01-01", "2", "web"),)
    assert preview.mapping == ColumnMapping("Customer ID", "SKU", "Purchased At", "Qty")
    unknown = detect_columns(write(tmp_path / "q.csv", "a,b\n1,2\n"))
    assert unknown.mapping == ColumnMapping()
    with pytest.raises(IngestRefused, match="is empty"):
        detect_columns(write(tmp_path / "e.csv", ""))


def test_a_row_longer_than_the_limit_is_rejected_on_its_line(store: Store, tmp_path: Path) -> None:
    long_value = "x" * (3 << 20)
    path = write(tmp_path / "long.csv", f'user,item\nu1,i1\nu2,"{long_value}"\nu3,i3\n')
    report = ingest_files(store, "long", path)
    assert report.interactions_accepted == 2
    assert [(r.line, r.column) for r in report.rejected] == [(3, None)]
    assert "longer than 2 MiB" in report.rejected[0].reason
    fits = "y" * 200_000
    report = ingest_files(store, "fits", write(tmp_path / "fits.csv", f"user,item\nu1,{fits}\n"))
    assert store.load_interactions("fits")["item_id"].tolist() == [fits]


def test_size_and_row_limits(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "rows.csv", "user,item\n" + "".join(f"u{k},i{k}\n" for k in range(10)))
    with pytest.raises(IngestRefused, match="more than 0.0 MiB limit|MiB, more than"):
        ingest_files(store, "big", path, max_bytes=50)
    with pytest.raises(IngestRefused, match="more than 9 rows"):
        ingest_files(store, "big", path, max_rows=9)
    assert ingest_files(store, "ok", path, max_rows=10, max_bytes=10_000).interactions_accepted == 10
    assert store.list_datasets()["name"].tolist() == ["ok"]


def test_names_are_data_not_paths_or_sql(tmp_path: Path) -> None:
    folder = tmp_path / "deep" / "er"
    folder.mkdir(parents=True)
    store = Store(folder / "store.duckdb")
    path = write(folder / "a.csv", "user,item\nu1,i1\n")
    hostile = ["../../x", "x'); DROP TABLE datasets; --", 'a"b', "/tmp/abs"]
    for name in hostile:
        ingest_files(store, name, path)
    assert sorted(store.list_datasets()["name"]) == sorted(hostile)
    created = {p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*")}
    assert all(name in ("deep", "deep/er") or name.startswith(("deep/er/store.duckdb", "deep/er/a.csv")) for name in created), created
    for bad in ("", "   ", "tab\there", "x" * 201):
        with pytest.raises(IngestRefused, match="dataset name"):
            ingest_files(store, bad, path)


def test_read_only_store_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "user,item\nu1,i1\n")
    ingest_files(Store(tmp_path / "s.duckdb"), "a", path)
    with pytest.raises(StoreError, match="read-only"):
        ingest_files(Store(tmp_path / "s.duckdb", read_only=True), "b", path)


def test_nul_in_an_id_after_the_sniffed_prefix_rejects_that_row(store: Store, tmp_path: Path) -> None:
    filler = "".join(f"user{k},item{k}\n" for k in range(70_000))  # > 1 MiB, so the NUL is not sniffed
    path = tmp_path / "nul.csv"
    path.write_bytes(("user,item\n" + filler).encode() + b"bad\x00id,i\nok,i\n")
    report = ingest_files(store, "nul", path)
    assert report.interactions_accepted == 70_001
    assert [(r.line, r.column, r.reason) for r in report.rejected] == [(70_002, "user", "the user id contains a NUL character")]


def test_mixed_line_endings_are_read_with_a_warning(store: Store, tmp_path: Path) -> None:
    path = tmp_path / "mixed.csv"
    path.write_bytes(b"user,item,rating\nu1,i1,1\r\nu2,i2,x\nu3,i3,3\ru4,i4,4\n")
    report = ingest_files(store, "mixed", path)
    assert report.interactions_accepted == 3
    assert [(r.line, r.column) for r in report.rejected] == [(3, "rating")]
    assert any("line endings" in warning for warning in report.warnings)


def test_ingest_on_a_connection_leaves_no_temp_objects_and_restores_settings(store: Store, tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", "user,item,time\nu1,i1,2020-01-01T10:00:00+02:00\n")
    with store.connect() as con:
        con.execute("SET TimeZone = 'America/New_York'")
        limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
        report = ingest_files_on(con, "a", path)
        assert con.execute("SELECT count(*) FROM duckdb_tables() WHERE temporary").fetchone()[0] == 0
        assert con.execute("SELECT count(*) FROM duckdb_views() WHERE temporary AND NOT internal").fetchone()[0] == 0
        settings = con.execute("SELECT current_setting('TimeZone'), current_setting('memory_limit')").fetchone()
        assert settings == ("America/New_York", limit)
    assert report.timestamp_format == "iso8601"
    assert store.load_interactions("a")["ts"].tolist() == [1577865600]  # 08:00 UTC, whatever the session zone


def test_line_scanner_on_hand_checked_input(tmp_path: Path) -> None:
    # line: 1 header | 2 row 0 | 3-4 row 1 (quoted CRLF) | 5 blank | 6 row 2 (literal mid-field quote)
    #       7 row 3 (doubled quotes, delimiter inside) | 8 lone-CR row 4 | 9 row 5
    data = b'u,i\r\na,b\r\n"c\r\nd",e\r\n\r\nf"g,h\r\n"i"",j",k\rl,m\nn,o'
    path = tmp_path / "lines.csv"
    path.write_bytes(data)
    scan = locate_lines(path, 0, ",", np.array([], dtype=np.int64), np.arange(6))
    assert scan.row_lines == {0: 2, 1: 3, 2: 6, 3: 7, 4: 8, 5: 9}
    # DuckDB reports a rejected row somewhere between the blank lines before it and one byte past its start
    start = data.index(b"f")
    for reported in (start - 3, start - 1, start, start + 1):
        scan = locate_lines(path, 0, ",", np.array([reported]), np.arange(5))
        assert scan.offset_lines == {reported: 6}
        assert scan.row_lines == {0: 2, 1: 3, 2: 7, 3: 8, 4: 9}  # the rejected row is not counted as kept


def test_duckdb_rejects_are_placed_on_their_lines(tmp_path: Path) -> None:
    """The assumption behind csv_lines, checked against DuckDB itself on many layouts."""
    rng = np.random.default_rng(5)
    for trial in range(60):
        newline = [b"\n", b"\r\n", b"\r"][trial % 3]
        parts, expected, line = [b"u,t" + newline], [], 2
        for _ in range(int(rng.integers(1, 8))):
            blanks = int(rng.choice([0, 0, 1, 3]))
            parts.append(newline * blanks)
            line += blanks
            kind = int(rng.integers(0, 3))
            record = [b"bad" + newline, b'"a' + newline + b'b",c' + newline, b"x,y" + newline][kind]
            if kind == 0:
                expected.append(line)
            parts.append(record)
            line += 2 if kind == 1 else 1
        path = tmp_path / f"r{trial}.csv"
        path.write_bytes(b"".join(parts))
        con = duckdb.connect()
        con.execute("SELECT * FROM read_csv(?, delim=',', quote='\"', escape='\"', header=true, auto_detect=false, "
                    "columns={'c0': 'VARCHAR', 'c1': 'VARCHAR'}, store_rejects=true)", [str(path)]).fetchall()  # fmt: skip
        offsets = [row[0] for row in con.execute("SELECT DISTINCT line_byte_position FROM reject_errors ORDER BY 1").fetchall()]
        scan = locate_lines(path, 0, ",", np.array(offsets, dtype=np.int64), np.array([], dtype=np.int64))
        assert [scan.offset_lines[offset] for offset in offsets] == expected, path.read_bytes()


def test_concurrent_ingests_in_one_process_all_land_and_settings_come_back(store: Store, tmp_path: Path) -> None:
    from concurrent.futures import ThreadPoolExecutor

    paths = [write(tmp_path / f"t{k}.csv", "user,item\n" + "".join(f"u{k}-{j},i{j}\n" for j in range(2000))) for k in range(4)]
    with store.connect() as con:
        default_limit = con.execute("SELECT current_setting('memory_limit')").fetchone()[0]
    with ThreadPoolExecutor(max_workers=4) as pool:
        reports = list(pool.map(lambda k: ingest_files(store, f"t{k}", paths[k]), range(4)))
    assert [r.interactions_accepted for r in reports] == [2000] * 4
    assert sorted(store.list_datasets()["name"]) == ["t0", "t1", "t2", "t3"]
    with store.connect() as con:
        settings = con.execute("SELECT current_setting('memory_limit'), current_setting('disabled_compression_methods')").fetchone()
    assert settings[0] == default_limit and not settings[1]


def test_the_rejected_list_is_capped_in_file_order(store: Store, tmp_path: Path, monkeypatch) -> None:
    from engine import csv_table

    monkeypatch.setattr(csv_table, "REJECTED_KEPT", 3)
    rows = ["u1,i1", "short", "u2,", "short", "u3,i3", "short", ",i4", "short", "u5,i5"]
    path = write(tmp_path / "many.csv", "user,item\n" + "\n".join(rows) + "\n")
    report = ingest_files(store, "many", path)
    assert report.interactions_rejected == 6 and report.rejected_truncated
    assert [r.line for r in report.rejected] == [3, 4, 5]  # the first three of lines 3, 4, 5, 7, 8, 9


def test_items_without_a_title_column_still_count_as_described(store: Store, tmp_path: Path) -> None:
    interactions = write(tmp_path / "i.csv", "user,sku\nu1,a\nu1,b\nu1,c\n")
    items = write(tmp_path / "items.csv", "sku,colour,tags\na,red,x|y\nb,blue,\n")
    report = ingest_files(store, "shop", interactions, items)
    assert (report.items.title_column, report.items.attribute_columns) == (None, ("colour", "tags"))
    assert report.items_without_metadata == 1  # only "c"
    frame = store.load_item_attributes("shop")
    assert sorted(zip(frame["item_id"], frame["field"], frame["value"])) == [
        ("a", "colour", "red"), ("a", "tags", "x"), ("a", "tags", "y"), ("b", "colour", "blue")]


def test_a_large_file_keeps_file_order_exact_lines_and_duplicates(store: Store, tmp_path: Path) -> None:
    """About 46 MB, so DuckDB reads it in parallel: row_order must still be each row's position in the file
    (it breaks timestamp ties and is part of the fingerprint), rejected rows near the end get their exact
    lines, and duplicates are counted exactly. (Before, an IN list planned as a join shuffled the staged
    rows of files this size, so row_order and rejected lines came out wrong and the fingerprint of one
    file changed from run to run.)"""
    n = 1_100_000
    rows = [f"user-{k % 50_000:08d},item-{k % 7_777:07d},{1_600_000_000 + k},4.5\n" for k in range(n)]
    rows[1_000_000] = "user-00000001,,1601000000,4.5\n"  # line 1,000,002: empty item id
    rows[1_050_000] = "user-00000001,item-0000001,later,4.5\n"  # line 1,050,002
    rows[1_099_997] = rows[1_099_998] = rows[1_099_999]  # two exact repeats of the last row
    rows[1_099_990] = rows[1_099_991].replace(",4.5\n", ",5\n")  # same user, item and time, another rating: no repeat
    path = tmp_path / "big.csv"
    path.write_text("user_id,item_id,timestamp,rating\n" + "".join(rows), encoding="utf-8")
    report = ingest_files(store, "big", path)
    assert (report.interactions_accepted, report.interactions_rejected, report.duplicates) == (n - 2, 2, 2)
    assert [(r.line, r.column, r.reason) for r in report.rejected] == [
        (1_000_002, "item_id", "empty item id"), (1_050_002, "timestamp", 'not a timestamp: "later"')]  # fmt: skip
    with store.connect() as con:
        (misplaced,) = con.execute(
            "SELECT count(*) FROM interactions WHERE dataset = 'big' AND row_order NOT IN (1099997, 1099998, 1099990) "
            "AND ts - 1600000000 <> row_order"
        ).fetchone()
        (count,) = con.execute("SELECT count(*) FROM interactions WHERE dataset <> 'big'").fetchone()
    assert misplaced == 0 and count == 0  # file order kept; the rejected rows left nothing behind
    again = ingest_files(store, "big", path, replace=True)
    assert again.fingerprint == report.fingerprint


@pytest.mark.parametrize("numpy_rows", [0, 10**9], ids=["duckdb-sort", "numpy-sort"])
def test_duplicates_are_exact_whichever_sort_finds_repeated_hashes(store: Store, tmp_path: Path, monkeypatch, numpy_rows) -> None:
    from engine import ingest

    monkeypatch.setattr(ingest, "NUMPY_HASH_ROWS", numpy_rows)
    rows = ["u1,i1,10,4", "u1,i1,10,4", "u1,i1,10,5", "u1,i1,10,", "u1,i1,10,", "u1,i1,10,", "u2,i1,10,4", "u1,i1,11,4"]
    report = ingest_files(store, "dups", write(tmp_path / "d.csv", "user,item,time,rating\n" + "\n".join(rows) + "\n"))
    assert report.duplicates == 3  # one repeat of (u1,i1,10,4), two of (u1,i1,10,no rating)
    single = ingest_files(store, "single", write(tmp_path / "s.csv", "user,item\nu1,i1\n"))
    assert single.duplicates == 0
