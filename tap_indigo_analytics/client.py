"""The one base stream: URL, auth, rate budget, retries, date windows, records."""

from __future__ import annotations

import datetime as dt
import logging
import queue
import random
import threading
import typing as t
from collections.abc import Generator, Iterable, Iterator
from functools import cached_property
from http import HTTPStatus
from urllib.parse import urlsplit

import backoff
import requests
from singer_sdk import typing as th
from singer_sdk.exceptions import RetriableAPIError
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream

from tap_indigo_analytics.envelope import page_of, parse_page
from tap_indigo_analytics.errors import (
    ClientRequestError,
    IndigoError,
    InvalidCursorError,
    RateLimitedError,
    ResponseShapeError,
    describe_request,
    error_for_response,
)
from tap_indigo_analytics.pagination import CursorPaginator
from tap_indigo_analytics.settings import MAX_DAYS_PER_REQUEST, Settings, Workspace

if t.TYPE_CHECKING:
    from backoff.types import Details
    from singer_sdk.helpers.types import Context, RequestFunc

    from tap_indigo_analytics.tap import TapIndigoAnalytics

#: How often one window may be restarted after "400 Invalid cursor".
MAX_CURSOR_RESTARTS = 2
#: 429 handling: the longest single wait we accept, and how many waits in a row.
MAX_RATE_LIMIT_WAIT_S = 300.0
MAX_RATE_LIMIT_WAITS = 10
#: Transient retries of one request stop after this long in total.
MAX_RETRY_TIME_S = 600.0

_T = t.TypeVar("_T")
_DONE = object()

_TRANSIENT = (
    RetriableAPIError,  # 5xx and broken bodies (TransientAPIError); not 429, handled inside
    requests.exceptions.Timeout,
    requests.exceptions.ConnectionError,
    requests.exceptions.ChunkedEncodingError,
    requests.exceptions.ContentDecodingError,
    ConnectionResetError,
)


def date_windows(start: dt.date, end: dt.date, days: int) -> Iterator[tuple[dt.date, dt.date]]:
    """Split ``[start, end)`` into consecutive windows of at most ``days`` days."""
    step = dt.timedelta(days=days)
    while start < end:
        yield start, min(start + step, end)
        start += step


def read_ahead(items: Iterator[_T]) -> Generator[_T, None, None]:
    """Yield ``items`` while a background thread already computes the next one.

    The tap takes about as long to emit a page's records as the API takes to
    answer, so fetching page k+1 while page k is written hides one behind the
    other (benchmarks/RESULTS.md). Requests stay one at a time per stream. A daemon
    thread rather than ThreadPoolExecutor: the executor joins its workers at exit,
    so a failed or stopped run would wait for a fetch (or a 429 wait) nobody reads.
    """
    buffer: queue.Queue[tuple[bool, t.Any]] = queue.Queue(maxsize=1)
    stop = threading.Event()

    def put(entry: tuple[bool, t.Any]) -> bool:
        while not stop.is_set():
            try:
                buffer.put(entry, timeout=0.1)
            except queue.Full:
                continue
            return True
        return False

    def produce() -> None:
        try:
            for item in items:
                if not put((True, item)):
                    return
            put((True, _DONE))
        except Exception as exc:  # handed to the consumer, raised there
            put((False, exc))

    threading.Thread(target=produce, name="indigo-read-ahead", daemon=True).start()
    try:
        while True:
            ok, item = buffer.get()
            if not ok:
                raise item
            if item is _DONE:
                return
            yield item
    finally:
        stop.set()


def utc_today() -> dt.date:
    """Today in UTC: the platform's calendar day (never ask for a later one)."""
    return dt.datetime.now(dt.timezone.utc).date()


