"""Chart builders are pure functions: the traces they return carry exactly the numbers given to them."""

from __future__ import annotations

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest

from dashboard import charts

TITLES = ["Alien (1979)", "Heat (1995)", "<b>Bold</b> & co", "Up (2009)"]


def test_plot_text_shows_markup_literally() -> None:
    assert charts.plot_text("<script>alert(1)</script>") == "&lt;script&gt;alert(1)&lt;/script&gt;"
    assert charts.short("x" * 50, 10) == "x" * 9 + "…"
    assert charts.steps_back_labels(["a", "b", "c"]) == ["a (−2)", "b (−1)", "c (−0)"]


def test_history_attention_chart_sorts_weights_and_keeps_contributions() -> None:
    weights, contributions = [0.1, 0.4, 0.2, 0.3], [0.5, -1.0, 2.0, 0.25]
    fig = charts.history_attention_chart(TITLES, weights, contributions, "Target", normalised=True, top_n=3)
    bar = fig.data[0]
    assert isinstance(fig, go.Figure)
    assert list(bar.x) == [0.4, 0.3, 0.2]
    assert list(bar.y) == ["Heat (1995) (−2)", "Up (2009) (−0)", "&lt;b&gt;Bold&lt;/b&gt; &amp; co (−1)"]
    assert [row[0] for row in bar.customdata] == [-1.0, 0.25, 2.0]
    assert "top 3 of 4" in fig.layout.title.text and "softmax" in fig.layout.xaxis.title.text
    unnormalised = charts.history_attention_chart(TITLES, weights, contributions, "Target", normalised=False)
    assert "unnormalised" in unnormalised.layout.xaxis.title.text and len(unnormalised.data[0].x) == 4


def test_history_contribution_chart_sorts_by_size_and_colours_by_sign() -> None:
    weights, contributions = [0.1, 0.4, 0.2, 0.3], [0.5, -1.0, 2.0, 0.25]
    fig = charts.history_contribution_chart(TITLES, contributions, weights, "Target", item_bias=0.125, top_n=3)
    bar = fig.data[0]
    assert list(bar.x) == [2.0, -1.0, 0.5]
    assert list(bar.y) == ["&lt;b&gt;Bold&lt;/b&gt; &amp; co (−1)", "Heat (1995) (−2)", "Alien (1979) (−3)"]
    assert list(bar.marker.color) == [charts.BASE, charts.NEGATIVE, charts.BASE]
    assert [row[0] for row in bar.customdata] == [0.2, 0.4, 0.1]
    assert "top 3 of 4" in fig.layout.title.text and "+0.125" in fig.layout.xaxis.title.text


def test_feature_and_score_charts_carry_their_inputs() -> None:
    fig = charts.feature_attention_chart(["genre = Drama", "year = 1995"], [0.7, 0.3], "Heat")
    assert list(fig.data[0].x) == [0.7, 0.3] and list(fig.data[0].y) == ["genre = Drama", "year = 1995"]
    scores = charts.score_chart(TITLES[:3], [3.0, 2.5, 1.0], ["10", "20", "30"], selected="20")
    assert list(scores.data[0].x) == [3.0, 2.5, 1.0]
    assert list(scores.data[0].customdata) == ["10", "20", "30"]
    assert list(scores.data[0].marker.color) == [charts.BASE, charts.ACCENT, charts.BASE]


def test_attention_heatmap_keeps_the_most_recent_columns() -> None:
    weights = np.arange(12, dtype=float).reshape(3, 4)  # (K=3, T=4)
    fig = charts.attention_heatmap(TITLES[:3], TITLES, weights, selected_row=1, last_n=2)
    np.testing.assert_array_equal(np.asarray(fig.data[0].z), weights[:, 2:])
    assert list(fig.data[0].x) == ["&lt;b&gt;Bold&lt;/b&gt; &amp; co (−1)", "Up (2009) (−0)"]
    assert fig.layout.shapes[0].y0 == 0.5 and fig.layout.shapes[0].y1 == 1.5


def test_logits_weights_chart_has_one_panel_each() -> None:
    fig = charts.logits_weights_chart(TITLES, [0.1, -0.2, 0.3, 0.0], [0.2, 0.1, 0.4, 0.3], normalised=False)
    assert list(fig.data[0].y) == [0.1, -0.2, 0.3, 0.0] and list(fig.data[1].y) == [0.2, 0.1, 0.4, 0.3]
    assert list(fig.data[0].x) == ["−3", "−2", "−1", "−0"] and fig.data[1].yaxis == "y2"
    assert "sigmoid" in fig.layout.annotations[1].text


