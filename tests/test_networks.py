"""Corporate networks and closing connections: private CAs, proxies, Connection: close.

An https emulator on loopback with a CA made at test time (the ``openssl`` tool), a
logging CONNECT proxy on loopback, and the ``Connection: close`` / HTTP/1.0 variants
of the hang faults, where ``http.client`` hands the socket to the response.
"""

from __future__ import annotations

import contextlib
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import WORKSPACES, days_back, run_tap, workspace_config
from tests.emulator import Emulator, Faults

ALPHA = "ws-alpha"
#: Every variable that could send the tap's requests elsewhere, cleared for each run.
NO_NETWORK_ENV = {
    name: ""
    for name in (
        "HTTPS_PROXY",
        "https_proxy",
        "HTTP_PROXY",
        "http_proxy",
        "ALL_PROXY",
        "all_proxy",
        "NO_PROXY",
        "no_proxy",
        "REQUESTS_CA_BUNDLE",
        "CURL_CA_BUNDLE",
        "SSL_CERT_FILE",
    )
}


def config(emulator: Emulator, **overrides: Any) -> dict[str, Any]:
    return workspace_config(
        emulator,
        ALPHA,
        **{"start_date": days_back(9), "max_concurrency": 1, "fail_fast": True, **overrides},
    )


# --- a CA made at test time -----------------------------------------------------------


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A throw-away CA and a certificate it signed for 127.0.0.1 and localhost."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl tool is not installed")
    tmp = tmp_path_factory.mktemp("pki")

    def openssl(*args: str) -> None:
        subprocess.run(["openssl", *args], cwd=tmp, check=True, capture_output=True)

    openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj",
            "/CN=Test CA", "-keyout", "ca.key", "-out", "ca.pem",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign")  # fmt: skip
    openssl("req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1",
            "-keyout", "server.key", "-out", "server.csr")  # fmt: skip
    Path(tmp, "ext.cnf").write_text("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "2", "-out", "server.pem",
            "-extfile", "ext.cnf")  # fmt: skip
    return {"ca": tmp / "ca.pem", "cert": tmp / "server.pem", "key": tmp / "server.key"}


@pytest.fixture
def https_emulator(pki: dict[str, Path]) -> Iterator[Emulator]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(pki["cert"], pki["key"])
    with Emulator(WORKSPACES, tls=context) as emulator:
        yield emulator


def test_the_ca_bundle_setting_is_trusted(https_emulator: Emulator, pki: dict[str, Path]) -> None:
    run = run_tap(config(https_emulator, ca_bundle=str(pki["ca"])), env=NO_NETWORK_ENV)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records()) == 6 * 10


@pytest.mark.parametrize("variable", ["REQUESTS_CA_BUNDLE", "CURL_CA_BUNDLE", "SSL_CERT_FILE"])
def test_the_ca_variables_are_honoured(
    https_emulator: Emulator, pki: dict[str, Path], variable: str
) -> None:
    env = {**NO_NETWORK_ENV, variable: str(pki["ca"])}
    run = run_tap(config(https_emulator), env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records()) == 6 * 10


def test_an_untrusted_certificate_fails_at_once_in_one_line(https_emulator: Emulator) -> None:
    run = run_tap(config(https_emulator, fail_fast=False), env=NO_NETWORK_ENV)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "retrying" not in run.stderr  # not transient: never retried
    error = run.error_lines()[-1]
    port = https_emulator.base_url.rsplit(":", 1)[1]
    assert f"https://127.0.0.1:{port}: the server's TLS certificate is not trusted" in error
    assert "`ca_bundle`" in error
    assert not https_emulator.requests()  # the handshake failed: no request was made


def test_a_bad_ca_bundle_setting_is_a_config_error(tmp_path: Path) -> None:
    (tmp_path / "empty.pem").write_text("nothing here\n")
    for value, expected in (
        (str(tmp_path / "missing.pem"), "cannot be read"),
        (str(tmp_path / "empty.pem"), "holds no PEM certificate"),
    ):
        run = run_tap({"project_id": "p", "pat": "pat-aToken123", "ca_bundle": value})
        assert run.returncode == 1
        assert any(f"config `ca_bundle` {value!r} {expected}" in e for e in run.error_lines())


# --- a logging proxy on loopback -------------------------------------------------------


