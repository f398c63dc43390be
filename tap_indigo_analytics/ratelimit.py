"""Per-token request budgets, all in one pyrate-limiter ``Limiter``.

Indigo allows 100 requests per 60 s per token. Every try of every stream and worker
thread that uses a token draws from that token's budget, so the tap stays under the
limit on its own; a 429 is still obeyed (client.py).

One ``Limiter`` routes each token's items to a bucket of its own through a
``BucketFactory``, and one leak thread serves every bucket: a run with 5,000 tokens
costs 5,000 small in-memory buckets, not 5,000 limiters, threads and descriptors.
The limiter checks and records under its lock and sleeps without it, so a token that
waits never holds up another.
"""

from __future__ import annotations

import threading

from pyrate_limiter import BucketFactory, Duration, InMemoryBucket, Limiter, Rate, RateItem

#: Share of the window added as a safety margin, and its cap in seconds (1 s on 60 s).
MARGIN_SHARE = 0.05
MAX_MARGIN_S = 1.0


class _TokenBuckets(BucketFactory):
    """One sliding-window bucket per token key, created on first use."""

    def __init__(self, rate: Rate) -> None:
        self._rate = rate
        self._buckets: dict[str, InMemoryBucket] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: str) -> InMemoryBucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = InMemoryBucket([self._rate])
                self.schedule_leak(bucket)  # one Leaker thread for all buckets
            return bucket

    def wrap_item(self, name: str, weight: int = 1) -> RateItem:
        return RateItem(name, self._bucket(name).now(), weight=weight)  # type: ignore[no-untyped-call]

    def get(self, item: RateItem) -> InMemoryBucket:
        return self._bucket(item.name)


class RequestBudgets:
    """Blocks until one more request of a token fits in ``requests_per_minute``.

    The margin is needed because we count a request when we send it and Indigo when it
    arrives: without it, a request let through just as the oldest one leaves our window
    can reach the server a few milliseconds early and be answered 429.
    """

    def __init__(self, requests_per_minute: int, *, window_seconds: float = 60.0) -> None:
        self.requests_per_minute = requests_per_minute
        self.window_seconds = window_seconds
        margin = min(MAX_MARGIN_S, MARGIN_SHARE * window_seconds)
        rate = Rate(requests_per_minute, round(Duration.SECOND * (window_seconds + margin)))
        # buffer_ms: an extra wait after each sleep, on top of the margin.
        self._limiter = Limiter(_TokenBuckets(rate), buffer_ms=50)

    def acquire(self, token_key: str) -> None:
        """Wait (sleeping) until a request with this token may be sent, then count it.

        ``token_key`` names the token without revealing it (``Workspace.token_key``).
        """
        self._limiter.try_acquire(token_key, blocking=True)