def test_score_waterfall_adds_up_to_the_score() -> None:
    contributions = np.array([0.5, -0.25, 0.125, 0.0625, 1.0])
    bias, score = 0.2, float(contributions.sum() + 0.2)
    fig = charts.score_waterfall(["a", "b", "c", "d", "e"], contributions, bias, score, top_n=2)
    fall = fig.data[0]
    assert list(fall.x) == ["e (−0)", "a (−4)", "3 other items", "item bias", "score"]
    assert list(fall.measure) == ["relative"] * 4 + ["total"]
    assert sum(fall.y[:-1]) == pytest.approx(score) and fall.y[-1] == score


def test_self_attention_grid_has_one_heatmap_per_layer_and_head() -> None:
    maps = [np.random.default_rng(layer).random((2, 4, 4)) for layer in range(2)]  # 2 layers x (H=2, T=4, T=4)
    fig = charts.self_attention_grid(maps, TITLES, last_n=3)
    assert len(fig.data) == 4
    np.testing.assert_array_equal(np.asarray(fig.data[3].z), maps[1][1][1:, 1:])
    assert [note.text for note in fig.layout.annotations] == ["layer 1 · head 1", "layer 1 · head 2", "layer 2 · head 1", "layer 2 · head 2"]
    assert fig.data[3].xaxis == "x4" and fig.layout.yaxis4.autorange == "reversed"


def test_history_timeline_splits_the_window() -> None:
    hover = charts.item_hover(TITLES, ["a", "b", "c", "d"])
    fig = charts.history_timeline(None, hover, [4.0, np.nan, 3.5, 5.0], [False, False, True, True])
    earlier, window = fig.data
    assert list(earlier.x) == [1, 2] and list(window.x) == [3, 4]
    assert list(window.y) == [3.5, 5.0] and list(earlier.y) == [4.0, 1.0]  # a missing rating is drawn at 1
    assert window.text[0] == "&lt;b&gt;Bold&lt;/b&gt; &amp; co<br>c<br>rating 3.5"
    assert earlier.text[1] == "Heat (1995)<br>b"  # no rating, no rating line
    assert "no timestamps" in fig.layout.xaxis.title.text


def test_history_timeline_puts_timestamps_on_a_date_axis() -> None:
    january, june = 1_704_067_200, 1_717_200_000  # 2024-01-01 and 2024-06-01 00:00 UTC
    fig = charts.history_timeline([january, june], charts.item_hover(TITLES[:2], ["", ""]), [5.0, 0.5], [False, True])
    earlier, window = fig.data
    assert fig.layout.xaxis.type == "date"  # epoch milliseconds on a date axis are dates in UTC
    assert list(pd.to_datetime(list(earlier.x) + list(window.x), unit="ms")) == list(pd.to_datetime([january, june], unit="s"))
    assert [earlier.text[0], window.text[0]] == ["Alien (1979)<br><br>rating 5", "Heat (1995)<br><br>rating 0.5"]


def test_rating_lines_format_each_distinct_rating() -> None:
    assert charts.rating_lines([4.0, np.nan, 3.5, 4.0]).tolist() == ["<br>rating 4", "", "<br>rating 3.5", "<br>rating 4"]
    assert charts.rating_lines([np.nan]).tolist() == [""] and charts.rating_lines([]).tolist() == []


def test_log_histogram_counts_every_value_once() -> None:
    values = [1, 1, 2, 3, 7, 10, 45, 100, 999, 1000]
    fig = charts.log_histogram(values, "t", "x", "y")
    bar = fig.data[0]
    assert int(np.sum(bar.y)) == len(values)
    lows, highs = np.asarray(bar.customdata)[:, 0], np.asarray(bar.customdata)[:, 1]
    for value in values:  # each value lies in exactly one [low, high] bin
        assert ((lows <= value) & (value <= highs)).sum() == 1
    assert fig.layout.yaxis.type == "log"


def test_log_histogram_ticks_are_round_and_written_out() -> None:
    counts = [20] * 40 + [35] * 30 + [120] * 12 + [800, 2_698]  # users with 20 to 2,698 interactions
    fig = charts.log_histogram(counts, "t", "x", "y")
    x_ticks = [round(10**v) for v in fig.layout.xaxis.tickvals]
    assert x_ticks == [20, 50, 100, 200, 500, 1_000, 2_000]
    assert list(fig.layout.xaxis.ticktext) == ["20", "50", "100", "200", "500", "1,000", "2,000"]
    assert fig.layout.xaxis.range[0] == np.log10(20)  # the axis starts at the smallest value, not at 1
    assert list(fig.layout.yaxis.tickvals) == [1, 2, 5, 10, 20] and list(fig.layout.yaxis.ticktext) == ["1", "2", "5", "10", "20"]
    assert fig.layout.yaxis.range[0] < 0  # a bar of one user (log 1 = 0) keeps a visible height
    wide = charts.log_histogram([1] * 50_000 + [10, 100, 1_000, 10_000], "t", "x", "y")
    assert list(wide.layout.yaxis.ticktext) == ["1", "10", "100", "1,000", "10,000"]  # powers of ten when 1-2-5 is too dense


