"""A per-PAT request budget shared by every stream of one run."""

from __future__ import annotations

from pyrate_limiter import Duration, Limiter, Rate


class RequestBudget:
    """Blocks until one more request fits in ``requests_per_minute``.

    Indigo allows 100 requests per 60 s per token. Every stream and every
    workspace entry that uses the same token draws from one budget, so the tap
    stays under the limit on its own; a 429 is still obeyed (see client.py).
    pyrate-limiter's sliding window keeps any 60 s span at or under the limit.
    """

    def __init__(self, requests_per_minute: int, *, window_seconds: float = 60.0) -> None:
        self.requests_per_minute = requests_per_minute
        self.window_seconds = window_seconds
        self._limiter = Limiter(
            Rate(requests_per_minute, Duration.SECOND * window_seconds),
            # Margin for the clock skew between our send and the server's count.
            buffer_ms=50,
        )

    def acquire(self) -> None:
        """Wait (sleeping) until a request may be sent, then count it."""
        self._limiter.try_acquire("indigo", blocking=True)
