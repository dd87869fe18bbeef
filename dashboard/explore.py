"""Explore: one user's top-K recommendations beside why - attention over their history and the item's
attributes, the score rebuilt step by step, and self-attention inside the history.

Panels that cost a model pass or a large chart but start closed (the faithfulness test, the what-if
editor, the other view's tab, detail tables) are lazy containers: their content is computed only while
open, so switching the user or the item stays quick. dashboard/views/explore.py runs `render()`.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import streamlit as st

from dashboard import analysis, charts, components, exports, resources, state, whatif
from dashboard.components import md_escape
from dashboard.steps import FORMULAS, SCORER_NAMES, ScoreSteps, first_values, recompute

if TYPE_CHECKING:  # torch-backed types; the page title draws before torch is imported
    from engine.explain import Explanation, Recommendation
    from engine.faithfulness import Faithfulness
    from engine.service import LoadedModel

DEFAULT_K = 10
WHAT_IF_LABEL = "What if… edit this user's history and re-rank"


def render() -> None:
    st.title("Explore recommendations")
    context = state.context()
    if context is None or context.model is None or context.user_id is None or context.dataset is None:
        _not_ready()
        return
    model, user_id = context.model, context.user_id
    loaded = resources.loaded_model(context.db_path, *resources.model_key(model))
    k = state.explore_k(DEFAULT_K)
    explanation = resources.explanation(context.db_path, *resources.model_key(model), user_id, k)
    n_interactions = len(loaded.data.sequences[loaded.data.users.to_dense(user_id)])
    st.caption(md_escape(f"User {user_id} · {n_interactions:,} interactions · model {model.name}: {SCORER_NAMES[model.scorer]}.")
               + " Click a recommendation in the table or the chart to see which past items and attributes produced its score.")  # fmt: skip
    if not context.dataset.has_timestamps:
        st.info("This dataset has no timestamps: each history is in file order, and 'recent' means 'later in the file'.")
    _history(context, loaded, explanation)
    if not explanation.recommendations:
        st.warning("This user has already interacted with every item; there is nothing left to recommend.")
        return
    head, size = st.columns([4, 1], vertical_alignment="bottom")
    head.subheader(f"Top {len(explanation.recommendations)} recommendations")
    size.number_input("How many", min_value=1, max_value=50, value=DEFAULT_K, step=1, key=state.EXPLORE_K)
    st.fragment(_selected_item)(context, loaded, explanation)
    _self_attention(loaded, explanation)
    what_if = st.expander(WHAT_IF_LABEL, key=state.WHATIF_OPEN, on_change="rerun")
    with what_if:
        if what_if.open:
            st.fragment(_what_if)(context, loaded, explanation)
    _exports(context, loaded, explanation)


def _selected_item(context: state.Context, loaded: LoadedModel, explanation: Explanation) -> None:
    """The recommendation list and the selected item's explanation, as a fragment: picking another item
    reruns only this part (the history and self-attention charts belong to the user and stay)."""
    with components.timed("explore item"):
        rec = _recommendations(context, loaded, explanation)
        _why(context, loaded, explanation, rec)
        steps = resources.score_steps(context.db_path, *resources.model_key(context.model), explanation.user_id, rec.item_id)
        _score_steps(loaded, steps, rec)


def _not_ready() -> None:
    first_run = resources.job_registry().latest(resources.FIRST_RUN_OWNER)
    if first_run is not None and first_run.is_running:
        st.info("A first model is being trained on the bundled MovieLens sample (progress in the sidebar); it appears "
                "here by itself when it is ready. Meanwhile, the Data page is open for browsing.")  # fmt: skip
        st.page_link("views/data.py", label="Browse the data", icon=":material/table_chart:")
    else:
        st.info("Pick a dataset, a trained model and a user in the sidebar. No model yet? Train one on the Train page.")
        st.page_link("views/train.py", label="Train a model", icon=":material/model_training:")


@dataclass(frozen=True)
class ItemText:
    details: np.ndarray  # (I+1,) attribute text per dense item id ('' for padding), for the recommendations table
    hover: np.ndarray  # (I+1,) charts.item_hover text per dense item id, for the history timeline


@st.cache_resource(max_entries=8, show_spinner=False)
def item_text(path: str, dataset: str, fingerprint: str) -> ItemText:
    """Per-item text built once per dataset version and shared read-only by all sessions (cache_data would
    unpickle ~10k strings on every call, twice a rerun). The store path is in the key, so a private
    workspace's items never reach another workspace."""
    details = analysis.item_details(path, dataset, fingerprint)
    hover = charts.item_hover(resources.sequence_data(path, dataset, fingerprint).item_titles, details)
    details.flags.writeable = hover.flags.writeable = False
    return ItemText(details, hover)


