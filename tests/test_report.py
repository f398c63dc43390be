"""``make report`` without a browser: its command line, its errors, its page's sources."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from scripts.report import Marts, ReportError, render

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
    row = {"project_id": "p", "date": "2026-01-01"}
    html = render(Marts(daily=[row], weekly=[], monthly=[], source="x</script><b>"))
    assert not re.search(r"\b(src|href)\s*=", html, re.I)
    assert "<link" not in html
    assert "@import" not in html
    assert "default-src 'none'" in html  # the browser itself refuses any request
    assert "x</script>" not in html  # data cannot close the script element it lives in


def test_empty_marts_are_refused() -> None:
    with pytest.raises(ReportError, match="empty"):
        render(Marts(daily=[], weekly=[], monthly=[], source="DuckDB x"))
