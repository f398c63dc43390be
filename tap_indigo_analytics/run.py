"""One sync's services, in one object: budgets, transport, plan, prefetcher, state clock.

The tap makes one :class:`Run` from its settings and hands it to every stream; streams
ask the run, never the tap. The run imports nothing above it (streams, sending, the
tap): what it needs from them comes in as plain data (:class:`~plan.Lane`) and
callables (a reader per stream, the tap's state writer).

Its life: made with the tap; given the input state when the SDK loads it; started at
the first partition the SDK syncs (so a tap driven in-process through ``sync_all``
alone works); closed by whoever called ``sync_all`` (the CLI, the Airbyte face), in a
``finally``. Closing stops its threads and connections; a later ``sync_all`` of the same
tap plans again from the tap's state as the last sync left it.
"""

from __future__ import annotations

import copy
import threading
import time
import typing as t
from collections.abc import Callable, Iterator, Mapping, Sequence
from functools import cached_property

import msgspec

from tap_indigo_analytics.allocator import tune_allocator
from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.failures import Failures
from tap_indigo_analytics.plan import Lane, Plan
from tap_indigo_analytics.prefetch import FetchWindow, Prefetcher
from tap_indigo_analytics.ratelimit import RequestBudgets
from tap_indigo_analytics.schema import MAX_DAYS_PER_REQUEST
from tap_indigo_analytics.transport import Transport

if t.TYPE_CHECKING:
    from tap_indigo_analytics.settings import Settings
    from tap_indigo_analytics.windows import Record

__all__ = ["STATE_BYTES_PER_SECOND", "Lane", "Run"]

#: Mid-stream STATE messages are at least this far apart in seconds per byte of state
#: (a 100 kB state keeps the 10 s default; a 3 MB one, 5,000 workspaces, every 30 s).
STATE_BYTES_PER_SECOND = 100_000


