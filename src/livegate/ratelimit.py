"""Token buckets, pure: the caller passes the time."""

from __future__ import annotations

import math
from collections import OrderedDict
from collections.abc import Hashable
from typing import Generic, TypeVar

__all__ = ["KeyedBuckets", "TokenBucket"]

K = TypeVar("K", bound=Hashable)


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

    def _refill(self, now: float) -> None:
        elapsed = now - self._last
        if elapsed > 0:
            self._tokens = min(self.burst, self._tokens + elapsed * self.rate)
            self._last = now

    def take(self, now: float) -> bool:
        self._refill(now)
        if self._tokens >= 1.0:
            self._tokens -= 1.0
            return True
        return False

    def ready(self, now: float) -> bool:
        """Whether ``take(now)`` would succeed, without spending anything."""
        self._refill(now)
        return self._tokens >= 1.0

    def available(self, now: float) -> int:
        """Whole tokens in the bucket now."""
        self._refill(now)
        return int(self._tokens)

    def spend(self, count: int) -> None:
        """Take ``count`` tokens at once; the caller checked ``available`` first."""
        self._tokens -= count

    def retry_after(self, now: float) -> int:
        """Whole seconds until a token is back (at least 1): a ``Retry-After`` value."""
        self._refill(now)
        return max(1, math.ceil((1.0 - self._tokens) / self.rate))


class KeyedBuckets(Generic[K]):
    """One :class:`TokenBucket` per key (a client address), bounded in memory.

    At most ``max_keys`` buckets are kept; the least recently used is forgotten
    first, which only ever gives that key a fresh (full) bucket.
    """

    __slots__ = ("_buckets", "burst", "max_keys", "rate")

    def __init__(self, rate: float, burst: float, max_keys: int = 65_536) -> None:
        self.rate = rate
        self.burst = burst
        self.max_keys = max_keys
        self._buckets: OrderedDict[K, TokenBucket] = OrderedDict()

    def __len__(self) -> int:
        return len(self._buckets)

    def find(self, key: K) -> TokenBucket | None:
        """The key's bucket if it has one (its use does not count as recent)."""
        return self._buckets.get(key)

    def get(self, key: K, now: float) -> TokenBucket:
        """The key's bucket, made full if new."""
        buckets = self._buckets
        bucket = buckets.get(key)
        if bucket is None:
            bucket = buckets[key] = TokenBucket(self.rate, self.burst, now)
            if len(buckets) > self.max_keys:
                buckets.popitem(last=False)
        else:
            buckets.move_to_end(key)
        return bucket
