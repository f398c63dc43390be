"""End to end through Meltano: emulator -> tap -> target-postgres -> a real PostgreSQL.

The commands are the README's first screen, exactly as written there, run in Meltano's
default environment with nothing but environment variables (the API URL points at the
emulator; everything else is what a user exports).

Needs `meltano` (``make pytest`` puts .venv-meltano/bin first on PATH) and a reachable
PostgreSQL (``TAP_INDIGO_PG_DSN``, default the one scripts/pg_setup.sh creates).
Without them the test is skipped, unless ``TAP_INDIGO_REQUIRE_POSTGRES=1`` (CI), where
a missing piece is a failure. Each run loads into its own schema (dropped afterwards)
and keeps its Meltano state in a temporary directory, so it never touches the demo's.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import shlex
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tap_indigo_analytics.schema import DEFAULT_LOOKBACK_DAYS
from tests.conftest import STREAMS, WORKSPACES, assert_no_secret, today, workspace_config
from tests.emulator import Emulator
from tests.meltano_support import installed_meltano, pg_dsn, unavailable

pytestmark = pytest.mark.postgres

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
#: What a new user sees without scrolling (tests/test_readme.py uses the same bound).
FIRST_SCREEN_LINES = 40
#: More than 365 days, so the first run needs two date windows per stream and workspace.
DAYS = 400
PLUGIN_VENVS = ("extractors/tap-indigo-analytics", "loaders/target-postgres")


@pytest.fixture(scope="module")
def meltano() -> str:
    """The meltano executable, with this project's plugins installed."""
    return installed_meltano(PLUGIN_VENVS)


@pytest.fixture
def dsn() -> str:
    """A reachable PostgreSQL's connection string."""
    value = pg_dsn()
    try:
        with psycopg.connect(value, connect_timeout=3):
            pass
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at TAP_INDIGO_PG_DSN ({type(exc).__name__})")
    return value


@pytest.fixture
def db(dsn: str) -> Iterator[tuple[psycopg.Connection[Any], str]]:
    """A connection and a fresh schema name; the schema is dropped afterwards."""
    schema = f"indigo_test_{secrets.token_hex(4)}"
    with psycopg.connect(dsn, autocommit=True) as conn:
        try:
            yield conn, schema
        finally:
            conn.execute(sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema)))


def headline_commands() -> list[list[str]]:
    """The Meltano command lines of the README's first screen, as argv lists."""
    first_screen = README.read_text().splitlines()[:FIRST_SCREEN_LINES]
    commands = [
        shlex.split(line, comments=True)
        for line in first_screen
        if line.startswith(".venv-meltano/bin/meltano ")
    ]
    assert commands, "the README's first screen gives no meltano command"
    return commands


def meltano_env(
    emulator: Emulator, dsn: str, schema: str, state_dir: Path, form: str
) -> dict[str, str]:
    """What a user exports, as the README says, with the API at the emulator."""
    params = conninfo_to_dict(dsn)
    # Settings a developer exported (say a prod PAT) must not leak into the test run, and
    # the run must use Meltano's default environment, as the README's command does.
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_", "TARGET_")) and k != "MELTANO_ENVIRONMENT"
    }
    if form == "pat + project_id":
        env.update(
            TAP_INDIGO_ANALYTICS_PAT=WORKSPACES["ws-alpha"],
            TAP_INDIGO_ANALYTICS_PROJECT_ID="ws-alpha",
        )
    else:
        config = workspace_config(emulator)
        env["TAP_INDIGO_ANALYTICS_WORKSPACES"] = json.dumps(config["workspaces"])
    env.update(
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_STATE_BACKEND_URI=state_dir.as_uri(),
        TAP_INDIGO_ANALYTICS_BASE_URL=emulator.base_url,
        TAP_INDIGO_ANALYTICS_START_DATE=(today() - dt.timedelta(days=DAYS - 1)).isoformat(),
        # No TAP_INDIGO_ANALYTICS_BACKOFF_SECONDS: meltano 4.4.1 turns a `decimal` setting
        # read from the environment into a Decimal it then cannot write to the tap's
        # config JSON ("Object of type Decimal is not JSON serializable"). No faults are
        # injected here, so the backoff never matters.
        TARGET_POSTGRES_HOST=str(params.get("host", "localhost")),
        TARGET_POSTGRES_PORT=str(params.get("port", 5432)),
        TARGET_POSTGRES_USER=str(params.get("user", "")),
        TARGET_POSTGRES_PASSWORD=str(params.get("password", "")),
        TARGET_POSTGRES_DATABASE=str(params.get("dbname", "")),
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
    )
    return env


