"""Core sync behaviour against the emulator: windows, economy, pagination, incremental state."""

from __future__ import annotations

import datetime as dt
import json
import math
from collections import Counter
from typing import Any

import pytest

from tests.conftest import (
    STREAMS,
    WORKSPACES,
    TapRun,
    by_day,
    days_back,
    run_tap,
    today,
    workspace_config,
)
from tests.emulator import ENDPOINTS, Emulator


def assert_full_and_exact(
    emulator: Emulator, run_records: list[dict[str, Any]], start: dt.date
) -> None:
    """Every day from ``start`` to today exactly once per stream and workspace, values exact."""
    end = today()
    for stream in STREAMS:
        records = [r for r in run_records if r["_stream"] == stream]
        for project_id in WORKSPACES:
            got = by_day(records, project_id)
            expected = emulator.expected_rows(project_id, stream, start, end)
            assert len(got) == len(expected) == (end - start).days + 1
            for row in expected:
                record = dict(got[row["date"]])
                record.pop("_stream")
                assert record == {**row, "project_id": project_id}, (stream, row["date"])


def tagged(run: TapRun) -> list[dict[str, Any]]:
    return [{**m["record"], "_stream": m["stream"]} for m in run.messages if m["type"] == "RECORD"]


def test_backfill_400_days_two_workspaces_costs_two_requests_per_stream(emulator: Emulator) -> None:
    start = today() - dt.timedelta(days=399)
    run = run_tap(workspace_config(emulator, start_date=start.isoformat()))
    assert run.returncode == 0, run.stderr[-3000:]

    assert_full_and_exact(emulator, tagged(run), start)
    per_partition = Counter((r.stream, r.project_id) for r in emulator.requests())
    assert per_partition == {(s, p): 2 for s in STREAMS for p in WORKSPACES}
    for request in emulator.requests():
        assert request.status == 200
        assert request.params["limit"] == "365"
        span = dt.date.fromisoformat(request.params["to"]) - dt.date.fromisoformat(
            request.params["from"]
        )
        assert 1 <= span.days <= 365
        assert dt.date.fromisoformat(request.params["to"]) <= today() + dt.timedelta(days=1)


def test_default_start_is_one_request_per_stream_and_workspace(emulator: Emulator) -> None:
    run = run_tap(workspace_config(emulator, "ws-alpha"))
    assert run.returncode == 0, run.stderr[-3000:]
    assert Counter(r.stream for r in emulator.requests()) == dict.fromkeys(STREAMS, 1)
    days = sorted(by_day(run.records("daily_chats"), "ws-alpha"))
    assert len(days) == 365
    assert days[-1] == today().isoformat()


def test_zero_days_are_emitted_as_data(emulator: Emulator) -> None:
    run = run_tap(workspace_config(emulator, "ws-alpha", start_date=days_back(120)))
    assert run.returncode == 0, run.stderr[-3000:]
    csat = run.records("daily_csat")
    assert len(csat) == 121
    empty = [r for r in csat if r["total"] == 0]
    assert empty, "the emulator serves zero days; the tap must emit them"
    assert all(r["avg_score"] is None for r in empty)
    messages = run.records("daily_messages")
    assert any(
        all(v == 0 for k, v in r.items() if k not in {"date", "project_id"}) for r in messages
    )


@pytest.mark.parametrize("page_size", [30, 7])
def test_small_pages_follow_each_endpoints_cursor_param(emulator: Emulator, page_size: int) -> None:
    start = today() - dt.timedelta(days=99)
    run = run_tap(workspace_config(emulator, start_date=start.isoformat(), page_size=page_size))
    assert run.returncode == 0, run.stderr[-3000:]
    assert_full_and_exact(emulator, tagged(run), start)

    pages = math.ceil(100 / page_size)
    for stream in STREAMS:
        own = ENDPOINTS[stream].cursor_param
        other = {"cursor", "after"} - {own}
        for project_id in WORKSPACES:
            requests = emulator.requests(stream, project_id)
            assert len(requests) == pages, (stream, project_id)
            assert all(r.params["limit"] == str(page_size) for r in requests)
            # The first page has no cursor; every later one carries the endpoint's own param.
            assert [own in r.params for r in requests] == [False] + [True] * (pages - 1)
            assert not any(other & r.params.keys() for r in requests)