def _history(context: state.Context, loaded: LoadedModel, explanation: Explanation) -> None:
    data = loaded.data
    items = data.sequences[data.users.to_dense(explanation.user_id)]
    hover = item_text(context.db_path, data.name, context.dataset.fingerprint).hover[items]
    ratings = _user_ratings(context, explanation.user_id, len(items))
    window = np.zeros(len(items), dtype=bool)
    window[-len(explanation.history_items) :] = True
    times = data.timestamps[data.users.to_dense(explanation.user_id)] if data.has_timestamps else None
    st.plotly_chart(charts.history_timeline(times, hover, ratings, window), key="explore.history_chart")
    st.caption(f"The model reads the last {len(explanation.history_items)} interactions (blue); hover a point for the title and attributes.")


def _user_ratings(context: state.Context, user_id: str, length: int) -> np.ndarray:
    """The user's ratings in the same order as their sequence, `length` long (NaN when the data has none)."""
    bundle = resources.dataset_bundle(context.db_path, context.dataset.name, context.dataset.fingerprint)
    ratings = np.full(length, np.nan)
    known = np.asarray(bundle.user_ratings(user_id), dtype=float)[:length]
    ratings[: len(known)] = known
    return ratings


def _context_token(explanation: Explanation, model_name: str) -> str:
    raw = f"{model_name}\x1f{explanation.user_id}\x1f{len(explanation.recommendations)}"
    return hashlib.sha1(raw.encode()).hexdigest()[:10]


def _on_table_select(key: str, item_ids: list[str]) -> None:
    rows = st.session_state[key]["selection"]["rows"]
    if rows:
        state.set_explore_item(item_ids[rows[0]])


def _on_chart_select(key: str, item_ids: list[str]) -> None:
    points = st.session_state[key]["selection"]["points"]
    if points:
        point = points[0]
        custom = point.get("customdata")
        item_id = custom[0] if isinstance(custom, list) else custom
        if item_id not in item_ids and isinstance(point.get("point_index"), int):
            item_id = item_ids[point["point_index"]]
        if item_id in item_ids:
            state.set_explore_item(item_id)


def _recommendations(context: state.Context, loaded: LoadedModel, explanation: Explanation) -> Recommendation:
    recs = explanation.recommendations
    item_ids = [rec.item_id for rec in recs]
    owner = f"{context.model.name}\x1f{context.model.created_at}\x1f{explanation.user_id}"
    if st.session_state.get(state.EXPLORE_ITEM_OWNER) != owner or state.explore_item() not in item_ids:
        state.set_explore_item(item_ids[0])  # a new user or model starts at their #1
        st.session_state[state.EXPLORE_ITEM_OWNER] = owner
    selected = state.explore_item()
    token = f"{_context_token(explanation, context.model.name)}.{item_ids.index(selected)}"
    details = item_text(context.db_path, loaded.data.name, context.dataset.fingerprint).details
    table = pd.DataFrame({"rank": [r.rank for r in recs], "title": [r.title for r in recs], "score": [r.score for r in recs],
                          "item_id": item_ids, "attributes": [details[r.item] for r in recs]})  # fmt: skip
    left, right = st.columns([1, 1])
    table_key, chart_key = f"{state.EXPLORE_TABLE}.{token}", f"{state.EXPLORE_CHART}.{token}"
    left.dataframe(table, key=table_key, hide_index=True, on_select=partial(_on_table_select, table_key, item_ids),
                   selection_mode="single-row", selection_default={"selection": {"rows": [item_ids.index(selected)]}},
                   column_config={"rank": st.column_config.NumberColumn(width=40), "title": st.column_config.TextColumn(width="medium"),
                                  "score": st.column_config.NumberColumn(format="%.4f", width=70),
                                  "item_id": st.column_config.TextColumn("id", width=60)})  # fmt: skip
    fig = charts.score_chart([r.title for r in recs], [r.score for r in recs], item_ids, selected)
    right.plotly_chart(fig, key=chart_key, on_select=partial(_on_chart_select, chart_key, item_ids), selection_mode="points")
    labels = {rec.item_id: f"#{rec.rank} · {rec.title}" for rec in recs}
    chosen = st.selectbox("Explain recommendation", item_ids, key=state.EXPLORE_ITEM, format_func=lambda item: labels.get(item, str(item)))
    return recs[item_ids.index(chosen)]


