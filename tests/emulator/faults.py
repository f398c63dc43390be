"""Injected misbehaviour: the :class:`Faults` switches, their docs and their CLI parsing.

Each field's one-line description lives in its ``metadata["doc"]``; the CLI's ``--help``
is generated from it, so the two cannot drift apart.

Where a fault acts:

* number-keyed faults (``*_on``, ``status_every_n``, the random 500) and the redirects
  ``redirect_to`` / ``redirect_loop`` act on every request, in front of routing and auth,
  like a proxy or a crashing app server; ``latency_s`` too;
* ``rate_limit`` counts requests past routing and auth; ``redirect_same_origin`` acts on
  data requests (a stream's path) past the rate limit, so the API counts the redirect
  and the redirected request alike;
* ``zero_fill_future`` relaxes the parameter checks; ``revisions`` changes rows;
  ``today_lag_days`` ends every page at the platform's lagging day;
* the rest act on *data pages*: requests past auth, the rate limit and the parameter
  checks that would be answered 200 with a page. Precedence, first wins: ``error_200``,
  ``endless_continue``, ``endless_chunked``, ``nested_json_depth``, then the page is
  built (page-content faults, field faults) and ``huge_body_bytes`` pads it;
* ``trickle_s``, ``connection_close``, ``http10`` and ``echo_token`` act on whatever
  answer goes out, ``corrupt_gzip`` on any 200 with a body.

Page-content faults are ``missing_days``, ``truncate_days``, ``empty_data``,
``value_overrides`` and ``endless_pagination``; ``endless_pagination`` wins over
``empty_data``, which wins over the other three (those combine). A data page is
*affected* when at least one of them changes it: a missing day inside the page's range,
the window's last page under ``truncate_days`` (the one reaching ``to - truncate_days``),
any page under ``empty_data`` or ``endless_pagination``, a page holding a row of an
overridden stream on an overridden day. With ``page_fault_limit = N``, the first N
affected pages since start or :meth:`Emulator.clear_log` get the faults (a page counts
once, however many faults hit it) and every later one is served healthy. One counter for
all five faults, every stream and every workspace; unaffected pages never count.
"""

from __future__ import annotations

import dataclasses
import json
import types
import typing
from dataclasses import dataclass, field
from typing import Any


def _doc(text: str) -> dict[str, str]:
    return {"doc": text}


