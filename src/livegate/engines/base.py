"""The engine contract: where events live and how their messages reach every node.

An engine is the event store and the bus between nodes in one object, because
the two must act as one: an update is stored (seq, snapshot, state, history,
idempotency key) and published to the other nodes in one atomic step, so the
order viewers see is the order of the history. Three engines implement it:
``memory://`` (one process, nothing kept), ``sqlite:///path`` (one node,
durable) and ``redis://host:port/db`` (many nodes).

Guarantees every engine gives:

- **Seq.** ``append`` gives each accepted update of an event the next seq (1, 2,
  3…) with no gap, stores its payload as the snapshot and ``state`` as the
  event's state blob, keeps at least the last ``history_size`` score messages
  for resume, and publishes the message to every node subscribed to the event,
  all or nothing. Given ``expected_seq``, it fails with :class:`SeqConflict`
  if the event's seq is no longer that (another update came first), so a check
  made against the state at ``expected_seq`` is never acted on a newer state.
- **Idempotency.** A retried append with the same key returns the first
  append's seq with ``duplicate=True`` (and publishes nothing) while the key is
  remembered: at least ``idempotency_ttl_ms`` after its first use, unless more
  than ``idempotency_keys`` newer keys of the event pushed it out. Only a key's
  digest, seq and time are kept.
- **Delivery.** After ``subscribe(event_id)`` returns, the event's messages
  reach ``on_message`` on this node until ``unsubscribe``: its ``score``
  messages exactly once each, in seq order, with no gap, starting after the seq
  the engine held when the subscription began. Where a gap cannot be filled
  (the history no longer holds it), the engine calls ``on_reset(event_id)``
  instead and carries on after the newest seq: the node must then send its
  viewers the snapshot again. ``ended`` follows the event's last ``score``.
  Other messages (:meth:`Engine.publish`) are at most once.
- **Mutes.** ``set_mute`` stores a viewer's mute with the event (deleted with it)
  and sends every subscribed node a ``mutes`` message holding all the event's
  mutes in force (:func:`livegate.protocol.encode_mutes`); a node that missed one
  gets the whole set again within the position check (Redis).
- **Resume.** ``since`` answers ``recovered=True`` with every score message
  after the given seq, in order, when all of them are still held and there are
  at most ``max_messages`` of them; else ``recovered=False`` and no messages.
- **Viewers.** ``report_viewers`` records this node's live count per event; the
  count returned is the sum over the nodes that reported within the viewer TTL
  (a node that dies leaves the count by then); the peak is the highest such sum.
- **Availability.** When the engine cannot reach its storage, every call that
  needs it raises :class:`EngineUnavailable` (nothing was stored) and
  ``available`` is False until it can again.

Exception tree::

    EngineError
    ├── UnknownEvent       no event has that id
    ├── EventEnded         the event has ended and takes no more updates
    ├── EventsFull         the engine holds as many events as it may
    ├── SeqConflict        the event's seq moved past ``expected_seq``
    └── EngineUnavailable  the storage cannot be reached; retry later
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

__all__ = [
    "AppendResult",
    "Engine",
    "EngineError",
    "EngineOptions",
    "EngineUnavailable",
    "EventEnded",
    "EventInfo",
    "EventsFull",
    "MessageHandler",
    "ResetHandler",
    "Resume",
    "SeqConflict",
    "UnknownEvent",
    "key_digest",
]


class EngineError(Exception):
    """Base of the engine's errors."""


class UnknownEvent(EngineError):
    """No event has that id."""


class EventEnded(EngineError):
    """The event has ended and refuses updates."""


class EventsFull(EngineError):
    """The engine holds its maximum number of events."""


class SeqConflict(EngineError):
    """Another update of the event was accepted after the seq the caller checked against."""


class EngineUnavailable(EngineError):
    """The engine's storage cannot be reached; nothing was done. Retry later."""


MessageHandler = Callable[[str, bytes], None]
"""Called with (event id, encoded server message) for a subscribed event. Must not block."""

ResetHandler = Callable[[str], None]
"""Called with an event id whose score messages had a gap the history could not fill."""


@dataclass(frozen=True, slots=True)
class EngineOptions:
    """What every engine is configured with (from the node's settings)."""

    node_id: str
    history_size: int = 1000
    idempotency_keys: int = 10_000
    idempotency_ttl_ms: int = 300_000
    max_events: int = 10_000
    viewers_ttl_ms: int = 3_000
    """A node's reported viewer counts stop counting this long after its last report."""
    prefix: str = "livegate"
    """Prefix of every key a shared engine writes (Redis)."""


