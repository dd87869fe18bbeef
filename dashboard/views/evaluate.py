"""Evaluate: models and baselines side by side on the test split (full ranking), per user-activity
segment, and two models' recommendations and attention for the same user.
"""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard import analysis, charts, components, resources, state, whatif
from dashboard.analysis import BASELINE_LABELS, EvalSummary
from engine.registry import ModelRecord

TABLE_METRICS = ("hr@10", "ndcg@10", "mrr@10", "hr@20", "ndcg@20", "mrr@20", "coverage@10", "popularity@10")
CHART_METRICS = ("hr@10", "ndcg@10", "mrr@10", "hr@20", "ndcg@20")
DEFAULT_BASELINES = ("pop", "itemknn", "ease")


def render() -> None:
    st.title("Evaluate")
    context = state.context()
    if context is None or context.dataset is None:
        st.info("No dataset is stored yet.")
        return
    records = resources.models(context.db_path, context.dataset.name, resources.job_registry().generation)
    _leaderboard(context, records)
    _compare(context, records)
    _faithfulness_report(context, records)


def _init_multiselect(key: str, options: list[str], default: list[str]) -> None:
    current = st.session_state.get(key)
    if current is None:
        st.session_state[key] = default
    else:
        st.session_state[key] = [value for value in current if value in options]


def _leaderboard(context: state.Context, records: list[ModelRecord]) -> None:
    st.caption("Test split: each user's last interaction is the target, every catalogue item is ranked (full ranking, no "
               "sampled negatives) and items the user has already seen are excluded. Baselines use the very same split.")  # fmt: skip
    names = [record.name for record in records]
    _init_multiselect(state.EVALUATE_MODELS, names, [context.model.name] if context.model else names[:1])
    _init_multiselect(state.EVALUATE_BASELINES, list(BASELINE_LABELS), list(DEFAULT_BASELINES))
    left, right = st.columns(2)
    chosen = left.multiselect("Models", names, key=state.EVALUATE_MODELS)
    baselines = right.multiselect("Baselines", list(BASELINE_LABELS), key=state.EVALUATE_BASELINES, format_func=BASELINE_LABELS.get,
                                  help="BPR-MF trains for a while on the first request; the others take a second or two.")  # fmt: skip
    summaries = _summaries(context, [r for r in records if r.name in chosen], baselines)
    if not summaries:
        st.info("Choose at least one model or baseline.")
        return
    table = pd.DataFrame([{"scorer": s.label, **{m: s.metrics.get(m) for m in TABLE_METRICS}, "users": s.n_users} for s in summaries])
    st.dataframe(table, hide_index=True, key="evaluate.table",
                 column_config={m: st.column_config.NumberColumn(format="%.4f") for m in TABLE_METRICS})  # fmt: skip
    long = pd.DataFrame([{"scorer": s.label, "metric": m, "value": s.metrics.get(m)} for s in summaries for m in CHART_METRICS])
    st.plotly_chart(charts.metrics_chart(long, "Test metrics, full ranking"), key="evaluate.metrics_chart")
    st.subheader("By user activity")
    segments = pd.concat([s.segments.assign(scorer=s.label) for s in summaries], ignore_index=True)
    segments = segments.rename(columns={"ndcg@10": "value"})
    st.plotly_chart(charts.segment_chart(segments, "NDCG@10", "NDCG@10 by how much history the user has"), key="evaluate.segments_chart")
    st.caption("Users are grouped by the length of the history the scorer saw; light users are the hard cases for every method.")


def _summaries(context: state.Context, records: list[ModelRecord], baselines: list[str]) -> list[EvalSummary]:
    info = context.dataset
    summaries = []
    with st.spinner("Evaluating on the test split (cached after the first time)…"):
        for record in records:
            summaries.append(analysis.evaluate_model(context.db_path, *resources.model_key(record)))
        for baseline in baselines:
            try:
                summaries.append(analysis.evaluate_baseline(context.db_path, info.name, info.fingerprint, baseline))
            except (ValueError, RuntimeError) as error:
                st.error(components.md_escape(f"{BASELINE_LABELS[baseline]} could not be evaluated: {error}"))
    return summaries


def _compare(context: state.Context, records: list[ModelRecord]) -> None:
    st.subheader("Two models, one user")
    if len(records) < 2:
        st.info("Train a second model (for instance with another scorer) on the Train page to compare two models here.")
        return
    if context.user_id is None:
        st.info("Pick a user in the sidebar.")
        return
    by_name = {record.name: record for record in records}
    names = list(by_name)
    first = context.model.name if context.model else names[0]
    for key, default in ((state.EVALUATE_COMPARE_A, first), (state.EVALUATE_COMPARE_B, next(n for n in names if n != first))):
        if st.session_state.get(key) not in names:
            st.session_state[key] = default
    left, right = st.columns(2)
    name_a = left.selectbox("Model A", names, key=state.EVALUATE_COMPARE_A, format_func=lambda n: components.model_label(by_name[n]))
    name_b = right.selectbox("Model B", names, key=state.EVALUATE_COMPARE_B, format_func=lambda n: components.model_label(by_name[n]))
    explained = [resources.explanation(context.db_path, *resources.model_key(by_name[n]), context.user_id, 10) for n in (name_a, name_b)]
    ids = [set(e.top_item_ids()) for e in explained]
    st.metric(components.md_escape(f"Shared recommendations for user {context.user_id}"), f"{len(ids[0] & ids[1])} of {len(explained[0].recommendations)}")
    left, right = st.columns(2)
    for column, explanation, other in zip((left, right), explained, reversed(ids)):
        frame = pd.DataFrame({"rank": [r.rank for r in explanation.recommendations], "title": [r.title for r in explanation.recommendations],
                              "score": [r.score for r in explanation.recommendations],
                              "also in the other": ["yes" if r.item_id in other else "" for r in explanation.recommendations]})  # fmt: skip
        column.dataframe(frame, hide_index=True, key=f"evaluate.compare_table_{'ab'[explanation is explained[1]]}")
    _compare_attention(context, explained, name_a, name_b)


