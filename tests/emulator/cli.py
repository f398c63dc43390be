"""``python -m tests.emulator``: serve the emulator until SIGINT or SIGTERM."""

from __future__ import annotations

import argparse
import dataclasses
import signal
import sys
import threading
from datetime import date
from types import FrameType
from typing import Any

from tests.emulator.app import Emulator
from tests.emulator.faults import Faults, fault_help, parse_fault


def _workspace_arg(text: str) -> tuple[str, str]:
    project_id, sep, pat = text.partition(":")
    if not sep or not project_id or not pat:
        raise argparse.ArgumentTypeError("expected PROJECT_ID:PAT")
    return project_id, pat.removeprefix("pat-")


def _rate_arg(text: str) -> tuple[int, float]:
    count, _, window = text.partition("/")
    try:
        return int(count), float(window)
    except ValueError:
        raise argparse.ArgumentTypeError("expected MAX/SECONDS, e.g. 100/60") from None


def _fault_arg(text: str) -> tuple[str, Any]:
    try:
        return parse_fault(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def main(argv: list[str] | None = None) -> int:
    """Serve the emulator until SIGINT or SIGTERM."""
    parser = argparse.ArgumentParser(
        prog="python -m tests.emulator",
        description="Local Indigo Analytics REST API.",
        epilog=fault_help()
        + "\n\nexample: --fault missing_days='[\"2026-03-01\"]' --fault page_fault_limit=1",
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8787)
    parser.add_argument(
        "--workspace",
        action="append",
        type=_workspace_arg,
        metavar="ID:PAT",
        help="repeatable; default demo-workspace:demo-token",
    )
    parser.add_argument(
        "--latency-ms", type=float, default=0.0, help="answer time per request, page included"
    )
    parser.add_argument("--rate-limit", type=_rate_arg, metavar="MAX/SECONDS")
    parser.add_argument("--retry-after", type=int, default=60)
    parser.add_argument(
        "--retry-after-header", action="store_true", help="also send a Retry-After header"
    )
    parser.add_argument(
        "--fault",
        action="append",
        type=_fault_arg,
        default=[],
        metavar="NAME=JSON",
        help="set one fault switch (repeatable; the list is below)",
    )
    parser.add_argument("--today", type=date.fromisoformat, help="fixed platform day")
    parser.add_argument("--verbose", action="store_true", help="log each request to stderr")
    args = parser.parse_args(argv)

    faults = Faults(
        latency_s=args.latency_ms / 1000,
        rate_limit=args.rate_limit,
        retry_after_s=args.retry_after,
        retry_after_header=args.retry_after_header,
    )
    faults = dataclasses.replace(faults, **dict(args.fault))
    workspaces = dict(args.workspace or [("demo-workspace", "demo-token")])
    emulator = Emulator(
        workspaces,
        today=args.today,
        faults=faults,
        host=args.host,
        port=args.port,
        verbose=args.verbose,
    )
    stopping = threading.Event()

    def request_stop(signum: int, frame: FrameType | None) -> None:
        stopping.set()

    signal.signal(signal.SIGINT, request_stop)
    signal.signal(signal.SIGTERM, request_stop)
    with emulator:
        # The URL alone on stdout, so a demo script can read it from the first line.
        print(emulator.base_url, flush=True)
        print(f"workspaces: {', '.join(workspaces)}; Ctrl-C to stop", file=sys.stderr)
        while not stopping.wait(0.5):
            pass
    return 0