def test_incremental_run_rereads_the_bookmark_day_and_the_default_lookback(
    emulator: Emulator,
) -> None:
    first = run_tap(workspace_config(emulator, start_date=days_back(400)))
    assert first.returncode == 0, first.stderr[-3000:]
    for stream in STREAMS:
        for project_id in WORKSPACES:
            assert first.bookmark(stream, project_id) == today().isoformat()
    old_today = {p: emulator.expected_row(p, "daily_messages", today()) for p in WORKSPACES}

    emulator.today_revision += 1
    emulator.clear_log()
    second = run_tap(workspace_config(emulator, start_date=days_back(400)), state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]

    assert Counter((r.stream, r.project_id) for r in emulator.requests()) == {
        (s, p): 1 for s in STREAMS for p in WORKSPACES
    }
    # lookback_days defaults to 2: the bookmark day and the two before it, in that request.
    reread = {days_back(n) for n in (2, 1, 0)}
    for stream in STREAMS:
        records = second.records(stream)
        assert {r["date"] for r in records} == reread
        assert len(records) == len(reread) * len(WORKSPACES)
    for project_id in WORKSPACES:
        (record,) = [
            r
            for r in second.records("daily_messages")
            if r["project_id"] == project_id and r["date"] == today().isoformat()
        ]
        fresh = emulator.expected_row(project_id, "daily_messages", today())
        assert record == {**fresh, "project_id": project_id}
        assert fresh != old_today[project_id], "today's value must have changed"


def test_lookback_rereads_n_days_in_the_same_single_request(emulator: Emulator) -> None:
    config = workspace_config(emulator, "ws-beta", start_date=days_back(30), lookback_days=3)
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-3000:]
    emulator.clear_log()
    second = run_tap(config, state=first.state)
    assert second.returncode == 0, second.stderr[-3000:]
    assert len(emulator.requests()) == len(STREAMS)
    expected_days = {days_back(n) for n in range(4)}
    for stream in STREAMS:
        assert {r["date"] for r in second.records(stream)} == expected_days
        assert second.bookmark(stream, "ws-beta") == today().isoformat()


def test_end_date_is_inclusive_and_past_ranges_stop_there(emulator: Emulator) -> None:
    start, end = today() - dt.timedelta(days=60), today() - dt.timedelta(days=20)
    run = run_tap(
        workspace_config(
            emulator, "ws-alpha", start_date=start.isoformat(), end_date=end.isoformat()
        )
    )
    assert run.returncode == 0, run.stderr[-3000:]
    days = sorted(r["date"] for r in run.records("daily_ai_quality"))
    assert days[0] == start.isoformat()
    assert days[-1] == end.isoformat()
    assert len(days) == 41
    assert {r.params["to"] for r in emulator.requests()} == {
        (end + dt.timedelta(days=1)).isoformat()
    }


def test_future_end_date_never_asks_past_today(emulator: Emulator) -> None:
    future = (today() + dt.timedelta(days=30)).isoformat()
    run = run_tap(workspace_config(emulator, "ws-alpha", start_date=days_back(5), end_date=future))
    assert run.returncode == 0, run.stderr[-3000:]
    assert max(r["date"] for r in run.records()) == today().isoformat()
    tomorrow = (today() + dt.timedelta(days=1)).isoformat()
    assert {r.params["to"] for r in emulator.requests()} == {tomorrow}


def test_records_schema_and_keys(emulator: Emulator) -> None:
    run = run_tap(workspace_config(emulator, "ws-alpha", start_date=days_back(2)))
    assert run.returncode == 0, run.stderr[-3000:]
    schemas = {m["stream"]: m for m in run.messages if m["type"] == "SCHEMA"}
    assert set(schemas) == set(STREAMS)
    for stream, message in schemas.items():
        assert message["key_properties"] == ["project_id", "date"]
        assert message["bookmark_properties"] == ["date"]
        props = message["schema"]["properties"]
        assert props["date"]["format"] == "date"
        assert set(props) == {"project_id", "date", *ENDPOINTS[stream].fields}
        for name, prop in props.items():
            assert prop.get("description"), f"{stream}.{name} has no description"


def test_discover_catalog_lists_six_incremental_streams(emulator: Emulator) -> None:
    run = run_tap({}, "--discover")  # discovery needs no token
    assert run.returncode == 0, run.stderr[-3000:]
    catalog = json.loads(run.stdout)
    streams = {s["tap_stream_id"]: s for s in catalog["streams"]}
    assert set(streams) == set(STREAMS)
    for entry in streams.values():
        assert entry["replication_key"] == "date"
        assert entry["key_properties"] == ["project_id", "date"]
        assert entry["replication_method"] == "INCREMENTAL"
        top = next(m for m in entry["metadata"] if m["breadcrumb"] == [])
        assert top["metadata"]["valid-replication-keys"] == ["date"]


def test_a_corrupt_bookmark_is_a_clear_error(emulator: Emulator) -> None:
    state = {
        "bookmarks": {
            "daily_chats": {
                "partitions": [
                    {
                        "context": {"project_id": "ws-alpha"},
                        "replication_key": "date",
                        "replication_key_value": "yesterday",
                    }
                ]
            }
        }
    }
    run = run_tap(workspace_config(emulator, "ws-alpha", start_date=days_back(3)), state=state)
    assert run.returncode != 0
    assert any(
        "bookmark 'yesterday'" in line and "daily_chats" in line for line in run.error_lines()
    )
    assert "Traceback" not in run.stderr
