"""Running the Airbyte face as a subprocess, every line checked with the official models.

Each line a run prints must parse with ``AirbyteMessage.model_validate_json`` from
``airbyte-protocol-models-pdv2`` (the Airbyte protocol's own Python models), and no
configured token may appear anywhere in its output.
"""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from airbyte_protocol.models import AirbyteMessage, Type  # type: ignore[import-untyped]

from tests.conftest import assert_no_secret

#: PyAirbyte's own virtualenv (``make .venv-pyairbyte/.installed``; ``make test`` builds it).
PYAIRBYTE_PYTHON = Path(__file__).resolve().parent.parent / ".venv-pyairbyte" / "bin" / "python"

#: The payload key of each message type.
PAYLOAD = {
    "SPEC": "spec",
    "CONNECTION_STATUS": "connectionStatus",
    "CATALOG": "catalog",
    "RECORD": "record",
    "STATE": "state",
    "LOG": "log",
    "TRACE": "trace",
}


def source_command(command: str) -> list[str]:
    """The Airbyte entry point, run with this interpreter."""
    return [sys.executable, "-m", "tap_indigo_analytics.airbyte", command]


def parse_line(line: str) -> dict[str, Any]:
    """One stdout line as an AirbyteMessage dict; fails unless the official models accept it."""
    model = AirbyteMessage.model_validate_json(line)
    message: dict[str, Any] = json.loads(line)
    assert message["type"] in PAYLOAD, message
    if model.type == Type.STATE:  # this source speaks per-stream state only
        assert model.state is not None
        assert model.state.type is not None
        assert model.state.type.value == "STREAM", line
    return message


@dataclass
class SourceRun:
    """What one run of the Airbyte entry point printed."""

    returncode: int
    stdout: str
    stderr: str
    messages: list[dict[str, Any]] = field(default_factory=list)

    def of(self, kind: str) -> list[dict[str, Any]]:
        """The payloads of the messages of one type."""
        return [m[PAYLOAD[kind]] for m in self.messages if m["type"] == kind]

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


def write_inputs(
    tmp: str,
    config: dict[str, Any] | None,
    catalog: dict[str, Any] | None,
    state: Any,
) -> list[str]:
    """The input files of one command, as its ``--config/--catalog/--state`` arguments."""
    args: list[str] = []
    for flag, document in (("--config", config), ("--catalog", catalog), ("--state", state)):
        if document is not None:
            path = Path(tmp, flag.strip("-") + ".json")
            path.write_text(json.dumps(document))
            args += [flag, str(path)]
    return args


def finish_run(returncode: int, stdout: str, stderr: str, config: Any) -> SourceRun:
    """Check and parse what a run printed."""
    run = SourceRun(returncode, stdout, stderr)
    assert_no_secret(run.stdout + run.stderr, config or {})
    for line in stdout.splitlines():
        run.messages.append(parse_line(line))
    return run


def run_source(
    command: str,
    config: dict[str, Any] | None = None,
    *,
    catalog: dict[str, Any] | None = None,
    state: Any = None,
    timeout: float = 300,
) -> SourceRun:
    """Run ``python -m tap_indigo_analytics.airbyte COMMAND``; check every line it prints."""
    with tempfile.TemporaryDirectory() as tmp:
        args = source_command(command) + write_inputs(tmp, config, catalog, state)
        proc = subprocess.run(
            args, capture_output=True, text=True, timeout=timeout, env=os.environ, check=False
        )
    return finish_run(proc.returncode, proc.stdout, proc.stderr, config)


def one_workspace(pat: str = "unusedToken1", project_id: str = "p") -> dict[str, Any]:
    """The smallest valid Airbyte config (the spec's ``credentials`` form)."""
    return {"credentials": {"setup": "one_workspace", "project_id": project_id, "pat": pat}}


def configured_catalog(
    streams: dict[str, str], *, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    """A ConfiguredAirbyteCatalog of ``{stream: sync_mode}``, built from ``discover``."""
    discovered = run_source("discover", one_workspace())
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
