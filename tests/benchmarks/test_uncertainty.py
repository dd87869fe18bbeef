"""The bootstrap over test users: per-user gains agree with the engine's metric, intervals behave like
standard errors, pairing cancels what two models share, and the stage ranks real users with a saved model."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from benchmarks import report, results, uncertainty
from benchmarks.measure import run_child
from engine.metrics import ndcg_at_k


def test_per_user_gains_average_to_the_engines_ndcg():
    ranks = np.random.default_rng(3).integers(0, 40, size=500)
    gains = uncertainty.ndcg_gains(ranks, 10)
    assert gains.shape == (500,) and gains[ranks >= 10].max() == 0.0
    assert gains.mean() == pytest.approx(ndcg_at_k(ranks, 10))
    assert uncertainty.ndcg_gains(np.array([0, 1]), 10).tolist() == pytest.approx([1.0, 1 / np.log2(3)])


def test_interval_is_a_standard_error_of_the_mean_and_repeatable():
    values = np.random.default_rng(0).exponential(size=2_000)
    first = uncertainty.interval(values, n_resamples=4_000, seed=5)
    analytic = values.std(ddof=1) / np.sqrt(values.size)
    assert first.mean == pytest.approx(values.mean())
    assert first.se == pytest.approx(analytic, rel=0.1)
    assert first.low < first.mean < first.high
    assert first.high - first.low == pytest.approx(2 * 1.96 * analytic, rel=0.15)
    assert uncertainty.interval(values, n_resamples=4_000, seed=5) == first


def test_pairing_cancels_what_both_models_share():
    rng = np.random.default_rng(1)
    difficulty = rng.normal(size=600)  # large per-user effect common to both models
    better = difficulty + 0.05 + rng.normal(scale=0.01, size=600)
    margin, not_ahead = uncertainty.paired_margin(better, difficulty, n_resamples=2_000)
    unpaired = np.hypot(uncertainty.interval(better).se, uncertainty.interval(difficulty).se)
    assert margin.mean == pytest.approx(0.05, abs=0.002)
    assert margin.se < unpaired / 20
    assert 0 < margin.low < margin.high and not_ahead == 0.0
    same, same_not_ahead = uncertainty.paired_margin(difficulty, difficulty, n_resamples=200)
    assert (same.mean, same.se, same.low, same.high, same_not_ahead) == (0.0, 0.0, 0.0, 0.0, 1.0)
    with pytest.raises(ValueError, match="same users"):
        uncertainty.paired_margin(better, difficulty[:-1])
    with pytest.raises(ValueError, match="at least two users"):
        uncertainty.interval(np.array([1.0]))


def test_summary_averages_each_user_over_seeds_before_resampling():
    seed_a, seed_b = np.array([0, 20, 1, 50]), np.array([3, 0, 30, 50])
    baseline = np.array([5, 5, 5, 5])
    summary = uncertainty.summarise([seed_a, seed_b], {"pop": baseline})
    expected = (uncertainty.ndcg_gains(seed_a, 10) + uncertainty.ndcg_gains(seed_b, 10)) / 2
    assert summary["default"]["mean"] == pytest.approx(expected.mean())
    assert summary["n_users"] == 4 and summary["n_seeds"] == 2
    assert summary["baselines"]["pop"]["margin"]["mean"] == pytest.approx(expected.mean() - uncertainty.ndcg_gains(baseline, 10).mean())


def _stored(mean: float, ease_margin: tuple[float, float, float], hashes: dict) -> dict:
    low, mid, high = ease_margin
    return {"k": 10, "n_users": 610, "n_seeds": 3, "n_resamples": 10_000, "level": 0.95, "code_hashes": hashes,
            "default": {"mean": mean, "se": 0.006, "low": mean - 0.012, "high": mean + 0.012},
            "baselines": {"ease": {"margin": {"mean": mid, "se": 0.008, "low": low, "high": high}, "share_not_ahead": 0.13}},
            "env": None}  # fmt: skip


def test_report_places_the_target_and_flags_old_code():
    current = results.kind_hashes()
    text = report.uncertainty_section(_stored(0.0536, (-0.0068, 0.0086, 0.0239), current))
    assert "**0.0536, standard error 0.0060, 95% interval 0.0416–0.0656**" in text
    assert "0.058 is +0.7 standard errors from the mean, inside the interval" in text
    assert "| ease | +0.0086 | 0.0080 | -0.0068 to +0.0239 | 13.0% |" in text
    assert "older engine code" not in text
    assert "lead over ease is larger than the seed spread (the table above) but not than this split's" in text
    far = report.uncertainty_section(_stored(0.030, (0.01, 0.02, 0.03), current))
    assert "outside the interval" in far and "sampling error" not in far
    stale = report.uncertainty_section(_stored(0.0536, (0.0, 0.01, 0.02), {**current, "attention": "0" * 12}))
    assert "older engine code" in stale
    assert "*Pending: not measured yet.*" in report.uncertainty_section({})


def test_nothing_is_stored_without_a_checkpoint_of_the_current_code(tmp_path, monkeypatch):
    monkeypatch.setattr(results, "CACHE_DIR", tmp_path / "cache")
    monkeypatch.setattr(results, "RESULTS_DIR", tmp_path / "results")
    messages = []
    assert uncertainty.run_uncertainty(3, {}, messages.append) is None
    assert "run --only quality first" in messages[0] and not (tmp_path / "results").exists()


def test_stage_ranks_every_test_user_with_a_saved_model_and_a_baseline(tmp_path):
    from benchmarks.child import movielens_data
    from engine.baselines import fit_baseline
    from engine.checkpoint import save_checkpoint
    from engine.config import EvalConfig, ModelConfig
    from engine.evaluate import evaluate
    from engine.train import build_model

    data = movielens_data()
    torch.manual_seed(0)
    save_checkpoint(build_model(data, ModelConfig()).eval(), data, tmp_path / "model")
    outcome = run_child("ranks", {"checkpoints": [str(tmp_path / "model")], "baselines": ["pop"]}, timeout_s=600)
    (model_ranks,), pop_ranks = outcome["default"], np.asarray(outcome["baselines"]["pop"])
    assert len(model_ranks) == len(pop_ranks) == data.n_users  # movielens-small: every user has a test target
    pop = evaluate(fit_baseline("pop", data), data, EvalConfig(ks=(10,), split="test"))
    assert np.sort(pop_ranks).tolist() == np.sort(pop.ranks).tolist()
    assert uncertainty.ndcg_gains(pop_ranks, 10).mean() == pytest.approx(pop.metrics["ndcg@10"])
    assert np.asarray(model_ranks).max() < data.n_items and outcome["code_hashes"] == results.kind_hashes()


def test_summary_row_of_the_target_carries_the_test_split_interval():
    from benchmarks.targets import summary_rows

    quality = {"mean": 0.0536, "std": 0.0025, "n": 3, "beats_all": True, "beats_all_raw": True, "threads": [1],
               "seconds": 400.0, "peak_mib": 700.0}  # fmt: skip
    stored = _stored(0.0536, (-0.0068, 0.0086, 0.0239), results.kind_hashes())
    row = next(r for r in summary_rows({"quality": quality, "uncertainty": stored}) if r.target == "≥ 0.058")
    assert row.measured == "0.0536 (3 seeds); 95% interval over the test users 0.0416–0.0656"
    assert row.status == "missed by 0.0044 (8% of the target)"
    beaten = next(r for r in summary_rows({"quality": quality, "uncertainty": stored}) if r.target == "margin > spread")
    assert beaten.measured == "yes (seed spread); margin over ease: its 95% interval over test users includes 0"
    assert beaten.status == "met"
    bare = summary_rows({"quality": quality})
    assert next(r for r in bare if r.target == "≥ 0.058").measured == "0.0536 (3 seeds)"
    assert next(r for r in bare if r.target == "margin > spread").measured == "yes"


def test_report_links_a_margins_figure_that_names_its_machine(tmp_path, monkeypatch):
    from benchmarks import environment, figures

    monkeypatch.setattr(figures, "FIGURE_DIR", tmp_path)
    env = {**environment.snapshot("python -m benchmarks --only uncertainty"), "load_end": 0.4}
    text = report.uncertainty_section({**_stored(0.0536, (-0.0068, 0.0086, 0.0239), results.kind_hashes()), "env": env})
    assert "Figure: [margins with their intervals](benchmarks/quality-split-margins.html)" in text
    html = (tmp_path / "quality-split-margins.html").read_text()
    assert "default \\u2212 ease" in html and "python -m benchmarks --only uncertainty" in html
