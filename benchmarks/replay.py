"""Replay a tap run's exact requests with bare ``requests`` sessions: the floor.

``python -m benchmarks.replay < plan.json`` prints the seconds the same requests
take from a client that does nothing with the answers but read them: one after
another, or with ``"workers": N`` in the plan, N at a time (a session per worker
thread). The difference to the tap's wall time (minus start-up) is the tap's own
cost; the difference to the bound is the emulator's and HTTP's own time (building
each page, and on a busy machine waiting for a core), which no client can avoid.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import requests


def main() -> int:
    """Read ``{"base_url", "requests": [[path, params, token], ...], "workers"?}``; print
    seconds."""
    plan = json.load(sys.stdin)
    local = threading.local()

    def get(request: list[object]) -> None:
        path, params, token = request
        session = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
        response = session.get(
            f"{plan['base_url']}{path}",
            params=params,  # type: ignore[arg-type]
            headers={"Authorization": f"Bearer pat-{token}"},
            timeout=60,
        )
        response.content  # noqa: B018 - read the whole body, as a client must

    workers = int(plan.get("workers", 1))
    started = time.perf_counter()
    if workers <= 1:
        for request in plan["requests"]:
            get(request)
    else:
        with ThreadPoolExecutor(workers) as pool:
            list(pool.map(get, plan["requests"]))
    print(json.dumps({"seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
