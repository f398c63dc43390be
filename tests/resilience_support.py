"""What the resilience tests share: their small config, a completeness check, the one
error line of a failed run and the emulator-log helpers."""

from __future__ import annotations

import datetime as dt
import time
from typing import Any

from tests.conftest import STREAMS, TapRun, by_day, days_back, today, workspace_config
from tests.emulator import Emulator, LoggedRequest

ALPHA = "ws-alpha"
#: The default range of most tests: 60 days at page_size 30, so every stream needs
#: exactly two pages, the second one cursored.
DAYS = 60
PAGES = 2
BASELINE = len(STREAMS) * PAGES  # requests of one clean run for one workspace
#: The SDK syncs streams in name order; this one goes first.
FIRST = "daily_ai_quality"
FIRST_PATH = f"/rest/analytics/{ALPHA}/ai_quality/daily"


def small_config(emulator: Emulator, *ids: str, **overrides: Any) -> dict[str, Any]:
    """``DAYS`` days per stream in pages of 30, tight retry timings, one request at a time:
    the faults here are keyed on request numbers, which only a sequential run makes
    deterministic (test_concurrency.py covers faults under concurrency). The first
    failure stops the run (``fail_fast``), so each test reads one failure's line and
    requests; isolating failures is tested in test_isolation.py."""
    return workspace_config(
        emulator,
        *(ids or (ALPHA,)),
        **{
            "start_date": days_back(DAYS - 1),
            "page_size": 30,
            "max_concurrency": 1,
            "fail_fast": True,
            **overrides,
        },
    )


def assert_complete(
    emulator: Emulator,
    run: TapRun,
    ids: tuple[str, ...] = (ALPHA,),
    days: int = DAYS,
) -> None:
    """Every stream and workspace delivered each of the ``days`` days once, exactly as served."""
    start = today() - dt.timedelta(days=days - 1)
    for stream in STREAMS:
        records = run.records(stream)
        for project_id in ids:
            got = by_day(records, project_id)  # fails on a duplicate day
            expected = emulator.expected_rows(project_id, stream, start, today())
            assert len(got) == len(expected) == days, (stream, project_id)
            for row in expected:
                assert got[row["date"]] == {**row, "project_id": project_id}, (stream, row)


def only_error(run: TapRun) -> str:
    """The tap's final one-line error (the last ERROR line), after checking the exit."""
    assert run.returncode != 0, "the run should have failed"
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    errors = run.error_lines()
    assert errors, run.stderr[-3000:]
    return errors[-1]


def retried_same_request(log: list[LoggedRequest], failed: LoggedRequest) -> LoggedRequest:
    """The request right after ``failed``; it must ask for the very same page."""
    retry = next(r for r in log if r.number == failed.number + 1)
    assert (retry.path, retry.params) == (failed.path, failed.params)
    return retry


def wait_for_log(emulator: Emulator, count: int, timeout: float = 5.0) -> list[LoggedRequest]:
    """The log once it holds ``count`` entries (a slow request is logged when it ends)."""
    deadline = time.monotonic() + timeout
    while len(log := emulator.requests()) < count and time.monotonic() < deadline:
        time.sleep(0.02)
    return log
