"""Incoming state: classic single bookmarks adopted or refused, malformed state in one line."""

from __future__ import annotations

from typing import Any

import pytest

from tap_indigo_analytics.state import StateError
from tap_indigo_analytics.tap import TapIndigoAnalytics
from tests.conftest import (
    STREAMS,
    WORKSPACES,
    by_day,
    days_back,
    run_tap,
    today,
    workspace_config,
)
from tests.emulator import Emulator


def classic(day: str, stream: str = "daily_chats") -> dict[str, Any]:
    """A single-partition Singer bookmark, as other taps and plain Singer tooling write it."""
    return {"bookmarks": {stream: {"replication_key": "date", "replication_key_value": day}}}


def test_a_classic_bookmark_is_honoured_with_one_workspace(emulator: Emulator) -> None:
    config = workspace_config(emulator, "ws-alpha", start_date=days_back(30), lookback_days=0)
    run = run_tap(config, state=classic(days_back(3)))
    assert run.returncode == 0, run.stderr[-3000:]
    # daily_chats resumes at its bookmark day; the others, with no bookmark, from start_date.
    chats = by_day(run.records("daily_chats"), "ws-alpha")
    assert sorted(chats) == [days_back(n) for n in range(3, -1, -1)]
    for stream in set(STREAMS) - {"daily_chats"}:
        assert len(run.records(stream)) == 31, stream
    (request,) = emulator.requests("daily_chats")
    assert request.params["from"] == days_back(3)
    # The new state keeps the bookmark in the workspace's partition only.
    chats_state = run.state["bookmarks"]["daily_chats"]
    assert "replication_key_value" not in chats_state
    assert run.bookmark("daily_chats", "ws-alpha") == today().isoformat()


def test_a_classic_bookmark_is_refused_with_several_workspaces(emulator: Emulator) -> None:
    config = workspace_config(emulator, start_date=days_back(30))
    run = run_tap(config, state=classic(days_back(3)))
    assert run.returncode == 1
    (error,) = run.error_lines()
    assert (
        f"state: stream daily_chats has one bookmark ({days_back(3)}) that names no workspace, "
        "and the config has 2 (ws-alpha, ws-beta): it cannot be matched to one of them"
    ) in error
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []


