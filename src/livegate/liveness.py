"""Heartbeat bookkeeping: which connections have been silent too long.

Connections are kept in an insertion-ordered dict by last activity: touching a
connection moves it to the end (O(1)), so the silent ones are always at the
front and a sweep looks only at the connections that expired, plus one.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Generic, TypeVar

__all__ = ["LivenessTracker"]

K = TypeVar("K")


class LivenessTracker(Generic[K]):
    """Tracks the last time each key was heard from. Pure: callers pass the time."""

    __slots__ = ("_last_seen",)

    def __init__(self) -> None:
        self._last_seen: OrderedDict[K, float] = OrderedDict()

    def __len__(self) -> int:
        return len(self._last_seen)

    def touch(self, key: K, now: float) -> None:
        """Record activity from ``key`` (adding it if new)."""
        last_seen = self._last_seen
        last_seen[key] = now
        last_seen.move_to_end(key)

    def forget(self, key: K) -> None:
        self._last_seen.pop(key, None)

    def expired(self, now: float, timeout: float) -> list[K]:
        """Remove and return every key silent for more than ``timeout`` seconds."""
        expired: list[K] = []
        last_seen = self._last_seen
        deadline = now - timeout
        while last_seen:
            key, seen = next(iter(last_seen.items()))
            if seen > deadline:
                break
            last_seen.popitem(last=False)
            expired.append(key)
        return expired
