"""The Airbyte face (``python -m tap_indigo_analytics.airbyte``) against the emulator.

Every command runs as a subprocess; every line it prints must be one Airbyte
message valid against the protocol's message shapes (``PROTOCOL`` below, the
definitions of airbyte-protocol's ``airbyte_protocol.yaml`` these commands
use), and no configured token may appear anywhere in its output.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped,unused-ignore]
import pytest
import yaml  # type: ignore[import-untyped,unused-ignore]

from tap_indigo_analytics.settings import CONFIG_SCHEMA
from tests.conftest import (
    STREAMS,
    WORKSPACES,
    assert_no_secret,
    by_day,
    run_tap,
    today,
    workspace_config,
)
from tests.emulator import ENDPOINTS, Emulator

ROOT = Path(__file__).resolve().parent.parent

# --- the protocol's message shapes ------------------------------------------------------

_DESCRIPTOR = {
    "type": "object",
    "required": ["name"],
    "properties": {"name": {"type": "string"}, "namespace": {"type": "string"}},
}
_STRING_ARRAY = {"type": "array", "items": {"type": "string"}}
_STREAM_STATE = {
    "type": "object",
    "required": ["stream_descriptor"],
    "properties": {"stream_descriptor": _DESCRIPTOR, "stream_state": {"type": "object"}},
}
_SYNC_MODE = {"enum": ["full_refresh", "incremental"]}

#: One JSON schema per message type: the payload key it requires, and that payload's shape.
PROTOCOL: dict[str, tuple[str, dict[str, Any]]] = {
    "SPEC": (
        "spec",
        {
            "type": "object",
            "required": ["connectionSpecification"],
            "properties": {
                "documentationUrl": {"type": "string", "format": "uri"},
                "connectionSpecification": {"type": "object"},
                "supportsIncremental": {"type": "boolean"},
                "supported_destination_sync_modes": {
                    "type": "array",
                    "items": {"enum": ["append", "overwrite", "append_dedup"]},
                },
            },
        },
    ),
    "CONNECTION_STATUS": (
        "connectionStatus",
        {
            "type": "object",
            "required": ["status"],
            "properties": {
                "status": {"enum": ["SUCCEEDED", "FAILED"]},
                "message": {"type": "string"},
            },
        },
    ),
    "CATALOG": (
        "catalog",
        {
            "type": "object",
            "required": ["streams"],
            "properties": {
                "streams": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "required": ["name", "json_schema", "supported_sync_modes"],
                        "properties": {
                            "name": {"type": "string"},
                            "json_schema": {"type": "object"},
                            "supported_sync_modes": {
                                "type": "array",
                                "minItems": 1,
                                "items": _SYNC_MODE,
                            },
                            "source_defined_cursor": {"type": "boolean"},
                            "default_cursor_field": _STRING_ARRAY,
                            "source_defined_primary_key": {
                                "type": "array",
                                "items": _STRING_ARRAY,
                            },
                            "namespace": {"type": "string"},
                            "is_resumable": {"type": "boolean"},
                        },
                    },
                }
            },
        },
    ),
    "RECORD": (
        "record",
        {
            "type": "object",
            "required": ["stream", "data", "emitted_at"],
            "properties": {
                "stream": {"type": "string"},
                "data": {"type": "object"},
                "emitted_at": {"type": "integer"},
                "namespace": {"type": "string"},
            },
        },
    ),
    "STATE": (
        "state",
        {
            "type": "object",
            # This source speaks per-stream state only.
            "required": ["type", "stream"],
            "properties": {
                "type": {"const": "STREAM"},
                "stream": _STREAM_STATE,
                "sourceStats": {
                    "type": "object",
                    "properties": {"recordCount": {"type": "number"}},
                },
            },
        },
    ),
    "LOG": (
        "log",
        {
            "type": "object",
            "required": ["level", "message"],
            "properties": {
                "level": {"enum": ["FATAL", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"]},
                "message": {"type": "string"},
                "stack_trace": {"type": "string"},
            },
        },
    ),
    "TRACE": (
        "trace",
        {
            "type": "object",
            "required": ["type", "emitted_at"],
            "properties": {
                "type": {"enum": ["ERROR", "ESTIMATE", "STREAM_STATUS", "ANALYTICS"]},
                "emitted_at": {"type": "number"},
                "error": {
                    "type": "object",
                    "required": ["message"],
                    "properties": {
                        "message": {"type": "string"},
                        "internal_message": {"type": "string"},
                        "stack_trace": {"type": "string"},
                        "failure_type": {
                            "enum": ["system_error", "config_error", "transient_error"]
                        },
                        "stream_descriptor": _DESCRIPTOR,
                    },
                },
                "stream_status": {
                    "type": "object",
                    "required": ["stream_descriptor", "status"],
                    "properties": {
                        "stream_descriptor": _DESCRIPTOR,
                        "status": {"enum": ["STARTED", "RUNNING", "COMPLETE", "INCOMPLETE"]},
                    },
                },
            },
            "allOf": [
                {
                    "if": {"properties": {"type": {"const": "ERROR"}}},
                    "then": {"required": ["error"]},
                },
                {
                    "if": {"properties": {"type": {"const": "STREAM_STATUS"}}},
                    "then": {"required": ["stream_status"]},
                },
            ],
        },
    ),
}


def assert_airbyte_message(message: Any) -> None:
    """Fail unless ``message`` is an AirbyteMessage of a known type with a valid payload."""
    assert isinstance(message, dict), message
    kind = message.get("type")
    assert kind in PROTOCOL, f"unknown or missing message type: {message}"
    key, schema = PROTOCOL[kind]
    assert key in message, f"{kind} message without {key!r}: {message}"
    jsonschema.Draft7Validator(schema).validate(message[key])


# --- running the source -----------------------------------------------------------------


@dataclass
class SourceRun:
    """What one run of the Airbyte entry point printed."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The payloads of the messages of one type."""
        key = PROTOCOL[kind][0]
        return [m[key] for m in self.messages if m["type"] == kind]

    def one(self, kind: str) -> dict[str, Any]:
        """The payload of the single message of one type."""
        (payload,) = self.of(kind)
        return payload

    def records(self, stream: str | None = None) -> list[dict[str, Any]]:
        """RECORD data, optionally of one stream."""
        return [r["data"] for r in self.of("RECORD") if stream is None or r["stream"] == stream]

    def final_states(self) -> dict[str, dict[str, Any]]:
        """The last STATE message of each stream (the array Airbyte passes to ``--state``)."""
        return {s["stream"]["stream_descriptor"]["name"]: s for s in self.of("STATE")}

    def statuses(self, stream: str) -> list[str]:
        """The STREAM_STATUS sequence of one stream."""
        return [
            t["stream_status"]["status"]
            for t in self.of("TRACE")
            if t["type"] == "STREAM_STATUS"
            and t["stream_status"]["stream_descriptor"]["name"] == stream
        ]

    def errors(self) -> list[dict[str, Any]]:
        """The TRACE ERROR payloads."""
        return [t["error"] for t in self.of("TRACE") if t["type"] == "ERROR"]


