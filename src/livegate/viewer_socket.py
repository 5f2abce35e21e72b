"""One viewer's socket after the WebSocket handshake: the whole read side, lean.

aiohttp answers ``GET /ws`` like any request (routing, admission, the header checks),
and then :func:`take_over` takes the TCP connection from it: the transport's protocol
becomes a :class:`ViewerSocket`, and aiohttp forgets the connection (its request,
handler task and parser are freed). What stays per viewer is the transport, this
object, a :class:`~livegate.frames.FrameReader` and the gateway's
:class:`~livegate.connection.Connection`: no coroutine, no task, no queue, where an
aiohttp ``WebSocketResponse`` kept about 10 KiB of objects and a waiting coroutine.

Messages are handled as they are read, in the callback that read them: a reaction, a
ping, a comment cost no task and no wake-up. A message that needs the engine (a join,
a leave, a refresh) runs in a task, and this connection's later messages wait in order
behind it (reading pauses if more than :data:`MAX_QUEUED` wait).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import logging
from collections import deque
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final

from livegate import frames, protocol
from livegate.frames import FrameReader
from livegate.protocol import CloseCode

if TYPE_CHECKING:
    from livegate.connection import Connection
    from livegate.gateway import Gateway

__all__ = ["MAX_QUEUED", "ViewerSocket", "accept_key", "handshake_response"]

log = logging.getLogger(__name__)

MAX_QUEUED: Final = 16
"""Messages that may wait behind a message in progress before reading pauses."""
CLOSE_HANDSHAKE_TIMEOUT: Final = 2.0
"""Seconds a closed connection waits for the client's close frame before it is aborted."""
SLOW_CLOSE_GRACE: Final = 1.0
"""Seconds a slow consumer's queued bytes get to flush after its 4009 before the abort."""
_WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
_tasks: set[asyncio.Task[None]] = set()
"""Tasks in flight (the loop holds tasks weakly)."""


def accept_key(key: str) -> str:
    """``Sec-WebSocket-Accept`` for a client's ``Sec-WebSocket-Key`` (RFC 6455 4.2.2)."""
    return base64.b64encode(hashlib.sha1(key.encode() + _WS_GUID).digest()).decode()


def handshake_response(key: str) -> bytes:
    """The server's 101 answer to an upgrade with ``key``: no extension, no subprotocol."""
    return (
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        f"Sec-WebSocket-Accept: {accept_key(key)}\r\n\r\n"
    ).encode()


def _spawn(coro: Awaitable[None]) -> asyncio.Task[None]:
    task = asyncio.ensure_future(coro)
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)
    return task


