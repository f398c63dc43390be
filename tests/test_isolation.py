"""One broken workspace or stream never stops the others (issue: failure isolation).

A 401/403 stops its workspace after one request; a stream-level failure (404, a
persistent 400, a 500 past its retries, a window still incomplete) stops its (stream,
workspace) pair. Everything else syncs, its bookmarks advance, and the run ends with
one ERROR line per failure and exit 1. ``fail_fast`` keeps the old stop-at-once.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import pytest

from tests.airbyte_support import bookmarks, configured_catalog, run_source
from tests.conftest import STREAMS, TapRun, by_day, days_back, run_tap, today
from tests.emulator import Emulator, Faults

DAYS = 60
THREE = {
    "ws-a": "aaaaSecretToken0001",
    "ws-b": "bbbbSecretToken0002",
    "ws-c": "ccccSecretToken0003",
}
REVOKED = "pat-revokedToken0000000"


def config_of(emulator: Emulator, tokens: dict[str, str], **overrides: Any) -> dict[str, Any]:
    config: dict[str, Any] = {
        "base_url": emulator.base_url,
        "workspaces": [{"project_id": p, "pat": f"pat-{t}"} for p, t in tokens.items()],
        "start_date": days_back(DAYS - 1),
        "page_size": 30,
        "backoff_seconds": 0,
    }
    config.update(overrides)
    return config


def revoke(config: dict[str, Any], *project_ids: str) -> None:
    for entry in config["workspaces"]:
        if entry["project_id"] in project_ids:
            entry["pat"] = REVOKED


def assert_synced(emulator: Emulator, run: TapRun, project_id: str, stream: str) -> None:
    """Every day of the pair once, exactly as served, and its bookmark at today."""
    got = by_day(run.records(stream), project_id)
    start = today() - dt.timedelta(days=DAYS - 1)
    expected = emulator.expected_rows(project_id, stream, start, today())
    assert [got[row["date"]] for row in expected] == [
        {"project_id": project_id, **row} for row in expected
    ]
    assert run.bookmark(stream, project_id) == today().isoformat()


def test_a_revoked_token_stops_only_its_workspace() -> None:
    with Emulator(THREE) as emulator:
        config = config_of(emulator, THREE)
        revoke(config, "ws-b")
        run = run_tap(config)
        log = emulator.requests()
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    for project_id in ("ws-a", "ws-c"):
        for stream in STREAMS:
            assert_synced(emulator, run, project_id, stream)
    assert not [r for r in run.records() if r["project_id"] == "ws-b"]
    assert all(run.bookmark(stream, "ws-b") is None for stream in STREAMS)
    # One request for the revoked workspace, none of its other streams asked.
    assert [(r.project_id, r.status) for r in log if r.project_id == "ws-b"] == [("ws-b", 401)]
    (error,) = run.error_lines()
    assert "workspace ws-b: not synced" in error
    assert "401 unauthenticated" in error
    assert "check `pat`" in error


def test_a_rerun_with_the_token_fixed_reads_it_from_its_start() -> None:
    with Emulator(THREE) as emulator:
        config = config_of(emulator, THREE, lookback_days=0)
        revoke(config, "ws-b")
        first = run_tap(config)
        assert first.returncode == 1
        emulator.clear_log()
        second = run_tap(config_of(emulator, THREE, lookback_days=0), state=first.state)
        log = emulator.requests()
    assert second.returncode == 0, second.stderr[-3000:]
    uncursored = [r for r in log if not {"cursor", "after"} & set(r.params)]
    froms = Counter((r.project_id, r.params["from"]) for r in uncursored)
    for stream in STREAMS:
        assert (
            by_day(second.records(stream), "ws-b").keys()
            == by_day(first.records(stream), "ws-a").keys()
        )
        for project_id in ("ws-a", "ws-c"):
            assert [r["date"] for r in second.records(stream) if r["project_id"] == project_id] == [
                today().isoformat()
            ]
    assert froms[("ws-b", days_back(DAYS - 1))] == len(STREAMS)
    assert froms[("ws-a", today().isoformat())] == len(STREAMS)


@pytest.mark.parametrize(
    "faults",
    [
        Faults(pair_status={"daily_chats/ws-b": 404}),
        Faults(pair_status={"daily_chats/ws-b": 400}),
        Faults(pair_status={"daily_chats/ws-b": 500}),
    ],
    ids=["404", "persistent-400", "500-past-retries"],
)
def test_a_failing_stream_stops_only_its_pair(faults: Faults) -> None:
    with Emulator(THREE) as emulator:
        emulator.faults = faults
        run = run_tap(config_of(emulator, THREE, max_tries=2))
        log = emulator.requests()
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    for project_id in THREE:
        for stream in STREAMS:
            if (stream, project_id) != ("daily_chats", "ws-b"):
                assert_synced(emulator, run, project_id, stream)
    assert not by_day(run.records("daily_chats"), "ws-b")
    assert run.bookmark("daily_chats", "ws-b") is None
    (error,) = run.error_lines()
    assert error.rsplit("| ", 1)[1].startswith("daily_chats, workspace ws-b: not synced")
    status = next(iter(faults.pair_status.values()))
    assert f"HTTP {status}" in error
    failed = [r for r in log if r.stream == "daily_chats" and r.project_id == "ws-b"]
    # The pair's first page failed (tried twice if a 500): its second was never asked.
    assert len(failed) == (2 if status == 500 else 1)


def test_an_incomplete_window_stops_its_pair_and_keeps_its_bookmark_before_the_hole() -> None:
    hole = days_back(10)  # 400 days: a first window of 365 days, the hole in the second
    with Emulator(THREE) as emulator:
        emulator.faults = Faults(missing_days=frozenset({hole}))
        config = config_of(emulator, {"ws-a": THREE["ws-a"]}, start_date=days_back(399))
        config["page_size"] = 365
        run = run_tap(config)
    assert run.returncode == 1
    errors = run.error_lines()
    assert len(errors) == len(STREAMS)  # every stream has the hole: one line per pair
    for stream in STREAMS:
        got = by_day(run.records(stream), "ws-a")
        assert len(got) == 365  # the first window whole, nothing of the second
        assert max(got) < hole
        bookmark = run.bookmark(stream, "ws-a")
        assert bookmark is not None
        assert bookmark < hole
        for state in run.states:
            for part in state["bookmarks"].get(stream, {}).get("partitions", []):
                value = part.get("replication_key_value")
                assert value is None or value < hole


def test_fail_fast_stops_the_whole_run_at_once() -> None:
    with Emulator(THREE) as emulator:
        config = config_of(emulator, THREE, fail_fast=True, max_concurrency=1)
        revoke(config, "ws-a")
        run = run_tap(config)
        log = emulator.requests()
    assert run.returncode == 1
    assert [(r.project_id, r.status) for r in log] == [("ws-a", 401)]
    assert not run.records()
    assert "rejected the personal access token" in run.error_lines()[-1]


def test_one_workspace_with_a_bad_token_is_one_request_and_one_line() -> None:
    with Emulator(THREE) as emulator:
        config = config_of(emulator, {"ws-a": THREE["ws-a"]})
        revoke(config, "ws-a")
        run = run_tap(config)
        log = emulator.requests()
    assert run.returncode == 1
    assert len(log) == 1
    assert len(run.error_lines()) == 1


def test_a_host_failure_stops_the_run_at_once() -> None:
    with Emulator(THREE) as emulator:
        emulator.faults = Faults(redirect_loop=True)
        run = run_tap(config_of(emulator, THREE, max_concurrency=1))
        log = emulator.requests()
    assert run.returncode == 1
    assert "redirect loop" in run.error_lines()[-1]
    assert len(log) == 6  # one request and its five hops, then nothing else


def test_fifty_workspaces_with_five_revoked_tokens() -> None:
    tokens = {f"ws-{n:03d}": f"token{n:03d}SecretValue" for n in range(50)}
    revoked = [f"ws-{n:03d}" for n in (3, 11, 24, 37, 49)]
    with Emulator(tokens) as emulator:
        config = config_of(emulator, tokens, max_concurrency=16, start_date=days_back(6))
        revoke(config, *revoked)
        run = run_tap(config, timeout=600)
        log = emulator.requests()
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    errors = run.error_lines()
    assert len(errors) == len(revoked)
    for project_id in revoked:
        assert sum(f"workspace {project_id}: not synced" in e for e in errors) == 1
        assert sum(1 for r in log if r.project_id == project_id) == 1
    counts = Counter((r["project_id"], stream) for stream in STREAMS for r in run.records(stream))
    for project_id in tokens:
        for stream in STREAMS:
            expected = 0 if project_id in revoked else 7
            assert counts[(project_id, stream)] == expected, (project_id, stream)
            bookmark = run.bookmark(stream, project_id)
            assert bookmark == (None if project_id in revoked else today().isoformat())


def test_airbyte_ends_the_failed_streams_incomplete_and_the_others_complete() -> None:
    with Emulator(THREE) as emulator:
        emulator.faults = Faults(pair_status={"daily_chats/ws-b": 404})
        config = config_of(emulator, THREE)
        streams = ("daily_chats", "daily_csat")
        catalog = configured_catalog(dict.fromkeys(streams, "incremental"))
        run = run_source("read", config, catalog=catalog)
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["stream_descriptor"] == {"name": "daily_chats"}
    assert "daily_chats, workspace ws-b: not synced" in error["message"]
    assert run.statuses("daily_chats") == ["STARTED", "RUNNING", "INCOMPLETE"]
    assert run.statuses("daily_csat") == ["STARTED", "RUNNING", "COMPLETE"]
    states = run.final_states()
    assert bookmarks(states["daily_csat"]) == dict.fromkeys(THREE, today().isoformat())
    chats = {
        p["context"]["project_id"]: p.get("replication_key_value")
        for p in states["daily_chats"]["stream"]["stream_state"]["partitions"]
    }
    assert chats == {"ws-a": today().isoformat(), "ws-b": None, "ws-c": today().isoformat()}
    assert len(run.records("daily_chats")) == 2 * DAYS
