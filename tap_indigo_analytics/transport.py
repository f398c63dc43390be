"""HTTP for the whole run: pooled connections, one deadline per try, a cap on body size.

``requests`` bounds each socket read (``timeout``), never a whole answer: a body sent a
byte at a time, an endless run of ``100 Continue`` lines or an endless chunked body
keeps a try alive for ever. No well-kept library adds a total deadline to ``requests``
(urllib3's ``Timeout(total=…)`` still resets per read; aiohttp and httpx would mean a
second HTTP stack), so this module adds the smallest piece that works: one watchdog
thread that shuts down the socket of any try past its deadline. The blocked read then
fails at once, and the try is reported as a timeout, whatever stage it was in.

Redirects are not followed here (``allow_redirects=False``): the caller follows them
itself so that every hop takes a slot of the token's request budget.
"""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import typing as t
from collections.abc import Iterator

import requests
import urllib3
from requests.adapters import HTTPAdapter
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: A 365-day page is about 60 KB; anything near this is not an Indigo page.
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Connecting gets its own, shorter bound: an unreachable host should fail fast.
CONNECT_TIMEOUT_S = 10.0
_CHUNK = 64 * 1024
_TICK_S = 0.05


class BodyTooLargeError(Exception):
    """The answer's body is over ``MAX_BODY_BYTES`` (declared or received)."""


class _Try:
    """One try in flight: its deadline and, once connected, its connection."""

    __slots__ = ("connection", "deadline", "expired")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: HTTPConnection | None = None
        self.expired = False


class _Watchdog:
    """Shuts down the socket of every try that outlives its deadline (one thread in all)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._tries: set[_Try] = set()
        self._thread: threading.Thread | None = None

    def add(self, attempt: _Try) -> None:
        with self._lock:
            self._tries.add(attempt)
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="indigo-deadlines", daemon=True
                )
                self._thread.start()

    def discard(self, attempt: _Try) -> None:
        with self._lock:
            self._tries.discard(attempt)

    def _run(self) -> None:
        while True:
            time.sleep(_TICK_S)
            now = time.monotonic()
            with self._lock:
                late = [a for a in self._tries if a.deadline <= now and not a.expired]
                for attempt in late:
                    attempt.expired = True
            for attempt in late:
                sock = attempt.connection.sock if attempt.connection is not None else None
                if sock is not None:
                    with contextlib.suppress(OSError):  # already closed by its owner
                        sock.shutdown(socket.SHUT_RDWR)


_watchdog = _Watchdog()
_current = threading.local()


class _WatchedMixin:
    """Tells the calling thread's try which connection (socket) it is using."""

    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        attempt: _Try | None = getattr(_current, "attempt", None)
        if attempt is not None:
            attempt.connection = t.cast("HTTPConnection", self)
        super().request(*args, **kwargs)  # type: ignore[misc]


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: t.Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class Transport:
    """Sends prepared requests; each try ends within ``deadline_s`` with its whole body."""

    def __init__(self, *, pool_size: int, deadline_s: float) -> None:
        self.deadline_s = deadline_s
        self.session = requests.Session()
        # One pooled connection per worker, so concurrency never reconnects per request.
        adapter = _Adapter(pool_connections=4, pool_maxsize=max(pool_size, 1))
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)

    def send(self, prepared: requests.PreparedRequest) -> requests.Response:
        """One HTTP exchange, redirects not followed, body read whole.

        Raises:
            requests.exceptions.Timeout: the try outlived ``deadline_s`` (any stage).
            requests.exceptions.RequestException: connection failures, as ``requests``.
            BodyTooLargeError: the body is over ``MAX_BODY_BYTES``.
        """
        attempt = _Try(time.monotonic() + self.deadline_s)
        _current.attempt = attempt
        _watchdog.add(attempt)
        try:
            with self._as_timeout(attempt):
                response = self.session.send(
                    prepared,
                    stream=True,
                    allow_redirects=False,
                    timeout=(min(CONNECT_TIMEOUT_S, self.deadline_s), self.deadline_s),
                )
                try:
                    content = b"".join(_body(response))
                except BaseException:
                    response.close()  # not consumed: the connection is closed, not reused
                    raise
                # What Response.content would have set, had it read the body (see _body).
                response._content = content
                response._content_consumed = True  # type: ignore[attr-defined]
                response.close()  # consumed: the connection goes back to the pool
                return response
        finally:
            _current.attempt = None
            _watchdog.discard(attempt)

    @contextlib.contextmanager
    def _as_timeout(self, attempt: _Try) -> Iterator[None]:
        """Report a try the watchdog cut, or a read that timed out mid-body, as a timeout."""
        try:
            yield
        except BodyTooLargeError:
            raise
        except (OSError, requests.exceptions.RequestException, urllib3.exceptions.HTTPError):
            if attempt.expired:
                raise requests.exceptions.ReadTimeout(
                    f"no complete answer within {self.deadline_s:g} s (request_timeout)"
                ) from None
            raise

    def close(self) -> None:
        """Close every pooled connection."""
        self.session.close()


def _body(response: requests.Response) -> Iterator[bytes]:
    """The body in chunks, refusing it past ``MAX_BODY_BYTES``.

    ``Response.content`` would read without limit; reading ``raw`` ourselves keeps
    memory bounded and maps urllib3's errors the way ``requests`` does.
    """
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise BodyTooLargeError(f"declares {int(declared):,} bytes")
    received = 0
    try:
        for chunk in response.raw.stream(_CHUNK, decode_content=True):
            received += len(chunk)
            if received > MAX_BODY_BYTES:
                raise BodyTooLargeError(f"sent more than {MAX_BODY_BYTES:,} bytes")
            yield chunk
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(str(exc)) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(str(exc)) from None
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError, OSError) as exc:
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from None
