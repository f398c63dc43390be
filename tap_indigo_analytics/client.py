"""The one base stream: the SDK's side of an Indigo endpoint, records out window by window.

What a stream asks (URL, parameters, paginator) is declared here through the SDK's
hooks; how a page is fetched lives in sending.py (a :class:`~sending.PageFetcher` per
stream), and everything one sync shares (budgets, transport, plan, prefetcher, state
clock) in the run (run.py). A stream asks its run, never the tap.
"""

from __future__ import annotations

import functools
import time
import typing as t
from collections.abc import Iterable

import requests
from singer_sdk import metrics as sdk_metrics
from singer_sdk import typing as th
from singer_sdk.helpers.conform import TypeConformanceLevel
from singer_sdk.streams import RESTStream

from tap_indigo_analytics.pagination import CursorPaginator
from tap_indigo_analytics.records import RecordBuilder, fields_of
from tap_indigo_analytics.schema import MAX_DAYS_PER_REQUEST
from tap_indigo_analytics.sending import PageFetcher
from tap_indigo_analytics.state import IndexedStateManager
from tap_indigo_analytics.stats import (
    StreamCounter,
    StreamStats,
    StreamTimer,
)

if t.TYPE_CHECKING:
    from singer_sdk import Tap
    from singer_sdk.helpers.types import Context

    from tap_indigo_analytics.run import Run
    from tap_indigo_analytics.settings import Settings
    from tap_indigo_analytics.windows import Record


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
    # STATE is written by time (state_interval_seconds, run.py), not every N records.
    STATE_MSG_FREQUENCY = 1 << 62

    def __init__(self, tap: Tap, run: Run) -> None:
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
        #: The sync this stream belongs to (run.py).
        self.run = run
        self.stats = StreamStats()
        self._dry_run_records = 0
        self.fetcher = PageFetcher(
            run,
            stream=self.name,
            url=self.get_url,
            params=self.get_url_params,
            builder=RecordBuilder(self.name, self.path, fields_of(self.schema, self.ranges)),
            new_paginator=self.get_new_paginator,
            headers={"User-Agent": self.user_agent},
            stats=self.stats,
            logger=self.logger,
        )
        run.add_reader(self.name, self.fetcher.read)

    # --- where and what to ask ---------------------------------------------------------

    @property
    def settings(self) -> Settings:
        """The run's checked settings."""
        return self.run.settings

    @property
    def url_base(self) -> str:
        """API root from config (https, or a loopback emulator)."""
        return self.settings.base_url

    def get_url(self, context: Context | None) -> str:
        """The endpoint of the partition's workspace: the paths name nothing else.

        The SDK's version copies the whole config and scans it for each request.
        """
        assert context is not None
        return self.url_base + self.path.replace("{project_id}", _quoted(context["project_id"]))

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

    def get_record_counter(
        self, *, endpoint: str | None = None, log_interval: float = sdk_metrics.DEFAULT_LOG_INTERVAL
    ) -> sdk_metrics.Counter:
        """``record_count`` of the whole stream, tagged with it alone (stats.py)."""
        tags: dict[str, t.Any] = {sdk_metrics.Tag.STREAM: self.name}
        if endpoint:
            tags[sdk_metrics.Tag.ENDPOINT] = endpoint
        return StreamCounter(sdk_metrics.Metric.RECORD_COUNT, tags, log_interval=log_interval)

    def get_sync_timer(self) -> sdk_metrics.Timer:
        """``sync_duration`` of the whole stream, tagged with it alone (stats.py)."""
        return StreamTimer(sdk_metrics.Metric.SYNC_DURATION, {sdk_metrics.Tag.STREAM: self.name})

    # --- reading ------------------------------------------------------------------------

    def get_records(self, context: Context | None) -> Iterable[dict[str, t.Any]]:
        """Every day from the sync start to today (or end_date), window by window.

        In a sync the windows were fetched ahead by the run's workers; under ``--test``
        (the SDK's record limit) they are read here, one page each.
        """
        if context is None:
            return  # no partition: a shard that holds none of the workspaces
        limit = self.ABORT_AT_RECORD_COUNT
        if limit is not None and self._dry_run_records >= limit:
            return  # --test: the SDK stops at `limit` records per stream; fetch no more
        marker = self.get_starting_replication_key_value(context)
        if limit is None:
            batches = self.run.partition(self.name, context["project_id"], marker)
        else:
            batches = self.run.inline(
                self.name, context["project_id"], marker, window_days=self.settings.page_size
            )
        yield from self._handed_over(batches, limit)

    def read_now(self, context: Context) -> list[Record]:
        """The partition's planned days, read on this thread (the Airbyte check's probe)."""
        batches = self.run.inline(
            self.name, context["project_id"], None, window_days=MAX_DAYS_PER_REQUEST
        )
        return [record for batch in batches for record in batch]

    def _handed_over(
        self, batches: Iterable[list[Record]], limit: int | None
    ) -> Iterable[dict[str, t.Any]]:
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
                self.run.tick(len(records))
        except BaseException as exc:
            # A failure here (not the SDK closing this generator after a failure of its
            # own) checkpoints what was written before it goes up.
            if not isinstance(exc, GeneratorExit):
                self.run.checkpoint()
            self.run.stop()  # no more fetching for a run that is over
            raise
        finally:
            self.stats.add(seconds=time.monotonic() - started, partitions=1)

    @property
    def emit_activate_version_messages(self) -> bool:
        """FULL_TABLE streams send ACTIVATE_VERSION, as the Singer spec says (always)."""
        return True

    def finalize_state_progress_markers(self, state: dict[str, t.Any] | None = None) -> None:
        """At the end of a stream's sync: ACTIVATE_VERSION after the last record of a
        FULL_TABLE stream, the SDK's final STATE, and one summary line.

        The SDK sends the version's ACTIVATE_VERSION before the first record only; the
        spec wants it after the last one too, when the target may drop older versions.
        """
        if state is None and self.selected and self._stream_version is not None:
            self._write_activate_version_message(self._stream_version)
        super().finalize_state_progress_markers(state)
        if state is None:
            self.logger.info("%s", self.stats.summary(self.name))


@functools.lru_cache(maxsize=65536)
def _quoted(project_id: str) -> str:
    """A workspace id as a URL path segment (ids hold no '/', '?', '#' or '%')."""
    return requests.utils.requote_uri(project_id)
