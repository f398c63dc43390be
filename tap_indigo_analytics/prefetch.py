"""Concurrent fetching, handed over in the order the SDK writes.

The SDK syncs selected streams one after another, and each stream's partitions (one
per workspace) in order; it alone writes RECORD and STATE messages, on the main
thread. The prefetcher keeps that: at the first partition of a sync it lays out every
window the run will read, in exactly that order, and worker threads fetch them, at
most ``max_concurrency`` at a time and at most ``lookahead`` windows ahead of the
window being written. The main thread takes each window's records in order; a worker
never writes a message nor touches the tap's state, so every STATE still covers only
records already written.

Each workspace's first window goes alone (the probe); its other windows wait until the
probe's first answer, so a bad token costs one request per workspace. A failure stops
what its scope says (errors.py, failures.py): a 401/403 its workspace, anything else
its (stream, workspace) pair, whose later windows are then never started; the reader
gets the failure when it reaches the pair. A failure of the host stops the run at once.
With ``isolate=False`` (``fail_fast``) any failure stops the run when the SDK reaches the
failed window: nothing after it is started, and everything before it (other workspaces'
windows already fetched included) is written and checkpointed first, whatever the
workers' timing.

Hand-written rather than a ``ThreadPoolExecutor``: the executor cannot hold a task
back until another one's first answer, bound work by distance from the reader rather
than by queue length, or exit without joining a worker stuck in a 429 wait.
"""

from __future__ import annotations

import threading
import typing as t
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

from tap_indigo_analytics.errors import IndigoError
from tap_indigo_analytics.windows import Record, Window

_PROBE_PENDING, _PROBE_RUNNING, _PROBE_DONE = 0, 1, 2
_WAIT_S = 0.25  # waits wake up this often, so signals reach the main thread promptly


#: Fetches one window; calls its second argument (if any) after the first answer.
FetchWindow = Callable[[Window, "Callable[[], None] | None"], list[Record]]


@dataclass(frozen=True)
class Task:
    """One (stream, workspace) partition: the windows of its sync range, in order."""

    stream: str
    project_id: str
    windows: tuple[Window, ...]


@dataclass(eq=False)
class _Slot:
    index: int
    window: Window
    task: int
    started: bool = False
    probe: bool = False
    done: bool = False
    records: list[Record] | None = None
    error: BaseException | None = None
    held_days: int = 0  # days counted in the look-ahead until handed over or dropped
    handed: bool = False


@dataclass
class _TaskSlots:
    task: Task
    slots: list[_Slot] = field(default_factory=list)
    failed: BaseException | None = None  # later windows are not started
    abandoned: bool = False  # the reader left it: what is still fetched is dropped


class OrderError(RuntimeError):
    """The SDK asked for a partition out of the planned order (a bug, never data)."""


