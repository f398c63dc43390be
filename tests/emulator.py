"""Local emulator of the Indigo Analytics REST API, served over real HTTP on loopback.

It follows ``api-contract.md`` (the project's contract) and is strict wherever the real
API would reject a request, so a tap that passes against it does not lean on leniency.
Tests control it through :class:`Faults` and read what it saw through
:meth:`Emulator.requests`.

Standard library only (``http.server.ThreadingHTTPServer``), on purpose: it must run
standalone (``python -m tests.emulator``) with no extra dependencies, and a hand-rolled
handler can misbehave at the socket level (drop a connection without any response,
answer with an HTML proxy page) in ways a web framework would not let us.

Request numbering, shared by every number-keyed fault (``status_every_n``,
``html_502_on``, ``garbage_json_on``, ``drop_connection_on``, ``slow_on``):

* every request that reaches the handler gets the next global number, starting at 1
  (and again at 1 after :meth:`Emulator.clear_log`), whatever its path or answer;
* the number-keyed faults, the random 500 and ``redirect_to`` act first, in front of
  routing and auth, like a proxy or a crashing app server would;
* the rate limit counts, per PAT, only requests that got past those faults, routing and
  auth; a request answered 429 still counts (a client that hammers stays locked out);
* ``invalid_cursor_on_nth_cursored`` counts only requests that passed the rate limit and
  parameter checks and carry the endpoint's own cursor parameter.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import contextlib
import functools
import hashlib
import hmac
import json
import re
import signal
import socket
import socketserver
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType, TracebackType
from typing import Any, cast
from urllib.parse import parse_qs, unquote, urlsplit


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
_LIMIT_RE = re.compile(r"[0-9]{1,3}")
_AUTH_RE = re.compile(r"Bearer pat-(\S+)")
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

_INTERNAL_ERROR = {"status": "ERROR", "message": "Internal server error"}
_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_GARBAGE = b'{"status": "OK", "data": [{"date": "2026-01-01", "inbound_mess'


@dataclass
class Faults:
    """Injected misbehaviour; all off by default, mutable by tests between runs."""

    #: Seconds from a request's arrival to its answer, building the page included:
    #: the round trip of a real API (benchmarks compare the tap against it).
    latency_s: float = 0.0
    rate_limit: tuple[int, float] | None = None
    retry_after_s: int = 60
    retry_after_header: bool = False
    #: Sent as the ``Retry-After`` header instead of ``retry_after_s`` (e.g. an HTTP
    #: date); implies the header. The body keeps ``retry_after_s``.
    retry_after_header_value: str | None = None
    status_every_n: int | None = None
    status_code: int = 500
    #: The body's message on ``status_every_n`` answers (default: internal server error).
    status_message: str | None = None
    random_error_rate: float = 0.0
    seed: int = 0
    html_502_on: frozenset[int] = frozenset()
    garbage_json_on: frozenset[int] = frozenset()
    drop_connection_on: frozenset[int] = frozenset()
    slow_on: frozenset[int] = frozenset()
    slow_s: float = 0.0
    invalid_cursor_on_nth_cursored: int | None = None
    #: Answer every cursored request with 400 Invalid cursor (an always-expiring cursor).
    invalid_cursor_always: bool = False
    renamed_fields: dict[str, dict[str, str]] = field(default_factory=dict)
    extra_fields: dict[str, dict[str, Any]] = field(default_factory=dict)
    drop_envelope_key: str | None = None
    redirect_to: str | None = None


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it; the Authorization header is never kept."""

    number: int
    stream: str | None
    project_id: str | None
    path: str
    params: dict[str, str]
    status: int  # 0 when the connection was dropped without a response
    authorized: bool  # the PAT is valid for the path's project_id
    fault: str | None
    at: float
    #: Whether any Authorization header came with the request (its value is not kept).
    auth_header: bool = False


@dataclass
class _Reply:
    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    fault: str | None = None
    drop: bool = False


def _json_reply(status: int, payload: Any, fault: str | None = None, **kw: Any) -> _Reply:
    return _Reply(status, json.dumps(payload).encode(), fault=fault, **kw)