def run_source(
    command: str,
    config: dict[str, Any] | None = None,
    *,
    catalog: dict[str, Any] | None = None,
    state: list[dict[str, Any]] | None = None,
    timeout: float = 300,
) -> SourceRun:
    """Run ``python -m tap_indigo_analytics.airbyte COMMAND``; check every line it prints."""
    with tempfile.TemporaryDirectory() as tmp:
        args = [sys.executable, "-m", "tap_indigo_analytics.airbyte", command]
        for flag, document in (("--config", config), ("--catalog", catalog), ("--state", state)):
            if document is not None:
                path = Path(tmp, flag.strip("-") + ".json")
                path.write_text(json.dumps(document))
                args += [flag, str(path)]
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=os.environ, check=False
        )
    run = SourceRun(proc.returncode, proc.stdout, proc.stderr)
    assert_no_secret(run.stdout + run.stderr, config or {})
    for line in proc.stdout.splitlines():
        message = json.loads(line)
        assert_airbyte_message(message)
        run.messages.append(message)
    return run


def configured_catalog(
    streams: dict[str, str], *, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """A ConfiguredAirbyteCatalog of ``{stream: sync_mode}``, built from ``discover``."""
    discovered = run_source("discover", {"pat": "unusedToken1", "project_id": "p"})
    entries = []
    for stream in discovered.one("CATALOG")["streams"]:
        if stream["name"] not in streams:
            continue
        stream = copy.deepcopy(stream)
        if fields and stream["name"] in fields:
            props = stream["json_schema"]["properties"]
            stream["json_schema"]["properties"] = {k: props[k] for k in fields[stream["name"]]}
        mode = streams[stream["name"]]
        entries.append(
            {
                "stream": stream,
                "sync_mode": mode,
                "cursor_field": ["date"],
                "destination_sync_mode": "append_dedup" if mode == "incremental" else "overwrite",
                "primary_key": [["project_id"], ["date"]],
            }
        )
    return {"streams": entries}


def days_back(n: int) -> str:
    return (today() - dt.timedelta(days=n)).isoformat()


def assert_state_after_records(run: SourceRun, stream: str) -> None:
    """Destinations commit records at a STATE: one of the stream's must follow its last record."""
    last_record = max(
        i
        for i, m in enumerate(run.messages)
        if m["type"] == "RECORD" and m["record"]["stream"] == stream
    )
    assert any(
        m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == stream
        for m in run.messages[last_record:]
    ), f"no STATE for {stream} after its records"
    counted = sum(
        m["state"].get("sourceStats", {}).get("recordCount", 0)
        for m in run.messages
        if m["type"] == "STATE" and m["state"]["stream"]["stream_descriptor"]["name"] == stream
    )
    assert counted == len(run.records(stream)), "sourceStats.recordCount must add up"


def bookmarks(state: dict[str, Any]) -> dict[str, str]:
    """``{project_id: date bookmark}`` of one Airbyte STREAM state."""
    partitions = state["stream"]["stream_state"]["partitions"]
    return {p["context"]["project_id"]: p["replication_key_value"] for p in partitions}


# --- spec, discover ---------------------------------------------------------------------


def test_spec_is_the_config_schema_with_secret_pats(emulator: Emulator) -> None:
    run = run_source("spec")
    assert run.returncode == 0, run.stderr[-3000:]
    assert [m["type"] for m in run.messages if m["type"] != "LOG"] == ["SPEC"]
    connection = run.one("SPEC")["connectionSpecification"]
    props = connection["properties"]
    assert props["pat"]["airbyte_secret"] is True
    assert props["workspaces"]["items"]["properties"]["pat"]["airbyte_secret"] is True
    secret = [name for name, prop in props.items() if prop.get("airbyte_secret")]
    assert secret == ["pat"]
    assert "airbyte_secret" not in props["workspaces"]["items"]["properties"]["project_id"]
    # Otherwise the tap's own schema, key for key (not the SDK's built-in settings).
    assert {"pat", "project_id", "workspaces", "start_date"} <= set(props)
    assert set(props) <= set(CONFIG_SCHEMA["properties"])
    assert "stream_maps" not in props
    for name, prop in props.items():
        plain = json.loads(json.dumps(prop).replace(', "airbyte_secret": true', ""))
        assert plain == CONFIG_SCHEMA["properties"][name], name
    # A valid config passes the spec as Airbyte checks it (draft-07).
    jsonschema.Draft7Validator.check_schema(connection)
    jsonschema.Draft7Validator(connection).validate(workspace_config(emulator))


def test_discover_lists_six_incremental_streams_with_the_taps_schemas() -> None:
    run = run_source("discover", {"pat": "anyTokenValue1", "project_id": "p"})
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
        assert "gave up after 3 tries" in status["message"]  # check caps the retries


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
    for stream in STREAMS:
        assert {r["date"] for r in second.records(stream)} == {today().isoformat()}
        assert len(second.records(stream)) == len(WORKSPACES)
        # The re-read of today is committed: a STATE for the stream follows it.
        assert_state_after_records(second, stream)
    for project_id in WORKSPACES:
        (record,) = by_day(second.records("daily_messages"), project_id).values()
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
    # incremental: from the bookmark.
    assert {r["date"] for r in run.records("daily_technical_errors")} == {today().isoformat()}


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
    run = run_source("read", config, catalog=configured_catalog({"daily_chats": "incremental"}))
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "config_error"
    assert "401 unauthenticated" in error["message"]
    assert error["stream_descriptor"] == {"name": "daily_chats"}
    assert run.statuses("daily_chats") == ["STARTED", "INCOMPLETE"]
    assert not run.of("RECORD")
    assert len(emulator.requests()) == 1  # no retries on 401


def test_read_giving_up_on_server_errors_is_a_system_error(emulator: Emulator) -> None:
    emulator.faults.status_every_n = 1
    config = workspace_config(emulator, "ws-alpha", max_tries=2)
    run = run_source("read", config, catalog=configured_catalog({"daily_chats": "incremental"}))
    assert run.returncode == 1
    (error,) = run.errors()
    assert error["failure_type"] == "system_error"
    assert "gave up after 2 tries" in error["message"]


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


# --- packaging --------------------------------------------------------------------------


def test_metadata_and_dockerfile_point_at_the_airbyte_entry_point() -> None:
    data = yaml.safe_load((ROOT / "airbyte" / "metadata.yaml").read_text())["data"]
    assert data["connectorType"] == "source"
    assert data["connectorSubtype"] == "api"
    assert data["releaseStage"] == "alpha"
    assert data["supportLevel"] == "community"
    assert data["allowedHosts"]["hosts"] == ["platform.indigo.ai"]
    assert data["dockerRepository"].endswith("/source-indigo-analytics")
    assert len(data["definitionId"]) == 36
    dockerfile = (ROOT / "airbyte" / "Dockerfile").read_text()
    assert "source-indigo-analytics" in dockerfile
    assert f'io.airbyte.version="{data["dockerImageTag"]}"' in dockerfile
    assert f'io.airbyte.name="{data["dockerRepository"]}"' in dockerfile


def test_state_in_accepts_the_protocols_state_forms() -> None:
    from tap_indigo_analytics.airbyte import InputError, singer_state

    mark = {"partitions": [{"context": {"project_id": "p"}, "replication_key_value": "2026-01-02"}]}
    per_stream = {
        "type": "STREAM",
        "stream": {"stream_descriptor": {"name": "daily_chats"}, "stream_state": mark},
    }
    wrapped = {"type": "STATE", "state": per_stream}
    global_ = {
        "type": "GLOBAL",
        "global": {"stream_states": [per_stream["stream"]]},
    }
    expected = {"bookmarks": {"daily_chats": mark}}
    for document in ([per_stream], [wrapped], [global_]):
        assert singer_state(document, ["daily_chats"]) == expected
    # full_refresh streams (not listed as incremental) start from scratch.
    assert singer_state([per_stream], ["daily_csat"]) == {"bookmarks": {}}
    assert singer_state([], ["daily_chats"]) == {"bookmarks": {}}
    with pytest.raises(InputError):
        singer_state({"bookmarks": {}}, ["daily_chats"])
