"""Pure chart builders: plain data in, a Plotly Figure out. No st.* calls and no torch here.

Why pure: every chart can be tested by comparing its traces with its inputs, and views stay thin.
Why one dict per figure: Plotly validates a figure built in one go ~10x faster than one assembled with
update_layout/update_xaxes/make_subplots (measured 3 ms vs 30-70 ms), and Explore draws seven charts per
rerun within a 300 ms budget. No template either: st.plotly_chart applies Streamlit's theme.
All text that comes from data (titles, attribute values, ids) goes through `plot_text`, so Plotly
shows it literally instead of interpreting its small HTML subset.
"""

from __future__ import annotations

import html
from collections.abc import Sequence
from typing import Any

import numpy as np
import pandas as pd
import plotly.colors as plotly_colours
import plotly.graph_objects as go

ACCENT = "#d62728"  # the selected item, wherever it appears
BASE = "#1f77b4"
NEGATIVE = "#ff7f0e"  # a contribution that lowers the score
MUTED = "#aab4c3"
PALETTE = tuple(plotly_colours.qualitative.D3) + tuple(plotly_colours.qualitative.Dark24)  # 34 distinct colours
NONE_COLOUR = "#c7c7c7"  # items without a value for the colouring attribute
Trace = dict[str, Any]


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


def _figure(traces: list[Trace], title: str, height: int, **layout: Any) -> go.Figure:
    spec = {"title": {"text": title, "x": 0, "xanchor": "left", "font": {"size": 15}}, "height": height,
            "margin": {"l": 10, "r": 10, "t": 56, "b": 10}, **layout}  # fmt: skip
    return go.Figure({"data": traces, "layout": spec})


def _axis(title: str | None = None, **extra: Any) -> dict[str, Any]:
    return {"title": {"text": title}, **extra} if title else dict(extra)


def _subtitle(text: str, x: float, y: float) -> dict[str, Any]:
    """A subplot title as a paper-anchored annotation (make_subplots' titles without its cost)."""
    return {"text": text, "x": x, "y": y, "xref": "paper", "yref": "paper", "showarrow": False,
            "xanchor": "center", "yanchor": "bottom", "font": {"size": 12}}  # fmt: skip


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
    contribution_arr = np.asarray(contributions, dtype=float)  # (T,)
    labels = steps_back_labels(titles)
    order = np.argsort(-weights_arr, kind="stable")[:top_n]
    bar = {"type": "bar", "orientation": "h", "x": weights_arr[order], "y": [labels[i] for i in order], "marker": {"color": BASE},
           "customdata": [[float(contribution_arr[i]), plot_text(titles[i])] for i in order],
           "hovertemplate": "%{customdata[1]}<br>weight %{x:.4f}<br>contribution to score %{customdata[0]:.4f}<extra></extra>"}  # fmt: skip
    kind = "softmax: the window's weights sum to 1" if normalised else "sigmoid: unnormalised, each in (0, 1)"
    shown = f"top {len(order)} of {len(weights_arr)}" if len(order) < len(weights_arr) else f"all {len(order)}"
    return _figure([bar], f"Past items that drove “{short(target_title, 48)}” ({shown})", 120 + 24 * len(order),
                   yaxis=_axis(autorange="reversed"), xaxis=_axis(f"attention weight ({kind})"))  # fmt: skip


def history_contribution_chart(
    titles: Sequence[str], contributions: Sequence[float], weights: Sequence[float], target_title: str, item_bias: float, top_n: int = 15
) -> go.Figure:
    """Horizontal bars of the `top_n` largest |contributions| w_t (v_t . e_c) over a chronological window,
    positive and negative in two colours; the bars plus the item bias add up to the score."""
    contribution_arr = np.asarray(contributions, dtype=float)  # (T,)
    weights_arr = np.asarray(weights, dtype=float)
    labels = steps_back_labels(titles)
    order = np.argsort(-np.abs(contribution_arr), kind="stable")[:top_n]
    bar = {"type": "bar", "orientation": "h", "x": contribution_arr[order], "y": [labels[i] for i in order],
           "marker": {"color": [BASE if contribution_arr[i] >= 0 else NEGATIVE for i in order]},
           "customdata": [[float(weights_arr[i]), plot_text(titles[i])] for i in order],
           "hovertemplate": "%{customdata[1]}<br>contribution to score %{x:.4f}<br>weight %{customdata[0]:.4f}<extra></extra>"}  # fmt: skip
    shown = f"top {len(order)} of {len(contribution_arr)}" if len(order) < len(contribution_arr) else f"all {len(order)}"
    return _figure([bar], f"Past items' contributions to “{short(target_title, 44)}” ({shown})", 120 + 24 * len(order),
                   yaxis=_axis(autorange="reversed"),
                   xaxis=_axis(f"contribution w·(v·e) to the score (all of them + item bias {item_bias:+.3f} = score)"))  # fmt: skip


