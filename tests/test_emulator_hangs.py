"""The emulator's hang and size faults (issue 10) on raw sockets, and its fault CLI.

Every endless answer must end when the client leaves or the emulator stops, leaving no
busy thread behind; streamed bodies must not grow the emulator's memory. Each read has a
client-side timeout, so no test here can hang.
"""

from __future__ import annotations

import dataclasses
import json
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import date
from pathlib import Path

import pytest
import requests

from tests.emulator import Emulator, Faults

ROOT = Path(__file__).resolve().parent.parent
PATH = "/rest/dashboard/ws1/chats/count?from=2026-01-01&to=2026-01-05"
PROC = Path("/proc/self/status")


@pytest.fixture
def emu() -> Iterator[Emulator]:
    with Emulator({"ws1": "tok1"}, today=date(2026, 3, 15)) as emulator:
        yield emulator


def connect(base_url: str, path: str = PATH) -> socket.socket:
    """A raw connection that has sent one GET (2 s timeout on every read)."""
    host, port = base_url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=2)
    request = (
        f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nAuthorization: Bearer pat-tok1\r\n\r\n"
    )
    sock.sendall(request.encode())
    return sock


def read_headers(sock: socket.socket) -> tuple[bytes, bytes]:
    """The response head, and whatever body bytes came with it."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(4096)
        assert chunk, "connection closed before the headers ended"
        data += chunk
    head, _, rest = data.partition(b"\r\n\r\n")
    return head, rest


def until_closed(sock: socket.socket) -> bytes:
    """Whatever arrives until the server closes the connection (TimeoutError after 2 s)."""
    data = b""
    try:
        while chunk := sock.recv(1 << 16):
            data += chunk
    except ConnectionResetError:
        pass
    sock.close()
    return data


def settled(baseline: int, timeout: float = 3.0) -> int:
    """The thread count once it is back to ``baseline`` (or the timeout passed)."""
    deadline = time.monotonic() + timeout
    while threading.active_count() > baseline and time.monotonic() < deadline:
        time.sleep(0.02)
    return threading.active_count()


def assert_idle() -> None:
    """This process (emulator included) burns no CPU once the answer ended."""
    began = time.process_time()
    time.sleep(0.3)
    assert time.process_time() - began < 0.1


def test_trickle_sends_the_body_a_byte_at_a_time(emu: Emulator) -> None:
    emu.faults = Faults(trickle_s=0.05, trickle_on=frozenset({2}))
    fast = requests.get(
        emu.base_url + PATH, headers={"Authorization": "Bearer pat-tok1"}, timeout=2
    )
    assert fast.status_code == 200  # request 1: not trickled
    baseline = threading.active_count()
    sock = connect(emu.base_url)
    began = time.monotonic()
    head, body = read_headers(sock)
    assert head.startswith(b"HTTP/1.1 200")
    assert time.monotonic() - began < 1  # the headers at once
    while len(body) < 6:
        body += sock.recv(100)
    assert body == fast.content[:6]
    assert time.monotonic() - began >= 0.2  # 6 bytes, 50 ms apart
    sock.close()
    assert settled(baseline) <= baseline  # the writer noticed the client left
    assert_idle()
    assert [r.fault for r in emu.requests()] == [None, None]


def test_trickle_on_every_request_and_stop_ends_it(emu: Emulator) -> None:
    emu.faults.trickle_s = 0.5
    # Errors trickle too; requests calls a timeout inside the body a ConnectionError.
    with pytest.raises((requests.Timeout, requests.ConnectionError), match="timed out"):
        requests.get(emu.base_url + "/nope", timeout=0.3)
    sock = connect(emu.base_url)
    head, body = read_headers(sock)
    length = int(head.split(b"Content-Length: ")[1].split(b"\r\n")[0])
    began = time.monotonic()
    emu.stop()
    assert time.monotonic() - began < 2
    assert len(body + until_closed(sock)) < length  # cut mid-body, within the 2 s timeout


def test_endless_continue_until_the_client_leaves(emu: Emulator) -> None:
    emu.faults.endless_continue = True
    baseline = threading.active_count()
    sock = connect(emu.base_url)
    data = b""
    while data.count(b"HTTP/1.1 100 Continue\r\n\r\n") < 6:
        data += sock.recv(1000)
    assert data.replace(b"HTTP/1.1 100 Continue\r\n\r\n", b"") == b""  # never a final answer
    sock.close()
    assert settled(baseline) <= baseline
    assert_idle()
    (entry,) = emu.requests()
    assert (entry.status, entry.fault) == (100, "endless_continue")


def test_endless_continue_ends_when_the_emulator_stops(emu: Emulator) -> None:
    emu.faults.endless_continue = True
    baseline = threading.active_count()
    sock = connect(emu.base_url)
    assert sock.recv(100).startswith(b"HTTP/1.1 100 Continue")
    emu.stop()
    until_closed(sock)  # the emulator closes it (a timeout here fails the test)
    assert settled(baseline - 1) <= baseline - 1  # the serving thread has gone too


def test_endless_chunked_until_the_client_leaves(emu: Emulator) -> None:
    emu.faults.endless_chunked = True
    baseline = threading.active_count()
    sock = connect(emu.base_url)
    head, body = read_headers(sock)
    assert head.startswith(b"HTTP/1.1 200")
    assert b"Transfer-Encoding: chunked" in head
    assert b"Content-Length" not in head
    while len(body) < 5_000_000:
        body += sock.recv(1 << 20)
    assert body.split(b"\r\n", 2)[1] == b'{"status": "OK", "data": ['
    sock.close()
    assert settled(baseline) <= baseline
    assert_idle()


def test_huge_body_is_valid_json_of_the_stated_size(emu: Emulator) -> None:
    emu.faults.huge_body_bytes = 1_000_000
    response = requests.get(
        emu.base_url + PATH, headers={"Authorization": "Bearer pat-tok1"}, timeout=5
    )
    assert int(response.headers["Content-Length"]) == len(response.content) == 1_000_000
    assert response.json()["data"] == emu.expected_rows(
        "ws1", "daily_chats", date(2026, 1, 1), date(2026, 1, 4)
    )
    emu.faults.huge_body_bytes = 20  # shorter than the page: cut
    response = requests.get(
        emu.base_url + PATH, headers={"Authorization": "Bearer pat-tok1"}, timeout=5
    )
    assert response.content == b'{"status": "OK", "da'


def serve_cli(*faults: str) -> tuple[subprocess.Popen[str], str]:
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.emulator", "--port", "0", "--workspace", "ws1:tok1"]
        + [arg for fault in faults for arg in ("--fault", fault)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert process.stdout is not None
    return process, process.stdout.readline().strip()


def proc_status(pid: int) -> dict[str, int]:
    """Peak memory (kB), threads and CPU ticks of a process, from /proc."""
    fields = dict(
        line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
    )
    stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return {
        "peak_kb": int(fields["VmHWM"].split()[0]),
        "threads": int(fields["Threads"]),
        "cpu": int(stat[11]) + int(stat[12]),
    }


@pytest.mark.skipif(not PROC.exists(), reason="reads /proc")
@pytest.mark.parametrize("fault", ["huge_body_bytes=200000000", "endless_chunked=true"])
def test_streamed_bodies_keep_the_emulator_memory_flat(fault: str) -> None:
    process, base_url = serve_cli(fault)
    try:
        before = proc_status(process.pid)
        sock = connect(base_url)
        _, body = read_headers(sock)
        received = len(body)
        while received < 200_000_000:
            chunk = sock.recv(1 << 20)
            if not chunk:
                break
            received += len(chunk)
        assert received >= 200_000_000  # the huge body is exactly its Content-Length
        sock.close()
        time.sleep(0.3)
        after = proc_status(process.pid)
        assert after["peak_kb"] - before["peak_kb"] < 30_000  # 200 MB went through
        assert after["threads"] == before["threads"]  # the serving thread ended
        time.sleep(0.3)
        assert proc_status(process.pid)["cpu"] - after["cpu"] <= 3  # idle again
    finally:
        process.terminate()
        process.communicate(timeout=5)


def test_help_lists_every_fault_with_its_doc() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.emulator", "--help"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    listed = [line.strip() for line in result.stdout.splitlines() if " = " in line]
    fields = dataclasses.fields(Faults)
    assert [line.split(" = ")[0] for line in listed] == [f.name for f in fields]
    for line, spec in zip(listed, fields, strict=True):
        assert line.endswith(f": {spec.metadata['doc']}")
        assert spec.metadata["doc"]
        assert "\n" not in spec.metadata["doc"]


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        ("nope=1", "unknown fault 'nope'"),
        ("missing_days=2026-01-01", "is not JSON"),
        ("truncate_days=true", "is not an int"),
        ("missing_days=[1]", "is not a frozenset[str]"),
    ],
)
def test_a_bad_fault_is_one_line(fault: str, message: str) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tests.emulator", "--fault", fault],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert result.returncode == 2
    assert message in result.stderr.splitlines()[-1]
    assert "Traceback" not in result.stderr


def test_cli_faults_apply() -> None:
    process, base_url = serve_cli(
        'missing_days=["2026-01-02"]', "rate_limit=[5, 60]", "redirect_same_origin=true"
    )
    try:
        response = requests.get(
            base_url + PATH, headers={"Authorization": "Bearer pat-tok1"}, timeout=5
        )
        assert [row["date"] for row in response.json()["data"]] == [
            "2026-01-01",
            "2026-01-03",
            "2026-01-04",
        ]
        assert len(response.history) == 1  # the same-origin redirect
        assert json.loads(response.content)["status"] == "OK"
    finally:
        process.terminate()
        process.communicate(timeout=5)
