"""The local index from event to live connections, and the fan-out.

The hub knows nothing of brokers or stores. ``broadcast`` frames a message once
and writes the same bytes to every viewer's transport: one C call per socket,
no coroutine or task per socket.

One viewer's socket can never stop a fan-out to the others: a transport that
closed under us (the peer reset it, and the WebSocket handler has not yet run to
forget it; uvloop then raises ``RuntimeError`` from ``write``) is skipped, removed
and reported to ``on_gone``, whatever it raised, and the loop goes on.

A connection that is joining (its ``joined`` answer is being prepared) is
*pending*: messages for its event are buffered for it and handed back by
``promote``, so a resume never loses a message published during the join.

**Coalescing.** With a ``flush_delay`` (0: the next loop iteration; above 0: that
many seconds), ``broadcast`` queues the framed message in the event's outbox, and
the flush writes each viewer *one* buffer holding every frame queued for the event
since the last flush, joined once per event, not per socket: one ``send()`` for
many messages, which is the only way below the one-write-per-message floor. Under
load the batches grow by themselves: while the loop writes one flush, the next
messages queue. Order is kept: the caller flushes an event before writing
anything else to one of its viewers (``flush``), and ``promote`` flushes before a
joining connection goes live. ``flush_delay=None`` writes each message at once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable

from livegate.connection import Connection
from livegate.protocol import frame_text

__all__ = ["Hub"]

FLUSH_BYTES = 64 * 1024
"""An event's outbox is written at once when it holds this much: one flush never puts
more than this (and one message) into a viewer's send buffer beyond what the slow
consumer check has seen, and a burst of large updates is not held for the tick."""

MAX_PENDING_MESSAGES = 10_000
"""Messages buffered for one joining connection before it counts as a slow consumer."""


class Hub:
    """Event id to connections. Not thread-safe; use from the event loop only."""

    __slots__ = (
        "_flush_handle",
        "_live",
        "_outbox",
        "_outbox_bytes",
        "_pending",
        "flush_delay",
        "on_gone",
        "on_slow",
        "on_written",
    )

    def __init__(
        self,
        on_slow: Callable[[Connection], None],
        on_gone: Callable[[Connection], None],
        *,
        flush_delay: float | None = None,
        on_written: Callable[[int, int], None] | None = None,
    ) -> None:
        """``on_slow`` and ``on_gone`` are called after the fan-out, never during it.

        ``on_slow(conn)``: its send buffer passed ``conn.max_buffer``; close it.
        ``on_gone(conn)``: writing to it raised (its socket is already closed); the
        hub has removed it. Neither may raise.
        ``on_written(messages, writes)``: after each write pass, the messages delivered
        and the socket writes that carried them.
        """
        self._live: dict[str, dict[Connection, None]] = {}
        self._pending: dict[str, dict[Connection, list[bytes]]] = {}
        self._outbox: dict[str, list[bytes]] = {}
        """Framed messages per event waiting for the flush, oldest first."""
        self._outbox_bytes: dict[str, int] = {}
        self._flush_handle: asyncio.Handle | None = None
        self.flush_delay = flush_delay
        self.on_slow = on_slow
        self.on_gone = on_gone
        self.on_written = on_written

    def add_pending(self, event_id: str, conn: Connection) -> None:
        """Start buffering messages of ``event_id`` for ``conn``."""
        self._pending.setdefault(event_id, {})[conn] = []

    def promote(self, event_id: str, conn: Connection) -> list[bytes]:
        """Make a pending connection live; returns the messages buffered meanwhile.

        The event's outbox is flushed first: what it holds is in the buffer already.
        """
        self.flush(event_id)
        pending = self._pending.get(event_id)
        buffered = pending.pop(conn, []) if pending is not None else []
        if pending is not None and not pending:
            del self._pending[event_id]
        self._live.setdefault(event_id, {})[conn] = None
        return buffered

    def remove(self, event_id: str, conn: Connection) -> None:
        """Forget ``conn`` for ``event_id`` (live or pending); idempotent."""
        for index in (self._live, self._pending):
            members = index.get(event_id)
            if members is not None and conn in members:
                del members[conn]
                if not members:
                    del index[event_id]

    def count(self, event_id: str) -> int:
        """Live connections of the event on this node."""
        return len(self._live.get(event_id, ()))

    def has_members(self, event_id: str) -> bool:
        """True while any live or pending connection is on the event."""
        return event_id in self._live or event_id in self._pending

    def events(self) -> Iterable[str]:
        """Events with live connections on this node."""
        return self._live.keys()

    def members(self, event_id: str) -> list[Connection]:
        """The event's live connections (a copy, safe to close while iterating)."""
        return list(self._live.get(event_id, ()))

    def connections(self) -> list[Connection]:
        """Every live connection (a copy, safe to close while iterating)."""
        return [conn for members in self._live.values() for conn in members]

    def broadcast(self, event_id: str, payload: bytes) -> int:
        """Send ``payload`` to every connection of the event: written now, or queued for
        the flush when coalescing. Returns the live connections it is for.

        Never raises because of a connection: see the module's docstring.
        """
        members = self._live.get(event_id)
        count = len(members) if members else 0
        if members:
            frame = frame_text(payload)
            if self.flush_delay is None:
                self._write(event_id, members, frame, 1)
            else:
                box = self._outbox.get(event_id)
                if box is None:
                    box = self._outbox[event_id] = []
                box.append(frame)
                size = self._outbox_bytes[event_id] = self._outbox_bytes.get(event_id, 0) + len(
                    frame
                )
                if size >= FLUSH_BYTES:
                    self.flush(event_id)
                elif self._flush_handle is None:
                    loop = asyncio.get_running_loop()
                    self._flush_handle = (
                        loop.call_soon(self.flush_all)
                        if self.flush_delay <= 0
                        else loop.call_later(self.flush_delay, self.flush_all)
                    )
        pending = self._pending.get(event_id)
        if pending:
            overflow = []
            for conn, buffered in pending.items():
                buffered.append(payload)
                if len(buffered) > MAX_PENDING_MESSAGES:
                    overflow.append(conn)
            for conn in overflow:
                self.on_slow(conn)
        return count

    def flush(self, event_id: str) -> None:
        """Write what the event's outbox holds now (before anything else to its viewers)."""
        box = self._outbox.pop(event_id, None)
        self._outbox_bytes.pop(event_id, None)
        if box:
            members = self._live.get(event_id)
            if members:
                data = box[0] if len(box) == 1 else b"".join(box)
                self._write(event_id, members, data, len(box))

    def flush_all(self) -> None:
        """Write every event's outbox (the flush tick; also before a drain)."""
        self._flush_handle = None
        for event_id in list(self._outbox):
            self.flush(event_id)

    def close(self) -> None:
        """Stop the flush tick (what is queued is dropped: the node is stopping)."""
        if self._flush_handle is not None:
            self._flush_handle.cancel()
            self._flush_handle = None
        self._outbox.clear()
        self._outbox_bytes.clear()

    def _write(
        self, event_id: str, members: dict[Connection, None], data: bytes, messages: int
    ) -> None:
        """Write ``data`` (``messages`` frames) to every member, one write each."""
        slow: list[Connection] = []
        gone: list[Connection] = []
        for conn in members:
            transport = conn.transport
            try:  # free in 3.11 unless it raises
                transport.write(data)
            except Exception:
                gone.append(conn)
                continue
            if transport.get_write_buffer_size() > conn.max_buffer:
                slow.append(conn)
        writes = len(members) - len(gone)
        for conn in gone:
            self.remove(event_id, conn)
            self.on_gone(conn)
        for conn in slow:
            self.on_slow(conn)
        if self.on_written is not None:
            self.on_written(messages * writes, writes)