def run_meltano(argv: list[str], env: dict[str, str]) -> tuple[float, str]:
    """One README command, from the project root; returns seconds taken and its output."""
    executable = ROOT / argv[0]
    if not executable.exists():
        unavailable(f"{argv[0]} is not installed (run `make setup`)")
    started = time.monotonic()
    proc = subprocess.run(
        [str(executable), *argv[1:]],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    elapsed = time.monotonic() - started
    output = proc.stdout + proc.stderr
    assert_no_secret(output, {})  # checks every test workspace's token
    assert proc.returncode == 0, output[-5000:]
    return elapsed, output


def table_rows(conn: psycopg.Connection[Any], schema: str, table: str) -> list[dict[str, Any]]:
    """Every row of one loaded table, as dicts, in (project_id, date) order."""
    query = sql.SQL("SELECT * FROM {}.{} ORDER BY project_id, date").format(
        sql.Identifier(schema), sql.Identifier(table)
    )
    cursor = conn.execute(query)
    names = [column.name for column in cursor.description or []]
    return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def as_api_row(row: dict[str, Any]) -> dict[str, Any]:
    """A database row in the API's shape: ISO date, numeric as float, no project_id and
    none of the loader's `_sdc_*` metadata columns (the marts order copies by them)."""
    result: dict[str, Any] = {}
    for name, value in row.items():
        if name == "project_id" or name.startswith("_sdc_"):
            continue
        if isinstance(value, dt.date):
            value = value.isoformat()
        elif isinstance(value, Decimal):
            value = float(value)
        result[name] = value
    return result


def check_loaded(
    conn: psycopg.Connection[Any], schema: str, emulator: Emulator, workspaces: list[str]
) -> None:
    """Six tables, one row per day and workspace, every value as the API served it."""
    tables = conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = %s",
        [schema],
    ).fetchall()
    assert sorted(t for (t,) in tables) == sorted(STREAMS)
    first = today() - dt.timedelta(days=DAYS - 1)
    for stream in STREAMS:
        rows = table_rows(conn, schema, stream)
        assert len(rows) == DAYS * len(workspaces), stream
        for project_id in workspaces:
            loaded = [as_api_row(r) for r in rows if r["project_id"] == project_id]
            expected = emulator.expected_rows(project_id, stream, first, today())
            assert loaded == expected, f"{stream}/{project_id} differs from the API"


def primary_key(conn: psycopg.Connection[Any], schema: str, table: str) -> list[str]:
    """The primary key's columns, in key order."""
    rows = conn.execute(
        """
        SELECT a.attname
        FROM pg_index i
        JOIN pg_attribute a ON a.attrelid = i.indrelid AND a.attnum = ANY (i.indkey)
        WHERE i.indrelid = %s::regclass AND i.indisprimary
        ORDER BY array_position(i.indkey::int2[], a.attnum)
        """,
        [f'"{schema}"."{table}"'],
    ).fetchall()
    return [name for (name,) in rows]


@pytest.mark.parametrize("form", ["pat + project_id", "workspaces"])
def test_the_headline_command_into_postgres(
    meltano: str,
    db: tuple[psycopg.Connection[Any], str],
    dsn: str,
    emulator: Emulator,
    tmp_path: Path,
    form: str,
) -> None:
    conn, schema = db
    workspaces = ["ws-alpha"] if form == "pat + project_id" else list(WORKSPACES)
    env = meltano_env(emulator, dsn, schema, tmp_path / "state", form)
    (tmp_path / "state").mkdir()
    commands = headline_commands()
    (check,) = [c for c in commands if "invoke" in c]
    (run,) = [c for c in commands if "run" in c]
    assert run[1:] == ["run", "tap-indigo-analytics", "target-postgres"]
    assert not [arg for arg in run + check if arg.startswith("--environment")]

    # First the contract check, as the README says: one request per endpoint, all OK.
    _, output = run_meltano(check, env)
    assert sum(line.startswith("OK ") for line in output.splitlines()) == len(STREAMS), output
    assert len(emulator.requests()) == len(STREAMS)
    emulator.clear_log()

    first_run, _ = run_meltano(run, env)
    first_requests = len(emulator.requests())
    # The bookmarks went to this test's own state backend, not the project's system db.
    assert [p for p in (tmp_path / "state").rglob("*") if p.is_file()], "no state saved"
    check_loaded(conn, schema, emulator, workspaces)
    for stream in STREAMS:
        assert primary_key(conn, schema, stream) == ["project_id", "date"], stream
    date_types = conn.execute(
        "SELECT DISTINCT data_type FROM information_schema.columns "
        "WHERE table_schema = %s AND column_name = 'date'",
        [schema],
    ).fetchall()
    assert date_types == [("date",)]
    before = {s: table_rows(conn, schema, s) for s in STREAMS}

    # Today's numbers move on; the next run re-reads the last days (one request per
    # stream and workspace) and updates today's row in place.
    emulator.today_revision += 1
    emulator.clear_log()
    second_run, _ = run_meltano(run, env)
    log = emulator.requests()
    check_loaded(conn, schema, emulator, workspaces)  # counts unchanged, today's row new
    assert Counter((r.stream, r.project_id) for r in log) == {
        (stream, pid): 1 for stream in STREAMS for pid in workspaces
    }
    reread_from = today() - dt.timedelta(days=DEFAULT_LOOKBACK_DAYS)
    assert {r.params["from"] for r in log} == {reread_from.isoformat()}
    for stream in STREAMS:
        after = table_rows(conn, schema, stream)
        pairs = list(zip(before[stream], after, strict=True))
        changed = [a for b, a in pairs if as_api_row(a) != as_api_row(b)]
        assert {r["date"] for r in changed} == {today()}, stream
        assert len(changed) == len(workspaces), stream
        # The lookback days were loaded again (new metadata); older days were not touched.
        reloaded = {a["date"] for b, a in pairs if a != b}
        assert reloaded == {
            reread_from + dt.timedelta(days=n) for n in range(DEFAULT_LOOKBACK_DAYS + 1)
        }, stream

    rows = sum(len(rows) for rows in before.values())
    print(
        f"\nmeltano run ({form}), first (full, {first_requests} requests): {first_run:.1f} s; "
        f"second (incremental, {len(log)} requests): {second_run:.1f} s; "
        f"{rows} rows in PostgreSQL ({DAYS} days x {len(workspaces)} workspaces x "
        f"{len(STREAMS)} tables)"
    )