def _reading(rec: Recommendation, normalised: bool) -> str:
    """One plain sentence on where the attention goes."""
    history = sorted(rec.history, key=lambda h: -h.weight)
    if not history:
        return "This user has no history in the model's window, so the score is the item bias alone."
    top = ", ".join(f"{h.title} ({h.weight:.2f})" for h in history[:3])
    total = sum(h.weight for h in rec.history)
    share = sum(h.weight for h in history[:3]) / total if total else 0.0
    spread = f"these 3 of {len(history)} items carry {share:.0%} of the attention"
    if normalised:
        spread += f" (an even spread would give each {1 / len(history):.3f})"
        if history[0].weight < 1.5 / len(history):
            spread += ". The attention is nearly even here, so the contributions (hover the bars) say more than the weights"
    else:
        spread += f" (sigmoid weights are not normalised; they sum to {total:.2f})"
    return f"Most attention goes to {top}; {spread}. The item bias adds {rec.item_bias:+.3f} to the score."


def _why(context: state.Context, loaded: LoadedModel, explanation: Explanation, rec: Recommendation) -> None:
    normalised = loaded.record.scorer != "sigmoid"
    st.subheader(f"Why #{rec.rank}: {md_escape(rec.title)}")
    st.text(_reading(rec, normalised))
    left, right = st.columns([3, 2])
    with left:
        _history_views(context, rec, normalised)
        _faithfulness(context, explanation, rec)
    if rec.features:
        labels = [f"{f.field} = {f.value}" for f in rec.features]
        right.plotly_chart(charts.feature_attention_chart(labels, [f.weight for f in rec.features], rec.title), key="explore.feature_attention")
    elif not loaded.model.config.use_features:
        right.info("This model was trained without item attributes, so only the item's id vector counts.")
    else:
        right.info("This item has no attributes the model knows, so only its id vector counts.")
    heatmap = charts.attention_heatmap([r.title for r in explanation.recommendations],
                                       loaded.data.item_titles[explanation.history_items].tolist(), explanation.weights, rec.rank - 1)  # fmt: skip
    st.plotly_chart(heatmap, key="explore.heatmap")


VIEW_TABS = {"attention": "Attention weights", "contribution": "Contributions"}


def _history_views(context: state.Context, rec: Recommendation, normalised: bool) -> None:
    """Attention weights and contributions as two tabs, the one this model's faithfulness report prefers
    first (the report is measured once per model version and shared with the Evaluate page)."""
    from engine.faithfulness_report import preference_sentence

    records = resources.models(context.db_path, context.dataset.name, resources.job_registry().generation)
    report = whatif.report_for(context.db_path, context.model, records)
    order = sorted(VIEW_TABS, key=lambda view: view != report.preferred_view)
    st.caption(preference_sentence(report) + " Details on the Evaluate page.")
    titles, weights, contributions = [h.title for h in rec.history], [h.weight for h in rec.history], [h.contribution for h in rec.history]
    for view, tab in zip(order, st.tabs([VIEW_TABS[view] for view in order], key=state.EXPLORE_VIEW_TAB, on_change="rerun")):
        with tab:
            if not tab.open:  # lazy: the hidden view's chart is drawn when its tab is chosen
                continue
            if view == "attention":
                st.plotly_chart(charts.history_attention_chart(titles, weights, contributions, rec.title, normalised), key="explore.history_attention")
            else:
                st.plotly_chart(charts.history_contribution_chart(titles, contributions, weights, rec.title, rec.item_bias),
                                key="explore.history_contributions")  # fmt: skip


