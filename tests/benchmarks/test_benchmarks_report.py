"""The benchmark harness itself: target checks, parsing the dashboard script's table, the child-process
protocol with peak memory, and a page regenerated from stored results (in a temporary folder)."""

from __future__ import annotations

import pytest

from benchmarks import environment, figures, quality, report, results
from benchmarks.measure import run_child, summarise_ms
from benchmarks.targets import check, parse_dashboard, under_load


def test_check_says_met_or_by_how_much_it_missed():
    assert check(40.0, 50.0, higher_is_better=False, unit="ms") == "met"
    assert check(75.0, 50.0, higher_is_better=False, unit="ms") == "missed by 25 ms (50% of the target)"
    assert check(0.045, 0.058, higher_is_better=True, unit="", fmt="{:.3f}") == "missed by 0.013 (22% of the target)"
    assert check(None, 1.0, higher_is_better=True, unit="s") == "pending"


def test_timings_under_load_are_flagged_inconclusive():
    env = {"machine": {"cores": 2}, "load_start": 0.4, "load_end": 0.9}
    assert under_load("met", env) == "met"
    busy = under_load("missed by 3 ms", {**env, "load_end": 7.5})
    assert busy.startswith("missed by 3 ms; measured at load average up to 7.5 on 2 cores: inconclusive")
    assert under_load("pending", {**env, "load_end": 7.5}) == "pending"


def test_percentiles_in_milliseconds():
    summary = summarise_ms([0.001 * v for v in range(1, 101)])
    assert summary["n"] == 100 and summary["p50"] == pytest.approx(50.5) and summary["p95"] == pytest.approx(95.0)


def test_parses_the_dashboard_scripts_table():
    table = [
        "| measure | result |",
        "|---|---|",
        "| rerun after switching the user (server script time) | median 120 ms, p95 180 ms, max 200 ms (n=20) |",
        "| rerun after switching the selected item (server script time) | median 90 ms, p95 140 ms, max 150 ms (n=9) |",
        "| cold start | server healthy 2.1 s after launch; Explore with an explanation 3.0 s after the browser asked "
        "(4.2 s after launch); server RSS 0.91 GiB |",
    ]
    assert parse_dashboard(table) == {"user_switch_p95_ms": 180.0, "item_switch_p95_ms": 140.0, "cold_start_s": 4.2,
                                      "server_rss_gib": 0.91}  # fmt: skip


def test_child_stage_reports_its_result_peak_memory_and_code(tmp_path):
    outcome = run_child("synthesize", {"size": "100k", "dir": str(tmp_path)}, timeout_s=600)
    assert outcome["n_interactions"] == 100_000 and outcome["n_users"] == 4_000
    assert 20 < outcome["peak_rss_mib"] < 2048
    assert outcome["code_hash"] == results.code_hash()