class IndigoStream(RESTStream[str | None]):
    """One Indigo daily endpoint, read per workspace in windows of at most 365 days.

    Subclasses (streams.py) declare only ``name``, ``path``, ``cursor_param``
    and ``metrics``. Each workspace is one state partition, so each has its own
    ``date`` bookmark; a run restarts AT the bookmark day so that today's
    partial value is read again and corrected downstream (upsert on the key).
    """

    #: Query parameter carrying the cursor ("after" on the returning-users endpoint).
    cursor_param: t.ClassVar[str] = "cursor"
    #: The endpoint's metric fields (besides ``date``), with descriptions.
    metrics: t.ClassVar[th.PropertiesList]

    primary_keys: t.ClassVar[tuple[str, ...]] = ("project_id", "date")
    replication_key = "date"
    # Rows come in ascending days, so the bookmark is resumable after a crash...
    is_sorted = True
    # ...but lookback_days re-reads days before it, which the SDK's check would reject.
    check_sorted = False
    # Records are plain JSON values already, keyed by the schema's own fields (``_record``);
    # the SDK's per-record type conformance would only cost time (~12 %, benchmarks/).
    TYPE_CONFORMANCE_LEVEL = TypeConformanceLevel.NONE

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
        self._tap_ref = tap
        self._warned_fields: set[str] = set()

    # --- where and how to ask ---------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The tap's checked settings."""
        return self._tap_ref.settings

    @property
    def url_base(self) -> str:
        """API root from config (https, or a loopback emulator)."""
        return self.settings.base_url

    @property
    def timeout(self) -> int:
        """Seconds before a request times out (and is retried)."""
        return self.settings.request_timeout

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

    # --- sending: budget, auth, retries -----------------------------------------------

    def request_decorator(self, func: RequestFunc) -> RequestFunc:
        """Retry transient faults with backoff, and 429s after the server's wait.

        Each try (retries included) first takes a slot of the token's request
        budget and then gets the token's header, so every real request counts.
        """

        def one_try(
            prepared: requests.PreparedRequest, context: Context | None
        ) -> requests.Response:
            workspace = self._workspace(context)
            self._tap_ref.budget_for(workspace).acquire()
            return func(workspace.auth(prepared), context)

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
            giveup=lambda exc: isinstance(exc, RateLimitedError),
            max_tries=self.backoff_max_tries,
            max_time=MAX_RETRY_TIME_S,
            jitter=self.backoff_jitter,
            on_backoff=self.backoff_handler,
            logger=None,
        )
        return t.cast("RequestFunc", transient(rate_limited(one_try)))

    def validate_response(self, response: requests.Response) -> None:
        """Map errors per the contract; parse 200s here so broken bodies are retried."""
        self._check_redirect(response)
        if response.status_code >= HTTPStatus.BAD_REQUEST:  # naming the workspace costs a lookup
            error = error_for_response(response, project_id=self._project_of(response))
            if error is not None:
                raise error
        parse_page(response, f"{self.name} ({describe_request(response)})")

    def _check_redirect(self, response: requests.Response) -> None:
        """Fail on a redirect off the configured origin (requests sent it no token)."""
        if not response.history:
            return
        base, final = urlsplit(self.url_base), urlsplit(response.url)
        origin = (final.scheme, final.hostname, final.port)
        if origin != (base.scheme, base.hostname, base.port):
            port = f":{final.port}" if final.port else ""
            raise ClientRequestError(
                f"{self.name}: Indigo redirected {describe_request(response.history[0])} to "
                f"another origin ({final.scheme}://{final.hostname}{port}), which was not sent "
                "the token; check `base_url`"
            )

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
        exc = details.get("exception")
        self.log(
            "%s: %s — retrying in %.1f s (try %d of %d)",
            self.name,
            _describe(exc),
            details.get("wait") or 0.0,
            details["tries"],
            self.settings.max_tries,
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
        self.log(
            "%s: rate limited by Indigo, waiting %.0f s (wait %d of at most %d)",
            self.name,
            details.get("wait") or 0.0,
            details["tries"],
            MAX_RATE_LIMIT_WAITS,
            level=logging.WARNING,
        )

    # --- reading: windows, rows, state ------------------------------------------------

    def parse_response(self, response: requests.Response) -> Iterable[dict[str, t.Any]]:
        """The page's rows (validated in ``validate_response``)."""
        return page_of(response).rows

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Every day from the sync start to today (or end_date), window by window."""
        assert context is not None
        project_id = context["project_id"]
        start, end = self._sync_range(context)
        self.log(
            "%s: workspace %s, days %s to %s",
            self.name,
            project_id,
            start,
            end - dt.timedelta(days=1),
        )
        try:
            for rows, window_done in read_ahead(self._batches(project_id, start, end)):
                yield from rows
                if window_done:
                    # A STATE per window, so a killed sync resumes without re-reading much.
                    self._write_state_message()
        except RateLimitedError as exc:
            raise IndigoError(
                f"{self.name}, workspace {project_id}: still rate limited after "
                f"{MAX_RATE_LIMIT_WAITS} waits ({exc})"
            ) from None
        except _TRANSIENT as exc:
            tries = self.settings.max_tries
            raise IndigoError(
                f"{self.name}, workspace {project_id}: gave up after {tries} "
                f"{'try' if tries == 1 else 'tries'}: {_describe(exc)}"
            ) from None

    def _sync_range(self, context: Context) -> tuple[dt.date, dt.date]:
        """``[from, to)``: from the bookmark (minus lookback) or start_date, to today."""
        settings = self.settings
        start = settings.start_date
        bookmark = self.get_starting_replication_key_value(context)
        if bookmark is not None and bookmark != start.isoformat():
            try:
                day = dt.date.fromisoformat(str(bookmark)[:10])
            except ValueError:
                raise IndigoError(
                    f"state for stream {self.name}, workspace {context['project_id']}: "
                    f"bookmark {bookmark!r} is not a YYYY-MM-DD date; fix or remove it"
                ) from None
            start = max(start, day - dt.timedelta(days=settings.lookback_days))
        today = settings.today
        last = min(settings.end_date or today, today)
        return start, last + dt.timedelta(days=1)

    def _batches(
        self, project_id: str, start: dt.date, end: dt.date
    ) -> Iterator[tuple[list[dict[str, t.Any]], bool]]:
        """Records in page-sized batches; the flag marks the last batch of a window."""
        size = self.settings.page_size
        for window in date_windows(start, end, MAX_DAYS_PER_REQUEST):
            batch: list[dict[str, t.Any]] = []
            for record in self._read_window(project_id, *window):
                batch.append(record)
                if len(batch) == size:
                    yield batch, False
                    batch = []
            yield batch, True

    def _read_window(
        self, project_id: str, start: dt.date, end: dt.date
    ) -> Iterator[dict[str, t.Any]]:
        """All days of one window, each once, restarting after an invalid cursor."""
        window = {"project_id": project_id, "from": start.isoformat(), "to": end.isoformat()}
        last_day = ""
        for attempt in range(MAX_CURSOR_RESTARTS + 1):
            try:
                for row in self.request_records(window):
                    day = row["date"]
                    if not window["from"] <= day < window["to"]:
                        raise ResponseShapeError(
                            f"{self.name}: day {day} is outside the requested window "
                            f"[{window['from']}, {window['to']}) for workspace {project_id}"
                        )
                    if day <= last_day:
                        if attempt:  # rows already emitted before the restart
                            continue
                        raise ResponseShapeError(
                            f"{self.name}: day {day} came after {last_day} for workspace "
                            f"{project_id}; days must be unique and ascending"
                        )
                    last_day = day
                    yield self._record(row, project_id)
                return
            except InvalidCursorError as exc:
                if attempt == MAX_CURSOR_RESTARTS:
                    raise IndigoError(
                        f"{self.name}, workspace {project_id}: Invalid cursor again after "
                        f"{MAX_CURSOR_RESTARTS} restarts of the window from {window['from']} "
                        f"to {window['to']} (exclusive); last answer: {exc}"
                    ) from None
                self.log(
                    "%s: %s; restarting the window without a cursor",
                    self.name,
                    exc,
                    level=logging.WARNING,
                )

    @cached_property
    def _metric_names(self) -> frozenset[str]:
        return frozenset(self.schema["properties"]) - {"project_id"}

    def _record(self, row: dict[str, t.Any], project_id: str) -> dict[str, t.Any]:
        """The row as a record: known fields plus project_id; loud on any drift."""
        known = self._metric_names
        if row.keys() != known:
            for name in row.keys() - known - self._warned_fields:
                self._warned_fields.add(name)
                self.log(
                    "%s: Indigo sent field %r, which this tap does not know; ignoring it",
                    self.name,
                    name,
                    level=logging.WARNING,
                )
            missing = known - row.keys()
            if missing:
                raise ResponseShapeError(
                    f"{self.name} ({self.path}), workspace {project_id}: row {row['date']} "
                    f"lacks {sorted(missing)} — the response shape differs from the contract"
                )
            row = {name: row[name] for name in known}
        row["project_id"] = project_id  # the parsed row is ours: no copy when it is exact
        return row

    def _workspace(self, context: Context | None) -> Workspace:
        assert context is not None
        return self.settings.workspace(context["project_id"])

    def _project_of(self, response: requests.Response) -> str:
        """The workspace whose URL was asked (validate_response gets no context)."""
        first = response.history[0] if response.history else response
        url = (first.request.url or "").split("?", 1)[0]
        for workspace in self.settings.workspaces:
            if url == self.get_url({"project_id": workspace.project_id}):
                return workspace.project_id
        return "(unknown)"


def _describe(exc: BaseException | None) -> str:
    """A short, token-free description of a request failure."""
    if exc is None:
        return "unknown error"
    if isinstance(exc, requests.exceptions.Timeout):
        return "the request timed out"
    if isinstance(exc, requests.exceptions.ConnectionError):
        return f"could not connect or the connection dropped ({type(exc).__name__})"
    return str(exc)
