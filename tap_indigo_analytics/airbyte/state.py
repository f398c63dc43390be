"""Airbyte state in, as the Singer state ``{"bookmarks": {stream: stream_state}}``.

Every form a platform or a client may still hand over is accepted:

- an array of AirbyteStateMessage of type ``STREAM`` (what this source writes),
  or of whole ``{"type": "STATE", "state": ...}`` AirbyteMessages;
- an array of ``LEGACY`` messages, ``[{"type": "LEGACY", "data": {...}}]`` (older
  platforms, PyAirbyte caches), whose ``data`` is one of the legacy dicts below;
- a legacy dict on its own: the Singer form ``{"bookmarks": {stream: state}}`` or
  ``{stream: state}``;
- ``{}``, ``[]`` or no file for no state.

A stream state may also be Airbyte's flat form ``{"date": "2026-12-02"}`` (the cursor
field and its value, what a user writes when editing a connection's state): every
configured workspace resumes from that day. A stream state with none of the keys this
source reads is refused, never taken for "no state" (a silent full re-read).

A ``GLOBAL`` state belongs to sources that share one cursor across streams (CDC);
this one never writes it, so it is refused with a message rather than half-used.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable, Iterator, Mapping, Sequence

from tap_indigo_analytics.airbyte.output import JSON
from tap_indigo_analytics.days import parse_day
from tap_indigo_analytics.inputs import InputError
from tap_indigo_analytics.state import REPLICATION_KEY

_MESSAGE_TYPES = {"STREAM", "GLOBAL", "LEGACY", "STATE"}


def singer_state(
    document: t.Any,
    incremental: Iterable[str],
    known: Iterable[str],
    *,
    project_ids: Sequence[str] = (),
) -> JSON:
    """The Singer state for the ``incremental`` streams of ``document`` (full refresh: none).

    ``known`` are this source's stream names: a legacy ``{stream: state}`` dict must use
    only those, as nothing else tells it apart from a mistaken file. ``project_ids`` are
    the configured workspaces, which a flat ``{"date": ...}`` state applies to.
    """
    keep, names = set(incremental), sorted(known)
    bookmarks: JSON = {}
    for name, stream_state in _stream_states(document, names):
        if stream_state is None or stream_state == {}:
            continue
        if not isinstance(stream_state, dict):
            raise InputError(f"--state: the state of stream {name!r} must be a JSON object")
        if name in keep:
            bookmarks[name] = _per_workspace(name, stream_state, project_ids)
    return {"bookmarks": bookmarks}


#: Keys of a Singer stream state this source reads (the SDK writes the others).
_STATE_KEYS = {"partitions", "replication_key_value", REPLICATION_KEY}


def _per_workspace(name: str, stream_state: JSON, project_ids: Sequence[str]) -> JSON:
    """``stream_state`` in the Singer form, a flat ``{"date": day}`` per workspace."""
    if not _STATE_KEYS & stream_state.keys():
        found = ", ".join(sorted(map(str, stream_state))[:5])
        raise InputError(
            f"--state: the state of stream {name!r} has none of `partitions` or "
            f"`{REPLICATION_KEY}` (it has {found}); fix it or reset the stream's state"
        )
    if "partitions" in stream_state or REPLICATION_KEY not in stream_state:
        return stream_state
    day = stream_state[REPLICATION_KEY]
    if parse_day(day, prefix=True) is None:
        shown = repr(day[:40]) if isinstance(day, str) else "not a string"
        raise InputError(
            f"--state: stream {name!r} `{REPLICATION_KEY}` {shown} is not a YYYY-MM-DD date"
        )
    return {
        "partitions": [
            {
                "context": {"project_id": project_id},
                "replication_key": REPLICATION_KEY,
                "replication_key_value": day,
            }
            for project_id in project_ids
        ]
    }


def _stream_states(document: t.Any, known: list[str]) -> Iterator[tuple[str, t.Any]]:
    if document is None or document == {} or document == []:
        return
    if isinstance(document, dict) and document.get("type") in _MESSAGE_TYPES:
        document = [document]  # one message instead of the array
    if isinstance(document, dict):
        yield from _legacy(document, known)
        return
    if not isinstance(document, list):
        raise InputError(
            "--state must be a JSON array of Airbyte state messages (or a legacy state object)"
        )
    for item in document:
        yield from _message(item, known)


def _message(item: t.Any, known: list[str]) -> Iterator[tuple[str, t.Any]]:
    if isinstance(item, dict) and item.get("type") == "STATE":
        item = item.get("state")
    if not isinstance(item, dict):
        raise InputError("--state: every entry must be an Airbyte state message object")
    # Messages from before per-stream state had no type, only `data`.
    kind = item.get("type", "LEGACY" if "data" in item else None)
    if kind == "STREAM":
        entry = item.get("stream")
        if not isinstance(entry, dict):
            raise InputError("--state: a STREAM state message needs a `stream` object")
        descriptor = entry.get("stream_descriptor")
        name = descriptor.get("name") if isinstance(descriptor, dict) else None
        if not isinstance(name, str):
            raise InputError("--state: a stream state lacks stream_descriptor.name")
        yield name, entry.get("stream_state")
    elif kind == "LEGACY":
        data = item.get("data")
        if not isinstance(data, dict):
            raise InputError("--state: a LEGACY state message needs a `data` object")
        yield from _legacy(data, known)
    elif kind == "GLOBAL":
        raise InputError(
            "--state: GLOBAL state is not supported: this source keeps one state per stream "
            "(STREAM messages); reset the connection's state or pass STREAM or LEGACY states"
        )
    else:
        raise InputError(
            f"--state: unknown state type {kind!r} (expected STREAM, LEGACY or GLOBAL)"
        )


def _legacy(data: Mapping[str, t.Any], known: list[str]) -> Iterator[tuple[str, t.Any]]:
    if "bookmarks" in data:  # the Singer form; its other keys (currently_syncing) do not matter
        bookmarks = data["bookmarks"]
        if not isinstance(bookmarks, dict):
            raise InputError("--state: `bookmarks` must be an object of stream states")
        yield from bookmarks.items()
        return
    for name, stream_state in data.items():
        if name not in known:
            raise InputError(
                f"--state: {name!r} is not a stream of this source, so this is not a "
                f"legacy state {{stream: state}} (streams: {', '.join(known)})"
            )
        yield name, stream_state
