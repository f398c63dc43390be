"""``make report`` without a browser: its command line, its errors, its page's sources."""

from __future__ import annotations

import dataclasses
import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from scripts.report import Marts, ReportError, read_duckdb, render
from tests.report_browser_support import one_workspace

ROOT = Path(__file__).resolve().parent.parent


def report(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "scripts.report", *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
        check=False,
    )


def one_line_error(proc: subprocess.CompletedProcess[str]) -> str:
    assert proc.returncode == 1, proc.stdout + proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def test_missing_duckdb_file_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere.duckdb"
    line = one_line_error(report("--duckdb", str(missing), "--output", str(tmp_path / "r.html")))
    assert str(missing) in line
    assert "make demo" in line
    assert not (tmp_path / "r.html").exists()


def test_file_without_marts_says_how_to_build_them(tmp_path: Path) -> None:
    path = tmp_path / "raw-only.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA analytics; CREATE TABLE analytics.daily_chats (x INT)")
    env = {**os.environ, "DBT_DUCKDB_PATH": str(path)}  # as `make report` reads it
    line = one_line_error(report("--output", str(tmp_path / "r.html"), env=env))
    assert str(path) in line
    assert "dbt-duckdb:build" in line


def test_page_references_nothing_outside_itself() -> None:
    marts = one_workspace(40)
    html = render(dataclasses.replace(marts, source="x</script><b>"))
    # Only fragment references (a chart's own markers and patterns).
    assert re.findall(r"\b(?:src|href)\s*=\s*\"([^#\"][^\"]*)\"", html, re.I) == []
    assert "<link" not in html
    assert "@import" not in html
    assert "<script" not in html  # static: the page reads the same with JavaScript off
    assert "default-src 'none'" in html  # the browser itself refuses any request
    assert "x</script><b>" not in html
    assert "x&lt;/script&gt;&lt;b&gt;" in html  # data is escaped, never markup


def test_header_names_the_file_not_the_folder(tmp_path: Path) -> None:
    path = tmp_path / "warehouse.duckdb"
    with duckdb.connect(str(path)) as con:
        con.execute("CREATE SCHEMA indigo_marts")
        for table in ("indigo__daily_kpis", "indigo__weekly_kpis", "indigo__monthly_kpis"):
            con.execute(
                f"CREATE TABLE indigo_marts.{table} (project_id TEXT, date DATE, period_start DATE)"
            )
    marts = read_duckdb(path)
    assert marts.source == "warehouse.duckdb (DuckDB, schema indigo_marts)"
    assert str(tmp_path) not in marts.source


def test_help_lists_each_example_on_its_own_line() -> None:
    proc = report("--help")
    assert proc.returncode == 0, proc.stderr
    lines = [line.strip() for line in proc.stdout.splitlines()]
    assert "python -m scripts.report" in lines
    assert 'python -m scripts.report --postgres "postgresql://user@host/indigo"' in lines
    assert "python -m scripts.report --screenshot docs/report.png" in lines
    assert any(line.startswith("--screenshot PNG") for line in lines)


def test_week_without_csat_answers_says_why() -> None:
    marts = one_workspace(60)
    last = max(r["period_start"] for r in marts.weekly if r["is_complete_period"])
    week = next(r for r in marts.weekly if r["period_start"] == last)
    week.update(csat_responses=0, csat_avg=None)
    html = render(marts)
    card = html[html.index('data-kpi="csat_avg"') :]
    card = card[: card.index("<svg")]
    assert 'data-value="null"' in card
    assert "no answers" in card
    assert 'data-direction="flat"' in card
    assert "no comparison" in card


def test_empty_marts_are_refused() -> None:
    with pytest.raises(ReportError, match="empty"):
        render(Marts(daily=[], weekly=[], monthly=[], source="DuckDB x"))
