"""The scale section of docs/BENCHMARKS.md: one column per synthetic size, log-log figures of cost and memory."""

from __future__ import annotations

from benchmarks import figures
from benchmarks.environment import describe

ORDER = ("100k", "1M", "5M", "25M")
STAGE_WHY = {
    "load_data": "engine.service.load_data has DuckDB number the ids and sort the rows (engine.interaction_arrays) "
                 "and builds flat per-user arrays from three int64 columns (engine.dataset.sequence_data_from_arrays)",
    "train": "engine.train.train plans each epoch's windows with numpy (two numbers per window) and gathers each "
             "batch's rows when it runs (engine.windows)",
    "evaluate": "evaluate scores (256 x catalogue) per batch; validation during training ranks at most "
                "TrainConfig.valid_users users",
    "explain": "explain_user scores the whole catalogue for one user (score_all: for dot and sigmoid, one "
               "(2T, D) x (D, chunk) product per cache-sized chunk of items gives logits and relevance)",
}  # fmt: skip


def _clock(entry: dict, stage: str) -> str:
    clock = entry["probe"]["clocks"][stage]
    return f"{clock['wall_seconds']:,.1f} / {clock['cpu_seconds']:,.1f} ({clock['load_start']} -> {clock['load_end']})"


def _row(label: str, entries: dict, pick, pattern: str = "{:,.1f}") -> str:
    cells = []
    for size in entries:
        try:
            value = pick(entries[size])
            cells.append("—" if value is None else pattern.format(value))
        except (KeyError, TypeError, ZeroDivisionError):
            cells.append("pending")
    return f"| {label} | " + " | ".join(cells) + " |"


def largest_stage(probe: dict) -> tuple[str, float] | None:
    peaks = probe.get("stage_peak_mib") or {}
    return max(peaks.items(), key=lambda item: item[1]) if peaks else None


