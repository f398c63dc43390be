"""SIGTERM and SIGINT for the Airbyte face: stop at any moment, within 2 s, by the signal.

Airbyte clients stop a source with SIGTERM (PyAirbyte does as soon as it has its
answer) and accept only "exit 0" or "killed by SIGTERM" (-15) as a clean end.
The handler therefore takes no lock and does no I/O - the SDK's handler logged,
and deadlocked on the output lock the interrupted main thread held - it only
raises ``Terminated`` on the main thread. The code it unwinds through releases
its locks, ``read`` closes its streams as INCOMPLETE, and ``die`` ends the
process by the signal itself (-15, or 143 in a shell).

Should the unwinding hang (a swallowed exception, a worker pool waiting for a
slow request), a watchdog thread runs the registered last words and kills the
process ``FORCE_AFTER_S`` after the signal. It is started up front and woken
through ``signal.set_wakeup_fd`` - the interpreter's own async-signal-safe
channel - because starting a thread inside a handler can deadlock on the
threading module's locks when the signal lands in ``Thread.start``.
"""

from __future__ import annotations

import contextlib
import os
import signal
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
_watching = False
_last_words: list[Callable[[], None]] = []


class Terminated(BaseException):
    """The process was asked to stop. A ``BaseException``, so no ``except Exception`` eats it."""

    def __init__(self, signum: int) -> None:
        super().__init__(f"stopped by {signal.Signals(signum).name}")
        self.signum = signum


def install() -> None:
    """Handle SIGTERM and SIGINT here (again: building a tap installs the SDK's handlers).

    Call on the main thread. A no-op once a signal was received: from then on the
    default action stays, so a second signal kills at once.
    """
    global _watching
    if _received is not None:
        return
    if not _watching:
        read_end, write_end = os.pipe()
        os.set_blocking(write_end, False)
        signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        threading.Thread(
            target=_watchdog, args=(read_end,), daemon=True, name="signal-watchdog"
        ).start()
        _watching = True
    for signum in SIGNALS:
        signal.signal(signum, _handle)


def reinstall() -> None:
    """Install again, if this face handles the process's signals (its command line
    installed them): a tap built since may have set handlers of its own.

    A program that builds the tap in its own process keeps its handlers and threads.
    """
    if _watching and _received is None:
        install()


def uninstall() -> None:
    """Give SIGTERM and SIGINT their default action back (end the process at once)."""
    for signum in SIGNALS:
        signal.signal(signum, signal.SIG_DFL)


def on_force(callback: Callable[[], None]) -> None:
    """Have the watchdog call ``callback`` (which must not block for long) before it kills."""
    _last_words.append(callback)


def _handle(signum: int, frame: FrameType | None) -> None:
    global _received
    _received = signum
    uninstall()
    raise Terminated(signum)


def _watchdog(read_end: int) -> None:
    while True:
        woken = os.read(read_end, 64)
        ours = [signum for signum in woken if signum in SIGNALS]
        if ours:
            break
    time.sleep(FORCE_AFTER_S)
    for callback in _last_words:
        with contextlib.suppress(Exception):  # nothing may stop the kill
            callback()
    die(ours[0])


def die(signum: int) -> NoReturn:
    """End the process by ``signum`` with its default action (so -15 for SIGTERM).

    No flush: every message was flushed as it was written, and flushing here could
    wait on a stream's lock held by a stuck main thread.
    """
    if threading.current_thread() is threading.main_thread():
        signal.signal(signum, signal.SIG_DFL)
    os.kill(os.getpid(), signum)
    time.sleep(1)  # delivered before this ends; should the signal not kill, exit anyway
    os._exit(128 + signum)
