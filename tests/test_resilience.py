"""Resilience against the emulator's faults: rate budget, 429, transient errors and bad
cursors (contract drift, auth failures and a SIGKILL: test_failures.py).

Each test runs the real CLI (``run_tap``, which also checks that no token leaks) and then
asserts both what came out (the full, non-duplicated data set, or the exact failure) and
what went over the wire (the emulator's request log). Waits are scaled down: retry_after
of 0-1 s, no backoff wait, a rate window of 2 s, so the file runs in well under a minute.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import json
import math
import time
from collections import Counter
from typing import Any

import pytest
import requests

from tap_indigo_analytics.errors import retry_after_seconds
from tap_indigo_analytics.tap import TapIndigoAnalytics
from tests.conftest import (
    STREAMS,
    TapRun,
    by_day,
    days_back,
    run_tap,
    today,
    workspace_config,
)
from tests.emulator import Emulator, Faults, LoggedRequest
from tests.resilience_support import (
    ALPHA,
    BASELINE,
    DAYS,
    FIRST,
    FIRST_PATH,
    assert_complete,
    only_error,
    retried_same_request,
    small_config,
    wait_for_log,
)

# --- the request budget ---------------------------------------------------------------


def five_year_requests(start: dt.date, page_size: int) -> int:
    """Requests of a backfill from ``start``: 365-day windows, ``page_size`` days a page."""
    days = (today() - start).days + 1
    windows = [min(365, days - w) for w in range(0, days, 365)]
    return len(STREAMS) * sum(math.ceil(w / page_size) for w in windows)


def test_five_year_backfill_stays_inside_the_budget(emulator: Emulator) -> None:
    """~400 requests through a scaled budget: zero 429s, the tap's own schedule kept.

    The server allows a tenth more than the tap is given: the tap counts a request when
    it sends it, the server when it arrives, and on a loaded machine (parallel tests)
    the two drift apart by more than the tap's margin on a window scaled down to 2 s.
    How fast the budget is used is a benchmark figure (benchmarks/), not a test.
    """
    start = today().replace(year=today().year - 5, day=1)
    total = five_year_requests(start, 30)
    window_s, chunks = 2, 4
    per_window = (total - 1) // chunks
    emulator.faults = Faults(rate_limit=(per_window + per_window // 10, window_s), retry_after_s=1)
    config = workspace_config(
        emulator,
        ALPHA,
        start_date=start.isoformat(),
        page_size=30,
        requests_per_minute=per_window,
        rate_limit_window_seconds=window_s,
    )
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-3000:]

    log = emulator.requests()
    assert Counter(r.status for r in log) == {200: total}, "no 429, nothing retried"
    assert "rate limited" not in run.stderr
    times = [r.at for r in log]
    for first, last in zip(times, times[per_window:], strict=False):
        # Never more than the tap's budget inside one window (arrivals may bunch by a
        # scheduling delay, never by a whole window's share).
        assert last - first >= window_s * 0.9, "more than the budget inside one window"
    assert times[-1] - times[0] >= (total - 1) // per_window * window_s * 0.9
    days = (today() - start).days + 1
    for stream in STREAMS:
        assert len(by_day(run.records(stream), ALPHA)) == days


def test_retries_count_against_the_budget(emulator: Emulator) -> None:
    """Every real request takes a slot, retries included (the emulator does not count
    the failed ones, so this reads the request log itself)."""
    emulator.faults = Faults(status_every_n=3)
    limit, window_s = 10, 1
    run = run_tap(
        small_config(emulator, requests_per_minute=limit, rate_limit_window_seconds=window_s)
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert_complete(emulator, run)
    log = emulator.requests()
    assert len(log) == BASELINE + BASELINE // 2 - 1  # every 3rd of 17 failed and was retried
    times = [r.at for r in log]
    for first, last in zip(times, times[limit:], strict=False):
        assert last - first >= window_s - 0.01


def test_workspaces_sharing_a_token_share_one_budget() -> None:
    """The budget is per token: two entries with one PAT draw from the same budget."""
    token = "pat-sharedSecretToken1"
    tap = TapIndigoAnalytics(
        config={
            "workspaces": [
                {"project_id": "ws-one", "pat": token},
                {"project_id": "ws-two", "pat": token.removeprefix("pat-")},
                {"project_id": "ws-three", "pat": "pat-otherSecretToken2"},
            ],
            "base_url": "http://127.0.0.1:9",
        },
        parse_env_config=False,
    )
    one, two, three = tap.settings.workspaces
    assert one.token_key == two.token_key
    assert three.token_key != one.token_key
    assert tap.run.budgets.window_seconds == 60
    assert tap.run.budgets.requests_per_minute == 100


# --- 429 -------------------------------------------------------------------------------


def limited_config(emulator: Emulator) -> dict[str, Any]:
    # The tap's own budget is far above the server's, so the server's 429 is what paces.
    return small_config(emulator, requests_per_minute=10_000)


def assert_waited_after_each_429(
    run: TapRun, log: list[LoggedRequest], wait_s: float, max_wait_s: float
) -> None:
    limited = [r for r in log if r.status == 429]
    assert limited, "the emulator's limit should have been hit"
    for failed in limited:
        retry = retried_same_request(log, failed)
        assert wait_s - 0.05 <= retry.at - failed.at <= max_wait_s
    lines = [line for line in run.stderr.splitlines() if "rate limited by Indigo" in line]
    assert len(lines) == len(limited)
    assert all(f"waiting {wait_s:.0f} s" in line for line in lines), lines


def test_429_waits_the_bodys_retry_after(emulator: Emulator) -> None:
    emulator.faults = Faults(rate_limit=(10, 1.0), retry_after_s=1)
    run = run_tap(limited_config(emulator))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_complete(emulator, run)
    log = emulator.requests()
    assert sum(r.status == 200 for r in log) == BASELINE
    assert {r.status for r in log} == {200, 429}
    assert_waited_after_each_429(run, log, 1.0, 1.6)


def test_429_prefers_the_retry_after_header(emulator: Emulator) -> None:
    # The body says 30 s; the header's 1 s wins (a 30 s wait would fail the timing below).
    emulator.faults = Faults(rate_limit=(10, 1.0), retry_after_s=30, retry_after_header_value="1")
    run = run_tap(limited_config(emulator))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_complete(emulator, run)
    log = emulator.requests()
    assert sum(r.status == 200 for r in log) == BASELINE
    assert_waited_after_each_429(run, log, 1.0, 1.6)


def _response(status: int, body: Any, headers: dict[str, str] | None = None) -> requests.Response:
    response = requests.Response()
    response.status_code = status
    response._content = json.dumps(body).encode()
    response.headers.update(headers or {})
    return response


def test_retry_after_header_as_http_date_seconds_or_body() -> None:
    in_20_s = email.utils.formatdate(time.time() + 20, usegmt=True)
    past = "Wed, 21 Oct 2015 07:28:00 GMT"
    body = {"status": "error", "message": "rate limit exceeded", "retry_after": 7}
    assert 18 <= retry_after_seconds(_response(429, body, {"Retry-After": in_20_s})) <= 20
    assert retry_after_seconds(_response(429, body, {"Retry-After": past})) == 0
    assert retry_after_seconds(_response(429, body, {"Retry-After": " 3 "})) == 3
    assert retry_after_seconds(_response(429, body, {"Retry-After": "soon"})) == 7
    assert retry_after_seconds(_response(429, body)) == 7
    assert retry_after_seconds(_response(429, {"message": "x"})) == 60


def test_429_gives_up_after_ten_waits(emulator: Emulator) -> None:
    # A window far longer than the run, and retry_after 0: every retry is refused again.
    emulator.faults = Faults(rate_limit=(5, 120.0), retry_after_s=0)
    started = time.monotonic()
    run = run_tap(limited_config(emulator))
    assert time.monotonic() - started < 10
    message = only_error(run)
    assert "daily_csat" in message
    assert ALPHA in message
    assert "still rate limited after 10 waits" in message
    log = emulator.requests()
    # 5 pass (2 pages of daily_ai_quality, 2 of daily_chats, 1 of daily_csat), then the
    # 6th is refused and retried 10 times: 11 tries; nothing after that.
    assert [r.status for r in log] == [200] * 5 + [429] * 11
    assert {r.stream for r in log[5:]} == {"daily_csat"}
    waits = [line for line in run.stderr.splitlines() if "rate limited by Indigo, waiting" in line]
    assert len(waits) == 10
    assert all("waiting 0 s" in line for line in waits)


def test_429_asking_for_too_long_a_wait_fails_at_once(emulator: Emulator) -> None:
    emulator.faults = Faults(rate_limit=(5, 120.0), retry_after_s=301)
    started = time.monotonic()
    run = run_tap(limited_config(emulator))
    assert time.monotonic() - started < 10
    message = only_error(run)
    assert "daily_csat" in message
    assert "asked to wait 301 s" in message
    assert "300 s" in message
    assert [r.status for r in emulator.requests()] == [200] * 5 + [429]


# --- transient faults -------------------------------------------------------------------


def expected_statuses(is_fault: Any, successes: int) -> list[bool]:
    """Per global request number, whether it is a fault, until ``successes`` went through."""
    faults: list[bool] = []
    while faults.count(False) < successes:
        faults.append(bool(is_fault(len(faults) + 1)))
    return faults


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_5xx_is_retried_and_every_day_arrives_once(emulator: Emulator, status: int) -> None:
    emulator.faults = Faults(status_every_n=4, status_code=status)
    run = run_tap(small_config(emulator))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_complete(emulator, run)

    log = emulator.requests()
    pattern = expected_statuses(lambda n: n % 4 == 0, BASELINE)
    assert [r.status for r in log] == [status if f else 200 for f in pattern]
    for failed in (r for r in log if r.status == status):
        retried_same_request(log, failed)
    retries = [line for line in run.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == pattern.count(True)
    assert all(f"HTTP {status}" in line and "Internal server error" in line for line in retries)


@pytest.mark.parametrize(
    ("faults", "status", "fault", "said"),
    [
        pytest.param(
            Faults(html_502_on=frozenset({2, 7})), 502, "html_502", "non-JSON body", id="html-502"
        ),
        pytest.param(
            Faults(garbage_json_on=frozenset({2, 7})),
            200,
            "garbage_json",
            "body that is not JSON",
            id="cut-json",
        ),
        pytest.param(
            Faults(drop_connection_on=frozenset({2, 7})),
            0,
            "drop_connection",
            "connection dropped",
            id="dropped-connection",
        ),
    ],
)
def test_broken_responses_are_retried(
    emulator: Emulator, faults: Faults, status: int, fault: str, said: str
) -> None:
    emulator.faults = faults
    run = run_tap(small_config(emulator))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_complete(emulator, run)

    log = emulator.requests()
    assert len(log) == BASELINE + 2
    broken = [r for r in log if r.fault == fault]
    assert [(r.number, r.status) for r in broken] == [(2, status), (7, status)]
    for failed in broken:
        retried_same_request(log, failed)
    retries = [line for line in run.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == 2
    assert all(said in line for line in retries), retries


def test_read_timeout_is_retried(emulator: Emulator) -> None:
    emulator.faults = Faults(slow_on=frozenset({3}), slow_s=10.0)
    started = time.monotonic()
    run = run_tap(small_config(emulator, request_timeout=1))
    elapsed = time.monotonic() - started
    assert run.returncode == 0, run.stderr[-3000:]
    assert_complete(emulator, run)
    assert elapsed < 9.0, "the tap must not wait for the slow answer"

    log = wait_for_log(emulator, BASELINE + 1, timeout=12)  # logged when the slow one ends
    assert len(log) == BASELINE + 1
    retried_same_request(log, log[2])
    retries = [line for line in run.stderr.splitlines() if "retrying in" in line]
    assert len(retries) == 1
    assert "timed out" in retries[0]


def test_a_persistent_5xx_fails_after_max_tries_naming_stream_and_workspace(
    emulator: Emulator,
) -> None:
    emulator.faults = Faults(status_every_n=1, status_code=503)
    started = time.monotonic()
    run = run_tap(small_config(emulator, ALPHA, "ws-beta", max_tries=3))
    assert time.monotonic() - started < 10
    message = only_error(run)
    for part in (FIRST, ALPHA, "gave up after 3 tries", "HTTP 503", "Internal server"):
        assert part in message, message
    log = emulator.requests()
    assert [(r.stream, r.project_id, r.status) for r in log] == [(FIRST, ALPHA, 503)] * 3
    assert not run.records()


# --- cursors and other 400s ------------------------------------------------------------


def test_invalid_cursor_restarts_the_window_without_duplicates(emulator: Emulator) -> None:
    emulator.faults = Faults(invalid_cursor_on_nth_cursored=1)
    run = run_tap(small_config(emulator))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_complete(emulator, run)  # page 1 was read twice but emitted once

    log = emulator.requests()
    assert len(log) == BASELINE + 2
    first = [(r.status, "cursor" in r.params) for r in emulator.requests(FIRST)]
    assert first == [(200, False), (400, True), (200, False), (200, True)]
    assert run.stderr.count("restarting the window from") == 1


def test_an_always_invalid_cursor_fails_after_two_restarts(emulator: Emulator) -> None:
    emulator.faults = Faults(invalid_cursor_always=True)
    run = run_tap(small_config(emulator))
    message = only_error(run)
    assert FIRST in message
    assert ALPHA in message
    assert "Invalid cursor again after 2 restarts" in message
    log = emulator.requests()
    assert [(r.status, "cursor" in r.params) for r in log] == [(200, False), (400, True)] * 3
    # The first page's 30 days were read three times; a window is written whole or not at
    # all, so none of them was emitted.
    assert run.records(FIRST) == []
    assert run.stderr.count("restarting the window from") == 2


@pytest.mark.parametrize(
    ("status", "vendor"), [(400, "Missing required params: from, to"), (404, "Not found")]
)
def test_other_4xx_fails_at_once_with_message_path_and_params(
    emulator: Emulator, status: int, vendor: str
) -> None:
    emulator.faults = Faults(status_every_n=1, status_code=status, status_message=vendor)
    run = run_tap(small_config(emulator))
    message = only_error(run)
    assert f"HTTP {status} ({vendor})" in message
    assert f"GET {FIRST_PATH}?from={days_back(DAYS - 1)}" in message
    assert "limit=30" in message
    assert "Bearer" not in run.stderr
    assert len(emulator.requests()) == 1