def test_log_ticks() -> None:
    assert charts.log_ticks(1, 100) == [1, 2, 5, 10, 20, 50, 100]
    assert charts.log_ticks(1, 100_000) == [1, 10, 100, 1_000, 10_000, 100_000]
    assert charts.log_ticks(3, 4) == [3, 4]  # no round value inside: the ends
    assert charts.log_ticks(0, 1) == [1]


def test_value_counts_and_activity_charts() -> None:
    fig = charts.value_counts_chart([4.0, 3.5, 4.0, 5.0], "Ratings", "rating")
    assert list(fig.data[0].x) == [3.5, 4.0, 5.0] and list(fig.data[0].y) == [1, 2, 1]
    january, february = 1_704_067_200, 1_706_745_600  # 2024-01-01, 2024-02-01 (UTC)
    activity = charts.activity_chart([january, january + 5, february], "Activity")
    assert list(activity.data[0].x) == ["2024-01-01", "2024-02-01"] and list(activity.data[0].y) == [2, 1]


def test_metric_segment_and_training_charts() -> None:
    frame = pd.DataFrame({"scorer": ["m", "m", "pop", "pop"], "metric": ["hr@10", "ndcg@10"] * 2, "value": [0.1, 0.05, 0.04, 0.02]})
    fig = charts.metrics_chart(frame, "t")
    assert [trace.name for trace in fig.data] == ["m", "pop"] and list(fig.data[1].y) == [0.04, 0.02]
    segments = pd.DataFrame({"segment": ["<20", "≥20"] * 2, "scorer": ["m", "m", "pop", "pop"], "value": [0.1, 0.2, 0.3, 0.4], "n_users": [5, 7, 5, 7]})
    seg = charts.segment_chart(segments, "NDCG@10", "t")
    assert list(seg.data[0].customdata) == [5, 7] and list(seg.data[1].y) == [0.3, 0.4]
    curves = charts.training_curves(pd.DataFrame({"epoch_progress": [0.5, 1.0], "loss": [5.0, 4.0]}),
                                    pd.DataFrame({"epoch": [1.0], "ndcg@10": [0.02], "hr@10": [0.05]}))
    assert list(curves.data[0].y) == [5.0, 4.0] and [t.name for t in curves.data[1:]] == ["valid ndcg@10", "valid hr@10"]
    assert curves.data[2].xaxis == "x2"


def test_compare_and_item_map_charts() -> None:
    fig = charts.compare_attention_chart(TITLES, [0.1, 0.2, 0.3, 0.4], [0.4, 0.3, 0.2, 0.1], "a", "b", last_n=2)
    assert list(fig.data[0].y) == [0.3, 0.4] and list(fig.data[1].y) == [0.2, 0.1]
    frame = pd.DataFrame({"x": [0.0, 1.0, 2.0, 3.0], "y": [1.0, 0.0, 1.0, 0.0], "title": TITLES,
                          "colour": ["Drama", "Drama", "(none)", "Comedy"], "role": ["", "history", "recommended", ""]})
    item_map = charts.item_map_chart(frame, "genre", (0.25, 0.125))
    by_name = {trace.name: trace for trace in item_map.data}
    assert sum(len(by_name[name].x) for name in ("Drama", "(none)", "Comedy")) == len(frame)
    assert list(by_name["recent history"].x) == [1.0] and list(by_name["recommended"].text) == ["&lt;b&gt;Bold&lt;/b&gt; &amp; co"]
    assert by_name["(none)"].marker.color == charts.NONE_COLOUR
    assert "25%" in item_map.layout.xaxis.title.text


def test_faithfulness_curves_carry_the_curves() -> None:
    removed, ranks_at = [0, 1, 2, 3], [0, 2, 3]
    fig = charts.faithfulness_curves(removed, [3.0, 2.0, 1.0, 0.5], [3.0, 2.8, 2.5, 2.2], [0.0, 0.1, 0.2, 0.1], [3.0, 2.9, 2.9, 2.8],
                                     ranks_at, [1, 12, 40], [1.0, 4.5, 6.0], [1, 1, 2])  # fmt: skip
    band, ordered, random, reverse, ordered_r, random_r, reverse_r = fig.data
    assert list(band.y) == pytest.approx([3.0, 2.9, 2.7, 2.3, 2.1, 2.3, 2.7, 3.0])
    assert list(ordered.x) == removed and list(ordered.y) == [3.0, 2.0, 1.0, 0.5]
    assert list(random.y) == [3.0, 2.8, 2.5, 2.2] and list(reverse.y) == [3.0, 2.9, 2.9, 2.8]
    assert list(ordered_r.x) == ranks_at and list(ordered_r.y) == [1, 12, 40]
    assert list(random_r.y) == [1.0, 4.5, 6.0] and list(reverse_r.y) == [1, 1, 2]
    assert fig.layout.yaxis2.type == "log"
