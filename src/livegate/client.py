"""Python client SDK: follow one live event over the livegate WebSocket.

Usage::

    from livegate.client import connect

    async with connect("ws://127.0.0.1:8080/ws", id="fan-1", event_id="final") as client:
        await client.react("🔥", comment="what a catch")
        async for message in client:
            if message["type"] == "joined":
                reset(message["snapshot"])  # first message, and after a lost resume
            elif message["type"] == "score":
                render(message["data"])

Contract:

- Entering ``connect(...)`` opens the connection and joins the event; the first
  attempt is not retried, so a wrong URL, an unknown event or a refused token
  raises at once (:class:`ConnectFailed`, :class:`JoinRejected`,
  :class:`Unauthorized`).
- After that the client keeps itself connected: it pings at the interval the
  server advertises in ``joined.heartbeat``, treats a server silent for longer
  than ``heartbeat.timeoutMs`` as dead, and reconnects after every close or
  network error except the close codes in
  :data:`~livegate.protocol.CLIENT_CLOSE_CODES_NO_RETRY` (4001, 1008), waiting
  ``rng.uniform(0, min(cap, base * 2**attempt))`` seconds before each attempt
  (exponential backoff with full jitter; ``attempt`` restarts at 0 after a join).
- Tokens: ``token`` is sent with every join; or ``get_token`` (an async function
  returning a token, or None to join without one) is awaited before every
  connection attempt and again before the token expires (at four fifths of
  ``joined.viewer.expiresIn``), and the new token sent as a ``refresh``. With
  ``get_token`` a 4001 close (an expired or refused token) reconnects with a
  fresh token, unless the attempt after it is refused with 4001 again, which
  ends iteration with :class:`Unauthorized`. A join refused with ``forbidden``
  (the token does not cover the event) is never retried. ``id`` may be left out
  with a token: the server takes it from the token's ``sub``.
- A reconnect joins with ``since=last_seq``. If the server recovers, the scores
  missed meanwhile are yielded in order and the ``joined`` is not; if it cannot,
  the new ``joined`` (carrying the current snapshot) is yielded so the
  application can reset its state, and ``last_seq`` restarts from its ``seq``. A
  join refused on a reconnect (``unknown_event`` while a restarted server has
  not yet recreated the event) is retried like a network error.
- The resume also sends the ``epoch`` of the last ``joined``, so a server whose
  history of the event started again (a restart with the memory store) answers
  ``recovered: false`` even when it has counted past ``last_seq`` again.
- Iteration yields decoded server messages as dicts: ``joined``, ``score``,
  ``reactions``, ``viewers``, ``ended`` and ``error``; ``pong`` and ``refreshed`` are
  consumed. Within
  one server history every ``score`` is yielded once, in increasing ``seq``; a
  score whose seq is not above :attr:`Client.last_seq` is dropped, and one that
  skips ahead makes the client rejoin with ``since=last_seq`` so the gap is
  filled from the server's history (the server never skips; this keeps a client
  whole across server versions and engines).
- Iteration ends (``StopAsyncIteration``) after :meth:`Client.close`, and raises
  :class:`ConnectionRefusedByServer` once the messages already received are
  consumed when the server closes with a no-retry code.

Exception tree::

    ClientError                      base of every error this module raises
    ├── ConnectFailed                the first connection could not be opened, or was
    │                                closed before the join was answered
    ├── JoinRejected                 the server answered the first join with an
    │                                ``error`` (``.code``, e.g. ``unknown_event``)
    ├── ConnectionRefusedByServer    closed with a code after which a client must not
    │   │                            reconnect (``.code``, ``.reason``)
    │   ├── Unauthorized             4001: the credentials were refused
    │   └── PolicyViolation          1008: the server saw repeated bad input
    ├── InvalidMessage               a message to send fails the protocol's checks;
    │                                nothing was sent (``.code``, a protocol ErrorCode)
    └── NotConnected                 ``react`` while the client is not connected
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from types import TracebackType
from typing import Any, Final, Literal, TypeGuard

import aiohttp
import orjson

from livegate.protocol import (
    CLIENT_CLOSE_CODES_NO_RETRY,
    ClientMessage,
    CloseCode,
    ErrorCode,
    Join,
    Ping,
    ProtocolError,
    Reaction,
    Refresh,
    encode_client,
    parse_client_frame,
)

__all__ = [
    "Backoff",
    "Client",
    "ClientError",
    "ConnectFailed",
    "ConnectionRefusedByServer",
    "InvalidMessage",
    "JoinRejected",
    "NotConnected",
    "PolicyViolation",
    "State",
    "TokenSource",
    "Unauthorized",
    "connect",
]

_log = logging.getLogger(__name__)

State = Literal["connecting", "connected", "reconnecting", "closed"]
"""The client's connection state, as :attr:`Client.state` reports it."""