def scale_section(stored: dict, facts: dict) -> str:
    out = ["## Scale on synthetic logs\n",
           "Data from `engine/synthetic.py` (seed 0): Zipf-Mandelbrot item popularity, users whose topic mixture "
           "random-walks along their history, a category, multi-valued genres and a year per item, per-user increasing "
           "timestamps; 25 interactions per user and 125 per item on average. Training is timed over a fixed number of "
           "steps of engine.train.train (then cancelled) and **extrapolated** to one epoch; the validation pass is "
           "timed on two samples of users and **extrapolated linearly** to every user and to the sampled check "
           "training runs. Latency and evaluation cost do not depend on the weights, so they use an untrained default "
           "model. Wall and CPU seconds are both given with the load average: the 2-core machine is shared, so CPU "
           "time is the steadier figure. The training setup includes a one-off ~5 s import inside "
           "torch.use_deterministic_algorithms.\n"]  # fmt: skip
    sizes = {size: stored["sizes"][size] for size in ORDER if size in stored.get("sizes", {})}
    facts["scale"] = sizes
    if not sizes:
        return "\n".join(out + ["*Pending: no sizes measured yet.*\n"])
    out.append("| measure | " + " | ".join(f"{s}{' (quick)' if e.get('quick') else ''}" for s, e in sizes.items()) + " |")
    out.append("|---|" + "---|" * len(sizes))
    out += [
        _row("interactions", sizes, lambda e: e["generated"]["n_interactions"], "{:,}"),
        _row("users / items", sizes, lambda e: f"{e['generated']['n_users']:,} / {e['generated']['n_items']:,}", "{}"),
        _row("interactions CSV, MiB", sizes, lambda e: e["generated"]["bytes"] / 2**20),
        _row("generating the CSVs, s (peak MiB)", sizes, lambda e: f"{e['generated']['seconds']:.1f} ({e['generated']['peak_rss_mib']:.0f})", "{}"),
        _row("CSV ingest, s (median)", sizes, lambda e: e["ingest_seconds"]),
        _row("CSV ingest, rows/s", sizes, lambda e: e["ingest_rows_per_s"], "{:,.0f}"),
        _row("CSV ingest peak RSS, MiB", sizes, lambda e: e["ingest_peak_mib"], "{:,.0f}"),
        _row("load_data (store -> SequenceData), s", sizes, lambda e: e["probe"]["load_seconds"]),
        _row("load_data wall / CPU s (load average)", sizes, lambda e: _clock(e, "load_data"), "{}"),
        _row("replaced pandas load path, wall / CPU s (ratio of wall)", sizes,
             lambda e: f"{e['load_old']['seconds']:,.1f} / {e['load_old']['cpu_seconds']:,.1f} "
                       f"({e['load_old']['seconds'] / e['probe']['load_seconds']:.1f}x)" if "load_old" in e else None, "{}"),
        _row("load_data peak RSS, MiB", sizes, lambda e: e["probe"]["stage_peak_mib"]["load_data"], "{:,.0f}"),
        _row("training setup before step 1, s", sizes, lambda e: e["probe"]["train"]["setup_seconds"]),
        _row("one epoch's window plan, ms CPU (windows)", sizes,
             lambda e: f"{e['probe']['windows']['plan_cpu_seconds'] * 1000:,.0f} ({e['probe']['windows']['windows']:,})", "{}"),
        _row("replaced per-user window loop, s CPU", sizes, lambda e: e["load_old"]["windows_cpu_seconds"] if "load_old" in e else None),
        _row("training threads", sizes, lambda e: e["probe"]["train"].get("threads"), "{}"),
        _row("training step, ms (median)", sizes, lambda e: e["probe"]["train"]["step_ms"]),
        _row("steps per epoch", sizes, lambda e: e["probe"]["train"]["steps_per_epoch"], "{:,}"),
        _row("one epoch of steps, s (extrapolated)", sizes, lambda e: e["probe"]["train"]["epoch_steps_seconds"], "{:,.0f}"),
        _row("training stage wall / CPU s (load average)", sizes, lambda e: _clock(e, "train"), "{}"),
        _row("validation pass over every user, s (extrapolated)", sizes, lambda e: e["probe"]["evaluate"]["estimate_seconds"], "{:,.0f}"),
        _row("validation check in training: users, wall / CPU s (extrapolated)", sizes,
             lambda e: f"{e['probe']['evaluate']['check_users']:,}, {e['probe']['evaluate']['check_seconds']:,.0f} / "
                       f"{e['probe']['evaluate']['check_cpu_seconds']:,.0f}", "{}"),
        _row("training-process peak RSS so far, MiB", sizes, lambda e: e["probe"]["stage_peak_mib"]["train"], "{:,.0f}"),
        _row("recommend + explain p50 / p95, ms", sizes, lambda e: f"{e['probe']['explain']['p50']:.1f} / {e['probe']['explain']['p95']:.1f}", "{}"),
        _row("recommend + explain CPU p50 / p95, ms", sizes,
             lambda e: f"{e['probe']['explain']['cpu']['p50']:.1f} / {e['probe']['explain']['cpu']['p95']:.1f}", "{}"),
        _row("explain stage load average", sizes,
             lambda e: f"{e['probe']['clocks']['explain']['load_start']} -> {e['probe']['clocks']['explain']['load_end']}", "{}"),
        _row("recommend + explain with 2 threads p50 / p95, ms (CPU p95)", sizes,
             lambda e: f"{e['probe']['explain_2threads']['p50']:.1f} / {e['probe']['explain_2threads']['p95']:.1f} "
                       f"({e['probe']['explain_2threads']['cpu']['p95']:.1f})", "{}"),
        _row("2-thread explain stage load average", sizes,
             lambda e: f"{e['probe']['clocks']['explain_2threads']['load_start']} -> {e['probe']['clocks']['explain_2threads']['load_end']}", "{}"),
        _row("probe process peak RSS (ru_maxrss), MiB", sizes, lambda e: e["probe"]["peak_rss_mib"], "{:,.0f}"),
        _row("load average during the probe", sizes, lambda e: f"{e['probe']['load_start']} -> {e['probe'].get('load_end')}", "{}"),
    ]  # fmt: skip
    out.append("")
    for size, entry in sizes.items():  # sizes may come from different runs: each names its own
        out.append(f"*{size}: {describe(entry['env'])}. Command: `{entry['env']['command']}`.*\n")
    env = list(sizes.values())[-1]["env"]
    for size, entry in sizes.items():
        if "error" in entry.get("probe", {}):
            out.append(f"- {size}: the training/latency probe failed: {entry['probe']['error']}")
    out.append(_figures(sizes, env))
    one_gb = stored.get("ingest_1gb")
    if one_gb:
        out.append(f"Issue 4's 1 GB file (`benchmarks/ingest_throughput.py`'s generator, interactions only, "
                   f"{one_gb['bytes'] / 2**30:.2f} GiB, {one_gb['rows']:,} rows): {one_gb['seconds']:.1f} s (median of "
                   f"{one_gb['repeats']}), **{one_gb['rows_per_s']:,.0f} rows/s**, peak RSS {one_gb['peak_rss_mib']:,.0f} MiB; "
                   f"pandas.read_csv alone {one_gb['pandas']['seconds']:.1f} s, peak {one_gb['pandas']['peak_rss_mib']:,.0f} MiB "
                   f"(ingest at {one_gb['ratio_to_pandas']:.2f}x its speed).\n")  # fmt: skip
        raw = one_gb.get("duckdb")
        if raw:
            out.append(f"DuckDB's own `read_csv` of the same file into a table of a new database file (types given, nothing "
                       f"checked, no row numbers; same run): {raw['seconds']:.1f} s, **{raw['rows_per_s']:,.0f} rows/s**, "
                       f"{raw['cpu_seconds']:.1f} CPU s, peak {raw['peak_rss_mib']:,.0f} MiB; ingest ran at "
                       f"{one_gb['ratio_to_duckdb']:.2f}x its speed ({one_gb['cpu_seconds']:.1f} CPU s). This raw read is the "
                       f"floor of any ingest that lets DuckDB read the file, as issue 4 asks.\n")  # fmt: skip
    else:
        out.append("*Issue 4's 1 GB ingest: pending (runs with the 25M size).*\n")
    return "\n".join(out)


