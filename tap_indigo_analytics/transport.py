"""HTTP for the whole run: pooled connections, one deadline per try, bounded bodies.

``requests`` bounds each socket read (``timeout``), never a whole answer: a body sent a
byte at a time, an endless run of ``100 Continue`` lines or an endless chunked body
keeps a try alive for ever. No well-kept library adds a total deadline to ``requests``
(urllib3's ``Timeout(total=…)`` still resets per read; aiohttp and httpx would mean a
second HTTP stack), so this module adds the smallest piece that works: one watchdog
thread, sleeping on a heap of deadlines, that shuts down the socket of any try past
its deadline. It holds the socket itself, not only the connection: for an answer with
``Connection: close`` (or in HTTP/1.0) ``http.client`` hands the socket from the
connection to the response. The blocked read then fails at once, and the try is
reported as a timeout, whatever stage it was in (a cut in the headers included).

Bodies: at most ``MAX_BODY_BYTES`` per answer, and past ``FREE_BODY_BYTES`` an answer
needs one of ``LARGE_ANSWERS`` run-wide slots, held until its page is parsed, so 64
workers on hostile answers hold a few large bodies at once, not 64.

Where to connect and whom to trust is resolved once per run for ``base_url``, the way
``requests`` does for an ordinary call (proxies from ``HTTPS_PROXY``/``HTTP_PROXY``/
``ALL_PROXY``/``NO_PROXY``; CAs from ``REQUESTS_CA_BUNDLE``/``CURL_CA_BUNDLE``), plus
``SSL_CERT_FILE`` and the ``ca_bundle`` setting, which comes first.

Redirects are not followed here (``allow_redirects=False``): the caller follows them
itself so that every hop takes a slot of the token's request budget.
"""

from __future__ import annotations

import contextlib
import datetime
import heapq
import itertools
import logging
import os
import socket
import threading
import time
import typing as t
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3
from requests.adapters import HTTPAdapter
from requests.cookies import RequestsCookieJar
from requests.structures import CaseInsensitiveDict
from requests.utils import get_encoding_from_headers
from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

#: A 365-day page is about 60 KB; anything near this is not an Indigo page.
MAX_BODY_BYTES = 32 * 1024 * 1024
#: Connecting gets its own, shorter bound: an unreachable host should fail fast.
CONNECT_TIMEOUT_S = 10.0
#: Bytes any answer may hold without a large-answer slot (60 times a 365-day page)...
FREE_BODY_BYTES = 1024 * 1024
#: ...and answers of the whole run that may grow past it at once.
LARGE_ANSWERS = 2
_CHUNK = 64 * 1024
#: Where ``requests`` looks for a CA bundle, in its order, then OpenSSL's variable.
CA_BUNDLE_VARIABLES = ("REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE")


# urllib3 logs a traceback at WARNING for headers it cannot parse (a cut in the headers);
# the try is reported in one line anyway (a timeout, or a broken answer that is retried).
logging.getLogger("urllib3.connection").setLevel(logging.ERROR)


class BodyTooLargeError(Exception):
    """The answer's body is over ``MAX_BODY_BYTES`` (declared or received)."""


class _Try:
    """One try in flight: its deadline and the connection and sockets it uses."""

    __slots__ = ("connection", "deadline", "expired", "finished", "sockets")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: HTTPConnection | None = None
        self.sockets: list[socket.socket] = []
        self.expired = False
        self.finished = False

    def cut(self) -> None:
        """Shut down every socket of the try: a blocked read fails at once."""
        sockets = list(self.sockets)
        if self.connection is not None and self.connection.sock is not None:
            sockets.append(self.connection.sock)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by its owner
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """Cuts every try that outlives its deadline: one thread, a heap, a condition wait."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, _Try]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, attempt: _Try) -> None:
        with self._cv:
            heapq.heappush(self._heap, (attempt.deadline, next(self._order), attempt))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="indigo-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is attempt:
                self._cv.notify()  # the earliest deadline changed

    def hold(self, attempt: _Try, connection: HTTPConnection) -> None:
        """The try uses ``connection`` and, once connected, its socket."""
        with self._cv:
            if attempt.finished:
                return
            attempt.connection = connection
            if connection.sock is not None and connection.sock not in attempt.sockets:
                attempt.sockets.append(connection.sock)
            if attempt.expired:
                attempt.cut()

    def finish(self, attempt: _Try) -> bool:
        """The try is over (before its connection goes back to the pool): never cut it
        from now on. Whether it had expired."""
        with self._cv:
            attempt.finished = True
            attempt.connection = None
            attempt.sockets.clear()
            return attempt.expired

    def _run(self) -> None:
        with self._cv:
            while True:
                if not self._heap:
                    self._cv.wait()
                    continue
                deadline, _, attempt = self._heap[0]
                if attempt.finished:
                    heapq.heappop(self._heap)
                    continue
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                heapq.heappop(self._heap)
                attempt.expired = True
                attempt.cut()  # under the lock: finish() cannot hand the socket on meanwhile


_watchdog = _Watchdog()
_current = threading.local()


class _WatchedMixin:
    """Tells the calling thread's try which connection and socket it is using."""

    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        attempt: _Try | None = getattr(_current, "attempt", None)
        connection = t.cast("HTTPConnection", self)
        if attempt is not None:
            _watchdog.hold(attempt, connection)
        super().request(*args, **kwargs)  # type: ignore[misc]
        if attempt is not None:  # connected now: keep the socket, whoever owns it later
            _watchdog.hold(attempt, connection)


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class _HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class _HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection


class _Adapter(HTTPAdapter):
    def build_response(self, req: requests.PreparedRequest, resp: t.Any) -> BodyResponse:
        """``HTTPAdapter.build_response`` as a :class:`BodyResponse`, without the cookie
        jar: Indigo sets no cookies, and extracting them parsed the URL twice per answer
        (profiled at about a tenth of a millisecond per request at 64 workers)."""
        response = BodyResponse()
        response.status_code = resp.status
        response.headers = CaseInsensitiveDict(resp.headers)
        response.encoding = get_encoding_from_headers(response.headers)
        response.raw = resp
        response.reason = resp.reason
        response.url = req.url.decode() if isinstance(req.url, bytes) else str(req.url)
        response.request = req
        response.connection = self
        return response

    def init_poolmanager(
        self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: t.Any
    ) -> None:
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = {"http": _HTTPPool, "https": _HTTPSPool}


class BodyResponse(requests.Response):
    """A response whose body was read whole by the transport.

    ``content`` is served from the bytes read (``requests`` has no public way to set
    it), and ``close()`` lets them go with the answer's large-answer slot: call it once
    the body is parsed.
    """

    def __init__(self) -> None:
        # ``requests.Response.__init__`` without its cookie jar, built per answer and
        # never read here (Indigo sets no cookies; nothing on this path reads them).
        self._content = None
        self._content_consumed = False
        self._next = None
        self.status_code = 0
        self.headers = CaseInsensitiveDict()
        self.raw = None
        self.url = ""
        self.encoding = None
        self.history = []
        self.reason = ""
        self.elapsed = datetime.timedelta(0)
        self._body = b""
        self._release: t.Callable[[], None] = _nothing

    def hold(self, body: bytes, release: t.Callable[[], None]) -> None:
        """Keep the body read, and what lets its large-answer slot go."""
        self._body = body
        self._release = release

    def release_connection(self) -> None:
        """Hand the connection back to the pool (or close it, if the body was not read)."""
        requests.Response.close(self)

    @property
    def cookies(self) -> RequestsCookieJar:  # type: ignore[override]
        """An empty jar, made only if asked for."""
        return RequestsCookieJar()

    @property
    def content(self) -> bytes:
        """The body, as received (decoded from gzip/deflate)."""
        return self._body

    def close(self) -> None:
        """Let the body and its slot go (the page was parsed)."""
        self._body = b""
        release, self._release = self._release, _nothing
        release()


def _nothing() -> None:
    pass


