"""The three KPI marts computed in plain Python from the emulator's own rows.

Deliberately independent of transform/: no SQL, no shared code, only the definitions of
issues 13 and 22, so a wrong model and a wrong expectation cannot agree by construction:

* ratios of sums, null when a denominator is 0; ISO weeks; inclusive period ends;
* a day is partial when the loader read one of its rows before the day was over;
* a period is complete only when every selected stream has every calendar day of it and
  none of them is partial; ``days_in_period`` counts the days every selected stream has.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import Any

Key = tuple[str, dt.date]
Row = dict[str, Any]

#: The marts' columns, in contract order (issue 13).
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
DAILY_COLUMNS = (
    "project_id",
    "date",
    "is_partial",
    "chats",
    "inbound_messages",
    "outbound_messages",
    "positive_feedback",
    "negative_feedback",
    "feedback_positive_share",
    "handover_requests",
    "handover_starts",
    "handover_request_rate",
    "handover_fulfilment_rate",
    "csat_responses",
    "csat_avg",
    "ai_quality_scored",
    "ai_quality_avg",
    "technical_errors",
    "errors_per_1k_messages",
    "returning_users",
)
PERIOD_COLUMNS = (
    "project_id",
    "period_start",
    "period_end",
    "days_in_period",
    "is_complete_period",
    *COUNTS,
    "feedback_positive_share",
    "handover_request_rate",
    "handover_fulfilment_rate",
    "errors_per_1k_messages",
    "csat_avg",
    "ai_quality_avg",
    "returning_users_avg_daily",
    "returning_users_max_daily",
    "days_with_messages",
    "days_with_chats",
    "days_with_returning_users",
    "days_with_csat",
    "days_with_ai_quality",
    "days_with_technical_errors",
)
#: The key of the row field holding when the loader read it (a naive UTC datetime).
EXTRACTED_AT = "_extracted_at"

#: Stream field -> daily mart column.
_FIELDS: dict[str, dict[str, str]] = {
    "daily_messages": {
        "inbound_messages": "inbound_messages",
        "outbound_messages": "outbound_messages",
        "positive_feedback": "positive_feedback",
        "negative_feedback": "negative_feedback",
        "ht_requests": "handover_requests",
        "ht_starts": "handover_starts",
    },
    "daily_chats": {"count": "chats"},
    "daily_returning_users": {"count": "returning_users"},
    "daily_csat": {"total": "csat_responses", "avg_score": "_csat_score"},
    "daily_ai_quality": {"total": "ai_quality_scored", "avg_score": "_ai_score"},
    "daily_technical_errors": {"count": "technical_errors"},
}


def ratio(numerator: float | None, denominator: float | None, scale: int = 1) -> float | None:
    """``scale * numerator / denominator``; None when either is unknown or the denominator 0."""
    if numerator is None or denominator is None or denominator == 0:
        return None
    return scale * numerator / denominator


def _total(values: Iterable[int | None]) -> int | None:
    """SQL's sum: None when every value is None."""
    known = [v for v in values if v is not None]
    return sum(known) if known else None


def _add(a: int | None, b: int | None) -> int | None:
    return None if a is None or b is None else a + b


def _rates(row: Row) -> Row:
    return {
        "feedback_positive_share": ratio(
            row["positive_feedback"], _add(row["positive_feedback"], row["negative_feedback"])
        ),
        "handover_request_rate": ratio(row["handover_requests"], row["chats"]),
        "handover_fulfilment_rate": ratio(row["handover_starts"], row["handover_requests"]),
        "errors_per_1k_messages": ratio(
            row["technical_errors"], _add(row["inbound_messages"], row["outbound_messages"]), 1000
        ),
    }


def day_end(day: dt.date, utc_offset_hours: int = 0) -> dt.datetime:
    """When the platform's ``day`` is over, in UTC (its days start at UTC+offset)."""
    midnight = dt.datetime.combine(day + dt.timedelta(days=1), dt.time())
    return midnight - dt.timedelta(hours=utc_offset_hours)


