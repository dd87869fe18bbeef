"""python -m benchmarks: measure quality, speed and scale, then regenerate docs/BENCHMARKS.md.

    python -m benchmarks --quick                        # minutes: baselines, one default model, latencies, 1M scale
    python -m benchmarks --only quality --seeds 3 --budget-minutes 120
    python -m benchmarks --only uncertainty             # bootstrap over the test users (after quality)
    python -m benchmarks --only speed
    python -m benchmarks --only scale --sizes 1M,5M,25M
    python -m benchmarks --report-only                  # rewrite the page from docs/benchmarks/results/*.json

Measurements accumulate in docs/benchmarks/results/; a section that is not run keeps its stored numbers.
"""

from __future__ import annotations

import argparse
import sys
import time

SECTIONS = ("quality", "uncertainty", "speed", "scale")


def parse_args(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__.split("\n", 2)[2])  # fmt: skip
    parser.add_argument("--only", choices=SECTIONS, action="append", help="run only this section (repeatable)")
    parser.add_argument("--quick", action="store_true", help="small versions of every section (numbers marked quick)")
    parser.add_argument("--seeds", type=int, default=3, help="seeds per model for quality (default 3)")
    parser.add_argument("--jobs", type=int, default=1, help="quality runs at a time, each in its own process (default 1)")
    parser.add_argument("--budget-minutes", type=float, help="stop starting quality runs after this long (resumable)")
    parser.add_argument("--threads", type=int, help="training threads for quality and scale runs (default: the engine's TrainConfig)")
    parser.add_argument("--sizes", default=None, help="scale sizes, comma-separated from 100k,1M,5M,25M (default 1M,5M,25M)")
    parser.add_argument("--repeats", type=int, default=3, help="runs per ingest timing; the median is reported")
    parser.add_argument("--skip-1gb", action="store_true", help="skip issue 4's 1 GB ingest (run by default with 25M)")
    parser.add_argument("--with-1gb", action="store_true", help="run issue 4's 1 GB ingest with any sizes")
    parser.add_argument("--report-only", action="store_true", help="only rewrite docs/BENCHMARKS.md from stored results")
    return parser.parse_args(argv)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    from benchmarks import environment, report

    command = environment.command_line()
    if not args.report_only:
        sections = args.only or list(SECTIONS)
        if "quality" in sections:
            from benchmarks.quality import run_quality

            env = environment.snapshot(command)
            budget = None if args.budget_minutes is None else args.budget_minutes * 60
            run_quality(args.seeds, budget, args.quick, env, log, args.threads, args.jobs)
        if "uncertainty" in sections:
            from benchmarks.uncertainty import run_uncertainty

            run_uncertainty(args.seeds, environment.snapshot(command), log)
        if "speed" in sections:
            from benchmarks.speed import run_speed

            run_speed(args.quick, environment.snapshot(command), log)
        if "scale" in sections:
            from benchmarks.scale import run_scale

            sizes = (args.sizes or ("1M" if args.quick else "1M,5M,25M")).split(",")
            repeats = 1 if args.quick else args.repeats
            with_1gb = ("25M" in sizes or args.with_1gb) and not args.skip_1gb
            run_scale(sizes, repeats, args.quick, with_1gb, environment.snapshot(command), log, args.threads)
    path = report.write_report()
    log(f"wrote {path}")


if __name__ == "__main__":
    main()
