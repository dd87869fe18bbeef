"""AppTest over every page: no exception, the key widgets exist (by key), and the values shown are the
engine's own (recommendations equal explain_user, metrics equal the registry's)."""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from dashboard_fixtures import make_app
from dashboard import state
from dashboard import explore
from engine.explain import explain_user
from engine.store import Store

PAGES = ("views/data.py", "views/train.py", "views/evaluate.py", "views/item_map.py", "views/explore.py")


def plain(markdown: str) -> str:
    """Markdown text as shown: data is escaped with backslashes before it reaches st.markdown-like elements."""
    return markdown.replace("\\", "")


def run(at: AppTest) -> AppTest:
    at.run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def recommendations_table(at: AppTest):
    tables = [frame for frame in at.dataframe if frame.key and frame.key.startswith(state.EXPLORE_TABLE)]
    assert len(tables) == 1
    return tables[0].value


def table_with(at: AppTest, *columns: str):
    """The one dataframe showing all `columns` (read-only tables carry no key in AppTest)."""
    matches = [frame.value for frame in at.dataframe if set(columns) <= set(frame.value.columns)]
    assert len(matches) == 1, [list(frame.value.columns) for frame in at.dataframe]
    return matches[0]


def assert_shows_engine_recommendations(at: AppTest, loaded, user_id: str, k: int = 10) -> None:
    expected = explain_user(loaded.model, loaded.data, user_id, k)
    table = recommendations_table(at)
    assert table["item_id"].tolist() == expected.top_item_ids()
    assert table["title"].tolist() == [rec.title for rec in expected.recommendations]
    assert table["score"].tolist() == pytest.approx([rec.score for rec in expected.recommendations], abs=1e-6)
    assert at.selectbox(key=state.EXPLORE_ITEM).options == [f"#{r.rank} · {r.title}" for r in expected.recommendations]


def test_explore_opens_with_the_engines_recommendations(app: AppTest, models) -> None:
    run(app)
    assert app.selectbox(key=state.DATASET).value == "movielens-small"
    assert app.selectbox(key=state.MODEL).value == "tiny-dot"
    user = app.selectbox(key=state.USER).value
    assert user == "414"  # the most active user is the first suggestion
    assert_shows_engine_recommendations(app, models["tiny-dot"], user)
    first = explain_user(models["tiny-dot"].model, models["tiny-dot"].data, user, 10).recommendations[0]
    assert app.selectbox(key=state.EXPLORE_ITEM).value == first.item_id
    assert app.subheader[1].value.startswith("Why #1")
    assert any("Agrees with the ranking to float32 precision" in s.value for s in app.success)
    shown = {m.label: m.value for m in app.metric}
    assert shown["score in the ranking"] == f"{first.score:.6f}"
    app.session_state[state.EXPLORE_STEPS_TABLE_OPEN] = True  # a lazy expander, closed by default
    run(app)
    assert len(table_with(app, "logit", "contribution")) == len(first.history)
    for key in ("explore.download_user_csv", "explore.download_user_json"):
        assert app.get_by_key(key) is not None


def test_switching_user_and_item(app: AppTest, models) -> None:
    run(app)
    loaded = models["tiny-dot"]
    second = app.selectbox(key=state.USER).options[1].split(" · ")[0]
    app.selectbox(key=state.USER).set_value(second)
    run(app)
    assert_shows_engine_recommendations(app, loaded, second)
    expected = explain_user(loaded.model, loaded.data, second, 10).recommendations[2]
    app.selectbox(key=state.EXPLORE_ITEM).set_value(expected.item_id)
    run(app)
    assert app.subheader[1].value.startswith("Why #3")
    assert {m.label: m.value for m in app.metric}["score in the ranking"] == f"{expected.score:.6f}"
    app.number_input(key=state.EXPLORE_K).set_value(5)
    run(app)
    assert len(recommendations_table(app)) == 5


