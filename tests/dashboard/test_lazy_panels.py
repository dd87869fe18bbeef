"""Explore's lazy panels (AppTest): what starts closed - the faithfulness test, the what-if editor, the
view not chosen, every history item's numbers - is not computed at all, and once opened shows the
engine's own values for the selected user and item."""

from __future__ import annotations

import json

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

from dashboard import state, whatif
from dashboard.explore import FAITHFULNESS_LABEL, VIEW_TABS, WHAT_IF_LABEL
from dashboard_fixtures import assert_faithfulness_panel_matches, trace_values
from engine.explain import explain_history, explain_user, user_history


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def forbid(monkeypatch: pytest.MonkeyPatch, *names: str) -> list[str]:
    """Replace whatif functions by ones that record their call and fail: nothing may compute them."""
    calls: list[str] = []

    def refuse(name: str):
        def call(*args, **kwargs):
            calls.append(name)
            raise AssertionError(f"{name} was computed for a closed panel")

        return call

    for name in names:
        monkeypatch.setattr(whatif, name, refuse(name))
    return calls


def charts_by_key(at: AppTest) -> dict[str, dict]:
    """Plotly figures shown, by the key the page gave them (the element id ends with it)."""
    return {chart.proto.id.rsplit("-", 1)[-1]: json.loads(chart.proto.spec) for chart in at.get("plotly_chart")}


def test_closed_panels_are_not_computed(app: AppTest, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = forbid(monkeypatch, "faithfulness", "counterfactual", "edited_explanation")
    run(app)
    assert calls == []
    assert {FAITHFULNESS_LABEL, WHAT_IF_LABEL, "Every history item's numbers"} <= {e.label for e in app.expander}
    assert "Is this attention faithful?" not in [m.label for m in app.metric]
    assert not [frame for frame in app.dataframe if {"change"} <= set(frame.value.columns) or {"logit"} <= set(frame.value.columns)]
    assert state.WHATIF_HISTORY not in app.session_state  # the editor never ran
    second = app.selectbox(key=state.USER).options[1].split(" · ")[0]
    app.selectbox(key=state.USER).set_value(second)
    run(app)
    app.selectbox(key=state.EXPLORE_ITEM).select_index(2)
    run(app)
    assert calls == []


def test_opened_faithfulness_follows_the_user_and_item(app: AppTest, models) -> None:
    app.session_state[state.EXPLORE_FAITHFULNESS_OPEN] = True
    run(app)
    loaded = models["tiny-dot"]
    second = app.selectbox(key=state.USER).options[1].split(" · ")[0]
    app.selectbox(key=state.USER).set_value(second)
    run(app)
    rec = explain_user(loaded.model, loaded.data, second, 10).recommendations[2]
    app.selectbox(key=state.EXPLORE_ITEM).set_value(rec.item_id)
    run(app)
    assert app.session_state[state.EXPLORE_FAITHFULNESS_OPEN] is True  # stays open across switches
    expected, _, _ = assert_faithfulness_panel_matches(app, loaded, user_history(loaded.data, second), rec.item)
    assert "explore.faithfulness_curves" not in charts_by_key(app)  # the curves wait for their own toggle
    app.session_state[state.EXPLORE_FAITHFULNESS_CURVES] = True
    run(app)
    traces = charts_by_key(app)["explore.faithfulness_curves"]["data"]
    ordered = next(trace for trace in traces if trace["name"] == "most-attended first" and trace["yaxis"] == "y")
    np.testing.assert_allclose(trace_values(ordered["y"]), expected.ordered.scores, rtol=1e-6)
    assert any(expected.verdict == t.value for t in app.text)


def test_only_the_open_view_tab_draws_its_chart(app: AppTest, models) -> None:
    run(app)
    first, other = [tab.label for tab in app.tabs][:2]
    view_keys = {VIEW_TABS["attention"]: "explore.history_attention", VIEW_TABS["contribution"]: "explore.history_contributions"}
    assert view_keys[first] in charts_by_key(app) and view_keys[other] not in charts_by_key(app)
    app.session_state[state.EXPLORE_VIEW_TAB] = other  # what clicking the other tab sends
    run(app)
    shown = charts_by_key(app)
    assert view_keys[other] in shown and view_keys[first] not in shown
    loaded = models["tiny-dot"]
    rec = explain_user(loaded.model, loaded.data, app.selectbox(key=state.USER).value, 10).recommendations[0]
    values = np.array([h.contribution if other == VIEW_TABS["contribution"] else h.weight for h in rec.history])
    bars = trace_values(shown[view_keys[other]]["data"][0]["x"])
    ranked = np.abs(values) if other == VIEW_TABS["contribution"] else values
    np.testing.assert_allclose(bars, values[np.argsort(-ranked, kind="stable")[: len(bars)]], rtol=1e-6)


def test_opened_what_if_re_ranks_the_real_history(app: AppTest, models) -> None:
    app.session_state[state.WHATIF_OPEN] = True
    run(app)
    loaded = models["tiny-dot"]
    user = app.selectbox(key=state.USER).value
    history = user_history(loaded.data, user)
    assert app.session_state[state.WHATIF_HISTORY] == [int(i) for i in history]
    shown = next(frame.value for frame in app.dataframe if "change" in frame.value.columns)
    assert shown["item_id"].tolist() == explain_history(loaded.model, loaded.data, np.asarray(history), 10).top_item_ids()


def test_history_key_round_trips() -> None:
    history = [5, 1, 900_000, 3]
    assert np.frombuffer(whatif.history_key(history), dtype=np.int64).tolist() == history
    assert whatif.history_key([1, 2]) != whatif.history_key([2, 1])
    assert whatif.history_key([]) == b""