def daily_kpis(raw: Mapping[str, Mapping[Key, Row]], utc_offset_hours: int = 0) -> dict[Key, Row]:
    """``raw``: selected stream -> (project_id, date) -> the API's row as last loaded, with
    :data:`EXTRACTED_AT`. One mart row per key seen."""
    merged: dict[Key, Row] = defaultdict(dict)
    read_early: dict[Key, bool] = defaultdict(bool)
    for stream, rows in raw.items():
        for key, api_row in rows.items():
            for field, column in _FIELDS[stream].items():
                merged[key][column] = api_row[field]
            read_early[key] |= api_row[EXTRACTED_AT] < day_end(key[1], utc_offset_hours)
    result: dict[Key, Row] = {}
    for (project_id, day), values in merged.items():
        row: Row = {name: values.get(name) for name in (*COUNTS, "returning_users")}
        row.update(project_id=project_id, date=day, is_partial=read_early[(project_id, day)])
        csat_n, ai_n = row["csat_responses"], row["ai_quality_scored"]
        row["csat_avg"] = values.get("_csat_score") if csat_n else None
        row["ai_quality_avg"] = values.get("_ai_score") if ai_n else None
        row.update(_rates(row))
        result[(project_id, day)] = {name: row[name] for name in DAILY_COLUMNS}
    return result


def week_start(day: dt.date) -> dt.date:
    """Monday of the ISO week."""
    return day - dt.timedelta(days=day.weekday())


def month_start(day: dt.date) -> dt.date:
    return day.replace(day=1)


def period_end(grain: str, start: dt.date) -> dt.date:
    """The period's last calendar day, inclusive."""
    if grain == "week":
        return start + dt.timedelta(days=6)
    return start.replace(day=calendar.monthrange(start.year, start.month)[1])


def _weighted(rows: list[Row], count: str, score: str) -> float | None:
    scored = [(r[count], r[score]) for r in rows if r[score] is not None]
    return ratio(sum(n * s for n, s in scored), sum(n for n, _ in scored)) if scored else None


def period_kpis(
    daily: Mapping[Key, Row], raw: Mapping[str, Mapping[Key, Row]], grain: str
) -> dict[Key, Row]:
    """Weekly (``grain='week'``) or monthly marts from the daily one; completeness from
    ``raw`` (the selected streams' rows, as for :func:`daily_kpis`)."""
    start_of = week_start if grain == "week" else month_start
    groups: dict[Key, list[Row]] = defaultdict(list)
    for (project_id, day), day_row in daily.items():
        groups[(project_id, start_of(day))].append(day_row)
    result: dict[Key, Row] = {}
    for (project_id, start), rows in groups.items():
        end = period_end(grain, start)
        calendar_days = [start + dt.timedelta(days=n) for n in range((end - start).days + 1)]
        has = {
            stream: {day for day in calendar_days if (project_id, day) in raw[stream]}
            for stream in raw
        }
        every_stream = [day for day in calendar_days if all(day in has[s] for s in raw)]
        row: Row = {
            "project_id": project_id,
            "period_start": start,
            "period_end": end,
            "days_in_period": len(every_stream),
            "is_complete_period": len(every_stream) == len(calendar_days)
            and not any(r["is_partial"] for r in rows),
        }
        for stream in _FIELDS:
            count = len(has[stream]) if stream in raw else None
            row[stream.replace("daily_", "days_with_")] = count
        row.update({name: _total(r[name] for r in rows) for name in COUNTS})
        row.update(_rates(row))
        row["csat_avg"] = _weighted(rows, "csat_responses", "csat_avg")
        row["ai_quality_avg"] = _weighted(rows, "ai_quality_scored", "ai_quality_avg")
        users = [r["returning_users"] for r in rows if r["returning_users"] is not None]
        row["returning_users_avg_daily"] = sum(users) / len(users) if users else None
        row["returning_users_max_daily"] = max(users) if users else None
        result[(project_id, start)] = {name: row[name] for name in PERIOD_COLUMNS}
    return result


def differences(actual: Mapping[Key, Row], expected: Mapping[Key, Row]) -> list[str]:
    """Human-readable differences (keys, then values; floats to 1e-9 relative)."""
    problems = [f"missing row {key}" for key in sorted(expected.keys() - actual.keys())]
    problems += [f"unexpected row {key}" for key in sorted(actual.keys() - expected.keys())]
    for key in sorted(expected.keys() & actual.keys()):
        for name, want in expected[key].items():
            got = actual[key].get(name)
            if isinstance(want, float) and isinstance(got, float):
                same = math.isclose(got, want, rel_tol=1e-9, abs_tol=1e-12)
            else:
                same = type(got) is type(want) and got == want
            if not same:
                problems.append(f"{key} {name}: mart {got!r}, expected {want!r}")
    return problems