TokenSource = Callable[[], Awaitable[str | None]]
"""Gets a fresh viewer token (None: join without one), e.g. from the product's backend."""

REFRESH_AT: Final = 0.8
"""A token is refreshed when this share of its lifetime (``expiresIn``) has passed."""

# -- exceptions -----------------------------------------------------------------


class ClientError(Exception):
    """Base of every error raised by the client SDK."""


class ConnectFailed(ClientError):
    """The first connection could not be opened or was closed before the join was answered.

    ``close_code`` is the WebSocket close code when the server closed, else None.
    """

    def __init__(self, message: str, close_code: int | None = None) -> None:
        super().__init__(message)
        self.close_code = close_code


class JoinRejected(ClientError):
    """The server answered the first join with an ``error`` message.

    ``code`` is the machine word (e.g. ``unknown_event``); ``message`` is for people.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class ConnectionRefusedByServer(ClientError):
    """The server closed with a code after which a client must not reconnect."""

    def __init__(self, code: int, reason: str = "") -> None:
        super().__init__(
            f"server closed the connection with {code}" + (f": {reason}" if reason else "")
        )
        self.code = code
        self.reason = reason


class Unauthorized(ConnectionRefusedByServer):
    """Close code 4001: the credentials were refused."""


class PolicyViolation(ConnectionRefusedByServer):
    """Close code 1008: the server closed after repeated bad input."""


class InvalidMessage(ClientError):
    """A message to send fails the protocol's checks; nothing was sent.

    ``code`` is the :class:`~livegate.protocol.ErrorCode` the server would have answered.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code = code
        self.message = message


class NotConnected(ClientError):
    """The client is not connected (reconnecting or closed), so nothing was sent."""


# -- configuration ----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Backoff:
    """Exponential backoff with full jitter between reconnect attempts.

    Attempt ``n`` (0 for the first retry) waits ``rng.uniform(0, min(cap, base * 2**n))``
    seconds. Full jitter spreads a crowd of clients dropped at once (a server
    restart) over the whole window instead of having them return in lockstep.
    """

    base: float = 0.5
    cap: float = 20.0

    def __post_init__(self) -> None:
        if not self.base > 0:
            raise ValueError("backoff base must be positive")
        if not self.cap >= self.base:
            raise ValueError("backoff cap must be at least the base")

    def ceiling(self, attempt: int) -> float:
        """The longest wait before attempt ``attempt`` (``attempt >= 0``)."""
        # 2.0**1000 is finite; the product may be inf, which min() turns into cap.
        return min(self.cap, self.base * 2.0 ** min(max(attempt, 0), 1000))

    def delay(self, attempt: int, rng: random.Random) -> float:
        """The wait before attempt ``attempt``, drawn from ``rng``."""
        return rng.uniform(0.0, self.ceiling(attempt))


# -- the client ---------------------------------------------------------------------


class _End:
    """Queue marker: iteration is over (the reason is in ``Client._error``)."""


_END: Final = _End()
_CLOSED_TYPES: Final = frozenset(
    {
        aiohttp.WSMsgType.CLOSE,
        aiohttp.WSMsgType.CLOSING,
        aiohttp.WSMsgType.CLOSED,
        aiohttp.WSMsgType.ERROR,
    }
)
_NORMAL_CLOSURE: Final = 1000
_TOKEN_REFUSALS: Final = frozenset(
    {ErrorCode.BAD_TOKEN, ErrorCode.TOKEN_EXPIRED, ErrorCode.TOKEN_REQUIRED}
)


