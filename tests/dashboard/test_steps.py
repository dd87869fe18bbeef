"""The step-by-step panel's numbers rebuild the model's score to float32 precision, for each scorer."""

from __future__ import annotations

import numpy as np
import pytest

from dashboard.steps import first_values, recompute, steps_from_trace
from engine.explain import explain_user, trace_score, user_history


@pytest.mark.parametrize("name", ["tiny-dot", "tiny-sigmoid"])
def test_steps_rebuild_the_recommended_score(models, name: str) -> None:
    loaded = models[name]
    explanation = explain_user(loaded.model, loaded.data, "1", 5)
    for rec in explanation.recommendations:
        trace = trace_score(loaded.model, loaded.data, user_history(loaded.data, "1"), rec.item)
        steps = steps_from_trace(trace, loaded.record.scorer)
        again = recompute(steps)
        assert len(steps.weights) == len(explanation.history_items)
        assert steps.score == pytest.approx(rec.score, abs=1e-5)
        assert again.score == pytest.approx(rec.score, abs=1e-5)
        assert again.max_weight_error < 1e-5
        assert steps.contributions.sum() + steps.item_bias == pytest.approx(rec.score, abs=1e-5)
        np.testing.assert_allclose(steps.weights, [h.weight for h in rec.history], atol=1e-6)
    if loaded.record.scorer == "dot":
        assert steps.weights.sum() == pytest.approx(1.0, abs=1e-6)


def test_first_values() -> None:
    assert first_values(np.array([0.5, -0.25]), 1) == "[+0.500, …]"
    assert first_values(np.array([0.5]), 3) == "[+0.500]"
