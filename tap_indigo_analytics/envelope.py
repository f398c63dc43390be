"""The one parser of Indigo's response envelope.

Contract (``docs/api-contract.md``): ``{"status": "OK", "data": [rows],
"metadata": {"next_cursor": str | null, <day count>}}``. The ``data`` and
``status`` keys and the row's ``date`` are [inferred]; if a real response
disagrees, this module is the single place to change, and a mismatch fails
loudly with the endpoint and the missing key, never as silently lost rows.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec
import requests

from tap_indigo_analytics.days import parse_day
from tap_indigo_analytics.errors import ResponseShapeError, TransientAPIError, describe_body
from tap_indigo_analytics.jsontypes import json_kind
from tap_indigo_analytics.redact import redact

#: The API names its day count differently per endpoint. The tap never depends on it
#: (it pages until next_cursor is null); the contract check verifies one is present.
TOTAL_KEYS = ("total_count", "total_days", "days_count")
_SHAPE = "the response shape differs from the contract"


@dataclass(frozen=True)
class Page:
    """One parsed page: its rows (each with a valid ``date``), the next cursor, the answer."""

    rows: list[dict[str, Any]]
    next_cursor: str | None
    response: requests.Response


def parse_page(response: requests.Response, endpoint: str | Callable[[], str]) -> Page:
    """Parse and check a 200 response (the only place a body becomes rows).

    ``endpoint`` names the request in errors; a callable is only called for one, since
    describing a request costs more than checking a healthy page.

    Raises:
        TransientAPIError: the body is not JSON (a proxy's HTML page, a cut body).
        ResponseShapeError: JSON that does not follow the contract.
    """

    def where() -> str:
        return endpoint if isinstance(endpoint, str) else endpoint()

    try:
        # msgspec (already here for the writer) parses a page in under half json's time,
        # and this runs between one answer and the next request.
        body = msgspec.json.decode(response.content)
    except RecursionError:
        raise ResponseShapeError(
            f"{where()}: the JSON body is nested too deeply to be an Indigo page — {_SHAPE}"
        ) from None
    except msgspec.DecodeError:
        raise TransientAPIError(
            f"{where()}: HTTP {response.status_code} with a body that is not JSON "
            f"({describe_body(response)})",
            response,
        ) from None

    def fail(what: str) -> ResponseShapeError:
        return ResponseShapeError(f"{where()}: {what} — {_SHAPE}")

    if not isinstance(body, dict):
        raise fail(f"expected a JSON object, got {json_kind(body)}")
    status = body.get("status")
    if (isinstance(status, str) and status.upper() != "OK") or status is False:
        raise fail(f"status {status!r} ({redact(body.get('message', 'no message'))})")
    if "data" not in body:
        raise fail(f"no `data` key (keys: {sorted(body)})")
    rows = body["data"]
    if not isinstance(rows, list):
        raise fail(f"`data` is {json_kind(rows)}, not an array")
    metadata = body.get("metadata")
    if not isinstance(metadata, dict):
        raise fail("no `metadata` object")
    if "next_cursor" not in metadata:
        raise fail(f"no `metadata.next_cursor` (keys: {sorted(metadata)})")
    cursor = metadata["next_cursor"]
    if cursor is not None and not (isinstance(cursor, str) and cursor):
        raise fail(f"`metadata.next_cursor` is {cursor!r}, not a string or null")
    for index, row in enumerate(rows):
        if not isinstance(row, dict):
            raise fail(f"row {index} is {json_kind(row)}, not an object")
        day = row.get("date")
        if parse_day(day) is None:
            raise fail(f"row {index} has no valid `date` (got {day!r})")
    return Page(rows=rows, next_cursor=cursor, response=response)