def connect(
    url: str,
    *,
    id: str | None = None,
    event_id: str,
    token: str | None = None,
    get_token: TokenSource | None = None,
    backoff: Backoff | None = None,
    rng: random.Random | None = None,
    session: aiohttp.ClientSession | None = None,
    open_timeout: float = 10.0,
    close_timeout: float = 2.0,
    max_queue: int = 1024,
) -> Client:
    """A client for ``event_id`` at ``url``; use it as ``async with connect(...) as client``.

    ``url`` is the WebSocket URL (``ws://host:8080/ws``); ``id`` is the viewer's user id
    (optional with a token), ``token`` a viewer token sent with every join, and
    ``get_token`` a source of fresh tokens (module docstring). See :class:`Client`
    for the other parameters. Raises :class:`InvalidMessage` at once if the join
    would be refused by the protocol's checks (e.g. a malformed event id).
    """
    return Client(
        url,
        id=id,
        event_id=event_id,
        token=token,
        get_token=get_token,
        backoff=backoff,
        rng=rng,
        session=session,
        open_timeout=open_timeout,
        close_timeout=close_timeout,
        max_queue=max_queue,
    )


class Client:
    """A self-healing connection to one event; see the module docstring for the contract.

    Parameters beyond the join fields:

    - ``backoff``: reconnect delays (:class:`Backoff`; default base 0.5 s, cap 20 s).
    - ``rng``: the randomness for the jitter (default a fresh ``random.Random()``);
      pass a seeded one for reproducible delays.
    - ``session``: an ``aiohttp.ClientSession`` to use; the caller keeps ownership.
      By default the client opens its own and closes it on exit.
    - ``open_timeout``: seconds to open the WebSocket and get the join answered.
    - ``close_timeout``: seconds to wait for the server's half of a close handshake.
    - ``max_queue``: messages received but not yet iterated before the client stops
      reading the socket (0 for no limit). A consumer that falls behind for long is
      eventually closed by the server as a slow consumer, and then resumes.

    Use one ``async for`` consumer per client. Create and use it on one event loop.
    """

    def __init__(
        self,
        url: str,
        *,
        id: str | None = None,
        event_id: str,
        token: str | None = None,
        get_token: TokenSource | None = None,
        backoff: Backoff | None = None,
        rng: random.Random | None = None,
        session: aiohttp.ClientSession | None = None,
        open_timeout: float = 10.0,
        close_timeout: float = 2.0,
        max_queue: int = 1024,
    ) -> None:
        self._url = url
        self._user_id = id
        self._event_id = event_id
        self._token = token
        self._get_token = get_token
        if token is not None and get_token is not None:
            raise ValueError("give a token or get_token, not both")
        # Fail now, not at every reconnect, if the server would refuse the join (a
        # placeholder stands for the token get_token will give).
        placeholder = "token" if get_token is not None and id is None else None
        _encode_client(Join(id=id, event_id=event_id, token=token or placeholder))
        self._backoff = backoff or Backoff()
        self._rng = rng or random.Random()
        self._session = session
        self._own_session = session is None
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._queue: asyncio.Queue[dict[str, Any] | _End] = asyncio.Queue(max_queue)
        self._state: State = "connecting"
        self._entered = False
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        self._runner: asyncio.Task[None] | None = None
        self._last_seq: int | None = None
        self._rejoin_pending = False
        """A seq gap was seen and a join with ``since`` sent; its ``joined`` fills the gap."""
        self._joined: dict[str, Any] | None = None
        self._epoch: str | None = None
        self._reconnects = 0
        self._refresher: asyncio.Task[None] | None = None
        self._done = False
        self._error: BaseException | None = None

    # -- public API -----------------------------------------------------------

    @property
    def state(self) -> State:
        """``connecting`` (first attempt), ``connected``, ``reconnecting`` or ``closed``."""
        return self._state

    @property
    def last_seq(self) -> int | None:
        """The seq of the newest score accepted (or of the snapshot in the last ``joined``).

        Scores up to it have been yielded or wait in the queue; the next reconnect
        resumes after it. None before the first join.
        """
        return self._last_seq

    @property
    def joined(self) -> dict[str, Any] | None:
        """The ``joined`` message of the current (or last) connection, None before it."""
        return self._joined

    @property
    def reconnects(self) -> int:
        """How many times the client has reconnected and joined again."""
        return self._reconnects

    async def __aenter__(self) -> Client:
        """Connect and join; raises as described in the module docstring."""
        if self._entered:
            raise RuntimeError("a livegate client can be entered only once")
        self._entered = True
        if self._session is None:
            self._session = aiohttp.ClientSession()
        try:
            ws, joined = await self._connect_once(since=None)
        except BaseException:
            await self.close()
            raise
        # Connected from here on: react() works as soon as the block is entered.
        self._ws = ws
        self._state = "connected"
        self._runner = asyncio.create_task(self._run(ws, joined), name="livegate-client")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    def __aiter__(self) -> Client:
        return self

    async def __anext__(self) -> dict[str, Any]:
        """The next server message.

        Waits across reconnects. Raises ``StopAsyncIteration`` after :meth:`close`
        and :class:`ConnectionRefusedByServer` (once queued messages are consumed)
        when the server closed with a no-retry code.
        """
        if not self._entered:
            raise RuntimeError("iterate inside 'async with connect(...) as client'")
        if not (self._done and self._queue.empty()):
            item = await self._queue.get()
            if not isinstance(item, _End):
                return item
        # Leave the marker for any later call, so iteration stays over.
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_END)
        if self._error is not None:
            raise self._error
        raise StopAsyncIteration

    async def react(self, emoji: str, comment: str | None = None) -> None:
        """Send a reaction to the joined event.

        Raises :class:`InvalidMessage` if the protocol would refuse it (nothing is
        sent, so bad input never counts against the connection) and
        :class:`NotConnected` unless :attr:`state` is ``connected``; a reaction is
        never queued across a reconnect, since it would arrive stale.
        """
        await self._send(_encode_client(Reaction(emoji=emoji, comment=comment)))

    async def close(self) -> None:
        """Close the connection (code 1000) and stop reconnecting. Idempotent.

        Iteration then ends; messages received but not yet iterated are dropped.
        """
        self._state = "closed"
        self._schedule_refresh(None)
        runner, self._runner = self._runner, None
        if runner is not None and runner is not asyncio.current_task():
            runner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await runner
        ws, self._ws = self._ws, None
        if ws is not None:
            await self._close_ws(ws)
        if self._own_session and self._session is not None:
            session, self._session = self._session, None
            await session.close()
        while not self._queue.empty():
            self._queue.get_nowait()
        self._finish(None)

    # -- connection --------------------------------------------------------------

    async def _connect_once(
        self, since: int | None
    ) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
        """Open the WebSocket, join and wait for ``joined``.

        Raises only :class:`ClientError` subclasses (or ``CancelledError``):
        :class:`ConnectionRefusedByServer` for a no-retry close, :class:`JoinRejected`
        for an ``error`` answer, :class:`ConnectFailed` for anything else.
        """
        assert self._session is not None
        ws: aiohttp.ClientWebSocketResponse | None = None
        if self._get_token is not None:
            self._token = await self._fetch_token()
        join = self._join_frame(since)
        try:
            async with asyncio.timeout(self._open_timeout):
                ws = await self._session.ws_connect(
                    self._url,
                    autoping=True,
                    timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=self._close_timeout),
                )
                await ws.send_str(join)
                while True:
                    msg = await ws.receive()
                    if msg.type is aiohttp.WSMsgType.TEXT:
                        message = _decode(msg.data)
                        if message is None:
                            continue
                        if message["type"] == "joined":
                            return ws, message
                        if message["type"] == "error":
                            code = str(message.get("code", ""))
                            if code in _TOKEN_REFUSALS:  # the 4001 close follows
                                raise Unauthorized(CloseCode.UNAUTHORIZED, code)
                            raise JoinRejected(code, str(message.get("message", "")))
                        # Nothing else is due before ``joined``; skip it.
                    elif msg.type in _CLOSED_TYPES:
                        raise _close_error(ws.close_code, _close_reason(msg))
        except ClientError:
            if ws is not None:
                await self._close_ws(ws)
            raise
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            if ws is not None:
                await self._close_ws(ws)
            raise ConnectFailed(f"cannot connect to {self._url}: {exc!r}") from exc
        except BaseException:
            if ws is not None:
                await self._close_ws(ws)
            raise

    async def _fetch_token(self) -> str | None:
        """A token from ``get_token``; what it raises, or not answering within
        ``open_timeout``, is a failed attempt (ConnectFailed)."""
        assert self._get_token is not None
        try:
            async with asyncio.timeout(self._open_timeout):  # a hung backend is a failure
                token = await self._get_token()
        except Exception as exc:
            raise ConnectFailed(f"get_token failed: {exc!r}") from exc
        if token is not None and not isinstance(token, str):
            raise ConnectFailed(f"get_token returned {type(token).__name__}, not a string")
        return token

    async def _run(self, ws: aiohttp.ClientWebSocketResponse, joined: dict[str, Any]) -> None:
        """Serve connections until a no-retry close; reconnect after every other loss."""
        resumed = False
        try:
            while True:
                try:
                    await self._serve(ws, joined, resumed=resumed)
                    unauthorized = False
                except Unauthorized:
                    if self._get_token is None:
                        raise
                    unauthorized = True  # expired or revoked: try once with a fresh token
                self._state = "reconnecting"
                ws, joined = await self._reconnect(unauthorized=unauthorized)
                resumed = True
                self._reconnects += 1
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # a no-retry close, or a bug: end iteration with it
            if not isinstance(exc, ConnectionRefusedByServer):
                _log.exception("livegate client stopped by an unexpected error")
            self._state = "closed"
            self._finish(exc)

    async def _reconnect(
        self, *, unauthorized: bool = False
    ) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
        """Retry with backoff until a join is answered; the attempt count restarts per loss.

        ``unauthorized``: the last connection ended with 4001, so a 4001 now ends it all.
        """
        attempt = 0
        while True:
            delay = self._backoff.delay(attempt, self._rng)
            attempt += 1
            _log.info("livegate: reconnecting in %.3f s (attempt %d)", delay, attempt)
            await asyncio.sleep(delay)
            try:
                return await self._connect_once(since=self._last_seq)
            except Unauthorized:
                if unauthorized or self._get_token is None:
                    raise
                unauthorized = True
            except ConnectionRefusedByServer:
                raise
            except JoinRejected as exc:
                if exc.code == ErrorCode.FORBIDDEN:
                    raise  # the token does not cover the event: retrying cannot help
                _log.info("livegate: reconnect failed: %s", exc)
            except ClientError as exc:
                # JoinRejected is retried too: after a restart of a server with a
                # memory store, the event exists again only once it is recreated.
                _log.info("livegate: reconnect failed: %s", exc)

    async def _serve(
        self, ws: aiohttp.ClientWebSocketResponse, joined: dict[str, Any], *, resumed: bool
    ) -> None:
        """Deliver ``joined`` and then every message of ``ws`` until it ends.

        Returns when the connection is lost in a way that allows a retry (including
        server silence past the heartbeat timeout); raises
        :class:`ConnectionRefusedByServer` otherwise.
        """
        interval, timeout = _heartbeat(joined)
        self._ws = ws
        self._state = "connected"
        pinger = (
            asyncio.create_task(self._ping_loop(ws, interval), name="livegate-ping")
            if interval is not None
            else None
        )
        try:
            await self._accept_joined(joined, resumed=resumed)
            while True:
                try:
                    msg = await ws.receive(timeout=timeout)
                except TimeoutError:
                    _log.warning("livegate: server silent for %.3f s; reconnecting", timeout)
                    await self._close_ws(ws, wait=False)  # it will not answer a handshake
                    return
                if msg.type is aiohttp.WSMsgType.TEXT:
                    message = _decode(msg.data)
                    if message is not None:
                        await self._dispatch(message)
                elif msg.type in _CLOSED_TYPES:
                    error = _close_error(ws.close_code, _close_reason(msg))
                    _log.info("livegate: connection lost: %s", error)
                    if isinstance(error, ConnectionRefusedByServer):
                        raise error
                    return
        finally:
            if self._ws is ws:
                self._ws = None
            if pinger is not None:
                pinger.cancel()
            self._schedule_refresh(None)
            await self._close_ws(ws)

    def _join_frame(self, since: int | None) -> str:
        return _encode_client(
            Join(
                id=self._user_id,
                event_id=self._event_id,
                since=since,
                token=self._token,
                epoch=self._epoch if since is not None else None,
            )
        )

    async def _accept_joined(self, joined: dict[str, Any], *, resumed: bool) -> None:
        self._rejoin_pending = False
        self._joined = joined
        viewer = joined.get("viewer")
        self._schedule_refresh(viewer.get("expiresIn") if isinstance(viewer, dict) else None)
        epoch = joined.get("epoch")
        self._epoch = epoch if isinstance(epoch, str) else None
        if resumed and joined.get("recovered") is True:
            missed = joined.get("missed")
            for message in missed if isinstance(missed, list) else ():
                if isinstance(message, dict):
                    await self._dispatch(message)
            return
        # First join, or a resume the server could not serve: the snapshot is the
        # state now, and its seq the point to resume from (a restarted server with
        # a memory store counts from 0 again, so this may go down).
        seq = joined.get("seq")
        self._last_seq = seq if _is_seq(seq) else None
        await self._put(joined)

    async def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "pong":
            return
        if kind == "refreshed":
            self._schedule_refresh(message.get("expiresIn"))
            return
        if kind == "score":
            seq = message.get("seq")
            if not _is_seq(seq):
                _log.warning("livegate: dropping a score without a valid seq: %r", message)
                return
            if self._rejoin_pending:
                return  # the rejoin's `joined` (its `missed`, then what follows) covers it
            last = self._last_seq
            if last is not None and seq <= last:
                return
            if last is not None and seq > last + 1:
                # A gap: never with the server's guarantees, but fetch it rather than
                # skip it (as the JavaScript SDK does): rejoin with since = last seq.
                _log.warning(
                    "livegate: seq skipped from %d to %d; rejoining for the gap", last, seq
                )
                self._rejoin_pending = True
                # If the connection is gone, the reconnect resumes from the last seq.
                with contextlib.suppress(NotConnected):
                    await self._send(self._join_frame(last))
                return
            self._last_seq = seq
        elif kind == "joined" and self._rejoin_pending:
            await self._accept_joined(message, resumed=True)
            return
        elif kind == "joined":
            # Only a join of ours is answered with ``joined``; treat one as a reset.
            self._joined = message
            seq = message.get("seq")
            self._last_seq = seq if _is_seq(seq) else self._last_seq
        await self._put(message)

    def _schedule_refresh(self, expires_in: Any) -> None:
        """Refresh the token at ``REFRESH_AT`` of ``expires_in`` seconds (with
        ``get_token``); None cancels the refresh due."""
        if self._refresher is not None:
            if self._refresher is not asyncio.current_task():
                self._refresher.cancel()
            self._refresher = None
        seconds = _positive(expires_in)
        if self._get_token is None or seconds is None:
            return
        delay = max(0.5, seconds * REFRESH_AT)
        self._refresher = asyncio.create_task(self._refresh(delay), name="livegate-refresh")

    async def _refresh(self, delay: float) -> None:
        await asyncio.sleep(delay)
        try:
            token = await self._fetch_token()
            if token is None:
                return  # nothing new: the server closes at expiry and we reconnect
            self._token = token
            await self._send(_encode_client(Refresh(token=token)))
        except ClientError as exc:  # NotConnected, ConnectFailed from get_token
            # The server closes with 4001 at expiry; the reconnect gets a new token.
            _log.warning("livegate: token refresh failed: %s", exc)

    async def _put(self, message: dict[str, Any]) -> None:
        await self._queue.put(message)

    async def _ping_loop(self, ws: aiohttp.ClientWebSocketResponse, interval: float) -> None:
        count = 0
        while True:
            await asyncio.sleep(interval)
            count += 1
            try:
                await ws.send_str(_encode_client(Ping(t=count)))
            except (aiohttp.ClientError, ConnectionError, RuntimeError):
                return  # the reader sees the loss and reconnects

    async def _send(self, text: str) -> None:
        ws = self._ws
        if ws is None or self._state != "connected" or ws.closed:
            raise NotConnected(f"not connected (state {self._state})")
        try:
            await ws.send_str(text)
        except (aiohttp.ClientError, ConnectionError, RuntimeError) as exc:
            raise NotConnected(f"connection lost while sending: {exc!r}") from exc

    async def _send_raw(self, text: str) -> None:
        """Send ``text`` unchecked. For tests of the server's handling of bad input."""
        await self._send(text)

    async def _close_ws(self, ws: aiohttp.ClientWebSocketResponse, *, wait: bool = True) -> None:
        """Send a 1000 close and wait for the server's up to ``close_timeout`` (0 unless ``wait``).

        A close cut short by the timeout aborts the transport (aiohttp does so when
        ``close`` is cancelled), so this never hangs on a dead peer.
        """
        with contextlib.suppress(Exception):
            async with asyncio.timeout(self._close_timeout if wait else 0):
                await ws.close(code=_NORMAL_CLOSURE)

    def _finish(self, error: BaseException | None) -> None:
        if self._done:
            return
        self._done = True
        self._error = error
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(_END)


