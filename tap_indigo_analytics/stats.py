"""What the tap tells at INFO: one summary line per stream, not a line per request.

Workers and the main thread add to a stream's counts; the stream logs them when the SDK
finishes it. The SDK's own line per partition goes to a quiet logger of its own
(state.py): at thousands of workspaces it would be thousands of lines.
"""

from __future__ import annotations

import threading
import typing as t

from singer_sdk import metrics

if t.TYPE_CHECKING:
    from singer_sdk.helpers.types import Context


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


class StreamCounter(metrics.Counter):
    """The SDK's ``record_count``, tagged with the stream alone.

    The SDK's counter runs over every partition but is tagged with the one it last
    switched to, so a stream's total read as one workspace's. A METRIC line per
    partition would be thousands of lines at thousands of workspaces; the stream total,
    tagged as such, is what it counts.
    """

    def with_context(self, value: Context | None) -> None:
        """Ignored: the count spans the stream's partitions."""


class StreamTimer(metrics.Timer):
    """The SDK's ``sync_duration`` of a whole stream, tagged with the stream alone."""

    def with_context(self, value: Context | None) -> None:
        """Ignored: the time spans the stream's partitions."""
