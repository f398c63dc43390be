"""The :class:`Emulator`: lifecycle, request numbering and log, auth, rate limit,
request-level faults, and the rows tests expect."""

from __future__ import annotations

import collections
import contextlib
import gzip
import re
import socket
import ssl
import sys
import threading
import time
import traceback
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from types import TracebackType
from typing import Any, cast
from urllib.parse import SplitResult, parse_qs, parse_qsl, urlencode, urlsplit

from tests.emulator.contract import ENDPOINTS, route, unit
from tests.emulator.faults import Faults
from tests.emulator.pages import build_page, day_row, overridden, with_field_faults
from tests.emulator.server import Handler, Reply, Server, error, json_reply

_INTERNAL_ERROR = {"status": "ERROR", "message": "Internal server error"}
_HTML_502 = (
    b"<html>\r\n<head><title>502 Bad Gateway</title></head>\r\n<body>\r\n"
    b"<center><h1>502 Bad Gateway</h1></center>\r\n<hr><center>nginx</center>\r\n"
    b"</body>\r\n</html>\r\n"
)
_GARBAGE = b'{"status": "OK", "data": [{"date": "2026-01-01", "inbound_mess'
_AUTH_RE = re.compile(r"Bearer pat-(\S+)")


@dataclass(frozen=True)
class LoggedRequest:
    """One request as the emulator saw it; the Authorization header is never kept."""

    number: int
    stream: str | None
    project_id: str | None
    path: str
    params: dict[str, str]
    status: int  # 0: dropped without a response; 100: endless_continue
    authorized: bool  # the PAT is valid for the path's project_id
    fault: str | None
    at: float
    #: Whether any Authorization header came with the request (its value is not kept).
    auth_header: bool = False


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
        shared_pats: bool = False,
        tls: ssl.SSLContext | None = None,
    ) -> None:
        """``workspaces`` maps project_id to its PAT value *without* the ``pat-`` prefix.

        A PAT opens one workspace, unless ``shared_pats``: then workspaces listed with the
        same PAT all accept it, and share its rate limit (keyed by PAT, as the API's is).
        With ``tls`` (a server-side context) it serves https.
        """
        by_pat: dict[str, str] = {}
        scope: dict[str, set[str]] = {}
        for project_id, pat in workspaces.items():
            if not pat or pat.startswith("pat-"):
                raise ValueError(f"PAT of {project_id!r}: give the value without 'pat-'")
            if pat in by_pat and not shared_pats:
                raise ValueError(f"PAT of {project_id!r} also used by {by_pat[pat]!r}")
            owner = by_pat.setdefault(pat, project_id)
            scope.setdefault(owner, set()).add(project_id)
        self.workspaces: dict[str, str] = dict(workspaces)
        # A PAT is known by its first workspace ("owner"); the PAT itself is never kept.
        self._project_by_pat = by_pat
        self._scope = {owner: frozenset(ids) for owner, ids in scope.items()}
        self.fixed_today: date | None = today  # mutable: tests may move the calendar
        self.faults: Faults = faults if faults is not None else Faults()
        self.today_revision = 0
        self.verbose = verbose
        self._address = (host, port)
        self._tls = tls
        self._lock = threading.Lock()
        self._number = 0
        #: Per-generation counts: cursored requests, pages hit by page-content faults.
        self._counts: collections.Counter[str] = collections.Counter()
        self._windows: dict[str, list[float]] = {}
        # Bumped by clear_log(): a request still in flight from before (say a slow one
        # whose client timed out) must not leak into the fresh log or counters.
        self._generation = 0
        self._log: list[LoggedRequest] = []
        self._server: Server | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------

    def start(self) -> Emulator:
        """Bind and serve in a background thread; returns self."""
        if self._server is not None:
            raise RuntimeError("emulator already started")
        self._server = Server(self._address, self)
        if self._tls is not None:
            # The handshake happens in each connection's thread, at its first read.
            self._server.socket = self._tls.wrap_socket(
                self._server.socket, server_side=True, do_handshake_on_connect=False
            )
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},  # fast stop() in tests
            name="indigo-emulator",
            daemon=True,
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving, end every endless or trickled answer, cut every connection."""
        server, self._server = self._server, None
        if server is None:
            return
        server.stopping.set()
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
        """``http(s)://host:port`` of the running server."""
        if self._server is None:
            raise RuntimeError("emulator not started")
        host, port = self._server.server_address[:2]
        return f"{'https' if self._tls else 'http'}://{host!s}:{port}"

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
        """Forget the log and restart every counter: request numbers, cursored requests,
        pages hit by page-content faults and rate-limit windows, so each run starts fresh."""
        with self._lock:
            self._log.clear()
            self._number = 0
            self._counts.clear()
            self._windows.clear()
            self._generation += 1

    def expected_row(
        self, project_id: str, stream: str, day: date, *, with_faults: bool = False
    ) -> dict[str, Any]:
        """Exactly the row the API serves for ``day`` (no project_id), with ``revisions``
        and ``today_revision``. Field faults (value overrides, renamed and extra fields)
        are applied only when ``with_faults``, whatever ``page_fault_limit``."""
        if project_id not in self.workspaces:
            raise ValueError(f"unknown project_id {project_id!r}")
        if stream not in ENDPOINTS:
            raise ValueError(f"unknown stream {stream!r}")
        today, faults = self.today(), self.faults
        if day > today and not faults.zero_fill_future:
            raise ValueError(f"{day} is after today ({today}): the API never serves it")
        row = day_row(project_id, stream, day, today, self.today_revision, faults)
        if not with_faults:
            return row
        return with_field_faults(faults, stream, row, overridden(faults, stream, row["date"]))

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

    def _count(self, name: str, generation: int) -> int:
        """Count one more ``name`` (unless from a cleared generation); the new count."""
        with self._lock:
            if generation == self._generation:  # see clear_log()
                self._counts[name] += 1
            return self._counts[name]

    def _serve(self, handler: Handler, method: str) -> None:
        arrived = handler.arrived
        faults = self.faults  # one consistent view even if a test swaps it mid-request
        length = handler.headers.get("Content-Length")
        if length and length.isdigit():
            handler.rfile.read(int(length))  # drain a body so keep-alive stays in sync
        split = urlsplit(handler.path)
        params = {k: v[0] for k, v in parse_qs(split.query, keep_blank_values=True).items()}
        auth_headers = handler.headers.get_all("Authorization") or []
        pat_project = self._pat_project(auth_headers)
        with self._lock:
            self._number += 1
            number = self._number
            generation = self._generation

        if number in faults.slow_on and faults.slow_s > 0:
            time.sleep(faults.slow_s)
        server = cast(Server, handler.server)
        origin = "http://" + (
            handler.headers.get("Host") or f"{server.server_name}:{server.server_port}"
        )
        stream, project_id = route(split.path)
        try:
            reply = self._answer(
                faults,
                (number, generation),
                method,
                split,
                origin,
                (stream, project_id, pat_project),
                params,
            )
        except Exception:
            # A bug here must be loud, not look like an injected 500 that a tap retries.
            traceback.print_exc()
            reply = error(500, "Emulator bug: see its stderr", "emulator_bug")
        if faults.echo_token and auth_headers:
            reply = _echo(reply, ", ".join(auth_headers))
        if faults.corrupt_gzip and reply.status == 200 and reply.body:
            # Deflate data inverted after a valid header: zlib fails on the first block.
            packed = gzip.compress(reply.body)
            broken = packed[:10] + bytes(b ^ 0xFF for b in packed[10:])  # a valid gzip header
            gzipped = (("Content-Encoding", "gzip"),)
            reply = Reply(200, broken, headers=gzipped, fault="corrupt_gzip")
        reply.headers = (*reply.headers, ("X-Request-Number", str(number)))
        reply.close, reply.http10 = faults.connection_close, faults.http10
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
            authorized=pat_project is not None and project_id in self._scope[pat_project],
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
        trickled = faults.trickle_s > 0 and (not faults.trickle_on or number in faults.trickle_on)
        handler.header_trickle_s = faults.trickle_s if trickled and faults.trickle_headers else 0.0
        handler.send_reply(reply, faults.trickle_s if trickled else 0.0)

    def _pat_project(self, headers: list[str]) -> str | None:
        """The owner workspace of the PAT the request carries, or None (401)."""
        if len(headers) != 1:
            return None
        match = _AUTH_RE.fullmatch(headers[0])
        return self._project_by_pat.get(match.group(1)) if match else None

    def _answer(
        self,
        faults: Faults,
        numbering: tuple[int, int],
        method: str,
        split: SplitResult,
        origin: str,
        who: tuple[str | None, str | None, str | None],
        params: dict[str, str],
    ) -> Reply:
        """The answer, before echo_token, latency and trickling; ``who`` is the routed
        stream and project_id and the project_id of the request's PAT."""
        number, generation = numbering
        stream, project_id, pat_project = who
        # Infrastructure faults come first: a proxy or crashing app server answers
        # before the API ever looks at the path or the token.
        if number in faults.drop_connection_on:
            return Reply(0, fault="drop_connection", drop=True)
        if number in faults.html_502_on:
            return Reply(502, _HTML_502, "text/html", fault="html_502")
        if number in faults.garbage_json_on:
            return Reply(200, _GARBAGE, fault="garbage_json")
        if faults.status_every_n and number % faults.status_every_n == 0:
            body = _INTERNAL_ERROR
            if faults.status_message is not None:
                body = {"status": "ERROR", "message": faults.status_message}
            return json_reply(faults.status_code, body, "status_every_n")
        if faults.random_error_rate > 0 and (
            # Keyed on the request number, not a shared RNG, so the outcome does not
            # depend on which thread drew first.
            unit("random-error", faults.seed, number) < faults.random_error_rate
        ):
            return json_reply(500, _INTERNAL_ERROR, "random_error")
        raw_path = split.path + (f"?{split.query}" if split.query else "")
        if faults.redirect_to is not None:
            location = faults.redirect_to.rstrip("/") + raw_path
            return Reply(302, b"", "text/plain", (("Location", location),), "redirect")
        if faults.redirect_loop:
            return _redirect(origin, split, _hop(params) + 1, "redirect_loop")

        if stream is None or project_id is None:
            return error(404, "Not found")
        if method != "GET":
            return error(405, "Method not allowed")
        if pat_project is None:
            return json_reply(401, {"status": False, "message": "unauthenticated"})
        if project_id not in self._scope[pat_project]:
            return json_reply(403, {"status": False, "message": "unauthorized"})
        limited = self._rate_limited(faults, generation, pat_project)
        if limited is not None:
            return limited
        pair_status = faults.pair_status.get(f"{stream}/{project_id}")
        if pair_status is not None:
            return error(pair_status, f"Injected {pair_status} for {stream}", "pair_status")
        if faults.redirect_same_origin and "_hop" not in params:
            return _redirect(origin, split, 1, "redirect_same_origin")
        return build_page(self, faults, numbering, ENDPOINTS[stream], project_id, params)

    def _rate_limited(self, faults: Faults, generation: int, pat_project: str) -> Reply | None:
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
        return json_reply(429, body, "rate_limit", headers=headers)


def _hop(params: Mapping[str, str]) -> int:
    raw = params.get("_hop", "0")
    return int(raw) if raw.isdigit() else 0


def _redirect(origin: str, split: SplitResult, hop: int, fault: str) -> Reply:
    """307 to the same path on ``origin`` with ``_hop=hop`` (other parameters kept)."""
    pairs = [(k, v) for k, v in parse_qsl(split.query, keep_blank_values=True) if k != "_hop"]
    location = f"{origin}{split.path}?{urlencode([*pairs, ('_hop', str(hop))])}"
    return Reply(307, b"", "text/plain", (("Location", location),), fault)


def _echo(reply: Reply, authorization: str) -> Reply:
    """``reply`` quoting the Authorization header in its error message and in X-Echo."""
    payload = reply.payload
    is_error = reply.status >= 400 or (
        isinstance(payload, dict) and payload.get("status") == "ERROR"
    )
    if is_error and isinstance(payload, dict) and "message" in payload:
        message = f"token {authorization} is not valid; {payload['message']}"
        rewritten = json_reply(reply.status, {**payload, "message": message}, reply.fault)
        rewritten.headers = reply.headers
        reply = rewritten
    reply.headers = (*reply.headers, ("X-Echo", authorization))
    return reply
