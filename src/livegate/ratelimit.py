"""A token bucket, pure: the caller passes the time."""

from __future__ import annotations

__all__ = ["TokenBucket"]


class TokenBucket:
    """Allows ``rate`` events per second on average with bursts up to ``burst``.

    The bucket starts full. ``take(now)`` spends one token if there is one and
    says whether it did. ``now`` must be a monotonic clock reading in seconds
    that never goes backwards between calls on one bucket.
    """

    __slots__ = ("_last", "_tokens", "burst", "rate")

    def __init__(self, rate: float, burst: float, now: float) -> None:
        self.rate = rate
        self.burst = burst
        self._tokens = float(burst)
        self._last = now

    def take(self, now: float) -> bool:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False
