"""Failures that must stop in one clear line, and a SIGKILL that must lose nothing:
contract drift in the response's shape, 401/403 under ``fail_fast``, and a sync killed
halfway then resumed (the retried faults: test_resilience.py).

Each test runs the real CLI (``run_tap``, which also checks that no token leaks) and then
asserts both what came out (the full, non-duplicated data set, or the exact failure) and
what went over the wire (the emulator's request log). Waits are scaled down: retry_after
of 0-1 s, no backoff wait, a rate window of 2 s, so the file runs in well under a minute.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import os
import select
import signal
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    STREAMS,
    assert_no_secret,
    by_day,
    run_tap,
    tap_command,
    today,
    workspace_config,
)
from tests.emulator import Emulator, Faults
from tests.resilience_support import (
    ALPHA,
    BASELINE,
    DAYS,
    FIRST,
    FIRST_PATH,
    assert_complete,
    only_error,
    small_config,
)

# --- the response shape -----------------------------------------------------------------


@pytest.mark.parametrize("key", ["data", "metadata", "metadata.next_cursor"])
def test_an_envelope_without_a_key_fails_naming_endpoint_and_key(
    emulator: Emulator, key: str
) -> None:
    emulator.faults = Faults(drop_envelope_key=key)
    run = run_tap(small_config(emulator))
    message = only_error(run)
    assert FIRST in message
    assert FIRST_PATH in message
    assert f"`{key}`" in message
    assert "the response shape differs from the contract" in message
    assert len(emulator.requests()) == 1
    assert not run.records()


def test_a_row_without_a_date_fails(emulator: Emulator) -> None:
    emulator.faults = Faults(renamed_fields={"daily_chats": {"date": "day"}})
    run = run_tap(small_config(emulator))
    message = only_error(run)
    assert "daily_chats" in message
    assert "row 0 has no valid `date` (got None)" in message
    assert "the response shape differs from the contract" in message
    # daily_ai_quality was fine (two pages); daily_chats failed on its first page.
    assert [r.stream for r in emulator.requests()] == [FIRST] * 2 + ["daily_chats"]
    assert not run.records("daily_chats")


def test_a_row_missing_a_metric_fails_naming_it(emulator: Emulator) -> None:
    emulator.faults = Faults(renamed_fields={"daily_chats": {"count": "sessions"}})
    run = run_tap(small_config(emulator))
    message = only_error(run)
    assert "daily_chats" in message
    assert "lacks ['count']" in message
    assert "the response shape differs from the contract" in message
    assert "sessions" in run.stderr  # the unknown field it got instead is named too
    assert len(emulator.requests()) == 3


def test_an_unknown_field_is_warned_about_once_per_name(emulator: Emulator) -> None:
    emulator.faults = Faults(extra_fields={"daily_csat": {"nps": 9, "channel": "web"}})
    ids = (ALPHA, "ws-beta")
    run = run_tap(small_config(emulator, *ids))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_complete(emulator, run, ids)  # the extra fields are not in the records
    warnings = [line for line in run.stderr.splitlines() if "does not know" in line]
    assert len(warnings) == 2, warnings
    assert sum("'nps'" in line for line in warnings) == 1
    assert sum("'channel'" in line for line in warnings) == 1
    assert all("daily_csat" in line and "WARN" in line for line in warnings)
    assert len(emulator.requests()) == 2 * BASELINE


# --- 401 and 403 stop the whole run under fail_fast -----------------------------------------


def test_401_stops_the_whole_run_at_once(emulator: Emulator) -> None:
    config = small_config(emulator, ALPHA, "ws-beta", max_tries=6, backoff_seconds=1)
    config["workspaces"][0]["pat"] = "pat-revokedToken0000000"
    started = time.monotonic()
    run = run_tap(config)
    assert time.monotonic() - started < 5
    message = only_error(run)
    assert "Indigo rejected the personal access token (401 unauthenticated) — check `pat`" in (
        message
    )
    assert ALPHA in message
    log = emulator.requests()
    assert [(r.stream, r.project_id, r.status) for r in log] == [(FIRST, ALPHA, 401)]
    assert not run.records()
    assert "revokedToken" not in run.stderr


def test_403_stops_the_whole_run_naming_the_workspace(emulator: Emulator) -> None:
    # ws-alpha is fine; ws-beta is given alpha's token, which Indigo refuses for beta.
    config = small_config(emulator, ALPHA, "ws-beta", max_tries=6, backoff_seconds=1)
    config["workspaces"][1]["pat"] = config["workspaces"][0]["pat"]
    started = time.monotonic()
    run = run_tap(config)
    assert time.monotonic() - started < 5
    message = only_error(run)
    assert "token does not belong to workspace ws-beta (403 unauthorized)" in message.lower()
    log = emulator.requests()
    assert [(r.stream, r.project_id, r.status) for r in log] == [
        (FIRST, ALPHA, 200),
        (FIRST, ALPHA, 200),
        (FIRST, "ws-beta", 403),
    ]
    assert len(by_day(run.records(FIRST), ALPHA)) == DAYS
    assert not run.records("daily_chats")


# --- SIGKILL halfway, then resume -----------------------------------------------------------


def run_until_killed(config: dict[str, Any], records_before_kill: int) -> list[dict[str, Any]]:
    """Start the CLI, read its messages until enough RECORDs, then SIGKILL it."""
    messages: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        config_path = Path(tmp, "config.json")
        config_path.write_text(json.dumps(config))
        proc = subprocess.Popen(
            [*tap_command(), "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            text=True,
            env={**os.environ},
        )
        assert proc.stdout is not None
        try:
            deadline = time.monotonic() + 60
            records = 0
            while records < records_before_kill:
                assert time.monotonic() < deadline, "the tap did not get far enough"
                ready, _, _ = select.select([proc.stdout], [], [], 1.0)
                if not ready:
                    continue
                line = proc.stdout.readline()
                assert line, f"the tap ended before it was killed ({proc.wait()})"
                message = json.loads(line)
                messages.append(message)
                records += message["type"] == "RECORD"
            proc.send_signal(signal.SIGKILL)
        finally:
            proc.kill()
            proc.wait(timeout=10)
            proc.stdout.close()
        assert proc.returncode == -signal.SIGKILL
    assert_no_secret(json.dumps(messages), config)
    return messages


def bookmarks_of(state: dict[str, Any]) -> dict[tuple[str, str], str]:
    """``(stream, project_id) -> date`` bookmarks in a STATE value."""
    return {
        (stream, part["context"]["project_id"]): part["replication_key_value"]
        for stream, entry in state["bookmarks"].items()
        for part in entry.get("partitions", [])
        if "replication_key_value" in part
    }


def test_a_killed_sync_resumes_from_its_last_state_and_loses_no_day(emulator: Emulator) -> None:
    ids = (ALPHA, "ws-beta")
    days = 801  # three 365-day windows per stream and workspace
    start = today() - dt.timedelta(days=days - 1)
    total_records = days * len(ids) * len(STREAMS)
    # A STATE every second, so some are out before the kill.
    config = workspace_config(
        emulator, *ids, start_date=start.isoformat(), state_interval_seconds=1
    )
    emulator.faults = Faults(latency_s=0.05)  # slow enough to be killed mid-stream

    first = run_until_killed(config, records_before_kill=total_records // 3 + 100)
    states = [m["value"] for m in first if m["type"] == "STATE"]
    assert states, "no STATE before the kill"
    first_records = [m for m in first if m["type"] == "RECORD"]
    assert len(first_records) < total_records
    # The tap had emitted records after its last STATE: those must come again.
    last_state_at = max(i for i, m in enumerate(first) if m["type"] == "STATE")
    assert any(m["type"] == "RECORD" for m in first[last_state_at:])
    resume_from = bookmarks_of(states[-1])
    assert 0 < len(resume_from) < len(ids) * len(STREAMS)

    emulator.clear_log()
    emulator.faults = Faults()
    second = run_tap(config, state=states[-1])
    assert second.returncode == 0, second.stderr[-3000:]

    for stream in STREAMS:
        for project_id in ids:
            # The second run starts at the bookmark day minus the default lookback of 2 days
            # (never before start_date), else at start_date.
            bookmark = resume_from.get((stream, project_id))
            restart = start
            if bookmark is not None:
                restart = max(start, dt.date.fromisoformat(bookmark) - dt.timedelta(days=2))
            windows = math.ceil(((today() - restart).days + 1) / 365)
            # Windows of one partition are fetched concurrently: order them by day.
            asked = sorted(emulator.requests(stream, project_id), key=lambda r: r.params["from"])
            assert len(asked) == windows, (stream, project_id)
            assert asked[0].params["from"] == restart.isoformat()

            before = {
                m["record"]["date"]: m["record"]
                for m in first_records
                if m["stream"] == stream and m["record"]["project_id"] == project_id
            }
            after = by_day(second.records(stream), project_id)  # no duplicate within a run
            expected = emulator.expected_rows(project_id, stream, start, today())
            assert sorted(after) == [r["date"] for r in expected if r["date"] >= str(restart)]
            union = {**before, **after}
            assert sorted(union) == [row["date"] for row in expected], (stream, project_id)
            for row in expected:
                assert union[row["date"]] == {**row, "project_id": project_id}
