"""Pure chart builders: plain data in, a Plotly Figure out. No st.* calls and no torch here.

Why pure: every chart can be tested by comparing its traces with its inputs, and views stay thin.
All text that comes from data (titles, attribute values, ids) goes through `plot_text`, so Plotly
shows it literally instead of interpreting its small HTML subset.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots

ACCENT = "#d62728"  # the selected item, wherever it appears
BASE = "#1f77b4"
MUTED = "#aab4c3"
TEMPLATE = "plotly_white"
PALETTE = ("#1f77b4", "#ff7f0e", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22",
           "#7f7f7f", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d")  # fmt: skip


def plot_text(value: object) -> str:
    """Data text made literal for Plotly: '<b>' is shown as '<b>', never as bold (or a link)."""
    return html.escape(str(value), quote=False)


def short(value: object, limit: int = 40) -> str:
    """Plot-safe text cut to `limit` characters with an ellipsis."""
    text = str(value)
    return plot_text(text if len(text) <= limit else text[: limit - 1] + "…")


def steps_back_labels(titles: Sequence[str], limit: int = 32) -> list[str]:
    """Unique axis labels for a chronological window: 'Title (−k)', k = steps before the most recent."""
    last = len(titles) - 1
    return [f"{short(title, limit)} (−{last - position})" for position, title in enumerate(titles)]


def _finish(fig: go.Figure, title: str, height: int, **layout: object) -> go.Figure:
    fig.update_layout(title={"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}}, template=TEMPLATE,
                      height=height, margin={"l": 10, "r": 10, "t": 56, "b": 10}, **layout)  # fmt: skip
    return fig


# --- explanation charts ------------------------------------------------------------------------------


def history_attention_chart(
    titles: Sequence[str],
    weights: Sequence[float],
    contributions: Sequence[float],
    target_title: str,
    normalised: bool,
    top_n: int = 15,
) -> go.Figure:
    """Horizontal bars of the `top_n` largest target-attention weights over a chronological window.

    titles/weights/contributions are aligned with the window (oldest first); bars are sorted by weight."""
    weights_arr = np.asarray(weights, dtype=float)  # (T,)
    labels = steps_back_labels(titles)
    order = np.argsort(-weights_arr, kind="stable")[:top_n]
    contribution_arr = np.asarray(contributions, dtype=float)
    fig = go.Figure(
        go.Bar(
            x=weights_arr[order], y=[labels[i] for i in order], orientation="h", marker_color=BASE,
            customdata=np.stack([contribution_arr[order], [plot_text(titles[i]) for i in order]], axis=-1),
            hovertemplate="%{customdata[1]}<br>weight %{x:.4f}<br>contribution to score %{customdata[0]:.4f}<extra></extra>",
        )  # fmt: skip
    )
    kind = "softmax: the window's weights sum to 1" if normalised else "sigmoid: unnormalised, each in (0, 1)"
    fig.update_yaxes(autorange="reversed", title=None)
    fig.update_xaxes(title=f"attention weight ({kind})")
    shown = f"top {len(order)} of {len(weights_arr)}" if len(order) < len(weights_arr) else f"all {len(order)}"
    title = f"Past items that drove “{short(target_title, 48)}” ({shown})"
    return _finish(fig, title, 120 + 24 * len(order))


def feature_attention_chart(labels: Sequence[str], weights: Sequence[float], target_title: str) -> go.Figure:
    """Bars of the attention over the candidate item's attribute values (field = value)."""
    fig = go.Figure(
        go.Bar(x=list(weights), y=[short(label, 36) for label in labels], orientation="h", marker_color="#2ca02c",
               hovertemplate="%{y}<br>weight %{x:.4f}<extra></extra>")  # fmt: skip
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="attention over the item's attributes (softmax)")
    return _finish(fig, f"Attributes that shaped “{short(target_title, 40)}”", 120 + 24 * max(len(labels), 1))


