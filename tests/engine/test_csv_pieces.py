"""Reading a large CSV in pieces (engine.csv_pieces): where the cuts fall, which files stay whole, and that
a file read in pieces loads exactly as when it is read whole: rows, order, rejected lines, counts."""

from __future__ import annotations

import codecs
import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import csv_pieces
from engine.csv_pieces import split_csv
from engine.csv_read import sniff_csv
from engine.ingest import WORKDIR_PREFIX, ingest_files, remove_orphaned_workdirs
from engine.store import Store
from small_pieces import pieces_of  # beside this file (pytest puts tests/engine on the path)

HEADER = "user_id,item_id,timestamp,rating"


def interaction_file(path: Path, n: int, newline: str = "\n", prefix: bytes = b"") -> Path:
    """n rows with ties in time, exact repeats, and rows each kind of check rejects."""
    rows = [f"u{k % 97},i{k % 31},{1_600_000_000 + k // 3},{k % 5}" for k in range(n)]
    rows[5] = "u1,,1600000000,4"  # empty item: rejected by the ingest's own checks
    rows[n // 2] = "u2,i2,1600000000,4,surplus"  # too many fields: rejected by DuckDB's reader
    rows[n // 2 + 1] = "u3,i3,soon,1"  # not a timestamp
    rows[-2] = rows[-1]  # an exact repeat
    path.write_bytes(prefix + (HEADER + newline + newline.join(rows) + newline).encode())
    return path


def test_pieces_rebuild_the_file_and_are_cut_at_line_breaks(tmp_path: Path) -> None:
    # a byte-order mark and two blank lines before a CRLF header: the first piece keeps them, the others
    # start with a copy of the header line
    source = interaction_file(tmp_path / "rows.csv", 5_000, "\r\n", codecs.BOM_UTF8 + b"\r\n\r\n")
    fmt = sniff_csv(source)
    (tmp_path / "capped").mkdir()
    with pieces_of(8_000, max_pieces=4):
        assert len(split_csv(fmt, tmp_path / "capped")) == 4
    with pieces_of(8_000):
        pieces = split_csv(fmt, tmp_path)
    data = source.read_bytes()
    header = (HEADER + "\r\n").encode()
    assert len(data) > 100_000 and len(pieces) == -(-len(data) // 8_000)  # one per 8,000 bytes
    assert pieces[0].path != source and (pieces[0].start, pieces[0].prefix, pieces[0].skip) == (0, 0, 2)
    rebuilt = pieces[0].path.read_bytes()
    for piece in pieces[1:]:
        body = piece.path.read_bytes()
        assert body[: piece.prefix] == header and piece.skip == 0
        assert data[piece.start - 1 : piece.start] == b"\n" and piece.start == len(rebuilt)
        rebuilt += body[piece.prefix :]
    assert rebuilt == data


def test_files_that_cannot_be_cut_safely_stay_whole(tmp_path: Path) -> None:
    quoted = tmp_path / "quoted.csv"
    quoted.write_text(HEADER + "\n" + "".join(f'u{k},"i,{k}",{k},1\n' for k in range(2_000)), encoding="utf-8")
    lone_cr = tmp_path / "cr.csv"
    lone_cr.write_text(HEADER + "\r" + "".join(f"u{k},i{k},{k},1\r" for k in range(2_000)), encoding="utf-8", newline="")
    small = interaction_file(tmp_path / "small.csv", 2_000)
    with pieces_of(1_000):
        assert [piece.path for piece in split_csv(sniff_csv(quoted), tmp_path)] == [quoted]
        assert [piece.path for piece in split_csv(sniff_csv(lone_cr), tmp_path)] == [lone_cr]
    assert [piece.path for piece in split_csv(sniff_csv(small), tmp_path)] == [small]  # the real sizes: far too small
    assert not list(tmp_path.glob("piece-*"))


@pytest.mark.parametrize("newline", ["\n", "\r\n"])
def test_a_file_read_in_pieces_loads_like_the_whole_file(tmp_path: Path, newline: str) -> None:
    source = interaction_file(tmp_path / "rows.csv", 30_000, newline)
    whole_store, piece_store = Store(tmp_path / "whole.duckdb"), Store(tmp_path / "pieces.duckdb")
    whole = ingest_files(whole_store, "rows", source)
    with pieces_of(16_000):
        assert len(split_csv(sniff_csv(source), tmp_path)) > 30
        cut = ingest_files(piece_store, "rows", source)
    assert (cut.interactions_read, cut.interactions_accepted, cut.duplicates) == (30_000, 29_997, 1)
    assert [(r.line, r.column, r.reason) for r in cut.rejected] == [
        (7, "item_id", "empty item id"), (15_002, None, "too many fields: expected 4, found 5"),
        (15_003, "timestamp", 'not a timestamp: "soon"')]  # fmt: skip
    same = ("interactions_read", "interactions_accepted", "interactions_rejected", "rejected", "duplicates", "n_users",
            "n_items", "users_with_too_few_interactions", "items_without_metadata", "warnings")  # fmt: skip
    assert {key: getattr(cut, key) for key in same} == {key: getattr(whole, key) for key in same}
    loaded, expected = piece_store.load_interactions("rows"), whole_store.load_interactions("rows")
    columns = ["user_id", "item_id", "ts", "rating"]
    assert loaded[columns].equals(expected[columns])  # the same rows in the same (file) order
    assert loaded["row_order"].is_monotonic_increasing and loaded["row_order"].is_unique
    # the positions depend on the file's bytes only: loading it again gives the same fingerprint
    with pieces_of(16_000):
        again = ingest_files(piece_store, "rows", source, replace=True)
    assert again.fingerprint == cut.fingerprint


def test_an_orphaned_work_folder_is_removed_and_a_live_one_kept(tmp_path: Path) -> None:
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True, check=True)
    orphan = tmp_path / f"{WORKDIR_PREFIX}{dead.stdout.strip()}-abc"
    live = tmp_path / f"{WORKDIR_PREFIX}{os.getpid()}-def"
    other = tmp_path / "unrelated-123-x"
    for folder in (orphan, live, other):
        (folder / "pieces").mkdir(parents=True)
        (folder / "pieces" / "piece-0000.csv").write_text("a,b\n")
    assert remove_orphaned_workdirs(tmp_path) == [orphan]
    assert not orphan.exists() and live.exists() and other.exists()


def test_pieces_that_cannot_be_written_fall_back_to_the_whole_file(tmp_path: Path, monkeypatch) -> None:
    source = interaction_file(tmp_path / "rows.csv", 3_000)

    def no_room(*args, **kwargs):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(csv_pieces, "_copy_range", no_room)
    with pieces_of(4_000):
        report = ingest_files(Store(tmp_path / "store.duckdb"), "rows", source)
    assert (report.interactions_accepted, [r.line for r in report.rejected]) == (2_997, [7, 1_502, 1_503])
