"""Types as warehouses see them: counts sized for bigint, averages always a float."""

from __future__ import annotations

import json

from singer_sdk.contrib.msgspec import MsgSpecWriter
from singer_sdk.singerlib import RecordMessage

from tap_indigo_analytics.records import RecordBuilder, fields_of
from tap_indigo_analytics.streams import DailyCsatStream
from tests.conftest import STREAMS, run_tap, workspace_config
from tests.emulator import Emulator

BIGINT_MAX = 2**63 - 1


def test_counts_have_a_bigint_maximum_and_no_minimum(emulator: Emulator) -> None:
    run = run_tap(workspace_config(emulator), "--discover")
    catalog = json.loads(run.stdout)
    counts = 0
    for entry in catalog["streams"]:
        for name, spec in entry["schema"]["properties"].items():
            if "integer" in spec["type"]:
                counts += 1
                assert spec["maximum"] == BIGINT_MAX, (entry["tap_stream_id"], name)
                assert "minimum" not in spec
    assert counts >= len(STREAMS)


def test_an_integer_average_goes_out_as_a_float() -> None:
    schema = {
        "properties": {
            "project_id": {"type": ["string"]},
            "date": {"type": ["string"]},
            "total": {"type": ["integer"]},
            "avg_score": {"type": ["number", "null"]},
        }
    }
    builder = RecordBuilder("daily_csat", "/csat", fields_of(schema, DailyCsatStream.ranges))
    record = builder.build({"date": "2026-12-01", "total": 3, "avg_score": 5}, "ws")
    assert type(record["avg_score"]) is float
    assert type(record["total"]) is int
    # And on the wire the tap's writer sends a float, not the integer 5.
    encoded = MsgSpecWriter().format_message(RecordMessage(stream="daily_csat", record=record))
    assert b'"avg_score":5.0' in encoded