def feature_attention_chart(labels: Sequence[str], weights: Sequence[float], target_title: str) -> go.Figure:
    """Bars of the attention over the candidate item's attribute values (field = value)."""
    bar = {"type": "bar", "orientation": "h", "x": list(weights), "y": [short(label, 36) for label in labels],
           "marker": {"color": "#2ca02c"}, "hovertemplate": "%{y}<br>weight %{x:.4f}<extra></extra>"}  # fmt: skip
    return _figure([bar], f"Attributes that shaped “{short(target_title, 40)}”", 120 + 24 * max(len(labels), 1),
                   yaxis=_axis(autorange="reversed"), xaxis=_axis("attention over the item's attributes (softmax)"))  # fmt: skip


def score_chart(titles: Sequence[str], scores: Sequence[float], item_ids: Sequence[str], selected: str | None) -> go.Figure:
    """Recommendation scores in rank order (best at the top); click a bar to select its item."""
    labels = [f"{rank}. {short(title, 44)}" for rank, title in enumerate(titles, start=1)]
    bar = {"type": "bar", "orientation": "h", "x": list(scores), "y": labels, "customdata": list(item_ids),
           "marker": {"color": [ACCENT if item_id == selected else BASE for item_id in item_ids]},
           "hovertemplate": "%{y}<br>score %{x:.4f}<extra>click to explain</extra>"}  # fmt: skip
    return _figure([bar], "Recommendation scores (click a bar to explain it)", 110 + 26 * len(labels),
                   yaxis=_axis(autorange="reversed"), xaxis=_axis("score"), clickmode="event+select")  # fmt: skip


def attention_heatmap(
    rec_titles: Sequence[str], history_titles: Sequence[str], weights: np.ndarray, selected_row: int | None, last_n: int = 20
) -> go.Figure:
    """Target attention of each recommendation (rows) over the most recent `last_n` history items (columns)."""
    weights = np.asarray(weights, dtype=float)  # (K, T)
    start = max(weights.shape[1] - last_n, 0)
    columns = steps_back_labels(history_titles, 18)[start:]
    rows = [f"{rank}. {short(title, 30)}" for rank, title in enumerate(rec_titles, start=1)]
    heat = {"type": "heatmap", "z": weights[:, start:], "x": columns, "y": rows, "colorscale": "Blues",
            "colorbar": {"title": {"text": "weight"}}, "hovertemplate": "%{y}<br>looking at %{x}<br>weight %{z:.4f}<extra></extra>"}  # fmt: skip
    shapes = []
    if selected_row is not None:
        shapes.append({"type": "rect", "xref": "paper", "x0": 0, "x1": 1, "yref": "y", "y0": selected_row - 0.5,
                       "y1": selected_row + 0.5, "line": {"color": ACCENT, "width": 2}})  # fmt: skip
    return _figure([heat], f"Attention of every recommendation over the last {len(columns)} history items", 240 + 24 * len(rows),
                   yaxis=_axis(autorange="reversed"), xaxis=_axis("recent history, oldest → most recent", tickangle=-40),
                   shapes=shapes)  # fmt: skip


