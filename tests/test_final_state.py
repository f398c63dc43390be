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


def test_a_large_state_waits_at_stream_ends_but_ends_the_run(
    emulator: Emulator, monkeypatch: Any
) -> None:
    """Every STATE carries every partition: a large one is written by time, not at each
    stream's end; the last stream's end still writes it, covering every record."""
    from tap_indigo_analytics import run as run_module

    config = workspace_config(emulator, start_date=days_back(3))
    messages: list[Any] = []
    build_tap(config, writer=CallbackWriter(messages.append)).sync_all()  # first run
    state = messages[-1].value

    def kinds_of_rerun(*, every_stream_end: bool = False) -> list[str]:
        messages.clear()
        tap = build_tap(config, writer=CallbackWriter(messages.append), state=state)
        tap.run.state_at_every_stream_end = every_stream_end  # as the Airbyte face sets it
        try:
            tap.sync_all()
        finally:
            tap.run.close()
        return [type(m).__name__ for m in messages]

    small = kinds_of_rerun()
    # A state of a few kB read as if it were megabytes: its interval is now minutes.
    monkeypatch.setattr(run_module, "STATE_BYTES_PER_SECOND", 10)
    large = kinds_of_rerun()
    assert small.count("RecordMessage") == large.count("RecordMessage") > 0
    assert small.count("StateMessage") >= len(STREAMS) + 1  # the echo, then every stream
    where = [i for i, k in enumerate(large) if k == "StateMessage"]
    assert where == [0, len(large) - 1], where  # the input state echoed, and the end
    assert large[-1] == "StateMessage"
    assert messages[-1].value == state
    # The Airbyte face sends each stream's state at its end: there, no STATE waits.
    assert kinds_of_rerun(every_stream_end=True).count("StateMessage") == small.count(
        "StateMessage"
    )