class Prefetcher:
    """Fetches the planned windows on worker threads; hands them over in order."""

    def __init__(
        self,
        tasks: Sequence[Task],
        fetch: FetchWindow,
        *,
        workers: int,
        lookahead: int,
        max_days_ahead: int,
        isolate: bool = True,
    ) -> None:
        self._fetch = fetch
        self._isolate = isolate
        self._lookahead = max(lookahead, 1)
        self._max_days_ahead = max_days_ahead
        self._tasks: list[_TaskSlots] = []
        self._slots: list[_Slot] = []
        for task in tasks:
            entry = _TaskSlots(task)
            for window in task.windows:
                slot = _Slot(len(self._slots), window, len(self._tasks))
                entry.slots.append(slot)
                self._slots.append(slot)
            self._tasks.append(entry)
        self._probes: dict[str, int] = {task.project_id: _PROBE_PENDING for task in tasks}
        self._failed_workspaces: dict[str, BaseException] = {}
        # One lock, two waiting rooms: the writer waits for its window, workers for
        # work. Each event wakes whom it concerns (one worker per new room, who passes
        # it on if more is free) instead of every thread: at 64 workers a notify_all per
        # window cost more CPU than the window's own request.
        self._lock = threading.Lock()
        self._reader_cv = threading.Condition(self._lock)
        self._work_cv = threading.Condition(self._lock)
        self._next_task = 0
        self._reader = 0  # index of the window the main thread writes or waits for
        self._lowest_unstarted = 0
        self._first_failed = len(self._slots)
        self._days_ahead = 0  # days of the windows started and not yet handed over
        self._fatal: BaseException | None = None
        self._closed = False
        # No more threads than windows that can be ahead at once (each thread costs memory).
        shortest = min((slot.window.days for slot in self._slots), default=1)
        count = min(workers, len(self._slots), max_days_ahead // max(shortest, 1) + 1)
        self._threads = [
            threading.Thread(target=self._work, name=f"indigo-fetch-{n}", daemon=True)
            for n in range(count)
        ]
        for thread in self._threads:
            thread.start()

    # --- main thread ------------------------------------------------------------------

    def begin(self, stream: str, project_id: str) -> Task:
        """The next partition's task; it must be the one the plan has next."""
        with self._lock:
            if self._next_task >= len(self._tasks):
                raise OrderError(
                    f"no partition planned after the last; asked {stream} {project_id}"
                )
            task = self._tasks[self._next_task].task
            if (task.stream, task.project_id) != (stream, project_id):
                raise OrderError(
                    f"the SDK asked for {stream}, workspace {project_id}, but the plan has "
                    f"{task.stream}, workspace {task.project_id} next"
                )
            self._next_task += 1
            return task

    def records(self, task: Task) -> Iterator[list[Record]]:
        """Each window's records of ``task``, in order; raises a window's failure."""
        entry = self._tasks[self._next_task - 1]
        if entry.task is not task:
            raise OrderError(f"{task.stream}, workspace {task.project_id} is not the current task")
        try:
            for slot in entry.slots:
                with self._lock:
                    self._reader = slot.index
                    self._work_cv.notify()  # the look-ahead moves with the reader
                    while not slot.done and self._fatal is None:
                        reason = None if slot.started else self._skip_reason(slot)
                        if reason is not None:
                            self._skip(slot, reason)
                            break
                        self._reader_cv.wait(_WAIT_S)
                    if self._fatal is not None:
                        raise self._fatal
                    records, error = slot.records, slot.error
                    self._release(slot)  # handed over: memory stays bounded by the look-ahead
                if error is not None:
                    raise error
                assert records is not None
                yield records
        finally:
            self._abandon(entry)

    def close(self) -> None:
        """Stop handing out work; workers finish their current try and exit."""
        with self._lock:
            self._closed = True
            self._work_cv.notify_all()
            self._reader_cv.notify_all()

    # --- worker threads ---------------------------------------------------------------

    def _work(self) -> None:
        while True:
            with self._lock:
                slot = self._pick()
                while slot is None:
                    if self._closed or self._lowest_unstarted >= len(self._slots):
                        self._work_cv.notify()  # pass it on: the others exit too
                        return
                    self._work_cv.wait(_WAIT_S)
                    slot = self._pick()
                self._work_cv.notify()  # there may be more: one more worker looks
            on_answer = (lambda s=slot: self._probe_answered(s)) if slot.probe else None
            try:
                records = self._fetch(slot.window, on_answer)
            except BaseException as exc:  # handed to the main thread, raised there
                self._finish(slot, None, exc)
            else:
                self._finish(slot, records, None)

    def _pick(self) -> _Slot | None:
        """The first window a worker may start now (called with the lock held)."""
        if self._closed or self._fatal is not None:
            return None
        slots = self._slots
        while self._lowest_unstarted < len(slots) and slots[self._lowest_unstarted].started:
            self._lowest_unstarted += 1
        limit = min(self._reader + self._lookahead, self._first_failed, len(slots))
        for index in range(self._lowest_unstarted, limit):
            slot = slots[index]
            if slot.started:
                continue
            reason = self._skip_reason(slot)
            if reason is not None:
                self._skip(slot, reason)
                continue
            probe = self._probes[slot.window.project_id]
            if probe == _PROBE_RUNNING:
                continue
            if index != self._reader and self._days_ahead + slot.window.days > self._max_days_ahead:
                return None  # in order: nothing later starts before this one fits
            if probe == _PROBE_PENDING:
                self._probes[slot.window.project_id] = _PROBE_RUNNING
                slot.probe = True
            slot.started = True
            slot.held_days = slot.window.days
            self._days_ahead += slot.held_days
            return slot
        return None

    def _skip_reason(self, slot: _Slot) -> BaseException | None:
        """Why a window is not to be fetched: its pair or workspace failed (lock held)."""
        entry = self._tasks[slot.task]
        if entry.failed is not None:
            return entry.failed
        if entry.abandoned:
            return OrderError("abandoned")  # never handed to anyone
        return self._failed_workspaces.get(slot.window.project_id)

    def _skip(self, slot: _Slot, reason: BaseException) -> None:
        slot.started = slot.done = True
        slot.error = reason
        if slot.index == self._reader:
            self._reader_cv.notify()

    def _release(self, slot: _Slot) -> None:
        """The slot's records leave: handed over or dropped (lock held)."""
        slot.records = None
        slot.handed = True
        self._days_ahead -= slot.held_days
        slot.held_days = 0
        self._work_cv.notify()  # days freed in the look-ahead

    def _abandon(self, entry: _TaskSlots) -> None:
        """The reader is done with a task, maybe early: drop what it will not read."""
        with self._lock:
            entry.abandoned = True
            for slot in entry.slots:
                if slot.handed:
                    continue
                if not slot.started:
                    self._skip(slot, OrderError("abandoned"))
                if slot.done:
                    self._release(slot)
                # In flight: dropped by _finish when it ends.

    def _probe_answered(self, slot: _Slot) -> None:
        with self._lock:
            self._probes[slot.window.project_id] = _PROBE_DONE
            self._work_cv.notify()  # the workspace's other windows may start

    def _finish(
        self, slot: _Slot, records: list[Record] | None, error: BaseException | None
    ) -> None:
        with self._lock:
            slot.records, slot.error, slot.done = records, error, True
            if slot.probe:
                self._probes[slot.window.project_id] = _PROBE_DONE
                self._work_cv.notify()
            if error is not None:
                self._failed(slot, error)
                # What it stops changes what the writer and the workers do next.
                self._reader_cv.notify_all()
                self._work_cv.notify_all()
            elif slot.index == self._reader:
                self._reader_cv.notify()
            entry = self._tasks[slot.task]
            if entry.abandoned and not slot.handed:
                self._release(slot)

    def _failed(self, slot: _Slot, error: BaseException) -> None:
        """What a window's failure stops (lock held)."""
        scope = error.scope if isinstance(error, IndigoError) else None
        if scope == "run":
            self._fatal = error
        elif self._isolate and scope == "workspace":
            self._failed_workspaces.setdefault(slot.window.project_id, error)
        elif self._isolate and scope == "pair":
            entry = self._tasks[slot.task]
            entry.failed = entry.failed or error
        else:
            # Nothing after a failed window is started: the run stops there anyway.
            self._first_failed = min(self._first_failed, slot.index)

    @property
    def threads(self) -> t.Sequence[threading.Thread]:
        """The worker threads (for tests and the benchmark's thread count)."""
        return tuple(self._threads)
