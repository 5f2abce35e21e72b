"""The memory engine (``memory://``): one process, nothing kept. For tests and the demo.

It is also the working set of the SQLite engine, which subclasses it and
makes each change durable in the ``_store_*`` hooks before it is applied.
"""

from __future__ import annotations

import contextlib
import dataclasses
import secrets
from collections import OrderedDict, deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from itertools import islice
from typing import Any

from livegate import protocol
from livegate.engines.base import (
    AppendResult,
    EngineOptions,
    EventEnded,
    EventInfo,
    EventsFull,
    MessageHandler,
    ResetHandler,
    Resume,
    SeqConflict,
    UnknownEvent,
    key_digest,
)

__all__ = ["MemoryEngine"]


@dataclass(slots=True)
class _Event:
    info: EventInfo
    history: deque[bytes]
    idempotency: OrderedDict[bytes, tuple[int, int]] = field(default_factory=OrderedDict)
    """Key digest to (seq, ts), oldest first."""
    mutes: dict[str, int] = field(default_factory=dict)
    """Viewer id to when its mute ends (ms); expired ones are dropped at the next change."""


def _replace_info(event: _Event, info: EventInfo) -> EventInfo:
    """Make ``info`` the event's, keeping viewer counts reported while it was stored."""
    current = event.info
    if current.viewers != info.viewers or current.peak_viewers != info.peak_viewers:
        info = dataclasses.replace(info, viewers=current.viewers, peak_viewers=current.peak_viewers)
    event.info = info
    return info


def _ignore(*_args: object) -> None:
    return None