def score_chart(titles: Sequence[str], scores: Sequence[float], item_ids: Sequence[str], selected: str | None) -> go.Figure:
    """Recommendation scores in rank order (best at the top); click a bar to select its item."""
    labels = [f"{rank}. {short(title, 44)}" for rank, title in enumerate(titles, start=1)]
    colours = [ACCENT if item_id == selected else BASE for item_id in item_ids]
    fig = go.Figure(
        go.Bar(x=list(scores), y=labels, orientation="h", marker_color=colours, customdata=list(item_ids),
               hovertemplate="%{y}<br>score %{x:.4f}<extra>click to explain</extra>")  # fmt: skip
    )
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(title="score (higher ranks first)")
    return _finish(fig, "Recommendation scores", 110 + 26 * len(labels), clickmode="event+select")


def attention_heatmap(
    rec_titles: Sequence[str], history_titles: Sequence[str], weights: np.ndarray, selected_row: int | None, last_n: int = 20
) -> go.Figure:
    """Target attention of each recommendation (rows) over the most recent `last_n` history items (columns)."""
    weights = np.asarray(weights, dtype=float)  # (K, T)
    start = max(weights.shape[1] - last_n, 0)
    columns = steps_back_labels(history_titles, 22)[start:]
    rows = [f"{rank}. {short(title, 30)}" for rank, title in enumerate(rec_titles, start=1)]
    fig = go.Figure(
        go.Heatmap(z=weights[:, start:], x=columns, y=rows, colorscale="Blues", colorbar={"title": "weight"},
                   hovertemplate="%{y}<br>looking at %{x}<br>weight %{z:.4f}<extra></extra>")  # fmt: skip
    )
    if selected_row is not None:
        fig.add_shape(type="rect", xref="paper", x0=0, x1=1, yref="y", y0=selected_row - 0.5, y1=selected_row + 0.5,
                      line={"color": ACCENT, "width": 2})  # fmt: skip
    fig.update_yaxes(autorange="reversed")
    fig.update_xaxes(tickangle=-40, title="recent history, oldest → most recent")
    return _finish(fig, f"Attention of every recommendation over the last {len(columns)} history items", 200 + 24 * len(rows))


def logits_weights_chart(titles: Sequence[str], logits: Sequence[float], weights: Sequence[float], normalised: bool) -> go.Figure:
    """Raw attention scores (top) and the weights they become (bottom), per history position."""
    labels = steps_back_labels(titles, 18)
    fig = make_subplots(rows=2, cols=1, shared_xaxes=True, vertical_spacing=0.08,
                        subplot_titles=("raw score (logit) per history item",
                                        "weight = softmax(logits)" if normalised else "weight = sigmoid(logit), unnormalised"))  # fmt: skip
    fig.add_trace(go.Bar(x=labels, y=list(logits), marker_color=MUTED, name="logit",
                         hovertemplate="%{x}<br>logit %{y:.4f}<extra></extra>"), row=1, col=1)  # fmt: skip
    fig.add_trace(go.Bar(x=labels, y=list(weights), marker_color=BASE, name="weight",
                         hovertemplate="%{x}<br>weight %{y:.4f}<extra></extra>"), row=2, col=1)  # fmt: skip
    fig.update_xaxes(tickangle=-45, tickfont={"size": 9})
    return _finish(fig, "Steps 2–3: raw attention scores and weights", 460, showlegend=False)


