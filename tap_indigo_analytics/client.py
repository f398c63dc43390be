"""The one base stream: what to ask, and records out, window by window.

How one request is sent and retried lives in sending.py, how windows are read whole in
windows.py, how they are fetched concurrently in prefetch.py, and the run's plan in
plan.py; this module is the SDK's side of it.
"""

from __future__ import annotations

import datetime as dt
import time
import typing as t
from collections.abc import Callable, Iterable
from functools import cached_property

from singer_sdk import typing as th
from singer_sdk.helpers._state import STARTING_MARKER
from singer_sdk.helpers.conform import TypeConformanceLevel

from tap_indigo_analytics.errors import IndigoError, RateLimitedError
from tap_indigo_analytics.pagination import CursorPaginator
from tap_indigo_analytics.records import RecordBuilder, fields_of
from tap_indigo_analytics.sending import (
    CONNECT_MAX_TRIES,
    MAX_RATE_LIMIT_WAITS,
    TRANSIENT,
    SendingStream,
    is_connect_failure,
)
from tap_indigo_analytics.settings import MAX_DAYS_PER_REQUEST
from tap_indigo_analytics.state import IndexedStateManager
from tap_indigo_analytics.stats import StreamStats, partition_start_to_debug
from tap_indigo_analytics.windows import Record, Window, read_window

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context

    from tap_indigo_analytics.tap import TapIndigoAnalytics


def utc_today() -> dt.date:
    """Today in UTC: the platform's calendar day (never ask for a later one)."""
    return dt.datetime.now(dt.timezone.utc).date()


class IndigoStream(SendingStream):
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
        self.logger.addFilter(partition_start_to_debug)
        self._tap_ref = tap
        self.stats = StreamStats()
        self._dry_run_records = 0

    # --- where and what to ask ---------------------------------------------------------

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
                new_paginator=self.get_new_paginator,
                on_answer=on_answer,
            )
        except RateLimitedError as exc:
            raise IndigoError(
                f"{window}: still rate limited after {MAX_RATE_LIMIT_WAITS} waits ({exc})"
            ) from None
        except TRANSIENT as exc:
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
        except BaseException as exc:
            # A failure here (not the SDK closing this generator after a failure of its
            # own) checkpoints what was written before it goes up.
            if not isinstance(exc, GeneratorExit):
                self._write_state_message()
            if tap.prefetched is not None:
                tap.prefetched.close()  # no more fetching for a run that is over
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
