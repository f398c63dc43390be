"""A host that runs many syncs in one process gets back every thread and descriptor.

A Dagster or Airflow worker, or any program that embeds the tap, may build it again and
again in one long-lived interpreter. Each sync used to leave its rate limiter's leak
thread behind, with that thread's event loop (a socket pair and an epoll descriptor):
a worker that ran a sync every few minutes would run out of descriptors in days. Nor
may building the tap take over the host's signal handlers: only the Airbyte command
line does.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from typing import Any

from singer_sdk.singerlib.messages import RecordMessage

from tap_indigo_analytics.airbyte.check import check
from tap_indigo_analytics.airbyte.inprocess import CallbackWriter, build_tap
from tap_indigo_analytics.schema import DEFAULT_LOOKBACK_DAYS
from tests.conftest import days_back, run_tap
from tests.emulator import Emulator

TOKENS = {"host-a": "hostTokenA00000001", "host-b": "hostTokenB00000002"}
REVOKED = "pat-revoked0000000"


def _threads() -> Counter[str]:
    return Counter(t.name for t in threading.enumerate())


def _descriptors() -> int:
    return len(os.listdir("/proc/self/fd"))


def _added(before: Counter[str], fds: int) -> tuple[Counter[str], int]:
    """Threads and descriptors added since ``before``, once the last run's stragglers had
    a moment to end (what an earlier test left may end meanwhile: that is no leak)."""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline and (_threads() - before or _descriptors() > fds):
        time.sleep(0.05)
    return _threads() - before, max(0, _descriptors() - fds)


def _config(emulator: Emulator) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "workspaces": [{"project_id": p, "pat": t} for p, t in TOKENS.items()],
        "start_date": days_back(5),
        "max_concurrency": 4,
    }


def _round(config: dict[str, Any]) -> None:
    """What a host does between two looks: a sync, a check, and a sync that fails."""
    run = run_tap(config)
    assert run.returncode == 0, run.stderr[-2000:]
    assert len(run.records()) == 6 * 2 * 6  # six streams, two workspaces, six days
    status = check(config)
    assert status["connectionStatus"]["status"] == "SUCCEEDED", status
    # A revoked token: exit 1, and exceptions whose tracebacks hold the pools in cycles.
    failing = {**config, "workspaces": [{"project_id": "host-a", "pat": REVOKED}]}
    run = run_tap(failing)
    assert run.returncode == 1, run.stderr[-2000:]


def test_syncs_and_checks_leave_no_thread_or_descriptor_behind() -> None:
    with Emulator(TOKENS) as emulator:
        config = _config(emulator)
        # The first round starts what a process keeps once (the deadline watchdog): later
        # rounds must add nothing to it.
        _round(config)
        before_threads, before_fds = _threads(), _descriptors()
        for _ in range(3):
            _round(config)
        threads, fds = _added(before_threads, before_fds)
    assert not threads, f"threads left behind: {dict(threads)}"
    assert fds == 0, f"{fds} descriptors left behind"


def test_one_tap_synced_again_after_close_reads_on_from_its_state() -> None:
    """A host may keep one tap and sync it again: the second sync starts from the state
    the first one ended with (its plan is made again), on fresh connections and budgets."""
    with Emulator(TOKENS) as emulator:
        messages: list[Any] = []
        tap = build_tap(_config(emulator), writer=CallbackWriter(messages.append))
        records, requests = [], []
        for _ in range(2):
            try:
                tap.sync_all()
            finally:
                tap.run.close()
            assert tap.run.transport.closed  # the closed one until a sync starts again
            records.append(
                {
                    (m.stream, m.record["project_id"], m.record["date"])
                    for m in messages
                    if isinstance(m, RecordMessage)
                }
            )
            requests.append(len(emulator.requests()))
            messages.clear()
    assert len(records[0]) == 6 * 2 * 6  # six streams, two workspaces, six days
    # The second reads from its bookmark (today) back over the lookback days.
    assert {day for _, _, day in records[1]} == {
        days_back(n) for n in range(DEFAULT_LOOKBACK_DAYS + 1)
    }
    assert len(records[1]) == 6 * 2 * (DEFAULT_LOOKBACK_DAYS + 1)
    assert requests == [6 * 2, 2 * 6 * 2]  # one request per stream and workspace, each sync


def test_a_check_in_a_host_thread_leaves_the_hosts_signals_alone() -> None:
    """Only the Airbyte command line takes over SIGTERM and SIGINT: a host calling
    ``check`` keeps its own handlers (and signal handlers can only be set on the main
    thread, where a host's worker thread is not)."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGTERM, signal.SIGINT)}
    with Emulator(TOKENS) as emulator:
        statuses: list[dict[str, Any]] = []
        host = threading.Thread(target=lambda: statuses.append(check(_config(emulator))))
        host.start()
        host.join(timeout=60)
        statuses.append(check(_config(emulator)))  # and on the main thread
    assert [s["connectionStatus"]["status"] for s in statuses] == ["SUCCEEDED"] * 2, statuses
    assert {s: signal.getsignal(s) for s in handlers} == handlers