def score_waterfall(
    titles: Sequence[str], contributions: Sequence[float], item_bias: float, score: float, top_n: int = 8
) -> go.Figure:
    """Waterfall from 0 to the score: the largest per-item contributions, the rest, the item bias.

    contribution_t = w_t * (v_t . e_c), so the bars add up exactly to interest . candidate + bias."""
    values = np.asarray(contributions, dtype=float)  # (T,)
    labels = steps_back_labels(titles, 26)
    keep = np.sort(np.argsort(-np.abs(values), kind="stable")[:top_n])
    rest = np.setdiff1d(np.arange(len(values)), keep)
    names = [labels[i] for i in keep] + ([f"{len(rest)} other items"] if len(rest) else []) + ["item bias", "score"]
    steps = [float(values[i]) for i in keep] + ([float(values[rest].sum())] if len(rest) else []) + [float(item_bias), float(score)]
    measures = ["relative"] * (len(steps) - 1) + ["total"]
    fig = go.Figure(
        go.Waterfall(x=names, y=steps, measure=measures, connector={"line": {"color": MUTED}},
                     increasing={"marker": {"color": "#2ca02c"}}, decreasing={"marker": {"color": ACCENT}},
                     totals={"marker": {"color": BASE}}, hovertemplate="%{x}<br>%{y:.4f}<extra></extra>")  # fmt: skip
    )
    fig.update_xaxes(tickangle=-35, tickfont={"size": 9})
    return _finish(fig, "Step 5: contributions w·(v·e) + item bias = score", 380, showlegend=False)


def self_attention_grid(maps: Sequence[np.ndarray], titles: Sequence[str], last_n: int = 15) -> go.Figure:
    """One heatmap per layer (rows) × head (columns): how each recent history item (query, row) reads
    the earlier ones (key, column); causal, so the upper triangle is zero."""
    n_layers, n_heads = len(maps), (maps[0].shape[0] if maps else 1)
    subtitles = [f"layer {layer + 1} · head {head + 1}" for layer in range(n_layers) for head in range(n_heads)]
    fig = make_subplots(rows=max(n_layers, 1), cols=n_heads, subplot_titles=subtitles,
                        horizontal_spacing=0.12, vertical_spacing=0.16)  # fmt: skip
    start = max(len(titles) - last_n, 0)
    labels = steps_back_labels(titles, 14)[start:]
    for layer, layer_map in enumerate(maps):
        for head in range(n_heads):
            fig.add_trace(
                go.Heatmap(z=np.asarray(layer_map[head])[start:, start:], x=labels, y=labels, coloraxis="coloraxis",
                           hovertemplate="%{y} reads %{x}<br>weight %{z:.3f}<extra></extra>"),
                row=layer + 1, col=head + 1,
            )  # fmt: skip
    fig.update_yaxes(autorange="reversed", tickfont={"size": 8})
    fig.update_xaxes(tickangle=-50, tickfont={"size": 8})
    fig.update_layout(coloraxis={"colorscale": "Purples", "colorbar": {"title": "weight"}})
    return _finish(fig, f"Self-attention inside the history (last {len(labels)} items)", 80 + 420 * max(n_layers, 1))


def history_timeline(
    times: Sequence[object], titles: Sequence[str], ratings: Sequence[float], details: Sequence[str],
    in_window: Sequence[bool], has_timestamps: bool,
) -> go.Figure:  # fmt: skip
    """A user's history: time (or file order) against rating; the model's input window highlighted."""
    frame = pd.DataFrame({"x": list(times), "title": [plot_text(t) for t in titles], "rating": list(ratings),
                          "details": [plot_text(d) for d in details], "window": list(in_window)})  # fmt: skip
    frame["y"] = frame["rating"].where(frame["rating"].notna(), 1.0)
    fig = go.Figure()
    for in_model, name, colour in ((False, "earlier history", MUTED), (True, "in the model's window", BASE)):
        part = frame[frame["window"] == in_model]
        fig.add_trace(go.Scatter(x=part["x"], y=part["y"], mode="markers", name=name, marker={"color": colour, "size": 8},
                                 customdata=part[["title", "details", "rating"]].to_numpy(),
                                 hovertemplate="%{customdata[0]}<br>%{customdata[1]}<br>rating %{customdata[2]}<br>%{x}<extra></extra>"))  # fmt: skip
    fig.update_xaxes(title="time" if has_timestamps else "position in file order (no timestamps)")
    fig.update_yaxes(title="rating" if frame["rating"].notna().any() else "")
    return _finish(fig, f"History: {len(frame)} interactions", 300, legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})


