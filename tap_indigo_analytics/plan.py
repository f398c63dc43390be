"""The run's plan: which days each (stream, workspace) reads, from the state given.

A partition reads from its bookmark day minus ``lookback_days`` (or ``start_date``) to
today (or ``end_date``), in windows of at most 365 days. The prefetcher needs every
partition's range before the SDK reaches it, but the SDK writes a partition's
starting marker only when it gets there; so the plan reads the bookmarks of the
*input* state once, with the SDK's own rules, and at each partition's turn checks
that the SDK's marker gives the very same range. A disagreement is a bug and fails
loudly instead of reading the wrong days.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t

from singer_sdk.singerlib.catalog import REPLICATION_FULL_TABLE

from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.prefetch import OrderError, Task
from tap_indigo_analytics.settings import MAX_DAYS_PER_REQUEST
from tap_indigo_analytics.windows import Window, date_windows

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_indigo_analytics.client import IndigoStream
    from tap_indigo_analytics.tap import TapIndigoAnalytics

_LOGGER = logging.getLogger("tap-indigo-analytics")


class Plan:
    """Sync ranges of one run, computed from its input state and settings."""

    def __init__(self, tap: TapIndigoAnalytics) -> None:
        self._tap = tap
        self._bookmarks: dict[str, dict[str, t.Any]] = {}

    def tasks(self) -> list[Task]:
        """Every selected stream's partitions, in the order the SDK syncs them."""
        tasks = []
        for stream in self._tap.streams.values():
            if not stream.selected or stream.parent_stream_type:
                continue
            stream = t.cast("IndigoStream", stream)
            for partition in stream.partitions:
                bookmark = self._input_bookmark(stream, partition["project_id"])
                tasks.append(self.task(stream, partition, bookmark))
        return tasks

    def task(
        self,
        stream: IndigoStream,
        context: Context,
        bookmark: t.Any,
        *,
        warn: bool = True,
        window_days: int = MAX_DAYS_PER_REQUEST,
    ) -> Task:
        """The windows of one partition, given its bookmark (or None).

        ``window_days`` is smaller than 365 only for ``--test``, which wants one page.
        """
        settings = stream.settings
        project_id = context["project_id"]
        start, today = settings.start_date, settings.today
        if bookmark is not None and bookmark != start.isoformat():
            try:
                day = dt.date.fromisoformat(str(bookmark)[:10])
            except ValueError:
                raise IndigoError(
                    f"state for stream {stream.name}, workspace {project_id}: "
                    f"bookmark {bookmark!r} is not a YYYY-MM-DD date; fix or remove it"
                ) from None
            if day > today:
                if warn:
                    _LOGGER.warning(
                        "%s, workspace %s: the bookmark %s is after today (%s, UTC); "
                        "reading as if it were today",
                        stream.name,
                        project_id,
                        day,
                        today,
                    )
                day = today
            start = max(start, day - dt.timedelta(days=settings.lookback_days))
        last = min(settings.end_date or today, today)
        end = last + dt.timedelta(days=1)
        windows = tuple(
            Window(stream.name, project_id, a, b) for a, b in date_windows(start, end, window_days)
        )
        return Task(stream.name, project_id, windows)

    def check_turn(self, stream: IndigoStream, context: Context, task: Task) -> None:
        """Fail if the SDK's starting marker, now written, gives another range."""
        marker = stream.get_starting_replication_key_value(context)
        if self.task(stream, context, marker, warn=False).windows != task.windows:
            raise OrderError(
                f"{stream.name}, workspace {context['project_id']}: the SDK starts at "
                f"{marker!r}, which the prefetch plan did not foresee"
            )

    def _input_bookmark(self, stream: IndigoStream, project_id: str) -> t.Any:
        """The partition's bookmark as the SDK will read it, from the untouched state."""
        if stream.replication_method == REPLICATION_FULL_TABLE:
            return None
        if stream.name not in self._bookmarks:
            stream_state = self._tap.state.get("bookmarks", {}).get(stream.name, {})
            self._bookmarks[stream.name] = {
                p["context"].get("project_id"): p
                for p in stream_state.get("partitions", [])
                if isinstance(p, dict) and isinstance(p.get("context"), dict)
            }
        partition = self._bookmarks[stream.name].get(project_id, {})
        if partition.get("replication_key") != stream.replication_key:
            return None
        return partition.get("replication_key_value") or None
