"""The in-memory event store: one process, nothing persisted (the default)."""

from __future__ import annotations

import dataclasses
import hashlib
import secrets
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from livegate import protocol
from livegate.store import AppendResult, EventEnded, EventInfo, Resume, StoreFull, UnknownEvent

__all__ = ["MemoryStore"]


@dataclass(slots=True)
class _Event:
    info: EventInfo
    history: deque[bytes]
    idempotency: OrderedDict[bytes, tuple[int, int]] = field(default_factory=OrderedDict)
    """Key digest to (seq, ts), oldest first."""
    node_viewers: dict[str, int] = field(default_factory=dict)


class MemoryStore:
    """Implements :class:`livegate.store.EventStore` in this process's memory.

    Every method completes without suspending, so an append and the publish
    that follows it in the same task are never interleaved with another append.
    """

    def __init__(
        self,
        *,
        history_size: int,
        idempotency_keys: int,
        idempotency_ttl_ms: int = 300_000,
        max_events: int,
    ) -> None:
        self._history_size = history_size
        self._idempotency_keys = idempotency_keys
        self._idempotency_ttl_ms = idempotency_ttl_ms
        self._max_events = max_events
        self._events: dict[str, _Event] = {}

    def _get(self, event_id: str) -> _Event:
        event = self._events.get(event_id)
        if event is None:
            raise UnknownEvent(event_id)
        return event

    async def put_event(
        self, event_id: str, sport: str | None, title: str | None, meta: dict[str, Any], now: int
    ) -> tuple[EventInfo, bool]:
        event = self._events.get(event_id)
        if event is None:
            if len(self._events) >= self._max_events:
                raise StoreFull(f"the store holds {self._max_events} events already")
            info = EventInfo(
                event_id=event_id,
                epoch=secrets.token_hex(8),
                sport=sport or "generic",
                title=title or event_id,
                status="scheduled",
                seq=0,
                snapshot=None,
                created_at=now,
                updated_at=now,
                meta=meta,
            )
            self._events[event_id] = _Event(info, deque(maxlen=self._history_size))
            return info, True
        info = event.info
        event.info = dataclasses.replace(
            info,
            sport=sport or info.sport,
            title=title or info.title,
            meta=meta or info.meta,
            updated_at=now,
        )
        return event.info, False

    async def get_event(self, event_id: str) -> EventInfo | None:
        event = self._events.get(event_id)
        return event.info if event else None

    async def list_events(self) -> list[EventInfo]:
        return [event.info for event in self._events.values()]

    async def append(
        self, event_id: str, data_json: bytes, now: int, idempotency_key: str | None
    ) -> AppendResult:
        event = self._get(event_id)
        digest = _digest(idempotency_key) if idempotency_key is not None else None
        if digest is not None and (seen := self._seen(event, digest, now)):
            return seen
        info = event.info
        if info.status == "ended":
            raise EventEnded(event_id)
        seq = info.seq + 1
        message = protocol.encode_score(event_id, seq, now, data_json)
        event.history.append(message)
        event.info = dataclasses.replace(
            info, seq=seq, snapshot=data_json, status="live", updated_at=now
        )
        if digest is not None:
            keys = event.idempotency
            keys[digest] = (seq, now)
            # Oldest first: forget the expired ones, and the oldest past the count.
            expired_before = now - self._idempotency_ttl_ms
            while keys and (
                len(keys) > self._idempotency_keys or next(iter(keys.values()))[1] < expired_before
            ):
                keys.popitem(last=False)
        return AppendResult(seq=seq, ts=now, message=message)

    async def find_idempotent(
        self, event_id: str, idempotency_key: str, now: int
    ) -> AppendResult | None:
        return self._seen(self._get(event_id), _digest(idempotency_key), now)

    def _seen(self, event: _Event, digest: bytes, now: int) -> AppendResult | None:
        seen = event.idempotency.get(digest)
        if seen is None or seen[1] < now - self._idempotency_ttl_ms:
            return None
        seq, ts = seen
        return AppendResult(seq=seq, ts=ts, message=None, duplicate=True)

    async def since(self, event_id: str, since: int | None, max_messages: int) -> Resume:
        event = self._get(event_id)
        info = event.info
        if since is None:
            return Resume(info, recovered=False, missed=[])
        if since >= info.seq:
            # since == seq: nothing missed. since > seq: this store's history
            # restarted below the client's position; the client must reset.
            return Resume(info, recovered=since == info.seq, missed=[])
        first_held = info.seq - len(event.history) + 1
        if since + 1 < first_held or info.seq - since > max_messages:
            return Resume(info, recovered=False, missed=[])
        return Resume(
            info, recovered=True, missed=list(islice(event.history, since + 1 - first_held, None))
        )

    async def end(self, event_id: str, now: int) -> tuple[EventInfo, bool]:
        event = self._get(event_id)
        if event.info.status == "ended":
            return event.info, False
        event.info = dataclasses.replace(event.info, status="ended", updated_at=now)
        return event.info, True

    async def set_viewers(self, event_id: str, node_id: str, count: int) -> tuple[int, int]:
        event = self._events.get(event_id)
        if event is None:
            return 0, 0
        if count:
            event.node_viewers[node_id] = count
        else:
            event.node_viewers.pop(node_id, None)
        live = sum(event.node_viewers.values())
        info = event.info
        if live != info.viewers or live > info.peak_viewers:
            event.info = dataclasses.replace(
                info, viewers=live, peak_viewers=max(info.peak_viewers, live)
            )
        return live, event.info.peak_viewers

    async def close(self) -> None:
        self._events.clear()


def _digest(idempotency_key: str) -> bytes:
    """A fixed 16 bytes per key, however long the key (up to the API's 256 characters)."""
    return hashlib.blake2b(idempotency_key.encode(), digest_size=16).digest()
