"""Calendar days: the one parser of ``YYYY-MM-DD``, the platform's today, and date windows.

Settings (``start_date``), state (bookmarks), the envelope (a row's ``date``) and the
plan all read days with :func:`parse_day`, so a day means the same thing everywhere.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterator

_DAY = re.compile(r"^\d{4}-\d{2}-\d{2}$")
ONE_DAY = dt.timedelta(days=1)


def utc_today() -> dt.date:
    """Today in UTC: the platform's calendar day (never ask for a later one)."""
    return dt.datetime.now(dt.timezone.utc).date()


def parse_day(value: object, *, prefix: bool = False) -> dt.date | None:
    """``value`` as a day if it is a ``YYYY-MM-DD`` string naming a real day, else None.

    ``prefix`` also accepts a longer string that starts with a day (a bookmark another
    tool wrote as a date-time); its first ten characters are the day.
    """
    if not isinstance(value, str):
        return None
    text = value[:10] if prefix else value
    if not _DAY.match(text):
        return None
    try:
        return dt.date.fromisoformat(text)
    except ValueError:  # 2026-02-30
        return None


def utc_date(value: object) -> dt.date | None:
    """A day from ``YYYY-MM-DD`` or an ISO date-time (the SDK's ``start_date`` convention).

    A date-time's UTC date is the day: ``2026-11-01T23:00:00-05:00`` is 2026-11-02; one
    without an offset is taken as UTC.
    """
    day = parse_day(value)
    if day is not None or not isinstance(value, str) or len(value) <= 10:
        return day
    if value[10] not in "Tt " or parse_day(value, prefix=True) is None:
        return None
    text = value[:-1] + "+00:00" if value[-1] in "Zz" else value  # Python 3.10 lacks "Z"
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is not None:
        moment = moment.astimezone(dt.timezone.utc)
    return moment.date()


def date_windows(start: dt.date, end: dt.date, days: int) -> Iterator[tuple[dt.date, dt.date]]:
    """Split ``[start, end)`` into consecutive windows of at most ``days`` days."""
    step = dt.timedelta(days=days)
    while start < end:
        yield start, min(start + step, end)
        start += step


def describe_days(start: dt.date, end: dt.date) -> str:
    """``day 2026-03-04`` or ``days 2026-03-04 to 2026-03-08 (5 days)``; ``end`` is exclusive."""
    days = (end - start).days
    if days == 1:
        return f"day {start}"
    return f"days {start} to {end - ONE_DAY} ({days} days)"
