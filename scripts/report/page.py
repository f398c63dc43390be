"""The page: the marts turned into scorecards, comparison tables and charts, as static HTML.

Everything is computed here and written into the HTML (charts as inline SVG), so the page
is complete with JavaScript off, in a mail client or a locked-down viewer. Jinja2 writes
it, escaping every value from the data.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jinja2
from markupsafe import Markup

from scripts.report import charts, fmt
from scripts.report.kpis import (
    BY_COLUMN,
    FLAT_PCT,
    KPIS,
    Change,
    Grain,
    Headline,
    Kpi,
    Row,
    empty_reason,
    headline,
)
from scripts.report.sources import Marts, ReportError

TEMPLATE = "template.html"
#: Periods a scorecard's sparkline shows, ending with the last complete one.
SPARK_PERIODS = {"week": 12, "month": 12}
GRAIN_NAMES = {"week": ("week", "Weekly"), "month": ("month", "Monthly")}
#: The detail tables' columns after the period: (column, heading).
DETAIL_COLUMNS = (
    ("days_in_period", "Days"),
    ("chats", "Chats"),
    ("inbound_messages", "Messages in"),
    ("outbound_messages", "Messages out"),
    ("positive_feedback", "Thumbs up"),
    ("negative_feedback", "Thumbs down"),
    ("feedback_positive_share", "Positive share"),
    ("handover_requests", "Handover requests"),
    ("handover_starts", "Handovers started"),
    ("handover_request_rate", "Requests per chat"),
    ("handover_fulfilment_rate", "Started of requested"),
    ("csat_responses", "CSAT answers"),
    ("csat_avg", "CSAT"),
    ("ai_quality_scored", "Answers scored"),
    ("ai_quality_avg", "AI quality"),
    ("technical_errors", "Errors"),
    ("errors_per_1k_messages", "Errors per 1k"),
    ("returning_users_avg_daily", "Returning users per day"),
    ("returning_users_max_daily", "Returning users, highest day"),
)

_ENV = jinja2.Environment(
    loader=jinja2.FileSystemLoader(Path(__file__).parent),
    autoescape=True,
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


@dataclass(frozen=True)
class Figure:
    """One value as a cell shows it: the number, its text, and why it is empty."""

    value: float | None
    text: str
    why: str | None = None


@dataclass(frozen=True)
class Delta:
    """One change as a cell shows it; ``direction`` is better, worse or flat."""

    direction: str
    pct: str | None
    points: str | None
    unit: str | None
    arrow: str


def figure(column: str, row: Row | None) -> Figure:
    value = None if row is None else row.get(column)
    kpi = BY_COLUMN.get(column)
    if kpi is None:
        return Figure(value, fmt.count(value))
    why = empty_reason(kpi, row) if value is None else None
    return Figure(value, fmt.value(kpi, value), why)


def delta(kpi: Kpi, before: Row | None, after: Row | None) -> Delta:
    change = Change(
        None if before is None else before[kpi.column],
        None if after is None else after[kpi.column],
    )
    sign = change.delta or 0
    return Delta(
        direction=change.direction(kpi),
        pct=fmt.pct(change),
        points=fmt.points(change) if kpi.kind == "share" else None,
        unit=fmt.delta(kpi, change) if kpi.kind == "score" else None,
        arrow="▲" if sign > 0 else "▼" if sign < 0 else "■",
    )


def _cards(top: Headline) -> list[dict[str, Any]]:
    after, before = top.subject(top.last_start), top.subject(top.previous_start)
    recent = [r for r in top.series if r["period_start"] <= top.last_start]
    recent = recent[-SPARK_PERIODS[top.grain] :]
    cards = []
    for kpi in KPIS:
        change = delta(kpi, before, after)
        colour = {"better": "#0f7b5f", "worse": "#b42318"}.get(change.direction, charts.MUTED)
        spark_id = f"spark-{top.grain}-{kpi.column}"
        cards.append(
            {
                "kpi": kpi,
                "now": figure(kpi.column, after),
                "before": figure(kpi.column, before),
                "change": change,
                "highest": figure("returning_users_max_daily", after)
                if kpi.column == "returning_users_avg_daily"
                else None,
                "spark": Markup(
                    charts.sparkline([r[kpi.column] for r in recent], colour, spark_id)
                ),
            }
        )
    return cards


def _comparison(top: Headline, names: Sequence[str]) -> dict[str, Any]:
    rows = []
    for project_id in names:
        last, previous = top.last[project_id], top.previous[project_id]
        comparable = bool(
            last and previous and last["is_complete_period"] and previous["is_complete_period"]
        )
        rows.append(
            {
                "name": project_id,
                "total": False,
                "note": top.left_out.get(project_id),
                "cells": [
                    (
                        kpi,
                        figure(kpi.column, last),
                        delta(kpi, previous if comparable else None, last),
                    )
                    for kpi in KPIS
                ],
            }
        )
    after, before = top.subject(top.last_start), top.subject(top.previous_start)
    rows.append(
        {
            "name": "Total",
            "total": True,
            "note": None if not top.left_out else f"of {len(top.included)} workspaces",
            "cells": [(k, figure(k.column, after), delta(k, before, after)) for k in KPIS],
        }
    )
    return {"rows": rows}


def _trends(grain: Grain, by_project: dict[str, list[Row]], colours: dict[str, str]) -> list[Any]:
    found = []
    for kpi in KPIS:
        extra = None
        if kpi.column == "returning_users_avg_daily" and len(by_project) == 1:
            extra = {"returning_users_max_daily": ("highest day", charts.PALETTE[1])}
        svg = charts.trend(kpi, grain, by_project, colours, f"{grain}-{kpi.column}", extra)
        found.append({"kpi": kpi, "svg": Markup(svg), "extra": extra})
    return found


def _details(grain: Grain, rows: list[Row]) -> list[dict[str, Any]]:
    """Every period of one workspace, newest first, with every column."""
    return [
        {
            "row": row,
            "label": fmt.period(grain, row["period_start"], row["period_end"]),
            "cells": [(column, figure(column, row)) for column, _ in DETAIL_COLUMNS],
        }
        for row in reversed(rows)
    ]


def _coverage(marts: Marts, names: list[str]) -> dict[str, Any]:
    """The real period covered: calendar days from the first to the last, never a sum of
    every workspace's days; and where workspaces start later or end earlier."""
    spans = {}
    for project_id in names:
        days = [r["date"] for r in marts.daily if r["project_id"] == project_id]
        spans[project_id] = (min(days), max(days), len(days))
    first = min(s[0] for s in spans.values())
    last = max(s[1] for s in spans.values())
    calendar_days = (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days + 1
    partial = sorted({r["date"] for r in marts.daily if r["is_partial"]})
    differing = [
        f"{p} {fmt.day(a)} {fmt.DASH} {fmt.day(b)} ({n} days)"
        for p, (a, b, n) in spans.items()
        if (a, b) != (first, last) or n != calendar_days
    ]
    return {
        "first": fmt.day(first),
        "last": fmt.day(last),
        "days": calendar_days,
        "partial": [fmt.day(d) for d in partial],
        "differing": differing,
    }


def render(marts: Marts, generated_at: dt.datetime | None = None) -> str:
    """The whole page as one HTML string."""
    if not marts.daily:
        raise ReportError(f"the marts are empty ({marts.source}): load some data first")
    names = sorted({r["project_id"] for r in marts.daily})
    colours = {p: charts.PALETTE[i % len(charts.PALETTE)] for i, p in enumerate(names)}
    grains: list[dict[str, Any]] = []
    by_grain: tuple[tuple[Grain, list[Row]], ...] = (
        ("week", marts.weekly),
        ("month", marts.monthly),
    )
    for grain, rows in by_grain:
        by_project = {p: [r for r in rows if r["project_id"] == p] for p in names}
        by_project = {p: found for p, found in by_project.items() if found}
        top = headline(grain, rows, marts.daily) if rows else None
        grains.append(
            {
                "grain": grain,
                "noun": GRAIN_NAMES[grain][0],
                "adjective": GRAIN_NAMES[grain][1],
                "top": top,
                "last_label": top and fmt.period(grain, top.last_start),
                "previous_label": top and fmt.period(grain, top.previous_start),
                "cards": _cards(top) if top else [],
                "comparison": _comparison(top, names) if top and len(names) > 1 else None,
                "trends": _trends(grain, by_project, colours) if by_project else [],
                "details": {p: _details(grain, found) for p, found in by_project.items()},
            }
        )
    moment = generated_at or dt.datetime.now(dt.timezone.utc)
    return _ENV.get_template(TEMPLATE).render(
        names=names,
        colours=colours,
        coverage=_coverage(marts, names),
        source=marts.source,
        generated=fmt.timestamp(moment),
        grains=grains,
        detail_columns=DETAIL_COLUMNS,
        flat_pct=f"{FLAT_PCT:g}",
    )
