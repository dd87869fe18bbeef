"""Explore's faithfulness indicator and what-if editor show the engine's own results (AppTest)."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from dashboard import state, whatif
from engine.explain import explain_history, explain_user, user_history
from engine.faithfulness import counterfactual, faithfulness


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest, column: str):
    """The one dataframe with `column` (read-only tables carry no key in AppTest)."""
    matches = [frame.value for frame in at.dataframe if column in frame.value.columns]
    assert len(matches) == 1
    return matches[0]


def test_explore_shows_the_engines_faithfulness_verdict(app: AppTest, models) -> None:
    run(app)
    loaded = models["tiny-dot"]
    user = app.selectbox(key=state.USER).value
    first = explain_user(loaded.model, loaded.data, user, 10).recommendations[0]
    history = user_history(loaded.data, user)
    expected = faithfulness(loaded.model, loaded.data, history, first.item, top_k=10)
    shown = [t.value for t in app.text]
    assert expected.verdict in shown
    assert {m.label: m.value for m in app.metric}["Is this attention faithful?"] == whatif.verdict_label(expected.verdict)
    found = counterfactual(loaded.model, history, first.item, top_k=10)
    sentence = next(t for t in shown if t.startswith("Without these") or t.startswith("No small set found"))
    assert sentence.startswith("Without these") == found.found
    if found.found:
        assert f"Without these {len(found.removed)} " in sentence
        assert all(str(loaded.data.item_titles[i]) in sentence for i in found.removed)
    curves = table(app, "removed: rank")
    assert curves["removed: rank"].tolist() == [expected.comprehensiveness[k][1] for k in sorted(expected.comprehensiveness)]


def test_what_if_removing_every_history_item_changes_the_list(app: AppTest, models) -> None:
    run(app)
    loaded = models["tiny-dot"]
    user = app.selectbox(key=state.USER).value
    original = explain_user(loaded.model, loaded.data, user, 10).top_item_ids()
    unchanged = table(app, "change")
    assert unchanged["item_id"].tolist() == original and set(unchanged["change"]) == {"="}
    app.button(key=state.WHATIF_CLEAR).click()
    run(app)
    edited = table(app, "change")
    expected = explain_history(loaded.model, loaded.data, np.zeros(0, dtype=np.int64), 10).top_item_ids()
    assert edited["item_id"].tolist() == expected != original
    assert edited["change"].tolist() == whatif.rank_changes(original, expected)
    assert app.session_state[state.WHATIF_HISTORY] == []


def test_rank_changes() -> None:
    assert whatif.rank_changes(["a", "b", "c"], ["b", "a", "d"]) == ["↑1", "↓1", "new"]
    assert whatif.rank_changes(["a"], ["a"]) == ["="]


def test_evaluate_reports_the_engines_model_level_faithfulness(app: AppTest, models) -> None:
    from engine.faithfulness_report import model_report

    app.session_state[state.EVALUATE_BASELINES] = ["pop"]
    run(app)
    run(app.switch_page("views/evaluate.py"))
    assert app.button(key=state.EVALUATE_FAITHFULNESS_RUN) is not None
    app.button(key=state.EVALUATE_FAITHFULNESS_RUN).click()
    run(app)
    loaded = models["tiny-dot"]
    expected = model_report(loaded.model, loaded.data, n_users=whatif.REPORT_USERS, seed=0)
    shown = [t.value for t in app.text]
    assert all(statement in shown for statement in expected.statements)
    views = table(app, "τ occlusion")
    assert len(views) == 4
    assert views["score gap"].tolist()[0] == expected.views["attention"].score_gap


def test_what_if_add_and_move_edit_the_history(app: AppTest, models) -> None:
    run(app)
    loaded = models["tiny-dot"]
    user = app.selectbox(key=state.USER).value
    real = [int(i) for i in user_history(loaded.data, user)]
    newcomer = next(i for i in range(1, loaded.data.n_items + 1) if i not in set(real))
    app.selectbox(key=state.WHATIF_ADD).set_value(newcomer)
    app.button(key=state.WHATIF_ADD_BUTTON).click()
    run(app)
    assert app.session_state[state.WHATIF_HISTORY] == real + [newcomer]
    app.selectbox(key=state.WHATIF_MOVE).set_value(0)
    app.button(key=state.WHATIF_MOVE_BUTTON).click()
    run(app)
    edited = real[1:] + [newcomer, real[0]]
    assert app.session_state[state.WHATIF_HISTORY] == edited
    expected = explain_history(loaded.model, loaded.data, np.asarray(edited), 10).top_item_ids()
    assert table(app, "change")["item_id"].tolist() == expected
    app.multiselect(key=state.WHATIF_REMOVE).set_value([len(edited) - 1, len(edited) - 2])
    app.button(key=state.WHATIF_REMOVE_BUTTON).click()
    run(app)
    assert app.session_state[state.WHATIF_HISTORY] == real[1:]