def logits_weights_chart(titles: Sequence[str], logits: Sequence[float], weights: Sequence[float], normalised: bool) -> go.Figure:
    """Raw attention scores (top panel) and the weights they become (bottom panel), per history position."""
    last = len(titles) - 1
    positions = [f"−{last - position}" for position in range(len(titles))]
    names = [plot_text(title) for title in titles]
    traces = [
        {"type": "bar", "x": positions, "y": list(logits), "yaxis": "y", "marker": {"color": MUTED}, "customdata": names,
         "hovertemplate": "%{customdata} (%{x})<br>logit %{y:.4f}<extra></extra>"},
        {"type": "bar", "x": positions, "y": list(weights), "yaxis": "y2", "marker": {"color": BASE}, "customdata": names,
         "hovertemplate": "%{customdata} (%{x})<br>weight %{y:.4f}<extra></extra>"},
    ]  # fmt: skip
    weight_title = "weight = softmax(logits)" if normalised else "weight = sigmoid(logit), unnormalised"
    return _figure(traces, "Steps 2–3: raw attention scores and weights", 420, showlegend=False,
                   xaxis=_axis("history item, steps back from the most recent (hover for the title)", anchor="y2"),
                   yaxis=_axis(domain=[0.58, 1.0]), yaxis2=_axis(domain=[0.0, 0.42]),
                   annotations=[_subtitle("raw score (logit) per history item", 0.5, 1.0), _subtitle(weight_title, 0.5, 0.42)])  # fmt: skip


def score_waterfall(
    titles: Sequence[str], contributions: Sequence[float], item_bias: float, score: float, top_n: int = 8
) -> go.Figure:
    """Waterfall from 0 to the score: the largest per-item contributions, the rest, the item bias.

    contribution_t = w_t * (v_t . e_c), so the bars add up exactly to interest . candidate + bias."""
    values = np.asarray(contributions, dtype=float)  # (T,)
    labels = steps_back_labels(titles, 26)
    keep = np.argsort(-np.abs(values), kind="stable")[:top_n]  # largest first
    rest = np.setdiff1d(np.arange(len(values)), keep)
    names = [labels[i] for i in keep] + ([f"{len(rest)} other items"] if len(rest) else []) + ["item bias", "score"]
    steps = [float(values[i]) for i in keep] + ([float(values[rest].sum())] if len(rest) else []) + [float(item_bias), float(score)]
    fall = {"type": "waterfall", "x": names, "y": steps, "measure": ["relative"] * (len(steps) - 1) + ["total"],
            "connector": {"line": {"color": MUTED}}, "increasing": {"marker": {"color": "#2ca02c"}},
            "decreasing": {"marker": {"color": ACCENT}}, "totals": {"marker": {"color": BASE}},
            "hovertemplate": "%{x}<br>%{y:.4f}<extra></extra>"}  # fmt: skip
    return _figure([fall], "Step 5: contributions w·(v·e) + item bias = score", 380, showlegend=False,
                   xaxis=_axis(tickangle=-35, tickfont={"size": 10}))  # fmt: skip


def self_attention_grid(maps: Sequence[np.ndarray], titles: Sequence[str], last_n: int = 20) -> go.Figure:
    """One heatmap per layer (rows) × head (columns): how each recent history item (query, row) reads
    the earlier ones (key, column); causal, so the upper triangle is zero. maps: per layer (H, T, T)."""
    n_layers, n_heads = len(maps), (int(np.asarray(maps[0]).shape[0]) if len(maps) else 1)
    start = max(len(titles) - last_n, 0)
    labels = steps_back_labels(titles, 14)[start:]
    gap_x, gap_y = 0.1, 0.14
    width, height = (1 - gap_x * (n_heads - 1)) / n_heads, (1 - gap_y * (max(n_layers, 1) - 1)) / max(n_layers, 1)
    traces, layout, notes = [], {}, []
    for layer, layer_map in enumerate(maps):
        for head in range(n_heads):
            index = layer * n_heads + head + 1
            suffix = "" if index == 1 else str(index)
            x0, y1 = head * (width + gap_x), 1 - layer * (height + gap_y)
            traces.append({"type": "heatmap", "z": np.asarray(layer_map[head])[start:, start:], "x": labels, "y": labels,
                           "xaxis": f"x{suffix}", "yaxis": f"y{suffix}", "coloraxis": "coloraxis",
                           "hovertemplate": "%{y} reads %{x}<br>weight %{z:.3f}<extra></extra>"})  # fmt: skip
            layout[f"xaxis{suffix}"] = {"domain": [max(x0, 0.0), min(x0 + width, 1.0)], "anchor": f"y{suffix}", "tickangle": -50, "tickfont": {"size": 8}}
            layout[f"yaxis{suffix}"] = {"domain": [max(y1 - height, 0.0), min(y1, 1.0)], "anchor": f"x{suffix}", "autorange": "reversed", "tickfont": {"size": 8}}
            notes.append(_subtitle(f"layer {layer + 1} · head {head + 1}", x0 + width / 2, y1))
    return _figure(traces, f"Self-attention inside the history (last {len(labels)} items)", 80 + 440 * max(n_layers, 1),
                   coloraxis={"colorscale": "Purples", "colorbar": {"title": {"text": "weight"}}}, annotations=notes, **layout)  # fmt: skip


