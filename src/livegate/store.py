"""The event store seam: events, their seq, snapshot, history and viewer counts.

A store is chosen by URL (``memory://`` is the default; other schemes are
imported lazily, so a node that does not use them never imports their client).

Guarantees every implementation must give:

- ``append`` assigns each accepted update of an event the next seq (1, 2, 3…)
  with no gap, keeps it as the snapshot, and keeps at least the last
  ``history_size`` score messages for resume. A retried append with the same
  idempotency key returns the first append's seq and ``duplicate=True`` while the
  key is remembered: at least ``idempotency_ttl_ms`` after its first use, unless
  more than ``idempotency_keys`` newer keys of the event pushed it out. Only a
  key's digest, seq and time are kept, so the memory a key costs is fixed.
- ``since`` answers ``recovered=True`` with every score message after the given
  seq, in order, when all of them are still held and there are at most
  ``max_messages`` of them, else ``recovered=False`` and no messages.
- ``put_event`` replaces the event's ``meta`` when it is given non-empty.
- Viewer counts are the sum of what each node reported for the event; the peak
  is the highest live count ever seen.

Exception tree::

    StoreError
    ├── UnknownEvent   no event has that id
    ├── EventEnded     the event has ended and takes no more updates
    └── StoreFull      the store holds as many events as it may
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AppendResult",
    "EventEnded",
    "EventInfo",
    "EventStore",
    "Resume",
    "StoreError",
    "StoreFull",
    "UnknownEvent",
    "open_store",
]


class StoreError(Exception):
    """Base of the store's errors."""


class UnknownEvent(StoreError):
    """No event has that id."""


class EventEnded(StoreError):
    """The event has ended and refuses updates."""


class StoreFull(StoreError):
    """The store holds its maximum number of events."""


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What is known of one event. ``snapshot`` is the latest payload as JSON bytes.

    ``epoch`` names the event's seq history; a store gives a new one whenever
    that history starts again (the event created, a memory store restarted).
    """

    event_id: str
    epoch: str
    sport: str
    title: str
    status: str
    seq: int
    snapshot: bytes | None
    created_at: int
    updated_at: int
    viewers: int = 0
    peak_viewers: int = 0
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class AppendResult:
    """An accepted update: its seq, its timestamp and the encoded ``score`` message.

    A duplicate (a remembered idempotency key) carries no message: it is not sent again.
    """

    seq: int
    ts: int
    message: bytes | None
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class Resume:
    """The answer to a resume: the event now, and what the viewer missed."""

    event: EventInfo
    recovered: bool
    missed: list[bytes]


class EventStore(Protocol):
    """Where events live. All methods may be called concurrently from one event loop."""

    async def put_event(
        self, event_id: str, sport: str | None, title: str | None, meta: dict[str, Any], now: int
    ) -> tuple[EventInfo, bool]:
        """Create or update an event; returns it and whether it was created.

        ``sport`` is required to create (the caller checks); None keeps the old value.
        A non-empty ``meta`` replaces the old one; an empty one keeps it.
        """
        ...

    async def get_event(self, event_id: str) -> EventInfo | None: ...

    async def list_events(self) -> list[EventInfo]: ...

    async def append(
        self, event_id: str, data_json: bytes, now: int, idempotency_key: str | None
    ) -> AppendResult:
        """Accept one update. Raises UnknownEvent or EventEnded."""
        ...

    async def find_idempotent(
        self, event_id: str, idempotency_key: str, now: int
    ) -> AppendResult | None:
        """The earlier append made with this key (``duplicate=True``), if it is remembered."""
        ...

    async def since(self, event_id: str, since: int | None, max_messages: int) -> Resume:
        """The event and, if ``since`` is given, the score messages after it.

        More than ``max_messages`` missed is answered as not recovered.
        """
        ...

    async def end(self, event_id: str, now: int) -> tuple[EventInfo, bool]:
        """Mark the event ended; returns it and whether this call ended it."""
        ...

    async def set_viewers(self, event_id: str, node_id: str, count: int) -> tuple[int, int]:
        """Report this node's live viewers of the event; returns (live total, peak)."""
        ...

    async def close(self) -> None: ...


def open_store(
    url: str, *, history_size: int, idempotency_keys: int, idempotency_ttl_ms: int, max_events: int
) -> EventStore:
    """The store for ``url``. Raises ValueError for an unknown scheme."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        from livegate.memory_store import MemoryStore

        return MemoryStore(
            history_size=history_size,
            idempotency_keys=idempotency_keys,
            idempotency_ttl_ms=idempotency_ttl_ms,
            max_events=max_events,
        )
    raise ValueError(f"unsupported store URL {url!r} (this build supports memory://)")
