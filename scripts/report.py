"""``make report``: the KPI marts as one self-contained HTML page.

    python -m scripts.report                      # DuckDB at DBT_DUCKDB_PATH -> output/report.html
    python -m scripts.report --postgres DSN       # the marts in PostgreSQL instead
    python -m scripts.report --screenshot docs/report.png   # also a PNG (headless Chromium)

The page embeds the marts as JSON and draws them with the inline script of
``report_template.html``: no CDN, no request, so it opens offline in any browser.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from decimal import Decimal
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = Path(__file__).with_name("report_template.html")
DEFAULT_DUCKDB = ROOT / "output" / "indigo.duckdb"  # target-duckdb's and dbt-duckdb's default
DEFAULT_OUTPUT = ROOT / "output" / "report.html"
DEFAULT_SCHEMA = "indigo_marts"
MARTS = {"daily": "indigo__daily_kpis", "weekly": "indigo__weekly_kpis"}
MARTS["monthly"] = "indigo__monthly_kpis"
#: The system Chromium (Debian's `chromium`); Playwright only drives it.
CHROMIUM = "/usr/bin/chromium"
#: Flags that keep Chromium off the (closed) network; see tests/test_report_browser.py.
CHROMIUM_ARGS = [
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

Rows = list[dict[str, Any]]


class ReportError(Exception):
    """A failure with a one-line explanation for the user."""


@dataclass(frozen=True)
class Marts:
    """The three marts' rows, each in (project_id, day) order, and where they came from."""

    daily: Rows
    weekly: Rows
    monthly: Rows
    source: str


def _plain(value: Any) -> Any:
    """A database value as JSON: ISO dates, Decimals as floats."""
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return float(value)
    return value


def _rows(names: list[str], records: list[tuple[Any, ...]]) -> Rows:
    return [dict(zip(names, map(_plain, record), strict=True)) for record in records]


def read_duckdb(path: Path, schema: str = DEFAULT_SCHEMA) -> Marts:
    """The marts from the DuckDB file dbt-duckdb built."""
    import duckdb  # only here: the PostgreSQL path must not need it

    from tap_indigo_analytics.redact import redact

    if not path.exists():
        raise ReportError(f"{path} does not exist: run `make demo` (or dbt-duckdb:build) first")
    try:
        with duckdb.connect(str(path), read_only=True) as con:
            found: dict[str, Rows] = {}
            for key, table in MARTS.items():
                order = '"date"' if key == "daily" else "period_start"
                cursor = con.execute(
                    f'SELECT * FROM "{schema}"."{table}" ORDER BY project_id, {order}'
                )
                names = [column[0] for column in cursor.description or []]
                found[key] = _rows(names, cursor.fetchall())
    except duckdb.Error as exc:
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise ReportError(
            f"cannot read the marts in {path} (schema {schema}): {redact(first_line)}; "
            "build them with `meltano invoke dbt-duckdb:build`"
        ) from None
    shown = path.resolve()
    shown = shown.relative_to(ROOT) if shown.is_relative_to(ROOT) else shown
    return Marts(**found, source=f"DuckDB {shown} · schema {schema}")


def read_postgres(dsn: str, schema: str = DEFAULT_SCHEMA) -> Marts:
    """The marts from PostgreSQL (where dbt-postgres built them)."""
    import psycopg
    from psycopg import sql
    from psycopg.conninfo import conninfo_to_dict

    from tap_indigo_analytics.redact import redact, redact_values

    try:
        secrets = [dsn, conninfo_to_dict(dsn).get("password")]
    except psycopg.ProgrammingError:
        raise ReportError("--postgres: not a PostgreSQL connection string or URL") from None
    try:
        with psycopg.connect(dsn, connect_timeout=10) as conn:
            found: dict[str, Rows] = {}
            for key, table in MARTS.items():
                order = "date" if key == "daily" else "period_start"
                query = sql.SQL("SELECT * FROM {}.{} ORDER BY project_id, {}").format(
                    sql.Identifier(schema), sql.Identifier(table), sql.Identifier(order)
                )
                cursor = conn.execute(query)
                names = [column.name for column in cursor.description or []]
                found[key] = _rows(names, cursor.fetchall())
            database = conn.info.dbname
    except psycopg.Error as exc:
        # libpq messages may quote the connection string, password included.
        first_line = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        message = redact(redact_values(first_line, secrets))
        raise ReportError(
            f"cannot read the marts from PostgreSQL (schema {schema}): {message}"
        ) from None
    return Marts(**found, source=f"PostgreSQL database {database} · schema {schema}")


def render(marts: Marts, generated_at: dt.datetime | None = None) -> str:
    """The self-contained page."""
    if not marts.daily:
        raise ReportError(f"the marts are empty ({marts.source}): load some data first")
    when = (generated_at or dt.datetime.now(dt.timezone.utc)).strftime("%Y-%m-%d %H:%M UTC")
    payload = {
        "generated_at": when,
        "source": marts.source,
        "weekly": marts.weekly,
        "monthly": marts.monthly,
        "daily_rows": len(marts.daily),
        "last_day": max(row["date"] for row in marts.daily),
    }
    # `</` inside the JSON would close the <script> element it lives in.
    data = json.dumps(payload, separators=(",", ":"), allow_nan=False).replace("</", "<\\/")
    return TEMPLATE.read_text().replace("/*__MARTS_JSON__*/{}", data)


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
            )
            page = context.new_page()
            page.goto(html_path.resolve().as_uri(), wait_until="load")
            page.wait_for_selector("body[data-ready='1']", timeout=10_000)
            png_path.parent.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(png_path), full_page=True)
            context.close()
    except PlaywrightError as exc:
        raise ReportError(f"Chromium could not render {html_path}: {exc.message}") from None


def build(output: Path, marts: Marts) -> Path:
    """Render ``marts`` into ``output``; returns its path."""
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(render(marts))
    return output


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
    parser = argparse.ArgumentParser(prog="python -m scripts.report", description=__doc__)
    parser.add_argument(
        "--duckdb",
        type=Path,
        default=Path(os.environ.get("DBT_DUCKDB_PATH") or DEFAULT_DUCKDB),
        help="DuckDB file (default: $DBT_DUCKDB_PATH, else output/indigo.duckdb)",
    )
    parser.add_argument("--postgres", metavar="DSN", help="read the marts from PostgreSQL")
    parser.add_argument("--schema", default=None, help=f"marts schema (default {DEFAULT_SCHEMA})")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--screenshot", type=Path, help="also write a full-page PNG here")
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
            screenshot(path, args.screenshot)
            print(f"Screenshot: {args.screenshot}")
    except ReportError as exc:
        print(f"report failed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
