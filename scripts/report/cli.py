"""Write the KPI marts as one static HTML page (charts inline as SVG, no script).

examples:
  python -m scripts.report
      the marts in the DuckDB file $DBT_DUCKDB_PATH (else output/indigo.duckdb)
      -> output/report.html
  python -m scripts.report --postgres "postgresql://user@host/indigo"
      the marts in PostgreSQL instead
  python -m scripts.report --screenshot docs/report.png
      also a full-page PNG, taken by headless Chromium (/usr/bin/chromium)

The page needs no network and no JavaScript: open it in any browser, or mail it.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from scripts.report.page import render
from scripts.report.sources import DEFAULT_SCHEMA, Marts, ReportError, read_duckdb, read_postgres

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_DUCKDB = ROOT / "output" / "indigo.duckdb"  # target-duckdb's and dbt-duckdb's default
DEFAULT_OUTPUT = ROOT / "output" / "report.html"
#: The system Chromium (Debian's `chromium`); Playwright only drives it.
CHROMIUM = "/usr/bin/chromium"
#: Flags that keep Chromium off the (closed) network; see tests/report_browser_support.py.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def build(output: Path, marts: Marts, generated_at: dt.datetime | None = None) -> Path:
    """Render ``marts`` into ``output``; returns its path."""
    html = render(marts, generated_at)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(html)
    return output


def screenshot(html_path: Path, png_path: Path, width: int = 1280) -> None:
    """A full-page PNG of the report, taken by the system Chromium (headless)."""
    from playwright.sync_api import Error as PlaywrightError
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        raise ReportError(f"{CHROMIUM} is missing: `apt-get install chromium` (see .ci/run)")
    try:
        with sync_playwright() as pw, tempfile.TemporaryDirectory() as profile:
            context = pw.chromium.launch_persistent_context(
                profile,
                executable_path=CHROMIUM,
                headless=True,
                args=CHROMIUM_ARGS,
                viewport={"width": width, "height": 900},
                java_script_enabled=False,  # the page needs none
            )
            page = context.new_page()
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            png_path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(png_path), full_page=True)
            context.close()
    except PlaywrightError as exc:
        raise ReportError(f"Chromium could not render {html_path}: {exc.message}") from None


def build_marts_and_report(env: dict[str, str], duckdb_file: Path) -> None:
    """The demo's last step: ``dbt build`` on the DuckDB file, then the report."""
    meltano = ROOT / ".venv-meltano" / "bin" / "meltano"
    env = {k: v for k, v in env.items() if not k.startswith("DBT_")}
    env["DBT_DUCKDB_PATH"] = str(duckdb_file)
    log_path = ROOT / "output" / "demo-dbt.log"
    print("meltano invoke dbt-duckdb:build ...", flush=True)
    with log_path.open("w") as log:
        proc = subprocess.run(
            [str(meltano), "invoke", "dbt-duckdb:build"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            check=False,
        )
    if proc.returncode != 0:
        print("\n".join(log_path.read_text(errors="replace").splitlines()[-20:]), file=sys.stderr)
        raise ReportError(f"dbt build failed (exit {proc.returncode}); full log: {log_path}")
    marts = read_duckdb(duckdb_file)
    path = build(DEFAULT_OUTPUT, marts)
    print(
        f"  marts in {duckdb_file} (schema {DEFAULT_SCHEMA}): {len(marts.daily)} daily, "
        f"{len(marts.weekly)} weekly, {len(marts.monthly)} monthly rows"
    )
    print(f"Report: {path} (open it in any browser; it needs no network)")


def main(argv: list[str] | None = None) -> int:
    """Read the marts, write the page (and optionally a screenshot), print the path."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.report",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--duckdb",
        type=Path,
        default=Path(os.environ.get("DBT_DUCKDB_PATH") or DEFAULT_DUCKDB),
        help="DuckDB file (default: $DBT_DUCKDB_PATH, else output/indigo.duckdb)",
    )
    parser.add_argument("--postgres", metavar="DSN", help="read the marts from PostgreSQL")
    parser.add_argument(
        "--schema",
        default=None,
        help=f"marts schema (default: $DBT_DUCKDB_SCHEMA or $DBT_POSTGRES_SCHEMA, "
        f"else {DEFAULT_SCHEMA})",
    )
    parser.add_argument(
        "--output", type=Path, default=DEFAULT_OUTPUT, help="the page (default output/report.html)"
    )
    parser.add_argument("--screenshot", type=Path, metavar="PNG", help="also a full-page PNG")
    parser.add_argument(
        "--width", type=int, default=1280, help="the screenshot's width in px (default 1280)"
    )
    args = parser.parse_args(argv)
    try:
        if args.postgres:
            schema = args.schema or os.environ.get("DBT_POSTGRES_SCHEMA") or DEFAULT_SCHEMA
            marts = read_postgres(args.postgres, schema)
        else:
            schema = args.schema or os.environ.get("DBT_DUCKDB_SCHEMA") or DEFAULT_SCHEMA
            marts = read_duckdb(args.duckdb, schema)
        path = build(args.output, marts)
        counts = f"{len(marts.daily)} days, {len(marts.weekly)} weeks, {len(marts.monthly)} months"
        print(f"Report: {path} ({counts})")
        if args.screenshot:
            screenshot(path, args.screenshot, args.width)
            print(f"Screenshot: {args.screenshot}")
    except ReportError as exc:
        print(f"report failed: {exc}", file=sys.stderr)
        return 1
    return 0
