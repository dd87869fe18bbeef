"""`python -m engine ingest`: JSON report and exit 0, refusals as one line with exit 2, --replace, column flags.

Runs the real command in a subprocess against one store file (the CLI loads the bundled sample into a new
store first, so the module shares one)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from engine.store import Store

ROOT = Path(__file__).resolve().parents[2]
CORPUS = ROOT / "tests" / "data" / "bad_csv"


@pytest.fixture(scope="module")
def db(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli") / "cli.duckdb"


def run(db: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "engine", "--db", str(db), "ingest", *args]
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, timeout=300)


def test_json_report_has_the_promised_keys(db: Path, tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    path.write_text("user_id,item_id,timestamp\nu1,i1,1600000000\nu1,,1600000001\nu2,i2,later\n", encoding="utf-8")
    result = run(db, "--name", "x", "--interactions", str(path), "--json")
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert (report["interactions_read"], report["interactions_accepted"], report["interactions_rejected"]) == (3, 1, 2)
    assert report["rejected"] == [
        {"line": 3, "column": "item_id", "reason": "empty item id"},
        {"line": 4, "column": "timestamp", "reason": 'not a timestamp: "later"'},
    ]
    for key in ("duplicates", "users_with_too_few_interactions", "items_without_metadata", "has_timestamps",
                "timestamp_format", "delimiter", "encoding", "mapping", "warnings"):  # fmt: skip
        assert key in report


def test_refused_file_exits_2_with_one_line_and_no_traceback(db: Path, tmp_path: Path) -> None:
    result = run(db, "--name", "bad", "--interactions", str(CORPUS / "png_renamed.csv"), "--json")
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.strip().splitlines() == ["error: png_renamed.csv is a PNG image, not a CSV file; upload a text CSV export"]
    result = run(db, "--name", "col", "--interactions", str(CORPUS / "pipe.csv"), "--user-col", "nobody")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1
    assert 'no column "nobody"' in result.stderr and "Traceback" not in result.stderr


def test_replace_flag(db: Path, tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    first.write_text("user,item\nu1,i1\n", encoding="utf-8")
    second.write_text("user,item\nu2,i2\nu3,i3\n", encoding="utf-8")
    assert run(db, "--name", "shop", "--interactions", str(first)).returncode == 0
    again = run(db, "--name", "shop", "--interactions", str(second))
    assert again.returncode == 2 and "--replace" in again.stderr
    replaced = run(db, "--name", "shop", "--interactions", str(second), "--replace", "--json")
    assert replaced.returncode == 0, replaced.stderr
    assert json.loads(replaced.stdout)["replaced"] is True
    assert Store(db).load_interactions("shop")["user_id"].tolist() == ["u2", "u3"]


def test_column_flags_and_text_summary(db: Path) -> None:
    result = run(db, "--name", "de", "--interactions", str(CORPUS / "semicolon_decimal_comma.csv"), "--user-col", "Kunde",
                 "--item-col", "Artikel", "--time-col", "Datum", "--rating-col", "Menge")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert 'dataset "de": 3 of 3 rows of semicolon_decimal_comma.csv accepted, 0 rejected' in result.stdout
    assert "semicolon-separated" in result.stdout
    assert Store(db).load_interactions("de")["rating"].tolist() == [4.5, 1.0, 2.25]
