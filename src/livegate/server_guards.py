"""Guards on aiohttp's server that aiohttp does not give: the parts that know aiohttp.

- :class:`GuardedSite`: a TCP site whose connections must finish their first
  request's headers within a timeout (slowloris), and of which only so many may
  be waiting for that at once (a flood of silent sockets), on top of aiohttp's
  own keep-alive timeout for idle connections.
- :func:`take_connection`: after aiohttp has routed and admitted a WebSocket
  upgrade, the connection leaves aiohttp for a
  :class:`~livegate.viewer_socket.ViewerSocket` (a viewer then costs no aiohttp
  objects at all).
- :class:`ClientErrorFilter`: aiohttp logs each malformed request with a full
  traceback; this makes it one throttled line.
"""

from __future__ import annotations

import array
import asyncio
import fcntl
import logging
import termios
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestHandler

from livegate.throttled_log import ThrottledLog

__all__ = ["ClientErrorFilter", "GuardedSite", "take_connection"]


class GuardedSite(web.TCPSite):
    """A :class:`aiohttp.web.TCPSite` that bounds connections which are not in a request.

    - A connection that has not completed the headers of its first request
      ``header_timeout`` seconds after it was accepted is aborted (slowloris).
    - At most ``max_waiting`` connections, or as many as ``spare()`` says are free
      (the WebSocket slots not in use) if that is more, may be outside a request at
      once: new ones waiting for their first request, and keep-alive ones idle
      between requests (a browser leaves several after loading a page). Past that,
      the one waiting longest is aborted, so neither a flood of silent sockets nor a
      flash crowd's idle keep-alives can take the descriptors that prompt clients
      (``/healthz``, the API) need; a prompt client sends its request within
      milliseconds and is never the oldest. Waiting connections may use the free
      WebSocket slots because those descriptors are not the API's: a reconnect storm
      after a restart (thousands of upgrades at once, each accepted before its
      request is read) is served, not aborted as a flood.
    - A connection whose request has arrived (aiohttp has parsed it, or its bytes are
      waiting in the kernel) is not silent, whatever its age: neither rule aborts it.
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
        spare: Callable[[], int] = lambda: 0,
        on_abort: Callable[[str], None] | None = None,
        **kw: Any,
    ) -> None:
        super().__init__(runner, *args, **kw)
        self._header_timeout = header_timeout
        self._max_waiting = max_waiting
        self._spare = spare
        self._on_abort = on_abort
        self._waiting: OrderedDict[RequestHandler, tuple[float | None, int]] = OrderedDict()
        """Connections outside a request, longest waiting first: when each was accepted
        if it has not had a request yet, else None (idle between keep-alive requests),
        and how many requests aiohttp had parsed on it then."""
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
        waiting[handler] = (accepted, _requests(handler))
        if len(waiting) <= self._max_waiting:
            return
        cap = max(self._max_waiting, self._spare())
        while len(waiting) > cap:
            # Entries of connections that closed meanwhile go first, at no cost.
            oldest, (_, seen) = waiting.popitem(last=False)
            if _silent(oldest, seen):
                self._abort(oldest, "too_many_waiting")

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
                late = [
                    handler
                    for handler, (accepted, _) in waiting.items()
                    if accepted and accepted < deadline
                ]
                for handler in late:
                    _, seen = waiting.pop(handler)
                    if _silent(handler, seen):
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


def _requests(handler: RequestHandler) -> int:
    """Requests aiohttp has parsed on a connection so far (its handler may not have run)."""
    count: int = getattr(handler, "_request_count", 0)
    return count


def _silent(handler: RequestHandler, seen: int) -> bool:
    """No request parsed since ``seen`` and no byte waiting to be read: a silent socket.

    The bytes waiting are asked of the kernel (``FIONREAD``): when the loop accepts a
    burst of connections, it accepts them all before it reads any.
    """
    if _requests(handler) != seen:
        return False
    transport = handler.transport
    sock = transport.get_extra_info("socket") if transport is not None else None
    if sock is None:
        return True
    waiting = array.array("i", [0])
    try:
        fcntl.ioctl(sock.fileno(), termios.FIONREAD, waiting)
    except OSError:
        return True
    return waiting[0] == 0


def take_connection(request: web.Request) -> tuple[asyncio.Transport, bytes] | None:
    """Take an upgrade request's TCP connection away from aiohttp, before answering it.

    Returns the transport and the bytes the client sent after its request (a client
    should wait for the 101, but may not), or None when the client is already gone.
    Afterwards aiohttp has forgotten the connection: its handler does not read, write
    or close it, and frees the request, its parser and its task once the request
    handler returns (whatever it returns is not written). The caller must set the
    transport's protocol at once, and owns the connection from then on.

    aiohttp has no API for this; it rests on ``RequestHandler`` treating a connection
    whose ``transport`` is None and that saw ``connection_lost`` as closed by the
    client (``tests/test_viewer_socket.py`` holds it to that).
    """
    handler = request.protocol
    transport = request.transport
    if transport is None or transport.is_closing():
        return None
    tail = bytes(getattr(handler, "_message_tail", b""))
    if tail:
        handler._message_tail = b""
    handler.transport = None  # so nothing aiohttp does next can close it
    handler.connection_lost(None)
    return transport, tail


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
