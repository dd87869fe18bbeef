"""Recscope benchmarks: quality, speed and scale, measured and written to docs/BENCHMARKS.md.

Run `python -m benchmarks --help`. Measurements are stored as JSON under docs/benchmarks/results/, so the
page can be regenerated (`--report-only`) and expensive sections resumed within a time budget.
"""
