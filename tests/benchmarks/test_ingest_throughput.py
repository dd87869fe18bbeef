"""The ingest benchmark's own pieces: the files it writes, its raw DuckDB baseline and its medians."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from benchmarks import ingest_throughput as bench


def test_wide_files_have_string_ids_and_the_row_size_the_1gb_count_assumes(tmp_path: Path) -> None:
    path = tmp_path / "wide.csv"
    bench.write_csv(path, 20_000, wide=True)
    with open(path, newline="") as handle:
        rows = list(csv.reader(handle))
    assert rows[0] == ["user_id", "item_id", "timestamp", "rating"] and len(rows) == 20_001
    assert rows[1][0].startswith("user-") and rows[1][1].startswith("item-")
    per_row = (path.stat().st_size - len("user_id,item_id,timestamp,rating\n")) / 20_000
    assert per_row == pytest.approx(bench.WIDE_ROW_BYTES, rel=0.03)
    assert bench.rows_for_bytes(1e9) * per_row == pytest.approx(1e9, rel=0.03)


def test_the_raw_duckdb_baseline_reads_every_row(tmp_path: Path) -> None:
    path = tmp_path / "narrow.csv"
    bench.write_csv(path, 5_000)
    result = bench.measure_duckdb(path, tmp_path / "raw.duckdb")
    assert result["rows"] == 5_000 and result["cpu_s"] > 0 and result["peak_rss_mib"] > 0


def test_summary_takes_medians_and_the_highest_peak() -> None:
    runs = [{"rows": 100, "seconds": s, "cpu_s": 2 * s, "peak_rss_mib": m, "load_start": 1.0, "load_end": e}
            for s, m, e in ((1.0, 50, 2.0), (3.0, 70, 1.5), (2.0, 60, 4.0))]  # fmt: skip
    summary = bench.summarise(runs)
    assert summary["seconds"] == 2.0 and summary["rows_per_s"] == 50.0 and summary["rows_per_cpu_s"] == 25.0
    assert summary["peak_rss_mib"] == 70 and (summary["load_min"], summary["load_max"]) == (1.0, 4.0)