# -- helpers ------------------------------------------------------------------------


def _encode_client(message: ClientMessage) -> str:
    """One client message as a text frame, checked by the protocol's own parser.

    Raises :class:`InvalidMessage` if the server would refuse it.
    """
    try:
        text = encode_client(message).decode()
        parse_client_frame(text)
    except ProtocolError as exc:
        raise InvalidMessage(exc.code, exc.message) from None
    except TypeError as exc:  # orjson refuses non-JSON values (e.g. a non-str emoji type)
        raise InvalidMessage("bad_field", str(exc)) from None
    return text


def _decode(data: str) -> dict[str, Any] | None:
    """A server text frame as a dict with a string ``type``, or None (logged) if it is not."""
    try:
        message = orjson.loads(data)
    except orjson.JSONDecodeError:
        message = None
    if isinstance(message, dict) and isinstance(message.get("type"), str):
        return message
    _log.warning("livegate: ignoring a malformed server frame: %.200r", data)
    return None


def _close_error(code: int | None, reason: str) -> ClientError:
    """The error a close with ``code`` means: terminal for no-retry codes, else retryable."""
    if code == CloseCode.UNAUTHORIZED:
        return Unauthorized(code, reason)
    if code == CloseCode.POLICY_VIOLATION:
        return PolicyViolation(code, reason)
    if code in CLIENT_CLOSE_CODES_NO_RETRY:
        return ConnectionRefusedByServer(code, reason)
    return ConnectFailed(f"connection closed with {code}" + (f": {reason}" if reason else ""), code)


def _close_reason(msg: aiohttp.WSMessage) -> str:
    if msg.type is aiohttp.WSMsgType.CLOSE and isinstance(msg.extra, str):
        return msg.extra
    return ""


def _heartbeat(joined: dict[str, Any]) -> tuple[float | None, float | None]:
    """``(interval, timeout)`` in seconds from ``joined.heartbeat``; None where absent."""
    heartbeat = joined.get("heartbeat")
    if not isinstance(heartbeat, dict):
        return None, None
    return _seconds(heartbeat.get("intervalMs")), _seconds(heartbeat.get("timeoutMs"))


def _seconds(ms: Any) -> float | None:
    """Seconds of a positive number of milliseconds from the server; None otherwise."""
    positive = _positive(ms)
    return None if positive is None else positive / 1000


def _positive(value: Any) -> float | None:
    """``value`` if it is a positive number (not a bool), else None."""
    if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
        return float(value)
    return None


def _is_seq(value: Any) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0
