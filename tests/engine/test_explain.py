"""Explanations are read off the model's forward pass and agree with the ranking."""

import numpy as np
import pytest
import torch

from engine.explain import explain_history, explain_user, rank_items, trace_score


def test_top_k_excludes_history_and_is_sorted(trained_model):
    model, data = trained_model.model, trained_model.data
    explanation = explain_user(model, data, "1", k=10)
    seen = set(data.sequences[data.users.to_dense("1")].tolist())
    items = [rec.item for rec in explanation.recommendations]
    assert len(items) == 10 and not seen & set(items)
    scores = [rec.score for rec in explanation.recommendations]
    assert scores == sorted(scores, reverse=True)


def test_explanation_scores_equal_full_catalogue_scores(trained_model):
    model, data = trained_model.model, trained_model.data
    explanation = explain_user(model, data, "5", k=5)
    items, scores = rank_items(model, data, data.sequences[data.users.to_dense("5")], 5)
    assert [rec.item for rec in explanation.recommendations] == items.tolist()
    assert np.allclose([rec.score for rec in explanation.recommendations], scores, atol=1e-4)


def test_contributions_add_up_to_the_score(trained_model):
    explanation = explain_user(trained_model.model, trained_model.data, "7", k=5)
    for rec in explanation.recommendations:
        total = sum(h.contribution for h in rec.history) + rec.item_bias
        assert total == pytest.approx(rec.score, abs=1e-4)
        assert sum(h.weight for h in rec.history) == pytest.approx(1.0, abs=1e-4)


def test_history_window_is_the_most_recent_items(trained_model):
    model, data = trained_model.model, trained_model.data
    explanation = explain_user(model, data, "1", k=3)
    full = data.sequences[data.users.to_dense("1")]
    assert explanation.history_items.tolist() == full[-model.config.max_len :].tolist()
    assert explanation.weights.shape == (3, len(explanation.history_items))
    assert explanation.self_attention[0].shape[1:] == (len(full[-model.config.max_len :]),) * 2


def test_feature_weights_name_real_attributes(trained_model):
    model, data = trained_model.model, trained_model.data
    explanation = explain_user(model, data, "1", k=5)
    for rec in explanation.recommendations:
        if rec.features:
            assert sum(f.weight for f in rec.features) == pytest.approx(1.0, abs=1e-4)
            assert all(f.field in data.features.field_names for f in rec.features)


def test_trace_reproduces_the_explained_score(trained_model):
    model, data = trained_model.model, trained_model.data
    history = data.sequences[data.users.to_dense("3")]
    explanation = explain_history(model, data, history, k=3)
    for rec in explanation.recommendations:
        trace = trace_score(model, data, history, rec.item)
        assert trace.score == pytest.approx(rec.score, abs=1e-4)
        assert torch.allclose(trace.weights[trace.history_mask], torch.tensor([h.weight for h in rec.history]), atol=1e-5)


def test_edited_history_changes_the_ranking(trained_model):
    model, data = trained_model.model, trained_model.data
    history = data.sequences[data.users.to_dense("1")]
    original = explain_history(model, data, history, k=10).top_item_ids()
    edited = explain_history(model, data, history[:5], k=10).top_item_ids()
    assert original != edited


def test_unknown_user_is_a_clear_error(trained_model):
    with pytest.raises(KeyError, match="unknown user"):
        explain_user(trained_model.model, trained_model.data, "nobody")
