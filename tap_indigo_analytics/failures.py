"""Failures that stop one workspace or one (stream, workspace) pair, never the others.

A revoked token must not leave 499 healthy workspaces stale. So, unless ``fail_fast``
is set, a failure stops only what it concerns (``IndigoError.scope``): a 401/403 stops
its workspace, anything else its (stream, workspace) pair; the rest of the run goes on
and its bookmarks advance. A failed pair's bookmark does not pass its failure: windows
are handed over whole or not at all (windows.py), so the next run reads it again from
its first unwritten day. The run collects the failures here and reports them at the
end, one ERROR line each, with exit status 1 (:class:`RunIncompleteError`).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from dataclasses import dataclass

from tap_indigo_analytics.errors import IndigoError

_LOGGER = logging.getLogger("tap-indigo-analytics")


class RunIncompleteError(IndigoError):
    """Some workspaces or pairs failed while the rest synced; ``str`` is one line each."""


@dataclass(frozen=True)
class Failure:
    """One failed workspace (``stream`` None: all its streams) or (stream, workspace) pair."""

    stream: str | None
    project_id: str
    reason: str

    def line(self) -> str:
        """The ERROR line: what failed, why, and that its bookmark stays."""
        if self.stream is None:
            return (
                f"workspace {self.project_id}: not synced, no stream of it was read: "
                f"{self.reason}; its bookmarks stay, the next run reads it again"
            )
        return (
            f"{self.stream}, workspace {self.project_id}: not synced: {self.reason}; "
            "its bookmark stays, the next run reads it again"
        )


class Failures:
    """The failures of one run, in the order they were met (thread-safe)."""

    def __init__(self) -> None:
        self._items: dict[tuple[str | None, str], Failure] = {}
        self._streams: set[str] = set()
        self._lock = threading.Lock()

    def add(self, stream: str, project_id: str, error: IndigoError) -> None:
        """``stream`` of ``project_id`` ended on ``error``; a workspace's is kept once."""
        whole = error.scope == "workspace"
        key = (None if whole else stream, project_id)
        reason = _reason(str(error), stream, project_id)
        with self._lock:
            self._streams.add(stream)
            if key in self._items:
                return
            self._items[key] = Failure(key[0], project_id, reason)
        what = f"workspace {project_id}" if whole else f"{stream}, workspace {project_id}"
        _LOGGER.warning("%s failed, the rest of the run goes on: %s", what, reason)

    def __iter__(self) -> Iterator[Failure]:
        with self._lock:
            return iter(list(self._items.values()))

    def __bool__(self) -> bool:
        return bool(self._items)

    @property
    def streams(self) -> frozenset[str]:
        """Streams with at least one partition that did not sync."""
        with self._lock:
            return frozenset(self._streams)

    def raise_if_any(self) -> None:
        """Raise :class:`RunIncompleteError`, one line per failure, if anything failed."""
        failures = list(self)
        if failures:
            raise RunIncompleteError("\n".join(failure.line() for failure in failures))


def _reason(message: str, stream: str, project_id: str) -> str:
    """The error's message without the ``stream, workspace id:`` it may start with."""
    for prefix in (f"{stream}, workspace {project_id}: ", f"{stream}: "):
        if message.startswith(prefix):
            return message[len(prefix) :]
    return message.rstrip(".")
