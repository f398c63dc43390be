"""Concurrent fetching: same output as one at a time, real overlap, bounded, fail fast.

Every test runs the real tap CLI against the emulator over loopback.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import subprocess
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import (
    STREAMS,
    WORKSPACES,
    TapRun,
    days_back,
    run_tap,
    tap_command,
    today,
    workspace_config,
)
from tests.emulator import Emulator

THREE = {"ws-one": "oneSecretToken000001", "ws-two": "twoSecretToken000002"}
THREE["ws-three"] = "threeSecretToken0003"


def config_for(emulator: Emulator, tokens: dict[str, str], **overrides: Any) -> dict[str, Any]:
    return {
        "base_url": emulator.base_url,
        "workspaces": [{"project_id": p, "pat": f"pat-{v}"} for p, v in tokens.items()],
        "backoff_seconds": 0,
        **overrides,
    }


def records_by_stream(run: TapRun) -> dict[str, list[dict[str, Any]]]:
    return {stream: run.records(stream) for stream in STREAMS}


def test_concurrent_output_equals_sequential_output() -> None:
    """Several workspaces, windows and pages: the same RECORDs in the same order, and the
    same final state, at max_concurrency 1 and 32; then again for an incremental rerun."""
    with Emulator(THREE) as emulator:
        # 800 days = 3 windows; page_size 120 = 4 pages in a full window.
        base = {"start_date": days_back(799), "page_size": 120, "lookback_days": 5}
        runs = {}
        for concurrency in (1, 32):
            first = run_tap(config_for(emulator, THREE, max_concurrency=concurrency, **base))
            assert first.returncode == 0, first.stderr[-3000:]
            again = run_tap(
                config_for(emulator, THREE, max_concurrency=concurrency, **base),
                state=first.state,
            )
            assert again.returncode == 0, again.stderr[-3000:]
            runs[concurrency] = (first, again)
        for one, many in zip(runs[1], runs[32], strict=True):
            assert records_by_stream(one) == records_by_stream(many)
            assert one.state == many.state
        first, again = runs[32]
        for stream in STREAMS:
            assert len(first.records(stream)) == 800 * len(THREE)
            assert {r["date"] for r in again.records(stream)} == {days_back(n) for n in range(6)}
        # Every day exactly once, and exactly the emulator's values.
        for project_id in THREE:
            expected = emulator.expected_rows(
                project_id, "daily_csat", today() - dt.timedelta(days=799), today()
            )
            got = [r for r in first.records("daily_csat") if r["project_id"] == project_id]
            assert got == [{**row, "project_id": project_id} for row in expected]


def test_requests_overlap_and_never_exceed_max_concurrency() -> None:
    latency = 0.2
    with Emulator(THREE) as emulator:
        emulator.faults.latency_s = latency
        run = run_tap(
            config_for(emulator, THREE, start_date=days_back(99), page_size=10, max_concurrency=4)
        )
        assert run.returncode == 0, run.stderr[-3000:]
        log = emulator.requests()
    assert len(log) == len(STREAMS) * len(THREE) * 10
    starts = sorted(entry.at for entry in log)
    # Each answer takes `latency` from its arrival; a little slack for the clocks.
    in_flight = [sum(1 for s in starts if s <= t < s + latency - 0.01) for t in starts]
    assert max(in_flight) > 1, "requests never overlapped"
    assert max(in_flight) <= 4


def test_sequential_mode_keeps_one_request_in_flight() -> None:
    latency = 0.1
    with Emulator(THREE) as emulator:
        emulator.faults.latency_s = latency
        run = run_tap(
            config_for(emulator, THREE, start_date=days_back(29), page_size=10, max_concurrency=1)
        )
        assert run.returncode == 0, run.stderr[-3000:]
        starts = sorted(entry.at for entry in emulator.requests())
    gaps = [b - a for a, b in itertools.pairwise(starts)]
    assert min(gaps) >= latency - 0.01


def test_a_bad_token_mid_run_stops_everything_at_once_under_fail_fast() -> None:
    """401 on the second of three workspaces: one line, exit 1, few requests, no hang."""
    with Emulator(THREE) as emulator:
        emulator.faults.latency_s = 0.05
        config = config_for(
            emulator,
            THREE,
            start_date=days_back(999),
            page_size=30,
            max_concurrency=16,
            fail_fast=True,
        )
        config["workspaces"][1]["pat"] = "pat-notTheRightToken99"
        started = time.monotonic()
        run = run_tap(config, timeout=60)
        elapsed = time.monotonic() - started
        log = emulator.requests()
    assert run.returncode == 1
    errors = run.error_lines()
    assert any("rejected the personal access token" in e and "ws-two" in e for e in errors)
    assert "Traceback" not in run.stderr
    # Fail fast: ws-two's first request went alone, so it was asked exactly once.
    assert sum(1 for r in log if r.project_id == "ws-two") == 1
    assert sum(1 for r in log if r.status == 401) == 1
    # A full sync would be 6 streams x 3 workspaces x 34 pages; the run stopped long before.
    assert len(log) < 6 * 3 * 34 / 2
    assert elapsed < 30


def test_a_deselected_stream_is_never_requested(emulator: Emulator) -> None:
    discover = run_tap({}, "--discover")
    catalog = json.loads(discover.stdout)
    for entry in catalog["streams"]:
        selected = entry["tap_stream_id"] in ("daily_chats", "daily_csat")
        for metadata in entry["metadata"]:
            if metadata["breadcrumb"] == []:
                metadata["metadata"]["selected"] = selected
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp, "catalog.json")
        path.write_text(json.dumps(catalog))
        run = run_tap(workspace_config(emulator, start_date=days_back(9)), "--catalog", str(path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert {r.stream for r in emulator.requests()} == {"daily_chats", "daily_csat"}
    assert {m["stream"] for m in run.messages if m["type"] == "RECORD"} == {
        "daily_chats",
        "daily_csat",
    }


def test_connection_test_makes_at_most_one_request_per_stream(emulator: Emulator) -> None:
    run = run_tap(workspace_config(emulator, start_date=days_back(800), page_size=30), "--test")
    assert run.returncode == 0, run.stderr[-3000:]
    assert Counter(r.stream for r in emulator.requests()) == dict.fromkeys(STREAMS, 1)
    assert run.error_lines() == []


def test_state_is_written_by_time_not_per_window(emulator: Emulator) -> None:
    """Default interval, a quick 3-window backfill: one STATE per stream, at its end."""
    run = run_tap(workspace_config(emulator, start_date=days_back(800)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.states) == len(STREAMS)


def test_state_interval_checkpoints_and_never_covers_an_unwritten_record() -> None:
    with Emulator(THREE) as emulator:
        emulator.faults.latency_s = 0.15
        config = config_for(
            emulator,
            THREE,
            start_date=days_back(119),
            page_size=30,
            max_concurrency=2,
            state_interval_seconds=1,
        )
        run = run_tap(config)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.states) > len(STREAMS), "no STATE during a stream"
    written: dict[tuple[str, str], str] = {}
    for message in run.messages:
        if message["type"] == "RECORD":
            record = message["record"]
            key = (message["stream"], record["project_id"])
            written[key] = max(written.get(key, ""), record["date"])
        elif message["type"] == "STATE":
            for stream, stream_state in message["value"]["bookmarks"].items():
                for partition in stream_state.get("partitions", []):
                    value = partition.get("replication_key_value")
                    if value is not None:
                        key = (stream, partition["context"]["project_id"])
                        assert value <= written.get(key, ""), (key, value)


@pytest.mark.parametrize("workspaces", [400])
def test_hundreds_of_workspaces_fit_in_a_small_descriptor_limit(workspaces: int) -> None:
    tokens = {f"ws-{n:04d}": f"manySecretToken{n:06d}" for n in range(workspaces)}
    with Emulator(tokens) as emulator, tempfile.TemporaryDirectory() as tmp:
        config = config_for(emulator, tokens, start_date=today().isoformat(), max_concurrency=64)
        path = Path(tmp, "config.json")
        path.write_text(json.dumps(config))

        # A common default limit; the child sets it for itself (no preexec_fn: this
        # process has threads, the emulator's).
        proc = subprocess.run(
            [
                "bash",
                "-c",
                'ulimit -n 1024 && exec "$@"',
                "tap",
                *tap_command(),
                "--config",
                str(path),
            ],
            capture_output=True,
            text=True,
            timeout=600,
            check=False,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
        records = [json.loads(line) for line in proc.stdout.splitlines() if '"RECORD"' in line]
        assert len(records) == len(STREAMS) * workspaces
        assert len(emulator.requests()) == len(STREAMS) * workspaces
    for secret in tokens.values():
        assert secret not in proc.stdout + proc.stderr


def test_workspaces_sharing_a_token_share_its_budget_under_concurrency() -> None:
    """Three workspaces, one PAT, 16 workers, a server limit scaled to 12 per 2 s: the
    shared budget keeps every try under it (zero 429s) and all data arrives.

    The tap is given 10 per 2 s, not 12: it counts a request when it sends it and the
    server when it arrives, and on a loaded machine the two clocks drift apart by more
    than the tap's 0.1 s margin. Unshared budgets would still send 30 per window.
    """
    shared = dict.fromkeys(THREE, "sharedSecretToken0042")
    with Emulator(shared, shared_pats=True) as emulator:
        emulator.faults.rate_limit = (12, 2.0)
        config = config_for(
            emulator,
            shared,
            start_date=days_back(29),
            page_size=10,
            max_concurrency=16,
            requests_per_minute=10,
            rate_limit_window_seconds=2,
        )
        run = run_tap(config)
        log = emulator.requests()
    assert run.returncode == 0, run.stderr[-3000:]
    assert [r for r in log if r.status == 429] == []
    assert len(log) == len(STREAMS) * len(shared) * 3  # 54 tries: over 5 windows of 2 s
    assert len(run.records()) == len(STREAMS) * len(shared) * 30


def test_transient_faults_under_concurrency_still_deliver_every_day_once(
    emulator: Emulator,
) -> None:
    emulator.faults.random_error_rate = 0.15
    emulator.faults.html_502_on = frozenset({5, 17})
    emulator.faults.drop_connection_on = frozenset({9})
    run = run_tap(
        workspace_config(emulator, start_date=days_back(99), page_size=20, max_concurrency=8)
    )
    assert run.returncode == 0, run.stderr[-3000:]
    for stream in STREAMS:
        for project_id in WORKSPACES:
            got = [r for r in run.records(stream) if r["project_id"] == project_id]
            expected = emulator.expected_rows(
                project_id, stream, today() - dt.timedelta(days=99), today()
            )
            assert got == [{**row, "project_id": project_id} for row in expected]
    assert any(r.status >= 500 or r.status == 0 for r in emulator.requests())