def item_hover(titles: Sequence[str], details: Sequence[str]) -> np.ndarray:
    """'Title<br>attributes' per item, escaped for Plotly. Built once per catalogue and indexed per user:
    escaping a long history point by point took ~5 µs a point (14 ms for a 2,700-item history)."""
    return np.array([f"{plot_text(title)}<br>{plot_text(detail)}" for title, detail in zip(titles, details)], dtype=object)


def rating_lines(ratings: Sequence[float]) -> np.ndarray:
    """'<br>rating 4.5' per point ('' when unrated), one format per distinct rating rather than per point."""
    rating = np.asarray(ratings, dtype=float)
    finite = np.isfinite(rating)
    lines = np.full(len(rating), "", dtype=object)
    if finite.any():
        values, inverse = np.unique(rating[finite], return_inverse=True)
        lines[finite] = np.array([f"<br>rating {value:g}" for value in values], dtype=object)[inverse]
    return lines


def history_timeline(
    times_s: Sequence[float] | None, hover: Sequence[str], ratings: Sequence[float], in_window: Sequence[bool],
) -> go.Figure:  # fmt: skip
    """A user's history: time (or file order when `times_s` is None) against rating; the model's input window
    highlighted. `hover` holds item_hover's text of each point's item. Times go out as epoch milliseconds
    on a date axis: numbers serialise several times faster than datetimes (a history can have thousands)."""
    rating = np.asarray(ratings, dtype=float)
    has_timestamps = times_s is not None
    x = np.asarray(times_s, dtype=float) * 1000.0 if has_timestamps else np.arange(1, len(rating) + 1)
    has_ratings = bool(np.isfinite(rating).any())
    y = np.where(np.isfinite(rating), rating, 1.0)
    window = np.asarray(in_window, dtype=bool)
    text = np.asarray(hover, dtype=object) + rating_lines(rating)
    traces = []
    for in_model, name, colour in ((False, "earlier history", MUTED), (True, "in the model's window", BASE)):
        part = window == in_model
        traces.append({"type": "scattergl", "mode": "markers", "name": name, "x": x[part], "y": y[part], "text": text[part],
                       "marker": {"color": colour, "size": 7}, "hovertemplate": "%{text}<br>%{x}<extra></extra>"})  # fmt: skip
    xaxis = _axis("time", type="date") if has_timestamps else _axis("position in file order (no timestamps)")
    return _figure(traces, f"History: {len(x):,} interactions", 300, xaxis=xaxis,
                   yaxis=_axis("rating" if has_ratings else None, showticklabels=has_ratings),
                   legend={"orientation": "h", "y": 1.12, "x": 1, "xanchor": "right"})  # fmt: skip


# --- data overview charts ---------------------------------------------------------------------------


NICE_STEPS = (1, 2, 5)  # tick mantissas on a log axis: 1, 2, 5, 10, 20, 50, ...


def log_ticks(low: float, high: float, max_ticks: int = 9) -> list[int]:
    """Round tick values covering [low, high] on a log axis: 1-2-5 steps, or only powers of ten when
    those would be more than `max_ticks`. Plotly's own log ticks label 2 and 5 with a bare digit ('5'
    beside '100'), which reads as a different number."""
    low, high = max(low, 1.0), max(high, 1.0)
    decades = range(int(np.floor(np.log10(low))), int(np.floor(np.log10(high))) + 1)
    for mantissas in (NICE_STEPS, (1,)):
        ticks = [m * 10**d for d in decades for m in mantissas if low <= m * 10**d <= high]
        if len(ticks) <= max_ticks:
            break
    return ticks or sorted({int(np.ceil(low)), int(np.floor(high))})  # no round value inside: the ends


