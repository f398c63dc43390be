"""Date windows: what to ask for, and reading one window whole or not at all.

The API zero-fills: a window ``[from, to)`` answers every day exactly once, ascending.
So a window is complete or it is an error. ``read_window`` checks each day as it
arrives; a day missing in the middle, a last page that stops early or an empty answer
restarts the window from its start (bounded), then fails naming the missing days.
Its rows are handed over only once the whole window is in, so nothing after a hole is
ever written and no bookmark can pass it.
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

    def __init__(self, missing_from: dt.date, missing_to: dt.date, why: str) -> None:
        self.missing_from = missing_from
        self.missing_to = missing_to  # exclusive
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
    new_paginator: Callable[[], CursorPaginator] = CursorPaginator,
    on_answer: Callable[[], None] | None = None,
) -> list[Record]:
    """Every day of ``window`` as records, in order, or an ``IndigoError``.

    ``new_paginator`` gives each try of the window a fresh paginator (the stream's hook).

    ``on_answer`` is called after the first successful page (the fail-fast probe).
    """
    max_pages = math.ceil(window.days / page_size) + PAGE_SLACK
    for attempt in range(MAX_WINDOW_RESTARTS + 1):
        try:
            return _read_once(window, fetch_page, build, max_pages, new_paginator(), on_answer)
        except (InvalidCursorError, IncompleteWindowError) as exc:
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
        raise IncompleteWindowError(expected, window.end, why)
    return records


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
