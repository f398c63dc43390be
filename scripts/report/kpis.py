"""What the report compares: the headline KPIs, which periods, the total of several workspaces.

The marts already hold every ratio recomputed from its sums; this module only adds what a
page of several workspaces needs and the marts cannot hold: a total over workspaces (ratios
again from sums, returning users from the per-day sums of the daily mart, never from a sum
of daily averages or maxima) and the change between two periods with its business direction.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Literal

Grain = Literal["week", "month"]
Direction = Literal["better", "worse", "flat"]
Row = dict[str, Any]

#: A change under this share (in %) of the value before reads as flat.
FLAT_PCT = 1.0

COUNTS = (
    "chats",
    "inbound_messages",
    "outbound_messages",
    "positive_feedback",
    "negative_feedback",
    "handover_requests",
    "handover_starts",
    "csat_responses",
    "ai_quality_scored",
    "technical_errors",
)


@dataclass(frozen=True)
class Kpi:
    """One headline figure: how it reads, which way is good, why it can be empty."""

    column: str
    label: str
    #: count | share (0-1, shown in %, changes also in points) | score | per1k | daily
    kind: str
    higher_is_better: bool
    decimals: int
    #: Whether its chart's axis starts at 0 (volumes) or fits the values (scores near 4).
    zero_based: bool
    #: Columns whose sum is 0 when the KPI is empty, and what that means.
    denominator: tuple[str, ...]
    empty_reason: str


KPIS: tuple[Kpi, ...] = (
    Kpi("chats", "Chats", "count", True, 0, True, ("chats",), "no chats"),
    Kpi(
        "inbound_messages",
        "Messages from users",
        "count",
        True,
        0,
        True,
        ("inbound_messages",),
        "no messages",
    ),
    Kpi(
        "returning_users_avg_daily",
        "Returning users per day",
        "daily",
        True,
        0,
        True,
        ("returning_users_avg_daily",),
        "no returning users",
    ),
    Kpi(
        "feedback_positive_share",
        "Positive feedback",
        "share",
        True,
        1,
        False,
        ("positive_feedback", "negative_feedback"),
        "no feedback given",
    ),
    Kpi(
        "handover_request_rate",
        "Chats asking for a human",
        "share",
        False,
        1,
        True,
        ("chats",),
        "no chats",
    ),
    Kpi(
        "handover_fulfilment_rate",
        "Handovers started",
        "share",
        True,
        1,
        False,
        ("handover_requests",),
        "no handover requests",
    ),
    Kpi("csat_avg", "CSAT (1\u20135)", "score", True, 2, False, ("csat_responses",), "no answers"),
    Kpi(
        "ai_quality_avg",
        "AI quality (0\u20131)",
        "score",
        True,
        3,
        False,
        ("ai_quality_scored",),
        "nothing scored",
    ),
    Kpi(
        "errors_per_1k_messages",
        "Errors per 1,000 messages",
        "per1k",
        False,
        2,
        True,
        ("inbound_messages", "outbound_messages"),
        "no messages",
    ),
)
BY_COLUMN = {kpi.column: kpi for kpi in KPIS}


def empty_reason(kpi: Kpi, row: Row | None) -> str:
    """Why ``kpi`` has no value in ``row``: no data loaded, or nothing to divide by."""
    if row is None:
        return "no data"
    known = [row.get(name) for name in kpi.denominator if row.get(name) is not None]
    return kpi.empty_reason if known else "not loaded"


# -- periods --------------------------------------------------------------------------


def parse(day: str) -> dt.date:
    return dt.date.fromisoformat(day)


def period_before(grain: Grain, start: str) -> str:
    """The calendar period just before the one starting on ``start``."""
    day = parse(start)
    before = day - dt.timedelta(days=7) if grain == "week" else (day - dt.timedelta(1))
    return (before if grain == "week" else before.replace(day=1)).isoformat()


def period_end(grain: Grain, start: str) -> str:
    day = parse(start)
    if grain == "week":
        return (day + dt.timedelta(days=6)).isoformat()
    following = (day.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return (following - dt.timedelta(days=1)).isoformat()


# -- changes --------------------------------------------------------------------------


@dataclass(frozen=True)
class Change:
    """One KPI from one period to the next."""

    before: float | None
    after: float | None

    @property
    def delta(self) -> float | None:
        if self.before is None or self.after is None:
            return None
        return self.after - self.before

    @property
    def pct(self) -> float | None:
        """The change in % of the value before; None without one (or from 0)."""
        if self.delta is None or not self.before:
            return None
        return 100 * self.delta / abs(self.before)

    def direction(self, kpi: Kpi) -> Direction:
        """Better or worse for the business; flat when unknown or under ``FLAT_PCT``."""
        delta, pct = self.delta, self.pct
        if delta is None or delta == 0 or (pct is not None and abs(pct) < FLAT_PCT):
            return "flat"
        return "better" if (delta > 0) == kpi.higher_is_better else "worse"


# -- several workspaces -------------------------------------------------------------


def _sum(values: Iterable[Any]) -> Any:
    """SQL's sum: None when every value is None."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _ratio(numerator: Any, denominator: Any, scale: float = 1) -> float | None:
    if numerator is None or not denominator:
        return None
    return float(scale * numerator / denominator)