def _figures(sizes: dict, env: dict) -> str:
    def series(pick) -> list[tuple[int, float]]:
        points = []
        for entry in sizes.values():
            try:
                points.append((entry["generated"]["n_interactions"], float(pick(entry))))
            except (KeyError, TypeError):
                continue
        return points

    cost = figures.scale_costs({
        "CSV ingest": series(lambda e: e["ingest_seconds"]),
        "load_data": series(lambda e: e["probe"]["load_seconds"]),
        "training setup (per epoch)": series(lambda e: e["probe"]["train"]["setup_seconds"]),
        "epoch of steps (extrapolated)": series(lambda e: e["probe"]["train"]["epoch_steps_seconds"]),
        "validation pass (extrapolated)": series(lambda e: e["probe"]["evaluate"]["estimate_seconds"]),
    }, env, "scale-cost", "Cost against size (log-log)", "seconds", {"ingest target, 25M": (25_000_000, 60.0)})  # fmt: skip
    memory = figures.scale_costs({
        "CSV ingest": series(lambda e: e["ingest_peak_mib"] / 1024),
        "load_data": series(lambda e: e["probe"]["stage_peak_mib"]["load_data"] / 1024),
        "training steps": series(lambda e: e["probe"]["stage_peak_mib"]["train"] / 1024),
        "probe process (ru_maxrss)": series(lambda e: e["probe"]["peak_rss_mib"] / 1024),
    }, env, "scale-memory", "Peak memory against size (log-log)", "GiB", {"6 GiB target, 25M": (25_000_000, 6.0)})  # fmt: skip
    latency = figures.scale_costs({
        "recommend + explain p95": series(lambda e: e["probe"]["explain"]["p95"]),
        "recommend + explain p95, 2 threads": series(lambda e: e["probe"].get("explain_2threads", {}).get("p95")),
        "recommend + explain p50": series(lambda e: e["probe"]["explain"]["p50"]),
    }, env, "scale-latency", "Recommend + explain latency against size (log-log)", "ms", {"50 ms target, 25M": (25_000_000, 50.0)})  # fmt: skip
    return f"Figures: [cost vs size]({cost}), [memory vs size]({memory}), [latency vs size]({latency})\n"
