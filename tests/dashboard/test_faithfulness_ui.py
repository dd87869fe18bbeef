"""Explore's faithfulness indicator and what-if editor show the engine's own results (AppTest)."""

from __future__ import annotations

import numpy as np
from streamlit.testing.v1 import AppTest

from dashboard import state, whatif
from dashboard_fixtures import assert_faithfulness_panel_matches
from engine.explain import explain_history, explain_user, user_history


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def table(at: AppTest, column: str):
    """The one dataframe with `column` (read-only tables carry no key in AppTest)."""
    matches = [frame.value for frame in at.dataframe if column in frame.value.columns]
    assert len(matches) == 1
    return matches[0]


def open_what_if(at: AppTest) -> AppTest:
    """The what-if editor is a lazy expander: it runs only once opened."""
    at.session_state[state.WHATIF_OPEN] = True
    return at


def test_explore_shows_the_engines_faithfulness_verdict(app: AppTest, models) -> None:
    app.session_state[state.EXPLORE_FAITHFULNESS_OPEN] = True  # a lazy expander, closed by default
    app.session_state[state.EXPLORE_FAITHFULNESS_CURVES] = True
    run(app)
    loaded = models["tiny-dot"]
    user = app.selectbox(key=state.USER).value
    first = explain_user(loaded.model, loaded.data, user, 10).recommendations[0]
    expected, found, sentence = assert_faithfulness_panel_matches(app, loaded, user_history(loaded.data, user), first.item)
    if found.found:
        assert f"Without these {len(found.removed)} " in sentence
        named = found.removed[: whatif.COUNTERFACTUAL_TITLES]  # the first ones, in removal order
        assert all(str(loaded.data.item_titles[i]) in sentence for i in named)
        more = len(found.removed) - len(named)
        assert (f"and {more} more, in attention order" in sentence) == (more > 0)
    curves = table(app, "removed: rank")
    assert curves["removed: rank"].tolist() == [expected.comprehensiveness[k][1] for k in sorted(expected.comprehensiveness)]


def test_what_if_removing_every_history_item_changes_the_list(app: AppTest, models) -> None:
    run(open_what_if(app))
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
    run(open_what_if(app))
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


def _report_preferring(view: str):
    """A model report whose measures prefer `view` (the other view's deletion gap is smaller)."""
    from engine.faithfulness_report import FaithfulnessReport, ViewSummary

    def summary(name: str, gap: float) -> ViewSummary:
        return ViewSummary(name, 12, gap, 0.01, {1: gap}, {1: gap}, 0.1, 0.1)

    gaps = {"attention": 0.05, "contribution": 0.30} if view == "contribution" else {"attention": 0.30, "contribution": 0.05}
    views = {name: summary(name, gap) for name, gap in gaps.items()} | {"uniform": summary("uniform", 0.0)}
    return FaithfulnessReport("dot", 12, views, summary("attention", 0.0), None, view, ["injected"])


def test_explore_shows_first_the_view_the_report_prefers(app: AppTest, monkeypatch) -> None:
    """The order of the attention / contribution tabs comes from the report's measures, not from the code."""
    from dashboard.explore import VIEW_TABS
    from engine.faithfulness_report import preference_sentence

    for preferred in ("contribution", "attention"):
        report = _report_preferring(preferred)
        monkeypatch.setattr(whatif, "model_report", lambda *args, report=report, **kwargs: report)
        run(app)
        labels = [tab.label for tab in app.tabs]
        assert labels[:2] == [VIEW_TABS[preferred], VIEW_TABS["attention" if preferred == "contribution" else "contribution"]]
        captions = [c.value for c in app.caption]
        assert any(c.startswith(preference_sentence(report)) for c in captions)
        assert preference_sentence(report).startswith(f"{VIEW_TABS[preferred].capitalize()} are shown first")


def test_explore_view_order_follows_the_engines_report(app: AppTest, models) -> None:
    from dashboard.explore import VIEW_TABS
    from engine.faithfulness_report import model_report, preference_sentence

    run(app)
    loaded = models["tiny-dot"]
    expected = model_report(loaded.model, loaded.data, n_users=whatif.REPORT_USERS, seed=0)
    assert app.tabs[0].label == VIEW_TABS[expected.preferred_view]
    assert any(c.value.startswith(preference_sentence(expected)) for c in app.caption)