FAITHFULNESS_HELP = ("Deletion test: the history items this chart ranks highest are removed one after another and the item "
                     "is re-scored and re-ranked by the model, against removal in random order (3 draws) and in reverse order. "
                     "Faithful: removing the highlighted items hurts the score clearly more than chance.")  # fmt: skip


FAITHFULNESS_LABEL = "Is this attention faithful? Test it against the model"


def _faithfulness(context: state.Context, explanation: Explanation, rec: Recommendation) -> None:
    """A compact indicator: does removing the most-attended items really change this recommendation? The
    test re-ranks the catalogue dozens of times (~0.2-0.3 s), so it runs only while its expander is open."""
    with st.container(key=state.EXPLORE_FAITHFULNESS):
        panel = st.expander(FAITHFULNESS_LABEL, key=state.EXPLORE_FAITHFULNESS_OPEN, on_change="rerun")
        with panel:
            if panel.open:
                key = (context.db_path, *resources.model_key(context.model), explanation.user_id, rec.item_id, len(explanation.recommendations))
                _faithfulness_evidence(whatif.faithfulness(*key), whatif.counterfactual(*key))


def _faithfulness_evidence(result: Faithfulness, counterfactual: whatif.CounterfactualView) -> None:
    st.metric("Is this attention faithful?", whatif.verdict_label(result.verdict), help=FAITHFULNESS_HELP)
    st.text(result.verdict)
    st.text(counterfactual.sentence())
    if st.toggle("Deletion curves and measures", key=state.EXPLORE_FAITHFULNESS_CURVES):
        _deletion_details(result)


def _deletion_details(result: Faithfulness) -> None:
    ordered, random, reverse = result.ordered, result.random, result.reverse
    fig = charts.faithfulness_curves(ordered.removed.tolist(), ordered.scores.tolist(), random.scores.tolist(),
                                     result.random_score_std.tolist(), reverse.scores.tolist(), ordered.rank_removed.tolist(),
                                     ordered.ranks.tolist(), random.ranks.tolist(), reverse.ranks.tolist())  # fmt: skip
    st.plotly_chart(fig, key="explore.faithfulness_curves")
    rows = [{"top k": k, "removed: score drop": result.comprehensiveness[k][0], "removed: rank": result.comprehensiveness[k][1],
             "only these kept: score drop": result.sufficiency[k][0], "only these kept: rank": result.sufficiency[k][1]}
            for k in sorted(result.comprehensiveness)]  # fmt: skip
    st.dataframe(pd.DataFrame(rows), hide_index=True, key="explore.faithfulness_table")
    flip = "never" if result.rank_flip is None else f"after {result.rank_flip} removals"
    st.text(f"Score gap (random AUC − ordered AUC): {result.score_gap:+.4f}. Leaves the top {result.top_k} {flip}. "
            f"Agreement of the attention order with leave-one-out occlusion: τ = {result.tau_occlusion:.2f}; "
            f"with gradient × input: τ = {result.tau_gradient:.2f}.")  # fmt: skip


