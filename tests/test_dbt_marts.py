"""End to end: emulator -> tap -> loader -> dbt build, on DuckDB and on PostgreSQL.

Each warehouse gets the same story, through ``meltano run`` as a user would:

1. workspace ``ws-alpha`` is loaded from 75 days ago (``tap target``);
2. two raw rows are lost (one CSAT day, one messages day), as a failed load would;
3. a second workspace is added later, from a Sunday on which it had no CSAT answers,
   and ``meltano run tap target dbt-<warehouse>:build`` runs in a time zone whose date
   differs from UTC's (so a model using the session's date would mark the wrong day).

Then every value of the three marts must equal what tests/dbt_expected.py computes in
Python from the emulator's own rows. The PostgreSQL test skips without a server unless
TAP_INDIGO_REQUIRE_POSTGRES=1 (CI); both need `make setup` (Meltano and its plugins).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import duckdb
import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from scripts.report import build, read_duckdb
from tests import dbt_expected as ex
from tests.conftest import STREAMS, WORKSPACES, assert_no_secret, today
from tests.emulator import Emulator
from tests.meltano_support import installed_meltano, pg_dsn, unavailable
from tests.test_report_browser import check_figures, load_page

ROOT = Path(__file__).resolve().parent.parent
ALPHA = "ws-alpha"
HISTORY_DAYS = 75
MARTS = ("indigo__daily_kpis", "indigo__weekly_kpis", "indigo__monthly_kpis")
#: (stream, days before today) of alpha's raw rows deleted between the two runs; older
#: than the tap's 2-day lookback, so the second run does not bring them back.
LOST_ROWS = (("daily_csat", 20), ("daily_messages", 30))

PLUGIN_VENVS = (
    "extractors/tap-indigo-analytics",
    "loaders/target-duckdb",
    "loaders/target-postgres",
    "utilities/dbt-duckdb",
    "utilities/dbt-postgres",
)

Reader = Callable[[str], list[dict[str, Any]]]


@pytest.fixture(scope="module")
def meltano() -> str:
    """The meltano executable with this project's plugins (dbt utilities included)."""
    return installed_meltano(PLUGIN_VENVS)


def late_workspace() -> tuple[str, str, dt.date]:
    """A workspace id, its token and its first day: a Sunday two weeks back on which it
    had no CSAT answers. The emulator's numbers hash the id, so trying ids finds one."""
    first_day = ex.week_start(today()) - dt.timedelta(days=8)
    for n in range(1000):
        project_id, token = f"ws-late-{n}", f"lateSecretToken{n:05d}"
        probe = Emulator({project_id: token})  # never started: only its numbers are used
        if probe.expected_row(project_id, "daily_csat", first_day)["total"] == 0:
            return project_id, token, first_day
    raise AssertionError("no workspace id without CSAT answers on the day")


def utc_skewed_zone() -> str:
    """A time zone whose current date differs from UTC's right now."""
    return "Pacific/Kiritimati" if dt.datetime.now(dt.timezone.utc).hour >= 10 else "Etc/GMT+11"