class Transport:
    """Sends prepared requests; each try ends within ``deadline_s`` with its whole body."""

    def __init__(
        self,
        *,
        pool_size: int,
        deadline_s: float,
        base_url: str | None = None,
        ca_bundle: str | None = None,
    ) -> None:
        self.deadline_s = deadline_s
        self.session = requests.Session()
        self.session.trust_env = False  # resolved once below, not per request
        # One pooled connection per worker, so concurrency never reconnects per request.
        self._adapter = _Adapter(pool_connections=4, pool_maxsize=max(pool_size, 1))
        self.session.mount("http://", self._adapter)
        self.session.mount("https://", self._adapter)
        self.verify: bool | str = ca_bundle or _ca_from_environment() or True
        self.proxies: dict[str, str] = {}
        #: The proxy every request goes through (None: straight to the host).
        self.proxy: str | None = None
        if base_url is not None:
            self.proxies = requests.utils.get_environ_proxies(base_url)
            self.proxy = requests.utils.select_proxy(base_url, self.proxies)
        self._large = threading.BoundedSemaphore(LARGE_ANSWERS)

    def send(self, prepared: requests.PreparedRequest) -> BodyResponse:
        """One HTTP exchange, redirects not followed, body read whole.

        Call ``close()`` on the answer once its body is parsed.

        Raises:
            requests.exceptions.Timeout: the try outlived ``deadline_s`` (any stage).
            requests.exceptions.RequestException: connection failures, as ``requests``.
            BodyTooLargeError: the body is over ``MAX_BODY_BYTES``.
        """
        attempt = _Try(time.monotonic() + self.deadline_s)
        _current.attempt = attempt
        _watchdog.add(attempt)
        large = _Slot(self._large, attempt)
        try:
            with self._as_timeout(attempt):
                # The adapter itself, not Session.send: no cookies, hooks or redirects to
                # handle here, and Session.send's per-call merging cost about a third of
                # a millisecond per request (profiled at 64 workers).
                response = self._adapter.send(
                    prepared,
                    stream=True,
                    timeout=(min(CONNECT_TIMEOUT_S, self.deadline_s), self.deadline_s),
                    verify=self.verify,
                    proxies=self.proxies,
                )
                assert isinstance(response, BodyResponse)
                try:
                    content = b"".join(_body(response, large))
                except BaseException:
                    _watchdog.finish(attempt)
                    response.release_connection()  # not read whole: closed, not reused
                    raise
                if _watchdog.finish(attempt):
                    # Cut by the deadline, yet no read failed: the headers or the body
                    # ended early at the cut. Never a complete answer.
                    response.raw.close()
                    raise OSError("cut at the deadline")
                response.release_connection()  # read whole: back to the pool
                response.hold(content, large.release)
                return response
        except BaseException:
            large.release()
            raise
        finally:
            _watchdog.finish(attempt)
            _current.attempt = None

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


class _Slot:
    """One answer's claim on a large-answer slot, taken when it passes FREE_BODY_BYTES."""

    def __init__(self, slots: threading.BoundedSemaphore, attempt: _Try) -> None:
        self._slots = slots
        self._attempt = attempt
        self._held = False

    def take(self) -> None:
        wait = self._attempt.deadline - time.monotonic()
        if wait <= 0 or not self._slots.acquire(timeout=wait):
            self._attempt.expired = True  # a timeout, as any try past its deadline
            raise OSError("no large-answer slot within the deadline")
        self._held = True

    def release(self) -> None:
        if self._held:
            self._held = False
            self._slots.release()


def _ca_from_environment() -> str | None:
    for name in CA_BUNDLE_VARIABLES:
        value = os.environ.get(name)
        if value:
            return value
    return None


def describe_proxy(proxy: str) -> str:
    """``scheme://host:port`` of a proxy URL, without any credentials in it."""
    parts = urlsplit(proxy if "://" in proxy else f"http://{proxy}")
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{parts.hostname}{port}"


def _body(response: requests.Response, large: _Slot) -> Iterator[bytes]:
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
            if received <= FREE_BODY_BYTES < received + len(chunk):
                large.take()
            received += len(chunk)
            if received > MAX_BODY_BYTES:
                raise BodyTooLargeError(f"sent more than {MAX_BODY_BYTES:,} bytes")
            yield chunk
    except urllib3.exceptions.ReadTimeoutError as exc:
        raise requests.exceptions.ReadTimeout(str(exc)) from None
    except urllib3.exceptions.DecodeError as exc:
        raise requests.exceptions.ContentDecodingError(_decode_reason(exc)) from None
    except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError, OSError) as exc:
        raise requests.exceptions.ChunkedEncodingError(str(exc)) from None


def _decode_reason(exc: urllib3.exceptions.DecodeError) -> str:
    """One readable line for a body that does not decompress (urllib3 gives a tuple)."""
    encoding = ""
    cause = exc.args[1] if len(exc.args) > 1 else exc.__cause__ or exc.__context__
    if exc.args and isinstance(exc.args[0], str) and "content-encoding" in exc.args[0].lower():
        head = exc.args[0]
        encoding = head.split("content-encoding:", 1)[-1].split(",", 1)[0].strip(" '\"")
    what = f"{encoding} " if encoding else ""
    return f"the {what}compressed body is corrupt ({cause or 'cannot be decoded'})"
