"""The one base stream: what to ask, how one request is sent and retried, records out.

How windows are read whole lives in windows.py, how they are fetched concurrently in
prefetch.py, and the run's plan in plan.py; this module is the SDK's side of it.
"""

from __future__ import annotations

import datetime as dt
import logging
import random
import threading
import time
import typing as t
from collections.abc import Callable, Generator, Iterable
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urljoin, urlsplit

import backoff
import requests
import urllib3
from singer_sdk import typing as th
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers._state import STARTING_MARKER
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream

from tap_indigo_analytics.envelope import parse_page
from tap_indigo_analytics.errors import (
    ClientRequestError,
    IndigoError,
    RateLimitedError,
    describe_request,
    error_for_response,
)
from tap_indigo_analytics.pagination import CursorPaginator
from tap_indigo_analytics.records import RecordBuilder, fields_of
from tap_indigo_analytics.redact import redact
from tap_indigo_analytics.settings import MAX_DAYS_PER_REQUEST, Settings
from tap_indigo_analytics.state import IndexedStateManager
from tap_indigo_analytics.transport import MAX_BODY_BYTES, BodyTooLargeError
from tap_indigo_analytics.windows import Record, Window, read_window

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context, RequestFunc

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

_TRANSIENT = (
    RetriableAPIError,  # 5xx and broken bodies; not 429s, which have a retry of their own
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


def utc_today() -> dt.date:
    """Today in UTC: the platform's calendar day (never ask for a later one)."""
    return dt.datetime.now(dt.timezone.utc).date()


def is_connect_failure(exc: BaseException) -> bool:
    """Nothing answered at all: refused, unknown host, or the connect timed out."""
    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return True
    if not isinstance(exc, requests.exceptions.ConnectionError) or not exc.args:
        return False
    reason = getattr(exc.args[0], "reason", exc.args[0])
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


class IndigoStream(RESTStream[str | None]):
    """One Indigo daily endpoint, read per workspace in windows of at most 365 days.

    Subclasses (streams.py) declare only ``name``, ``path``, ``cursor_param``,
    ``metrics`` and ``ranges``. Each workspace is one state partition with its own
    ``date`` bookmark; a run restarts at the bookmark day minus ``lookback_days`` so
    that partial and late-corrected days are read again (targets upsert on the key).
    """

    #: Query parameter carrying the cursor ("after" on the returning-users endpoint).
    cursor_param: t.ClassVar[str] = "cursor"
    #: The endpoint's metric fields (besides ``date``), with descriptions.
    metrics: t.ClassVar[th.PropertiesList]
    #: Documented ranges of non-count fields; values outside are warned about, kept.
    ranges: t.ClassVar[dict[str, tuple[float, float]]] = {}

    primary_keys: t.ClassVar[tuple[str, ...]] = ("project_id", "date")
    replication_key = "date"
    # Rows come in ascending days, so the bookmark is resumable after a crash...
    is_sorted = True
    # ...but lookback_days re-reads days before it, which the SDK's check would reject.
    check_sorted = False
    # Values are checked where they enter (records.py); the SDK's pass would repeat it.
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE
    # STATE is written by time (state_interval_seconds), not every N records.
    STATE_MSG_FREQUENCY = 1 << 62
    # One summary line per stream instead of a METRIC line per request (see summary()).
    _LOG_REQUEST_METRICS = False

    def __init__(self, tap: TapIndigoAnalytics) -> None:
        schema = th.PropertiesList(
            th.Property(
                "project_id",
                th.StringType,
                required=True,
                description="Indigo workspace id the row belongs to.",
            ),
            th.Property(
                "date",
                th.DateType,
                required=True,
                description="Calendar day of the platform (UTC).",
            ),
            *self.metrics,
        ).to_dict()
        super().__init__(tap=tap, schema=schema)
        self.logger.addFilter(_partition_start_to_debug)
        self._tap_ref = tap
        self.stats = StreamStats()
        self._dry_run_records = 0

    # --- where and what to ask ---------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The tap's checked settings."""
        return self._tap_ref.settings

    @property
    def url_base(self) -> str:
        """API root from config (https, or a loopback emulator)."""
        return self.settings.base_url

    @property
    def partitions(self) -> list[dict[str, t.Any]]:
        """One partition (and bookmark) per workspace; ids only, never a token."""
        return [{"project_id": w.project_id} for w in self.settings.workspaces]

    def get_new_paginator(self) -> CursorPaginator:
        """A fresh cursor paginator per window."""
        return CursorPaginator()

    def get_url_params(
        self, context: Context | None, next_page_token: str | None
    ) -> dict[str, t.Any]:
        """``from``/``to`` (exclusive) of the window, page size, and the cursor if any."""
        assert context is not None
        params: dict[str, t.Any] = {
            "from": context["from"],
            "to": context["to"],
            "limit": self.settings.page_size,
        }
        if next_page_token:
            params[self.cursor_param] = next_page_token
        return params

    @property
    def state_manager(self) -> IndexedStateManager:
        """The SDK's state manager, finding partitions by workspace in O(1) (state.py)."""
        if self._state_manager is None:
            self._state_manager = IndexedStateManager(
                tap_name=self.tap_name,
                stream_name=self.name,
                tap_state=self._tap_state,
                state_partitioning_keys=self.state_partitioning_keys,
                is_sorted=self.is_sorted,
                check_sorted=self.check_sorted,
            )
        return t.cast("IndexedStateManager", self._state_manager)

    @cached_property
    def builder(self) -> RecordBuilder:
        """Checks each row against this stream's schema (records.py)."""
        return RecordBuilder(self.name, self.path, fields_of(self.schema, self.ranges))

    # --- sending: budget, auth, redirects, retries -------------------------------------

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
            _TRANSIENT,
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

    # --- reading ------------------------------------------------------------------------

    def read_window(
        self, window: Window, on_answer: Callable[[], None] | None = None
    ) -> list[Record]:
        """One whole window as records (worker threads call this); one-line failures."""
        try:
            return read_window(
                window,
                self.fetch_page,
                self.builder.build,
                page_size=self.settings.page_size,
                on_answer=on_answer,
            )
        except RateLimitedError as exc:
            raise IndigoError(
                f"{window}: still rate limited after {MAX_RATE_LIMIT_WAITS} waits ({exc})"
            ) from None
        except _TRANSIENT as exc:
            if is_connect_failure(exc):
                raise IndigoError(
                    f"{window}: {self._describe(exc)} after {CONNECT_MAX_TRIES} tries — is "
                    "`base_url` right and the network up?"
                ) from None
            tries = self.settings.max_tries
            raise IndigoError(
                f"{window}: gave up after {tries} {'try' if tries == 1 else 'tries'}: "
                f"{self._describe(exc)}"
            ) from None

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Every day from the sync start to today (or end_date), window by window."""
        assert context is not None
        tap = self._tap_ref
        limit = self.ABORT_AT_RECORD_COUNT
        if limit is not None and self._dry_run_records >= limit:
            return  # --test: the SDK stops at `limit` records per stream; fetch no more
        if limit is None and STARTING_MARKER in self.get_context_state(context):
            # The SDK is syncing (sync_all): hand over what the prefetcher fetched.
            prefetcher = tap.prefetcher()
            task = prefetcher.begin(self.name, context["project_id"])
            tap.plan.check_turn(self, context, task)
            batches: Iterable[list[Record]] = prefetcher.records(task)
        else:
            # --test or a direct call (the Airbyte check): only what is asked, inline;
            # --test reads one page, so its windows are one page long.
            task = tap.plan.task(
                self,
                context,
                self.get_starting_replication_key_value(context),
                window_days=self.settings.page_size if limit is not None else MAX_DAYS_PER_REQUEST,
            )
            batches = (self.read_window(window) for window in task.windows)
        started = time.monotonic()
        try:
            for records in batches:
                if limit is not None:
                    records = records[: limit - self._dry_run_records]
                    self._dry_run_records += len(records)
                yield from records
                self.stats.add(records=len(records))
                if limit is not None and self._dry_run_records >= limit:
                    return
                tap.state_due(self)
        except BaseException:
            self._write_state_message()  # keep what was written resumable
            raise
        finally:
            self.stats.add(seconds=time.monotonic() - started, partitions=1)

    def finalize_state_progress_markers(self, state: dict[str, t.Any] | None = None) -> None:
        """At the end of a stream's sync: the SDK's final STATE, and one summary line."""
        super().finalize_state_progress_markers(state)
        if state is None:
            self.log("%s", self.stats.summary(self.name))

    def write_state_message(self) -> None:
        """Write a STATE now (the tap calls this at most once per ``state_interval_seconds``)."""
        self._write_state_message()


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


def _partition_start_to_debug(record: logging.LogRecord) -> bool:
    """Keep the SDK's one-line-per-partition start message at DEBUG.

    At thousands of workspaces it is thousands of INFO lines, each a write on the main
    thread; the stream's summary line (StreamStats) says what a reader needs.
    """
    if record.levelno == logging.INFO and str(record.msg).startswith("Starting incremental sync"):
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
    return True


class StreamStats:
    """Counts for a stream's summary line; workers and the main thread both add."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, float] = dict.fromkeys(
            ("requests", "retries", "rate_limited", "records", "partitions", "seconds"),
            0,
        )

    def add(self, **amounts: float) -> None:
        """Add to the named counts."""
        with self._lock:
            for name, amount in amounts.items():
                self.counts[name] += amount

    def summary(self, stream: str) -> str:
        """``daily_chats: 2 workspaces, 730 records, 4 requests (0 retries, 0 x 429), 1.2 s``."""
        c = self.counts
        return (
            f"{stream}: {int(c['partitions'])} workspaces, {int(c['records'])} records (days), "
            f"{int(c['requests'])} requests ({int(c['retries'])} retries, "
            f"{int(c['rate_limited'])} x 429), {c['seconds']:.1f} s"
        )
