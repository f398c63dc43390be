"""Data pages: parameter checks, rows, cursors, and every fault that shapes a 200 page.

The order of the page faults (first wins) is documented in :mod:`tests.emulator.faults`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date, timedelta
from typing import TYPE_CHECKING, Any

from tests.emulator.contract import (
    LIMIT_RE,
    MAX_LIMIT,
    MAX_SPAN_DAYS,
    EndpointSpec,
    make_cursor,
    metrics,
    parse_day,
    read_cursor,
    zero_metrics,
)
from tests.emulator.faults import Faults
from tests.emulator.server import Reply, error, json_reply

if TYPE_CHECKING:
    from tests.emulator.app import Emulator

#: Size of each piece of a streamed body: big enough to be fast, small enough that the
#: emulator's memory stays flat whatever the body's size.
PIECE_BYTES = 64 * 1024


def day_row(
    project_id: str, stream: str, day: date, today: date, today_revision: int, faults: Faults
) -> dict[str, Any]:
    """The row the API serves for ``day`` before field faults (zero-filled after today)."""
    iso = day.isoformat()
    if day > today:
        return {"date": iso, **zero_metrics(stream)}
    revision = today_revision if day == today else 0
    if faults.revisions:
        revision = faults.revisions.get(iso, revision)
    return {"date": iso, **metrics(project_id, stream, day, revision)}


def overridden(faults: Faults, stream: str, iso_day: str) -> bool:
    """Whether ``value_overrides`` replaces values in this stream's row of that day."""
    return stream in faults.value_overrides and (
        not faults.value_override_days or iso_day in faults.value_override_days
    )


def with_field_faults(
    faults: Faults, stream: str, row: dict[str, Any], override: bool
) -> dict[str, Any]:
    """``row`` (a copy) with value overrides, then renamed fields, then extra fields."""
    if override:
        row = {**row, **faults.value_overrides[stream]}
    renames = faults.renamed_fields.get(stream, {})
    changed = {renames.get(name, name): value for name, value in row.items()}
    changed.update(faults.extra_fields.get(stream, {}))
    return changed


def build_page(
    emulator: Emulator,
    faults: Faults,
    numbering: tuple[int, int],
    spec: EndpointSpec,
    project_id: str,
    params: dict[str, str],
) -> Reply:
    """The answer to a data request that passed auth and the rate limit."""
    number, generation = numbering
    if not params.get("from") or not params.get("to"):
        return error(400, "Missing required params: from, to")
    start, end = parse_day(params, "from"), parse_day(params, "to")
    if start is None or end is None:
        bad = "from" if start is None else "to"
        return error(400, f"Invalid date for '{bad}': {params[bad]!r}, expected YYYY-MM-DD")
    if start >= end:
        return error(400, "'from' must be before 'to' ('to' is exclusive)")
    span = (end - start).days
    if span > MAX_SPAN_DAYS:
        return error(400, f"Date range too long: {span} days, at most {MAX_SPAN_DAYS}")
    today = emulator.today()
    if end > today + timedelta(days=1) and not faults.zero_fill_future:
        return error(400, f"'to' is {end}, after {today + timedelta(days=1)}: no future days")
    raw_limit = params.get("limit")
    if raw_limit is None:
        limit = spec.default_limit
    elif LIMIT_RE.fullmatch(raw_limit) and 1 <= int(raw_limit) <= MAX_LIMIT:
        limit = int(raw_limit)
    else:
        return error(400, f"Invalid limit: {raw_limit!r}, expected an integer 1-{MAX_LIMIT}")

    # The cursor binds the whole query, so a cursor replayed on another range,
    # page size, stream or workspace is refused like an expired one.
    query = {
        "from": start.isoformat(),
        "to": end.isoformat(),
        "limit": limit,
        "stream": spec.stream,
        "project": project_id,
    }
    page_start = start
    raw_cursor = params.get(spec.cursor_param)  # the other name is just ignored
    if raw_cursor is not None:
        cursored = emulator._count("cursored", generation)
        if faults.invalid_cursor_always or cursored == faults.invalid_cursor_on_nth_cursored:
            return error(400, "Invalid cursor", "invalid_cursor")
        cursor_day = read_cursor(raw_cursor, query)
        if cursor_day is None:
            return error(400, "Invalid cursor")
        page_start = cursor_day

    if faults.error_200 is not None:
        return json_reply(200, {"status": "ERROR", "message": faults.error_200}, "error_200")
    if faults.endless_continue:
        return Reply(100, fault="endless_continue", endless_continue=True)
    if faults.endless_chunked:
        return Reply(200, fault="endless_chunked", stream=_endless_chunks(spec))
    if faults.nested_json_depth > 0:
        body = _nested(faults.nested_json_depth, spec.total_key, span)
        return Reply(200, fault="nested_json_depth", stream=body, length=next(body))

    page_end = min(page_start + timedelta(days=limit), end)
    next_day: date | None = page_end if page_end < end else None
    days_end = page_end
    missing: frozenset[str] = frozenset()
    override_on = False
    applied = _page_content_faults(faults, spec.stream, page_start, page_end, end)
    limit_n = faults.page_fault_limit
    if applied and limit_n is not None and emulator._count("page_faulted", generation) > limit_n:
        applied = []  # healed
    if "endless_pagination" in applied:
        days_end = page_start
        cursor: str | None = make_cursor(query, page_start, nonce=number)
    elif "empty_data" in applied:
        days_end, cursor = page_start, None
    else:
        if "truncate_days" in applied:
            days_end = max(page_start, min(page_end, end - timedelta(days=faults.truncate_days)))
            next_day = None
        if "missing_days" in applied:
            missing = faults.missing_days
        override_on = "value_overrides" in applied
        cursor = make_cursor(query, next_day) if next_day is not None else None
    if faults.today_lag_days > 0 and "endless_pagination" not in applied:
        published_end = today - timedelta(days=faults.today_lag_days - 1)  # exclusive
        if days_end > published_end:
            days_end, cursor = max(page_start, published_end), None
            applied.append("today_lag_days")
    rows = []
    revision = emulator.today_revision
    for n in range((days_end - page_start).days):
        day = page_start + timedelta(n)
        row = day_row(project_id, spec.stream, day, today, revision, faults)
        if row["date"] in missing:
            continue
        on = override_on and overridden(faults, spec.stream, row["date"])
        rows.append(with_field_faults(faults, spec.stream, row, on))
    envelope: dict[str, Any] = {
        "status": "OK",
        "data": rows,
        "metadata": {"next_cursor": cursor, spec.total_key: span},
    }
    applied += [
        name
        for name, on in (
            ("renamed_fields", spec.stream in faults.renamed_fields),
            ("extra_fields", spec.stream in faults.extra_fields),
        )
        if on
    ]
    if faults.drop_envelope_key is not None and _drop_key(envelope, faults.drop_envelope_key):
        applied.append("drop_envelope_key")
    reply = json_reply(200, envelope, ",".join(applied) or None)
    if faults.huge_body_bytes > 0:
        applied.append("huge_body_bytes")
        size = faults.huge_body_bytes
        return Reply(200, fault=",".join(applied), stream=_padded(reply.body, size), length=size)
    return reply