def log_histogram(values: Sequence[int], title: str, x_title: str, y_title: str, n_bins: int = 24) -> go.Figure:
    """Histogram of positive counts in logarithmic bins: bars on a log10 x axis, counts on a log y axis.

    Bins are [low, high) with integer edges from the smallest value up, so each integer value falls in
    exactly one bar and the axis starts where the data does. Both axes carry round, fully written ticks
    (log_ticks); the y axis reaches below 1 so a bar holding a single user or item still shows."""
    values_arr = np.asarray(values, dtype=float)
    top = max(float(values_arr.max()) if len(values_arr) else 1.0, 1.0)
    bottom = max(float(values_arr.min()) if len(values_arr) else 1.0, 1.0)
    edges = np.unique(np.floor(np.logspace(np.log10(bottom), np.log10(top + 1), n_bins + 1)))
    edges = np.unique(np.concatenate([[np.floor(bottom)], edges, [top + 1]]))
    counts, _ = np.histogram(values_arr, bins=edges)
    lows, highs = np.log10(edges[:-1]), np.log10(edges[1:])
    x_ticks = log_ticks(edges[0], edges[-1])
    y_ticks = log_ticks(1, max(int(counts.max()) if len(counts) else 1, 1))
    bar = {"type": "bar", "x": (lows + highs) / 2, "y": counts, "width": (highs - lows) * 0.94, "marker": {"color": BASE},
           "customdata": np.stack([edges[:-1], edges[1:] - 1], axis=-1),
           "hovertemplate": "%{customdata[0]:,.0f}–%{customdata[1]:,.0f}: %{y:,}<extra></extra>"}  # fmt: skip
    y_top = np.log10(max(y_ticks[-1], int(counts.max()) if len(counts) else 1)) + 0.1
    return _figure([bar], title, 320, bargap=0,
                   yaxis=_axis(y_title, type="log", tickvals=y_ticks, ticktext=[f"{t:,}" for t in y_ticks], range=[np.log10(0.5), y_top]),
                   xaxis=_axis(x_title, tickvals=np.log10(x_ticks), ticktext=[f"{t:,}" for t in x_ticks], range=[lows[0], highs[-1]]))  # fmt: skip


def value_counts_chart(values: Sequence[float], title: str, x_title: str) -> go.Figure:
    """Bars of how often each distinct value occurs (e.g. ratings)."""
    distinct, counts = np.unique(np.asarray(values, dtype=float), return_counts=True)
    bar = {"type": "bar", "x": distinct, "y": counts, "marker": {"color": BASE}, "hovertemplate": "%{x}: %{y:,}<extra></extra>"}
    return _figure([bar], title, 320, xaxis=_axis(x_title), yaxis=_axis("interactions"))


def activity_chart(timestamps_s: Sequence[int], title: str) -> go.Figure:
    """Interactions per month from Unix-second timestamps."""
    months = np.asarray(timestamps_s, dtype="int64").astype("datetime64[s]").astype("datetime64[M]")
    distinct, counts = np.unique(months, return_counts=True)
    line = {"type": "scatter", "mode": "lines", "fill": "tozeroy", "x": distinct.astype("datetime64[D]").astype(str), "y": counts,
            "line": {"color": BASE}, "hovertemplate": "%{x|%b %Y}: %{y:,}<extra></extra>"}  # fmt: skip
    return _figure([line], title, 320, yaxis=_axis("interactions per month"))


# --- evaluation and training ------------------------------------------------------------------------


def metrics_chart(frame: pd.DataFrame, title: str) -> go.Figure:
    """Grouped bars: columns scorer, metric, value -> one bar group per metric, one colour per scorer."""
    traces = [{"type": "bar", "x": part["metric"].tolist(), "y": part["value"].tolist(), "name": plot_text(scorer),
               "marker": {"color": PALETTE[index % len(PALETTE)]}, "hovertemplate": "%{x}: %{y:.4f}<extra>%{fullData.name}</extra>"}
              for index, (scorer, part) in enumerate(frame.groupby("scorer", sort=False))]  # fmt: skip
    return _figure(traces, title, 360, barmode="group", yaxis=_axis("value (test split, full ranking)"), legend={"orientation": "h", "y": -0.15})


