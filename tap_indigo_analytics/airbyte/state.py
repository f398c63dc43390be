"""Airbyte state in, as the Singer state ``{"bookmarks": {stream: stream_state}}``.

Every form a platform or a client may still hand over is accepted:

- an array of AirbyteStateMessage of type ``STREAM`` (what this source writes),
  or of whole ``{"type": "STATE", "state": ...}`` AirbyteMessages;
- an array of ``LEGACY`` messages, ``[{"type": "LEGACY", "data": {...}}]`` (older
  platforms, PyAirbyte caches), whose ``data`` is one of the legacy dicts below;
- a legacy dict on its own: the Singer form ``{"bookmarks": {stream: state}}`` or
  ``{stream: state}``;
- ``{}``, ``[]`` or no file for no state.

A ``GLOBAL`` state belongs to sources that share one cursor across streams (CDC);
this one never writes it, so it is refused with a message rather than half-used.
"""

from __future__ import annotations

import typing as t
from collections.abc import Iterable, Iterator, Mapping

from tap_indigo_analytics.airbyte.output import JSON
from tap_indigo_analytics.inputs import InputError

_MESSAGE_TYPES = {"STREAM", "GLOBAL", "LEGACY", "STATE"}


def singer_state(document: t.Any, incremental: Iterable[str], known: Iterable[str]) -> JSON:
    """The Singer state for the ``incremental`` streams of ``document`` (full refresh: none).

    ``known`` are this source's stream names: a legacy ``{stream: state}`` dict must use
    only those, as nothing else tells it apart from a mistaken file.
    """
    keep, names = set(incremental), sorted(known)
    bookmarks: JSON = {}
    for name, stream_state in _stream_states(document, names):
        if stream_state is None or stream_state == {}:
            continue
        if not isinstance(stream_state, dict):
            raise InputError(f"--state: the state of stream {name!r} must be a JSON object")
        if name in keep:
            bookmarks[name] = stream_state
    return {"bookmarks": bookmarks}


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
