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
# Share of days with no activity at all: high enough that every multi-week test range
# contains some, so zero-filling is always exercised.
ZERO_DAY_SHARE = 0.15
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
    salt = f"rev{revision}" if revision else ""

    def draw(name: str) -> float:
        return unit(project_id, stream, day.isoformat(), name, salt)

    quiet = draw("quiet") < ZERO_DAY_SHARE

    def upto(name: str, high: int) -> int:
        return 0 if quiet else int(draw(name) * (high + 1))

    # A bump makes a new revision visibly different even on a quiet day.
    bump = revision * 7
    values: dict[str, Any]
    if stream == "daily_messages":
        inbound = 0 if quiet else 10 + upto("inbound_messages", 490)
        ht_requests = upto("ht_requests", inbound // 25)
        values = {
            "inbound_messages": inbound,
            "outbound_messages": inbound + upto("outbound_messages", inbound),
            "positive_feedback": upto("positive_feedback", inbound // 8),
            "negative_feedback": upto("negative_feedback", inbound // 20),
            "ht_requests": ht_requests,
            "ht_starts": upto("ht_starts", ht_requests),
        }
        return {name: count + bump for name, count in values.items()}
    if stream == "daily_chats":
        return {"count": (0 if quiet else 1 + upto("count", 299)) + bump}
    if stream == "daily_returning_users":
        return {"count": upto("count", 150) + bump}
    if stream == "daily_technical_errors":
        errors = 0 if draw("clean") < 0.4 else upto("count", 24)
        return {"count": errors + bump}
    if stream in ("daily_csat", "daily_ai_quality"):
        # Some active days still have no survey answers, so a null avg_score shows up
        # outside the all-zero days too.
        csat = stream == "daily_csat"
        total = 0 if draw("no_answers") < 0.15 else upto("total", 39 if csat else 199)
        total += bump
        score = round(1 + 4 * draw("avg_score"), 2) if csat else round(draw("avg_score"), 3)
        return {"total": total, "avg_score": score if total else None}
    raise ValueError(f"unknown stream {stream!r}")


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
