"""METRIC lines are tagged with what they count: a stream's total is not one workspace's."""

from __future__ import annotations

import json
from collections import Counter

from tests.conftest import WORKSPACES, days_back, run_tap, workspace_config
from tests.emulator import Emulator


def test_record_count_and_sync_duration_are_tagged_with_their_stream_only(
    emulator: Emulator,
) -> None:
    run = run_tap(workspace_config(emulator, start_date=days_back(9)))
    assert run.returncode == 0, run.stderr[-2000:]
    points = [
        json.loads(line.split("METRIC: ", 1)[1])
        for line in run.stderr.splitlines()
        if "METRIC: " in line
    ]
    counts = [p for p in points if p["metric"] == "record_count"]
    timers = [p for p in points if p["metric"] == "sync_duration"]
    assert counts
    assert timers
    for point in counts + timers:
        assert "context" not in point["tags"], point
    written = Counter(m["stream"] for m in run.messages if m["type"] == "RECORD")
    counted: Counter[str] = Counter()
    for point in counts:
        counted[point["tags"]["stream"]] += point["value"]
    assert counted == written
    assert all(n == 10 * len(WORKSPACES) for n in written.values())