def _weighted(rows: Sequence[Row], score: str, weight: str) -> float | None:
    pairs = [(r[weight], r[score]) for r in rows if r[score] is not None and r[weight]]
    return _ratio(sum(n * s for n, s in pairs), sum(n for n, _ in pairs))


def combine(rows: Sequence[Row], daily: Sequence[Row]) -> Row:
    """One period of several workspaces as one mart row: counts summed, ratios of the
    sums, scores weighted by answers, returning users from the per-day totals in
    ``daily`` (the same workspaces' days of that period)."""
    total: Row = {name: _sum(r[name] for r in rows) for name in COUNTS}
    feedback = _sum([total["positive_feedback"], total["negative_feedback"]])
    messages = _sum([total["inbound_messages"], total["outbound_messages"]])
    per_day: dict[str, list[int]] = defaultdict(list)
    for day in daily:
        if day["returning_users"] is not None:
            per_day[day["date"]].append(day["returning_users"])
    users = [sum(values) for values in per_day.values()]
    total.update(
        period_start=rows[0]["period_start"],
        period_end=rows[0]["period_end"],
        days_in_period=len({day["date"] for day in daily}),
        is_complete_period=all(r["is_complete_period"] for r in rows),
        feedback_positive_share=_ratio(total["positive_feedback"], feedback),
        handover_request_rate=_ratio(total["handover_requests"], total["chats"]),
        handover_fulfilment_rate=_ratio(total["handover_starts"], total["handover_requests"]),
        errors_per_1k_messages=_ratio(total["technical_errors"], messages, 1000),
        csat_avg=_weighted(rows, "csat_avg", "csat_responses"),
        ai_quality_avg=_weighted(rows, "ai_quality_avg", "ai_quality_scored"),
        returning_users_avg_daily=sum(users) / len(users) if users else None,
        returning_users_max_daily=max(users) if users else None,
    )
    return total


@dataclass(frozen=True)
class Headline:
    """The last complete period of one grain against the one before, for every workspace
    and for what the headline shows (the only workspace, or the total of several)."""

    grain: Grain
    last_start: str
    previous_start: str
    #: project_id -> its row of each period (None: no row), whether complete or not.
    last: dict[str, Row | None]
    previous: dict[str, Row | None]
    #: The workspaces added up in the total: complete in both periods, so like is
    #: compared with like; the others are listed with why they are left out.
    included: list[str]
    left_out: dict[str, str]
    #: The total (or the only workspace) of the included workspaces, period by period
    #: (every period where all of them are complete), oldest first.
    series: list[Row]

    def subject(self, start: str) -> Row | None:
        return next((row for row in self.series if row["period_start"] == start), None)


def headline(grain: Grain, rows: Sequence[Row], daily: Sequence[Row]) -> Headline | None:
    """The comparison for ``grain``; None while no workspace has a complete period."""
    projects = sorted({row["project_id"] for row in rows})
    by_key = {(row["project_id"], row["period_start"]): row for row in rows}
    complete = [row["period_start"] for row in rows if row["is_complete_period"]]
    if not complete:
        return None
    last = max(complete)
    previous = period_before(grain, last)

    def is_complete(project_id: str, start: str) -> bool:
        row = by_key.get((project_id, start))
        return bool(row and row["is_complete_period"])

    included = [p for p in projects if is_complete(p, last) and is_complete(p, previous)]
    if not included:  # nothing to compare with yet: the last period alone
        included = [p for p in projects if is_complete(p, last)]
    left_out = {}
    for project_id in set(projects) - set(included):
        row = by_key.get((project_id, last))
        left_out[project_id] = (
            "no data in the last period"
            if row is None
            else "last period not complete"
            if not row["is_complete_period"]
            else "period before not complete"
        )
    days: dict[tuple[str, str], list[Row]] = defaultdict(list)
    wanted = set(included)
    starts = sorted({row["period_start"] for row in rows})
    for day in daily:
        if day["project_id"] in wanted:
            days[(day["project_id"], _start_of(grain, day["date"]))].append(day)
    series = []
    for start in starts:
        if start > last or not all(is_complete(p, start) for p in included):
            continue
        members = [by_key[(p, start)] for p in included]
        if len(members) == 1:
            series.append(members[0])  # the mart's own row, exactly as built
        else:
            series.append(combine(members, [d for p in included for d in days[(p, start)]]))
    return Headline(
        grain=grain,
        last_start=last,
        previous_start=previous,
        last={p: by_key.get((p, last)) for p in projects},
        previous={p: by_key.get((p, previous)) for p in projects},
        included=included,
        left_out=dict(sorted(left_out.items())),
        series=series,
    )


def _start_of(grain: Grain, day: str) -> str:
    date = parse(day)
    if grain == "week":
        return (date - dt.timedelta(days=date.weekday())).isoformat()
    return date.replace(day=1).isoformat()