def segment_chart(frame: pd.DataFrame, metric: str, title: str) -> go.Figure:
    """Grouped bars per user-activity segment: columns segment, scorer, value, n_users."""
    traces = [{"type": "bar", "x": part["segment"].tolist(), "y": part["value"].tolist(), "name": plot_text(scorer),
               "customdata": part["n_users"].tolist(), "marker": {"color": PALETTE[index % len(PALETTE)]},
               "hovertemplate": "%{x} (%{customdata} users): %{y:.4f}<extra>%{fullData.name}</extra>"}
              for index, (scorer, part) in enumerate(frame.groupby("scorer", sort=False))]  # fmt: skip
    return _figure(traces, title, 340, barmode="group", xaxis=_axis("user history length (interactions)"), yaxis=_axis(metric),
                   legend={"orientation": "h", "y": -0.22})  # fmt: skip


def training_curves(steps: pd.DataFrame, epochs: pd.DataFrame) -> go.Figure:
    """Left: running training loss (steps: epoch_progress, loss). Right: validation metrics per epoch
    (epochs: epoch plus one column per metric, e.g. ndcg@10, hr@10)."""
    traces = [{"type": "scatter", "mode": "lines", "name": "loss (running mean)", "x": steps["epoch_progress"].tolist(),
               "y": steps["loss"].tolist(), "line": {"color": BASE}, "xaxis": "x", "yaxis": "y"}]  # fmt: skip
    for index, column in enumerate(c for c in epochs.columns if c not in ("epoch", "loss")):
        traces.append({"type": "scatter", "mode": "lines+markers", "name": f"valid {column}", "x": epochs["epoch"].tolist(),
                       "y": epochs[column].tolist(), "line": {"color": PALETTE[(index + 1) % len(PALETTE)]}, "xaxis": "x2", "yaxis": "y2"})  # fmt: skip
    return _figure(traces, "Training progress", 320, legend={"orientation": "h", "y": -0.25},
                   xaxis=_axis("epoch", domain=[0, 0.45], anchor="y"), yaxis=_axis(anchor="x"),
                   xaxis2=_axis("epoch", domain=[0.55, 1], anchor="y2"), yaxis2=_axis(anchor="x2"),
                   annotations=[_subtitle("training loss", 0.225, 1.0), _subtitle("validation (full ranking)", 0.775, 1.0)])  # fmt: skip


def compare_attention_chart(titles: Sequence[str], weights_a: Sequence[float], weights_b: Sequence[float],
                            name_a: str, name_b: str, last_n: int = 20) -> go.Figure:  # fmt: skip
    """Two models' attention (e.g. shares of their top-K's attention) over the same recent history, side by side."""
    start = max(len(titles) - last_n, 0)
    labels = steps_back_labels(titles, 22)[start:]
    traces = [{"type": "bar", "x": labels, "y": list(weights)[start:], "name": plot_text(name), "marker": {"color": colour},
               "hovertemplate": "%{x}<br>%{y:.4f}<extra>%{fullData.name}</extra>"}
              for name, weights, colour in ((name_a, weights_a, BASE), (name_b, weights_b, "#ff7f0e"))]  # fmt: skip
    return _figure(traces, "Where each model looks in this user's recent history", 400, barmode="group",
                   xaxis=_axis(tickangle=-40, tickfont={"size": 9}), yaxis=_axis("share of the top-K's attention"),
                   legend={"orientation": "h", "y": 1.1})  # fmt: skip


