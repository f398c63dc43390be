"""Every successful run ends with a STATE after its last record, moved or not.

A same-day rerun moves no bookmark; without a final STATE the pipe
``tap --state s.json | target > s.json`` empties its state file and the next run
starts over from ``start_date``.
"""

from __future__ import annotations

from typing import Any

from tap_indigo_analytics.airbyte.inprocess import CallbackWriter, build_tap
from tests.conftest import STREAMS, days_back, run_tap, workspace_config
from tests.emulator import Emulator


def test_a_same_day_rerun_ends_with_its_state(emulator: Emulator) -> None:
    config = workspace_config(emulator, start_date=days_back(10))
    first = run_tap(config)
    assert first.returncode == 0, first.stderr[-2000:]
    assert first.messages[-1]["type"] == "STATE"
    second = run_tap(config, state=first.state)
    assert second.returncode == 0, second.stderr[-2000:]
    assert second.records(), "the rerun re-reads the lookback days"
    assert second.messages[-1]["type"] == "STATE"
    assert second.state == first.state
    # Each stream ends with a STATE after its own records, not only the run.
    for stream in {m["stream"] for m in second.messages if m["type"] == "RECORD"}:
        last_record = max(i for i, m in enumerate(second.messages) if m.get("stream") == stream)
        assert any(m["type"] == "STATE" for m in second.messages[last_record:]), stream


def test_an_in_process_sync_ends_with_a_state(emulator: Emulator) -> None:
    config = workspace_config(emulator, start_date=days_back(10))
    messages: list[Any] = []
    first = build_tap(config, writer=CallbackWriter(messages.append))
    try:
        first.sync_all()
    finally:
        first.run.close()
    state = messages[-1].value
    messages.clear()
    second = build_tap(config, writer=CallbackWriter(messages.append), state=state)
    try:
        second.sync_all()
    finally:
        second.run.close()
    kinds = [type(m).__name__ for m in messages]
    assert "RecordMessage" in kinds
    assert kinds[-1] == "StateMessage"
    assert messages[-1].value == state


def test_test_schema_prints_the_six_schemas_and_asks_nothing(emulator: Emulator) -> None:
    run = run_tap(workspace_config(emulator), "--test=schema")
    assert run.returncode == 0, run.stderr[-2000:]
    assert [m["type"] for m in run.messages] == ["SCHEMA"] * 6
    assert {m["stream"] for m in run.messages} == set(STREAMS)
    assert not emulator.requests()


def test_test_all_still_makes_one_request_per_stream(emulator: Emulator) -> None:
    run = run_tap(workspace_config(emulator, "ws-alpha", start_date=days_back(30)), "--test")
    assert run.returncode == 0, run.stderr[-2000:]
    assert {m["stream"] for m in run.messages if m["type"] == "RECORD"} == set(STREAMS)
    assert len(emulator.requests()) == len(STREAMS)