def test_what_if_moves_an_item_to_any_position(app: AppTest, models) -> None:
    run(open_what_if(app))
    loaded = models["tiny-dot"]
    user = app.selectbox(key=state.USER).value
    real = [int(i) for i in user_history(loaded.data, user)]
    newest = len(real) - 1
    app.selectbox(key=state.WHATIF_MOVE).set_value(newest)  # the most recent item ...
    app.number_input(key=state.WHATIF_MOVE_TO).set_value(3)  # ... to 3 steps back
    app.button(key=state.WHATIF_MOVE_BUTTON).click()
    run(app)
    edited = real[:-4] + [real[-1]] + real[-4:-1]
    assert app.session_state[state.WHATIF_HISTORY] == edited == whatif.move(real, newest, 3)
    original = explain_user(loaded.model, loaded.data, user, 10).top_item_ids()
    expected = explain_history(loaded.model, loaded.data, np.asarray(edited), 10).top_item_ids()
    shown = table(app, "change")
    assert shown["item_id"].tolist() == expected
    assert shown["change"].tolist() == whatif.rank_changes(original, expected)


def test_move() -> None:
    assert whatif.move([1, 2, 3, 4], 0, 0) == [2, 3, 4, 1]
    assert whatif.move([1, 2, 3, 4], 3, 3) == [4, 1, 2, 3]
    assert whatif.move([1, 2, 3, 4], 1, 1) == [1, 3, 2, 4]
    assert whatif.move([1, 2, 3, 4], 2, 99) == [3, 1, 2, 4]
    assert whatif.move([1, 2], 5, 0) == [1, 2]


def _measure_on_evaluate(at: AppTest) -> AppTest:
    at.session_state[state.EVALUATE_BASELINES] = ["pop"]
    run(at)
    run(at.switch_page("views/evaluate.py"))
    at.button(key=state.EVALUATE_FAITHFULNESS_RUN).click()
    return run(at)


def test_evaluate_says_how_to_get_seed_variance_without_a_sibling(app: AppTest) -> None:
    _measure_on_evaluate(app)
    assert any("same settings as tiny-dot with another seed" in info.value for info in app.info)
    assert "Attention divergence across seeds" not in [m.label for m in app.metric]


def test_evaluate_shows_seed_variance_of_same_settings_models(private_db, monkeypatch) -> None:
    """A second tiny-dot trained with another seed: the Evaluate page shows the engine's divergence."""
    from dataclasses import replace

    from dashboard_fixtures import TINY_MODELS, TINY_TRAIN, make_app
    from engine.faithfulness_report import model_report
    from engine.movielens import SAMPLE_NAME
    from engine.service import load_data, load_model, train_and_register
    from engine.store import Store

    store = Store(private_db)
    train_and_register(store, SAMPLE_NAME, TINY_MODELS["tiny-dot"], replace(TINY_TRAIN, seed=TINY_TRAIN.seed + 1), name="tiny-dot-seed2",
                       data=load_data(store, SAMPLE_NAME))  # fmt: skip
    at = make_app(private_db, monkeypatch)
    at.session_state["sidebar.model"] = "tiny-dot"
    _measure_on_evaluate(at)
    main, sibling = load_model(store, "tiny-dot"), load_model(store, "tiny-dot-seed2")
    expected = model_report(main.model, main.data, n_users=whatif.REPORT_USERS, seed=0, other_seeds=[sibling.model])
    assert expected.seed_divergence is not None and expected.seed_divergence > 0
    shown = {m.label: m.value for m in at.metric}
    assert shown["Attention divergence across seeds"] == f"{expected.seed_divergence:.3f}"
    assert any("tiny-dot-seed2 (seed" in t.value for t in at.text)
    assert any(t.value.startswith("Across seeds the attention") for t in at.text)


def test_a_long_counterfactual_names_its_first_items_and_counts_the_rest() -> None:
    """A greedy set can hold most of a 50-item window: the sentence names the first few, not a wall of titles."""
    long = whatif.CounterfactualView(True, tuple(f"Film {i}" for i in range(41)), "Other film", 14)
    assert long.sentence() == ("Without these 41 items (Film 0; Film 1; Film 2; Film 3; Film 4; and 36 more, in attention order), "
                               "this would not be recommended (it falls to #14); Other film would take its place.")  # fmt: skip
    short = whatif.CounterfactualView(True, ("A", "B"), None, 11)
    assert short.sentence() == "Without these 2 items (A; B), this would not be recommended (it falls to #11); another item would take its place."