@pytest.fixture
def scratch_results(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    monkeypatch.setattr(report, "DOC", tmp_path / "BENCHMARKS.md")
    monkeypatch.setattr(figures, "FIGURE_DIR", tmp_path / "figures")
    return tmp_path


def _metrics(ndcg: float) -> dict:
    return {"hr@10": 2 * ndcg, "ndcg@10": ndcg, "mrr@10": ndcg / 2, "coverage@10": 0.1, "popularity@10": 95.0}


def test_page_regenerates_from_stored_results(scratch_results):
    env = {**environment.snapshot("python -m benchmarks --only quality"), "load_end": 0.5, "load_start": 0.5}
    hashes = results.kind_hashes()
    runs = []
    for job in quality.plan(3, quick=False):
        if job["kind"] == "attention" and job["label"] != "default":
            continue
        ndcg = {"default": 0.052, "pop": 0.018, "itemknn": 0.036, "ease": 0.045, "bpr": 0.028}[job["label"]]
        ndcg += 0.001 * ((job["seed"] or 0) % 3)
        runs.append({**job, "code_hash": hashes[job["kind"]], "metrics": _metrics(ndcg), "train_seconds": 200.0,
                     "fit_seconds": 1.0, "peak_rss_mib": 900.0, "wall_seconds": 210.0, "load_start": 0.5, "load_end": 0.6})  # fmt: skip
    results.save("quality", {"runs": runs, "env": env})
    text = report.write_report().read_text()
    assert "| 2 | default model NDCG@10 (mean over seeds) | ≥ 0.050 | 0.0530 (3 seeds) | met |" in text
    assert "| 6 | default model NDCG@10 (mean over >= 3 seeds) | ≥ 0.058 | 0.0530 (3 seeds) | missed by 0.0050 (9% of the target) |" in text
    assert "vs ease: margin +0.0080" in text and "beats it by more than the spread" in text
    assert "| 6 | ingest of 25 M interactions | ≤ 60 s | — | pending (not measured yet) |" in text
    assert (scratch_results / "figures" / "quality-ndcg.html").exists()


def test_scale_targets_use_a_quick_25m_run_and_say_so():
    from benchmarks.targets import summary_rows

    env = {"machine": {"cores": 2}, "load_start": 0.8, "load_end": 0.9}
    entry = {"quick": True, "env": env, "ingest_seconds": 72.5, "ingest_peak_mib": 1200.0,
             "probe": {"peak_rss_mib": 2600.0, "explain": {"p95": 41.0}, "load_start": 0.9, "load_end": 0.9}}  # fmt: skip
    rows = {row.what: row for row in summary_rows({"scale": {"25M": entry}})}
    ingest = rows["ingest of 25 M interactions"]
    assert ingest.measured == "72.5 s (quick run)" and ingest.status.startswith("missed by 12.5 s")
    assert rows["peak memory of training at 25 M (load_data + training steps + evaluation)"].measured == "2.54 GiB (quick run)"
    explain = rows["recommend + explain at 200 k items (p95)"]
    assert explain.measured == "41.0 ms (quick run)" and explain.status == "met"
    full = summary_rows({"scale": {"25M": {**entry, "quick": False}}})
    assert all("quick" not in row.measured for row in full)
    both = {**entry, "probe": {**entry["probe"], "explain_2threads": {"p95": 47.5}, "explain": {"p95": 88.0}}}
    two = {row.what: row for row in summary_rows({"scale": {"25M": both}})}["recommend + explain at 200 k items (p95)"]
    assert two.measured == "47.5 ms with 2 threads (quick run); 88.0 ms with 1 thread (the dashboard server's)"
    assert two.status == "met"


def test_training_time_target_reads_the_two_thread_runs_when_there_are_any():
    """One-thread runs (chosen on a shared machine) are slower by design; the 2-core target is about two."""
    from benchmarks.targets import summary_rows

    quality = {"mean": 0.053, "n": 3, "beats_all": True, "beats_all_raw": True, "seconds": 430.0, "peak_mib": 700.0, "threads": [1, 2]}
    runs = [{"train": {"threads": 1}, "train_seconds": 680.0, "load_start": 3.0, "load_end": 3.2},
            {"train": {"threads": 1}, "train_seconds": 430.0, "load_start": 3.0, "load_end": 3.1},
            {"train": {"threads": 2}, "train_seconds": 162.0, "load_start": 0.3, "load_end": 1.8}]  # fmt: skip
    env = {"machine": {"cores": 2}, "load_start": 0.3, "load_end": 1.8}
    rows = {row.what: row for row in summary_rows({"quality": quality, "quality_runs": runs, "quality_env": env})}
    training = rows["training the default model (2 cores)"]
    assert training.measured == "162 s (2 threads, median of 1 run(s))" and training.status == "met"
    rows = {row.what: row for row in summary_rows({"quality": quality, "quality_runs": runs[:2], "quality_env": env})}
    assert rows["training the default model (2 cores)"].measured == "430 s (1/2 thread(s))"


def test_quality_runs_jobs_side_by_side_stores_each_and_resumes(scratch_results, monkeypatch):
    import threading
    import time

    hashes = results.kind_hashes()
    jobs = [{"kind": "attention", "label": f"variant {k}", "model": {}, "train": {"seed": 42}, "seed": 42} for k in range(5)]
    running, most = [0], [0]
    lock = threading.Lock()

    def fake_run(job, code):
        with lock:
            running[0] += 1
            most[0] = max(most[0], running[0])
        time.sleep(0.2)
        with lock:
            running[0] -= 1
        return {**job, "code_hash": code, "metrics": _metrics(0.05), "wall_seconds": 0.2}

    monkeypatch.setattr(quality, "plan", lambda n_seeds, quick, threads=None: jobs)
    monkeypatch.setattr(quality, "_run", fake_run)
    stored = quality.run_quality(3, None, False, {}, lambda line: None, jobs=2)
    assert most[0] == 2 and sorted(run["label"] for run in stored["runs"]) == [job["label"] for job in jobs]
    assert all(run["code_hash"] == hashes["attention"] for run in results.load("quality")["runs"])
    most[0] = 0
    assert len(quality.run_quality(3, None, False, {}, lambda line: None, jobs=2)["runs"]) == 5  # nothing run again
    assert most[0] == 0