# --- data overview charts ---------------------------------------------------------------------------


def log_histogram(values: Sequence[int], title: str, x_title: str, y_title: str, n_bins: int = 30) -> go.Figure:
    """Counts of `values` in logarithmic bins, drawn on log-log axes (empty bins left out)."""
    values_arr = np.asarray(values, dtype=float)
    top = max(float(values_arr.max()) if len(values_arr) else 1.0, 1.0)
    edges = np.unique(np.floor(np.logspace(0, np.log10(top + 1), n_bins + 1)))
    edges[-1] = max(edges[-1], top + 1)
    counts, _ = np.histogram(values_arr, bins=edges)
    lows, highs = edges[:-1], edges[1:] - 1
    present = counts > 0
    fig = go.Figure(
        go.Scatter(x=np.sqrt(lows * np.maximum(highs, lows))[present], y=counts[present], mode="lines+markers",
                   line_shape="spline", customdata=np.stack([lows, highs], axis=-1)[present], marker_color=BASE,
                   hovertemplate="%{customdata[0]:.0f}–%{customdata[1]:.0f}: %{y}<extra></extra>")  # fmt: skip
    )
    fig.update_xaxes(type="log", title=x_title)
    fig.update_yaxes(type="log", title=y_title)
    return _finish(fig, title, 320)


def value_counts_chart(values: Sequence[float], title: str, x_title: str) -> go.Figure:
    """Bars of how often each distinct value occurs (e.g. ratings)."""
    distinct, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    fig = go.Figure(go.Bar(x=distinct, y=counts, marker_color=BASE, hovertemplate="%{x}: %{y}<extra></extra>"))
    fig.update_xaxes(title=x_title)
    fig.update_yaxes(title="interactions")
    return _finish(fig, title, 320)


def activity_chart(timestamps_s: Sequence[int], title: str) -> go.Figure:
    """Interactions per month from Unix-second timestamps."""
    months = np.asarray(timestamps_s, dtype="int64").astype("datetime64[s]").astype("datetime64[M]")
    distinct, counts = np.unique(months, return_counts=True)
    fig = go.Figure(go.Scatter(x=distinct.astype("datetime64[D]").astype(str), y=counts, mode="lines", fill="tozeroy",
                               line_color=BASE, hovertemplate="%{x|%b %Y}: %{y}<extra></extra>"))  # fmt: skip
    fig.update_yaxes(title="interactions per month")
    return _finish(fig, title, 320)


# --- evaluation and training ------------------------------------------------------------------------


def metrics_chart(frame: pd.DataFrame, title: str) -> go.Figure:
    """Grouped bars: columns scorer, metric, value -> one bar group per metric, one colour per scorer."""
    fig = go.Figure()
    for index, (scorer, part) in enumerate(frame.groupby("scorer", sort=False)):
        fig.add_trace(go.Bar(x=part["metric"], y=part["value"], name=plot_text(scorer),
                             marker_color=PALETTE[index % len(PALETTE)],
                             hovertemplate="%{x}: %{y:.4f}<extra>%{fullData.name}</extra>"))  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_yaxes(title="value (test split, full ranking)")
    return _finish(fig, title, 360, legend={"orientation": "h", "y": -0.15})