def test_any_user_id_can_be_typed(app: AppTest, models, trained_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    loaded = models["tiny-dot"]
    quiet = min(loaded.data.users.raw_ids[1:], key=lambda u: len(loaded.data.sequences[loaded.data.users.to_dense(u)]))
    app.session_state[state.USER] = quiet  # typed: a user far outside the suggestions
    run(app)
    assert app.selectbox(key=state.USER).value == quiet
    assert_shows_engine_recommendations(app, loaded, quiet)
    unknown = make_app(trained_db, monkeypatch)
    unknown.session_state[state.USER] = "no-such-user"
    run(unknown)
    assert unknown.selectbox(key=state.USER).value == "no-such-user"
    assert any("no user with id 'no-such-user'" in plain(w.value) for w in unknown.sidebar.warning)
    assert any("Pick a dataset" in i.value for i in unknown.info)


def test_link_with_query_params_opens_that_user_and_model(app: AppTest, models) -> None:
    app.query_params["user"] = "7"
    app.query_params["model"] = "tiny-sigmoid"
    run(app)
    assert app.selectbox(key=state.USER).value == "7" and app.selectbox(key=state.MODEL).value == "tiny-sigmoid"
    assert_shows_engine_recommendations(app, models["tiny-sigmoid"], "7")
    assert any("no self-attention layers" in c.value for c in app.caption)


def test_every_page_renders_and_the_sidebar_survives(app: AppTest) -> None:
    run(app)
    app.selectbox(key=state.USER).set_value("68")
    app.session_state[state.EVALUATE_BASELINES] = ["pop"]  # keep the test lean: EASE/kNN fit in seconds, BPR longer
    run(app)
    for page in PAGES:
        run(app.switch_page(page))
        assert app.selectbox(key=state.USER).value == "68"
        assert app.selectbox(key=state.MODEL).value == "tiny-dot"
        assert app.title[0].value


def test_data_page(app: AppTest) -> None:
    run(app)
    run(app.switch_page("views/data.py"))
    shown = {m.label: m.value for m in app.metric}
    assert shown["Users"] == "610" and shown["Items"] == "9,724" and shown["Interactions"] == "100,836"
    app.text_input(key=state.DATA_ITEM_SEARCH).input("toy story")
    run(app)
    items = table_with(app, "title", "interactions", "genre")
    assert "Toy Story (1995)" in items["title"].tolist()
    assert items["title"].str.contains("Toy Story", case=False).all()
    assert items.loc[items["title"] == "Toy Story (1995)", "genre"].iloc[0].startswith("Adventure")


def test_evaluate_page_shows_registry_metrics_and_compares_models(app: AppTest, trained_db: Path) -> None:
    app.session_state[state.EVALUATE_BASELINES] = ["pop"]
    run(app)
    run(app.switch_page("views/evaluate.py"))
    table = table_with(app, "scorer", "ndcg@10").set_index("scorer")
    assert list(table.index) == ["tiny-dot", "Most popular"]
    registered = Store(trained_db).get_model("tiny-dot").metrics["test"]
    assert table.loc["tiny-dot", "ndcg@10"] == pytest.approx(registered["ndcg@10"], abs=1e-9)
    assert table.loc["tiny-dot", "hr@10"] == pytest.approx(registered["hr@10"], abs=1e-9)
    assert app.get_by_key("evaluate.metrics_chart") is not None and app.get_by_key("evaluate.segments_chart") is not None
    assert app.selectbox(key=state.EVALUATE_COMPARE_A).value == "tiny-dot"
    assert app.selectbox(key=state.EVALUATE_COMPARE_B).value == "tiny-sigmoid"
    assert any(plain(m.label).startswith("Shared recommendations for user 414") for m in app.metric)


def test_item_map_page(app: AppTest) -> None:
    run(app)
    run(app.switch_page("views/item_map.py"))
    colour = app.selectbox(key=state.MAP_COLOUR)
    assert colour.value == "genre" and {"decade", "popularity"} <= set(colour.options)
    colour.set_value("decade")
    run(app)
    assert app.get_by_key("item_map.chart") is not None


def test_training_from_the_page_registers_a_model(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = make_app(private_db, monkeypatch)
    run(at)
    run(at.switch_page("views/train.py"))
    at.text_input(key=state.TRAIN_NAME).input("tiny-dot")
    at.button(key=state.TRAIN_SUBMIT).click()
    run(at)
    assert any("already exists" in plain(e.value) for e in at.error)  # refused before anything starts
    at.number_input(key=state.TRAIN_HEADS).set_value(3)
    at.text_input(key=state.TRAIN_NAME).input("ui-additive")
    at.button(key=state.TRAIN_SUBMIT).click()
    run(at)
    assert any("divide embed_dim" in plain(e.value) for e in at.error), [e.value for e in at.error]
    at.radio(key=state.TRAIN_SCORER).set_value("additive")
    at.number_input(key=state.TRAIN_LAYERS).set_value(0)
    at.number_input(key=state.TRAIN_HEADS).set_value(1)
    at.select_slider(key=state.TRAIN_DIM).set_value(16)
    at.number_input(key=state.TRAIN_MAX_LEN).set_value(10)
    at.number_input(key=state.TRAIN_EPOCHS).set_value(1)
    at.button(key=state.TRAIN_SUBMIT).click()
    run(at)
    deadline = time.monotonic() + 240
    while not any("ui-additive is registered" in plain(s.value) for s in at.success):
        assert time.monotonic() < deadline, "training from the page did not finish"
        assert not at.error, [e.value for e in at.error]
        time.sleep(1.0)
        run(at)
    assert "ui-additive" in at.selectbox(key=state.MODEL).options[0], at.selectbox(key=state.MODEL).options
    assert "ui-additive" in table_with(at, "name", "test NDCG@10")["name"].tolist()
    at.button(key=state.TRAIN_OPEN_MODEL).click()
    run(at)  # the click's run switches to Explore (AppTest's next run() would reopen its own current page)
    assert at.selectbox(key=state.MODEL).value == "ui-additive"
    assert at.title[0].value == "Explore recommendations"


def test_clicks_in_the_table_and_chart_select_the_item(monkeypatch: pytest.MonkeyPatch) -> None:
    session: dict = {}
    monkeypatch.setattr(explore.st, "session_state", session)
    items = ["10", "20", "30"]
    session["table"] = {"selection": {"rows": [2], "columns": []}}
    explore._on_table_select("table", items)
    assert session[state.EXPLORE_ITEM] == "30"
    session["chart"] = {"selection": {"points": [{"point_index": 1, "customdata": "20"}]}}
    explore._on_chart_select("chart", items)
    assert session[state.EXPLORE_ITEM] == "20"
    session["chart"] = {"selection": {"points": [{"point_index": 0, "customdata": ["10"]}]}}
    explore._on_chart_select("chart", items)
    assert session[state.EXPLORE_ITEM] == "10"


def test_no_data_is_rendered_as_html() -> None:
    """Titles and user data go through st.text/st.dataframe/Plotly or md_escape; never through HTML."""
    root = Path(__file__).resolve().parents[2] / "dashboard"
    for path in root.rglob("*.py"):
        source = path.read_text(encoding="utf-8")
        assert not re.search(r"unsafe_allow_html\s*=|\bst\.html\(|components\.v1", source), path
    from dashboard.components import md_escape

    assert md_escape("[click](javascript:alert(1)) *x* <b>") == r"\[click\]\(javascript\:alert\(1\)\) \*x\* \<b\>"


def test_a_run_can_be_cancelled_from_the_page(private_db: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    at = make_app(private_db, monkeypatch)
    run(at)
    run(at.switch_page("views/train.py"))
    at.number_input(key=state.TRAIN_LAYERS).set_value(0)
    at.select_slider(key=state.TRAIN_DIM).set_value(16)
    at.number_input(key=state.TRAIN_EPOCHS).set_value(200)
    at.text_input(key=state.TRAIN_NAME).input("never-finished")
    at.button(key=state.TRAIN_SUBMIT).click()
    run(at)
    assert at.button(key=state.TRAIN_SUBMIT).disabled  # one run per session at a time
    at.button(key=state.TRAIN_CANCEL).click()
    deadline = time.monotonic() + 120
    while not any("was cancelled" in plain(w.value) for w in at.warning):
        assert time.monotonic() < deadline, "the run did not stop"
        time.sleep(0.5)
        run(at)
    assert not Store(private_db).model_name_exists("never-finished")
    assert not at.button(key=state.TRAIN_SUBMIT).disabled
