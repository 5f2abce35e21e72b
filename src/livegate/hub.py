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
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from livegate.connection import Connection
from livegate.protocol import frame_text

__all__ = ["Hub"]

MAX_PENDING_MESSAGES = 10_000
"""Messages buffered for one joining connection before it counts as a slow consumer."""


class Hub:
    """Event id to connections. Not thread-safe; use from the event loop only."""

    __slots__ = ("_live", "_pending", "on_gone", "on_slow")

    def __init__(
        self, on_slow: Callable[[Connection], None], on_gone: Callable[[Connection], None]
    ) -> None:
        """``on_slow`` and ``on_gone`` are called after the fan-out, never during it.

        ``on_slow(conn)``: its send buffer passed ``conn.max_buffer``; close it.
        ``on_gone(conn)``: writing to it raised (its socket is already closed); the
        hub has removed it. Neither may raise.
        """
        self._live: dict[str, dict[Connection, None]] = {}
        self._pending: dict[str, dict[Connection, list[bytes]]] = {}
        self.on_slow = on_slow
        self.on_gone = on_gone

    def add_pending(self, event_id: str, conn: Connection) -> None:
        """Start buffering messages of ``event_id`` for ``conn``."""
        self._pending.setdefault(event_id, {})[conn] = []

    def promote(self, event_id: str, conn: Connection) -> list[bytes]:
        """Make a pending connection live; returns the messages buffered meanwhile."""
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
        """Write ``payload`` to every connection of the event; returns the live deliveries.

        Never raises because of a connection: see the module's docstring.
        """
        delivered = 0
        members = self._live.get(event_id)
        if members:
            frame = frame_text(payload)
            slow: list[Connection] = []
            gone: list[Connection] = []
            for conn in members:
                transport = conn.transport
                try:  # free in 3.11 unless it raises
                    transport.write(frame)
                except Exception:
                    gone.append(conn)
                    continue
                if transport.get_write_buffer_size() > conn.max_buffer:
                    slow.append(conn)
            delivered = len(members) - len(gone)
            for conn in gone:
                self.remove(event_id, conn)
                self.on_gone(conn)
            for conn in slow:
                self.on_slow(conn)
        pending = self._pending.get(event_id)
        if pending:
            overflow = []
            for conn, buffered in pending.items():
                buffered.append(payload)
                if len(buffered) > MAX_PENDING_MESSAGES:
                    overflow.append(conn)
            for conn in overflow:
                self.on_slow(conn)
        return delivered
