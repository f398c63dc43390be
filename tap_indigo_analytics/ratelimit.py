"""Per-token request budgets, all in one pyrate-limiter ``Limiter``.

Indigo allows 100 requests per 60 s per token. Every try of every stream and worker
thread that uses a token draws from that token's budget, so the tap stays under the
limit on its own; a 429 is still obeyed (client.py).

One ``Limiter`` routes each token's items to a bucket of its own through a
``BucketFactory``, and one leak thread serves every bucket: a run with 5,000 tokens
costs 5,000 small in-memory buckets, not 5,000 limiters, threads and descriptors.
The limiter checks and records under its lock and sleeps without it, so a token that
waits never holds up another.

A 429 pauses the token, not one worker: until its ``retry_after`` has passed no request
of that token is sent. It also teaches the token's real limit: a server stricter than
``requests_per_minute`` let through only the requests sent in the window before the
refused one, so the token's budget shrinks to that many per window. The requests sent
meanwhile (the refused ones too, which a server may count) stay in the bucket, so the
workers resume at the server's pace instead of all at once.
"""

from __future__ import annotations

import bisect
import threading
import time

from pyrate_limiter import BucketFactory, Duration, InMemoryBucket, Limiter, Rate, RateItem

#: Share of the window added as a safety margin, and its cap in seconds (1 s on 60 s).
MARGIN_SHARE = 0.05
MAX_MARGIN_S = 1.0


class _TokenBuckets(BucketFactory):
    """One sliding-window bucket per token key, created on first use."""

    def __init__(self, rate: Rate) -> None:
        self._rate = rate
        self._floor = max(1, rate.limit // 10)
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

    def now(self, key: str) -> int:
        """The bucket clock (ms) of a token."""
        return int(self._bucket(key).now())  # type: ignore[no-untyped-call]

    def learn(self, key: str, sent_at: int, window_ms: int) -> int | None:
        """Lower a token's rate to what was accepted in the window before ``sent_at``.

        Returns the new limit, or None when it is not lower than the current one.
        """
        bucket = self._bucket(key)
        with self._lock:  # one learner at a time; the copy below is atomic under the GIL
            stamps = [item.timestamp for item in list(bucket.items)]
            accepted = bisect.bisect_left(stamps, sent_at) - bisect.bisect_left(
                stamps, sent_at - window_ms
            )
            # Never below a tenth of the configured rate: a token another client was
            # also using may have had almost nothing accepted in that window.
            limit = max(self._floor, accepted)
            if limit >= bucket.rates[0].limit:
                return None
            bucket.rates = [Rate(limit, bucket.rates[0].interval)]
            return limit


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
        self._buckets = _TokenBuckets(rate)
        # buffer_ms: an extra wait after each sleep, on top of the margin.
        self._limiter = Limiter(self._buckets, buffer_ms=50)
        self._paused: dict[str, float] = {}  # token key -> monotonic end of its pause
        self._pause_began: dict[str, int] = {}  # token key -> bucket clock at its start
        self._pause_lock = threading.Lock()

    def acquire(self, token_key: str) -> int:
        """Wait (sleeping) until a request with this token may be sent, then count it.

        ``token_key`` names the token without revealing it (``Workspace.token_key``).
        Returns when it was counted, for :meth:`rate_limited`.
        """
        while True:
            until = self._paused.get(token_key)  # a dict read: no lock on the hot path
            if until is None or (wait := until - time.monotonic()) <= 0:
                break
            time.sleep(wait)
        self._limiter.try_acquire(token_key, blocking=True)
        return self._buckets.now(token_key)

    def rate_limited(self, token_key: str, retry_after: float, sent_at: int) -> int | None:
        """A request of this token counted at ``sent_at`` was answered 429: pause the
        token for ``retry_after`` seconds and lower its rate to the server's.

        Returns the lowered limit per window, or None if it was already that low.
        """
        now = time.monotonic()
        with self._pause_lock:
            if now >= self._paused.get(token_key, 0.0):  # a new pause: its requests so far
                self._pause_began[token_key] = self._buckets.now(token_key)
            self._paused[token_key] = max(now + retry_after, self._paused.get(token_key, 0.0))
            began = self._pause_began[token_key]
        if sent_at >= began:
            return None  # sent after the pause began: what came before it says nothing
        # Of the requests in flight when the pause began, the earliest refused one has
        # the fewest accepted before it: the lowest count is the server's limit.
        return self._buckets.learn(token_key, sent_at, round(self.window_seconds * 1000))

    def close(self) -> None:
        """Stop the leak thread (and its event loop's descriptors): the run is over.

        Without it every sync left a thread and three descriptors behind, which a program
        that runs many syncs in one process (a Dagster or Airflow worker) would pile up.
        """
        self._limiter.close()