class Run:
    """Everything one sync shares: made once per tap, used by every stream and worker."""

    def __init__(
        self,
        settings: Callable[[], Settings],
        *,
        lanes: Callable[[], Sequence[Lane]],
        write_state: Callable[[], int],
        current_state: Callable[[], Mapping[str, t.Any]],
    ) -> None:
        """``settings`` gives the checked settings when first needed (discovery needs
        none); ``lanes`` lists the selected streams in sync order, asked when the sync
        starts; ``write_state`` writes a STATE of everything written so far (main thread)
        and says how many bytes it has; ``current_state`` is the tap's state now, which a
        later sync of the same tap starts from."""
        self._settings = settings
        self._lanes = lanes
        self._write_state = write_state
        self._current_state = current_state
        self._readers: dict[str, FetchWindow] = {}
        self._input_state: Mapping[str, t.Any] = {}
        self._plan: Plan | None = None
        self._prefetcher: Prefetcher | None = None
        self._last_state_at = 0.0
        self._unwritten = 0  # records written since the last STATE
        self._state_interval = 0.0
        self._stream = ""  # the stream the SDK syncs now...
        self._last_stream = ""  # ...and the last one it will sync
        self._lock = threading.Lock()
        self._closed = False  # closed: the next sync starts afresh (see _start)
        #: Workspaces and pairs that did not sync while the rest went on (failures.py).
        self.failures = Failures()
        #: A STATE at every stream's end, however large (the Airbyte face sends each
        #: stream's state when the stream ends); otherwise a large one is sent by time.
        self.state_at_every_stream_end = False

    @cached_property
    def settings(self) -> Settings:
        """The tap's checked settings (settings.py)."""
        return self._settings()

    @cached_property
    def budgets(self) -> RequestBudgets:
        """The request budget of every token, shared by all streams and workers."""
        settings = self.settings
        return RequestBudgets(
            settings.requests_per_minute, window_seconds=settings.rate_limit_window_seconds
        )

    @cached_property
    def transport(self) -> Transport:
        """One HTTP session for the run, a pooled connection per worker."""
        settings = self.settings
        return Transport(
            pool_size=settings.max_concurrency,
            deadline_s=settings.request_timeout,
            base_url=settings.base_url,
            ca_bundle=settings.ca_bundle,
        )

    # --- set-up ----------------------------------------------------------------------

    def add_reader(self, stream: str, read: FetchWindow) -> None:
        """How ``stream`` reads one window (worker threads call it)."""
        self._readers[stream] = read

    def load_state(self, state: Mapping[str, t.Any]) -> None:
        """The input state, as checked by the tap; the plan is made from this copy."""
        self._input_state = copy.deepcopy(dict(state))
        self._plan = None

    @property
    def plan(self) -> Plan:
        """What each partition reads (plan.py), from the settings and the input state."""
        if self._plan is None:
            self._plan = Plan(self.settings, self._input_state)
        return self._plan

    # --- the main thread, partition by partition --------------------------------------

    def partition(self, stream: str, project_id: str, marker: object) -> Iterator[list[Record]]:
        """The prefetched records of the partition the SDK syncs now, window by window.

        ``marker`` is the SDK's starting value for it, checked against the plan.
        """
        prefetcher = self._start()
        self._stream = stream
        task = prefetcher.begin(stream, project_id)
        self.plan.check_turn(task, marker)
        if self.settings.fail_fast:
            return prefetcher.records(task)
        return self._isolated(stream, project_id, prefetcher.records(task))

    def _isolated(
        self, stream: str, project_id: str, batches: Iterator[list[Record]]
    ) -> Iterator[list[Record]]:
        """The partition's windows; a failure of its pair or workspace ends it quietly
        (collected for the end of the run) instead of stopping the run."""
        try:
            yield from batches
        except IndigoError as exc:
            if exc.scope == "run":
                raise
            self.failures.add(stream, project_id, exc)

    def raise_failures(self) -> None:
        """After the sync: one line per workspace or pair that did not sync, exit 1."""
        self.failures.raise_if_any()

    def inline(
        self, stream: str, project_id: str, bookmark: object, *, window_days: int
    ) -> Iterator[list[Record]]:
        """The partition's windows read on this thread, one by one (``--test``, a probe)."""
        task = self.plan.task(stream, project_id, bookmark, window_days=window_days)
        read = self._readers[stream]
        return (read(window, None) for window in task.windows)

    def tick(self, records: int) -> None:
        """``records`` were just written: write a STATE if its interval has passed."""
        self._unwritten += records
        if time.monotonic() - self._last_state_at >= self._state_interval:
            self._write_state()

    def checkpoint(self) -> None:
        """Before a failure goes up: a STATE for the records written since the last one."""
        if self._unwritten:
            self._write_state()

    def state_written(self, size: int) -> None:
        """A STATE of ``size`` bytes went out (state.StateOut): it covers every record
        written, and the next one is due an interval later."""
        self._unwritten = 0
        self._last_state_at = time.monotonic()
        # A large state (thousands of partitions) is written less often: every message
        # carries all of it, so the bytes stay in proportion to the run, not to it squared.
        self._state_interval = max(
            self.settings.state_interval_seconds, size / STATE_BYTES_PER_SECOND
        )

    def state_may_wait(self) -> bool:
        """Whether a STATE the SDK writes (at a stream's end) may wait for the next one.

        Only a large state does, within its interval, and never at the last stream's
        end: that STATE is the run's last word.
        """
        return (
            not self.state_at_every_stream_end
            and self._prefetcher is not None
            and self._state_interval > self.settings.state_interval_seconds
            and self._stream != self._last_stream
            and time.monotonic() - self._last_state_at < self._state_interval
        )

    @property
    def unwritten(self) -> int:
        """Records written since the last STATE."""
        return self._unwritten

    def stop(self) -> None:
        """No more fetching: the run failed or is over. Workers finish their try and exit."""
        if self._prefetcher is not None:
            self._prefetcher.close()

    def close(self) -> None:
        """Stop fetching, close every connection and the budgets' leak thread; a later
        sync starts afresh (new budgets, new connections)."""
        self.stop()
        with self._lock:
            self._prefetcher = None
        # Each is made only once a request needs it. They stay, closed, until a later
        # sync starts: a worker still on its window then finds the transport closed and
        # stops, instead of making new connections (and a new leak thread) nobody closes.
        if "transport" in self.__dict__:
            self.transport.close()
        if "budgets" in self.__dict__:
            self.budgets.close()
        self._closed = True

    @property
    def prefetcher(self) -> Prefetcher | None:
        """The prefetcher, once a sync has laid it out (tests, benchmarks)."""
        return self._prefetcher

    def _start(self) -> Prefetcher:
        with self._lock:
            if self._prefetcher is None:
                if self._closed:  # a later sync of this tap: from where the last one ended
                    self.__dict__.pop("transport", None)  # fresh connections and budgets
                    self.__dict__.pop("budgets", None)
                    self.load_state(self._current_state())
                    self.failures = Failures()
                    self._closed = False
                tune_allocator()  # before the workers' first allocation (allocator.py)
                concurrency = self.settings.max_concurrency
                readers = self._readers
                lanes = self._lanes()
                self._last_stream = lanes[-1].stream if lanes else ""
                self._prefetcher = Prefetcher(
                    self.plan.tasks(lanes),
                    lambda window, on_answer: readers[window.stream](window, on_answer),
                    workers=concurrency,
                    # Two windows per worker: one in flight, one ready for the writer...
                    lookahead=2 * concurrency,
                    # ...but never more days (rows) than this ahead of the writer, so memory
                    # stays flat with the range: a 365-day window is ~0.3 MB of rows, a daily
                    # run's one-day windows are held back by the look-ahead alone.
                    max_days_ahead=MAX_DAYS_PER_REQUEST * max(8, concurrency // 4),
                    isolate=not self.settings.fail_fast,
                )
                self._last_state_at = time.monotonic()
                # The state written will be about the input state's size (the SDK echoes
                # that one itself, past our writer), so its interval starts from it.
                self._state_interval = max(
                    self.settings.state_interval_seconds,
                    len(msgspec.json.encode(self._input_state)) / STATE_BYTES_PER_SECOND,
                )
            return self._prefetcher
