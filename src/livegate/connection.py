"""One viewer's connection as the gateway sees it: no aiohttp here.

The server hands the gateway a transport to write framed bytes to and a
``closer`` that closes the WebSocket with a code; everything else about the
connection (who it is, what it joined, its rate limits) lives here.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from livegate import protocol
from livegate.ratelimit import TokenBucket
from livegate.viewer_tokens import ViewerClaims

__all__ = ["Closer", "Connection"]

Closer = Callable[[int, str], None]
"""Closes the WebSocket with (code, reason). Must not block; called at most once."""


class Connection:
    """State of one WebSocket connection.

    ``send`` writes one message as a complete frame straight to the transport.
    Writes never wait: when the transport's buffer passes ``max_buffer`` the
    connection is a slow consumer and is closed with 4009 by ``on_slow``. A write
    to a transport that closed under us never raises: the connection is marked
    closed and handed to ``on_gone``.
    """

    __slots__ = (
        "abuse_bucket",
        "bad_streak",
        "closed",
        "closer",
        "event_id",
        "frame_bucket",
        "joining",
        "max_buffer",
        "message_bucket",
        "on_gone",
        "on_slow",
        "private_event",
        "reaction_bucket",
        "transport",
        "user_id",
        "viewer",
    )

    def __init__(
        self,
        transport: asyncio.WriteTransport,
        closer: Closer,
        *,
        max_buffer: int,
        message_bucket: TokenBucket,
        frame_bucket: TokenBucket,
        reaction_bucket: TokenBucket,
        abuse_bucket: TokenBucket,
        on_slow: Callable[[Connection], None],
        on_gone: Callable[[Connection], None],
    ) -> None:
        self.transport = transport
        self.closer = closer
        self.max_buffer = max_buffer
        self.message_bucket = message_bucket
        self.frame_bucket = frame_bucket
        self.reaction_bucket = reaction_bucket
        self.abuse_bucket = abuse_bucket
        self.on_slow = on_slow
        self.on_gone = on_gone
        self.user_id: str | None = None
        self.viewer: ViewerClaims | None = None
        """The token the joined event was joined with (None: anonymous)."""
        self.event_id: str | None = None
        self.private_event = False
        self.joining = False
        """A join is waiting for the engine (the join timeout waits for it)."""
        self.bad_streak = 0
        self.closed = False

    def send(self, payload: bytes) -> None:
        """Write one encoded server message; a no-op once closed."""
        if self.closed:
            return
        transport = self.transport
        try:
            transport.write(protocol.frame_text(payload))
        except Exception:  # closed under us (uvloop raises RuntimeError)
            self.on_gone(self)
            return
        if transport.get_write_buffer_size() > self.max_buffer:
            self.on_slow(self)

    def close(self, code: int, reason: str) -> None:
        """Close with ``code``; idempotent. The caller removes it from the hub."""
        if not self.closed:
            self.closed = True
            self.closer(code, reason)
