"""How a stream's pages are fetched: a budget slot per hop, auth, redirects, checks, retries.

A :class:`PageFetcher` belongs to one stream and is used by worker threads: every page
it asks for goes through the token's budget and the run's transport (its per-try
deadline, transport.py) and the contract's error table (errors.py), retried as that
table says, and comes back as a parsed :class:`~envelope.Page`. :meth:`PageFetcher.read`
reads one window whole (windows.py) and turns what went wrong into one line.
"""

from __future__ import annotations

import logging
import random
import typing as t
from collections.abc import Callable, Generator
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urlencode, urljoin, urlsplit

import backoff
import requests
import urllib3
from requests.structures import CaseInsensitiveDict
from singer_sdk.exceptions import RetriableAPIError

from tap_indigo_analytics.envelope import Page, parse_page
from tap_indigo_analytics.errors import (
    HostError,
    IndigoError,
    RateLimitedError,
    describe_request,
    error_for_response,
)
from tap_indigo_analytics.pagination import CursorPaginator
from tap_indigo_analytics.redact import redact
from tap_indigo_analytics.transport import MAX_BODY_BYTES, BodyTooLargeError, describe_proxy
from tap_indigo_analytics.windows import Record, Window, read_window

if t.TYPE_CHECKING:
    from backoff.types import Details

    from tap_indigo_analytics.records import RecordBuilder
    from tap_indigo_analytics.run import Run
    from tap_indigo_analytics.settings import Settings
    from tap_indigo_analytics.stats import StreamStats

#: A stream's SDK hooks the fetcher asks: the URL of a window, and its query parameters.
UrlOf = Callable[[dict[str, t.Any]], str]
ParamsOf = Callable[[dict[str, t.Any], "str | None"], dict[str, t.Any]]
#: Anything with ``warning`` (a Logger, or the LoggerAdapter of newer SDKs).
Log = logging.Logger | logging.LoggerAdapter[logging.Logger]

#: 429 handling: the longest single wait we accept, and how many waits in a row.
MAX_RATE_LIMIT_WAIT_S = 300.0
MAX_RATE_LIMIT_WAITS = 10
#: Transient retries of one request stop after this long in total.
MAX_RETRY_TIME_S = 600.0
#: Connection refused, unknown host, connect timeout: fewer tries and a short total,
#: so a wrong `base_url` fails in well under 30 s.
CONNECT_MAX_TRIES = 3
CONNECT_MAX_TIME_S = 20.0
#: Same-origin redirects followed per request (each one takes a budget slot).
MAX_REDIRECTS = 5

