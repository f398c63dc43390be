"""Third-party Singer targets, run as their users run them: the pipe, twice.

``tap --state s.json | target > s.json``: run 1 from ``start_date``, run 2 from the state
the target printed (the lookback days again). Each target lives in its own virtualenv at
the versions in ``tests/clients/`` (``make pytest`` builds them); without one the test is
skipped, unless TAP_INDIGO_REQUIRE_POSTGRES=1 (CI), where it fails.
"""

from __future__ import annotations

import json
import secrets
import subprocess
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest
from psycopg import sql
from psycopg.conninfo import conninfo_to_dict

from tap_indigo_analytics.schema import DEFAULT_LOOKBACK_DAYS
from tests.conftest import (
    STREAMS,
    WORKSPACES,
    assert_no_secret,
    days_back,
    tap_command,
    workspace_config,
)
from tests.emulator import Emulator
from tests.meltano_support import ROOT, pg_dsn, unavailable

pytestmark = pytest.mark.e2e

DAYS = 30  # run 1 reads start_date .. today: DAYS + 1 days
RERUN_DAYS = DEFAULT_LOOKBACK_DAYS + 1  # run 2: the bookmark day and the lookback days


def client(venv: str, executable: str) -> Path:
    path = ROOT / venv / "bin" / executable
    if not path.exists():
        unavailable(f"{venv} is not built (run `make pytest`)")
    return path


def pipe(
    tmp: Path, config: dict[str, Any], state: dict[str, Any] | None, target: list[str]
) -> tuple[dict[str, Any], float]:
    """One ``tap | target`` run; the target's last state line, and the wall time."""
    (tmp / "tap.json").write_text(json.dumps(config))
    command = [*tap_command(), "--config", str(tmp / "tap.json")]
    if state is not None:
        (tmp / "state.json").write_text(json.dumps(state))
        command += ["--state", str(tmp / "state.json")]
    started = time.monotonic()
    with (tmp / "tap.err").open("w") as tap_err:
        tap = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=tap_err)
        loaded = subprocess.run(
            target, stdin=tap.stdout, capture_output=True, text=True, check=False
        )
        assert tap.stdout is not None
        tap.stdout.close()
        tap_rc = tap.wait(timeout=120)
    elapsed = time.monotonic() - started
    tap_log = (tmp / "tap.err").read_text()
    assert tap_rc == 0, tap_log[-3000:]
    assert loaded.returncode == 0, loaded.stderr[-3000:]
    assert_no_secret(tap_log + loaded.stdout + loaded.stderr, config)
    lines = [line for line in loaded.stdout.splitlines() if line.strip()]
    assert lines, f"the target printed no state; its log:\n{loaded.stderr[-2000:]}"
    return json.loads(lines[-1]), elapsed


def bookmarks(state: dict[str, Any]) -> dict[tuple[str, str], str]:
    return {
        (stream, p["context"]["project_id"]): p["replication_key_value"]
        for stream, stream_state in state["bookmarks"].items()
        for p in stream_state["partitions"]
    }


def expected_keys(days: int) -> set[tuple[str, str]]:
    return {(p, days_back(n)) for p in WORKSPACES for n in range(days)}


def test_two_runs_into_target_jsonl(emulator: Emulator, tmp_path: Path) -> None:
    target = client(".venv-target-jsonl", "target-jsonl")
    out = tmp_path / "out"
    out.mkdir()
    (tmp_path / "target.json").write_text(
        json.dumps({"destination_path": str(out), "do_timestamp_file": False})
    )
    command = [str(target), "--config", str(tmp_path / "target.json")]
    config = workspace_config(emulator, start_date=days_back(DAYS))
    state, first = pipe(tmp_path, config, None, command)
    assert set(bookmarks(state).values()) == {days_back(0)}
    rows = {s: [json.loads(x) for x in (out / f"{s}.jsonl").open()] for s in STREAMS}
    for stream, records in rows.items():
        assert {(r["project_id"], r["date"]) for r in records} == expected_keys(DAYS + 1), stream
        assert len(records) == len(WORKSPACES) * (DAYS + 1)
    assert all(type(r["avg_score"]) in (float, type(None)) for r in rows["daily_csat"])
    # Run 2 from the state the target printed: only the lookback days, appended.
    again, second = pipe(tmp_path, config, state, command)
    assert again == state
    for stream in STREAMS:
        records = [json.loads(x) for x in (out / f"{stream}.jsonl").open()]
        added = Counter((r["project_id"], r["date"]) for r in records[len(rows[stream]) :])
        assert set(added) == expected_keys(RERUN_DAYS), stream
        assert set(added.values()) == {1}
    print(f"\ntarget-jsonl: run 1 {first:.1f} s, run 2 {second:.1f} s")


@pytest.fixture
def pg_schema() -> Iterator[tuple[psycopg.Connection[Any], str]]:
    dsn = pg_dsn()
    try:
        conn = psycopg.connect(dsn, autocommit=True, connect_timeout=3)
    except psycopg.Error as exc:
        unavailable(f"PostgreSQL not reachable at TAP_INDIGO_PG_DSN ({type(exc).__name__})")
    schema = f"indigo_pw_{secrets.token_hex(4)}"
    try:
        with conn:
            yield conn, schema
    finally:
        with psycopg.connect(dsn, autocommit=True) as cleanup:
            cleanup.execute(
                sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
            )


@pytest.mark.postgres
def test_two_runs_into_pipelinewise_target_postgres(
    emulator: Emulator, tmp_path: Path, pg_schema: tuple[psycopg.Connection[Any], str]
) -> None:
    target = client(".venv-pipelinewise-target-postgres", "target-postgres")
    conn, schema = pg_schema
    params = conninfo_to_dict(pg_dsn())
    (tmp_path / "target.json").write_text(
        json.dumps(
            {
                "host": params.get("host", "localhost"),
                "port": int(str(params.get("port") or 5432)),
                "user": params.get("user"),
                "password": params.get("password"),
                "dbname": params.get("dbname"),
                "default_target_schema": schema,
            }
        )
    )
    command = [str(target), "--config", str(tmp_path / "target.json")]
    config = workspace_config(emulator, start_date=days_back(DAYS))

    def keys(stream: str) -> list[tuple[str, str]]:
        query = sql.SQL("SELECT project_id, date FROM {}.{}").format(
            sql.Identifier(schema), sql.Identifier(stream)
        )
        return [(str(p), str(d)) for p, d in conn.execute(query).fetchall()]

    state, first = pipe(tmp_path, config, None, command)
    for stream in STREAMS:
        assert Counter(keys(stream)) == Counter(expected_keys(DAYS + 1)), stream
    again, second = pipe(tmp_path, config, state, command)
    assert again == state
    for stream in STREAMS:  # upserted on the key: no duplicate
        assert Counter(keys(stream)) == Counter(expected_keys(DAYS + 1)), stream
    types = dict(
        conn.execute(
            "SELECT table_name || '.' || column_name, data_type FROM information_schema.columns"
            " WHERE table_schema = %s",
            (schema,),
        ).fetchall()
    )
    assert types["daily_chats.count"] == "bigint"
    assert types["daily_messages.inbound_messages"] == "bigint"
    assert types["daily_csat.avg_score"] == "double precision"
    print(f"\npipelinewise-target-postgres: run 1 {first:.1f} s, run 2 {second:.1f} s")