def _what_if(context: state.Context, loaded: LoadedModel, explanation: Explanation) -> None:
    """Edit the history (remove, add, reorder, or start empty) and see the list re-rank with rank changes."""
    data = loaded.data
    real = [int(i) for i in data.sequences[data.users.to_dense(explanation.user_id)]]
    owner = f"{context.model.name}\x1f{context.model.created_at}\x1f{explanation.user_id}"
    if st.session_state.get(state.WHATIF_OWNER) != owner or not isinstance(st.session_state.get(state.WHATIF_HISTORY), list):
        st.session_state[state.WHATIF_HISTORY] = list(real)
        st.session_state[state.WHATIF_OWNER] = owner
    history: list[int] = st.session_state[state.WHATIF_HISTORY]
    titles = data.item_titles
    st.caption(f"The edited history has {len(history)} items (the model reads the last {loaded.model.config.max_len}). "
               "Items you remove stop being excluded from the list, so they may be recommended again.")  # fmt: skip
    one, two, three = st.columns(3)
    one.button("Remove all (a brand-new user)", key=state.WHATIF_CLEAR, on_click=_set_history, args=([],))
    two.button("Back to the real history", key=state.WHATIF_RESET, on_click=_set_history, args=(real,))
    positions = list(range(len(history)))[::-1]  # most recent first
    label = lambda p: f"{titles[history[p]]} (−{len(history) - 1 - p})"  # noqa: E731
    remove, add = st.columns(2)
    with remove:
        st.multiselect("Remove these items", positions, key=state.WHATIF_REMOVE, format_func=label)
        st.button("Remove", key=state.WHATIF_REMOVE_BUTTON, on_click=_remove)
        item, place = st.columns([3, 2])
        item.selectbox("Move this item", positions, index=None, key=state.WHATIF_MOVE, format_func=label)
        place.number_input("to steps back (0 = most recent)", min_value=0, max_value=max(len(history) - 1, 0), value=0, step=1,
                           key=state.WHATIF_MOVE_TO)  # fmt: skip
        st.button("Move", key=state.WHATIF_MOVE_BUTTON, on_click=_move)
    with add:
        st.selectbox("Add an item (type to search by title)", range(1, data.n_items + 1), index=None, key=state.WHATIF_ADD,
                     format_func=lambda i: str(titles[i]))  # fmt: skip
        st.button("Add as the most recent", key=state.WHATIF_ADD_BUTTON, on_click=_add)
    k = len(explanation.recommendations)
    edited = whatif.edited_explanation(context.db_path, *resources.model_key(context.model), whatif.history_key(history), k)
    changes = whatif.rank_changes(explanation.top_item_ids(), edited.top_item_ids())
    recs = edited.recommendations
    st.dataframe(pd.DataFrame({"rank": [r.rank for r in recs], "change": changes, "title": [r.title for r in recs],
                               "score": [r.score for r in recs], "item_id": [r.item_id for r in recs]}),
                 hide_index=True, key=state.WHATIF_TABLE,
                 column_config={"score": st.column_config.NumberColumn(format="%.4f")})  # fmt: skip
    st.caption("change: against this user's real list (new = not in it; ↑/↓ = places gained or lost).")
    if len(edited.history_items):
        st.plotly_chart(charts.attention_heatmap([r.title for r in recs], titles[edited.history_items].tolist(), edited.weights, None),
                        key="explore.whatif.heatmap")  # fmt: skip


def _set_history(history: list[int]) -> None:
    st.session_state[state.WHATIF_HISTORY] = list(history)
    st.session_state[state.WHATIF_REMOVE] = []
    st.session_state[state.WHATIF_MOVE] = None
    st.session_state[state.WHATIF_MOVE_TO] = 0


def _remove() -> None:
    drop = set(st.session_state.get(state.WHATIF_REMOVE) or [])
    _set_history([item for position, item in enumerate(st.session_state[state.WHATIF_HISTORY]) if position not in drop])


def _move() -> None:
    position, steps_back = st.session_state.get(state.WHATIF_MOVE), st.session_state.get(state.WHATIF_MOVE_TO)
    history = list(st.session_state[state.WHATIF_HISTORY])
    if isinstance(position, int):
        history = whatif.move(history, position, steps_back if isinstance(steps_back, int) else 0)
    _set_history(history)


def _add() -> None:
    item = st.session_state.get(state.WHATIF_ADD)
    history = list(st.session_state[state.WHATIF_HISTORY])
    if isinstance(item, int):
        history = [h for h in history if h != item] + [item]
    _set_history(history)
    st.session_state[state.WHATIF_ADD] = None