@dataclass(frozen=True, slots=True)
class EventInfo:
    """What is known of one event. ``snapshot`` is the latest payload as JSON bytes.

    ``epoch`` names the event's seq history; an engine gives a new one whenever
    that history starts again (the event created, a memory engine restarted).
    ``state`` is the opaque blob stored with the latest update.
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
    state: bytes | None = None
    result: str | None = None
    """The outcome given when the event ended (``POST …/end {"result": …}``)."""


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


class Engine(Protocol):
    """Where events live. All methods may be called concurrently from one event loop.

    Callers ``await start(...)`` before anything else and ``await close()`` last.
    """

    shared: bool
    """True when other nodes may share the engine (reaction partials must cross it)."""

    @property
    def available(self) -> bool:
        """False while the storage cannot be reached (``/healthz`` answers 503)."""
        ...

    async def start(self, on_message: MessageHandler, on_reset: ResetHandler) -> None:
        """Connect (raises EngineUnavailable if it cannot) and start delivering."""
        ...

    async def put_event(
        self, event_id: str, sport: str | None, title: str | None, meta: dict[str, Any], now: int
    ) -> tuple[EventInfo, bool]:
        """Create or update an event; returns it and whether it was created.

        ``sport`` is required to create (the caller checks); None keeps the old value.
        A non-empty ``meta`` replaces the old one; an empty one keeps it.
        Raises EventsFull when creating past ``max_events``.
        """
        ...

    async def get_event(self, event_id: str) -> EventInfo | None: ...

    async def list_events(self) -> list[EventInfo]:
        """Every event, oldest first."""
        ...

    async def append(
        self,
        event_id: str,
        data_json: bytes,
        now: int,
        idempotency_key: str | None,
        *,
        expected_seq: int | None = None,
        state: bytes | None = None,
    ) -> AppendResult:
        """Store and publish one update, atomically (see the module's guarantees).

        Raises UnknownEvent, EventEnded, SeqConflict or EngineUnavailable.
        """
        ...

    async def find_idempotent(
        self, event_id: str, idempotency_key: str, now: int
    ) -> AppendResult | None:
        """The earlier append made with this key (``duplicate=True``), if it is remembered."""
        ...

    async def since(self, event_id: str, since: int | None, max_messages: int) -> Resume:
        """The event and, if ``since`` is given, the score messages after it.

        Raises UnknownEvent.
        """
        ...

    async def end(
        self, event_id: str, now: int, result: str | None = None
    ) -> tuple[EventInfo, bool]:
        """Mark the event ended with its ``result`` and publish ``ended`` (carrying it);
        returns it and whether this call ended it. Raises UnknownEvent."""
        ...

    async def delete(self, event_id: str) -> bool:
        """Forget the event, its history and state; its subscribers get ``ended`` first
        if it had not ended. Returns whether it existed. A new event may take the id
        (with a new epoch)."""
        ...

    async def set_mute(self, event_id: str, viewer_id: str, until: int, now: int) -> dict[str, int]:
        """Mute ``viewer_id``'s comments on the event until ``until`` (ms since the
        epoch; ``until <= now`` lifts the mute) and send the event's subscribers the
        mutes in force, which it returns. Raises UnknownEvent, EngineUnavailable."""
        ...

    async def mutes(self, event_id: str, now: int) -> dict[str, int]:
        """The event's mutes in force at ``now``: viewer id to when it ends (ms).

        Raises UnknownEvent, EngineUnavailable.
        """
        ...

    async def publish(self, event_id: str, message: bytes) -> None:
        """Send a message that is not stored to the event's subscribers (at most once)."""
        ...

    async def subscribe(self, event_id: str) -> None: ...

    async def unsubscribe(self, event_id: str) -> None: ...

    async def report_viewers(self, counts: Mapping[str, int]) -> dict[str, tuple[int, int]]:
        """Record this node's viewers per event; returns (live total, peak) per event."""
        ...

    async def close(self) -> None: ...


def key_digest(idempotency_key: str) -> bytes:
    """A fixed 16 bytes per key, however long the key (up to the API's 256 characters)."""
    return hashlib.blake2b(idempotency_key.encode(), digest_size=16).digest()
