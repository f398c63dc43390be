"""The API as the emulator serves it: endpoint table, metric values, cursors, parameters.

The emulator's own copy of ``api-contract.md``, deliberately not shared with the tap, so a
tap bug in the contract cannot be mirrored here and pass unnoticed.
"""

from __future__ import annotations

import base64
import binascii
import functools
import hashlib
import hmac
import json
import math
import re
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any
from urllib.parse import unquote


@dataclass(frozen=True)
class EndpointSpec:
    """One row of the contract's endpoint table (the emulator's own copy, not the tap's)."""

    stream: str
    path: str
    cursor_param: str
    default_limit: int
    total_key: str
    fields: tuple[str, ...]


_MESSAGE_FIELDS = (
    "inbound_messages",
    "outbound_messages",
    "positive_feedback",
    "negative_feedback",
    "ht_requests",
    "ht_starts",
)

ENDPOINTS: dict[str, EndpointSpec] = {
    spec.stream: spec
    for spec in (
        EndpointSpec(
            "daily_messages",
            "/rest/analytics/{project_id}/messages/daily",
            "cursor",
            30,
            "total_count",
            _MESSAGE_FIELDS,
        ),
        EndpointSpec(
            "daily_chats",
            "/rest/dashboard/{project_id}/chats/count",
            "cursor",
            30,
            "total_days",
            ("count",),
        ),
        EndpointSpec(
            "daily_returning_users",
            "/rest/dashboard/{project_id}/users/unique-daily",
            "after",
            31,
            "days_count",
            ("count",),
        ),
        EndpointSpec(
            "daily_csat",
            "/rest/analytics/{project_id}/csat/daily",
            "cursor",
            30,
            "total_count",
            ("total", "avg_score"),
        ),
        EndpointSpec(
            "daily_ai_quality",
            "/rest/analytics/{project_id}/ai_quality/daily",
            "cursor",
            30,
            "total_count",
            ("total", "avg_score"),
        ),
        EndpointSpec(
            "daily_technical_errors",
            "/rest/analytics/{project_id}/errors/daily",
            "cursor",
            30,
            "total_count",
            ("count",),
        ),
    )
}

MAX_LIMIT = 365
MAX_SPAN_DAYS = 365
# Chance of a day with no activity at all, Monday to Sunday (a business that is mostly
# quiet on Sundays): about one day a week, so every multi-week test range has some and
# zero-filling is always exercised, while weekly totals stay steady.
QUIET_BY_WEEKDAY = (0.02, 0.02, 0.02, 0.02, 0.02, 0.3, 0.7)
ZERO_DAY_SHARE = sum(QUIET_BY_WEEKDAY) / 7
# Volume by weekday relative to an ordinary one: a Monday peak, quiet weekends.
WEEKDAY_VOLUME = (1.12, 1.05, 1.0, 0.98, 0.9, 0.45, 0.3)
# Signs cursors so a hand-built one is rejected; the contract says cursors are opaque.
_CURSOR_KEY = b"indigo-emulator-cursor"
_DATE_RE = re.compile(r"\d{4}-\d{2}-\d{2}")
LIMIT_RE = re.compile(r"[0-9]{1,3}")
_ROUTES: list[tuple[re.Pattern[str], str]] = [
    (
        re.compile(
            "^"
            + re.escape(spec.path.split("{project_id}")[0])
            + "([^/]+)"
            + re.escape(spec.path.split("{project_id}")[1])
            + "$"
        ),
        spec.stream,
    )
    for spec in ENDPOINTS.values()
]