@dataclass
class Faults:
    """Injected misbehaviour; all off by default, mutable by tests between runs."""

    # -- timing and errors (any request) ---------------------------------------
    #: The injected latency is the server's whole answer time, building the page
    #: included (benchmarks compare the tap against it).
    latency_s: float = field(
        default=0.0, metadata=_doc("seconds from a request's arrival to its answer")
    )
    rate_limit: tuple[int, float] | None = field(
        default=None, metadata=_doc("[MAX, SECONDS]: 429 past MAX requests per PAT per window")
    )
    retry_after_s: int = field(default=60, metadata=_doc("retry_after in a 429's body"))
    retry_after_header: bool = field(
        default=False, metadata=_doc("also send retry_after_s as a Retry-After header")
    )
    #: Implies the header; the body keeps ``retry_after_s``.
    retry_after_header_value: str | None = field(
        default=None, metadata=_doc("Retry-After header text instead (e.g. an HTTP date)")
    )
    status_every_n: int | None = field(
        default=None, metadata=_doc("every Nth request answers status_code")
    )
    status_code: int = field(default=500, metadata=_doc("status of status_every_n answers"))
    status_message: str | None = field(
        default=None, metadata=_doc("body message of status_every_n answers")
    )
    random_error_rate: float = field(
        default=0.0, metadata=_doc("share of requests answered 500, drawn from seed")
    )
    seed: int = field(default=0, metadata=_doc("seed of random_error_rate"))
    html_502_on: frozenset[int] = field(
        default=frozenset(), metadata=_doc("request numbers answered with an nginx HTML 502")
    )
    garbage_json_on: frozenset[int] = field(
        default=frozenset(), metadata=_doc("request numbers answered 200 with cut-off JSON")
    )
    drop_connection_on: frozenset[int] = field(
        default=frozenset(), metadata=_doc("request numbers whose connection drops unanswered")
    )
    slow_on: frozenset[int] = field(
        default=frozenset(), metadata=_doc("request numbers that wait slow_s first")
    )
    slow_s: float = field(default=0.0, metadata=_doc("extra wait of slow_on requests"))
    #: Counts only requests that passed the rate limit and parameter checks and carry
    #: the endpoint's own cursor parameter.
    invalid_cursor_on_nth_cursored: int | None = field(
        default=None, metadata=_doc("the Nth cursored request answers 400 Invalid cursor")
    )
    #: Past auth and the rate limit, so a 401/403 still wins; keyed ``stream/project_id``.
    pair_status: dict[str, int] = field(
        default_factory=dict,
        metadata=_doc("'stream/project_id' -> status every data request of that pair answers"),
    )
    invalid_cursor_always: bool = field(
        default=False, metadata=_doc("every cursored request answers 400 Invalid cursor")
    )
    # -- page shape ---------------------------------------------------------------
    renamed_fields: dict[str, dict[str, str]] = field(
        default_factory=dict, metadata=_doc("stream -> {field: new name} in served rows")
    )
    extra_fields: dict[str, dict[str, Any]] = field(
        default_factory=dict, metadata=_doc("stream -> {field: value} added to served rows")
    )
    drop_envelope_key: str | None = field(
        default=None, metadata=_doc("envelope key removed from pages (e.g. metadata.next_cursor)")
    )
    redirect_to: str | None = field(
        default=None, metadata=_doc("every request answers 302 to this origin, same path")
    )
    # -- integrity: page content (see page_fault_limit) --------------------------------
    missing_days: frozenset[str] = field(
        default=frozenset(), metadata=_doc("ISO days left out of the page that holds them")
    )
    #: The page that reaches ``to - truncate_days`` becomes the last one: rows stop
    #: there and its next_cursor is null (empty data when that is before the page).
    truncate_days: int = field(
        default=0, metadata=_doc("each window's last page ends N days early, next_cursor null")
    )
    empty_data: bool = field(
        default=False, metadata=_doc('every page answers "data": [] with next_cursor null')
    )
    #: A platform whose aggregate lags the clock: "to" may still reach the real
    #: tomorrow, but rows stop after today - N, and that page is the last. Not a
    #: page-content fault (page_fault_limit does not heal it), like a real lag.
    today_lag_days: int = field(
        default=0, metadata=_doc("the data's day is N days behind today: no rows after it")
    )
    #: Counting: see the module docstring; reset by Emulator.clear_log().
    page_fault_limit: int | None = field(
        default=None, metadata=_doc("page-content faults hit only the first N affected pages")
    )
    zero_fill_future: bool = field(
        default=False, metadata=_doc("'to' past tomorrow is served, future days zero-filled")
    )
    #: Overrides ``Emulator.today_revision`` for a day it names; honoured by expected_row.
    revisions: dict[str, int] = field(
        default_factory=dict, metadata=_doc("ISO day -> revision: a late-corrected past day")
    )
    #: Applied before renamed_fields; expected_row(with_faults=True) applies it too.
    value_overrides: dict[str, dict[str, Any]] = field(
        default_factory=dict, metadata=_doc("stream -> {field: value} replacing served values")
    )
    value_override_days: frozenset[str] = field(
        default=frozenset(), metadata=_doc("ISO days value_overrides is limited to (empty: all)")
    )
    #: Each cursor carries a fresh nonce and points at the page's own first day, so a
    #: healed server (page_fault_limit) serves that page for real.
    endless_pagination: bool = field(
        default=False, metadata=_doc('every page answers "data": [] and a new valid cursor')
    )
    # -- hangs and huge answers -------------------------------------------------------
    trickle_s: float = field(
        default=0.0, metadata=_doc("send the body one byte every trickle_s seconds")
    )
    trickle_headers: bool = field(
        default=False, metadata=_doc("trickle_s also paces the headers (after the status line)")
    )
    trickle_on: frozenset[int] = field(
        default=frozenset(), metadata=_doc("request numbers trickled (empty: every request)")
    )
    #: The hang faults' variants where http.client hands the socket to the response.
    connection_close: bool = field(
        default=False, metadata=_doc("every answer says Connection: close and the server closes")
    )
    http10: bool = field(
        default=False,
        metadata=_doc(
            "answers in HTTP/1.0, no Content-Length: the body ends when the server closes"
        ),
    )
    endless_continue: bool = field(
        default=False, metadata=_doc("data requests get 100 Continue every 50 ms, for ever")
    )
    endless_chunked: bool = field(
        default=False, metadata=_doc("data requests get a chunked 200 whose body never ends")
    )
    huge_body_bytes: int = field(
        default=0, metadata=_doc("pages padded with whitespace to this many bytes, streamed")
    )
    nested_json_depth: int = field(
        default=0, metadata=_doc("pages answer a JSON body nested this deep in data")
    )
    corrupt_gzip: bool = field(
        default=False, metadata=_doc("200 answers say Content-Encoding: gzip; the gzip is corrupt")
    )
    # -- leaks and redirects ---------------------------------------------------------
    #: JSON error bodies read ``token <Authorization> is not valid; <message>``.
    echo_token: bool = field(
        default=False, metadata=_doc("errors quote the Authorization header; also X-Echo")
    )
    error_200: str | None = field(
        default=None, metadata=_doc('data requests answer 200 {"status": "ERROR", "message": …}')
    )
    redirect_same_origin: bool = field(
        default=False, metadata=_doc("data requests without _hop answer 307 to URL+_hop=1")
    )
    redirect_loop: bool = field(
        default=False, metadata=_doc("every request answers 307 to itself with _hop + 1")
    )


