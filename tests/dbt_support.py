"""What the dbt end-to-end suites share: ``meltano run`` / ``meltano invoke`` as a user
types them, and one face for both warehouses (the raw tables the loader wrote, the marts
dbt built), so each story is told once for DuckDB and PostgreSQL alike."""

from __future__ import annotations

import datetime as dt
import json
import os
import secrets
import subprocess
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import duckdb
import psycopg
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tests import dbt_expected as ex
from tests.conftest import STREAMS, assert_no_secret
from tests.emulator import Emulator
from tests.meltano_support import pg_dsn, unavailable

ROOT = Path(__file__).resolve().parent.parent
MARTS = ("indigo__daily_kpis", "indigo__weekly_kpis", "indigo__monthly_kpis")
PLUGIN_VENVS = (
    "extractors/tap-indigo-analytics",
    "loaders/target-duckdb",
    "loaders/target-postgres",
    "utilities/dbt-duckdb",
    "utilities/dbt-postgres",
)


def meltano_command(
    meltano: str, env: dict[str, str], args: Sequence[str], config: dict[str, Any]
) -> tuple[int, str, float]:
    """``meltano ARGS`` from the project root: exit status, output, seconds taken. Fails
    if any token of ``config`` (or of the test workspaces) shows in the output."""
    started = time.monotonic()
    proc = subprocess.run(
        [meltano, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
        check=False,
    )
    output = proc.stdout + proc.stderr
    assert_no_secret(output, config)
    return proc.returncode, output, time.monotonic() - started


def run(meltano: str, env: dict[str, str], config: dict[str, Any], *plugins: str) -> float:
    """``meltano run PLUGINS``; fails with its output's tail, returns seconds taken."""
    code, output, seconds = meltano_command(meltano, env, ["run", *plugins], config)
    assert code == 0, output[-6000:]
    return seconds


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
        DBT_USE_COLORS="false",
    )
    # The utilities' own settings (DBT_TARGET_PATH is what they export, not what they read).
    for utility in ("DUCKDB", "POSTGRES"):
        env[f"DBT_{utility}_TARGET_PATH"] = str(tmp_path / "dbt-target")
        env[f"DBT_{utility}_LOG_PATH"] = str(tmp_path / "dbt-logs")
    return env


def node_status(tmp_path: Path, model: str) -> str | None:
    """The status of one model in the last dbt command's run_results.json."""
    results = json.loads((tmp_path / "dbt-target" / "run_results.json").read_text())
    for result in results["results"]:
        if result["unique_id"] == f"model.indigo_analytics.{model}":
            return str(result["status"])
    return None