def _error(status: int, message: str, fault: str | None = None) -> _Reply:
    return _json_reply(status, {"status": "ERROR", "message": message}, fault)


def _unit(*parts: object) -> float:
    """Deterministic uniform float in [0, 1); blake2b, not hash(), so runs are stable."""
    digest = hashlib.blake2b("|".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "big") / 2**64


def _route(path: str) -> tuple[str | None, str | None]:
    for pattern, stream in _ROUTES:
        match = pattern.match(path)
        if match:
            return stream, unquote(match.group(1))
    return None, None


@functools.lru_cache(maxsize=1 << 18)
def _metrics(project_id: str, stream: str, day: date, revision: int) -> dict[str, Any]:
    """The metric values of one day; ``revision`` > 0 only for today's (partial) row.

    Cached (callers copy, never mutate): hashing every field of every day cost the
    emulator ~8 ms per 365-day page, which the benchmarks would charge to the tap.
    """
    salt = f"rev{revision}" if revision else ""

    def unit(name: str) -> float:
        return _unit(project_id, stream, day.isoformat(), name, salt)

    quiet = unit("quiet") < ZERO_DAY_SHARE

    def upto(name: str, high: int) -> int:
        return 0 if quiet else int(unit(name) * (high + 1))

    # A bump makes a new revision of today visibly different even on a quiet day.
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
        errors = 0 if unit("clean") < 0.4 else upto("count", 24)
        return {"count": errors + bump}
    if stream in ("daily_csat", "daily_ai_quality"):
        # Some active days still have no survey answers, so a null avg_score shows up
        # outside the all-zero days too.
        csat = stream == "daily_csat"
        total = 0 if unit("no_answers") < 0.15 else upto("total", 39 if csat else 199)
        total += bump
        score = round(1 + 4 * unit("avg_score"), 2) if csat else round(unit("avg_score"), 3)
        return {"total": total, "avg_score": score if total else None}
    raise ValueError(f"unknown stream {stream!r}")


def _sign(payload: Mapping[str, Any]) -> str:
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":")).encode()
    return hmac.new(_CURSOR_KEY, canonical, hashlib.sha256).hexdigest()[:16]


def _make_cursor(page: Mapping[str, Any], next_day: date) -> str:
    payload = {"v": 1, "next": next_day.isoformat(), **page}
    payload["sig"] = _sign(payload)
    # Standard (not URL-safe) base64 with padding, like the vendor's example, so a
    # client must URL-encode it: an unencoded '+' arrives as ' ' and is refused.
    return base64.b64encode(json.dumps(payload, separators=(",", ":")).encode()).decode()


def _read_cursor(raw: str, page: Mapping[str, Any]) -> date | None:
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
    if any(payload.get(key) != value for key, value in page.items()):
        return None
    try:
        next_day = date.fromisoformat(str(payload.get("next")))
    except ValueError:
        return None
    start, end = date.fromisoformat(page["from"]), date.fromisoformat(page["to"])
    return next_day if start <= next_day < end else None