def test_partitions_win_over_a_leftover_classic_bookmark(emulator: Emulator) -> None:
    state = classic(days_back(20))
    state["bookmarks"]["daily_chats"]["partitions"] = [
        {
            "context": {"project_id": "ws-alpha"},
            "replication_key": "date",
            "replication_key_value": days_back(2),
        }
    ]
    config = workspace_config(emulator, "ws-alpha", start_date=days_back(30), lookback_days=0)
    run = run_tap(config, state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    (request,) = emulator.requests("daily_chats")
    assert request.params["from"] == days_back(2)
    assert "replication_key_value" not in run.state["bookmarks"]["daily_chats"]


@pytest.mark.parametrize("ids", [("ws-alpha",), tuple(WORKSPACES)], ids=["one", "several"])
def test_the_flat_form_resumes_every_workspace_from_its_day(
    emulator: Emulator, ids: tuple[str, ...]
) -> None:
    # Airbyte's flat form, as a user writes it by hand: the replication key and a day.
    config = workspace_config(emulator, *ids, start_date=days_back(30), lookback_days=0)
    run = run_tap(config, state={"bookmarks": {"daily_chats": {"date": days_back(3)}}})
    assert run.returncode == 0, run.stderr[-3000:]
    starts = {(r.stream, r.project_id): r.params["from"] for r in emulator.requests()}
    assert starts == {
        (s, p): days_back(3) if s == "daily_chats" else days_back(30) for s in STREAMS for p in ids
    }
    assert set(run.state["bookmarks"]["daily_chats"]) == {"partitions"}
    for project_id in ids:
        assert run.bookmark("daily_chats", project_id) == today().isoformat()


def test_a_flat_day_in_a_partition_is_its_bookmark(emulator: Emulator) -> None:
    state = {
        "bookmarks": {
            "daily_chats": {
                "partitions": [{"context": {"project_id": "ws-alpha"}, "date": days_back(3)}]
            }
        }
    }
    config = workspace_config(emulator, start_date=days_back(30), lookback_days=0)
    run = run_tap(config, state=state)
    assert run.returncode == 0, run.stderr[-3000:]
    starts = {r.project_id: r.params["from"] for r in emulator.requests("daily_chats")}
    assert starts == {"ws-alpha": days_back(3), "ws-beta": days_back(30)}


BAD_STATES: dict[str, tuple[Any, str]] = {
    "bookmarks a list": (
        {"bookmarks": []},
        "state `bookmarks` must be an object of stream states, not an array",
    ),
    "stream state a string": (
        {"bookmarks": {"daily_chats": "2026-01-01"}},
        "state `bookmarks.daily_chats` must be an object, not a string",
    ),
    "partitions an object": (
        {"bookmarks": {"daily_chats": {"partitions": {}}}},
        "state `bookmarks.daily_chats`.partitions must be an array, not an object",
    ),
    "partition without context": (
        {"bookmarks": {"daily_chats": {"partitions": [{"replication_key_value": "2026-01-01"}]}}},
        "state `bookmarks.daily_chats`.partitions[0] must have a `context` object",
    ),
    "classic bookmark not a date": (
        classic("last tuesday"),
        "state `bookmarks.daily_chats` bookmark 'last tuesday' is not a YYYY-MM-DD date",
    ),
    "partition bookmark a number": (
        {
            "bookmarks": {
                "daily_csat": {
                    "partitions": [
                        {"context": {"project_id": "ws-alpha"}, "replication_key_value": 20260101}
                    ]
                }
            }
        },
        "state `bookmarks.daily_csat`.partitions[0] bookmark a number is not a YYYY-MM-DD date",
    ),
    "flat day not a date": (
        {"bookmarks": {"daily_chats": {"date": "yesterday"}}},
        "state `bookmarks.daily_chats`.date 'yesterday' is not a YYYY-MM-DD date",
    ),
    "partition day not a date": (
        {
            "bookmarks": {
                "daily_chats": {"partitions": [{"context": {"project_id": "a"}, "date": 3}]}
            }
        },
        "state `bookmarks.daily_chats`.partitions[0].date a number is not a YYYY-MM-DD date",
    ),
    "no bookmark in it": (
        {"bookmarks": {"daily_chats": {"cursor": "2026-12-02", "Date": "2026-12-02"}}},
        "state `bookmarks.daily_chats` holds no bookmark (no `partitions`, "
        "`replication_key_value` or `date`; it has Date, cursor): fix it or remove it",
    ),
    "another replication key": (
        {
            "bookmarks": {
                "daily_chats": {"replication_key": "updated_at", "replication_key_value": "x"}
            }
        },
        "has replication_key 'updated_at'; this tap's is 'date'",
    ),
}


@pytest.mark.parametrize("case", sorted(BAD_STATES))
def test_a_malformed_state_is_one_line(emulator: Emulator, case: str) -> None:
    state, message = BAD_STATES[case]
    run = run_tap(workspace_config(emulator, "ws-alpha"), state=state)
    assert run.returncode == 1
    (error,) = run.error_lines()
    assert message in error
    assert "Traceback" not in run.stderr
    assert emulator.requests() == []


def test_the_in_process_tap_adopts_a_classic_bookmark(emulator: Emulator) -> None:
    """The Airbyte face builds the tap with a state dict: the same hook converts it."""
    config = workspace_config(emulator, "ws-alpha")
    tap = TapIndigoAnalytics(config=config, state=classic("2026-01-05"), setup_mapper=False)
    assert tap.state["bookmarks"]["daily_chats"] == {
        "partitions": [
            {
                "context": {"project_id": "ws-alpha"},
                "replication_key": "date",
                "replication_key_value": "2026-01-05",
            }
        ]
    }
    stream = tap.streams["daily_chats"]
    partition = stream.get_context_state({"project_id": "ws-alpha"})
    assert partition["replication_key_value"] == "2026-01-05"
    with pytest.raises(StateError, match=r"bookmarks` must be an object"):
        TapIndigoAnalytics(config=config, state={"bookmarks": []}, setup_mapper=False)
