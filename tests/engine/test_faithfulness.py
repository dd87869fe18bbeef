"""Faithfulness measures on a hand-built model whose truth is known, and on a really trained model."""

import numpy as np
import pytest
import torch

from engine.config import ModelConfig
from engine.faithfulness import counterfactual, counterfactual_from, faithfulness, kendall_tau, position_importance
from engine.model import AttentionRecommender

DIM, N_ITEMS = 16, 8
KEY_ITEM, TOP_ITEM, RIVAL_ITEM, RIVAL_SOURCE = 3, 7, 8, 4


def _one_item_model() -> AttentionRecommender:
    """A sigmoid-attention model, no self-attention, no positions, no features, zero biases, in which
    item i has +a on dimension 2i-2 and -a on 2i-1 (zero mean, so LayerNorm keeps items orthogonal).
    Candidate TOP_ITEM shares its direction with KEY_ITEM only, so its score depends on KEY_ITEM alone;
    RIVAL_ITEM matches RIVAL_SOURCE more weakly and takes over when KEY_ITEM is gone."""
    config = ModelConfig(scorer="sigmoid", embed_dim=DIM, n_layers=0, n_heads=1, max_len=8, dropout=0.0, use_features=False)
    model = AttentionRecommender(config, N_ITEMS, torch.zeros(N_ITEMS + 1, 1, dtype=torch.long), 0)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.zero_()
        model.final_norm.weight.fill_(1.0)
        table = model.item_embedding.weight
        for item in range(1, 7):
            table[item, 2 * item - 2], table[item, 2 * item - 1] = 1.0, -1.0
        table[TOP_ITEM] = 3.0 * table[KEY_ITEM]
        table[RIVAL_ITEM] = 0.5 * table[RIVAL_SOURCE]
        model.scorer.query_proj.weight.copy_(torch.eye(DIM))
        model.scorer.key_proj.weight.copy_(torch.eye(DIM))
    return model.eval()


HISTORY = np.array([1, 2, KEY_ITEM, RIVAL_SOURCE, 5, 6])


def test_only_the_key_item_matters_in_the_hand_built_model():
    model = _one_item_model()
    importance = position_importance(model, HISTORY, TOP_ITEM)
    key_position = int(np.flatnonzero(HISTORY == KEY_ITEM)[0])
    assert int(np.argmax(importance["attention"])) == key_position
    others = np.delete(importance["occlusion"], key_position)
    assert np.allclose(others, 0.0, atol=1e-5)
    assert importance["occlusion"][key_position] > 1.0


def test_deletion_comprehensiveness_and_counterfactual_on_known_truth():
    model = _one_item_model()
    result = faithfulness(model, None, HISTORY, TOP_ITEM, top_k=1, n_random=4)
    assert result.rank == 1
    # the key item is removed first, and with it the whole score goes
    assert result.ordered.scores[1] == pytest.approx(0.0, abs=1e-5)
    assert result.comprehensiveness[1][0] == pytest.approx(result.score, abs=1e-5)
    assert result.sufficiency[1][0] == pytest.approx(0.0, abs=1e-5)
    assert result.rank_flip == 1
    assert result.score_gap > 0
    cf = counterfactual(model, HISTORY, TOP_ITEM, top_k=1)
    assert cf.found and cf.removed == (KEY_ITEM,)
    assert cf.replacement == RIVAL_ITEM


def test_kendall_tau_by_hand():
    assert kendall_tau(np.array([1, 2, 3]), np.array([10, 20, 30])) == pytest.approx(1.0)
    assert kendall_tau(np.array([1, 2, 3]), np.array([30, 20, 10])) == pytest.approx(-1.0)
    # pairs (1,2) concordant, (1,3) concordant, (2,3) discordant -> (2 - 1) / 3
    assert kendall_tau(np.array([1, 2, 3]), np.array([1, 3, 2])) == pytest.approx(1 / 3)


