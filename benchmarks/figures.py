"""Plotly figures for docs/BENCHMARKS.md, saved as HTML under docs/benchmarks/ (plotly.js from its CDN).

Every figure carries a footer naming the machine, the versions, the load and the command, so a copy
that travels without the page still says where its numbers came from. Fixed div ids keep regenerated
files diff-friendly.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

from benchmarks.environment import describe

FIGURE_DIR = Path(__file__).resolve().parent.parent / "docs" / "benchmarks"


def _footer(fig, env: dict) -> None:
    lines = textwrap.wrap(f"{describe(env)}. Command: {env['command']}", 150)
    fig.add_annotation(text="<br>".join(lines), xref="paper", yref="paper", x=0, y=-0.2, xanchor="left", yanchor="top",
                       showarrow=False, align="left", font={"size": 10, "color": "#555"})  # fmt: skip
    fig.update_layout(margin={"b": 90 + 14 * len(lines)}, template="plotly_white")


def save(fig, name: str, env: dict) -> str:
    """Write docs/benchmarks/<name>.html and return its path relative to docs/."""
    _footer(fig, env)
    FIGURE_DIR.mkdir(parents=True, exist_ok=True)
    fig.write_html(FIGURE_DIR / f"{name}.html", include_plotlyjs="cdn", full_html=True, div_id=name)
    return f"benchmarks/{name}.html"


def quality_bars(rows: list[dict], env: dict, targets: dict[str, float]) -> str:
    import plotly.graph_objects as go

    rows = sorted(rows, key=lambda row: row["metrics"]["ndcg@10"][0])
    colours = ["#1f77b4" if row["kind"] == "attention" else "#999999" for row in rows]
    fig = go.Figure(go.Bar(
        x=[row["metrics"]["ndcg@10"][0] for row in rows], y=[f"{row['label']} (n={row['n']})" for row in rows],
        orientation="h", marker_color=colours,
        error_x={"type": "data", "array": [row["metrics"]["ndcg@10"][1] for row in rows]},
    ))  # fmt: skip
    for name, value in targets.items():
        fig.add_vline(x=value, line_dash="dash", annotation_text=name, annotation_position="top")
    fig.update_layout(title="NDCG@10 on movielens-small (test, full ranking): mean ± std over seeds",
                      xaxis_title="NDCG@10", height=200 + 28 * len(rows))  # fmt: skip
    return save(fig, "quality-ndcg", env)


def latency_bars(measures: list[tuple[str, dict, float | None]], env: dict) -> str:
    """measures: (label, {"p50", "p95"} in ms, target ms or None)."""
    import plotly.graph_objects as go

    labels = [label for label, _, _ in measures]
    fig = go.Figure([
        go.Bar(name="p50", x=labels, y=[m["p50"] for _, m, _ in measures]),
        go.Bar(name="p95", x=labels, y=[m["p95"] for _, m, _ in measures]),
        go.Scatter(name="target", x=labels, y=[t for _, _, t in measures], mode="markers",
                   marker={"symbol": "line-ew-open", "size": 40, "color": "red"}),
    ])  # fmt: skip
    fig.update_layout(title="Latency on movielens-small (trained default model, one torch thread)",
                      yaxis_title="milliseconds", yaxis_type="log", barmode="group", height=480)  # fmt: skip
    return save(fig, "speed-latency", env)


def scale_costs(series: dict[str, list[tuple[int, float]]], env: dict, name: str, title: str, unit: str,
                targets: dict[str, tuple[int, float]] | None = None) -> str:  # fmt: skip
    """Log-log lines: series label -> [(interactions, value)]; targets label -> (interactions, value)."""
    import plotly.graph_objects as go

    fig = go.Figure()
    for label, points in series.items():
        points = sorted(points)
        if points:
            fig.add_trace(go.Scatter(x=[p[0] for p in points], y=[p[1] for p in points], mode="lines+markers", name=label))
    for label, (x, y) in (targets or {}).items():
        fig.add_trace(go.Scatter(x=[x], y=[y], mode="markers", name=label, marker={"symbol": "x", "size": 12, "color": "red"}))
    fig.update_layout(title=title, xaxis_title="interactions", yaxis_title=unit, xaxis_type="log", yaxis_type="log", height=520)
    return save(fig, name, env)


def split_margins(stored: dict, env: dict) -> str:
    """Forest plot: the default's NDCG@10 margin over each baseline with its bootstrap interval over test users."""
    import plotly.graph_objects as go

    rows = sorted(stored["baselines"].items(), key=lambda item: item[1]["margin"]["mean"])
    margins = [row["margin"] for _, row in rows]
    fig = go.Figure(go.Scatter(
        x=[m["mean"] for m in margins], y=[f"default − {name}" for name, _ in rows], mode="markers",
        marker={"size": 10, "color": "#1f77b4"},
        error_x={"type": "data", "symmetric": False, "array": [m["high"] - m["mean"] for m in margins],
                 "arrayminus": [m["mean"] - m["low"] for m in margins]},
    ))  # fmt: skip
    fig.add_vline(x=0.0, line_dash="dash", annotation_text="no difference", annotation_position="top")
    level = round(100 * stored["level"])
    fig.update_layout(title=f"NDCG@10 margin of the default model over each baseline, {level}% interval over the "
                            f"{stored['n_users']} test users (paired bootstrap)",
                      xaxis_title="NDCG@10 margin", height=360 + 40 * len(rows))  # fmt: skip
    return save(fig, "quality-split-margins", env)
