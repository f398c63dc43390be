"""What the tap tells at INFO: one summary line per stream, not a line per request.

Workers and the main thread add to a stream's counts; the stream logs them when the SDK
finishes it. The SDK's own line per partition is kept at DEBUG: at thousands of
workspaces it would be thousands of lines, each a write on the main thread.
"""

from __future__ import annotations

import logging
import threading


def partition_start_to_debug(record: logging.LogRecord) -> bool:
    """Keep the SDK's one-line-per-partition start message at DEBUG.

    At thousands of workspaces it is thousands of INFO lines, each a write on the main
    thread; the stream's summary line (StreamStats) says what a reader needs.
    """
    if record.levelno == logging.INFO and str(record.msg).startswith("Starting incremental sync"):
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)
    return True


class StreamStats:
    """Counts for a stream's summary line; workers and the main thread both add."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.counts: dict[str, float] = dict.fromkeys(
            ("requests", "retries", "rate_limited", "records", "partitions", "seconds"),
            0,
        )

    def add(self, **amounts: float) -> None:
        """Add to the named counts."""
        with self._lock:
            for name, amount in amounts.items():
                self.counts[name] += amount

    def summary(self, stream: str) -> str:
        """``daily_chats: 2 workspaces, 730 records, 4 requests (0 retries, 0 x 429), 1.2 s``."""
        c = self.counts
        return (
            f"{stream}: {int(c['partitions'])} workspaces, {int(c['records'])} records (days), "
            f"{int(c['requests'])} requests ({int(c['retries'])} retries, "
            f"{int(c['rate_limited'])} x 429), {c['seconds']:.1f} s"
        )
