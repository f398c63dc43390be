"""How one request is sent: a budget slot per hop, auth, redirects, checks, retries.

``SendingStream`` is the HTTP half of the base stream (client.py): worker threads call
:meth:`SendingStream.fetch_page` for every page, and every try it makes goes through
the token's budget, the per-try deadline (transport.py) and the contract's error table
(errors.py), retried as that table says.
"""

from __future__ import annotations

import logging
import random
import typing as t
from collections.abc import Generator
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import backoff
import requests
import urllib3
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.streams import RESTStream

from tap_indigo_analytics.envelope import parse_page
from tap_indigo_analytics.errors import (
    ClientRequestError,
    IndigoError,
    RateLimitedError,
    describe_request,
    error_for_response,
)
from tap_indigo_analytics.redact import redact
from tap_indigo_analytics.stats import StreamStats
from tap_indigo_analytics.transport import MAX_BODY_BYTES, BodyTooLargeError

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context, RequestFunc

    from tap_indigo_analytics.settings import Settings
    from tap_indigo_analytics.tap import TapIndigoAnalytics

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
    """Nothing answered at all: refused, unknown host, or the connect timed out."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", exc.args[0])
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


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


class SendingStream(RESTStream[str | None]):
    """The sending half of an Indigo stream (the reading half is ``IndigoStream``)."""

    _tap_ref: TapIndigoAnalytics
    stats: StreamStats

    @property
    def settings(self) -> Settings:
        """The tap's checked settings."""
        return self._tap_ref.settings

    def fetch_page(self, context: dict[str, t.Any], cursor: str | None) -> requests.Response:
        """One page of a window, with every retry; a 200 whose body parsed (envelope.py)."""
        request = requests.Request(
            "GET",
            self.get_url(context),
            params=self.get_url_params(context, cursor),
            headers={"User-Agent": self.user_agent, "Accept": "application/json"},
        ).prepare()
        return self._send_with_retries(request, context)

    @cached_property
    def _send_with_retries(self) -> RequestFunc:
        return self.request_decorator(self._request)

    def _request(
        self, prepared: requests.PreparedRequest, context: Context | None
    ) -> requests.Response:
        """One try: every hop (same-origin redirects) takes a budget slot; then the checks."""
        assert context is not None
        workspace = self.settings.workspace(context["project_id"])
        tap = self._tap_ref
        for _hop in range(MAX_REDIRECTS + 1):
            tap.budgets.acquire(workspace.token_key)
            self.stats.add(requests=1)
            try:
                response = tap.transport.send(workspace.auth(prepared))
            except BodyTooLargeError as exc:
                raise IndigoError(
                    f"{self.name}, workspace {workspace.project_id}: the answer is too large "
                    f"({exc}; at most {MAX_BODY_BYTES:,} bytes are accepted) — not an Indigo page"
                ) from None
            if not response.is_redirect:
                self._validate(response, workspace.project_id)
                return response
            prepared = self._redirected(prepared, response)
        raise ClientRequestError(
            f"{self.name}: Indigo redirected {describe_request(response)} more than "
            f"{MAX_REDIRECTS} times (a redirect loop); check `base_url`"
        )

    def _redirected(
        self, prepared: requests.PreparedRequest, response: requests.Response
    ) -> requests.PreparedRequest:
        """The next hop, which must stay on the configured origin (it gets the token)."""
        target = urljoin(response.url, response.headers.get("Location", ""))
        base, final = urlsplit(self.url_base), urlsplit(target)
        if (final.scheme, final.hostname, final.port) != (base.scheme, base.hostname, base.port):
            port = f":{final.port}" if final.port else ""
            raise ClientRequestError(
                f"{self.name}: Indigo redirected {describe_request(response)} to another "
                f"origin ({final.scheme}://{final.hostname}{port}), which was not sent the "
                "token; check `base_url`"
            )
        hop = prepared.copy()
        hop.prepare_url(target, None)
        return hop

    def _validate(self, response: requests.Response, project_id: str) -> None:
        """Map errors per the contract; parse 200s here so broken bodies are retried."""
        error = error_for_response(response, project_id=project_id)
        if error is not None:
            raise error
        if response.status_code >= HTTPStatus.MULTIPLE_CHOICES:
            raise ClientRequestError(
                f"{self.name}: unexpected HTTP {response.status_code} "
                f"on {describe_request(response)}"
            )
        parse_page(response, f"{self.name} ({describe_request(response)})")

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retry transient faults with backoff, 429s after the server's wait, and
        connection failures a few times only (a wrong ``base_url`` should fail fast)."""
        rate_limited = backoff.on_exception(
            lambda: self.backoff_runtime(value=self._rate_limit_wait),
            RateLimitedError,
            max_tries=MAX_RATE_LIMIT_WAITS + 1,
            jitter=None,
            on_backoff=self._log_rate_limited,
            logger=None,
        )
        transient = backoff.on_exception(
            self.backoff_wait_generator,
            TRANSIENT,
            giveup=lambda exc: isinstance(exc, RateLimitedError) or is_connect_failure(exc),
            max_tries=self.backoff_max_tries,
            max_time=MAX_RETRY_TIME_S,
            jitter=self.backoff_jitter,
            on_backoff=self.backoff_handler,
            logger=None,
        )
        connect = backoff.on_exception(
            self.backoff_wait_generator,
            requests.exceptions.ConnectionError,
            giveup=lambda exc: not is_connect_failure(exc),
            max_tries=CONNECT_MAX_TRIES,
            max_time=CONNECT_MAX_TIME_S,
            jitter=self.backoff_jitter,
            on_backoff=self.backoff_handler,
            logger=None,
        )
        return connect(transient(rate_limited(func)))  # type: ignore[no-any-return,unused-ignore]

    def backoff_wait_generator(self) -> Generator[float, None, None]:
        """Exponential waits from ``backoff_seconds``, capped at 60 s."""
        return backoff.expo(base=2, factor=self.settings.backoff_seconds, max_value=60)

    def backoff_jitter(self, value: float) -> float:
        """Jitter in proportion to the wait (the SDK adds up to 1 s, whatever the wait)."""
        return value * random.uniform(0.5, 1.5)  # noqa: S311 - not for security

    def backoff_max_tries(self) -> int:
        """Tries per request on transient faults."""
        return self.settings.max_tries

    def backoff_handler(self, details: Details) -> None:
        """One readable line per retry."""
        self.stats.add(retries=1)
        exc = details.get("exception")
        connect = exc is not None and is_connect_failure(exc)
        self.log(
            "%s: %s — retrying in %.1f s (try %d of %d)",
            self.name,
            self._describe(exc),
            details.get("wait") or 0.0,
            details["tries"],
            CONNECT_MAX_TRIES if connect else self.settings.max_tries,
            level=logging.WARNING,
        )

    def _rate_limit_wait(self, exc: RateLimitedError) -> float:
        if exc.retry_after > MAX_RATE_LIMIT_WAIT_S:
            raise IndigoError(
                f"{self.name}: Indigo asked to wait {exc.retry_after:.0f} s after a 429, "
                f"more than the {MAX_RATE_LIMIT_WAIT_S:.0f} s this tap accepts; try later"
            ) from None
        return exc.retry_after

    def _log_rate_limited(self, details: Details) -> None:
        self.stats.add(rate_limited=1)
        self.log(
            "%s: rate limited by Indigo, waiting %.0f s (wait %d of at most %d)",
            self.name,
            details.get("wait") or 0.0,
            details["tries"],
            MAX_RATE_LIMIT_WAITS,
            level=logging.WARNING,
        )

    def _describe(self, exc: BaseException | None) -> str:
        """A short, token-free description of a request failure."""
        if exc is None:
            return "unknown error"
        if is_connect_failure(exc):
            parts = urlsplit(self.url_base)
            port = parts.port or (443 if parts.scheme == "https" else 80)
            return f"could not connect to {parts.scheme}://{parts.hostname}:{port} ({_why(exc)})"
        if isinstance(exc, requests.exceptions.Timeout):
            return f"the request timed out ({redact(exc)})"
        if isinstance(exc, requests.exceptions.ConnectionError):
            return f"the connection dropped ({type(exc).__name__})"
        return redact(exc)
