"""Date windows: what to ask for, and reading one window whole or not at all.

The API zero-fills: a window ``[from, to)`` answers every day exactly once, ascending.
So a window is complete or it is an error. ``read_window`` checks each day as it
arrives; a day missing in the middle, a last page that stops early or an empty answer
restarts the window from its start (bounded), then fails naming the missing days.
Its rows are handed over only once the whole window is in, so nothing after a hole is
ever written and no bookmark can pass it.

One exception, for a platform whose day lags ours (a run just after midnight UTC, an
aggregate refreshed late): when the only missing days are the last ones of the window
and all of them are today or yesterday by the run's clock, they are not published yet.
The days received are kept, without a restart, and the bookmark stops at the last of
them, so the next run asks for the rest (``NOT_PUBLISHED_DAYS``).
"""

from __future__ import annotations

import datetime as dt
import logging
import math
import typing as t
from collections.abc import Callable
from dataclasses import dataclass

from tap_indigo_analytics.days import ONE_DAY, describe_days
from tap_indigo_analytics.envelope import Page
from tap_indigo_analytics.errors import IndigoError, InvalidCursorError, ResponseShapeError
from tap_indigo_analytics.pagination import CursorPaginator

#: How often one window may be restarted (invalid cursor, missing days).
MAX_WINDOW_RESTARTS = 2
#: A tail of missing days that ends the window and starts no earlier than this many days
#: before today is "not published yet" rather than a hole.
NOT_PUBLISHED_DAYS = 1
#: Pages allowed beyond the ⌈days / limit⌉ a window needs, before it counts as a loop.
PAGE_SLACK = 2

_LOGGER = logging.getLogger("tap-indigo-analytics")

Record = dict[str, t.Any]
#: Sends one page request (window, cursor) with retries; returns the parsed 200 answer.
FetchPage = Callable[["Window", "str | None"], Page]
#: Builds a record from a row of a workspace (records.py).
BuildRecord = Callable[[Record, str], Record]


class IncompleteWindowError(IndigoError):
    """A window came back without some of its days."""

    def __init__(
        self,
        missing_from: dt.date,
        missing_to: dt.date,
        why: str,
        received: list[Record] | None = None,
    ) -> None:
        self.missing_from = missing_from
        self.missing_to = missing_to  # exclusive
        self.received = received or []  # the days before the tail, when it is one
        super().__init__(f"{why}: {describe_days(missing_from, missing_to)} missing")


@dataclass(frozen=True)
class Window:
    """``[start, end)`` of one stream for one workspace: one chain of cursor pages."""

    stream: str
    project_id: str
    start: dt.date
    end: dt.date

    @property
    def days(self) -> int:
        """Days in the window."""
        return (self.end - self.start).days

    @property
    def context(self) -> dict[str, t.Any]:
        """What the stream's request hooks read: workspace and ``from``/``to``."""
        return {
            "project_id": self.project_id,
            "from": self.start.isoformat(),
            "to": self.end.isoformat(),
        }

    def __str__(self) -> str:
        return f"{self.stream}, workspace {self.project_id}"


def read_window(
    window: Window,
    fetch_page: FetchPage,
    build: BuildRecord,
    *,
    page_size: int,
    today: dt.date,
    new_paginator: Callable[[], CursorPaginator] = CursorPaginator,
    on_answer: Callable[[], None] | None = None,
) -> list[Record]:
    """Every day of ``window`` as records, in order, or an ``IndigoError``; without the
    last days when they are not published yet (see the module's doc).

    ``today`` is the run's UTC day. ``new_paginator`` gives each try of the window a fresh
    paginator (the stream's hook).

    ``on_answer`` is called after the first successful page (the fail-fast probe).
    """
    max_pages = math.ceil(window.days / page_size) + PAGE_SLACK
    for attempt in range(MAX_WINDOW_RESTARTS + 1):
        try:
            return _read_once(window, fetch_page, build, max_pages, new_paginator(), on_answer)
        except (InvalidCursorError, IncompleteWindowError) as exc:
            if isinstance(exc, IncompleteWindowError) and _not_published(window, exc, today):
                last = exc.missing_from - ONE_DAY
                _LOGGER.warning(
                    "%s: the API's data ends at %s (%s not published yet); kept the days "
                    "up to it, the next run reads the rest",
                    window,
                    last if last >= window.start else f"{last} (nothing in this window)",
                    describe_days(exc.missing_from, exc.missing_to),
                )
                return exc.received
            if attempt == MAX_WINDOW_RESTARTS:
                if isinstance(exc, IncompleteWindowError):
                    raise IndigoError(
                        f"{window}: the API left out "
                        f"{describe_days(exc.missing_from, exc.missing_to)} "
                        f"of the window {window.start} to {window.end - ONE_DAY}, "
                        f"again after {MAX_WINDOW_RESTARTS} restarts; nothing from that window "
                        "was written and the bookmark stays before it — run again later"
                    ) from None
                raise IndigoError(
                    f"{window}: Invalid cursor again after {MAX_WINDOW_RESTARTS} restarts of "
                    f"the window from {window.start} to {window.end} (exclusive); last "
                    f"answer: {exc}"
                ) from None
            _LOGGER.warning("%s: %s; restarting the window from %s", window, exc, window.start)
        finally:
            on_answer = None  # the probe is answered by the first try, or never
    raise AssertionError("unreachable")  # pragma: no cover


def _read_once(
    window: Window,
    fetch_page: FetchPage,
    build: BuildRecord,
    max_pages: int,
    paginator: CursorPaginator,
    on_answer: Callable[[], None] | None,
) -> list[Record]:
    records: list[Record] = []
    expected = window.start
    pages = 0
    while not paginator.finished:
        pages += 1
        if pages > max_pages:
            raise ResponseShapeError(
                f"{window}: more than {max_pages} pages for a {window.days}-day window "
                f"({window.start} to {window.end}, exclusive); the API keeps sending cursors — "
                "stopping instead of looping"
            )
        page = fetch_page(window, paginator.current_value)
        if on_answer is not None:
            on_answer()
            on_answer = None
        for row in page.rows:
            day = dt.date.fromisoformat(row["date"])
            if day != expected:
                _out_of_line(window, day, expected)
            records.append(build(row, window.project_id))
            expected += ONE_DAY
        paginator.follow(page)
    if expected < window.end:
        why = "the answer was empty" if not records else "the last page ended early"
        raise IncompleteWindowError(expected, window.end, why, records)
    return records


def _not_published(window: Window, exc: IncompleteWindowError, today: dt.date) -> bool:
    """The missing days are the window's last ones, all of them today or yesterday."""
    return (
        exc.missing_to == window.end
        and bool(exc.received) == (exc.missing_from > window.start)
        and exc.missing_from >= today - dt.timedelta(days=NOT_PUBLISHED_DAYS)
    )


def _out_of_line(window: Window, day: dt.date, expected: dt.date) -> t.NoReturn:
    """A day that is not the next one: a hole (restart) or disorder (contract drift)."""
    if not window.start <= day < window.end:
        raise ResponseShapeError(
            f"{window}: day {day} is outside the requested window [{window.start}, {window.end})"
        )
    if day > expected:
        raise IncompleteWindowError(expected, day, "a day is missing in the middle")
    raise ResponseShapeError(
        f"{window}: day {day} came after {expected - ONE_DAY}; days must be unique and ascending"
    )