class ViewerSocket(asyncio.Protocol):
    """The transport's protocol for one viewer, from the handshake to the end.

    ``release`` is called exactly once, when the connection is gone (the admission
    slot). The gateway's ``disconnect`` runs once, after any message in progress.
    """

    __slots__ = (
        "_conn",
        "_gateway",
        "_lost",
        "_paused",
        "_queue",
        "_reader",
        "_release",
        "_transport",
    )

    def __init__(
        self, gateway: Gateway, transport: asyncio.Transport, release: Callable[[], None]
    ) -> None:
        self._gateway = gateway
        self._transport = transport
        self._release = release
        self._reader = FrameReader()
        self._queue: deque[tuple[int, bytes]] | None = None
        """Messages waiting behind one in progress; None when none is in progress."""
        self._lost = False
        self._paused = False
        self._conn: Connection = gateway.connect(transport, self.close)

    # -- asyncio.Protocol ------------------------------------------------------------

    def data_received(self, data: bytes) -> None:
        conn, gateway = self._conn, self._gateway
        messages, count, error = self._reader.feed(data, gateway.frame_budget(conn))
        if count:
            gateway.frames_spent(conn, count)
        queue = self._queue
        for message in messages:
            if queue is not None:
                queue.append(message)
                continue
            try:
                pending = self._handle(*message)
            except Exception:  # a bug of ours: this connection ends, the node goes on
                self._failed()
                return
            if pending is not None:
                queue = self._queue = deque()
                _spawn(self._finish(pending, queue))
        if queue is not None and len(queue) > MAX_QUEUED and not self._paused:
            self._paused = True
            self._transport.pause_reading()
        if error is not None:
            gateway.close_connection(conn, error.code, error.tag, error.message)

    def eof_received(self) -> bool:
        return False  # the client half-closed: close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        self._lost = True
        self._release()
        if self._queue is None:
            _spawn(self._gateway.disconnect(self._conn))
        # else: the message in progress calls disconnect when it is done

    # -- messages ----------------------------------------------------------------------

    def _handle(self, opcode: int, payload: bytes) -> Awaitable[None] | None:
        """One message, as far as it goes now; what it leaves to await (a join) or None.

        The caller must await what is returned before handling this connection's next
        message (``_finish`` does, in a task).
        """
        gateway, conn = self._gateway, self._conn
        if opcode == frames.TEXT:
            return gateway.handle_text_now(conn, payload)
        if opcode == frames.PING:
            if gateway.handle_control(conn):
                self._write(frames.frame_pong(payload))
        elif opcode == frames.PONG:
            gateway.handle_control(conn)
        elif opcode == frames.CLOSE:
            self._close_received(payload)
        else:
            gateway.handle_binary(conn)
        return None

    async def _finish(self, first: Awaitable[None], queue: deque[tuple[int, bytes]]) -> None:
        """Await the message in progress, then the ones queued behind it, in order."""
        pending: Awaitable[None] | None = first
        try:
            while pending is not None:
                await pending
                pending = None
                while pending is None and queue and not self._lost:
                    pending = self._handle(*queue.popleft())
        except Exception:  # a bug of ours: this connection ends, the node goes on
            self._failed()
        finally:
            self._queue = None
            if self._lost:
                await self._gateway.disconnect(self._conn)
            elif self._paused:
                self._paused = False
                if not self._transport.is_closing():
                    self._transport.resume_reading()

    def _failed(self) -> None:
        """Handling a message raised: log it, close this connection with 1011, read no more."""
        log.exception("a viewer's message failed")
        self._reader.failed = True
        self._gateway.close_connection(
            self._conn, CloseCode.INTERNAL_ERROR, "internal_error", "internal error"
        )

    def _close_received(self, payload: bytes) -> None:
        """The client's close frame: the answer to ours, or its own close to answer."""
        conn = self._conn
        if conn.closed:
            self._transport.close()  # the closing handshake is done
            return
        parsed = frames.close_payload(payload)
        if isinstance(parsed, frames.FrameError):
            self._gateway.close_connection(conn, parsed.code, parsed.tag, parsed.message)
            return
        # The client closes: answer with its code (RFC 6455 5.5.1), then end the TCP side.
        code = parsed[0] if parsed[0] != 1005 else 1000
        conn.closed = True
        self._write(protocol.frame_close(code, ""))
        self._transport.close()

    def _write(self, data: bytes) -> None:
        try:
            self._transport.write(data)
        except Exception:  # closed under us (uvloop raises RuntimeError)
            self._transport.abort()

    # -- the gateway's closer ----------------------------------------------------------

    def close(self, code: int, reason: str) -> None:
        """Send our close frame; the client's answer (or a timer) ends the connection.

        A slow consumer (4009) is not waited for: what is queued flushes, then the
        transport closes, and is aborted if that takes too long.
        """
        transport = self._transport
        if transport.is_closing():
            return
        try:
            transport.write(protocol.frame_close(code, reason))
        except Exception:  # closed under us: nothing left to close
            return
        loop = asyncio.get_running_loop()
        if code == CloseCode.SLOW_CONSUMER:
            transport.close()
            loop.call_later(SLOW_CLOSE_GRACE, transport.abort)
        else:
            loop.call_later(CLOSE_HANDSHAKE_TIMEOUT, transport.abort)
