"""One deadline per try: a watchdog that cuts the socket of any try past its deadline.

``requests`` bounds each socket read (``timeout``), never a whole answer: a body sent a
byte at a time, an endless run of ``100 Continue`` lines or an endless chunked body
keeps a try alive for ever. No well-kept library adds a total deadline to ``requests``
(urllib3's ``Timeout(total=…)`` still resets per read; aiohttp and httpx would mean a
second HTTP stack), so this module adds the smallest piece that works: one watchdog
thread, sleeping on a heap of deadlines, that shuts down the socket of any try past
its deadline. It holds the socket itself, not only the connection: for an answer with
``Connection: close`` (or in HTTP/1.0) ``http.client`` hands the socket from the
connection to the response. The blocked read then fails at once, and the try is
reported as a timeout, whatever stage it was in (a cut in the headers included).

The pools here make connections that tell the watchdog which socket the calling
thread's try uses (``current.attempt``, set by transport.py).
"""

from __future__ import annotations

import contextlib
import heapq
import itertools
import socket
import threading
import time
import typing as t

from urllib3.connection import HTTPConnection, HTTPSConnection
from urllib3.connectionpool import HTTPConnectionPool, HTTPSConnectionPool

__all__ = ["Attempt", "HTTPPool", "HTTPSPool", "current", "watchdog"]


class Attempt:
    """One try in flight: its deadline and the connection and sockets it uses."""

    __slots__ = ("connection", "deadline", "expired", "finished", "sockets")

    def __init__(self, deadline: float) -> None:
        self.deadline = deadline
        self.connection: HTTPConnection | None = None
        self.sockets: list[socket.socket] = []
        self.expired = False
        self.finished = False

    def cut(self) -> None:
        """Shut down every socket of the try: a blocked read fails at once."""
        sockets = list(self.sockets)
        if self.connection is not None and self.connection.sock is not None:
            sockets.append(self.connection.sock)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by its owner
                sock.shutdown(socket.SHUT_RDWR)


class _Watchdog:
    """Cuts every try that outlives its deadline: one thread, a heap, a condition wait."""

    def __init__(self) -> None:
        self._cv = threading.Condition()
        self._heap: list[tuple[float, int, Attempt]] = []
        self._order = itertools.count()
        self._thread: threading.Thread | None = None

    def add(self, attempt: Attempt) -> None:
        with self._cv:
            heapq.heappush(self._heap, (attempt.deadline, next(self._order), attempt))
            if self._thread is None:
                self._thread = threading.Thread(
                    target=self._run, name="indigo-deadlines", daemon=True
                )
                self._thread.start()
            if self._heap[0][2] is attempt:
                self._cv.notify()  # the earliest deadline changed

    def hold(self, attempt: Attempt, connection: HTTPConnection) -> None:
        """The try uses ``connection`` and, once connected, its socket."""
        with self._cv:
            if attempt.finished:
                return
            attempt.connection = connection
            if connection.sock is not None and connection.sock not in attempt.sockets:
                attempt.sockets.append(connection.sock)
            if attempt.expired:
                attempt.cut()

    def finish(self, attempt: Attempt) -> bool:
        """The try is over (before its connection goes back to the pool): never cut it
        from now on. Whether it had expired."""
        with self._cv:
            attempt.finished = True
            attempt.connection = None
            attempt.sockets.clear()
            return attempt.expired

    def _run(self) -> None:
        with self._cv:
            while True:
                if not self._heap:
                    self._cv.wait()
                    continue
                deadline, _, attempt = self._heap[0]
                if attempt.finished:
                    heapq.heappop(self._heap)
                    continue
                wait = deadline - time.monotonic()
                if wait > 0:
                    self._cv.wait(wait)
                    continue
                heapq.heappop(self._heap)
                attempt.expired = True
                attempt.cut()  # under the lock: finish() cannot hand the socket on meanwhile


watchdog = _Watchdog()
#: The calling thread's try in flight (``attempt``), set by the transport.
current = threading.local()


class _WatchedMixin:
    """Tells the calling thread's try which connection and socket it is using."""

    def request(self, *args: t.Any, **kwargs: t.Any) -> None:
        attempt: Attempt | None = getattr(current, "attempt", None)
        connection = t.cast("HTTPConnection", self)
        if attempt is not None:
            watchdog.hold(attempt, connection)
        super().request(*args, **kwargs)  # type: ignore[misc]
        if attempt is not None:  # connected now: keep the socket, whoever owns it later
            watchdog.hold(attempt, connection)


class _WatchedHTTPConnection(_WatchedMixin, HTTPConnection):
    pass


class _WatchedHTTPSConnection(_WatchedMixin, HTTPSConnection):
    pass


class HTTPPool(HTTPConnectionPool):
    ConnectionCls = _WatchedHTTPConnection


class HTTPSPool(HTTPSConnectionPool):
    ConnectionCls = _WatchedHTTPSConnection