def _score_steps(loaded: LoadedModel, steps: ScoreSteps, rec: Recommendation) -> None:
    titles = loaded.data.item_titles[steps.history_items].tolist()
    again = recompute(steps)
    with st.container(border=True):
        st.subheader("How this score was computed")
        st.text(f"Scorer: {SCORER_NAMES[steps.scorer]}. Every number below is read off the model's own forward pass.")
        logit_formula, weight_formula = FORMULAS[steps.scorer]
        st.latex(logit_formula + r",\qquad " + weight_formula + r",\qquad u = \sum_t w_t v_t,\qquad \text{score} = u \cdot e_c + b_c")
        st.markdown("**Step 1 · vectors.** The candidate item vector $e_c$ (id + attribute embeddings) is projected into a query; "
                    "each history state $v_t$ (after self-attention) into a key.")  # fmt: skip
        st.dataframe(_vector_table(steps, include_interest=False), hide_index=True, key="explore.steps_vectors")
        st.markdown("**Steps 2–3 · raw scores and weights.** Each history item gets a raw score (logit) against the query; "
                    + ("a softmax turns them into weights that sum to 1." if steps.scorer != "sigmoid" else
                       "a sigmoid turns each into a weight in (0, 1) on its own - they are not normalised."))  # fmt: skip
        st.plotly_chart(charts.logits_weights_chart(titles, steps.logits, steps.weights, steps.scorer != "sigmoid"), key="explore.steps_logits")
        st.markdown("**Step 4 · interest vector.** The weighted sum of history states $u = \\sum_t w_t v_t$.")
        st.dataframe(_vector_table(steps, include_interest=True).tail(1), hide_index=True, key="explore.steps_interest")
        st.markdown("**Step 5 · score.** $u \\cdot e_c$ splits into one contribution $w_t (v_t \\cdot e_c)$ per history item; "
                    "the item bias $b_c$ (a popularity prior) is added.")  # fmt: skip
        st.plotly_chart(charts.score_waterfall(titles, steps.contributions, steps.item_bias, steps.score), key="explore.steps_waterfall")
        _score_check(steps, again, rec)
        numbers = st.expander("Every history item's numbers", key=state.EXPLORE_STEPS_TABLE_OPEN, on_change="rerun")
        with numbers:
            if numbers.open:
                st.dataframe(pd.DataFrame({"steps back": np.arange(len(titles))[::-1], "title": titles,
                                           "‖key‖": np.linalg.norm(steps.keys, axis=1), "logit": steps.logits, "weight": steps.weights,
                                           "v·e": steps.relevance, "contribution": steps.contributions}),
                             hide_index=True, key="explore.steps_table")  # fmt: skip


def _vector_table(steps: ScoreSteps, include_interest: bool) -> pd.DataFrame:
    """Norm, size and first values of the vectors of steps 1 and 4 (full vectors are too long to show)."""
    key_norms = np.linalg.norm(steps.keys, axis=1) if len(steps.keys) else np.zeros(1)
    rows = [("candidate e_c", steps.candidate), ("query W_q e_c", steps.query)]
    table = [{"vector": name, "size": len(vector), "norm": float(np.linalg.norm(vector)),
              "first values": first_values(vector)} for name, vector in rows]  # fmt: skip
    table.append({"vector": f"keys W_k v_t ({len(steps.keys)})", "size": steps.keys.shape[1] if steps.keys.ndim == 2 else 0,
                  "norm": float(key_norms.mean()), "first values": f"norms from {key_norms.min():.3f} to {key_norms.max():.3f} (mean shown)"})  # fmt: skip
    if include_interest:
        table.append({"vector": "interest u = Σ w_t v_t", "size": len(steps.interest), "norm": float(np.linalg.norm(steps.interest)),
                      "first values": first_values(steps.interest)})  # fmt: skip
    return pd.DataFrame(table)


