"""How numbers and dates read on the page: thousands separated, rates in %, dates with years."""

from __future__ import annotations

import datetime as dt

from scripts.report.kpis import Change, Grain, Kpi, parse, period_end

MINUS = "\u2212"  # a real minus sign, as wide as the plus
DASH = "\u2013"  # between the ends of a range


def signed(text: str) -> str:
    """``text`` of a signed number with a plus, or a real minus, in front."""
    return MINUS + text[1:] if text.startswith("-") else "+" + text


def value(kpi: Kpi, number: float | None) -> str:
    """A KPI's value as the page shows it (an en dash when there is none)."""
    if number is None:
        return "\u2013"
    if kpi.kind == "share":
        return f"{100 * number:.{kpi.decimals}f} %"
    return f"{number:,.{kpi.decimals}f}".replace("-", MINUS)


def count(number: int | None) -> str:
    return "\u2013" if number is None else f"{number:,}"


def pct(change: Change) -> str | None:
    """The change in % (one decimal), or None when there is none (unknown, or from 0)."""
    return None if change.pct is None else signed(f"{change.pct:.1f}") + " %"


def points(change: Change) -> str | None:
    """A share's change in percentage points."""
    return None if change.delta is None else signed(f"{100 * change.delta:.1f}") + " pt"


def delta(kpi: Kpi, change: Change) -> str | None:
    """The change in the KPI's own unit (a score's +0.12)."""
    if change.delta is None:
        return None
    return signed(f"{change.delta:,.{kpi.decimals}f}")


def day(iso: str, *, year: bool = True) -> str:
    date = parse(iso)
    return f"{date.day} {date:%b}" + (f" {date.year}" if year else "")


def period(grain: Grain, start: str, end: str | None = None) -> str:
    """'30 Nov - 6 Dec 2026', '29 Dec 2025 - 4 Jan 2026' (an en dash), 'November 2026'."""
    if grain == "month":
        return f"{parse(start):%B %Y}"
    first, last = parse(start), parse(end or period_end(grain, start))
    if first.year != last.year:
        return f"{day(start)} {DASH} {day(last.isoformat())}"
    if first.month == last.month:
        return f"{first.day} {DASH} {day(last.isoformat())}"
    return f"{day(start, year=False)} {DASH} {day(last.isoformat())}"


def timestamp(moment: dt.datetime) -> str:
    return f"{moment.day} {moment:%b %Y %H:%M} UTC"