TRANSIENT = (
    RetriableAPIError,  # 5xx and broken bodies; not 429s, which have a retry of their own
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


def is_connect_failure(exc: BaseException) -> bool:
    """Nothing answered at all: refused, unknown host, the connect timed out, or the
    proxy could not be reached or could not reach the host."""
    if isinstance(exc, (requests.exceptions.ConnectTimeout, requests.exceptions.ProxyError)):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", exc.args[0])
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def _origin(url: str) -> str:
    """``scheme://host:port``, an IPv6 host in brackets."""
    parts = urlsplit(url)
    port = parts.port or (443 if parts.scheme == "https" else 80)
    host = parts.hostname or ""
    return f"{parts.scheme}://{f'[{host}]' if ':' in host else host}:{port}"


def _proxy_why(exc: BaseException) -> str:
    """What the proxy said, briefly (``Tunnel connection failed: 502 Bad Gateway``)."""
    text = redact(exc)
    for marker in ("Tunnel connection failed:", "Connection refused", "timed out"):
        if marker in text:
            tail = text.split(marker, 1)[1].split("'", 1)[0].split('"', 1)[0].strip(" )")
            return f"{marker} {tail}".strip() if marker.endswith(":") else marker.lower()
    return type(exc).__name__


def _why(exc: BaseException) -> str:
    """Why a connection could not be made, in words."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "timed out"
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    if isinstance(reason, urllib3.exceptions.NameResolutionError):
        return "unknown host"
    if isinstance(reason, urllib3.exceptions.NewConnectionError) and "refused" in str(reason):
        return "connection refused"
    return type(reason or exc).__name__


class PageFetcher:
    """Fetches one stream's pages and windows; safe to use from several threads."""

    def __init__(
        self,
        run: Run,
        *,
        stream: str,
        url: UrlOf,
        params: ParamsOf,
        builder: RecordBuilder,
        new_paginator: Callable[[], CursorPaginator],
        headers: dict[str, str],
        stats: StreamStats,
        logger: Log,
    ) -> None:
        self._run = run
        self._stream = stream
        self._url = url
        self._params = params
        self._builder = builder
        self._new_paginator = new_paginator
        self._headers = {**headers, "Accept": "application/json"}
        self._stats = stats
        self._logger = logger

    @cached_property
    def _settings(self) -> Settings:
        return self._run.settings

    @cached_property
    def _send(self) -> _TryFunc:
        return self._with_retries(self._try)

    # --- a window ----------------------------------------------------------------------

    def read(self, window: Window, on_answer: Callable[[], None] | None = None) -> list[Record]:
        """One whole window as records, or an ``IndigoError`` of one line."""
        try:
            return read_window(
                window,
                self.fetch,
                self._builder.build,
                page_size=self._settings.page_size,
                today=self._settings.today,
                new_paginator=self._new_paginator,
                on_answer=on_answer,
            )
        except RateLimitedError as exc:
            raise IndigoError(
                f"{window}: still rate limited after {MAX_RATE_LIMIT_WAITS} waits ({exc})"
            ) from None
        except TRANSIENT as exc:
            if isinstance(exc, requests.exceptions.ProxyError):
                raise HostError(
                    f"{window}: {self._describe(exc)} ({CONNECT_MAX_TRIES} tries)"
                ) from None
            if is_connect_failure(exc):
                raise HostError(
                    f"{window}: {self._describe(exc)} after {CONNECT_MAX_TRIES} tries — is "
                    "`base_url` right and the network up?"
                ) from None
            tries = self._settings.max_tries
            raise IndigoError(
                f"{window}: gave up after {tries} {'try' if tries == 1 else 'tries'}: "
                f"{self._describe(exc)}"
            ) from None

    # --- a page -------------------------------------------------------------------------

    def fetch(self, window: Window, cursor: str | None) -> Page:
        """One page of a window, with every retry: a 200 whose body parsed (envelope.py)."""
        context = window.context
        # Built directly rather than by ``Request.prepare``: the URL is quoted by the
        # stream (client.py; base_url checked in settings.py) and the query is ASCII once
        # encoded, so preparing re-parsed and re-quoted what cannot change: about 0.1 ms
        # per request at 64 workers.
        request = requests.PreparedRequest()
        request.method = "GET"
        request.url = f"{self._url(context)}?{urlencode(self._params(context, cursor))}"
        request.headers = CaseInsensitiveDict(self._headers)
        return self._send(request, window.project_id)

    def _try(self, prepared: requests.PreparedRequest, project_id: str) -> Page:
        """One try: every hop (same-origin redirects) takes a budget slot; then the checks."""
        workspace = self._settings.workspace(project_id)
        run = self._run
        for _hop in range(MAX_REDIRECTS + 1):
            sent_at = run.budgets.acquire(workspace.token_key)
            self._stats.add(requests=1)
            try:
                response = run.transport.send(workspace.auth(prepared))
            except BodyTooLargeError as exc:
                raise IndigoError(
                    f"{self._stream}, workspace {project_id}: the answer is too large "
                    f"({exc}; at most {MAX_BODY_BYTES:,} bytes are accepted) — not an Indigo page"
                ) from None
            except (requests.exceptions.SSLError, requests.exceptions.InvalidSchema) as exc:
                raise self._host_error(exc) from None
            try:
                if not response.is_redirect:
                    return self._checked(response, project_id)
                prepared = self._redirected(prepared, response)
            except RateLimitedError as exc:
                self._paused(workspace.token_key, exc, sent_at)
                raise
            finally:
                response.close()  # parsed: its body and large-answer slot go
        raise HostError(
            f"{self._stream}: Indigo redirected {describe_request(response)} more than "
            f"{MAX_REDIRECTS} times (a redirect loop); check `base_url`"
        )

    def _paused(self, token_key: str, exc: RateLimitedError, sent_at: int) -> None:
        """A 429 pauses every request of the token, and may lower its budget.

        A wait longer than this tap accepts pauses nothing: the pair fails (try later).
        """
        if exc.retry_after > MAX_RATE_LIMIT_WAIT_S:
            return
        limit = self._run.budgets.rate_limited(token_key, exc.retry_after, sent_at)
        if limit is not None:
            self._logger.warning(
                "%s: Indigo allows this token fewer requests than `requests_per_minute` "
                "says; using %d per %.0f s for it from now on",
                self._stream,
                limit,
                self._run.budgets.window_seconds,
            )

    def _host_error(self, exc: BaseException) -> Exception:
        """A TLS failure that retrying cannot mend, or a proxy we cannot speak: one line.

        Anything else (a TLS connection dropped midway) is returned as is, to be retried.
        """
        where = _origin(self._settings.base_url)
        text = str(exc)
        if "CERTIFICATE_VERIFY_FAILED" in text or "certificate verify failed" in text:
            detail = text.split("certificate verify failed:", 1)[-1].split("(_ssl", 1)[0]
            detail = detail.strip(" '\")") if "certificate verify failed:" in text else ""
            return HostError(
                f"{where}: the server's TLS certificate is not trusted"
                f"{f' ({detail})' if detail else ''} — if your network uses a private or "
                "TLS-inspecting CA, give its certificate as the `ca_bundle` setting (or "
                "REQUESTS_CA_BUNDLE / SSL_CERT_FILE)"
            )
        if "SOCKS" in text:
            proxy = self._run.transport.proxy or "a SOCKS proxy"
            return HostError(
                f"the proxy {describe_proxy(proxy)} (from ALL_PROXY / HTTPS_PROXY) needs SOCKS "
                "support, which is not installed: pip install 'requests[socks]', or set "
                f"NO_PROXY={urlsplit(self._settings.base_url).hostname} to go direct"
            )
        return t.cast("Exception", exc)

    def _redirected(
        self, prepared: requests.PreparedRequest, response: requests.Response
    ) -> requests.PreparedRequest:
        """The next hop, which must stay on the configured origin (it gets the token)."""
        target = urljoin(response.url, response.headers.get("Location", ""))
        base, final = urlsplit(self._settings.base_url), urlsplit(target)
        if (final.scheme, final.hostname, final.port) != (base.scheme, base.hostname, base.port):
            port = f":{final.port}" if final.port else ""
            raise HostError(
                f"{self._stream}: Indigo redirected {describe_request(response)} to another "
                f"origin ({final.scheme}://{final.hostname}{port}), which was not sent the "
                "token; check `base_url`"
            )
        hop = prepared.copy()
        hop.prepare_url(target, None)
        return hop

    def _checked(self, response: requests.Response, project_id: str) -> Page:
        """Map errors per the contract; parse 200s here so broken bodies are retried."""
        error = error_for_response(response, project_id=project_id)
        if error is not None:
            raise error
        if response.status_code >= HTTPStatus.MULTIPLE_CHOICES:
            raise IndigoError(
                f"{self._stream}: unexpected HTTP {response.status_code} "
                f"on {describe_request(response)}"
            )
        return parse_page(response, lambda: f"{self._stream} ({describe_request(response)})")

    # --- retries --------------------------------------------------------------------------

    def _with_retries(self, func: _TryFunc) -> _TryFunc:
        """Retry transient faults with backoff, 429s after the server's wait, and
        connection failures a few times only (a wrong ``base_url`` should fail fast)."""
        rate_limited = backoff.on_exception(
            lambda: backoff.runtime(value=self._rate_limit_wait),
            RateLimitedError,
            max_tries=MAX_RATE_LIMIT_WAITS + 1,
            jitter=None,
            on_backoff=self._log_rate_limited,
            logger=None,
        )
        transient = backoff.on_exception(
            self._waits,
            TRANSIENT,
            giveup=lambda exc: isinstance(exc, RateLimitedError) or is_connect_failure(exc),
            max_tries=self._settings.max_tries,
            max_time=MAX_RETRY_TIME_S,
            jitter=_jitter,
            on_backoff=self._log_retry,
            logger=None,
        )
        connect = backoff.on_exception(
            self._waits,
            requests.exceptions.ConnectionError,
            giveup=lambda exc: not is_connect_failure(exc),
            max_tries=CONNECT_MAX_TRIES,
            max_time=CONNECT_MAX_TIME_S,
            jitter=_jitter,
            on_backoff=self._log_retry,
            logger=None,
        )
        return connect(transient(rate_limited(func)))  # type: ignore[no-any-return,unused-ignore]

    def _waits(self) -> Generator[float, None, None]:
        """Exponential waits from ``backoff_seconds``, capped at 60 s."""
        return backoff.expo(base=2, factor=self._settings.backoff_seconds, max_value=60)

    def _log_retry(self, details: Details) -> None:
        """One readable line per retry."""
        self._stats.add(retries=1)
        exc = details.get("exception")
        connect = exc is not None and is_connect_failure(exc)
        self._logger.warning(
            "%s: %s — retrying in %.1f s (try %d of %d)",
            self._stream,
            self._describe(exc),
            details.get("wait") or 0.0,
            details["tries"],
            CONNECT_MAX_TRIES if connect else self._settings.max_tries,
        )

    def _rate_limit_wait(self, exc: RateLimitedError) -> float:
        if exc.retry_after > MAX_RATE_LIMIT_WAIT_S:
            raise IndigoError(
                f"{self._stream}: Indigo asked to wait {exc.retry_after:.0f} s after a 429, "
                f"more than the {MAX_RATE_LIMIT_WAIT_S:.0f} s this tap accepts; try later"
            ) from None
        return exc.retry_after

    def _log_rate_limited(self, details: Details) -> None:
        self._stats.add(rate_limited=1)
        self._logger.warning(
            "%s: rate limited by Indigo, waiting %.0f s (wait %d of at most %d)",
            self._stream,
            details.get("wait") or 0.0,
            details["tries"],
            MAX_RATE_LIMIT_WAITS,
        )

    def _describe(self, exc: BaseException | None) -> str:
        """A short, token-free description of a request failure."""
        if exc is None:
            return "unknown error"
        if is_connect_failure(exc) and not isinstance(exc, requests.exceptions.ProxyError):
            return f"could not connect to {_origin(self._settings.base_url)} ({_why(exc)})"
        if isinstance(exc, requests.exceptions.ProxyError):
            proxy = self._run.transport.proxy or "the proxy"
            return (
                f"the proxy {describe_proxy(proxy)} could not reach "
                f"{_origin(self._settings.base_url)} ({_proxy_why(exc)}); check the proxy, "
                "or list the host in NO_PROXY to go direct"
            )
        if isinstance(exc, requests.exceptions.Timeout):
            return f"the request timed out ({redact(exc)})"
        if isinstance(exc, requests.exceptions.ConnectionError):
            return f"the connection dropped ({type(exc).__name__})"
        return redact(exc)


_TryFunc = Callable[[requests.PreparedRequest, str], Page]


def _jitter(value: float) -> float:
    """Jitter in proportion to the wait (the SDK adds up to 1 s, whatever the wait)."""
    return value * random.uniform(0.5, 1.5)  # noqa: S311 - not for security
