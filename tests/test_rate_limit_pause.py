"""A 429 pauses the token, not one worker (issue: field-ready fetching, case 5).

The server here allows fewer requests than the tap was told (10 per second against a
configured 30), and counts the refused ones too, as many gateways do. After a 429 with
``retry_after``, no request of that token may leave until then, and the token's budget
drops to what the server accepted, so 64 workers earn about the 429s of one.
"""

from __future__ import annotations

import pytest

from tests.conftest import STREAMS, by_day, days_back, run_tap
from tests.emulator import Emulator, Faults

TOKEN = {"ws-a": "aaaaSecretToken0001"}
SERVER_LIMIT, WINDOW_S, RETRY_AFTER_S = 10, 1.0, 1
#: In flight when the first 429 comes back, each of which can still be refused.
GRACE_S = 0.15


def run_against_a_stricter_server(max_concurrency: int) -> tuple[int, int, list[str]]:
    """(requests, 429s, WARNING lines) of a 10-year backfill, checked whole."""
    with Emulator(TOKEN) as emulator:
        emulator.faults = Faults(rate_limit=(SERVER_LIMIT, WINDOW_S), retry_after_s=RETRY_AFTER_S)
        config = {
            "base_url": emulator.base_url,
            "workspaces": [{"project_id": "ws-a", "pat": f"pat-{TOKEN['ws-a']}"}],
            "start_date": days_back(3649),  # 10 windows of 365 days per stream
            "page_size": 365,
            "requests_per_minute": 3 * SERVER_LIMIT,
            "rate_limit_window_seconds": WINDOW_S,
            "max_concurrency": max_concurrency,
            "backoff_seconds": 0,
        }
        run = run_tap(config)
        log = emulator.requests()
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in STREAMS:
        assert len(by_day(run.records(stream), "ws-a")) == 3650, stream
    limited = [r for r in log if r.status == 429]
    for refused in limited:
        # Nothing sent after a 429 came back arrives before its retry_after is over.
        early = [
            r for r in log if refused.at + GRACE_S < r.at < refused.at + RETRY_AFTER_S - GRACE_S
        ]
        assert not early, f"{len(early)} requests inside the pause after request {refused.number}"
    warnings = [line for line in run.stderr.splitlines() if "| WARNING" in line]
    return len(log), len(limited), warnings


@pytest.mark.parametrize("workers", [1, 64])
def test_a_429_pauses_every_request_of_the_token(workers: int) -> None:
    requests, limited, warnings = run_against_a_stricter_server(workers)
    windows = 10 * len(STREAMS)
    assert requests == windows + limited
    # The first 429s are those already in flight (the configured budget let 30 go at
    # once); after that the learned budget keeps the token under the server's limit.
    assert limited <= 3 * SERVER_LIMIT, limited
    lowered = [line for line in warnings if "fewer requests than `requests_per_minute`" in line]
    assert lowered, warnings[:5]
    # What it learned: at most the server's limit (a server that counts refused
    # requests can make the first windows after a burst look stricter still).
    learned = [int(line.split("using ", 1)[1].split(" ", 1)[0]) for line in lowered]
    assert 1 <= learned[-1] <= SERVER_LIMIT, learned
    print(f"\n{workers} workers: {requests} requests, {limited} x 429, learned {learned}")