def item_map_chart(frame: pd.DataFrame, colour_title: str, variance_explained: tuple[float, float]) -> go.Figure:
    """2-D item map. frame: x, y, title, colour (category text), role ('' | 'history' | 'recommended')."""
    traces = []
    for index, category in enumerate(frame["colour"].value_counts().index.tolist()):
        part = frame[frame["colour"] == category]
        colour = NONE_COLOUR if category in ("(none)", "unknown") else PALETTE[index % len(PALETTE)]
        traces.append({"type": "scattergl", "mode": "markers", "name": short(category, 24), "x": part["x"].to_numpy(),
                       "y": part["y"].to_numpy(), "text": [plot_text(t) for t in part["title"]],
                       "marker": {"size": 5, "opacity": 0.55, "color": colour}, "hovertemplate": "%{text}<extra>%{fullData.name}</extra>"})  # fmt: skip
    for role, name, symbol, colour, size in (("history", "recent history", "circle-open", "#111111", 9),
                                             ("recommended", "recommended", "star", ACCENT, 15)):  # fmt: skip
        part = frame[frame["role"] == role]
        traces.append({"type": "scattergl", "mode": "markers", "name": name, "x": part["x"].to_numpy(), "y": part["y"].to_numpy(),
                       "text": [plot_text(t) for t in part["title"]], "hovertemplate": "%{text}<extra>%{fullData.name}</extra>",
                       "marker": {"size": size, "symbol": symbol, "color": colour, "line": {"width": 1.5, "color": colour}}})  # fmt: skip
    first, second = variance_explained
    return _figure(traces, f"Item vectors projected to 2-D (PCA), coloured by {plot_text(colour_title)}", 640,
                   xaxis=_axis(f"component 1 ({first:.0%} of variance)", zeroline=False),
                   yaxis=_axis(f"component 2 ({second:.0%} of variance)", zeroline=False), legend={"itemsizing": "constant"})  # fmt: skip


def faithfulness_curves(
    removed: Sequence[int],
    ordered_scores: Sequence[float],
    random_scores: Sequence[float],
    random_std: Sequence[float],
    reverse_scores: Sequence[float],
    rank_removed: Sequence[int],
    ordered_ranks: Sequence[int],
    random_ranks: Sequence[float],
    reverse_ranks: Sequence[int],
    view_label: str = "most-attended",
) -> go.Figure:
    """Deletion curves side by side: the item's score (left) and rank (right, log scale, #1 at the top)
    after removing n history items in the explanation's order, in random order (mean ± std) and in reverse."""
    x = list(removed)
    mean, std = np.asarray(random_scores, dtype=float), np.asarray(random_std, dtype=float)
    band = {"type": "scatter", "x": x + x[::-1], "y": list(mean + std) + list((mean - std)[::-1]), "fill": "toself",
            "fillcolor": "rgba(170,180,195,0.35)", "line": {"width": 0}, "hoverinfo": "skip", "showlegend": False,
            "name": "random ± std", "xaxis": "x", "yaxis": "y"}  # fmt: skip
    styles = ((f"{view_label} first", ACCENT, "solid"), ("random order (mean)", MUTED, "dash"), ("reverse order", BASE, "dot"))
    traces: list[Trace] = [band]
    for (name, colour, dash), scores in zip(styles, (ordered_scores, random_scores, reverse_scores)):
        traces.append({"type": "scatter", "mode": "lines+markers", "x": x, "y": list(scores), "name": name, "legendgroup": name,
                       "line": {"color": colour, "dash": dash}, "xaxis": "x", "yaxis": "y",
                       "hovertemplate": "%{x} removed<br>score %{y:.4f}<extra>%{fullData.name}</extra>"})  # fmt: skip
    for (name, colour, dash), ranks in zip(styles, (ordered_ranks, random_ranks, reverse_ranks)):
        traces.append({"type": "scatter", "mode": "lines+markers", "x": list(rank_removed), "y": list(ranks), "name": name,
                       "legendgroup": name, "showlegend": False, "line": {"color": colour, "dash": dash}, "xaxis": "x2", "yaxis": "y2",
                       "hovertemplate": "%{x} removed<br>rank #%{y:.0f}<extra>%{fullData.name}</extra>"})  # fmt: skip
    return _figure(traces, "Deletion test: the item's score and rank as history items are removed", 360,
                   xaxis=_axis("history items removed", domain=[0, 0.45]), yaxis=_axis("score"),
                   xaxis2=_axis("history items removed", domain=[0.55, 1], anchor="y2"),
                   yaxis2=_axis("rank (log)", anchor="x2", type="log", autorange="reversed"),
                   legend={"orientation": "h", "y": -0.25},
                   annotations=[_subtitle("score", 0.225, 1.0), _subtitle("rank among unseen items", 0.775, 1.0)])  # fmt: skip
