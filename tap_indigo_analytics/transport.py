"""HTTP for the whole run: pooled connections, one deadline per try, bounded bodies.

Each try has one deadline (deadlines.py) and goes through requests' adapter
(adapter.py), which is given the proxies and TLS settings resolved here once.

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
import logging
import os
import threading
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import requests
import urllib3

from tap_indigo_analytics.adapter import BodyResponse, OneOriginAdapter
from tap_indigo_analytics.deadlines import Attempt, current, watchdog

__all__ = [
    "MAX_BODY_BYTES",
    "BodyResponse",
    "BodyTooLargeError",
    "Transport",
    "TransportClosedError",
    "describe_proxy",
]

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


class TransportClosedError(Exception):
    """A try after the run closed its transport (a worker still on its window): never
    retried, so the worker stops instead of opening new connections nobody closes."""


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
        self._adapter = OneOriginAdapter(pool_connections=4, pool_maxsize=max(pool_size, 1))
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
        #: urllib3 clones it per request; made once instead of from a tuple each time.
        self._timeout = urllib3.Timeout(connect=min(CONNECT_TIMEOUT_S, deadline_s), read=deadline_s)

    def send(self, prepared: requests.PreparedRequest) -> BodyResponse:
        """One HTTP exchange, redirects not followed, body read whole.

        Call ``close()`` on the answer once its body is parsed.

        Raises:
            requests.exceptions.Timeout: the try outlived ``deadline_s`` (any stage).
            requests.exceptions.RequestException: connection failures, as ``requests``.
            BodyTooLargeError: the body is over ``MAX_BODY_BYTES``.
        """
        if self.closed:
            raise TransportClosedError("the run is over: no more requests")
        attempt = Attempt(time.monotonic() + self.deadline_s)
        current.attempt = attempt
        watchdog.add(attempt)
        large = _Slot(self._large, attempt)
        try:
            with self._as_timeout(attempt):
                # The adapter itself, not Session.send: no cookies, hooks or redirects to
                # handle here, and Session.send's per-call merging cost about a third of
                # a millisecond per request (profiled at 64 workers).
                response = self._adapter.send(
                    prepared,
                    stream=True,
                    timeout=self._timeout,  # type: ignore[arg-type]  # a Timeout is taken as is
                    verify=self.verify,
                    proxies=self.proxies,
                )
                assert isinstance(response, BodyResponse)
                try:
                    content = b"".join(_body(response, large))
                except BaseException:
                    watchdog.finish(attempt)
                    response.release_connection()  # not read whole: closed, not reused
                    raise
                if watchdog.finish(attempt):
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
            watchdog.finish(attempt)
            current.attempt = None

    @contextlib.contextmanager
    def _as_timeout(self, attempt: Attempt) -> Iterator[None]:
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

    @property
    def closed(self) -> bool:
        """Closed: every later try raises :class:`TransportClosedError`."""
        return self._adapter.closed

    def close(self) -> None:
        """Close every pooled connection and refuse any later try."""
        self.session.close()


class _Slot:
    """One answer's claim on a large-answer slot, taken when it passes FREE_BODY_BYTES."""

    def __init__(self, slots: threading.BoundedSemaphore, attempt: Attempt) -> None:
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
