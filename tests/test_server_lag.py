"""A platform whose day lags ours (issue: field-ready fetching, case 2).

Just after midnight UTC, or when an aggregate is refreshed late, the API serves days only
up to its own "today". Missing days at the end of a window that are all today or
yesterday (by the tap's clock) are not published yet: the tap keeps what came, makes no
restart, warns once per pair and leaves the bookmark at the last day received. Any
longer tail, or a hole elsewhere, is still an incomplete window.
"""

from __future__ import annotations

import datetime as dt

import pytest

from tests.conftest import STREAMS, by_day, days_back, run_tap, today
from tests.emulator import Emulator, Faults

WORKSPACES = {"ws-a": "aaaaSecretToken0001", "ws-b": "bbbbSecretToken0002"}
DAYS = 40


def config_of(emulator: Emulator, **overrides: object) -> dict[str, object]:
    config: dict[str, object] = {
        "base_url": emulator.base_url,
        "workspaces": [{"project_id": p, "pat": f"pat-{t}"} for p, t in WORKSPACES.items()],
        "start_date": days_back(DAYS - 1),
        "page_size": 30,
        "backoff_seconds": 0,
    }
    config.update(overrides)
    return config


@pytest.mark.parametrize("lag", [1, 2])
def test_a_server_a_day_or_two_behind_is_not_an_error(lag: int) -> None:
    """One 40-day window per pair, in two pages: all received, nothing restarted."""
    last = today() - dt.timedelta(days=lag)
    with Emulator(WORKSPACES) as emulator:
        emulator.faults = Faults(today_lag_days=lag)
        run = run_tap(config_of(emulator))
        log = emulator.requests()
    assert run.returncode == 0, run.stderr[-2000:]
    assert "Traceback" not in run.stderr
    first = today() - dt.timedelta(days=DAYS - 1)
    for project_id in WORKSPACES:
        for stream in STREAMS:
            got = by_day(run.records(stream), project_id)
            expected = emulator.expected_rows(project_id, stream, first, last)
            assert [got.get(row["date"]) for row in expected] == [
                {"project_id": project_id, **row} for row in expected
            ]
            assert max(got) == last.isoformat()
            assert run.bookmark(stream, project_id) == last.isoformat()
    # Two pages per pair (30 days, then 10): no restart of the last one.
    assert len(log) == 2 * len(STREAMS) * len(WORKSPACES)
    warnings = [line for line in run.stderr.splitlines() if "not published yet" in line]
    assert len(warnings) == len(STREAMS) * len(WORKSPACES)
    assert f"the API's data ends at {last}" in warnings[0]


def test_the_next_run_reads_the_days_that_were_missing() -> None:
    with Emulator(WORKSPACES) as emulator:
        emulator.faults = Faults(today_lag_days=1)
        first = run_tap(config_of(emulator))
        assert first.returncode == 0, first.stderr[-2000:]
        emulator.faults = Faults()
        second = run_tap(config_of(emulator), state=first.state)
    assert second.returncode == 0, second.stderr[-2000:]
    for project_id in WORKSPACES:
        for stream in STREAMS:
            got = by_day(second.records(stream), project_id)
            assert today().isoformat() in got
            assert second.bookmark(stream, project_id) == today().isoformat()


def test_a_window_of_only_unpublished_days_writes_nothing_and_keeps_the_bookmark() -> None:
    """A daily run whose whole window is today: an empty answer is not yet a failure."""
    with Emulator(WORKSPACES) as emulator:
        seed = run_tap(config_of(emulator, start_date=days_back(5)))
        assert seed.returncode == 0, seed.stderr[-2000:]
        emulator.faults = Faults(today_lag_days=1)
        rerun = run_tap(
            config_of(emulator, start_date=days_back(5), lookback_days=0), state=seed.state
        )
    assert rerun.returncode == 0, rerun.stderr[-2000:]
    assert rerun.records() == []
    for project_id in WORKSPACES:
        for stream in STREAMS:
            assert rerun.bookmark(stream, project_id) == today().isoformat()


@pytest.mark.parametrize("lag", [3, 10])
def test_a_longer_lag_is_still_an_incomplete_window(lag: int) -> None:
    with Emulator({"ws-a": WORKSPACES["ws-a"]}) as emulator:
        emulator.faults = Faults(today_lag_days=lag)
        config = config_of(emulator)
        config["workspaces"] = [{"project_id": "ws-a", "pat": f"pat-{WORKSPACES['ws-a']}"}]
        run = run_tap(config)
    assert run.returncode == 1
    errors = run.error_lines()
    assert len(errors) == len(STREAMS)
    assert "again after 2 restarts" in errors[0]
    assert run.records() == []  # a window is written whole or not at all
    for stream in STREAMS:
        assert run.bookmark(stream, "ws-a") is None


def test_a_hole_before_the_unpublished_tail_is_still_an_error() -> None:
    """Yesterday's lag does not excuse a day missing inside the window."""
    with Emulator({"ws-a": WORKSPACES["ws-a"]}) as emulator:
        emulator.faults = Faults(today_lag_days=1, missing_days=frozenset({days_back(5)}))
        config = config_of(emulator, page_size=365)
        config["workspaces"] = [{"project_id": "ws-a", "pat": f"pat-{WORKSPACES['ws-a']}"}]
        run = run_tap(config)
    assert run.returncode == 1
    assert len(run.error_lines()) == len(STREAMS)
    assert run.records() == []