@dataclass
class Warehouse:
    """One warehouse as the tests see it; subclasses speak its dialect."""

    loader: str
    utility: str
    env: dict[str, str] = field(default_factory=dict)

    def query(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        """Run SQL (``{raw}``: the raw schema, ``{marts}``: the marts schema; ``?`` marks a
        parameter); rows as dicts."""
        raise NotImplementedError

    def day(self, day: dt.date) -> Any:
        """A day as the loader stores ``date`` (target-duckdb: text)."""
        return day

    def read(self, mart: str) -> list[dict[str, Any]]:
        """Every row of one mart, in its column order."""
        return self.query(f'SELECT * FROM {{marts}}."{mart}"')

    def tables(self) -> set[str]:
        """The tables the loader created."""
        rows = self.query(
            "SELECT table_name FROM information_schema.tables WHERE table_schema = ?",
            [self.raw_schema],
        )
        return {r["table_name"] for r in rows}

    @property
    def raw_schema(self) -> str:
        raise NotImplementedError

    def comments(self, mart: str) -> tuple[str | None, dict[str, str | None]]:
        """One mart's table comment and its column comments (dbt's persist_docs)."""
        raise NotImplementedError

    def copies(self, stream: str, project_id: str, day: dt.date) -> int:
        """Raw rows of one key (more than one after an append-only load)."""
        rows = self.query(
            f'SELECT count(*) AS n FROM {{raw}}."{stream}" WHERE project_id = ? AND "date" = ?',
            [project_id, self.day(day)],
        )
        return int(rows[0]["n"])

    def delete_day(self, stream: str, project_id: str, day: dt.date) -> None:
        """Lose every copy of one raw row, as a failed load would."""
        before = self.copies(stream, project_id, day)
        self.query(
            f'DELETE FROM {{raw}}."{stream}" WHERE project_id = ? AND "date" = ?',
            [project_id, self.day(day)],
        )
        assert before > 0
        assert self.copies(stream, project_id, day) == 0

    def set_extracted(self, stream: str, project_id: str, day: dt.date, at: dt.datetime) -> None:
        """Say the loader read that day's row at ``at`` (naive UTC)."""
        self.query(
            f'UPDATE {{raw}}."{stream}" SET _sdc_extracted_at = ? '
            'WHERE project_id = ? AND "date" = ?',
            [at, project_id, self.day(day)],
        )

    def age(self, stream: str, hours: float) -> None:
        """Move every extraction time of one table ``hours`` back (a stalled tap)."""
        self.query(
            f'UPDATE {{raw}}."{stream}" SET _sdc_extracted_at = _sdc_extracted_at - ?',
            [dt.timedelta(hours=hours)],
        )

    def extracted(self, stream: str) -> dict[ex.Key, dt.datetime]:
        """When the loader last read each key of one table."""
        rows = self.query(
            f'SELECT project_id, "date" AS d, max(_sdc_extracted_at) AS t '
            f'FROM {{raw}}."{stream}" GROUP BY project_id, "date"'
        )
        return {(r["project_id"], as_date(r["d"])): r["t"] for r in rows}


def as_date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(value)


@dataclass
class DuckDBWarehouse(Warehouse):
    path: Path = Path()

    @property
    def raw_schema(self) -> str:
        return "analytics"

    def day(self, day: dt.date) -> Any:
        return day.isoformat()

    def query(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        # A short connection each time: the loader and dbt need the file's write lock.
        with duckdb.connect(str(self.path)) as con:
            cursor = con.execute(text.format(raw="analytics", marts="indigo_marts"), list(params))
            if cursor.description is None:
                return []
            names = [column[0] for column in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def comments(self, mart: str) -> tuple[str | None, dict[str, str | None]]:
        where = "WHERE schema_name = 'indigo_marts' AND table_name = ?"
        table = self.query(f"SELECT comment FROM duckdb_tables() {where}", [mart])
        columns = self.query(f"SELECT column_name, comment FROM duckdb_columns() {where}", [mart])
        return table[0]["comment"], {r["column_name"]: r["comment"] for r in columns}


@dataclass
class PostgresWarehouse(Warehouse):
    conn: Any = None
    schema: str = ""

    @property
    def raw_schema(self) -> str:
        return self.schema

    def query(self, text: str, params: Sequence[Any] = ()) -> list[dict[str, Any]]:
        formatted = text.format(raw=f'"{self.schema}"', marts=f'"{self.schema}_marts"')
        cursor = self.conn.execute(formatted.replace("?", "%s"), list(params))
        if cursor.description is None:
            return []
        names = [column.name for column in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]

    def comments(self, mart: str) -> tuple[str | None, dict[str, str | None]]:
        relation = sql.Identifier(f"{self.schema}_marts", mart).as_string(self.conn)
        table = self.query("SELECT obj_description(?::regclass, 'pg_class') AS c", [relation])
        columns = self.query(
            "SELECT attname, col_description(attrelid, attnum) AS c FROM pg_attribute "
            "WHERE attrelid = ?::regclass AND attnum > 0 AND NOT attisdropped",
            [relation],
        )
        return table[0]["c"], {r["attname"]: r["c"] for r in columns}


@contextmanager
def warehouse(kind: str, emulator: Emulator, tmp_path: Path) -> Iterator[Warehouse]:
    """A fresh DuckDB file, or fresh PostgreSQL schemas (dropped afterwards), with the
    Meltano environment that loads and builds into it."""
    env = base_env(emulator, tmp_path)
    if kind == "duckdb":
        path = tmp_path / "indigo.duckdb"
        env.update(TARGET_DUCKDB_FILEPATH=str(path), DBT_DUCKDB_PATH=str(path))
        yield DuckDBWarehouse("target-duckdb", "dbt-duckdb", env, path=path)
        return
    dsn = pg_dsn()
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at TAP_INDIGO_PG_DSN ({type(exc).__name__})")
    schema = f"indigo_dbt_{secrets.token_hex(4)}"
    params = conninfo_to_dict(dsn)
    for prefix, database in (("TARGET_POSTGRES_", "DATABASE"), ("DBT_POSTGRES_", "DBNAME")):
        env.update(
            {
                f"{prefix}HOST": str(params.get("host", "localhost")),
                f"{prefix}PORT": str(params.get("port", 5432)),
                f"{prefix}USER": str(params.get("user", "")),
                f"{prefix}PASSWORD": str(params.get("password", "")),
                f"{prefix}{database}": str(params.get("dbname", "")),
            }
        )
    env.update(
        TARGET_POSTGRES_DEFAULT_TARGET_SCHEMA=schema,
        DBT_POSTGRES_SCHEMA=f"{schema}_marts",
        DBT_POSTGRES_SOURCE_SCHEMA=schema,
    )
    with conn:
        try:
            yield PostgresWarehouse(
                "target-postgres", "dbt-postgres", env, conn=conn, schema=schema
            )
        finally:
            for name in (schema, f"{schema}_marts", f"{schema}_marts_staging"):
                drop = sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(name))
                conn.execute(drop)


def expected_raw(
    emulator: Emulator,
    wh: Warehouse,
    starts: dict[str, dt.date],
    end: dt.date,
    streams: Sequence[str] = STREAMS,
    lost: Sequence[tuple[str, str, dt.date]] = (),
) -> dict[str, dict[ex.Key, dict[str, Any]]]:
    """The oracle's input: what the API serves now for each workspace from its start day,
    less the ``lost`` (stream, project_id, day) rows, each with when the loader last read
    it (from the raw table: the loader's own record of it)."""
    raw: dict[str, dict[ex.Key, dict[str, Any]]] = {}
    for stream in streams:
        read_at = wh.extracted(stream)
        raw[stream] = {}
        for project_id, start in starts.items():
            for row in emulator.expected_rows(project_id, stream, start, end):
                key = (project_id, dt.date.fromisoformat(row["date"]))
                if (stream, *key) not in lost:
                    assert key in read_at, (stream, key, min(read_at), len(read_at))
                    raw[stream][key] = {**row, ex.EXTRACTED_AT: read_at[key]}
    return raw


def check_against_oracle(
    wh: Warehouse, raw: dict[str, dict[ex.Key, dict[str, Any]]]
) -> dict[str, dict[ex.Key, dict[str, Any]]]:
    """Every value of the three marts equals tests/dbt_expected.py's; the marts by key."""
    daily = ex.daily_kpis(raw)
    expected = {
        "indigo__daily_kpis": daily,
        "indigo__weekly_kpis": ex.period_kpis(daily, raw, "week"),
        "indigo__monthly_kpis": ex.period_kpis(daily, raw, "month"),
    }
    actual: dict[str, dict[ex.Key, dict[str, Any]]] = {}
    for mart in MARTS:
        rows = wh.read(mart)
        columns = ex.DAILY_COLUMNS if mart == "indigo__daily_kpis" else ex.PERIOD_COLUMNS
        assert rows, f"{mart} is empty"
        assert tuple(rows[0]) == columns, f"{mart}: columns differ from the contract"
        key = "date" if mart == "indigo__daily_kpis" else "period_start"
        actual[mart] = {(r["project_id"], r[key]): r for r in rows}
        assert len(actual[mart]) == len(rows), f"{mart}: duplicate keys"
        problems = ex.differences(actual[mart], expected[mart])
        assert not problems, f"{mart}: {len(problems)} differences, first: {problems[:8]}"
    return actual