def _parse_day(params: Mapping[str, str], name: str) -> date | None:
    raw = params[name]
    if not _DATE_RE.fullmatch(raw):
        return None
    try:
        return date.fromisoformat(raw)
    except ValueError:
        return None


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # tests open many parallel connections

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        # Open connections, so stop() can cut keep-alive sockets that would otherwise
        # keep being served by their handler threads after the listener closes.
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        super().__init__(address, _Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can
        # stall for seconds in sandboxes; loopback needs no name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, closed session) is routine, not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 + Content-Length on every reply keeps connections alive, so a
    # requests.Session really reuses them as it would against the vendor.
    protocol_version = "HTTP/1.1"
    server_version = "IndigoAnalyticsEmulator/1.0"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection must not pin a thread forever
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
    # would add ~40 ms to every response.
    disable_nagle_algorithm = True

    #: When the request line was read: the injected latency counts from here.
    arrived = 0.0

    @property
    def emulator(self) -> Emulator:
        return cast(_Server, self.server).emulator

    def parse_request(self) -> bool:
        self.arrived = time.monotonic()  # before parsing the headers, which take a while too
        return super().parse_request()

    def do_GET(self) -> None:
        self.emulator._serve(self, "GET")

    def do_POST(self) -> None:
        self.emulator._serve(self, "POST")

    def do_PUT(self) -> None:
        self.emulator._serve(self, "PUT")

    def do_PATCH(self) -> None:
        self.emulator._serve(self, "PATCH")

    def do_DELETE(self) -> None:
        self.emulator._serve(self, "DELETE")

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the emulator prints its own line per request under --verbose

    def log_message(self, format: str, *args: Any) -> None:
        if self.emulator.verbose:
            super().log_message(format, *args)


class Emulator:
    """The Indigo Analytics REST API on loopback, for tests and the demo."""

    def __init__(
        self,
        workspaces: Mapping[str, str],
        *,
        today: date | None = None,
        faults: Faults | None = None,
        host: str = "127.0.0.1",
        port: int = 0,
        verbose: bool = False,
    ) -> None:
        """``workspaces`` maps project_id to its PAT value *without* the ``pat-`` prefix."""
        by_pat: dict[str, str] = {}
        for project_id, pat in workspaces.items():
            if not pat or pat.startswith("pat-"):
                raise ValueError(f"PAT of {project_id!r}: give the value without 'pat-'")
            if pat in by_pat:
                raise ValueError(f"PAT of {project_id!r} also used by {by_pat[pat]!r}")
            by_pat[pat] = project_id
        self.workspaces: dict[str, str] = dict(workspaces)
        self._project_by_pat = by_pat
        self.fixed_today: date | None = today  # mutable: tests may move the calendar
        self.faults: Faults = faults if faults is not None else Faults()
        self.today_revision = 0
        self.verbose = verbose
        self._address = (host, port)
        self._lock = threading.Lock()
        self._number = 0
        self._cursored = 0
        self._windows: dict[str, list[float]] = {}
        # Bumped by clear_log(): a request still in flight from before (say a slow one
        # whose client timed out) must not leak into the fresh log or counters.
        self._generation = 0
        self._log: list[LoggedRequest] = []
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._server = _Server(self._address, self)
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # fast stop() in tests
            name="indigo-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving and cut every open connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.shutdown()
        with server.connections_lock:
            open_connections = list(server.connections)
        for connection in open_connections:
            with contextlib.suppress(OSError):  # already closed by the client
                connection.shutdown(socket.SHUT_RDWR)
        server.server_close()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None

    def __enter__(self) -> Emulator:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    # -- state for tests ---------------------------------------------------------

    def today(self) -> date:
        """The platform's current day: the fixed one, else today's UTC date."""
        return self.fixed_today or datetime.now(timezone.utc).date()

    def requests(
        self, stream: str | None = None, project_id: str | None = None
    ) -> list[LoggedRequest]:
        """The request log in request-number order, optionally filtered."""
        with self._lock:
            log = sorted(self._log, key=lambda entry: entry.number)
        return [
            entry
            for entry in log
            if (stream is None or entry.stream == stream)
            and (project_id is None or entry.project_id == project_id)
        ]

    def clear_log(self) -> None:
        """Forget the log and restart every counter: request numbers, cursored
        requests and rate-limit windows, so each test run starts fresh."""
        with self._lock:
            self._log.clear()
            self._number = 0
            self._cursored = 0
            self._windows.clear()
            self._generation += 1

    def expected_row(
        self, project_id: str, stream: str, day: date, *, with_faults: bool = False
    ) -> dict[str, Any]:
        """Exactly the row the API serves for ``day`` (no project_id). Field faults
        (renamed/extra fields) are applied only when ``with_faults``."""
        if project_id not in self.workspaces:
            raise ValueError(f"unknown project_id {project_id!r}")
        if stream not in ENDPOINTS:
            raise ValueError(f"unknown stream {stream!r}")
        today = self.today()
        if day > today:
            raise ValueError(f"{day} is after today ({today}): the API never serves it")
        revision = self.today_revision if day == today else 0
        row = {"date": day.isoformat(), **_metrics(project_id, stream, day, revision)}
        return self._with_field_faults(self.faults, stream, row) if with_faults else row

    def expected_rows(
        self,
        project_id: str,
        stream: str,
        start: date,
        end_inclusive: date,
        *,
        with_faults: bool = False,
    ) -> list[dict[str, Any]]:
        """Rows for every day in ``[start, end_inclusive]``, ascending."""
        days = (end_inclusive - start).days + 1
        return [
            self.expected_row(project_id, stream, start + timedelta(n), with_faults=with_faults)
            for n in range(days)
        ]

    # -- request handling --------------------------------------------------------

    def _serve(self, handler: _Handler, method: str) -> None:
        arrived = handler.arrived
        faults = self.faults  # one consistent view even if a test swaps it mid-request
        length = handler.headers.get("Content-Length")
        if length and length.isdigit():
            handler.rfile.read(int(length))  # drain a body so keep-alive stays in sync
        split = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        stream, project_id = _route(split.path)
        auth_headers = handler.headers.get_all("Authorization") or []
        pat_project = self._pat_project(auth_headers)
        with self._lock:
            self._number += 1
            number = self._number
            generation = self._generation

        if number in faults.slow_on and faults.slow_s > 0:
            time.sleep(faults.slow_s)
        try:
            reply = self._answer(
                faults,
                (number, generation),
                method,
                handler.path,
                stream,
                project_id,
                pat_project,
                params,
            )
            reply.headers = (*reply.headers, ("X-Request-Number", str(number)))
        except Exception:
            # A bug here must be loud, not look like an injected 500 that a tap retries.
            traceback.print_exc()
            reply = _error(500, "Emulator bug: see its stderr", "emulator_bug")
        if faults.latency_s > 0:
            # The injected latency is the server's whole answer time, building the page
            # included, so a benchmark's round trip is the latency it asked for rather
            # than latency plus this emulator's own Python time.
            time.sleep(max(0.0, faults.latency_s - (time.monotonic() - arrived)))

        entry = LoggedRequest(
            number=number,
            stream=stream,
            project_id=project_id,
            path=split.path,
            params=params,
            status=0 if reply.drop else reply.status,
            authorized=pat_project is not None and pat_project == project_id,
            fault=reply.fault,
            at=arrived,
            auth_header=bool(auth_headers),
        )
        # Logged before the reply is written, so a test reading the log right after its
        # response arrived always finds the entry.
        with self._lock:
            if generation == self._generation:
                self._log.append(entry)
        if self.verbose:
            print(f"#{number} {method} {handler.path} -> {entry.status}", file=sys.stderr)

        if reply.drop:
            handler.close_connection = True
            return
        handler.send_response(reply.status)
        handler.send_header("Content-Type", reply.content_type)
        handler.send_header("Content-Length", str(len(reply.body)))
        for name, value in reply.headers:
            handler.send_header(name, value)
        handler.end_headers()
        handler.wfile.write(reply.body)

    def _pat_project(self, headers: list[str]) -> str | None:
        """The workspace whose PAT the request carries, or None (401)."""
        if len(headers) != 1:
            return None
        match = _AUTH_RE.fullmatch(headers[0])
        return self._project_by_pat.get(match.group(1)) if match else None

    def _answer(
        self,
        faults: Faults,
        numbering: tuple[int, int],
        method: str,
        raw_path: str,
        stream: str | None,
        project_id: str | None,
        pat_project: str | None,
        params: dict[str, str],
    ) -> _Reply:
        number, generation = numbering
        # Infrastructure faults come first: a proxy or crashing app server answers
        # before the API ever looks at the path or the token.
        if number in faults.drop_connection_on:
            return _Reply(0, fault="drop_connection", drop=True)
        if number in faults.html_502_on:
            return _Reply(502, _HTML_502, "text/html", fault="html_502")
        if number in faults.garbage_json_on:
            return _Reply(200, _GARBAGE, fault="garbage_json")
        if faults.status_every_n and number % faults.status_every_n == 0:
            body = _INTERNAL_ERROR
            if faults.status_message is not None:
                body = {"status": "ERROR", "message": faults.status_message}
            return _json_reply(faults.status_code, body, "status_every_n")
        if faults.random_error_rate > 0 and (
            # Keyed on the request number, not a shared RNG, so the outcome does not
            # depend on which thread drew first.
            _unit("random-error", faults.seed, number) < faults.random_error_rate
        ):
            return _json_reply(500, _INTERNAL_ERROR, "random_error")
        if faults.redirect_to is not None:
            location = faults.redirect_to.rstrip("/") + raw_path
            return _Reply(302, b"", "text/plain", (("Location", location),), "redirect")

        if stream is None or project_id is None:
            return _error(404, "Not found")
        if method != "GET":
            return _error(405, "Method not allowed")
        if pat_project is None:
            return _json_reply(401, {"status": False, "message": "unauthenticated"})
        if pat_project != project_id:
            return _json_reply(403, {"status": False, "message": "unauthorized"})
        limited = self._rate_limited(faults, generation, pat_project)
        if limited is not None:
            return limited
        return self._page(faults, generation, ENDPOINTS[stream], project_id, params)

    def _rate_limited(self, faults: Faults, generation: int, pat_project: str) -> _Reply | None:
        if faults.rate_limit is None:
            return None
        max_requests, window_s = faults.rate_limit
        now = time.monotonic()
        with self._lock:
            # Keyed by workspace, which is one-to-one with its PAT; the PAT itself is
            # never stored.
            recent = [t for t in self._windows.get(pat_project, []) if t > now - window_s]
            recent.append(now)
            if generation == self._generation:
                self._windows[pat_project] = recent
            over = len(recent) > max_requests
        if not over:
            return None
        retry = faults.retry_after_s
        body = {"status": "error", "message": "rate limit exceeded", "retry_after": retry}
        header = faults.retry_after_header_value
        if header is None and faults.retry_after_header:
            header = str(retry)
        headers = (("Retry-After", header),) if header is not None else ()
        return _json_reply(429, body, "rate_limit", headers=headers)

    def _page(
        self,
        faults: Faults,
        generation: int,
        spec: EndpointSpec,
        project_id: str,
        params: dict[str, str],
    ) -> _Reply:
        if not params.get("from") or not params.get("to"):
            return _error(400, "Missing required params: from, to")
        start, end = _parse_day(params, "from"), _parse_day(params, "to")
        if start is None or end is None:
            bad = "from" if start is None else "to"
            return _error(400, f"Invalid date for '{bad}': {params[bad]!r}, expected YYYY-MM-DD")
        if start >= end:
            return _error(400, "'from' must be before 'to' ('to' is exclusive)")
        span = (end - start).days
        if span > MAX_SPAN_DAYS:
            return _error(400, f"Date range too long: {span} days, at most {MAX_SPAN_DAYS}")
        today = self.today()
        if end > today + timedelta(days=1):
            return _error(400, f"'to' is {end}, after {today + timedelta(days=1)}: no future days")
        raw_limit = params.get("limit")
        if raw_limit is None:
            limit = spec.default_limit
        elif _LIMIT_RE.fullmatch(raw_limit) and 1 <= int(raw_limit) <= MAX_LIMIT:
            limit = int(raw_limit)
        else:
            return _error(400, f"Invalid limit: {raw_limit!r}, expected an integer 1-{MAX_LIMIT}")

        # The cursor binds the whole query, so a cursor replayed on another range,
        # page size, stream or workspace is refused like an expired one.
        query = {
            "from": start.isoformat(),
            "to": end.isoformat(),
            "limit": limit,
            "stream": spec.stream,
            "project": project_id,
        }
        page_start = start
        raw_cursor = params.get(spec.cursor_param)  # the other name is just ignored
        if raw_cursor is not None:
            with self._lock:
                if generation == self._generation:  # see clear_log()
                    self._cursored += 1
                cursored = self._cursored
            if faults.invalid_cursor_always or cursored == faults.invalid_cursor_on_nth_cursored:
                return _error(400, "Invalid cursor", "invalid_cursor")
            cursor_day = _read_cursor(raw_cursor, query)
            if cursor_day is None:
                return _error(400, "Invalid cursor")
            page_start = cursor_day

        page_end = min(page_start + timedelta(days=limit), end)
        rows = [
            self._with_field_faults(
                faults,
                spec.stream,
                {
                    "date": day.isoformat(),
                    **_metrics(
                        project_id,
                        spec.stream,
                        day,
                        self.today_revision if day == today else 0,
                    ),
                },
            )
            for day in (page_start + timedelta(n) for n in range((page_end - page_start).days))
        ]
        envelope: dict[str, Any] = {
            "status": "OK",
            "data": rows,
            "metadata": {
                "next_cursor": _make_cursor(query, page_end) if page_end < end else None,
                spec.total_key: span,
            },
        }
        applied = [
            name
            for name, on in (
                ("renamed_fields", spec.stream in faults.renamed_fields),
                ("extra_fields", spec.stream in faults.extra_fields),
            )
            if on
        ]
        if faults.drop_envelope_key is not None and _drop_key(envelope, faults.drop_envelope_key):
            applied.append("drop_envelope_key")
        return _json_reply(200, envelope, ",".join(applied) or None)

    @staticmethod
    def _with_field_faults(faults: Faults, stream: str, row: dict[str, Any]) -> dict[str, Any]:
        renames = faults.renamed_fields.get(stream, {})
        changed = {renames.get(name, name): value for name, value in row.items()}
        changed.update(faults.extra_fields.get(stream, {}))
        return changed


def _drop_key(envelope: dict[str, Any], dotted: str) -> bool:
    """Remove a top-level key, or a nested one as ``metadata.next_cursor``."""
    *parents, leaf = dotted.split(".")
    target: Any = envelope
    for parent in parents:
        target = target.get(parent) if isinstance(target, dict) else None
    if isinstance(target, dict) and leaf in target:
        del target[leaf]
        return True
    return False


def _workspace_arg(text: str) -> tuple[str, str]:
    project_id, sep, pat = text.partition(":")
    if not sep or not project_id or not pat:
        raise argparse.ArgumentTypeError("expected PROJECT_ID:PAT")
    return project_id, pat.removeprefix("pat-")


def _rate_arg(text: str) -> tuple[int, float]:
    count, _, window = text.partition("/")
    try:
        return int(count), float(window)
    except ValueError:
        raise argparse.ArgumentTypeError("expected MAX/SECONDS, e.g. 100/60") from None


def main(argv: list[str] | None = None) -> int:
    """Serve the emulator until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.emulator", description="Local Indigo Analytics REST API."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--workspace",
        action="append",
        type=_workspace_arg,
        metavar="ID:PAT",
        help="repeatable; default demo-workspace:demo-token",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="answer time per request, page included"
    )
    parser.add_argument("--rate-limit", type=_rate_arg, metavar="MAX/SECONDS")
    parser.add_argument("--retry-after", type=int, default=60)
    parser.add_argument(
        "--retry-after-header", action="store_true", help="also send a Retry-After header"
    )
    parser.add_argument("--today", type=date.fromisoformat, help="fixed platform day")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)

    faults = Faults(
        latency_s=args.latency_ms / 1000,
        rate_limit=args.rate_limit,
        retry_after_s=args.retry_after,
        retry_after_header=args.retry_after_header,
    )
    workspaces = dict(args.workspace or [("demo-workspace", "demo-token")])
    emulator = Emulator(
        workspaces,
        today=args.today,
        faults=faults,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with emulator:
        # The URL alone on stdout, so a demo script can read it from the first line.
        print(emulator.base_url, flush=True)
        print(f"workspaces: {', '.join(workspaces)}; Ctrl-C to stop", file=sys.stderr)
        while not stopping.wait(0.5):
            pass
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