def segment_chart(frame: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """Grouped bars per user-activity segment: columns segment, scorer, value, n_users."""
    fig = go.Figure()
    for index, (scorer, part) in enumerate(frame.groupby("scorer", sort=False)):
        fig.add_trace(go.Bar(x=part["segment"], y=part["value"], name=plot_text(scorer), customdata=part["n_users"],
                             marker_color=PALETTE[index % len(PALETTE)],
                             hovertemplate="%{x} (%{customdata} users): %{y:.4f}<extra>%{fullData.name}</extra>"))  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_xaxes(title="user history length (interactions)")
    fig.update_yaxes(title=metric)
    return _finish(fig, title, 340, legend={"orientation": "h", "y": -0.22})


def training_curves(steps: pd.DataFrame, epochs: pd.DataFrame) -> go.Figure:
    """Left: running training loss (steps: epoch_progress, loss). Right: validation metrics per epoch
    (epochs: epoch plus one column per metric, e.g. ndcg@10, hr@10)."""
    fig = make_subplots(rows=1, cols=2, subplot_titles=("training loss", "validation (full ranking)"))
    fig.add_trace(go.Scatter(x=steps["epoch_progress"], y=steps["loss"], mode="lines", name="loss (running mean)",
                             line_color=BASE), row=1, col=1)  # fmt: skip
    metric_columns = [c for c in epochs.columns if c not in ("epoch", "loss")]
    for index, column in enumerate(metric_columns):
        fig.add_trace(go.Scatter(x=epochs["epoch"], y=epochs[column], mode="lines+markers", name=f"valid {column}",
                                 line_color=PALETTE[(index + 1) % len(PALETTE)]), row=1, col=2)  # fmt: skip
    fig.update_xaxes(title="epoch")
    return _finish(fig, "Training progress", 320, legend={"orientation": "h", "y": -0.25})


def compare_attention_chart(titles: Sequence[str], weights_a: Sequence[float], weights_b: Sequence[float],
                            name_a: str, name_b: str, last_n: int = 20) -> go.Figure:  # fmt: skip
    """Mean attention of two models' top-K over the same recent history, side by side."""
    start = max(len(titles) - last_n, 0)
    labels = steps_back_labels(titles, 22)[start:]
    fig = go.Figure()
    for name, weights, colour in ((name_a, weights_a, BASE), (name_b, weights_b, "#ff7f0e")):
        fig.add_trace(go.Bar(x=labels, y=list(weights)[start:], name=plot_text(name), marker_color=colour,
                             hovertemplate="%{x}<br>mean weight %{y:.4f}<extra>%{fullData.name}</extra>"))  # fmt: skip
    fig.update_layout(barmode="group")
    fig.update_xaxes(tickangle=-40, tickfont={"size": 9})
    fig.update_yaxes(title="mean attention over the top-K")
    return _finish(fig, "Where each model looks in this user's recent history", 380, legend={"orientation": "h", "y": 1.1})


def item_map_chart(frame: pd.DataFrame, colour_title: str, variance_explained: tuple[float, float]) -> go.Figure:
    """2-D item map. frame: x, y, title, colour (category text), role ('' | 'history' | 'recommended')."""
    fig = go.Figure()
    categories = frame["colour"].value_counts().index.tolist()
    for index, category in enumerate(categories):
        part = frame[frame["colour"] == category]
        fig.add_trace(go.Scattergl(x=part["x"], y=part["y"], mode="markers", name=short(category, 24),
                                   marker={"size": 5, "opacity": 0.55, "color": PALETTE[index % len(PALETTE)]},
                                   text=[plot_text(t) for t in part["title"]],
                                   hovertemplate="%{text}<extra>%{fullData.name}</extra>"))  # fmt: skip
    for role, symbol, colour, size in (("history", "circle-open", "#111111", 10), ("recommended", "star", ACCENT, 15)):
        part = frame[frame["role"] == role]
        fig.add_trace(go.Scattergl(x=part["x"], y=part["y"], mode="markers", name=f"user's {role}" if role == "history" else "recommended",
                                   marker={"size": size, "symbol": symbol, "color": colour, "line": {"width": 2, "color": colour}},
                                   text=[plot_text(t) for t in part["title"]],
                                   hovertemplate="%{text}<extra>%{fullData.name}</extra>"))  # fmt: skip
    first, second = variance_explained
    fig.update_xaxes(title=f"component 1 ({first:.0%} of variance)", zeroline=False)
    fig.update_yaxes(title=f"component 2 ({second:.0%} of variance)", zeroline=False)
    return _finish(fig, f"Item vectors projected to 2-D (PCA), coloured by {plot_text(colour_title)}", 640,
                   legend={"itemsizing": "constant"})  # fmt: skip
