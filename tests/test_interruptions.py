"""A run stopped from outside: SIGTERM and Ctrl-C mid-sync, and a target that stops reading.

Each test starts the real tap CLI against the emulator with latency, so the run is truly
mid-sync when it is stopped, and reads its stdout as a target would.
"""

from __future__ import annotations

import datetime as dt
import json
import signal
import subprocess
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path
from typing import IO, Any

import pytest

from tests.conftest import STREAMS, WORKSPACES, assert_no_secret, run_tap, tap_command, today
from tests.conftest import workspace_config as base_config
from tests.emulator import Emulator, Faults

DAYS = 120
START = today() - dt.timedelta(days=DAYS - 1)


def slow_config(emulator: Emulator) -> dict[str, Any]:
    """Both workspaces, one day per request: hundreds of requests, none of them throttled."""
    return base_config(
        emulator,
        start_date=START.isoformat(),
        page_size=1,
        requests_per_minute=1_000_000,
        lookback_days=0,
    )


class RunningTap:
    """The tap CLI as a subprocess whose stdout is read line by line, as a target does."""

    def __init__(self, config: dict[str, Any], tmp: Path) -> None:
        self.config = config
        config_path = tmp / "config.json"
        config_path.write_text(json.dumps(config))
        self.stderr_file: IO[str] = (tmp / "stderr.log").open("w+")
        self.proc = subprocess.Popen(
            [*tap_command(), "--config", str(config_path)],
            stdout=subprocess.PIPE,
            stderr=self.stderr_file,
            text=True,
        )
        assert self.proc.stdout is not None
        self.stdout = self.proc.stdout
        self.lines: list[str] = []
        self.records = 0
        self._reader: threading.Thread | None = None

    def read_until_records(self, count: int, timeout: float = 60) -> None:
        """Read stdout until ``count`` RECORD messages came (the run is mid-sync by then)."""
        deadline = time.monotonic() + timeout
        while self.records < count:
            assert time.monotonic() < deadline, "the tap wrote too few records"
            line = self.stdout.readline()
            assert line, "the tap ended before it was interrupted"
            self.keep(line)

    def keep(self, line: str) -> None:
        """Remember one stdout line."""
        self.lines.append(line)
        self.records += '"type":"RECORD"' in line

    def drain_in_background(self) -> None:
        """Keep reading stdout (a target that keeps up) until the tap closes it."""

        def drain() -> None:
            for line in self.stdout:
                self.keep(line)

        self._reader = threading.Thread(target=drain, daemon=True)
        self._reader.start()

    def wait(self, timeout: float = 60) -> tuple[int, str]:
        """Exit status and stderr, once the tap ended."""
        code = self.proc.wait(timeout=timeout)
        if self._reader is not None:
            self._reader.join(timeout=10)
        self.stderr_file.seek(0)
        stderr = self.stderr_file.read()
        self.stderr_file.close()
        assert_no_secret("".join(self.lines) + stderr, self.config)
        return code, stderr

    def messages(self) -> list[dict[str, Any]]:
        """Every complete Singer message written."""
        return [json.loads(line) for line in self.lines if line.endswith("\n")]


def days_by_partition(messages: list[dict[str, Any]]) -> dict[tuple[str, str], set[str]]:
    """Days emitted per (stream, workspace)."""
    days: dict[tuple[str, str], set[str]] = defaultdict(set)
    for message in messages:
        if message["type"] == "RECORD":
            record = message["record"]
            days[message["stream"], record["project_id"]].add(record["date"])
    return days


def bookmarks(state: dict[str, Any]) -> dict[tuple[str, str], str]:
    """The ``date`` bookmark per (stream, workspace) in a STATE value."""
    found = {}
    for stream, stream_state in state.get("bookmarks", {}).items():
        for partition in stream_state.get("partitions", []):
            if "replication_key_value" in partition:
                found[stream, partition["context"]["project_id"]] = partition[
                    "replication_key_value"
                ]
    return found


@pytest.mark.parametrize(
    ("signum", "exit_code"), [(signal.SIGTERM, 143), (signal.SIGINT, 130)], ids=["TERM", "INT"]
)
def test_a_signal_mid_sync_writes_the_state_and_fails_and_resuming_loses_no_day(
    emulator: Emulator, tmp_path: Path, signum: signal.Signals, exit_code: int
) -> None:
    emulator.faults = Faults(latency_s=0.02)
    config = slow_config(emulator)
    tap = RunningTap(config, tmp_path)
    tap.read_until_records(30)
    tap.drain_in_background()
    tap.proc.send_signal(signum)
    code, stderr = tap.wait()

    assert code == exit_code, stderr[-3000:]
    assert "Traceback" not in stderr
    (interrupted,) = [line for line in stderr.splitlines() if "interrupted" in line]
    assert f"interrupted by {signum.name} before the sync finished" in interrupted
    assert "| ERROR" in interrupted
    assert [line for line in stderr.splitlines() if "| ERROR" in line] == [interrupted]
    first = tap.messages()
    assert first[-1]["type"] == "STATE", "the final STATE is not the last message"
    first_days = days_by_partition(first)
    total = len(STREAMS) * len(WORKSPACES) * DAYS
    assert sum(map(len, first_days.values())) < total, "the run was not stopped mid-sync"

    # The state covers only what was written: every day up to a bookmark was emitted.
    state = first[-1]["value"]
    for (stream, project_id), bookmark in bookmarks(state).items():
        emitted = first_days[stream, project_id]
        day = START
        while day.isoformat() <= bookmark:
            assert day.isoformat() in emitted, f"{stream}/{project_id}: {day} was never sent"
            day += dt.timedelta(days=1)

    # Resume from that state: together the two runs hold every day of every partition.
    emulator.faults = Faults()
    second = run_tap({**config, "page_size": 365}, state=state)
    assert second.returncode == 0, second.stderr[-3000:]
    second_days = days_by_partition(second.messages)
    every_day = {(START + dt.timedelta(days=n)).isoformat() for n in range(DAYS)}
    for stream in STREAMS:
        for project_id in WORKSPACES:
            key = (stream, project_id)
            missing = every_day - first_days[key] - second_days[key]
            assert not missing, f"{stream}/{project_id} lost {sorted(missing)[:5]}"


def test_a_target_that_stops_reading_is_one_line(emulator: Emulator) -> None:
    emulator.faults = Faults(latency_s=0.02)
    with tempfile.TemporaryDirectory() as tmp:
        tap = RunningTap(slow_config(emulator), Path(tmp))
        tap.read_until_records(5)
        tap.stdout.close()  # the target exits: the next write meets a broken pipe
        code, stderr = tap.wait()
    assert code == 1
    assert "Traceback" not in stderr
    assert "Exception ignored" not in stderr
    errors = [line for line in stderr.splitlines() if "| ERROR" in line]
    assert len(errors) == 1, stderr[-3000:]
    assert errors[0].endswith("the target stopped reading (broken pipe); the run did not finish")
