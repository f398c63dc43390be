"""``check`` and ``discover``: the two commands that answer with one message."""

from __future__ import annotations

import logging
import typing as t
from collections.abc import Mapping

from tap_indigo_analytics.airbyte.inprocess import build_tap
from tap_indigo_analytics.airbyte.output import JSON, error_message
from tap_indigo_analytics.airbyte.spec import airbyte_streams
from tap_indigo_analytics.days import utc_today

if t.TYPE_CHECKING:
    from tap_indigo_analytics.client import IndigoStream

#: ``check`` reads today's row of this stream (one field, one request per workspace).
CHECK_STREAM = "daily_chats"
#: ``check`` gives up on an unreachable host after this many tries (a read uses ``max_tries``).
CHECK_MAX_TRIES = 3


def check(config: Mapping[str, t.Any]) -> JSON:
    """CONNECTION_STATUS: one real request per workspace, today's row of ``CHECK_STREAM``.

    The request goes through the stream's own machinery (auth, budget, retries,
    error mapping), so a failure reads exactly as it would in a sync.
    """
    try:
        settings = build_tap(config).settings
        today = utc_today().isoformat()
        probe = build_tap(
            {
                **config,
                "start_date": today,
                "end_date": today,
                "max_tries": min(settings.max_tries, CHECK_MAX_TRIES),
            }
        )
        stream = t.cast("IndigoStream", probe.streams[CHECK_STREAM])
        try:
            for partition in stream.partitions:
                stream.read_now(partition)
        finally:
            probe.run.close()
    except Exception as exc:  # every failure is a FAILED status
        logging.getLogger(__name__).debug("check failed", exc_info=True)
        return connection_status("FAILED", error_message(exc))
    return connection_status("SUCCEEDED", None)


def connection_status(status: str, message: str | None) -> JSON:
    """A CONNECTION_STATUS message."""
    body: JSON = {"status": status}
    if message:
        body["message"] = message
    return {"type": "CONNECTION_STATUS", "connectionStatus": body}


def discover(config: Mapping[str, t.Any]) -> JSON:
    """The CATALOG message (the streams do not depend on the account; the config is checked)."""
    return {"type": "CATALOG", "catalog": {"streams": airbyte_streams(build_tap(config))}}
