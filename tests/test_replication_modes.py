"""Any mix of replication modes, in any order: FULL_TABLE streams read from ``start_date``
whatever the state says, the others from their bookmark less the lookback days."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from tap_indigo_analytics.schema import DEFAULT_LOOKBACK_DAYS
from tests.conftest import STREAMS, WORKSPACES, days_back, run_tap, workspace_config
from tests.emulator import Emulator

START_DAYS_BACK = 20
BOOKMARK_DAYS_BACK = 5


def mixed_catalog(config: dict[str, Any], modes: dict[str, str], path: Path) -> str:
    """The discovered catalog with only ``modes``' streams selected, each in its mode."""
    discovered = run_tap(config, "--discover")
    assert discovered.returncode == 0, discovered.stderr[-2000:]
    catalog = json.loads(discovered.stdout)
    for entry in catalog["streams"]:
        name = entry["tap_stream_id"]
        root = next(m for m in entry["metadata"] if m["breadcrumb"] == [])["metadata"]
        root["selected"] = name in modes
        if name in modes:
            entry["replication_method"] = modes[name]  # what `meltano select` + metadata write
    path.write_text(json.dumps(catalog))
    return str(path)


def bookmarked_state(day: str) -> dict[str, Any]:
    return {
        "bookmarks": {
            stream: {
                "partitions": [
                    {
                        "context": {"project_id": p},
                        "replication_key": "date",
                        "replication_key_value": day,
                    }
                    for p in WORKSPACES
                ]
            }
            for stream in STREAMS
        }
    }


@pytest.mark.parametrize(
    "full_table",
    [
        ("daily_chats",),  # the case: FULL_TABLE first, an incremental stream after
        ("daily_messages", "daily_csat"),
        ("daily_technical_errors",),
        STREAMS,
    ],
    ids=lambda names: "+".join(n.removeprefix("daily_") for n in names),
)
def test_any_mix_of_modes_syncs_every_stream(
    emulator: Emulator, tmp_path: Path, full_table: tuple[str, ...]
) -> None:
    config = workspace_config(emulator, start_date=days_back(START_DAYS_BACK))
    selected = ("daily_messages", "daily_chats", "daily_csat", "daily_technical_errors")
    modes = {s: "FULL_TABLE" if s in full_table else "INCREMENTAL" for s in selected}
    catalog = mixed_catalog(config, modes, tmp_path / "catalog.json")
    emulator.clear_log()
    run = run_tap(
        config, "--catalog", catalog, state=bookmarked_state(days_back(BOOKMARK_DAYS_BACK))
    )
    assert run.returncode == 0, run.stderr[-3000:]
    assert not run.error_lines()
    # One request per stream and workspace, from start_date for FULL_TABLE...
    assert Counter((r.stream, r.project_id) for r in emulator.requests()) == {
        (s, p): 1 for s in selected for p in WORKSPACES
    }
    resumed = days_back(BOOKMARK_DAYS_BACK + DEFAULT_LOOKBACK_DAYS)
    for request in emulator.requests():
        full = modes[str(request.stream)] == "FULL_TABLE"
        expected = days_back(START_DAYS_BACK) if full else resumed
        assert request.params["from"] == expected, request.stream
    # ...and every selected stream's records of both workspaces reach the output.
    for stream in selected:
        days = START_DAYS_BACK + 1 if modes[stream] == "FULL_TABLE" else 1 + BOOKMARK_DAYS_BACK + 2
        assert Counter(r["project_id"] for r in run.records(stream)) == dict.fromkeys(
            WORKSPACES, days
        ), stream


def test_full_table_streams_activate_their_version_around_their_records(
    emulator: Emulator, tmp_path: Path
) -> None:
    config = workspace_config(emulator, start_date=days_back(3))
    modes = {"daily_chats": "FULL_TABLE", "daily_csat": "INCREMENTAL"}
    run = run_tap(config, "--catalog", mixed_catalog(config, modes, tmp_path / "catalog.json"))
    assert run.returncode == 0, run.stderr[-3000:]
    chats = [(i, m) for i, m in enumerate(run.messages) if m.get("stream") == "daily_chats"]
    activations = [(i, m) for i, m in chats if m["type"] == "ACTIVATE_VERSION"]
    records = [(i, m) for i, m in chats if m["type"] == "RECORD"]
    # Before the first record and after the last, one version, which every record carries.
    assert len(activations) == 2
    assert activations[0][0] < records[0][0]
    assert activations[-1][0] > records[-1][0]
    (version,) = {m["version"] for _, m in activations}
    assert {m["version"] for _, m in records} == {version}
    assert not [
        m for m in run.messages if m["type"] == "ACTIVATE_VERSION" and m["stream"] != "daily_chats"
    ]
