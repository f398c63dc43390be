"""HTTP plumbing: the threaded server, the handler, and how a reply goes on the wire.

Standard library only (``http.server``), on purpose: the emulator must run standalone
(``python -m tests.emulator``) with no extra dependencies, and a hand-rolled handler can
misbehave at the socket level (drop a connection, trickle a body, send endless interim
responses or an endless chunked body) in ways a web framework would not let us.
"""

from __future__ import annotations

import json
import socket
import socketserver
import ssl
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any, cast

if TYPE_CHECKING:
    from tests.emulator.app import Emulator

#: Seconds between two interim responses of ``endless_continue``.
CONTINUE_EVERY_S = 0.05
_CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"


@dataclass
class Reply:
    """One answer: a status and a body, or a streamed body, or no answer at all."""

    status: int
    body: bytes = b""
    content_type: str = "application/json"
    headers: tuple[tuple[str, str], ...] = ()
    fault: str | None = None
    drop: bool = False
    #: The JSON document behind ``body``, kept so ``echo_token`` can rewrite its message.
    payload: Any = None
    #: A body sent piece by piece instead of ``body``: with ``length`` as Content-Length,
    #: or chunked when ``length`` is None. Pieces are made lazily, never all at once.
    stream: Iterator[bytes] | None = None
    length: int | None = None
    #: Interim ``100 Continue`` responses for ever instead of any answer.
    endless_continue: bool = False
    #: ``Connection: close`` and close after the answer.
    close: bool = False
    #: An HTTP/1.0 answer without Content-Length, ended by closing the connection.
    http10: bool = False


def json_reply(status: int, payload: Any, fault: str | None = None, **kw: Any) -> Reply:
    """A JSON answer."""
    return Reply(status, json.dumps(payload).encode(), fault=fault, payload=payload, **kw)


def error(status: int, message: str, fault: str | None = None) -> Reply:
    """The API's error envelope."""
    return json_reply(status, {"status": "ERROR", "message": message}, fault)


class Server(ThreadingHTTPServer):
    """A threaded HTTP server that knows its open connections, so stop() can cut them."""

    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128  # tests open many parallel connections

    def __init__(self, address: tuple[str, int], emulator: Emulator) -> None:
        self.emulator = emulator
        # Open connections, so stop() can cut keep-alive sockets (and endless answers)
        # that would otherwise keep being served after the listener closes.
        self.connections: set[socket.socket] = set()
        self.connections_lock = threading.Lock()
        #: Set by stop(): every wait inside an answer (trickle, endless) ends on it.
        self.stopping = threading.Event()
        super().__init__(address, Handler)

    def server_bind(self) -> None:
        # HTTPServer.server_bind calls socket.getfqdn(), a reverse DNS lookup that can
        # stall for seconds in sandboxes; loopback needs no name.
        socketserver.TCPServer.server_bind(self)
        host, port = self.server_address[:2]
        self.server_name, self.server_port = str(host), int(port)

    def process_request(self, request: Any, client_address: Any) -> None:
        with self.connections_lock:
            self.connections.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self.connections_lock:
            self.connections.discard(request)
        super().shutdown_request(request)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that gave up (timeout, closed session, a refused certificate) is
        # routine, not an error.
        if isinstance(sys.exc_info()[1], (ConnectionError, TimeoutError, ssl.SSLError)):
            return
        super().handle_error(request, client_address)


class Handler(BaseHTTPRequestHandler):
    """Hands every request to the emulator; writes what it answers."""

    # HTTP/1.1 + Content-Length on every reply keeps connections alive, so a
    # requests.Session really reuses them as it would against the vendor.
    protocol_version = "HTTP/1.1"
    server_version = "IndigoAnalyticsEmulator/1.0"
    sys_version = ""
    timeout = 60  # an idle keep-alive connection must not pin a thread forever
    # Headers and body go out in two writes; with Nagle on, the client's delayed ACK
    # would add ~40 ms to every response.
    disable_nagle_algorithm = True

    #: When the request line was read: the injected latency counts from here.
    arrived = 0.0
    #: Seconds between two bytes of the headers after the status line (trickle_headers).
    header_trickle_s = 0.0

    @property
    def emulator(self) -> Emulator:
        return cast(Server, self.server).emulator

    @property
    def stopping(self) -> threading.Event:
        return cast(Server, self.server).stopping

    def parse_request(self) -> bool:
        self.arrived = time.monotonic()  # before parsing the headers, which take a while too
        return super().parse_request()

    def do_GET(self) -> None:
        self.emulator._serve(self, "GET")

    def do_POST(self) -> None:
        self.emulator._serve(self, "POST")

    def do_PUT(self) -> None:
        self.emulator._serve(self, "PUT")

    def do_PATCH(self) -> None:
        self.emulator._serve(self, "PATCH")

    def do_DELETE(self) -> None:
        self.emulator._serve(self, "DELETE")

    def flush_headers(self) -> None:
        buffered: list[bytes] = getattr(self, "_headers_buffer", [])
        if self.header_trickle_s <= 0 or not buffered:
            super().flush_headers()
            return
        data = b"".join(buffered)
        buffered.clear()
        status, _, rest = data.partition(b"\r\n")
        self.wfile.write(status + b"\r\n")
        self._write(rest, self.header_trickle_s)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        pass  # the emulator prints its own line per request under --verbose

    def log_message(self, format: str, *args: Any) -> None:
        if self.emulator.verbose:
            super().log_message(format, *args)

    def send_reply(self, reply: Reply, trickle_s: float = 0.0) -> None:
        """Write ``reply``; a client that leaves or stop() ends any endless answer."""
        try:
            self._send(reply, trickle_s)
        except (ConnectionError, TimeoutError):
            self.close_connection = True  # the client left or stopped reading
        if self.stopping.is_set():
            self.close_connection = True

    def _send(self, reply: Reply, trickle_s: float) -> None:
        if reply.drop:
            self.close_connection = True
            return
        if reply.endless_continue:
            self.close_connection = True
            # Each write to a client that closed fails within two rounds (RST), which
            # ends the loop; stop() sets the event and cuts the socket.
            while not self.stopping.is_set():
                self.wfile.write(_CONTINUE)
                self.stopping.wait(CONTINUE_EVERY_S)
            return
        if reply.http10:
            self.protocol_version = "HTTP/1.0"  # this answer only: the handler is per connection
        self.send_response(reply.status)
        self.send_header("Content-Type", reply.content_type)
        chunked = reply.stream is not None and reply.length is None and not reply.http10
        if reply.close or reply.http10:
            self.close_connection = True
            self.send_header("Connection", "close")
        if chunked:
            self.send_header("Transfer-Encoding", "chunked")
        elif not reply.http10:
            size = reply.length if reply.stream is not None else len(reply.body)
            self.send_header("Content-Length", str(size))
        for name, value in reply.headers:
            self.send_header(name, value)
        self.end_headers()
        pieces = reply.stream if reply.stream is not None else iter((reply.body,))
        for piece in pieces:
            if self.stopping.is_set():
                return
            if chunked:
                piece = b"%x\r\n%s\r\n" % (len(piece), piece)
            self._write(piece, trickle_s)
        if chunked:
            self._write(b"0\r\n\r\n", trickle_s)

    def _write(self, data: bytes, trickle_s: float) -> None:
        if trickle_s <= 0:
            self.wfile.write(data)
            return
        for index in range(len(data)):
            self.wfile.write(data[index : index + 1])
            if self.stopping.wait(trickle_s):
                self.close_connection = True
                return