class MemoryEngine:
    """Implements :class:`livegate.engines.base.Engine` in this process's memory.

    Without a subclass's hooks every method completes without suspending, so
    no two changes of one event ever interleave and a subscriber gets each
    message before the call that published it returns. A subclass whose hooks
    suspend makes ``_one_change`` run the changes of one event one at a time.
    """

    shared = False

    def __init__(self, options: EngineOptions) -> None:
        self.options = options
        self._events: dict[str, _Event] = {}
        self._subscribed: set[str] = set()
        self._on_message: MessageHandler = _ignore
        self._on_reset: ResetHandler = _ignore

    @property
    def available(self) -> bool:
        return True

    async def start(self, on_message: MessageHandler, on_reset: ResetHandler) -> None:
        self._on_message, self._on_reset = on_message, on_reset

    def _get(self, event_id: str) -> _Event:
        event = self._events.get(event_id)
        if event is None:
            raise UnknownEvent(event_id)
        return event

    # -- hooks a durable subclass implements (each returns once the change is kept) --

    async def _store_info(self, info: EventInfo) -> None:
        """Keep the event's registry fields (created, changed or ended)."""

    async def _store_append(
        self, info: EventInfo, message: bytes, digest: bytes | None, history_floor: int
    ) -> None:
        """Keep an accepted update: the event's new seq/snapshot/state, the message,
        its idempotency key, and forget the history at or below ``history_floor``."""

    def _store_peak(self, event_id: str, peak: int) -> None:
        """Keep a new peak viewer count (no need to wait for it)."""

    async def _store_delete(self, event_id: str) -> None:
        """Forget everything kept of the event."""

    async def _store_mute(self, event_id: str, viewer_id: str, until: int, now: int) -> None:
        """Keep a viewer's mute (``until <= now``: forget it, and those expired)."""

    def _one_change(self, event_id: str) -> contextlib.AbstractAsyncContextManager[object]:
        """Held around each change of an event (create/update, append, end, delete).

        Here nothing suspends, so changes never interleave and this holds nothing; a
        subclass whose hooks suspend returns a per-event lock.
        """
        return contextlib.nullcontext()

    # -- the contract ----------------------------------------------------------------

    async def put_event(
        self, event_id: str, sport: str | None, title: str | None, meta: dict[str, Any], now: int
    ) -> tuple[EventInfo, bool]:
        async with self._one_change(event_id):
            event = self._events.get(event_id)
            if event is None:
                if len(self._events) >= self.options.max_events:
                    raise EventsFull(f"the engine holds {self.options.max_events} events already")
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
                await self._store_info(info)
                self._events[event_id] = _Event(info, deque(maxlen=self.options.history_size))
                return info, True
            old = event.info
            info = dataclasses.replace(
                old,
                sport=sport or old.sport,
                title=title or old.title,
                meta=meta or old.meta,
                updated_at=now,
            )
            await self._store_info(info)
            return _replace_info(event, info), False

    async def get_event(self, event_id: str) -> EventInfo | None:
        event = self._events.get(event_id)
        return event.info if event else None

    async def list_events(self) -> list[EventInfo]:
        return [event.info for event in self._events.values()]

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
        async with self._one_change(event_id):
            event = self._get(event_id)
            digest = key_digest(idempotency_key) if idempotency_key is not None else None
            if digest is not None and (seen := self._seen(event, digest, now)):
                return seen
            old = event.info
            if old.status == "ended":
                raise EventEnded(event_id)
            if expected_seq is not None and expected_seq != old.seq:
                raise SeqConflict(event_id)
            seq = old.seq + 1
            message = protocol.encode_score(event_id, seq, now, data_json)
            info = dataclasses.replace(
                old, seq=seq, snapshot=data_json, state=state, status="live", updated_at=now
            )
            await self._store_append(info, message, digest, seq - self.options.history_size)
            _replace_info(event, info)
            event.history.append(message)
            if digest is not None:
                self._remember(event, digest, seq, now)
            if event_id in self._subscribed:
                self._on_message(event_id, message)
            return AppendResult(seq=seq, ts=now, message=message)

    def _remember(self, event: _Event, digest: bytes, seq: int, now: int) -> None:
        keys = event.idempotency
        keys[digest] = (seq, now)
        # Oldest first: forget the expired ones, and the oldest past the count.
        expired_before = now - self.options.idempotency_ttl_ms
        while keys and (
            len(keys) > self.options.idempotency_keys
            or next(iter(keys.values()))[1] < expired_before
        ):
            keys.popitem(last=False)

    async def find_idempotent(
        self, event_id: str, idempotency_key: str, now: int
    ) -> AppendResult | None:
        return self._seen(self._get(event_id), key_digest(idempotency_key), now)

    def _seen(self, event: _Event, digest: bytes, now: int) -> AppendResult | None:
        seen = event.idempotency.get(digest)
        if seen is None or seen[1] < now - self.options.idempotency_ttl_ms:
            return None
        seq, ts = seen
        return AppendResult(seq=seq, ts=ts, message=None, duplicate=True)

    async def since(self, event_id: str, since: int | None, max_messages: int) -> Resume:
        event = self._get(event_id)
        info = event.info
        if since is None:
            return Resume(info, recovered=False, missed=[])
        if since >= info.seq:
            # since == seq: nothing missed. since > seq: this engine's history
            # restarted below the client's position; the client must reset.
            return Resume(info, recovered=since == info.seq, missed=[])
        first_held = info.seq - len(event.history) + 1
        if since + 1 < first_held or info.seq - since > max_messages:
            return Resume(info, recovered=False, missed=[])
        return Resume(
            info, recovered=True, missed=list(islice(event.history, since + 1 - first_held, None))
        )

    async def end(
        self, event_id: str, now: int, result: str | None = None
    ) -> tuple[EventInfo, bool]:
        async with self._one_change(event_id):
            event = self._get(event_id)
            if event.info.status == "ended":
                return event.info, False
            info = dataclasses.replace(event.info, status="ended", updated_at=now, result=result)
            await self._store_info(info)
            info = _replace_info(event, info)
            if event_id in self._subscribed:
                self._on_message(event_id, protocol.encode_ended(event_id, result))
            return info, True

    async def delete(self, event_id: str) -> bool:
        async with self._one_change(event_id):
            event = self._events.get(event_id)
            if event is None:
                return False
            await self._store_delete(event_id)
            del self._events[event_id]
            if event.info.status != "ended" and event_id in self._subscribed:
                self._on_message(event_id, protocol.encode_ended(event_id))
            return True

    async def set_mute(self, event_id: str, viewer_id: str, until: int, now: int) -> dict[str, int]:
        async with self._one_change(event_id):
            event = self._get(event_id)
            await self._store_mute(event_id, viewer_id, until, now)
            mutes = {viewer: end for viewer, end in event.mutes.items() if end > now}
            if until > now:
                mutes[viewer_id] = until
            else:
                mutes.pop(viewer_id, None)
            event.mutes = mutes
            if event_id in self._subscribed:
                self._on_message(event_id, protocol.encode_mutes(event_id, mutes))
            return dict(mutes)

    async def mutes(self, event_id: str, now: int) -> dict[str, int]:
        return {viewer: end for viewer, end in self._get(event_id).mutes.items() if end > now}

    async def publish(self, event_id: str, message: bytes) -> None:
        if event_id in self._subscribed:
            self._on_message(event_id, message)

    async def subscribe(self, event_id: str) -> None:
        self._subscribed.add(event_id)

    async def unsubscribe(self, event_id: str) -> None:
        self._subscribed.discard(event_id)

    async def report_viewers(self, counts: Mapping[str, int]) -> dict[str, tuple[int, int]]:
        # One node: its count is the whole count.
        totals: dict[str, tuple[int, int]] = {}
        for event_id, live in counts.items():
            event = self._events.get(event_id)
            if event is None:
                continue
            info = event.info
            if live != info.viewers or live > info.peak_viewers:
                event.info = dataclasses.replace(
                    info, viewers=live, peak_viewers=max(info.peak_viewers, live)
                )
                if live > info.peak_viewers:
                    self._store_peak(event_id, live)
            totals[event_id] = (live, event.info.peak_viewers)
        return totals

    async def close(self) -> None:
        self._events.clear()
        self._subscribed.clear()
