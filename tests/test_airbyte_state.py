"""Every state form an Airbyte platform or client may pass to ``read --state``."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tap_indigo_analytics.airbyte import InputError, singer_state
from tap_indigo_analytics.settings import CONFIG_SCHEMA
from tests.airbyte_support import configured_catalog, run_source
from tests.conftest import STREAMS, WORKSPACES, days_back, workspace_config
from tests.emulator import Emulator

LOOKBACK_DAYS: int = CONFIG_SCHEMA["properties"]["lookback_days"]["default"]
READ = ("daily_chats", "daily_csat")
BOOKMARK_DAYS_BACK = 5


def stream_state(day: str) -> dict[str, Any]:
    """A stream's Singer state: one ``date`` bookmark per test workspace."""
    return {
        "partitions": [
            {"context": {"project_id": p}, "replication_key": "date", "replication_key_value": day}
            for p in WORKSPACES
        ]
    }


def per_stream(name: str, state: Any) -> dict[str, Any]:
    return {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": name}, "stream_state": state},
    }


def forms(states: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The same per-stream states in every form ``read`` accepts."""
    return {
        "stream messages": [per_stream(n, s) for n, s in states.items()],
        "whole STATE messages": [
            {"type": "STATE", "state": per_stream(n, s)} for n, s in states.items()
        ],
        "LEGACY message, Singer bookmarks": [{"type": "LEGACY", "data": {"bookmarks": states}}],
        "LEGACY message, stream dict": [{"type": "LEGACY", "data": states}],
        "untyped legacy message": [{"data": states}],
        "legacy dict, Singer bookmarks": {"bookmarks": states},
        "legacy dict, stream dict": states,
        "one STREAM message": per_stream(*next(iter(states.items()))),
    }


MARK = stream_state("2026-01-02")


@pytest.mark.parametrize(("form", "document"), forms({"daily_chats": MARK}).items())
def test_every_accepted_form_gives_the_same_singer_state(form: str, document: Any) -> None:
    expected = {"bookmarks": {"daily_chats": MARK}}
    assert singer_state(document, ["daily_chats"], STREAMS) == expected, form
    # full_refresh streams (not listed as incremental) start from scratch.
    assert singer_state(document, ["daily_csat"], STREAMS) == {"bookmarks": {}}, form


@pytest.mark.parametrize(
    "document", [None, {}, [], {"bookmarks": {}}, [{"type": "LEGACY", "data": {}}]]
)
def test_no_state(document: Any) -> None:
    assert singer_state(document, STREAMS, STREAMS) == {"bookmarks": {}}


@pytest.mark.parametrize(
    ("document", "expected"),
    [
        (
            [{"type": "GLOBAL", "global": {"stream_states": [per_stream("daily_chats", MARK)]}}],
            "GLOBAL state is not supported",
        ),
        ({"daily_chatz": MARK}, "'daily_chatz' is not a stream of this source"),
        ([{"type": "LEGACY", "data": {"nope": {}}}], "'nope' is not a stream"),
        ([per_stream("daily_chats", [1])], "must be a JSON object"),
        ({"bookmarks": []}, "`bookmarks` must be an object"),
        ([{"type": "STREAM"}], "needs a `stream` object"),
        ([{"type": "SOMETHING"}], "unknown state type 'SOMETHING'"),
        ("daily_chats", "--state must be a JSON array"),
        ([3], "every entry must be an Airbyte state message object"),
    ],
)
def test_bad_state_is_a_one_line_input_error(document: Any, expected: str) -> None:
    with pytest.raises(InputError, match=r"^--state") as raised:
        singer_state(document, STREAMS, STREAMS)
    assert expected in str(raised.value)
    assert "\n" not in str(raised.value)


@pytest.mark.parametrize(
    ("form", "document"),
    forms({name: stream_state(days_back(BOOKMARK_DAYS_BACK)) for name in READ}).items(),
)
def test_read_resumes_from_the_state_in_every_form(
    emulator: Emulator, form: str, document: Any
) -> None:
    config = workspace_config(emulator, start_date=days_back(200))
    catalog = configured_catalog(dict.fromkeys(READ, "incremental"))
    run = run_source("read", config, catalog=catalog, state=document)
    assert run.returncode == 0, run.stderr[-3000:]
    resumed = {READ[0]} if form == "one STREAM message" else set(READ)
    first_day = days_back(BOOKMARK_DAYS_BACK + LOOKBACK_DAYS)
    # One request per stream and workspace, from the bookmark less the lookback days...
    assert Counter((r.stream, r.project_id) for r in emulator.requests()) == {
        (s, p): 1 for s in READ for p in WORKSPACES
    }
    for request in emulator.requests():
        expected = first_day if request.stream in resumed else days_back(200)
        assert request.params["from"] == expected, (form, request.stream)
    # ...and each stream ends COMPLETE with its STREAM state (no legacy form goes out).
    for stream in READ:
        assert run.statuses(stream) == ["STARTED", "RUNNING", "COMPLETE"]
    assert set(run.final_states()) == set(READ)


def test_a_global_state_is_refused_before_any_request(emulator: Emulator) -> None:
    config = workspace_config(emulator)
    catalog = configured_catalog(dict.fromkeys(READ, "incremental"))
    state = [{"type": "GLOBAL", "global": {"stream_states": [per_stream("daily_chats", MARK)]}}]
    run = run_source("read", config, catalog=catalog, state=state)
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "config_error"
    assert "GLOBAL state is not supported" in error["message"]
    for stream in READ:
        assert run.statuses(stream) == ["INCOMPLETE"]
    assert not emulator.requests()


def test_the_flat_form_resumes_every_workspace_from_its_day(emulator: Emulator) -> None:
    # What a user writes when editing a connection's state: the cursor field and a day.
    config = workspace_config(emulator, start_date=days_back(200))
    catalog = configured_catalog(dict.fromkeys(READ, "incremental"))
    flat = {"date": days_back(BOOKMARK_DAYS_BACK)}
    run = run_source("read", config, catalog=catalog, state=[per_stream("daily_chats", flat)])
    assert run.returncode == 0, run.stderr[-3000:]
    first_day = days_back(BOOKMARK_DAYS_BACK + LOOKBACK_DAYS)
    starts = {(r.stream, r.project_id): r.params["from"] for r in emulator.requests()}
    assert starts == {
        **{("daily_chats", p): first_day for p in WORKSPACES},
        **{("daily_csat", p): days_back(200) for p in WORKSPACES},
    }


@pytest.mark.parametrize(
    ("stream_state", "expected"),
    [
        ({"cursor": "2026-12-02"}, "has none of `partitions` or `date` (it has cursor)"),
        ({"date": "yesterday"}, "`date` 'yesterday' is not a YYYY-MM-DD date"),
    ],
)
def test_a_stream_state_it_cannot_read_is_refused(stream_state: Any, expected: str) -> None:
    with pytest.raises(InputError, match=r"^--state") as raised:
        singer_state([per_stream("daily_chats", stream_state)], STREAMS, STREAMS)
    assert expected in str(raised.value)


@pytest.mark.parametrize("ids", [("ws-alpha",), tuple(WORKSPACES)], ids=["one", "several"])
def test_the_sdks_single_bookmark_resumes_one_workspace_or_is_refused(
    emulator: Emulator, ids: tuple[str, ...]
) -> None:
    # The SDK's unpartitioned form: one workspace's bookmark, or for several, whose?
    config = workspace_config(emulator, *ids, start_date=days_back(200))
    catalog = configured_catalog({"daily_chats": "incremental"})
    single = {"replication_key": "date", "replication_key_value": days_back(BOOKMARK_DAYS_BACK)}
    run = run_source("read", config, catalog=catalog, state=[per_stream("daily_chats", single)])
    if len(ids) == 1:
        assert run.returncode == 0, run.stderr[-3000:]
        (request,) = emulator.requests()
        assert request.params["from"] == days_back(BOOKMARK_DAYS_BACK + LOOKBACK_DAYS)
        return
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "config_error"
    assert "has one bookmark" in error["message"]
    assert "cannot be matched to one of them" in error["message"]
    assert "\n" not in error["message"]
    assert not emulator.requests()