def test_trained_model_faithfulness_runs_and_is_consistent(trained_model):
    model, data = trained_model.model, trained_model.data
    history = data.sequences[data.users.to_dense("1")]
    from engine.explain import explain_history

    top = explain_history(model, data, history, k=10).recommendations[0]
    result = faithfulness(model, data, history, top.item, top_k=10)
    assert result.rank == 1
    assert result.score == pytest.approx(top.score, abs=1e-4)
    assert result.ordered.ranks[0] == result.random.ranks[0] == 1
    assert set(result.comprehensiveness) == {1, 3, 5, 10}
    assert -1.0 <= result.tau_occlusion <= 1.0 and -1.0 <= result.tau_gradient <= 1.0
    assert result.verdict.startswith("Removing the 3 most-attended items moves this item from #1")


def test_uniform_control_shows_no_gap_beyond_noise(trained_model):
    """Ordering by uniform weights is a random order: its gap to the random curve must be noise."""
    model, data = trained_model.model, trained_model.data
    gaps, spreads = [], []
    for user in ["1", "2", "3", "4", "5", "6"]:
        history = data.sequences[data.users.to_dense(user)]
        from engine.explain import rank_items

        items, _ = rank_items(model, data, history, 1)
        result = faithfulness(model, data, history, int(items[0]), view="uniform", n_random=4, seed=int(user))
        gaps.append(result.score_gap)
        spreads.append(float(np.mean(result.random_score_std)))
    assert abs(np.mean(gaps)) < 3 * np.mean(spreads) / np.sqrt(len(gaps)) + 1e-6


def _same_result(fast, slow) -> None:
    """Ranks, flips and verdicts identical; scores equal up to float32 noise (batch shapes differ)."""
    for name in ("ordered", "random", "reverse"):
        a, b = getattr(fast, name), getattr(slow, name)
        assert np.array_equal(a.removed, b.removed) and np.array_equal(a.rank_removed, b.rank_removed)
        assert np.array_equal(a.ranks, b.ranks), name
        assert np.allclose(a.scores, b.scores, atol=1e-5), name
    assert {k: v[1] for k, v in fast.comprehensiveness.items()} == {k: v[1] for k, v in slow.comprehensiveness.items()}
    assert {k: v[1] for k, v in fast.sufficiency.items()} == {k: v[1] for k, v in slow.sufficiency.items()}
    for k in slow.sufficiency:
        assert fast.comprehensiveness[k][0] == pytest.approx(slow.comprehensiveness[k][0], abs=1e-5)
        assert fast.sufficiency[k][0] == pytest.approx(slow.sufficiency[k][0], abs=1e-5)
    assert (fast.rank, fast.rank_flip, fast.random_rank_flip, fast.verdict) == (slow.rank, slow.rank_flip, slow.random_rank_flip, slow.verdict)
    assert fast.tau_occlusion == pytest.approx(slow.tau_occlusion, nan_ok=True)
    assert fast.tau_gradient == pytest.approx(slow.tau_gradient, nan_ok=True)


def test_batched_faithfulness_equals_the_straightforward_one(trained_model):
    """The batched, bounded engine path against the one-pass-per-variant implementation it replaced, on a
    trained (dot, one self-attention layer) model: top and tenth recommendations, every view, a long history."""
    import faithfulness_reference as reference

    from engine.explain import explain_history

    model, data = trained_model.model, trained_model.data
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # many small passes: on a shared 2-core machine two threads ran ~10x slower
    try:
        for user in ["1", "2", "3", "68", "414"]:
            history = data.sequences[data.users.to_dense(user)]
            recs = explain_history(model, data, history, k=10).recommendations
            tested = {}
            for rec, view in ((recs[0], "attention"), (recs[-1], "contribution"), (recs[1], "uniform")):
                tested[view] = faithfulness(model, data, history, rec.item, view=view, seed=3)
                _same_result(tested[view], reference.faithfulness(model, data, history, rec.item, view=view, seed=3))
            searched = counterfactual(model, history, recs[0].item)
            assert searched == reference.counterfactual(model, history, recs[0].item)
            # the dashboard reads it off the faithfulness test instead of searching again
            assert counterfactual_from(model, history, tested["attention"]) == searched
            assert counterfactual_from(model, history, tested["contribution"]) == counterfactual(model, history, recs[-1].item, order="contribution")
    finally:
        torch.set_num_threads(threads)