def run(meltano: str, env: dict[str, str], config: dict[str, Any], *plugins: str) -> float:
    """``meltano run PLUGINS``; fails with its output's tail, returns seconds taken."""
    started = time.monotonic()
    proc = subprocess.run(
        [meltano, "run", *plugins],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert_no_secret(output, config)
    assert proc.returncode == 0, output[-6000:]
    return time.monotonic() - started


def base_env(emulator: Emulator, tmp_path: Path) -> dict[str, str]:
    """The emulator, private Meltano state and dbt target folder, nothing exported."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("TAP_", "TARGET_", "DBT_", "MELTANO_STATE", "PG", "TZ"))
    }
    (tmp_path / "state").mkdir()
    env.update(
        MELTANO_ENVIRONMENT="dev",
        MELTANO_SEND_ANONYMOUS_USAGE_STATS="false",
        MELTANO_STATE_BACKEND_URI=(tmp_path / "state").as_uri(),
        TAP_INDIGO_ANALYTICS_BASE_URL=emulator.base_url,
        DBT_TARGET_PATH=str(tmp_path / "dbt-target"),
        DBT_LOG_PATH=str(tmp_path / "dbt-logs"),
    )
    return env


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """Alpha and the late workspace: the API serves both; the tap reads the late one
    only from the second run on, as when a user adds a workspace to the config."""
    late_id, late_token, _ = late_workspace()
    with Emulator({ALPHA: WORKSPACES[ALPHA], late_id: late_token}) as emu:
        yield emu


def story(
    meltano: str,
    emulator: Emulator,
    env: dict[str, str],
    loader: str,
    utility: str,
    delete_row: Callable[[str, str, dt.date], None],
) -> dict[str, Any]:
    """Load alpha, lose two rows, add the late workspace and build; the expected raw rows."""
    day0 = today()  # the whole story must happen on one UTC day (check_marts skips if not)
    late_id, late_token, late_first = late_workspace()
    first = day0 - dt.timedelta(days=HISTORY_DAYS - 1)
    alpha = {"project_id": ALPHA, "pat": f"pat-{WORKSPACES[ALPHA]}"}
    late = {"project_id": late_id, "pat": late_token}
    config = {"workspaces": [alpha, late]}

    env_first = dict(env)
    env_first.update(
        TAP_INDIGO_ANALYTICS_WORKSPACES=json.dumps([alpha]),
        TAP_INDIGO_ANALYTICS_START_DATE=first.isoformat(),
    )
    load = run(meltano, env_first, config, "tap-indigo-analytics", loader)
    for stream, days_back in LOST_ROWS:
        delete_row(stream, ALPHA, day0 - dt.timedelta(days=days_back))

    env_second = dict(env)
    zone = utc_skewed_zone()
    env_second.update(
        TAP_INDIGO_ANALYTICS_WORKSPACES=json.dumps([alpha, late]),
        TAP_INDIGO_ANALYTICS_START_DATE=late_first.isoformat(),
        TZ=zone,
        PGTZ=zone,
    )
    build = run(meltano, env_second, config, "tap-indigo-analytics", loader, f"{utility}:build")
    print(f"\n{loader}: first load {load:.1f} s; load + dbt build {build:.1f} s")

    raw: dict[str, dict[ex.Key, dict[str, Any]]] = {}
    for stream in STREAMS:
        raw[stream] = {}
        for project_id, start in ((ALPHA, first), (late_id, late_first)):
            for row in emulator.expected_rows(project_id, stream, start, day0):
                raw[stream][(project_id, dt.date.fromisoformat(row["date"]))] = row
    for stream, days_back in LOST_ROWS:
        del raw[stream][(ALPHA, day0 - dt.timedelta(days=days_back))]
    return {"raw": raw, "late": (late_id, late_first), "today": day0}


def check_marts(read: Reader, outcome: dict[str, Any]) -> dict[str, int]:
    """Every value of the three marts against Python; the tricky cases named; row counts."""
    utc_today = today()
    if utc_today != outcome["today"]:
        pytest.skip("the UTC date changed while the test ran: is_partial moved with it")
    daily = ex.daily_kpis(outcome["raw"], utc_today)
    expected = {
        "indigo__daily_kpis": daily,
        "indigo__weekly_kpis": ex.period_kpis(daily, "week"),
        "indigo__monthly_kpis": ex.period_kpis(daily, "month"),
    }
    actual: dict[str, dict[ex.Key, dict[str, Any]]] = {}
    for mart in MARTS:
        rows = read(mart)
        columns = ex.DAILY_COLUMNS if mart == "indigo__daily_kpis" else ex.PERIOD_COLUMNS
        assert rows, f"{mart} is empty"
        assert tuple(rows[0]) == columns, f"{mart}: columns differ from the contract"
        key = "date" if mart == "indigo__daily_kpis" else "period_start"
        actual[mart] = {(r["project_id"], r[key]): r for r in rows}
        assert len(actual[mart]) == len(rows), f"{mart}: duplicate keys"
        problems = ex.differences(actual[mart], expected[mart])
        assert not problems, f"{mart}: {len(problems)} differences, first: {problems[:8]}"

    # The cases issue 13 names, asserted outright so they cannot pass by being absent.
    late_id, late_first = outcome["late"]
    weekly, day = actual["indigo__weekly_kpis"], actual["indigo__daily_kpis"]
    first_week = weekly[(late_id, ex.week_start(late_first))]
    assert first_week["days_in_period"] == 1
    assert first_week["is_complete_period"] is False
    assert first_week["csat_responses"] == 0
    assert first_week["csat_avg"] is None
    assert weekly[(late_id, late_first + dt.timedelta(days=1))]["is_complete_period"] is True
    for project_id in (ALPHA, late_id):
        assert weekly[(project_id, ex.week_start(utc_today))]["is_complete_period"] is False
        assert [d for (p, d), r in day.items() if p == project_id and r["is_partial"]] == [
            utc_today
        ]
    lost_csat = day[(ALPHA, utc_today - dt.timedelta(days=20))]
    assert lost_csat["csat_responses"] is None
    assert lost_csat["chats"] is not None
    return {mart: len(rows) for mart, rows in actual.items()}


# -- DuckDB ---------------------------------------------------------------------------


def test_dbt_build_on_duckdb(meltano: str, emulator: Emulator, tmp_path: Path) -> None:
    path = tmp_path / "indigo.duckdb"
    env = base_env(emulator, tmp_path)
    env.update(TARGET_DUCKDB_FILEPATH=str(path), DBT_DUCKDB_PATH=str(path))

    def delete_row(stream: str, project_id: str, day: dt.date) -> None:
        with duckdb.connect(str(path)) as con:
            # target-duckdb keeps `date` as text.
            query = f'DELETE FROM analytics."{stream}" WHERE project_id = ? AND "date" = ?'
            deleted = con.execute(query, [project_id, day.isoformat()]).fetchone()
            assert deleted == (1,), deleted

    outcome = story(meltano, emulator, env, "target-duckdb", "dbt-duckdb", delete_row)

    def read(mart: str) -> list[dict[str, Any]]:
        with duckdb.connect(str(path), read_only=True) as con:
            cursor = con.execute(f'SELECT * FROM indigo_marts."{mart}"')
            names = [column[0] for column in cursor.description or []]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    counts = check_marts(read, outcome)
    print(f"DuckDB mart rows: {counts}")

    # The report of these very marts, as `make report` reads them, in a real browser.
    marts = read_duckdb(path)
    seen = load_page(build(tmp_path / "report.html", marts), tmp_path / "report.png")
    assert check_figures(seen, marts) > 0


# -- PostgreSQL -----------------------------------------------------------------------


@pytest.fixture
def pg() -> Iterator[tuple[psycopg.Connection[Any], str, str]]:
    """A connection, its DSN and a fresh schema name; the schemas are dropped afterwards."""
    dsn = pg_dsn()
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at TAP_INDIGO_PG_DSN ({type(exc).__name__})")
    schema = f"indigo_dbt_{secrets.token_hex(4)}"
    with conn:
        try:
            yield conn, dsn, schema
        finally:
            for name in (schema, f"{schema}_marts", f"{schema}_marts_staging"):
                drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                conn.execute(drop)


@pytest.mark.postgres
def test_dbt_build_on_postgres(
    meltano: str,
    emulator: Emulator,
    tmp_path: Path,
    pg: tuple[psycopg.Connection[Any], str, str],
) -> None:
    conn, dsn, schema = pg
    params = conninfo_to_dict(dsn)
    host, port = str(params.get("host", "localhost")), str(params.get("port", 5432))
    user, password = str(params.get("user", "")), str(params.get("password", ""))
    dbname = str(params.get("dbname", ""))
    env = base_env(emulator, tmp_path)
    env.update(
        TARGET_POSTGRES_HOST=host,
        TARGET_POSTGRES_PORT=port,
        TARGET_POSTGRES_USER=user,
        TARGET_POSTGRES_PASSWORD=password,
        TARGET_POSTGRES_DATABASE=dbname,
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
        DBT_POSTGRES_HOST=host,
        DBT_POSTGRES_PORT=port,
        DBT_POSTGRES_USER=user,
        DBT_POSTGRES_PASSWORD=password,
        DBT_POSTGRES_DBNAME=dbname,
        DBT_POSTGRES_SCHEMA=f"{schema}_marts",
        DBT_POSTGRES_SOURCE_SCHEMA=schema,
    )

    def delete_row(stream: str, project_id: str, day: dt.date) -> None:
        query = sql.SQL('DELETE FROM {}.{} WHERE project_id = %s AND "date" = %s').format(
            sql.Identifier(schema), sql.Identifier(stream)
        )
        assert conn.execute(query, [project_id, day]).rowcount == 1

    outcome = story(meltano, emulator, env, "target-postgres", "dbt-postgres", delete_row)

    def read(mart: str) -> list[dict[str, Any]]:
        query = sql.SQL("SELECT * FROM {}.{}").format(
            sql.Identifier(f"{schema}_marts"), sql.Identifier(mart)
        )
        cursor = conn.execute(query)
        names = [column.name for column in cursor.description or []]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    counts = check_marts(read, outcome)
    print(f"PostgreSQL mart rows: {counts}")
