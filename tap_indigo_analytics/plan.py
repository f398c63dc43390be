"""The run's plan: which days each (stream, workspace) reads — a pure function.

A partition reads from its bookmark day minus ``lookback_days`` (or ``start_date``) to
today (or ``end_date``), in windows of at most 365 days; a FULL_TABLE stream reads from
``start_date`` whatever the state says. The prefetcher needs every partition's range
before the SDK reaches it, but the SDK writes a partition's starting marker only when
it gets there; so the plan reads the bookmarks of the *input* state, with the SDK's own
rules, and at each partition's turn :meth:`Plan.check_turn` compares the SDK's marker
with the range planned. A disagreement is a bug and fails loudly instead of reading
the wrong days.
"""

from __future__ import annotations

import datetime as dt
import logging
import typing as t
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from tap_indigo_analytics.days import ONE_DAY, date_windows, parse_day
from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.prefetch import OrderError, Task
from tap_indigo_analytics.schema import MAX_DAYS_PER_REQUEST
from tap_indigo_analytics.state import REPLICATION_KEY
from tap_indigo_analytics.windows import Window

if t.TYPE_CHECKING:
    from tap_indigo_analytics.settings import Settings

_LOGGER = logging.getLogger("tap-indigo-analytics")


@dataclass(frozen=True)
class Lane:
    """One selected stream as the SDK will sync it: its name and how it replicates."""

    stream: str
    full_table: bool = False


class Plan:
    """Sync ranges of one run, from its settings and input state (never changed after)."""

    def __init__(self, settings: Settings, input_state: Mapping[str, t.Any]) -> None:
        self.settings = settings
        #: The day after the last one read: today or ``end_date``, whichever is first.
        self._end = min(settings.end_date or settings.today, settings.today) + ONE_DAY
        self._days: dict[str, dt.date] = {}  # bookmarks parsed (most are the same day)
        self._bookmarks: dict[str, dict[str, t.Any]] = {}
        for stream, stream_state in (input_state.get("bookmarks") or {}).items():
            self._bookmarks[stream] = {
                p["context"].get("project_id"): _bookmark_of(p)
                for p in (stream_state or {}).get("partitions") or []
                if isinstance(p, dict) and isinstance(p.get("context"), dict)
            }

    def tasks(self, lanes: Iterable[Lane]) -> list[Task]:
        """Every partition of ``lanes``, in the order the SDK syncs them."""
        return [
            self.task(lane.stream, w.project_id, self.input_bookmark(lane, w.project_id))
            for lane in lanes
            for w in self.settings.workspaces
        ]

    def input_bookmark(self, lane: Lane, project_id: str) -> str | None:
        """The partition's bookmark in the input state (None: read from ``start_date``)."""
        if lane.full_table:
            return None
        return self._bookmarks.get(lane.stream, {}).get(project_id)

    def task(
        self,
        stream: str,
        project_id: str,
        bookmark: object,
        *,
        warn: bool = True,
        window_days: int = MAX_DAYS_PER_REQUEST,
    ) -> Task:
        """The windows of one partition, given its bookmark (or None).

        ``window_days`` is smaller than 365 only for ``--test``, which wants one page.
        """
        start, end = self.first_day(stream, project_id, bookmark, warn=warn), self._end
        windows = tuple(
            Window(stream, project_id, a, b) for a, b in date_windows(start, end, window_days)
        )
        return Task(stream, project_id, windows)

    def first_day(self, stream: str, project_id: str, bookmark: object, *, warn: bool) -> dt.date:
        """The first day a partition reads, given its bookmark (or None)."""
        settings = self.settings
        start, today = settings.start_date, settings.today
        if bookmark is None or bookmark == start.isoformat():
            return start
        day = self._days.get(bookmark) if isinstance(bookmark, str) else None
        if day is None:
            day = parse_day(bookmark, prefix=True)
            if day is None:
                raise IndigoError(
                    f"state for stream {stream}, workspace {project_id}: "
                    f"bookmark {bookmark!r} is not a YYYY-MM-DD date; fix or remove it"
                )
            self._days[t.cast("str", bookmark)] = day
        if day > today:
            if warn:
                _LOGGER.warning(
                    "%s, workspace %s: the bookmark %s is after today (%s, UTC); "
                    "reading as if it were today",
                    stream,
                    project_id,
                    day,
                    today,
                )
            day = today
        return max(start, day - dt.timedelta(days=settings.lookback_days))

    def check_turn(self, task: Task, marker: object) -> None:
        """Fail if the SDK's starting marker, now written, gives another range than planned.

        The windows follow from the first day (the end is the run's), so the first day
        is what is compared: once per partition, on the main thread.
        """
        first = self.first_day(task.stream, task.project_id, marker, warn=False)
        planned = task.windows[0].start if task.windows else None
        if planned != (first if first < self._end else None):  # None: nothing to read
            raise OrderError(
                f"{task.stream}, workspace {task.project_id}: the SDK starts at "
                f"{marker!r}, which the prefetch plan did not foresee"
            )


def _bookmark_of(partition: Mapping[str, t.Any]) -> str | None:
    if partition.get("replication_key") != REPLICATION_KEY:
        return None
    return partition.get("replication_key_value") or None