def test_batched_faithfulness_equals_the_straightforward_one_for_sigmoid_weights():
    """The unnormalised (sigmoid) bounds, on the hand-built model, with a rank that really moves."""
    import faithfulness_reference as reference

    model = _one_item_model()
    for item, top_k in ((TOP_ITEM, 1), (RIVAL_ITEM, 2)):
        _same_result(faithfulness(model, None, HISTORY, item, top_k=top_k, n_random=4),
                     reference.faithfulness(model, None, HISTORY, item, top_k=top_k, n_random=4))  # fmt: skip


def test_bounded_ranks_equal_full_catalogue_ranks(trained_model):
    """score_and_rank settles most items by bounds: its ranks must equal counting over every item's score,
    for arbitrary variants (duplicates, an empty history, deep ranks) and the exclusion of the history."""
    import faithfulness_reference as reference

    from engine.faithfulness import score_and_rank

    model, data = trained_model.model, trained_model.data
    history = data.sequences[data.users.to_dense("414")][-model.config.max_len :]
    rng = np.random.default_rng(0)
    variants = [history, history, history[:0], history[-1:]] + [np.sort(rng.choice(history, size=n, replace=False)) for n in (3, 8, 15)]
    for item in (int(history[0]) % data.n_items + 1, 1, data.n_items):
        excluded = data.sequences[data.users.to_dense("414")]
        if item in set(excluded.tolist()):
            continue
        fast_scores, fast_ranks = score_and_rank(model, variants, item, excluded)
        slow_scores, slow_ranks = reference.score_and_rank(model, variants, item, excluded)
        assert np.array_equal(fast_ranks, slow_ranks)
        assert np.allclose(fast_scores, slow_scores, atol=1e-5)


def test_seed_siblings_are_same_settings_and_data_with_another_seed():
    from engine.faithfulness_report import seed_siblings
    from engine.registry import ModelRecord

    def record(name, seed, dim=16, fingerprint="f1", stale=False, dataset="ml"):
        return ModelRecord(name, dataset, "dot", name, {"model": {"embed_dim": dim}, "train": {"seed": seed}}, fingerprint=fingerprint, stale=stale)

    main = record("main", 1)
    others = [main, record("seed2", 2), record("same-seed", 1), record("wider", 2, dim=32), record("old-data", 3, fingerprint="f0"),
              record("stale", 4, stale=True), record("other-data", 5, dataset="other")]  # fmt: skip
    assert [r.name for r in seed_siblings(main, others)] == ["seed2"]


def test_preference_sentence_names_the_measures_or_the_default():
    from engine.faithfulness_report import FaithfulnessReport, ViewSummary, preference_sentence

    def summary(view, gap):
        return ViewSummary(view, 12, gap, 0.01, {}, {}, 0.0, 0.0)

    views = {"attention": summary("attention", 0.05), "contribution": summary("contribution", 0.3), "uniform": summary("uniform", 0.0)}
    sentence = preference_sentence(FaithfulnessReport("dot", 12, views, summary("attention", 0.0), None, "contribution"))
    assert sentence.startswith("Contributions are shown first: over 12 sampled users")
    assert "(gap 0.300 ± 0.010) than for attention weights (gap 0.050 ± 0.010)." in sentence
    empty = preference_sentence(FaithfulnessReport("dot", 0, views, summary("attention", 0.0), None, "attention"))
    assert empty.startswith("Attention weights are shown first by default")


def test_counterfactual_read_off_a_faithfulness_test_needs_its_ranks():
    """On the hand-built model: the same answer as the search, and a clear error for a scores-only test."""
    model = _one_item_model()
    ranked = faithfulness(model, None, HISTORY, TOP_ITEM, top_k=1)
    assert counterfactual_from(model, HISTORY, ranked) == counterfactual(model, HISTORY, TOP_ITEM, top_k=1)
    assert counterfactual_from(model, HISTORY, ranked).found
    scores_only = faithfulness(model, None, HISTORY, TOP_ITEM, top_k=1, with_ranks=False)
    with pytest.raises(ValueError, match="with_ranks=False"):
        counterfactual_from(model, HISTORY, scores_only)
