"""A per-PAT request budget shared by every stream of one run."""

from __future__ import annotations

from pyrate_limiter import Duration, Limiter, Rate

#: Share of the window added as a safety margin, and its cap in seconds (1 s on 60 s).
MARGIN_SHARE = 0.05
MAX_MARGIN_S = 1.0


class RequestBudget:
    """Blocks until one more request fits in ``requests_per_minute``.

    Indigo allows 100 requests per 60 s per token. Every stream and every
    workspace entry that uses the same token draws from one budget, so the tap
    stays under the limit on its own; a 429 is still obeyed (see client.py).
    pyrate-limiter's sliding window keeps any span of the window (plus a small
    margin) at or under the limit. The margin is needed because we count a
    request when we send it and Indigo when it arrives: without it, a request
    let through just as the oldest one leaves our window can reach the server
    a few milliseconds early and be answered 429.
    """

    def __init__(self, requests_per_minute: int, *, window_seconds: float = 60.0) -> None:
        self.requests_per_minute = requests_per_minute
        self.window_seconds = window_seconds
        margin = min(MAX_MARGIN_S, MARGIN_SHARE * window_seconds)
        self._limiter = Limiter(
            Rate(requests_per_minute, round(Duration.SECOND * (window_seconds + margin))),
            # Extra wait after each sleep, on top of the margin.
            buffer_ms=50,
        )

    def acquire(self) -> None:
        """Wait (sleeping) until a request may be sent, then count it."""
        self._limiter.try_acquire("indigo", blocking=True)
