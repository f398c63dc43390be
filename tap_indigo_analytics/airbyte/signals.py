"""SIGTERM and SIGINT for the Airbyte face: stop at any moment, within 2 s, by the signal.

Airbyte clients stop a source with SIGTERM (PyAirbyte does as soon as it has its
answer) and accept only "exit 0" or "killed by SIGTERM" (-15) as a clean end.
The handler therefore does no I/O at all - writing from it deadlocked on the
output lock the interrupted main thread held - and only raises ``Terminated`` on
the main thread. The code it unwinds through releases its locks, ``read``
closes its streams as INCOMPLETE, and ``die`` ends the process by the signal
itself (so the exit status says what happened: -15, or 143 in a shell).

Should the unwinding hang (a swallowed exception, a worker pool that waits for a
slow request), a watchdog thread runs the registered last words and kills the
process after ``FORCE_AFTER_S``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import NoReturn

#: How long the orderly unwinding may take before the watchdog ends the process.
FORCE_AFTER_S = 1.0
#: The signals this face handles (SIGINT: Ctrl-C when run by hand).
SIGNALS = (signal.SIGTERM, signal.SIGINT)

_received: int | None = None
_last_words: list[Callable[[], None]] = []


class Terminated(BaseException):
    """The process was asked to stop. A ``BaseException``, so no ``except Exception`` eats it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def install() -> None:
    """Handle SIGTERM and SIGINT here (again: building a tap installs the SDK's handlers).

    A no-op once a signal was received, as the default action must stay in place then.
    """
    if _received is None:
        for signum in SIGNALS:
            signal.signal(signum, _handle)


def on_force(callback: Callable[[], None]) -> None:
    """Have the watchdog call ``callback`` (without blocking for long) before it kills."""
    _last_words.append(callback)


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = signum
    # A second signal now kills at once, as users expect from a second Ctrl-C.
    for each in SIGNALS:
        signal.signal(each, signal.SIG_DFL)
    threading.Thread(target=_watchdog, args=(signum,), daemon=True, name="sigterm").start()
    raise Terminated(signum)


def _watchdog(signum: int) -> None:
    time.sleep(FORCE_AFTER_S)
    for callback in _last_words:
        with contextlib.suppress(Exception):  # nothing may stop the kill
            callback()
    die(signum)


def die(signum: int) -> NoReturn:
    """End the process by ``signum`` with its default action (so -15 for SIGTERM)."""
    for stream in (sys.__stdout__, sys.__stderr__):
        # A closed or broken pipe: nothing left to flush to.
        with contextlib.suppress(OSError, ValueError, AttributeError):
            stream.flush()  # type: ignore[union-attr]
    if threading.current_thread() is threading.main_thread():
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    time.sleep(1)  # the signal is delivered before this ends; exit anyway should it not be
    os._exit(128 + signum)
