"""``make report``: the KPI marts as one static HTML page, charts inline as SVG.

The public surface, used by ``make demo`` and the tests; the command line is
:mod:`scripts.report.cli` (``python -m scripts.report --help``).
"""

from scripts.report.cli import CHROMIUM, CHROMIUM_ARGS, build, build_marts_and_report, main
from scripts.report.page import render
from scripts.report.sources import DEFAULT_SCHEMA, Marts, ReportError, read_duckdb, read_postgres

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "DEFAULT_SCHEMA",
    "Marts",
    "ReportError",
    "build",
    "build_marts_and_report",
    "main",
    "read_duckdb",
    "read_postgres",
    "render",
]
