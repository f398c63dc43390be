"""The CPU floor of each HTTP client for the scale cell's requests: what no tap can beat.

``python -m benchmarks.client_floor`` sends the requests of ``scale-1000@64`` (a daily
run of 1,000 workspaces: one request per stream and workspace, 4 days each) 64 at a time
to the emulator, which runs in a process of its own with 200 ms per answer, through bare
clients that only read each body: ``requests``' Session, its ``HTTPAdapter`` with a
hand-built request (how the tap sends), urllib3 and ``http.client``. It prints each
client's CPU seconds and CPU per request, for comparison with the tap's figure in the
scale section. ``--quick`` sends 60 requests with no latency (a smoke run).
"""

from __future__ import annotations

import argparse
import datetime as dt
import http.client
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from urllib.parse import urlencode, urlsplit

import requests
import urllib3

from benchmarks.harness import REPO, WORKSPACES, today
from tap_indigo_analytics.schema import DEFAULT_LOOKBACK_DAYS
from tap_indigo_analytics.streams import STREAM_TYPES

#: The emulator in a child process, so that its CPU is not counted as the client's.
_EMULATOR = """
import sys
from benchmarks.harness import WORKSPACES
from tests.emulator import Emulator, Faults
with Emulator(WORKSPACES) as emulator:
    emulator.faults = Faults(latency_s=float(sys.argv[1]))
    print(emulator.base_url, flush=True)
    sys.stdin.read()
"""

Send = Callable[[str, str], None]


def _ok(status: int, url: str) -> None:
    """Only whole 200 answers count: a floor measured on errors would be no floor."""
    if status != 200:
        raise RuntimeError(f"HTTP {status} on {url}")


def clients(base_url: str, workers: int) -> dict[str, Send]:
    """Each client's way to GET ``url`` with a token and read the whole body."""
    local = threading.local()
    adapter = requests.adapters.HTTPAdapter(pool_maxsize=workers)
    pool = urllib3.PoolManager(maxsize=workers)
    origin = urlsplit(base_url)

    def session(url: str, token: str) -> None:
        if not hasattr(local, "session"):
            local.session = requests.Session()
        response = local.session.get(url, headers={"Authorization": f"Bearer {token}"}, timeout=60)
        _ok(response.status_code, url)
        response.content  # noqa: B018 - the whole body, as a client must read it

    def adapter_send(url: str, token: str) -> None:
        prepared = requests.PreparedRequest()
        prepared.method, prepared.url = "GET", url
        prepared.headers = requests.structures.CaseInsensitiveDict(
            {"Authorization": f"Bearer {token}", "Accept": "application/json"}
        )
        response = adapter.send(prepared, timeout=60)
        _ok(response.status_code, url)
        response.content  # noqa: B018

    def urllib3_request(url: str, token: str) -> None:
        response = pool.request(
            "GET", url, headers={"Authorization": f"Bearer {token}"}, timeout=60
        )
        _ok(response.status, url)

    def http_client(url: str, token: str) -> None:
        if not hasattr(local, "connection"):
            local.connection = http.client.HTTPConnection(
                origin.hostname or "", origin.port, timeout=60
            )
        local.connection.request(
            "GET",
            url[len(base_url) - len(origin.path) :],
            headers={"Authorization": f"Bearer {token}"},
        )
        response = local.connection.getresponse()
        response.read()
        _ok(response.status, url)

    return {
        "requests Session.get": session,
        "requests HTTPAdapter.send": adapter_send,
        "urllib3 PoolManager": urllib3_request,
        "http.client": http_client,
    }


def planned_requests(base_url: str, workspaces: int) -> list[tuple[str, str]]:
    """``(url, token)`` of the scale cell: every stream of every workspace, the last days."""
    first = today() - dt.timedelta(days=1 + DEFAULT_LOOKBACK_DAYS)
    query = urlencode(
        {
            "from": first.isoformat(),
            "to": (today() + dt.timedelta(days=1)).isoformat(),
            "limit": 365,
        }
    )
    ids = list(WORKSPACES)[:workspaces]
    paths = [str(stream.path) for stream in STREAM_TYPES]  # type: ignore[misc]
    return [
        (f"{base_url}{path.replace('{project_id}', pid)}?{query}", f"pat-{WORKSPACES[pid]}")
        for path in paths
        for pid in ids
    ]


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="60 requests, no latency")
    parser.add_argument("--repeats", type=int, default=2, help="runs per client (2)")
    args = parser.parse_args(argv)
    workspaces, workers, latency = (10, 8, 0.0) if args.quick else (1000, 64, 0.2)
    emulator = subprocess.Popen(
        [sys.executable, "-c", _EMULATOR, str(latency)],
        cwd=REPO,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        base_url = (emulator.stdout.readline() if emulator.stdout else "").strip()
        planned = planned_requests(base_url, workspaces)
        print(f"{len(planned)} requests, {workers} at a time, {latency * 1000:.0f} ms per answer")
        for name, send in clients(base_url, workers).items():
            for _ in range(args.repeats):
                started, cpu = time.monotonic(), time.process_time()
                with ThreadPoolExecutor(workers) as pool:
                    list(pool.map(send, *zip(*planned, strict=True)))
                cpu = time.process_time() - cpu
                print(
                    f"{name:26s} wall {time.monotonic() - started:6.2f} s, CPU {cpu:5.2f} s, "
                    f"{cpu / len(planned) * 1000:.3f} ms per request",
                    flush=True,
                )
    finally:
        if emulator.stdin:
            emulator.stdin.close()
        emulator.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())