def unit(*parts: object) -> float:
    """Deterministic uniform float in [0, 1); blake2b, not hash(), so runs are stable."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def route(path: str) -> tuple[str | None, str | None]:
    """The stream and project_id a path addresses, or (None, None)."""
    for pattern, stream in _ROUTES:
        match = pattern.match(path)
        if match:
            return stream, unquote(match.group(1))
    return None, None


@functools.lru_cache(maxsize=1 << 18)
def metrics(project_id: str, stream: str, day: date, revision: int) -> dict[str, Any]:
    """The metric values of one day; ``revision`` > 0 for a corrected (or today's) row.

    Cached (callers copy, never mutate): hashing every field of every day cost the
    emulator ~8 ms per 365-day page, which the benchmarks would charge to the tap.
    """
    values = _day_values(project_id, day, revision)
    fields = ENDPOINTS[stream].fields if stream in ENDPOINTS else ()
    if stream == "daily_messages":
        return {name: values[name] for name in fields}
    if stream in ("daily_chats", "daily_returning_users", "daily_technical_errors"):
        return {"count": values[stream]}
    if stream in ("daily_csat", "daily_ai_quality"):
        total, score = values[f"{stream}_total"], values[f"{stream}_score"]
        return {"total": total, "avg_score": score if total else None}
    raise ValueError(f"unknown stream {stream!r}")


def _wave(day: date, period_days: float, phase: float) -> float:
    """A slow sine in [-1, 1]: the same for every stream of a day, so trends agree."""
    return math.sin(2 * math.pi * (day.toordinal() / period_days + phase))


@functools.lru_cache(maxsize=1 << 17)
def _day_values(project_id: str, day: date, revision: int) -> dict[str, Any]:
    """One workspace-day of every stream, drawn together so the streams agree: chats <=
    inbound <= outbound messages, starts <= requests, returning users <= chats.

    Volume follows a weekday rhythm and slow waves (a workspace-specific size and phase);
    rates and scores drift gently around believable levels; errors are rare. A quiet day
    (no activity at all) falls mostly on a weekend.
    """

    def draw(name: str, salt: str = "") -> float:
        return unit(project_id, "day", day.isoformat(), name, salt)

    def workspace(name: str) -> float:  # a property of the workspace, not of the day
        return unit(project_id, "workspace", name)

    def count(mean: float, name: str) -> int:
        """``mean`` rounded up or down at random, so small means average out right."""
        return int(mean + draw(name, "round"))

    def jitter(name: str, spread: float) -> float:
        return 1 + spread * (2 * draw(name) - 1)

    # A revised row is the day with more data in: never quiet, every count higher.
    quiet = revision == 0 and draw("quiet") < QUIET_BY_WEEKDAY[day.weekday()]
    phase = workspace("phase")
    size = 60 + 240 * workspace("size")  # chats on an ordinary weekday
    trend = 1 + 0.18 * _wave(day, 730, phase) + 0.08 * _wave(day, 120, 2 * phase)
    chats = (
        0
        if quiet
        else max(1, round(size * trend * WEEKDAY_VOLUME[day.weekday()] * jitter("chats", 0.12)))
    )
    inbound = count(chats * (3.2 + 0.6 * workspace("depth")) * jitter("inbound", 0.1), "i")
    outbound = inbound + count(inbound * 0.3 * jitter("outbound", 0.3), "o")
    feedback = inbound * 0.07 * jitter("feedback", 0.3)
    positive_share = 0.78 + 0.06 * _wave(day, 300, phase + 0.3)
    positive = count(feedback * positive_share, "pos")
    negative = count(feedback * (1 - positive_share), "neg")
    request_rate = (0.028 + 0.008 * _wave(day, 200, phase + 0.6)) * jitter("ht", 0.3)
    ht_requests = min(chats, count(chats * request_rate, "htr"))
    ht_starts = count(
        ht_requests * (0.85 + 0.06 * _wave(day, 250, phase)) * jitter("hs", 0.05), "hts"
    )
    returning = count(chats * (0.32 + 0.04 * _wave(day, 365, phase)) * jitter("ru", 0.1), "r")
    # About one error per 2,000 messages, and a small incident on about one day in 60.
    incident = 5 + 15 * draw("incident_size") if draw("incident") < 1 / 60 else 0
    errors = 0 if quiet else count((inbound + outbound) / 2000 + incident, "err")
    csat_total = 0 if draw("no_csat") < 0.08 else count(chats * 0.09 * jitter("ct", 0.3), "ct")
    ai_total = 0 if draw("no_ai") < 0.05 else count(inbound * 0.4 * jitter("at", 0.2), "at")
    csat = 4.15 + 0.25 * _wave(day, 180, phase + 0.1) + 0.6 * (draw("csat") - 0.5)
    ai = 0.82 + 0.05 * _wave(day, 240, phase + 0.4) + 0.08 * (draw("ai") - 0.5)
    values: dict[str, Any] = {
        "daily_chats": chats,
        "inbound_messages": inbound,
        "outbound_messages": outbound,
        "positive_feedback": positive,
        "negative_feedback": negative,
        "ht_requests": ht_requests,
        "ht_starts": min(ht_starts, ht_requests),
        "daily_returning_users": min(returning, chats),
        "daily_technical_errors": errors,
        "daily_csat_total": csat_total,
        "daily_ai_quality_total": ai_total,
    }
    # Each revision adds the same to every count, so the order between counts holds and a
    # revised row differs from the first one, with no count 0 (hence every score set).
    values = {name: value + revision for name, value in values.items()}
    values["daily_csat_score"] = round(min(5.0, max(1.0, csat)), 2)
    values["daily_ai_quality_score"] = round(min(1.0, max(0.05, ai)), 3)
    return values


def zero_metrics(stream: str) -> dict[str, Any]:
    """A day with no activity: every count 0, every score null (a zero-filled future day)."""
    return {name: None if name == "avg_score" else 0 for name in ENDPOINTS[stream].fields}


def _sign(payload: Mapping[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_CURSOR_KEY, canonical, hashlib.sha256).hexdigest()[:16]


def make_cursor(query: Mapping[str, Any], next_day: date, nonce: int | None = None) -> str:
    """A signed cursor for ``query`` pointing at ``next_day``; a ``nonce`` makes it new."""
    payload = {"v": 1, "next": next_day.isoformat(), **query}
    if nonce is not None:
        payload["n"] = nonce
    payload["sig"] = _sign(payload)
    # Standard (not URL-safe) base64 with padding, like the vendor's example, so a
    # client must URL-encode it: an unencoded '+' arrives as ' ' and is refused.
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def read_cursor(raw: str, query: Mapping[str, Any]) -> date | None:
    """The day a cursor points at, or None when it is malformed or made for another query."""
    try:
        payload = json.loads(base64.b64decode(raw.encode("ascii"), validate=True))
    except (UnicodeEncodeError, binascii.Error, ValueError):
        return None
    if not isinstance(payload, dict) or payload.get("v") != 1:
        return None
    sig = payload.pop("sig", None)
    if not isinstance(sig, str) or not hmac.compare_digest(sig, _sign(payload)):
        return None
    if any(payload.get(key) != value for key, value in query.items()):
        return None
    try:
        next_day = date.fromisoformat(str(payload.get("next")))
    except ValueError:
        return None
    start, end = date.fromisoformat(query["from"]), date.fromisoformat(query["to"])
    return next_day if start <= next_day < end else None


def parse_day(params: Mapping[str, str], name: str) -> date | None:
    """The strict ``YYYY-MM-DD`` day in ``params[name]``, or None."""
    raw = params[name]
    if not _DATE_RE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None