def _score_check(steps: ScoreSteps, again, rec: Recommendation) -> None:
    gap = abs(steps.score - rec.score)
    rebuilt_gap = abs(again.score - rec.score)
    agrees = gap <= 1e-4 * max(1.0, abs(rec.score)) and rebuilt_gap <= 1e-4 * max(1.0, abs(rec.score))
    cols = st.columns(4)
    cols[0].metric("u · e_c", f"{again.dot:+.5f}")
    cols[1].metric("+ item bias", f"{steps.item_bias:+.5f}")
    cols[2].metric("= score (rebuilt here)", f"{again.score:.6f}")
    cols[3].metric("score in the ranking", f"{rec.score:.6f}", delta=f"difference {rebuilt_gap:.1e}", delta_color="off", delta_arrow="off")
    message = (f"Agrees with the ranking to float32 precision (|difference| {rebuilt_gap:.1e}; weights recomputed "
               f"from the logits differ by at most {again.max_weight_error:.1e}).")  # fmt: skip
    (st.success if agrees else st.error)(message if agrees else "The rebuilt score does not match the ranking: " + message)


def _self_attention(loaded: LoadedModel, explanation: Explanation) -> None:
    if not explanation.self_attention:
        st.caption("This model has no self-attention layers: each history item is read as its own vector.")
        return
    st.subheader("Self-attention inside the history")
    st.caption("Before target attention, each layer lets every history item (row) read the earlier ones (columns). "
               "One map per layer and head; darker = more weight.")  # fmt: skip
    titles = loaded.data.item_titles[explanation.history_items].tolist()
    st.plotly_chart(charts.self_attention_grid(explanation.self_attention, titles), key="explore.self_attention")


def _exports(context: state.Context, loaded: LoadedModel, explanation: Explanation) -> None:
    st.subheader("Download")
    model = exports.model_summary(context.model)
    safe_user = "".join(ch if ch.isalnum() else "_" for ch in explanation.user_id)[:40]
    one, two, three = st.columns(3)
    one.download_button("This user · CSV", lambda: exports.to_csv(exports.explanation_rows(explanation)),
                        file_name=f"recommendations-user-{safe_user}.csv", mime="text/csv", key="explore.download_user_csv")  # fmt: skip
    two.download_button("This user · JSON", lambda: exports.to_json(model, [exports.explanation_record(explanation)]),
                        file_name=f"recommendations-user-{safe_user}.json", mime="application/json", key="explore.download_user_json")  # fmt: skip
    with three:
        _export_all(context, loaded, len(explanation.recommendations))


def _export_all(context: state.Context, loaded: LoadedModel, k: int) -> None:
    """All users' recommendations: computed on request (a few seconds), kept for this session."""
    from engine.explain import explain_user

    key = (*resources.model_key(context.model), k)
    ready = st.session_state.get(state.EXPLORE_EXPORT_ALL)
    if not ready or ready[0] != key:
        if not st.button(f"Prepare all {loaded.data.n_users:,} users", key=state.EXPLORE_EXPORT_BUTTON):
            return
        progress = st.progress(0.0, text="Explaining every user…")
        rows, records = [], []
        users = loaded.data.users.raw_ids[1:]
        for index, user_id in enumerate(users):
            explained = explain_user(loaded.model, loaded.data, str(user_id), k)
            rows.extend(exports.explanation_rows(explained))
            records.append(exports.explanation_record(explained, top_history=5, top_features=5))
            if index % 25 == 0:
                progress.progress((index + 1) / len(users), text=f"Explaining every user… {index + 1:,}/{len(users):,}")
        progress.empty()
        ready = (key, exports.to_csv(rows), exports.to_json(exports.model_summary(context.model), records))
        st.session_state[state.EXPLORE_EXPORT_ALL] = ready
    st.download_button("All users · CSV", ready[1], file_name="recommendations-all-users.csv", mime="text/csv", key="explore.download_all_csv")
    st.download_button("All users · JSON (top 5 reasons)", ready[2], file_name="recommendations-all-users.json",
                       mime="application/json", key="explore.download_all_json")  # fmt: skip

