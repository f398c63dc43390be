"""Never lose a day, never hang: what the server sends is checked where it enters.

Each test switches on one emulator fault (tests/emulator/faults.py) and runs the real
tap CLI against it over loopback; the README's reliability section lists the outcomes.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    STREAMS,
    TapRun,
    by_day,
    run_tap,
    tap_command,
    today,
    workspace_config,
)
from tests.conftest import (
    days_back as day,
)
from tests.emulator import Emulator, Faults

ALPHA = "ws-alpha"
CHATS = "daily_chats"


def config(emulator: Emulator, days: int = 60, **overrides: Any) -> dict[str, Any]:
    """One workspace, ``days`` days, pages of 30, retries at once; the first failure
    stops the run (``fail_fast``), so each test reads one failure's line and requests
    (isolating failures is tested in test_isolation.py)."""
    return workspace_config(
        emulator,
        ALPHA,
        **{"start_date": day(days - 1), "page_size": 30, "fail_fast": True, **overrides},
    )


def one_line_error(run: TapRun) -> str:
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return run.error_lines()[-1]


def assert_bookmarks_before(run: TapRun, stream: str, first_missing: str) -> None:
    """No STATE of the run ever put the bookmark on or past the first missing day."""
    for state in run.states:
        for partition in state["bookmarks"].get(stream, {}).get("partitions", []):
            value = partition.get("replication_key_value")
            assert value is None or value < first_missing, (state, first_missing)


# --- 1. short or empty pages -------------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "first_missing", "said", "requests"),
    [
        (Faults(missing_days=frozenset({day(30)})), day(30), f"left out day {day(30)} of", 6),
        (
            Faults(missing_days=frozenset(day(n) for n in range(26, 31))),
            day(30),
            f"left out days {day(30)} to {day(26)} (5 days)",
            6,
        ),
        (Faults(truncate_days=5), day(4), f"days {day(4)} to {day(0)} (5 days)", 6),
        (Faults(empty_data=True), day(59), f"days {day(59)} to {day(0)} (60 days)", 3),
    ],
    ids=["one-day-missing", "five-days-missing", "last-page-short", "empty-data"],
)
def test_an_incomplete_window_fails_and_no_bookmark_passes_the_hole(
    emulator: Emulator, faults: Faults, first_missing: str, said: str, requests: int
) -> None:
    emulator.faults = faults
    run = run_tap(config(emulator, max_concurrency=1))
    message = one_line_error(run)
    assert "daily_ai_quality" in message  # the first stream in sync order
    assert ALPHA in message
    assert said in message
    assert "again after 2 restarts" in message
    # The window was read three times (two restarts); none of it was written, and the
    # run stopped there.
    assert len(emulator.requests("daily_ai_quality")) == requests
    assert len(emulator.requests()) == requests
    assert run.records() == []
    assert_bookmarks_before(run, "daily_ai_quality", first_missing)


@pytest.mark.parametrize(
    "faults",
    [
        Faults(missing_days=frozenset({day(10)}), page_fault_limit=1),
        Faults(truncate_days=3, page_fault_limit=1),
        Faults(empty_data=True, page_fault_limit=1),
    ],
    ids=["missing-day", "short-last-page", "empty-data"],
)
def test_a_window_that_heals_on_restart_is_delivered_whole(
    emulator: Emulator, faults: Faults
) -> None:
    emulator.faults = faults
    run = run_tap(config(emulator, max_concurrency=1))
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in STREAMS:
        got = by_day(run.records(stream), ALPHA)
        expected = emulator.expected_rows(ALPHA, stream, today() - dt.timedelta(days=59), today())
        assert [got[row["date"]] for row in expected] == [
            {**row, "project_id": ALPHA} for row in expected
        ]
    assert run.stderr.count("restarting the window from") == 1


# --- 2. a bookmark after today ----------------------------------------------------------


def test_a_bookmark_after_today_is_read_as_today_with_a_warning(emulator: Emulator) -> None:
    state = {
        "bookmarks": {
            CHATS: {
                "partitions": [
                    {
                        "context": {"project_id": ALPHA},
                        "replication_key": "date",
                        "replication_key_value": "2030-01-01",
                    }
                ]
            }
        }
    }
    run = run_tap(config(emulator), state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    warnings = [line for line in run.stderr.splitlines() if "after today" in line]
    assert len(warnings) == 1
    assert CHATS in warnings[0]
    assert ALPHA in warnings[0]
    assert "2030-01-01" in warnings[0]
    assert today().isoformat() in warnings[0]
    # Read as if the bookmark were today: today and the default two-day lookback.
    assert sorted(r["date"] for r in run.records(CHATS)) == [day(2), day(1), day(0)]
    assert run.bookmark(CHATS, ALPHA) == today().isoformat()


# --- 3. late corrections and midnight ---------------------------------------------------


def test_the_default_lookback_brings_late_corrections(emulator: Emulator) -> None:
    first = run_tap(config(emulator, days=10))
    assert first.returncode == 0, first.stderr[-3000:]
    emulator.faults = Faults(revisions={day(1): 1, day(2): 1})  # refreshed after the fact
    second = run_tap(config(emulator, days=10), state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    got = by_day(second.records(CHATS), ALPHA)
    for n in (1, 2):
        fresh = emulator.expected_row(ALPHA, CHATS, today() - dt.timedelta(days=n))
        assert got[day(n)] == {**fresh, "project_id": ALPHA}
    assert all(len(emulator.requests(s)) == 2 for s in STREAMS)  # one request per run


def test_a_server_behind_midnight_is_corrected_by_the_next_run() -> None:
    """The server's day is still yesterday and zero-fills 'future' days: the tap's today
    comes back as zeros, and the next run (lookback 2) replaces them; the tap never asks
    past its own today."""
    with Emulator({ALPHA: "alphaSecretToken0001"}, today=today() - dt.timedelta(days=1)) as emu:
        emu.faults = Faults(zero_fill_future=True)
        first = run_tap(config(emu, days=5))
        assert first.returncode == 0, first.stderr[-3000:]
        assert by_day(first.records(CHATS), ALPHA)[day(0)]["count"] == 0
        emu.fixed_today = today()
        second = run_tap(config(emu, days=5), state=first.state)
        assert second.returncode == 0, second.stderr[-3000:]
        fresh = emu.expected_row(ALPHA, CHATS, today())
        assert by_day(second.records(CHATS), ALPHA)[day(0)] == {**fresh, "project_id": ALPHA}
        tomorrow = (today() + dt.timedelta(days=1)).isoformat()
        assert max(r.params["to"] for r in emu.requests()) == tomorrow


# --- 4. values of the wrong type or out of range ----------------------------------------


@pytest.mark.parametrize(
    ("value", "said"),
    [
        ("12", "a string ('12')"),
        (12.7, "a decimal number (12.7)"),
        (True, "a boolean"),
        (None, "null"),
        ({}, "an object"),
    ],
    ids=["string", "decimal", "boolean", "null", "object"],
)
def test_a_value_of_the_wrong_type_fails_naming_stream_field_day(
    emulator: Emulator, value: Any, said: str
) -> None:
    emulator.faults = Faults(
        value_overrides={CHATS: {"count": value}}, value_override_days=frozenset({day(7)})
    )
    run = run_tap(config(emulator))
    message = one_line_error(run)
    assert CHATS in message
    assert "`count`" in message
    assert day(7) in message
    assert said in message
    assert "not an integer" in message
    assert run.records(CHATS) == []  # the window holding the bad day was not written


def test_out_of_range_values_are_kept_and_warned_once(emulator: Emulator) -> None:
    emulator.faults = Faults(
        value_overrides={CHATS: {"count": -3}, "daily_csat": {"avg_score": 7.5}},
        value_override_days=frozenset({day(5), day(3)}),
    )
    run = run_tap(config(emulator))
    assert run.returncode == 0, run.stderr[-3000:]
    warned = [line for line in run.stderr.splitlines() if "outside its documented range" in line]
    assert len(warned) == 2
    assert any(CHATS in w and "`count` is -3" in w and day(5) in w for w in warned)
    assert any("daily_csat" in w and "`avg_score` is 7.5" in w and "1 to 5" in w for w in warned)
    assert by_day(run.records(CHATS), ALPHA)[day(3)]["count"] == -3


# --- 5. responses that never end --------------------------------------------------------


def test_a_trickled_body_times_out_within_the_deadline_and_is_retried(emulator: Emulator) -> None:
    emulator.faults = Faults(trickle_s=0.2, trickle_on=frozenset({1}))
    started = time.monotonic()
    run = run_tap(config(emulator, request_timeout=2, max_concurrency=1))
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    retries = [line for line in run.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == 1, retries
    assert "timed out" in retries[0]
    assert elapsed < 15


@pytest.mark.parametrize(
    "faults",
    [Faults(endless_continue=True), Faults(trickle_s=0.3)],
    ids=["endless-100-continue", "trickle"],
)
def test_an_answer_that_never_ends_fails_as_a_timeout(emulator: Emulator, faults: Faults) -> None:
    emulator.faults = faults
    started = time.monotonic()
    run = run_tap(config(emulator, request_timeout=1, max_tries=2))
    elapsed = time.monotonic() - started
    message = one_line_error(run)
    assert "gave up after 2 tries" in message
    assert "timed out" in message
    assert elapsed < 20


@pytest.mark.parametrize(
    "faults",
    [Faults(endless_chunked=True), Faults(huge_body_bytes=500 * 1024 * 1024)],
    ids=["endless-chunked", "500-MB-body"],
)
def test_a_body_over_the_cap_is_refused_with_bounded_memory(
    emulator: Emulator, faults: Faults, tmp_path: Path
) -> None:
    emulator.faults = faults
    path = tmp_path / "config.json"
    path.write_text(json.dumps(config(emulator)))
    # A fresh parent whose only child is the tap, so its peak RSS is the tap's alone (the
    # test process's own children include every other suite's tools).
    peak_of_child = (
        "import resource, subprocess, sys; code = subprocess.run(sys.argv[1:]).returncode; "
        "print('peak-kib', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, "
        "file=sys.stderr); sys.exit(code)"
    )
    proc = subprocess.run(
        [sys.executable, "-c", peak_of_child, *tap_command(), "--config", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    run = TapRun(proc.returncode, proc.stdout, proc.stderr)
    message = one_line_error(run)
    assert "daily_ai_quality" in message
    assert "too large" in message
    peak_kib = int(proc.stderr.rsplit("peak-kib", 1)[1].split()[0])
    assert peak_kib < 200 * 1024, f"the tap peaked at {peak_kib} KiB for a 32 MiB cap"


# --- 6. endless pagination --------------------------------------------------------------


def test_endless_pagination_stops_at_the_page_cap(emulator: Emulator) -> None:
    emulator.faults = Faults(endless_pagination=True)
    run = run_tap(config(emulator, max_concurrency=1))
    message = one_line_error(run)
    assert "daily_ai_quality" in message
    assert ALPHA in message
    assert "more than 4 pages" in message
    assert len(emulator.requests()) == 4  # ⌈60 / 30⌉ + 2 pages, then the error


# --- 9. every exchange takes a budget slot; redirect loops ------------------------------


def test_same_origin_redirects_take_a_budget_slot_each(emulator: Emulator) -> None:
    emulator.faults = Faults(redirect_same_origin=True, rate_limit=(10, 2.0))
    run = run_tap(config(emulator, days=30, requests_per_minute=10, rate_limit_window_seconds=2))
    assert run.returncode == 0, run.stderr[-3000:]
    log = emulator.requests()
    assert len(log) == 2 * len(STREAMS)  # each request and its redirect
    assert [r for r in log if r.status == 429] == []
    assert len(run.records()) == 30 * len(STREAMS)


def test_a_redirect_loop_is_one_line_naming_the_path(emulator: Emulator) -> None:
    emulator.faults = Faults(redirect_loop=True)
    run = run_tap(config(emulator))
    message = one_line_error(run)
    assert "redirect loop" in message
    assert "/rest/analytics/ws-alpha/ai_quality/daily" in message
    assert len(emulator.requests()) <= 6


# --- 10. bodies that used to be tracebacks ----------------------------------------------


def test_a_deeply_nested_body_is_one_line(emulator: Emulator) -> None:
    emulator.faults = Faults(nested_json_depth=100_000)
    message = one_line_error(run_tap(config(emulator)))
    assert "nested too deeply" in message


# --- 7. a server that echoes the token --------------------------------------------------


@pytest.mark.parametrize(
    "faults",
    [
        Faults(echo_token=True, status_every_n=1, status_code=400),
        Faults(echo_token=True, status_every_n=1, status_code=404),
        Faults(echo_token=True, status_every_n=1, status_code=500),
        Faults(echo_token=True, rate_limit=(0, 60.0), retry_after_s=0),
        Faults(echo_token=True, error_200="bad token"),
    ],
    ids=["400", "404", "500", "429", "200-ERROR"],
)
def test_a_server_that_echoes_the_token_never_gets_it_printed(
    emulator: Emulator, faults: Faults
) -> None:
    emulator.faults = faults
    # run_tap fails the test if any configured token appears in stdout or stderr. A 1 s
    # budget window: after a 429 the token's budget drops to what the server took (none),
    # which in the real 60 s window costs a minute of waiting for the same lines.
    cfg = config(emulator, max_tries=2, rate_limit_window_seconds=1)
    run = run_tap(cfg, env={"TAP_INDIGO_ANALYTICS_LOG_LEVEL": "DEBUG"})
    assert run.returncode == 1
    assert "***" in run.stderr  # the echo was there, and blanked out


def test_a_wrong_token_echoed_by_a_401_is_blanked(emulator: Emulator) -> None:
    emulator.faults = Faults(echo_token=True)
    cfg = config(emulator)
    cfg["workspaces"][0]["pat"] = "pat-wrongSecretToken77"
    message = one_line_error(run_tap(cfg))
    assert "rejected the personal access token" in message
    assert "***" in message


# --- issue 11: nothing listening at base_url --------------------------------------------


def test_an_unreachable_base_url_fails_fast_naming_the_host() -> None:
    config = {
        "pat": "pat-alphaSecretToken0001",
        "project_id": ALPHA,
        "base_url": "http://127.0.0.1:9",  # discard port: nothing listens
        "start_date": day(3),
    }
    started = time.monotonic()
    run = run_tap(config)  # default backoff and tries
    elapsed = time.monotonic() - started
    message = one_line_error(run)
    assert "could not connect to http://127.0.0.1:9 (connection refused)" in message
    assert "after 3 tries" in message
    assert elapsed < 30
