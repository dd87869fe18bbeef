"""The first screen stored beside a model: written at launch, shown only for its exact key, and holding
the engine's own numbers."""

from __future__ import annotations

import json
import re

from streamlit.errors import StreamlitAPIException

from dashboard import exports, first_screen, launch
from dashboard.components import md_escape
from dashboard_fixtures import make_app, trace_values
from engine.explain import explain_user
from engine.store import Store


def _stem(db, name="tiny-dot"):
    store = Store(db)
    return store.model_path(store.get_model(name))


def test_stored_record_is_explain_users_output_for_its_key_only(private_db, models):
    loaded = models["tiny-dot"]
    user = str(loaded.data.users.raw_ids[1])
    explanation = explain_user(loaded.model, loaded.data, user, 10)
    stem = _stem(private_db)
    key = first_screen.checkpoint_key(stem, user, 10)
    assert key is not None and key.dataset_fingerprint == loaded.data.fingerprint
    first_screen.write(stem, key, explanation)
    record = first_screen.read(stem, key)
    assert record == exports.explanation_record(explanation)  # floats compare exactly: JSON round-trips them
    assert [r["score"] for r in record["recommendations"]] == [r.score for r in explanation.recommendations]
    for other in (first_screen.SnapshotKey("0" * 64, key.dataset_fingerprint, user, 10),
                  first_screen.SnapshotKey(key.weights_sha256, "other data", user, 10),
                  first_screen.checkpoint_key(stem, "another user", 10), first_screen.checkpoint_key(stem, user, 5)):  # fmt: skip
        assert first_screen.read(stem, other) is None
    first_screen.snapshot_path(stem).write_text("{truncated", encoding="utf-8")
    assert first_screen.read(stem, key) is None


def test_launch_stores_the_default_users_first_screen(private_db, monkeypatch, models):
    from dashboard import components, resources
    from dashboard.explore import DEFAULT_K

    monkeypatch.setenv("RECSCOPE_DB", str(private_db))
    path = resources.db_path()
    assert not launch._has_stored_first_screen(path)  # so this launch imports torch at once
    launch.prepare_first_screen()
    assert launch._has_stored_first_screen(path)  # so the next one holds it back for the first view
    records = resources.models(path, "movielens-small", resources.job_registry().generation)
    record = components.default_model(records)
    stem = Store(private_db).model_path(record)
    loaded = models[record.name]
    user = resources.user_suggestions(path, "movielens-small", resources.store(path).dataset_info("movielens-small").fingerprint)[0].user_id
    stored = first_screen.read(stem, first_screen.checkpoint_key(stem, user, DEFAULT_K))
    assert stored == exports.explanation_record(explain_user(loaded.model, loaded.data, user, DEFAULT_K))


def test_explore_shows_the_stored_screen_while_the_model_loads(private_db, monkeypatch, models):
    """With the launch still loading the model, Explore draws from the stored record and waits for it."""
    loaded = models["tiny-dot"]
    stem = _stem(private_db)
    lengths = [len(loaded.data.sequences[u]) for u in range(1, loaded.data.n_users + 1)]
    user = str(loaded.data.users.raw_ids[1 + lengths.index(max(lengths))])  # the sidebar's default: the most active
    explanation = explain_user(loaded.model, loaded.data, user, 10)
    first_screen.write(stem, first_screen.checkpoint_key(stem, user, 10), explanation)

    def still_loading() -> None:
        raise StreamlitAPIException("the model is still loading")  # ends the run where the page would wait

    monkeypatch.setattr(launch, "model_pending", lambda: True)
    monkeypatch.setattr(launch, "wait_for_launch", still_loading)
    at = make_app(private_db, monkeypatch)
    at.session_state["sidebar.model"] = "tiny-dot"
    at.run()
    top = explanation.recommendations[0]
    assert [h.value for h in at.subheader][-1] == f"Why #1: {md_escape(top.title)}"
    assert not at.dataframe and not at.table  # the list and why #1 as Markdown: no bundle to fetch first
    (chart,) = at.get("plotly_chart")  # below them, the window's attention (so Plotly loads while the model does)
    bars = sorted(top.history, key=lambda h: (-h.weight, h.position))[:15]  # the live chart's: top 15, largest first
    assert trace_values(json.loads(chart.proto.spec)["data"][0]["x"]).tolist() == [h.weight for h in bars]
    listed, why, attributes = (_markdown_table(m.value) for m in at.markdown if m.value.startswith("| "))
    assert listed["score"] == [f"{r.score:.4f}" for r in explanation.recommendations]
    assert listed["id"] == explanation.top_item_ids()
    assert listed["title"] == [r.title for r in explanation.recommendations]
    most = sorted(top.history, key=lambda h: -h.weight)[: first_screen.HISTORY_ROWS]
    assert why["past item"] == [h.title for h in most]
    assert why["attention weight"] == [f"{h.weight:.3f}" for h in most]
    assert attributes["weight"] == [f"{f.weight:.3f}" for f in top.features]
    assert len(at.exception) == 1  # the stand-in wait ended the run before the live page


def _markdown_table(text: str) -> dict[str, list[str]]:
    """Columns of a Markdown table as the reader sees them (escapes removed); a cell holding an unescaped
    '|' would split and fail the column-length check."""
    rows = [re.split(r"(?<!\\)\|", line.strip())[1:-1] for line in text.splitlines()]
    header, body = rows[0], rows[2:]
    assert all(len(row) == len(header) for row in body)
    unescape = lambda cell: re.sub(r"\\(.)", r"\1", cell.strip())  # noqa: E731
    return {unescape(name): [unescape(row[i]) for row in body] for i, name in enumerate(header)}


def test_markdown_table_cells_are_literal_text():
    """Hostile titles (HTML, Markdown, a pipe, a newline) stay one cell each, and read back unchanged."""
    titles = ["<b>bold</b> | pipe", "*x* [link](http://a) `code`", "line\nbreak", "1. not a list"]
    table = first_screen.markdown_table(("title", "score"), "-:", [(t, "1.0") for t in titles])
    assert "<b>" not in table
    assert _markdown_table(table)["title"] == [t.replace("\n", " ") for t in titles]
