"""Each config value checked on its own, with one line in words when it is wrong.

``Settings.parse`` (settings.py) combines these: a day, a whole number in its bounds, an
http(s) base URL (plain http on loopback only), a CA bundle file, a shard, a workspace id.
A problem is a :class:`ValueProblemError` whose text follows ``config `key```; a value is
quoted only when it cannot hold a token.
"""

from __future__ import annotations

import datetime as dt
import ipaddress
import json
import math
import os
import re
import socket
from decimal import Decimal
from urllib.parse import urlsplit

from tap_indigo_analytics.days import utc_date
from tap_indigo_analytics.jsontypes import json_kind

_BAD_ID_CHARS = re.compile(r"[/?#%\\\s]")


class ValueProblemError(ValueError):
    """One problem with one key: rendered ``config `key` <what is wrong>``."""

    def __init__(self, what: str, key: str | None = None) -> None:
        super().__init__(what)
        self.key = key


def project_id(value: object, where: str) -> str:
    key = f"{where}project_id"
    if value is None or (isinstance(value, str) and not value.strip()):
        raise ValueProblemError("is missing or empty", key)
    if isinstance(value, (int, float, Decimal)) and not isinstance(value, bool):
        raise ValueProblemError(
            f'must be a string: put it in quotes ("{value}" rather than {value})', key
        )
    if not isinstance(value, str):
        raise ValueProblemError(f"must be a string (got {shown(value)})", key)
    if value in {".", ".."}:
        raise ValueProblemError(
            f"{value!r} is not a workspace id: in the URL path it would name another resource",
            key,
        )
    if _BAD_ID_CHARS.search(value) or not value.isprintable():
        raise ValueProblemError(
            f"{value!r} must be a plain id (no '/', '?', '#', '%' or whitespace)", key
        )
    return value


def boolean(value: object) -> bool:
    # Meltano and `--config ENV` may pass booleans as text.
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in {"true", "false", "1", "0"}:
        return value.strip().lower() in {"true", "1"}
    raise ValueProblemError(f"must be true or false (got {shown(value)})")


def ca_bundle(value: object) -> str | None:
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise ValueProblemError(f"must be a file path (got {shown(value)})")
    path = os.path.expanduser(value)
    try:
        with open(path, "rb") as handle:
            head = handle.read(1 << 16)
    except OSError as exc:
        raise ValueProblemError(f"{value!r} cannot be read ({exc.strerror or exc})") from None
    if b"-----BEGIN CERTIFICATE-----" not in head:
        raise ValueProblemError(f"{value!r} holds no PEM certificate (-----BEGIN CERTIFICATE-----)")
    return path


def date(value: object) -> dt.date | None:
    if value is None:
        return None
    day = utc_date(value)
    if day is not None:
        return day
    raise ValueProblemError(
        f"{shown(value)} is not a date (YYYY-MM-DD) or an ISO date-time (2026-11-01T00:00:00Z)"
    )


def whole_number(value: object, low: int, high: int | None) -> int:
    # The SDK reads JSON config numbers as Decimal; bool is an int subclass, not a number here.
    if isinstance(value, bool) or not isinstance(value, (int, float, Decimal)):
        whole = None
    elif isinstance(value, int):
        whole = value  # compared as is: a huge int must not overflow a float conversion
    elif isinstance(value, Decimal):
        whole = int(value) if value.is_finite() and value == value.to_integral_value() else None
    else:
        whole = int(value) if math.isfinite(value) and value.is_integer() else None
    if whole is None or whole < low or (high is not None and whole > high):
        span = f"from {low} to {high}" if high is not None else f"of at least {low}"
        raise ValueProblemError(f"must be a whole number {span} (got {shown(value)})")
    return whole


def shown(value: object) -> str:
    """A config value as the user wrote it: ``0.1``, ``true``, ``'abc'`` (long ones cut)."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, (int, float, Decimal)):
        text = str(value)
        return text if len(text) <= 20 else f"a number of {len(text)} characters"
    if isinstance(value, str):
        return repr(value if len(value) <= 40 else value[:37] + "...")
    return json_kind(value)


def base_url(value: object) -> str:
    if not isinstance(value, str):
        raise ValueProblemError(f"{shown(value)} is not a URL")
    parts = urlsplit(value.strip())
    if parts.scheme not in {"https", "http"} or not parts.hostname:
        raise ValueProblemError(f"{value!r} is not an http(s) URL")
    if parts.username or parts.password or parts.query or parts.fragment:
        raise ValueProblemError("must not carry credentials, a query or a fragment")
    if parts.scheme == "http" and not is_loopback(parts.hostname):
        raise ValueProblemError(
            f"{value!r} uses plain http; only https is allowed, except on loopback "
            "hosts (127.0.0.0/8, ::1, localhost) for the local emulator"
        )
    return value.strip().rstrip("/")


def is_loopback(host: str) -> bool:
    """Every spelling the resolver takes for loopback: ``localhost.``, ``127.1``
    (inet_aton's short form) and an IPv4-mapped ``::ffff:127.0.0.1`` included."""
    host = host.lower().rstrip(".") or host
    if host == "localhost":
        return True
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        try:
            address = ipaddress.ip_address(socket.inet_aton(host))
        except OSError:
            return False
    mapped = getattr(address, "ipv4_mapped", None)
    return bool(address.is_loopback or (mapped is not None and mapped.is_loopback))


def shard(value: object) -> tuple[int, int] | None:
    if value is None or value == "":
        return None
    match = re.fullmatch(r"\s*(\d+)\s*/\s*(\d+)\s*", value) if isinstance(value, str) else None
    if match is None:
        raise ValueProblemError(f'{shown(value)} is not of the form K/N, e.g. "2/4"')
    k, n = int(match[1]), int(match[2])
    if not 1 <= k <= n:
        raise ValueProblemError(f"{shown(value)}: K must be from 1 to N (shards count from 1)")
    return k, n