def _compare_attention(context: state.Context, explained: list, name_a: str, name_b: str) -> None:
    loaded = resources.loaded_model(context.db_path, *resources.model_key(context.model)) if context.model else None
    common = min(len(e.history_items) for e in explained)
    if common == 0 or loaded is None:
        return
    titles = loaded.data.item_titles[explained[0].history_items[-common:]].tolist()
    shares = [attention_share(e.weights, common) for e in explained]
    st.plotly_chart(charts.compare_attention_chart(titles, shares[0], shares[1], name_a, name_b), key="evaluate.compare_attention")
    st.caption(f"Share of each model's attention (mean over its top-10) that falls on each of the last {common} items both "
               f"models read; an even spread gives {1 / common:.3f} each. Shares, not raw weights, so that a sigmoid model's "
               "unnormalised weights compare with a softmax model's.")  # fmt: skip


REPORT_VIEWS = {"attention": "attention weights", "contribution": "contributions (weight × item score)",
                "uniform": "control: uniform weights (random order)"}  # fmt: skip


def _faithfulness_report(context: state.Context, records: list[ModelRecord]) -> None:
    """Model-level faithfulness: the deletion test averaged over a sample of users, against controls."""
    st.subheader("Does attention explain this model?")
    if not records:
        st.info("Train a model on the Train page first.")
        return
    by_name = {record.name: record for record in records}
    if st.session_state.get(state.EVALUATE_FAITHFULNESS_MODEL) not in by_name:
        st.session_state[state.EVALUATE_FAITHFULNESS_MODEL] = context.model.name if context.model and context.model.name in by_name else records[0].name
    name = st.selectbox("Model", list(by_name), key=state.EVALUATE_FAITHFULNESS_MODEL, format_func=lambda n: components.model_label(by_name[n]))
    key = resources.model_key(by_name[name])
    st.caption(f"For {whatif.REPORT_USERS} sampled users' top recommendation, history items are removed most-important first, at "
               "random and in reverse, and the score drop is compared with chance - for attention, for contributions and for two "
               "controls (uniform weights, and the same architecture untrained). Takes several seconds per model.")  # fmt: skip
    if st.session_state.get(state.EVALUATE_FAITHFULNESS_DONE) != key:
        if not st.button("Measure faithfulness", key=state.EVALUATE_FAITHFULNESS_RUN):
            return
        st.session_state[state.EVALUATE_FAITHFULNESS_DONE] = key
    report = whatif.report_for(context.db_path, by_name[name], records)
    for statement in report.statements:
        st.text(statement)
    rows = [(REPORT_VIEWS[view], summary) for view, summary in report.views.items()] + [("control: untrained model, attention", report.untrained)]
    ks = sorted({k for _, summary in rows for k in summary.comprehensiveness})
    table = pd.DataFrame([{"view": label, "score gap": s.score_gap, "± se": s.score_gap_se,
                           **{f"comprehensiveness@{k}": s.comprehensiveness.get(k) for k in ks},
                           **{f"sufficiency@{k}": s.sufficiency.get(k) for k in ks},
                           "τ occlusion": s.tau_occlusion, "τ gradient": s.tau_gradient, "pairs": s.n} for label, s in rows])  # fmt: skip
    st.dataframe(table, hide_index=True, key="evaluate.faithfulness_table",
                 column_config={c: st.column_config.NumberColumn(format="%.4f") for c in table.columns if c not in ("view", "pairs")})  # fmt: skip
    st.caption(f"Score gap = random-order AUC − ordered AUC of the score-deletion curve (> 0: the view finds what matters sooner than "
               f"chance). Preferred view for this model: {report.preferred_view}. {report.n_users} users sampled.")  # fmt: skip
    _seed_variance(by_name[name], records, report.seed_divergence)


def _seed_variance(record: ModelRecord, records: list[ModelRecord], divergence: float | None) -> None:
    """How much the attention depends on the training seed, or how to find out."""
    from engine.faithfulness_report import seed_siblings

    siblings = seed_siblings(record, records)
    st.markdown("**Seed variance of the attention**")
    if divergence is None or not siblings:
        seed = record.config.get("train", {}).get("seed", "?")
        st.info(f"No other model in this store has the same settings as {record.name} with another seed (this one used seed {seed}), "
                "so seed variance cannot be measured. Train one on the Train page with the same scorer, layers, heads, dimension "
                "and window and a different seed; this report then compares their attention over the same histories.")  # fmt: skip
        return
    seeds = ", ".join(f"{other.name} (seed {other.config.get('train', {}).get('seed', '?')})" for other in siblings)
    st.metric("Attention divergence across seeds", f"{divergence:.3f}",
              help="Mean Jensen-Shannon divergence (nats) between the models' attention over the same history for the same item: "
                   "0 = identical, 0.69 = disjoint.")  # fmt: skip
    st.text(f"Compared with {seeds}: the same users' top items, attention normalised over the window. "
            + ("Small: the attention story barely depends on the seed." if divergence < 0.05 else
               "Large enough that another seed would tell a visibly different attention story; prefer statements that hold across seeds."))  # fmt: skip


def attention_share(weights, window: int):
    """(window,) mean target attention over the top-K on the last `window` history items, scaled to sum to 1."""
    mean = weights.mean(axis=0)[-window:]  # (T,)
    total = float(mean.sum())
    return mean / total if total > 0 else mean


if __name__ == "__main__":
    render()