def _page_content_faults(
    faults: Faults, stream: str, page_start: date, page_end: date, end: date
) -> list[str]:
    """The page-content faults that would change this page (see page_fault_limit)."""
    applied = []
    if faults.endless_pagination:
        applied.append("endless_pagination")
    if faults.empty_data:
        applied.append("empty_data")
    if faults.truncate_days > 0 and page_end >= end - timedelta(days=faults.truncate_days):
        applied.append("truncate_days")
    page_days = None
    if faults.missing_days or (stream in faults.value_overrides and faults.value_override_days):
        page_days = {
            (page_start + timedelta(n)).isoformat() for n in range((page_end - page_start).days)
        }
    if page_days is not None and page_days & faults.missing_days:
        applied.append("missing_days")
    if stream in faults.value_overrides and (
        not faults.value_override_days or (page_days and page_days & faults.value_override_days)
    ):
        applied.append("value_overrides")
    return applied


def _drop_key(envelope: dict[str, Any], dotted: str) -> bool:
    """Remove a top-level key, or a nested one as ``metadata.next_cursor``."""
    *parents, leaf = dotted.split(".")
    target: Any = envelope
    for parent in parents:
        target = target.get(parent) if isinstance(target, dict) else None
    if isinstance(target, dict) and leaf in target:
        del target[leaf]
        return True
    return False


def _padded(body: bytes, size: int) -> Iterator[bytes]:
    """``body`` padded with spaces before its closing brace to ``size`` bytes (cut at
    ``size`` when longer), made piece by piece: one blank piece reused, never the whole."""
    if size <= len(body):
        yield body[:size]
        return
    yield body[:-1]
    blanks = size - len(body)
    piece = b" " * min(blanks, PIECE_BYTES)
    while blanks >= len(piece):
        yield piece
        blanks -= len(piece)
    yield piece[:blanks] + body[-1:]


def _nested(depth: int, total_key: str, span: int) -> Iterator[Any]:
    """First the body's length, then its pieces: ``data`` nested ``depth`` lists deep."""
    head = b'{"status": "OK", "data": '
    tail = json.dumps({"next_cursor": None, total_key: span}).encode()
    tail = b', "metadata": ' + tail + b"}"
    yield len(head) + 2 * depth + len(tail)
    yield head
    for bracket in (b"[", b"]"):
        left = depth
        while left:
            step = min(left, PIECE_BYTES)
            yield bracket * step
            left -= step
    yield tail


def _endless_chunks(spec: EndpointSpec) -> Iterator[bytes]:
    """A real envelope's start, then the same piece of rows for ever (memory stays flat)."""
    yield b'{"status": "OK", "data": ['
    row = {"date": "2026-01-01", **{name: 1 for name in spec.fields}}
    one = json.dumps(row).encode() + b", "
    piece = one * (PIECE_BYTES // len(one))
    while True:
        yield piece
