"""Shared fixtures: a live emulator on loopback and the runner for the tap's command line.

Every tap run goes through ``run_tap`` (tests/tap_runner.py: the real click command, in
this process or as a subprocess), which fails the test if any configured token shows up
in its stdout, stderr or state - so secret hygiene is checked across the whole suite.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from _pytest.runner import runtestprotocol

from tests.emulator import Emulator
from tests.tap_runner import (
    TapRun,
    assert_no_secret,
    run_tap,
    secrets_of,
    tap_command,
)
from tests.workspaces import WORKSPACES

__all__ = ["WORKSPACES", "TapRun", "assert_no_secret", "run_tap", "secrets_of", "tap_command"]

STREAMS = (
    "daily_messages",
    "daily_chats",
    "daily_returning_users",
    "daily_csat",
    "daily_ai_quality",
    "daily_technical_errors",
)


def today() -> dt.date:
    """UTC today, as the tap and the emulator see it."""
    return dt.datetime.now(dt.timezone.utc).date()


def days_back(n: int) -> str:
    """The ISO day ``n`` days before UTC today."""
    return (today() - dt.timedelta(days=n)).isoformat()


def workspace_config(emulator: Emulator, *ids: str, **overrides: Any) -> dict[str, Any]:
    """A config reading ``ids`` (default: all test workspaces) from ``emulator``."""
    chosen = ids or tuple(WORKSPACES)
    config: dict[str, Any] = {
        "base_url": emulator.base_url,
        "workspaces": [{"project_id": pid, "pat": f"pat-{WORKSPACES[pid]}"} for pid in chosen],
        "backoff_seconds": 0,  # retry at once; the backoff schedule itself is tested apart
    }
    config.update(overrides)
    return config


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """A fresh emulator serving the test workspaces on a free loopback port."""
    with Emulator(WORKSPACES) as emu:
        yield emu


def by_day(records: list[dict[str, Any]], project_id: str) -> dict[str, dict[str, Any]]:
    """Records of one workspace keyed by day, failing on a duplicate day."""
    result: dict[str, dict[str, Any]] = {}
    for record in records:
        if record["project_id"] == project_id:
            assert record["date"] not in result, f"day {record['date']} emitted twice"
            result[record["date"]] = record
    return result


#: Test modules that need Meltano, dbt, PyAirbyte, PostgreSQL, a browser or a client in a
#: virtualenv of its own: `make test` runs them, `make check` (the fast loop) does not.
#: A test elsewhere that needs one of those is marked `@pytest.mark.e2e` itself.
E2E_MODULES = frozenset(
    {
        "test_airbyte_cdk",
        "test_airbyte_pyairbyte",
        "test_clients",
        "test_dbt_inputs",
        "test_benchmark_smoke",
        "test_dbt_marts",
        "test_meltano_postgres",
        "test_metricflow",
        "test_report_browser",
    }
)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark the end-to-end modules `e2e` (and every `postgres` test with them)."""
    for item in items:
        if item.path.stem in E2E_MODULES or item.get_closest_marker("postgres") is not None:
            item.add_marker(pytest.mark.e2e)


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_protocol(item: pytest.Item, nextitem: pytest.Item | None) -> bool:
    """Run a test once more if it failed while the UTC day turned.

    Tests work out the days a run must read before the tap starts, and the tap reads up
    to its own today: a test running across midnight UTC fails for the clock, not for
    the code. Only then is it run again (on the new day), and only its last try is
    reported; any other failure is reported at once. pytest-rerunfailures reruns by
    exception type, not by what happened to the clock, so this is written here with
    pytest's own protocol function, as that plugin does.
    """
    item.ihook.pytest_runtest_logstart(nodeid=item.nodeid, location=item.location)
    day = today()
    reports = runtestprotocol(item, nextitem=nextitem, log=False)
    if today() != day and any(report.failed for report in reports):
        reports = runtestprotocol(item, nextitem=nextitem, log=False)
    for report in reports:
        item.ihook.pytest_runtest_logreport(report=report)
    item.ihook.pytest_runtest_logfinish(nodeid=item.nodeid, location=item.location)
    return True