def fault_help() -> str:
    """The ``--fault`` list for ``--help``: every field, its default and its doc."""
    lines = ["fault switches (--fault NAME=JSON, repeatable):"]
    for spec in dataclasses.fields(Faults):
        default = spec.default_factory() if callable(spec.default_factory) else spec.default
        shown = json.dumps(sorted(default) if isinstance(default, frozenset) else default)
        lines.append(f"  {spec.name} = {shown}: {spec.metadata['doc']}")
    return "\n".join(lines)


def parse_fault(text: str) -> tuple[str, Any]:
    """``NAME=JSON`` into a field name and a value of the field's type; ValueError if not."""
    name, sep, raw = text.partition("=")
    fields = {spec.name: spec for spec in dataclasses.fields(Faults)}
    if not sep or name not in fields:
        raise ValueError(f"unknown fault {name!r}; see the list in --help")
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError(
            f"{name}: {raw!r} is not JSON (quote strings: {name}='\"text\"')"
        ) from None
    hint = typing.get_type_hints(Faults)[name]
    converted = _convert(value, hint)
    if converted is _BAD:
        raise ValueError(f"{name}: {raw!r} is not {_describe(hint)}")
    return name, converted


_BAD = object()


def _convert(value: Any, hint: Any) -> Any:
    """``value`` (parsed JSON) as ``hint``, or _BAD; just the types Faults uses."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            converted = _convert(value, option)
            if converted is not _BAD:
                return converted
        return _BAD
    if hint is type(None):
        return None if value is None else _BAD
    if hint is Any:
        return value
    if hint is bool:
        return value if isinstance(value, bool) else _BAD
    if hint is int:
        return value if isinstance(value, int) and not isinstance(value, bool) else _BAD
    if hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        return float(value) if ok else _BAD
    if hint is str:
        return value if isinstance(value, str) else _BAD
    if origin is frozenset and isinstance(value, list):
        items = [_convert(item, args[0]) for item in value]
        return _BAD if _BAD in items or not all(map(_hashable, items)) else frozenset(items)
    if origin is tuple and isinstance(value, list) and len(value) == len(args):
        items = [_convert(item, arg) for item, arg in zip(value, args, strict=True)]
        return _BAD if _BAD in items else tuple(items)
    if origin is dict and isinstance(value, dict):
        mapping = {key: _convert(item, args[1]) for key, item in value.items()}
        return _BAD if _BAD in mapping.values() else mapping
    return _BAD


def _hashable(value: Any) -> bool:
    return not isinstance(value, (list, dict))


def _describe(hint: Any) -> str:
    if isinstance(hint, type):
        return f"{'an' if hint.__name__[0] in 'aeiou' else 'a'} {hint.__name__}"
    return "a " + str(hint).replace("typing.", "").replace("NoneType", "null")
