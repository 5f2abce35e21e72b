"""Guards on aiohttp's server that aiohttp does not give: the parts that know aiohttp.

- :class:`GuardedSite`: a TCP site whose connections must finish their first
  request's headers within a timeout (slowloris), and of which only so many may
  be waiting for that at once (a flood of silent sockets), on top of aiohttp's
  own keep-alive timeout for idle connections.
- :func:`guard_frames`: checks a WebSocket client's frames before aiohttp
  parses them: an unmasked frame (RFC 6455 section 5.1, which aiohttp's frame
  reader accepts) or more frames than the connection's frame budget (a flood
  of tiny ping frames) stop the reading at once.
- :class:`ClientErrorFilter`: aiohttp logs each malformed request with a full
  traceback; this makes it one throttled line.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Protocol

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from livegate.connection import Connection
from livegate.protocol import FrameScanner
from livegate.throttled_log import ThrottledLog

__all__ = [
    "ClientErrorFilter",
    "FrameJudge",
    "GuardedSite",
    "guard_frames",
    "upgrade_headers_printable",
]

_QUOTED_UPGRADE_HEADERS = ("Upgrade", "Connection", "Sec-WebSocket-Version")


class GuardedSite(web.TCPSite):
    """A :class:`aiohttp.web.TCPSite` that bounds connections which are not in a request.

    - A connection that has not completed the headers of its first request
      ``header_timeout`` seconds after it was accepted is aborted (slowloris).
    - At most ``max_waiting`` connections may be outside a request at once:
      new ones waiting for their first request, and keep-alive ones idle
      between requests (a browser leaves several after loading a page). Past
      that, the one waiting longest is aborted, so neither a flood of silent
      sockets nor a flash crowd's idle keep-alives can take the descriptors
      that prompt clients (``/healthz``, the API) need; a prompt client sends
      its request within milliseconds and is never the oldest.
    - An idle keep-alive connection is also closed by aiohttp's
      ``keepalive_timeout``, even one stuck mid-headers.

    The caller's middleware must call :meth:`request_started` when a request's
    headers are in and :meth:`request_finished` when its handler returns.
    """

    def __init__(
        self,
        runner: web.BaseRunner,
        *args: Any,
        header_timeout: float,
        max_waiting: int,
        on_abort: Callable[[str], None] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(runner, *args, **kw)
        self._header_timeout = header_timeout
        self._max_waiting = max_waiting
        self._on_abort = on_abort
        self._waiting: OrderedDict[RequestHandler, float | None] = OrderedDict()
        """Connections outside a request, longest waiting first: when each was accepted
        if it has not had a request yet, else None (idle between keep-alive requests)."""
        self._sweeper: asyncio.Task[None] | None = None

    def request_started(self, handler: Any) -> None:
        self._waiting.pop(handler, None)

    def request_finished(self, handler: Any) -> None:
        transport = handler.transport
        if transport is not None and not transport.is_closing():
            self._wait(handler, None)

    def _protocol(self) -> RequestHandler:
        server = self._runner.server
        assert server is not None
        handler = server()
        self._wait(handler, time.monotonic())
        return handler

    def _wait(self, handler: RequestHandler, accepted: float | None) -> None:
        waiting = self._waiting
        waiting[handler] = accepted
        while len(waiting) > self._max_waiting:
            # Entries of connections that closed meanwhile go first, at no cost.
            self._abort(waiting.popitem(last=False)[0], "too_many_waiting")

    async def _sweep(self) -> None:
        """Abort connections without a first request after ``header_timeout``.

        One task for the site rather than a timer per connection (a timer
        handle per viewer for its first seconds is memory per viewer). The
        waiting connections are at most ``max_waiting``, so a sweep is cheap.
        """
        interval = min(1.0, self._header_timeout / 4)
        while True:
            await asyncio.sleep(interval)
            try:
                deadline = time.monotonic() - self._header_timeout
                waiting = self._waiting
                late = [h for h, accepted in waiting.items() if accepted and accepted < deadline]
                for handler in late:
                    del waiting[handler]
                    self._abort(handler, "header_timeout")
            except Exception:  # the sweep must outlive one bad turn
                logging.getLogger(__name__).exception("header-timeout sweep failed")

    def _abort(self, handler: RequestHandler, reason: str) -> None:
        transport = handler.transport
        if transport is not None and not transport.is_closing():
            transport.abort()
            if self._on_abort is not None:
                self._on_abort(reason)

    async def start(self) -> None:
        # TCPSite.start with our protocol factory in place of the runner's server.
        await web.BaseSite.start(self)
        self._sweeper = asyncio.create_task(self._sweep(), name="header-timeout")
        loop = asyncio.get_running_loop()
        self._server = await loop.create_server(
            self._protocol,
            self._host,
            self._port,
            backlog=self._backlog,
            reuse_address=self._reuse_address,
            reuse_port=self._reuse_port,
        )

    async def stop(self) -> None:
        if self._sweeper is not None:
            self._sweeper.cancel()
            await asyncio.gather(self._sweeper, return_exceptions=True)
        await super().stop()


class FrameJudge(Protocol):
    """What :func:`guard_frames` needs from the node (the gateway is one)."""

    def frame_budget(self, conn: Connection) -> int:
        """Frames ``conn`` may send now (whole tokens of its frame bucket)."""
        ...

    def frames_spent(self, conn: Connection, frames: int) -> None: ...

    def frame_violation(self, conn: Connection, reason: str) -> None:
        """The scan stopped at an offending frame; nothing more will be parsed."""
        ...


class _FrameGuard:
    """Stands in for aiohttp's WebSocket frame reader and checks the frames first.

    Bytes before an offending frame reach the reader; from that frame on,
    nothing does (each later chunk is dropped in O(1)), and the judge's
    ``frame_violation`` is called once with the
    :class:`~livegate.protocol.ScanStop` reason. Five slots and a scanner per
    viewer, no closure: this lives as long as the connection.
    """

    __slots__ = ("_conn", "_failed", "_inner", "_judge", "_scanner")

    def __init__(self, inner: Any, conn: Connection, judge: FrameJudge) -> None:
        self._inner = inner
        self._conn = conn
        self._judge = judge
        self._scanner = FrameScanner()
        self._failed = False

    def feed_data(self, data: bytes | bytearray | memoryview) -> tuple[bool, bytes]:
        if self._failed:
            return False, b""
        if type(data) is not bytes:  # asyncio's type allows these; uvloop sends bytes
            data = bytes(data)
        judge, conn = self._judge, self._conn
        frames, stop = self._scanner.scan(data, judge.frame_budget(conn))
        judge.frames_spent(conn, frames)
        if stop is None:
            result: tuple[bool, bytes] = self._inner.feed_data(data)
            return result
        self._failed = True
        if stop.offset > 0:
            self._inner.feed_data(data[: stop.offset])
        judge.frame_violation(conn, stop.reason)
        return False, b""

    def feed_eof(self) -> None:
        self._inner.feed_eof()


def guard_frames(request: web.Request, conn: Connection, judge: FrameJudge) -> None:
    """After ``WebSocketResponse.prepare``: check every client frame before aiohttp parses it.

    Each frame spends one of ``judge.frame_budget(conn)``; the first frame past
    it, or the first unmasked frame, calls ``judge.frame_violation(conn,
    "too_many_frames" or "unmasked")`` and nothing more is parsed. aiohttp has
    no hook for this, so the connection's frame reader is wrapped (its
    ``_payload_parser``). Frames that arrived in the same read as the upgrade
    request were parsed during ``prepare`` and are not checked.
    """
    protocol = request.protocol
    protocol._payload_parser = _FrameGuard(protocol._payload_parser, conn, judge)


def upgrade_headers_printable(request: web.Request) -> bool:
    """Whether the headers aiohttp quotes in its handshake errors are plain ASCII.

    aiohttp puts them in the text of its 400 answer, and a non-UTF-8 byte
    there (kept as a surrogate) fails to encode: a 500 and a traceback
    instead of a 400. The caller answers 400 itself when this is False.
    """
    headers = request.headers
    return all(headers.get(name, "").isascii() for name in _QUOTED_UPGRADE_HEADERS)


class ClientErrorFilter(logging.Filter):
    """For aiohttp's ``aiohttp.server`` logger: a malformed request is one throttled line.

    aiohttp logs every request it cannot parse with a full traceback at ERROR
    (at a few thousand bad requests a second, gigabytes an hour). A client's
    error (``HttpProcessingError``) becomes one WARNING line without a
    traceback, throttled per kind of error. Any other record (a bug of ours)
    keeps its traceback, at most once a second per message and exception type.
    """

    def __init__(self, throttle: ThrottledLog) -> None:
        super().__init__()
        self._throttle = throttle
        self._last: dict[str, float] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if isinstance(error, HttpProcessingError):
            name = type(error).__name__
            self._throttle.note(
                f"bad-request:{name}",
                "refused a malformed HTTP request (%s): %s",
                name,
                str(error.message)[:200],
            )
            return False
        now = time.monotonic()
        key = f"{str(record.msg)[:200]}:{type(error).__name__}"
        if now - self._last.get(key, -1e9) < 1.0:
            return False
        if len(self._last) > 1000:
            self._last.clear()
        self._last[key] = now
        return True
