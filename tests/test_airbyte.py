"""The Airbyte face (``python -m tap_indigo_analytics.airbyte``) against the emulator.

Every command runs as a subprocess; every line it prints must parse with the
official protocol models and no configured token may appear in it
(``tests.airbyte_support``). The setup form is in ``test_airbyte_spec``, state
forms in ``test_airbyte_state``, signals in ``test_airbyte_signals``, PyAirbyte
in ``test_airbyte_pyairbyte``, the image in ``test_airbyte_packaging``.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from typing import Any

import pytest

from tap_indigo_analytics.settings import CONFIG_SCHEMA
from tests.airbyte_support import (
    assert_state_after_records,
    bookmarks,
    configured_catalog,
    one_workspace,
    run_source,
)
from tests.conftest import STREAMS, WORKSPACES, by_day, days_back, run_tap, today, workspace_config
from tests.emulator import ENDPOINTS, Emulator

#: What an incremental run reads again before its bookmark, by default.
LOOKBACK_DAYS: int = CONFIG_SCHEMA["properties"]["lookback_days"]["default"]

# --- discover ---------------------------------------------------------------------------


def test_discover_lists_six_incremental_streams_with_the_taps_schemas() -> None:
    run = run_source("discover", one_workspace("anyTokenValue1"))
    assert run.returncode == 0, run.stderr[-3000:]
    streams = {s["name"]: s for s in run.one("CATALOG")["streams"]}
    assert set(streams) == set(STREAMS)
    singer = run_tap({}, "--discover")
    singer_schemas = {s["tap_stream_id"]: s["schema"] for s in json.loads(singer.stdout)["streams"]}
    for name, stream in streams.items():
        assert stream["supported_sync_modes"] == ["full_refresh", "incremental"]
        assert stream["source_defined_cursor"] is True
        assert stream["default_cursor_field"] == ["date"]
        assert stream["source_defined_primary_key"] == [["project_id"], ["date"]]
        # A full refresh starts again at start_date, state or not: it must not claim to resume.
        assert stream["is_resumable"] is False
        schema = dict(stream["json_schema"])
        schema.pop("$schema")
        singer_schema = dict(singer_schemas[name])
        singer_schema.pop("$schema", None)
        assert schema == singer_schema
        assert set(schema["properties"]) == {"project_id", "date", *ENDPOINTS[name].fields}


def test_discover_rejects_a_bad_config() -> None:
    run = run_source("discover", {"project_id": "p"})
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "config_error"
    assert "no workspace configured" in error["message"]
    assert not run.of("CATALOG")


# --- check ------------------------------------------------------------------------------


def test_check_succeeds_with_one_request_for_today_per_workspace(emulator: Emulator) -> None:
    run = run_source("check", workspace_config(emulator, start_date=days_back(400)))
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.one("CONNECTION_STATUS") == {"status": "SUCCEEDED"}
    requests = emulator.requests()
    assert sorted(str(r.project_id) for r in requests) == sorted(WORKSPACES)
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    for request in requests:
        assert request.status == 200
        assert request.stream == "daily_chats"
        assert (request.params["from"], request.params["to"]) == (today().isoformat(), tomorrow)
    assert not run.of("RECORD")
    assert not run.of("STATE")


@pytest.mark.parametrize(
    ("case", "expected"),
    [
        ("bad_pat", "401 unauthenticated"),
        ("wrong_workspace", "does not belong to workspace ws-beta (403"),
        ("unreachable", "could not connect"),
        ("bad_config", "config `start_date`"),
    ],
)
def test_check_fails_cleanly(emulator: Emulator, case: str, expected: str) -> None:
    config = workspace_config(emulator)
    if case == "bad_pat":
        config["workspaces"][1]["pat"] = "pat-notTheRightToken99"
    elif case == "wrong_workspace":
        config["workspaces"][1]["pat"] = config["workspaces"][0]["pat"]
    elif case == "unreachable":
        config["base_url"] = "http://127.0.0.1:9"
    else:
        config["start_date"] = "2026-02-30"
    run = run_source("check", config)
    assert run.returncode == 0, run.stderr[-3000:]
    status = run.one("CONNECTION_STATUS")
    assert status["status"] == "FAILED"
    assert expected in status["message"]
    assert "Traceback" not in status["message"]
    if case == "bad_pat":
        assert "ws-beta" in status["message"]
    if case == "unreachable":
        assert "after 3 tries" in status["message"]  # check caps the retries


# --- read -------------------------------------------------------------------------------


def test_full_read_then_incremental_read_with_the_returned_state(emulator: Emulator) -> None:
    start = today() - dt.timedelta(days=40)
    config = workspace_config(emulator, start_date=start.isoformat())
    catalog = configured_catalog(dict.fromkeys(STREAMS, "incremental"))

    first = run_source("read", config, catalog=catalog)
    assert first.returncode == 0, first.stderr[-3000:]
    assert not first.errors()
    for stream in STREAMS:
        assert first.statuses(stream) == ["STARTED", "RUNNING", "COMPLETE"]
        records = first.records(stream)
        for project_id in WORKSPACES:
            expected = emulator.expected_rows(project_id, stream, start, today())
            got = by_day(records, project_id)
            assert [got[row["date"]] for row in expected] == [
                {**row, "project_id": project_id} for row in expected
            ]
    # A STATE follows each stream's records, and each stream's last one has today per workspace.
    for stream in STREAMS:
        assert_state_after_records(first, stream)
    states = first.final_states()
    assert set(states) == set(STREAMS)
    for state in states.values():
        assert bookmarks(state) == dict.fromkeys(WORKSPACES, today().isoformat())
    old_today = {p: emulator.expected_row(p, "daily_messages", today()) for p in WORKSPACES}

    emulator.today_revision += 1
    emulator.clear_log()
    second = run_source("read", config, catalog=catalog, state=list(states.values()))
    assert second.returncode == 0, second.stderr[-3000:]

    assert Counter((r.stream, r.project_id) for r in emulator.requests()) == {
        (s, p): 1 for s in STREAMS for p in WORKSPACES
    }
    # The bookmark day (today) again, and the lookback days before it.
    reread = {days_back(n) for n in range(LOOKBACK_DAYS + 1)}
    for stream in STREAMS:
        assert {r["date"] for r in second.records(stream)} == reread
        assert len(second.records(stream)) == len(reread) * len(WORKSPACES)
        # The re-read of today is committed: a STATE for the stream follows it.
        assert_state_after_records(second, stream)
    for project_id in WORKSPACES:
        record = by_day(second.records("daily_messages"), project_id)[today().isoformat()]
        fresh = emulator.expected_row(project_id, "daily_messages", today())
        assert record == {**fresh, "project_id": project_id}
        assert fresh != old_today[project_id], "today's value must have changed"


def test_configured_catalog_selects_streams_and_full_refresh_ignores_state(
    emulator: Emulator,
) -> None:
    start = today() - dt.timedelta(days=30)
    config = workspace_config(emulator, start_date=start.isoformat())
    catalog = configured_catalog(
        {"daily_csat": "full_refresh", "daily_technical_errors": "incremental"},
        fields={"daily_csat": ["project_id", "date", "total"]},
    )
    # A bookmark at today for every stream, as a previous incremental sync leaves it.
    partitions = [
        {
            "context": {"project_id": p},
            "replication_key": "date",
            "replication_key_value": today().isoformat(),
        }
        for p in WORKSPACES
    ]
    state = [
        {
            "type": "STREAM",
            "stream": {
                "stream_descriptor": {"name": s},
                "stream_state": {"partitions": partitions},
            },
        }
        for s in STREAMS
    ]
    run = run_source("read", config, catalog=catalog, state=state)
    assert run.returncode == 0, run.stderr[-3000:]

    assert {r["stream"] for r in run.of("RECORD")} == {"daily_csat", "daily_technical_errors"}
    assert {s for s in STREAMS if run.statuses(s)} == {"daily_csat", "daily_technical_errors"}
    assert set(run.final_states()) == {"daily_csat", "daily_technical_errors"}
    assert {r.stream for r in emulator.requests()} == {"daily_csat", "daily_technical_errors"}
    # full_refresh: the whole range from start_date, whatever the state says.
    csat = run.records("daily_csat")
    assert len(csat) == 31 * len(WORKSPACES)
    assert {r.params["from"] for r in emulator.requests("daily_csat")} == {start.isoformat()}
    # Only the configured fields (key and cursor are always there).
    assert all(set(r) == {"project_id", "date", "total"} for r in csat)
    # incremental: from the bookmark (less the lookback days).
    assert {r["date"] for r in run.records("daily_technical_errors")} == {
        days_back(n) for n in range(LOOKBACK_DAYS + 1)
    }


def test_singer_and_airbyte_faces_return_identical_records(emulator: Emulator) -> None:
    config = workspace_config(emulator, start_date=days_back(20))
    singer = run_tap(config)
    assert singer.returncode == 0, singer.stderr[-3000:]
    airbyte = run_source(
        "read", config, catalog=configured_catalog(dict.fromkeys(STREAMS, "incremental"))
    )
    assert airbyte.returncode == 0, airbyte.stderr[-3000:]
    for stream in STREAMS:
        assert airbyte.records(stream) == singer.records(stream), stream
    # The state carried is the tap's own bookmark, stream by stream.
    for stream, state in airbyte.final_states().items():
        assert state["stream"]["stream_state"] == singer.state["bookmarks"][stream]


def test_read_with_a_bad_pat_is_a_config_error_trace(emulator: Emulator) -> None:
    config = workspace_config(emulator, "ws-alpha")
    config["workspaces"][0]["pat"] = "pat-notTheRightToken99"
    streams = ("daily_chats", "daily_csat", "daily_messages")
    run = run_source(
        "read", config, catalog=configured_catalog(dict.fromkeys(streams, "incremental"))
    )
    assert run.returncode == 1
    (error,) = run.errors()  # one for the workspace, not one per stream
    assert error["failure_type"] == "config_error"
    assert "401 unauthenticated" in error["message"]
    assert "workspace ws-alpha: not synced" in error["message"]
    for stream in streams:
        assert run.statuses(stream) == ["STARTED", "INCOMPLETE"], stream
    assert not run.of("RECORD")
    assert len(emulator.requests()) == 1  # no retries on 401, no other stream asked


def test_read_with_a_bad_pat_under_fail_fast_stops_at_once(emulator: Emulator) -> None:
    config = workspace_config(emulator, "ws-alpha", fail_fast=True)
    config["workspaces"][0]["pat"] = "pat-notTheRightToken99"
    streams = ("daily_chats", "daily_csat", "daily_messages")
    run = run_source(
        "read", config, catalog=configured_catalog(dict.fromkeys(streams, "incremental"))
    )
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "config_error"
    assert "401 unauthenticated" in error["message"]
    failed = error["stream_descriptor"]["name"]
    assert run.statuses(failed) == ["STARTED", "INCOMPLETE"]
    # Every other configured stream ends too: INCOMPLETE, never started.
    for stream in set(streams) - {failed}:
        assert run.statuses(stream) == ["INCOMPLETE"], stream
    assert not run.of("RECORD")
    assert len(emulator.requests()) == 1  # no retries on 401


def test_a_failure_after_a_finished_stream_ends_every_configured_stream(
    emulator: Emulator,
) -> None:
    # One request per stream; the second one answers a proxy's 502 page and no retry is left.
    emulator.faults.html_502_on = frozenset({2})
    config = workspace_config(emulator, "ws-alpha", max_tries=1, max_concurrency=1, fail_fast=True)
    streams = ("daily_chats", "daily_csat", "daily_messages")
    run = run_source(
        "read", config, catalog=configured_catalog(dict.fromkeys(streams, "incremental"))
    )
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "system_error"
    started = [
        t["stream_status"]["stream_descriptor"]["name"]
        for t in run.of("TRACE")
        if t["type"] == "STREAM_STATUS" and t["stream_status"]["status"] == "STARTED"
    ]
    first, second = started
    (third,) = set(streams) - {first, second}
    assert error["stream_descriptor"] == {"name": second}
    assert run.statuses(first) == ["STARTED", "RUNNING", "COMPLETE"]
    assert run.statuses(second) == ["STARTED", "INCOMPLETE"]
    assert run.statuses(third) == ["INCOMPLETE"]
    # The finished stream's records are committed: its STATE follows them.
    assert_state_after_records(run, first)
    assert set(run.final_states()) == {first}


def test_read_giving_up_on_server_errors_is_a_system_error(emulator: Emulator) -> None:
    emulator.faults.status_every_n = 1
    config = workspace_config(emulator, "ws-alpha", max_tries=2)
    run = run_source("read", config, catalog=configured_catalog({"daily_chats": "incremental"}))
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "system_error"
    assert "gave up after 2 tries" in error["message"]
    assert run.statuses("daily_chats") == ["STARTED", "INCOMPLETE"]


@pytest.mark.parametrize(
    ("config_override", "catalog", "expected"),
    [
        ({"page_size": 0}, None, "page_size"),
        ({}, {"streams": [{"stream": {"name": "nope"}, "sync_mode": "incremental"}]}, "'nope'"),
        ({}, {"not": "a catalog"}, "ConfiguredAirbyteCatalog"),
    ],
)
def test_read_rejects_bad_input_as_config_error(
    emulator: Emulator, config_override: dict[str, Any], catalog: Any, expected: str
) -> None:
    config = workspace_config(emulator, **config_override)
    catalog = catalog or configured_catalog({"daily_chats": "incremental"})
    run = run_source("read", config, catalog=catalog)
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "config_error"
    assert expected in error["message"]
    assert not emulator.requests()
