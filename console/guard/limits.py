"""How often the guard may ask: a token bucket, pure (the caller passes the time)."""

from __future__ import annotations


class TokenBucket:
    """At most `rate` takes a second on average, `rate` at once after a quiet second."""

    def __init__(self, rate: float, now: float) -> None:
        self.rate = rate
        self._tokens, self._refilled = rate, now

    def take(self, now: float) -> bool:
        """One token if there is one now."""
        elapsed = max(0.0, now - self._refilled)
        self._tokens = min(self.rate, self._tokens + elapsed * self.rate)
        self._refilled = now
        if self._tokens < 1.0:
            return False
        self._tokens -= 1.0
        return True