class _Proxy(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, refuse: bool) -> None:
        self.refuse = refuse
        self.log: list[str] = []
        super().__init__(("127.0.0.1", 0), _ProxyHandler)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _ProxyHandler(socketserver.StreamRequestHandler):
    """CONNECT host:port, then bytes both ways; ``refuse``: 502 as a proxy that cannot
    reach the host does."""

    def handle(self) -> None:
        server = t_cast(self.server)
        line = self.rfile.readline().decode("latin-1").strip()
        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
            pass
        server.log.append(line)
        method, target, _ = line.split(" ", 2)
        if method != "CONNECT" or server.refuse:
            self.wfile.write(b"HTTP/1.1 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")
            return
        host, port = target.rsplit(":", 1)
        with socket.create_connection((host, int(port))) as upstream:
            self.wfile.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            self.wfile.flush()
            _pipe(self.connection, upstream)


def t_cast(server: socketserver.BaseServer) -> _Proxy:
    assert isinstance(server, _Proxy)
    return server


def _pipe(a: socket.socket, b: socket.socket) -> None:
    sockets = [a, b]
    while True:
        readable, _, _ = select.select(sockets, [], [], 30)
        if not readable:
            return
        for sock in readable:
            data = sock.recv(65536)
            if not data:
                return
            (b if sock is a else a).sendall(data)


@contextlib.contextmanager
def proxy(*, refuse: bool = False) -> Iterator[_Proxy]:
    server = _Proxy(refuse)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_an_https_proxy_is_used(https_emulator: Emulator, pki: dict[str, Path]) -> None:
    port = https_emulator.base_url.rsplit(":", 1)[1]
    with proxy() as server:
        env = {**NO_NETWORK_ENV, "HTTPS_PROXY": server.url, "https_proxy": server.url}
        run = run_tap(config(https_emulator, ca_bundle=str(pki["ca"])), env=env)
    assert run.returncode == 0, run.stderr[-3000:]
    assert len(run.records()) == 6 * 10
    assert server.log
    assert all(line == f"CONNECT 127.0.0.1:{port} HTTP/1.0" for line in server.log), server.log


def test_a_proxy_that_cannot_reach_the_host_is_named(
    https_emulator: Emulator, pki: dict[str, Path]
) -> None:
    with proxy(refuse=True) as server:
        env = {**NO_NETWORK_ENV, "HTTPS_PROXY": server.url, "https_proxy": server.url}
        run = run_tap(config(https_emulator, ca_bundle=str(pki["ca"]), fail_fast=False), env=env)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    error = run.error_lines()[-1]
    assert f"the proxy {server.url} could not reach https://127.0.0.1:" in error
    assert "502 Bad Gateway" in error
    assert "NO_PROXY" in error
    assert len(server.log) == 3  # three tries, then the run stops: a host failure


def test_a_socks_proxy_without_support_is_one_line(emulator: Emulator) -> None:
    socks = "socks5://127.0.0.1:9"
    env = {**NO_NETWORK_ENV, "ALL_PROXY": socks, "all_proxy": socks}
    run = run_tap(config(emulator, fail_fast=False), env=env)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    error = run.error_lines()[-1]
    assert "the proxy socks5://127.0.0.1:9" in error
    assert "requests[socks]" in error


# --- the deadline holds when the server closes the connection ---------------------------


@pytest.mark.parametrize(
    "hang",
    [
        Faults(trickle_s=0.4),
        Faults(trickle_s=0.4, trickle_headers=True),
        Faults(slow_on=frozenset({1, 2}), slow_s=30),
    ],
    ids=["trickled-body", "trickled-headers", "slow-headers"],
)
@pytest.mark.parametrize("closing", ["connection_close", "http10"])
def test_the_deadline_cuts_answers_on_closing_connections(
    emulator: Emulator, hang: Faults, closing: str
) -> None:
    setattr(hang, closing, True)
    emulator.faults = hang
    # Hangs, if the deadline failed to cut, are caught by run_tap's timeout.
    run = run_tap(config(emulator, request_timeout=1, max_tries=2), timeout=60)
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    error = run.error_lines()[-1]
    assert "gave up after 2 tries: the request timed out" in error, error
    assert "not JSON" not in run.stderr


def test_closing_connections_still_deliver_everything(emulator: Emulator) -> None:
    for closing in ("connection_close", "http10"):
        emulator.faults = Faults()
        setattr(emulator.faults, closing, True)
        run = run_tap(config(emulator, max_concurrency=4))
        assert run.returncode == 0, run.stderr[-3000:]
        assert len(run.records()) == 6 * 10
