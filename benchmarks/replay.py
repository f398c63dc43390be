"""Replay a tap run's exact requests with a bare ``requests.Session``: the floor.

``python -m benchmarks.replay < plan.json`` prints the seconds the same requests
take, one after another, from a client that does nothing with the answers but
read them. The difference to the tap's wall time (minus start-up) is the tap's
own cost; the difference to ``requests x latency`` is the emulator's own time
(building each page), which no client can avoid.
"""

from __future__ import annotations

import json
import sys
import time

import requests


def main() -> int:
    """Read ``{"base_url", "requests": [[path, params, token], ...]}``; print seconds."""
    plan = json.load(sys.stdin)
    session = requests.Session()
    started = time.perf_counter()
    for path, params, token in plan["requests"]:
        response = session.get(
            plan["base_url"] + path,
            params=params,
            headers={"Authorization": f"Bearer pat-{token}"},
            timeout=60,
        )
        response.content  # noqa: B018 - read the whole body, as a client must
    print(json.dumps({"seconds": time.perf_counter() - started}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
