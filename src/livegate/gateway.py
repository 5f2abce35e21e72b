"""The node: joins, score fan-out, reactions, heartbeat and viewer counts.

The gateway owns the hub, the engine and the metrics, and runs the node's
timers (heartbeat sweep, reaction windows, viewer counts, retention of ended
events) as four tasks in all, never a task per connection. It knows nothing of
aiohttp: the server gives it each connection's transport and a closer.

Message flow: an update accepted by :meth:`Gateway.publish` is validated
against the event's latest state, then stored and published in one engine call
(seq, snapshot, history); the engine calls :meth:`Gateway._on_engine_message` on
every node with viewers of the event, and the hub writes the same framed bytes
to each local viewer.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import math
import os
import random
import socket
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import orjson

from livegate import protocol
from livegate.batcher import Batcher
from livegate.config import Settings
from livegate.connection import Closer, Connection
from livegate.engines import (
    AppendResult,
    Engine,
    EngineOptions,
    EngineUnavailable,
    EventEnded,
    EventInfo,
    Resume,
    SeqConflict,
    UnknownEvent,
    open_engine,
)
from livegate.hub import Hub
from livegate.keyed_lock import KeyedLock
from livegate.liveness import LivenessTracker
from livegate.metrics import Metrics
from livegate.moderation import CommentFilter
from livegate.protocol import CloseCode, ErrorCode, ProtocolError
from livegate.ratelimit import TokenBucket
from livegate.reactions import ReactionWindow
from livegate.sports import MAX_STATE, FieldError, Sport, fold_state, get_sport
from livegate.tasks import cancel_and_wait
from livegate.viewer_tokens import TokenRefused, TokenVerifier, ViewerClaims, event_allowed

__all__ = ["Clock", "Conflict", "Gateway", "InvalidUpdate", "SystemClock", "TooManyMutes"]

log = logging.getLogger(__name__)

MAX_EVENTS = 10_000
"""Events one engine holds; creating more is refused."""

MAX_MUTES = 1000
"""Viewers muted at once on one event; muting more is refused."""

PARSED_CACHE_BYTES = 64 * 1024 * 1024
"""Encoded bytes of payloads and states kept decoded for the next publish of their event
(least recently published events are forgotten first)."""

APPEND_ATTEMPTS = 5
"""Times an update is validated and appended when other updates of its event keep
coming first (another node accepted one between the check and the append)."""


class InvalidUpdate(Exception):
    """The event's sport refused an update; ``errors`` names every offending field."""

    def __init__(self, errors: list[FieldError]) -> None:
        super().__init__("; ".join(f"{e.path}: {e.reason}" for e in errors))
        self.errors = errors


class Conflict(Exception):
    """Other updates of the event kept being accepted while this one was checked."""


class TooManyMutes(Exception):
    """The event has :data:`MAX_MUTES` viewers muted already."""


class Clock(Protocol):
    """Where the gateway reads time; tests may pass their own."""

    def monotonic(self) -> float: ...

    def time_ms(self) -> int:
        """Wall-clock milliseconds since the Unix epoch (for message ``ts``)."""
        ...


class SystemClock:
    def monotonic(self) -> float:
        return time.monotonic()

    def time_ms(self) -> int:
        return time.time_ns() // 1_000_000


class Gateway:
    """One livegate node.

    Callers must ``await start()`` before use and ``await close()`` at the end.
    The server calls ``connect`` for each accepted WebSocket, ``handle_text_now`` /
    ``handle_binary`` for each frame (one at a time per connection, in order),
    and ``disconnect`` exactly once when the connection is gone.
    """

    def __init__(
        self,
        settings: Settings,
        *,
        engine: Engine | None = None,
        clock: Clock | None = None,
        rng: random.Random | None = None,
    ) -> None:
        self.settings = settings
        self.node_id = settings.node_id or f"{socket.gethostname()}-{os.getpid()}"
        self.clock: Clock = clock or SystemClock()
        self.rng = rng or random.Random()
        self.engine = engine or open_engine(
            settings.engine_url,
            EngineOptions(
                node_id=self.node_id,
                history_size=settings.history_size,
                idempotency_keys=settings.idempotency_keys,
                idempotency_ttl_ms=round(settings.idempotency_ttl * 1000),
                max_events=MAX_EVENTS,
                prefix=settings.engine_prefix,
            ),
        )
        self.comments = CommentFilter.load(settings.blocked_words_file)
        """Reloaded on SIGHUP by the server (``reload_comment_filter``)."""
        self.tokens: TokenVerifier | None = None
        """Viewer token keys (None: tokens are not read); reloaded on SIGHUP."""
        self.reload_token_keys()
        self.hub = Hub(
            on_slow=self._on_slow,
            on_gone=self._on_gone,
            flush_delay=None if settings.flush_delay < 0 else settings.flush_delay,
            on_written=self._on_written,
        )
        self.metrics = Metrics(
            viewers=self._local_viewer_counts,
            engine_commands=lambda: getattr(self.engine, "commands", 0),
        )
        self.liveness: LivenessTracker[Connection] = LivenessTracker()
        self.unjoined: LivenessTracker[Connection] = LivenessTracker()
        """Connections without a joined event, by when that began (join timeout)."""
        self.events_version = 0
        """Bumped when the event list changes other than by seq or viewers (list caches)."""
        self.draining = False
        self._connections: set[Connection] = set()
        self._no_connections = asyncio.Event()
        self._no_connections.set()
        self._subscribed: set[str] = set()
        self._subscription_locks = KeyedLock()
        """Subscribing to one event never waits for another's (no global lock on joins)."""
        self._join_reads: Batcher[tuple[str, int | None], Resume] = Batcher(self._read_for_joins)
        """Joins of one event asking for the same ``since`` share one engine read."""
        self._join_counts: Batcher[str, dict[str, tuple[int, int]]] = Batcher(self._count_joins)
        """Joins of one event share one viewer count report (a storm's joins come together)."""
        self._windows: dict[str, ReactionWindow] = {}
        self._partials: dict[str, ReactionWindow] = {}
        """Reactions other nodes reported per event, sent with this node's next window."""
        self._ended: set[str] = set()
        self._mutes: dict[str, dict[str, int]] = {}
        """Mutes in force (viewer id to end, ms) of each subscribed event."""
        self._mutes_loading: dict[str, dict[str, int] | None] = {}
        """Events whose mutes are being read at subscription, with any ``mutes`` message
        that arrived meanwhile (newer than what the read may return)."""
        self._expiring: dict[int, set[Connection]] = {}
        """Connections by the second their token expires; ``_expiry_heap`` orders them."""
        self._expiry_heap: list[int] = []
        self._viewers_sent: dict[str, int] = {}
        """The count last sent to each event's viewers (a join drops it: sent again)."""
        self._viewers_sent_at: dict[str, float] = {}
        """When it was sent (monotonic), for ``viewers_budget``."""
        self._tasks: list[asyncio.Task[None]] = []
        self._resets: set[asyncio.Task[None]] = set()
        self._parsed = _ParsedCache(PARSED_CACHE_BYTES)
        """Each event's latest payload and state as decoded objects, by (epoch, seq)."""
        self._out = {kind: self.metrics.messages_out.labels(kind) for kind in _SERVER_TYPES}
        # Labelled children looked up once: `labels()` costs more than the increment.
        self._in = {
            kind: self.metrics.messages_in.labels(kind)
            for kind in (*_CLIENT_TYPES.values(), "invalid", "binary", "control")
        }
        self._in_by_type = {type_: self._in[kind] for type_, kind in _CLIENT_TYPES.items()}
        self._reacted = {
            result: self.metrics.reactions.labels(result)
            for result in ("accepted", "refused", "comment_muted", "comment_refused")
        }
        self._resume_max_bytes = min(settings.resume_max_bytes, settings.max_buffer // 2)
        heartbeat = settings.heartbeat_interval, settings.heartbeat_timeout
        self._heartbeat_ms = (round(heartbeat[0] * 1000), round(heartbeat[1] * 1000))
        self._handlers: dict[type, Callable[[Connection, Any, float], Awaitable[None]]] = {
            protocol.Join: self._join,
            protocol.Leave: self._leave_message,
            protocol.Refresh: self._refresh,
        }

    # -- lifecycle -------------------------------------------------------------

    async def start(self) -> None:
        """Start the engine (raises EngineUnavailable if it cannot) and the timers."""
        await self.engine.start(self._on_engine_message, self._on_engine_reset)
        settings = self.settings
        sweep = min(1.0, max(0.02, min(settings.heartbeat_timeout, settings.join_timeout) / 10))
        grid = asyncio.get_running_loop().time()
        self._tasks = [
            asyncio.create_task(
                self._every(sweep, self._sweep_silent, grid), name="heartbeat-sweep"
            ),
            asyncio.create_task(
                self._every(settings.reaction_window, self._flush_reactions, grid),
                name="reactions",
            ),
            asyncio.create_task(
                self._every(settings.viewers_interval, self._send_viewer_counts, grid),
                name="viewers",
            ),
            asyncio.create_task(
                self._every(min(60.0, settings.ended_retention / 4), self._forget_old_ended, grid),
                name="retention",
            ),
        ]

    async def drain(self, window: float) -> None:
        """Close every connection with 1012, spread evenly over ``window`` seconds.

        Spreading the closes keeps the clients' reconnects from arriving at
        the next node as one storm.
        """
        self.draining = True
        self.hub.flush_all()  # what was published before the drain goes out before 1012
        connections = list(self._connections)
        self.rng.shuffle(connections)
        steps = max(1, min(len(connections), int(window * 20)))
        for step in range(steps):
            for conn in connections[step::steps]:
                self.close_connection(conn, CloseCode.SERVICE_RESTART, "restart", "server restart")
            if step < steps - 1:
                await asyncio.sleep(window / steps)

    async def wait_disconnected(self, timeout: float) -> bool:
        """Wait until every connection is gone; False if ``timeout`` passed first."""
        try:
            async with asyncio.timeout(timeout):
                await self._no_connections.wait()
        except TimeoutError:
            return False
        return True

    async def close(self) -> None:
        self.hub.close()
        await cancel_and_wait(self._tasks)
        await self.engine.close()

    async def _every(
        self, interval: float, tick: Callable[[], Awaitable[None]], grid: float
    ) -> None:
        """Run ``tick`` every ``interval`` seconds on a grid from the loop time ``grid``.

        A slow tick does not push the next ones later, and timers whose intervals are
        multiples of each other fire in the same loop iteration, so their messages
        share one coalesced write (each second's ``reactions`` window and ``viewers``
        count reach a viewer together).
        """
        loop = asyncio.get_running_loop()
        due = grid
        while True:
            due += interval
            late = loop.time() - due
            if late > 0:  # a tick ran long: the next slot on the grid, not a catch-up
                due += interval * math.ceil(late / interval)
            await asyncio.sleep(due - loop.time())
            try:
                await tick()
            except Exception:  # a timer must survive one bad tick
                log.exception("timer %s failed", tick.__name__)

    # -- connections -------------------------------------------------------------

    def connect(self, transport: asyncio.WriteTransport, closer: Closer) -> Connection:
        """Register a new WebSocket connection and start its heartbeat clock."""
        settings = self.settings
        now = self.clock.monotonic()
        conn = Connection(
            transport,
            closer,
            max_buffer=settings.max_buffer,
            message_bucket=TokenBucket(settings.message_rate, settings.message_burst, now),
            frame_bucket=TokenBucket(settings.frame_rate, settings.frame_burst, now),
            reaction_bucket=TokenBucket(settings.reaction_rate, settings.reaction_burst, now),
            abuse_bucket=TokenBucket(settings.abuse_rate, settings.abuse_limit, now),
            on_slow=self._on_slow,
            on_gone=self._on_gone,
        )
        self._connections.add(conn)
        self._no_connections.clear()
        self.liveness.touch(conn, now)
        self.unjoined.touch(conn, now)
        self.metrics.connections.inc()
        self.metrics.connections_opened.inc()
        return conn

    async def disconnect(self, conn: Connection) -> None:
        """Forget a connection that is gone (called once, whatever closed it)."""
        conn.closed = True
        self.liveness.forget(conn)
        self.unjoined.forget(conn)
        self._set_viewer(conn, None)
        if conn in self._connections:
            self._connections.discard(conn)
            self.metrics.connections.dec()
            if not self._connections:
                self._no_connections.set()
        if conn.event_id is not None:
            await self._leave(conn)

    def close_connection(self, conn: Connection, code: int, reason: str, message: str) -> None:
        """Close ``conn`` with ``code`` now; it gets no more messages."""
        if conn.closed:
            return
        if conn.event_id is not None:
            self.hub.flush(conn.event_id)  # what was due before the close goes first
            if conn.closed:  # the flush found it slow and closed it
                return
        self._retire(conn, reason)
        conn.close(code, message)

    def _retire(self, conn: Connection, reason: str) -> None:
        """Stop sending to ``conn`` and stop its timers; count why."""
        if conn.event_id is not None:
            self.hub.remove(conn.event_id, conn)
        self.liveness.forget(conn)
        self.unjoined.forget(conn)
        self.metrics.closes.labels(reason).inc()

    def reload_comment_filter(self) -> None:
        """Read ``--blocked-words`` again (SIGHUP). Raises ValueError; then the old stays."""
        self.comments = CommentFilter.load(self.settings.blocked_words_file)

    def reload_token_keys(self) -> None:
        """Read the viewer token keys again (SIGHUP: a rotated JWKS). Raises ValueError;
        then the old keys stay. Connections keep the tokens they were accepted with."""
        self.tokens = None if self.settings.viewer_auth == "off" else self.settings.token_verifier()

    def _on_slow(self, conn: Connection) -> None:
        self.close_connection(conn, CloseCode.SLOW_CONSUMER, "slow_consumer", "slow consumer")

    def _on_gone(self, conn: Connection) -> None:
        """A write found the socket already closed (the peer reset it).

        The WebSocket handler has not yet noticed; it will call ``disconnect``,
        which does the rest (viewer counts, unsubscribing). Until then the
        connection gets nothing more.
        """
        if not conn.closed:
            conn.closed = True
            self._retire(conn, "gone")

    def _send(self, conn: Connection, kind: str, payload: bytes) -> None:
        if conn.event_id is not None:
            self.hub.flush(conn.event_id)  # one order per viewer: the event's queue first
        conn.send(payload)
        self._out[kind].inc()

    # -- inbound messages ------------------------------------------------------

    def handle_text_now(self, conn: Connection, text: str | bytes) -> Awaitable[None] | None:
        """Handle one client text frame (already within the size limit), as far as it can now.

        Returns None when the message was handled whole (a reaction, a ping, any refusal),
        or an awaitable for the part that needs the engine (a join, a leave, a refresh):
        the caller must await it before handing this connection its next message.
        """
        if conn.closed:
            return None
        now = self.clock.monotonic()
        self.liveness.touch(conn, now)
        if not conn.message_bucket.take(now):
            self._rate_limited(conn, now, "too many messages; slow down")
            return None
        try:
            message = protocol.parse_client_frame(text)
        except ProtocolError as exc:
            self._in["invalid"].inc()
            self._bad_input(conn, exc.code, exc.message)
            return None
        self._in_by_type[type(message)].inc()
        if isinstance(message, protocol.Reaction):
            self._react(conn, message, now)
            return None
        if isinstance(message, protocol.Ping):
            self._ping(conn, message, now)
            return None
        return self._handlers[type(message)](conn, message, now)

    def handle_binary(self, conn: Connection) -> None:
        """A binary frame: the protocol is text only, so close with 1003."""
        self._in["binary"].inc()
        self.close_connection(
            conn, CloseCode.UNSUPPORTED_DATA, "binary_frame", "binary frames are not supported"
        )

    def handle_control(self, conn: Connection) -> bool:
        """A WebSocket ping or pong frame: alive, and counted against the message rate.

        Returns whether a ping may be answered. Past the rate it is not, and
        (as for messages) sustained flooding closes the connection with 4008:
        answering every ping of a flood would cost the node a write each.
        """
        if conn.closed:
            return False
        now = self.clock.monotonic()
        self.liveness.touch(conn, now)
        self._in["control"].inc()
        if conn.message_bucket.take(now):
            return True
        self._count_abuse(conn, now)
        return False

    def frame_budget(self, conn: Connection) -> int:
        """Frames ``conn`` may send now, before they are parsed (``frames.FrameReader``)."""
        return conn.frame_bucket.available(self.clock.monotonic())

    def frames_spent(self, conn: Connection, frames: int) -> None:
        conn.frame_bucket.spend(frames)

    def _error(self, conn: Connection, code: str, message: str) -> None:
        self.metrics.errors.labels(code).inc()
        self._send(conn, "error", protocol.encode_error(code, message))

    def _bad_input(self, conn: Connection, code: str, message: str) -> None:
        self._error(conn, code, message)
        conn.bad_streak += 1
        if conn.bad_streak >= self.settings.bad_input_limit:
            self.close_connection(
                conn, CloseCode.POLICY_VIOLATION, "bad_input", "too much bad input in a row"
            )

    def _rate_limited(self, conn: Connection, now: float, message: str) -> None:
        self._error(conn, ErrorCode.RATE_LIMITED, message)
        self._count_abuse(conn, now)

    def _count_abuse(self, conn: Connection, now: float) -> None:
        """One more refusal: past the abuse bucket, close with 4008."""
        if not conn.abuse_bucket.take(now):
            self.close_connection(conn, CloseCode.RATE_LIMIT, "rate_limit", "rate limit abuse")

    def _ping(self, conn: Connection, message: protocol.Ping, now: float) -> None:
        conn.bad_streak = 0
        self._send(conn, "pong", protocol.encode_pong(message.t, self.clock.time_ms()))

    async def _leave_message(self, conn: Connection, message: protocol.Leave, now: float) -> None:
        if conn.event_id is None:
            self._bad_input(conn, ErrorCode.NOT_JOINED, "leave needs a joined event")
            return
        conn.bad_streak = 0
        await self._leave(conn)
        if not conn.closed:  # the join timeout starts again
            self.unjoined.touch(conn, now)

    async def _join(self, conn: Connection, message: protocol.Join, now: float) -> None:
        event_id = message.event_id
        if self.draining:
            return
        identity = self._identify(conn, message)
        if identity is None:
            return
        user_id, viewer = identity
        if viewer is not None and not event_allowed(viewer, event_id, private=False):
            self._forbidden(conn, event_id)  # before any engine work: not even existence
            return
        if conn.event_id == event_id:
            await self._leave(conn)  # joined again: one membership, a fresh `joined`
            if not conn.closed:  # as after any leave, until this join succeeds
                self.unjoined.touch(conn, now)
        # Buffer the event's messages for this connection before reading its
        # state, so nothing published while we read is lost (dropped by seq below).
        # A connection on another event stays on it until this join succeeds.
        self.hub.add_pending(event_id, conn)
        conn.joining = True
        try:
            await self._ensure_subscribed(event_id)
            resume = await self._join_reads.call((event_id, message.since))
            private = resume.event.meta.get("private") is True
            if not event_allowed(viewer, event_id, private):
                # Before the viewer count: a refused join must not count as a viewer.
                await self._join_failed(conn, event_id)
                self._forbidden(conn, event_id)
                return
            totals = await self._join_counts.call(event_id)
        except UnknownEvent:
            await self._join_failed(conn, event_id)
            # Not bad input: a client waiting out a restart retries this join
            # (the message rate limit bounds it), so it must not end in 1008.
            self._error(conn, ErrorCode.UNKNOWN_EVENT, f"no event {event_id!r}")
            return
        except EngineUnavailable:
            await self._join_failed(conn, event_id)
            self.close_connection(
                conn, CloseCode.TRY_AGAIN_LATER, "engine_unavailable", "engine unavailable"
            )
            return
        finally:
            conn.joining = False
        info = resume.event
        if conn.event_id is not None and not conn.closed:
            await self._leave(conn)  # the join succeeded: leave the previous event
        if conn.closed:
            await self._join_failed(conn, event_id)
            return
        conn.user_id = user_id
        self._set_viewer(conn, viewer)
        conn.private_event = private
        conn.event_id = event_id
        self.unjoined.forget(conn)
        live = totals.get(event_id, (0, 0))[0]
        conn.bad_streak = 0
        # From here to the end nothing awaits, so `joined` is the first message
        # the connection gets and the buffered ones follow in order.
        buffered = self.hub.promote(event_id, conn)
        recovered, missed = resume.recovered, resume.missed
        if message.epoch is not None and message.epoch != info.epoch:
            # The client's seqs belong to another history of this event.
            recovered, missed = False, []
        elif sum(map(len, missed)) > self._resume_max_bytes:
            # A small join must not buy a large answer, and replaying more than
            # the send buffer holds would make the viewer a slow consumer at once
            # (and its reconnect would ask for the same again): send the snapshot.
            recovered, missed = False, []
        if info.status == "ended":
            self._ended.add(event_id)
        self._send_joined(
            conn, info, live, recovered if message.since is not None else None, missed
        )
        for payload in buffered:
            seq = _score_seq(payload)
            if seq is not None and seq <= info.seq:
                continue  # already in `missed` or the snapshot
            self._send(conn, _message_type(payload), payload)
        self.metrics.joins.inc()
        # The newcomer's count came from `joined`; make the next tick send the
        # event's count even if it equals the last one sent to the others.
        self._viewers_sent.pop(event_id, None)

    def _send_joined(
        self,
        conn: Connection,
        info: EventInfo,
        live: int,
        recovered: bool | None,
        missed: list[bytes],
    ) -> None:
        self._send(
            conn,
            "joined",
            protocol.encode_joined(
                event_id=info.event_id,
                epoch=info.epoch,
                sport=info.sport,
                title=info.title,
                status=info.status,
                seq=info.seq,
                viewers=live,
                snapshot_json=info.snapshot,
                heartbeat_interval_ms=self._heartbeat_ms[0],
                heartbeat_timeout_ms=self._heartbeat_ms[1],
                recovered=recovered,
                missed=missed,
                state_json=info.state,
                viewer=self._viewer_json(conn),
            ),
        )

    def _viewer_json(self, conn: Connection) -> dict[str, Any] | None:
        """``joined.viewer``: who a token made the viewer (None for an anonymous one)."""
        viewer = conn.viewer
        if viewer is None:
            return None
        body: dict[str, Any] = {"id": viewer.sub}
        if viewer.name:
            body["name"] = viewer.name
        body["expiresIn"] = viewer.expires_in(self._now_s())
        return body

    # -- viewer tokens -------------------------------------------------------------

    def _identify(
        self, conn: Connection, message: protocol.Join
    ) -> tuple[str, ViewerClaims | None] | None:
        """(viewer id, token claims or None) of a join, or None if it was refused.

        A bad token, or none where one is required, gets its ``error`` and closes
        the connection with 4001.
        """
        tokens = self.tokens
        if tokens is None or message.token is None:
            if tokens is not None and self.settings.viewer_auth == "required":
                self._refuse_token(conn, ErrorCode.TOKEN_REQUIRED, "a token is required to join")
                return None
            if message.id is None:
                self._bad_input(
                    conn, ErrorCode.MISSING_FIELD, "'id' is required: this server reads no tokens"
                )
                return None
            return message.id, None
        claims = self._verify(conn, tokens, message.token)
        if claims is None:
            return None
        if message.id is not None and message.id != claims.sub:
            self._refuse_token(conn, ErrorCode.BAD_TOKEN, "'id' differs from the token's 'sub'")
            return None
        return claims.sub, claims

    def _verify(self, conn: Connection, tokens: TokenVerifier, token: str) -> ViewerClaims | None:
        """The claims of ``token``, or None when it is refused (``error`` and 4001 sent)."""
        try:
            return tokens.verify(token, self._now_s())
        except TokenRefused as exc:
            self._refuse_token(conn, exc.code, exc.message)
            return None

    def _now_s(self) -> float:
        """Wall-clock seconds, as token ``exp`` claims count them."""
        return self.clock.time_ms() / 1000

    def _refuse_token(self, conn: Connection, code: str, message: str) -> None:
        self._error(conn, code, message)
        self.close_connection(conn, CloseCode.UNAUTHORIZED, "unauthorized", message)

    def _forbidden(self, conn: Connection, event_id: str) -> None:
        # Not bad input: the viewer may try another event on the same connection.
        self._error(conn, ErrorCode.FORBIDDEN, f"your token does not let you join {event_id!r}")

    def _set_viewer(self, conn: Connection, viewer: ViewerClaims | None) -> None:
        """Make ``viewer`` the connection's token, and watch for its expiry."""
        old = conn.viewer
        if old is not None and old.exp is not None:
            expiring = self._expiring.get(old.exp)
            if expiring is not None:
                expiring.discard(conn)
                if not expiring:
                    del self._expiring[old.exp]  # its heap entry is skipped when due
        conn.viewer = viewer
        if viewer is not None and viewer.exp is not None and not conn.closed:
            expiring = self._expiring.get(viewer.exp)
            if expiring is None:
                expiring = self._expiring[viewer.exp] = set()
                heap = self._expiry_heap
                if len(heap) > 2 * len(self._expiring) + 64:
                    # Seconds whose connections all left: drop them, or the heap would
                    # hold one entry per second of the longest token's lifetime.
                    heap[:] = list(self._expiring)
                    heapq.heapify(heap)
                else:
                    heapq.heappush(heap, viewer.exp)
            expiring.add(conn)

    def _close_expired(self) -> None:
        """Close (4001) every connection whose token expired without a ``refresh``."""
        now = self._now_s()
        heap = self._expiry_heap
        while heap and heap[0] <= now:
            for conn in list(self._expiring.pop(heapq.heappop(heap), ())):
                self._refuse_token(conn, ErrorCode.TOKEN_EXPIRED, "the token has expired")

    async def _refresh(self, conn: Connection, message: protocol.Refresh, now: float) -> None:
        tokens, current = self.tokens, conn.viewer
        if tokens is None or current is None:
            self._bad_input(
                conn, ErrorCode.BAD_FIELD, "refresh needs a connection joined with a token"
            )
            return
        claims = self._verify(conn, tokens, message.token)
        if claims is None:
            return
        if claims.sub != current.sub:
            self._refuse_token(conn, ErrorCode.BAD_TOKEN, "the new token has another 'sub'")
            return
        conn.bad_streak = 0
        self._set_viewer(conn, claims)
        self._send(
            conn,
            "refreshed",
            protocol.encode_refreshed(claims.expires_in(self._now_s())),
        )
        event_id = conn.event_id
        if event_id is not None and not event_allowed(claims, event_id, conn.private_event):
            await self._leave(conn)
            if not conn.closed:
                self.unjoined.touch(conn, now)
            self._forbidden(conn, event_id)

    async def _read_for_joins(self, key: tuple[str, int | None], _joins: int) -> Resume:
        event_id, since = key
        return await self.engine.since(event_id, since, self.settings.resume_max_messages)

    async def _count_joins(self, event_id: str, joins: int) -> dict[str, tuple[int, int]]:
        """Report the event's viewers here counting ``joins`` joining ones (not live yet)."""
        return await self.engine.report_viewers({event_id: self.hub.count(event_id) + joins})

    async def _join_failed(self, conn: Connection, event_id: str) -> None:
        """Undo a join that did not happen; the connection keeps the event it had."""
        self.hub.remove(event_id, conn)
        await self._maybe_unsubscribe(event_id)

    async def _leave(self, conn: Connection) -> None:
        event_id = conn.event_id
        if event_id is None:
            return
        conn.event_id = None
        self.hub.remove(event_id, conn)
        # The count is reported again within a second; an outage must not fail a leave.
        with contextlib.suppress(EngineUnavailable):
            await self.engine.report_viewers({event_id: self.hub.count(event_id)})
        await self._maybe_unsubscribe(event_id)

    async def _ensure_subscribed(self, event_id: str) -> None:
        if event_id in self._subscribed:
            # Safe without the lock: the caller is pending in the hub, so no
            # unsubscribe can start (it checks for members under the lock), and one
            # in progress removed the event from `_subscribed` before awaiting.
            return
        async with self._subscription_locks.hold(event_id):
            if event_id not in self._subscribed:
                await self.engine.subscribe(event_id)
                # Read after subscribing: a change from now on arrives as a `mutes` message,
                # and one that arrives during the read is newer than what it returns.
                self._mutes_loading[event_id] = None
                try:
                    mutes = await self.engine.mutes(event_id, self.clock.time_ms())
                except BaseException:
                    with contextlib.suppress(EngineUnavailable):
                        await self.engine.unsubscribe(event_id)
                    raise
                finally:
                    newer = self._mutes_loading.pop(event_id, None)
                self._mutes[event_id] = newer if newer is not None else mutes
                self._subscribed.add(event_id)

    async def _maybe_unsubscribe(self, event_id: str) -> None:
        async with self._subscription_locks.hold(event_id):
            if event_id in self._subscribed and not self.hub.has_members(event_id):
                self._subscribed.discard(event_id)
                self._ended.discard(event_id)
                self._mutes.pop(event_id, None)
                with contextlib.suppress(EngineUnavailable):
                    await self.engine.unsubscribe(event_id)

    def _react(self, conn: Connection, message: protocol.Reaction, now: float) -> None:
        event_id, user_id = conn.event_id, conn.user_id
        if event_id is None or user_id is None:
            self._bad_input(conn, ErrorCode.NOT_JOINED, "join an event before reacting")
            return
        if message.id is not None and message.id != user_id:
            self._bad_input(conn, ErrorCode.ID_MISMATCH, "'id' must equal the id you joined with")
            return
        conn.bad_streak = 0
        if event_id in self._ended:
            self._reacted["refused"].inc()
            self._error(conn, ErrorCode.EVENT_ENDED, "the event has ended")
            return
        if not conn.reaction_bucket.take(now):
            self._reacted["refused"].inc()
            self._rate_limited(conn, now, "too many reactions; slow down")
            return
        self._reacted["accepted"].inc()
        comment = message.comment
        if comment and self._mutes.get(event_id, {}).get(user_id, 0) > self.clock.time_ms():
            self._reacted["comment_muted"].inc()
            self._error(conn, ErrorCode.MUTED, "you are muted on this event: comments not shown")
            comment = None
        if comment and (why := self.comments.why(comment)) is not None:
            # The emoji still counts; the comment is shown to no one.
            self._reacted["comment_refused"].inc()
            self._error(conn, ErrorCode.COMMENT_REFUSED, why)
            comment = None
        window = self._windows.get(event_id)
        if window is None:
            window = self._windows[event_id] = ReactionWindow(
                self.settings.max_comment_samples, self.rng
            )
        viewer = conn.viewer
        window.add(
            user_id,
            message.emoji,
            comment,
            name=viewer.name if viewer is not None else None,
            verified=viewer is not None,
        )

    # -- timers ------------------------------------------------------------------

    async def _sweep_silent(self) -> None:
        self._close_expired()
        now = self.clock.monotonic()
        for conn in self.liveness.expired(now, self.settings.heartbeat_timeout):
            self.close_connection(
                conn, CloseCode.HEARTBEAT_TIMEOUT, "heartbeat", "heartbeat timeout"
            )
        # Pings keep a connection alive, but not one that never joins: it would
        # hold a connection slot for nothing.
        for conn in self.unjoined.expired(now, self.settings.join_timeout):
            if conn.joining:
                # It asked in time and the engine is slow to answer (a storm): not its
                # fault. The engine's timeouts bound the join; time it again from now.
                self.unjoined.touch(conn, now)
                continue
            self.close_connection(
                conn, CloseCode.JOIN_TIMEOUT, "join_timeout", "no event joined in time"
            )

    async def _flush_reactions(self, only: str | None = None) -> None:
        """Send each event's window: this node's reactions plus the other nodes' partials.

        On a shared engine this node's own part goes to the other nodes as one
        partial per event per window, whatever the reaction rate.
        """
        window_ms = round(self.settings.reaction_window * 1000)
        events = [only] if only is not None else list(self._windows.keys() | self._partials)
        for event_id in events:
            window = self._windows.get(event_id)
            if not window:
                if window is not None and not self.hub.has_members(event_id):
                    del self._windows[event_id]
                counts: dict[str, int] = {}
                comments: list[dict[str, str]] = []
            else:
                counts, comments = window.drain()
                if self.engine.shared:
                    await self._publish_partial(event_id, counts, comments)
            others = self._partials.pop(event_id, None)
            if others:
                others.merge(counts, comments)
                counts, comments = others.drain()
            if counts:
                self._fan_out(
                    event_id,
                    protocol.encode_reactions(event_id, window_ms, counts, comments),
                    "reactions",
                )

    async def _publish_partial(
        self, event_id: str, counts: dict[str, int], comments: list[dict[str, str]]
    ) -> None:
        partial = protocol.encode_reaction_partial(event_id, self.node_id, counts, comments)
        try:
            await self.engine.publish(event_id, partial)
        except Exception:  # the other events' windows still go out
            self.metrics.errors.labels("partial_lost").inc()
            log.warning("could not send the reactions of %r to the other nodes", event_id)

    async def _send_viewer_counts(self) -> None:
        sent = self._viewers_sent
        for event_id in list(self._viewers_sent_at):
            if not self.hub.count(event_id):
                sent.pop(event_id, None)
                del self._viewers_sent_at[event_id]
        counts = {event_id: self.hub.count(event_id) for event_id in self.hub.events()}
        if not counts:
            return
        try:
            totals = await self.engine.report_viewers(counts)
        except EngineUnavailable:
            return  # reported again next tick; the counts expire elsewhere meanwhile
        now = self.clock.monotonic()
        interval, budget = self.settings.viewers_interval, self.settings.viewers_budget
        for event_id, (live, _peak) in totals.items():
            local = self.hub.count(event_id)
            if sent.get(event_id) == live or not local:
                continue
            # Half a tick of slack: the ticks run on a grid, a little late at times.
            due = self._viewers_sent_at.get(event_id, -math.inf) + interval * (
                max(1.0, local / budget) - 0.5
            )
            if now >= due:
                sent[event_id] = live
                self._viewers_sent_at[event_id] = now
                self._fan_out(event_id, protocol.encode_viewers(event_id, live), "viewers")

    def _on_written(self, messages: int, writes: int) -> None:
        self.metrics.deliveries.inc(messages)
        self.metrics.fanout_writes.inc(writes)

    def _local_viewer_counts(self) -> list[tuple[str, int]]:
        return [(event_id, self.hub.count(event_id)) for event_id in self.hub.events()]

    # -- fan-out -----------------------------------------------------------------

    def _on_engine_message(self, event_id: str, payload: bytes) -> None:
        """Deliver one message to the event's local viewers. Never raises.

        The engine calls this from inside an append (memory, SQLite) or its
        reader (Redis); an exception here must neither fail that append nor stop
        the reader, so it is logged and swallowed.
        """
        try:
            kind = _message_type(payload)
            if kind == "partial":
                self._merge_partial(event_id, payload)
                return
            if kind == "mutes":
                if event_id in self._mutes_loading:
                    self._mutes_loading[event_id] = protocol.decode_mutes(payload)
                elif event_id in self._subscribed:
                    self._mutes[event_id] = protocol.decode_mutes(payload)
                return
            if kind == "ended":
                self._ended.add(event_id)
            self._fan_out(event_id, payload, kind)
        except Exception:
            log.exception("fan-out of a message for %r failed", event_id)

    def _merge_partial(self, event_id: str, payload: bytes) -> None:
        node, counts, comments = protocol.decode_reaction_partial(payload)
        if node == self.node_id or not self.hub.has_members(event_id):
            return
        window = self._partials.get(event_id)
        if window is None:
            window = self._partials[event_id] = ReactionWindow(
                self.settings.max_comment_samples, self.rng
            )
        window.merge(counts, comments)

    def _on_engine_reset(self, event_id: str) -> None:
        """The engine lost messages of the event it cannot replay: resend the snapshot."""
        task = asyncio.create_task(self._resend_snapshot(event_id), name=f"reset-{event_id}")
        self._resets.add(task)
        task.add_done_callback(self._resets.discard)

    async def _resend_snapshot(self, event_id: str) -> None:
        try:
            resume = await self.engine.since(event_id, None, 0)
        except Exception:
            log.exception("re-reading %r after lost messages failed", event_id)
            return
        info = resume.event
        self.metrics.errors.labels("engine_reset").inc()
        for conn in self.hub.members(event_id):
            self._send_joined(conn, info, self.hub.count(event_id), False, [])

    def _fan_out(self, event_id: str, payload: bytes, kind: str) -> None:
        delivered = self.hub.broadcast(event_id, payload)
        if delivered:
            counter = self._out.get(kind)
            if counter is not None:
                counter.inc(delivered)

    # -- the HTTP API's operations -------------------------------------------------

    async def put_event(
        self, event_id: str, sport: str | None, title: str | None, meta: dict[str, Any]
    ) -> tuple[EventInfo, bool]:
        self.events_version += 1
        return await self.engine.put_event(event_id, sport, title, meta, self.clock.time_ms())

    async def get_event(self, event_id: str) -> EventInfo | None:
        return await self.engine.get_event(event_id)

    async def list_events(self) -> list[EventInfo]:
        return await self.engine.list_events()

    async def publish(
        self, event_id: str, data: dict[str, Any], data_json: bytes, idempotency_key: str | None
    ) -> AppendResult:
        """Validate, store and fan out one update (``data_json`` is ``data`` encoded).

        Raises UnknownEvent, EventEnded, InvalidUpdate when the event's sport
        refuses the payload, Conflict when other updates of the event kept
        coming first, or EngineUnavailable (nothing was stored). A retry with a
        remembered idempotency key returns the first seq (``duplicate=True``)
        and sends nothing, before any check.

        The update is checked against the event's state at some seq and
        appended only if the event is still at that seq; if another update
        (from this node or another) came first, it is checked again against
        the new state.
        """
        started = self.clock.monotonic()
        engine = self.engine
        if idempotency_key is not None and (
            seen := await engine.find_idempotent(event_id, idempotency_key, self.clock.time_ms())
        ):
            return seen
        for _attempt in range(APPEND_ATTEMPTS):
            info = await engine.get_event(event_id)
            if info is None:
                raise UnknownEvent(event_id)
            if info.status == "ended":
                raise EventEnded(event_id)
            previous, previous_state = self._parsed.take(info)
            sport = get_sport(info.sport)
            errors = sport.validate(data, previous)
            if errors:
                raise InvalidUpdate(errors)
            folded, state = _next_state(sport, previous_state, data)
            try:
                result = await engine.append(
                    event_id,
                    data_json,
                    self.clock.time_ms(),
                    idempotency_key,
                    expected_seq=info.seq,
                    state=state,
                )
            except SeqConflict:
                self.metrics.errors.labels("seq_conflict").inc()
                continue
            if not result.duplicate:
                self._parsed.put(event_id, info.epoch, result.seq, data, folded, data_json, state)
                self.metrics.updates.inc()
                if result.seq == 1:
                    self.events_version += 1  # scheduled -> live
                self.metrics.publish_latency.observe(self.clock.monotonic() - started)
            return result
        raise Conflict(f"other updates of {event_id!r} kept coming first; retry")

    async def end_event(self, event_id: str, result: str | None = None) -> EventInfo:
        """Mark the event ended with its ``result`` and tell its viewers.

        Raises UnknownEvent, EngineUnavailable. Ending an ended event changes nothing.
        """
        await self._flush_reactions(only=event_id)
        info, changed = await self.engine.end(event_id, self.clock.time_ms(), result)
        if changed:
            self.events_version += 1
        return info

    async def delete_event(self, event_id: str) -> bool:
        """Forget the event (its viewers get ``ended`` if it was not); whether it existed."""
        deleted = await self.engine.delete(event_id)
        if deleted:
            self.events_version += 1
        return deleted

    async def mute(self, event_id: str, viewer_id: str, seconds: float) -> int:
        """Mute a viewer's comments on the event for ``seconds`` (on every node); returns
        when the mute ends (ms). Raises UnknownEvent, TooManyMutes, EngineUnavailable."""
        now = self.clock.time_ms()
        mutes = await self.engine.mutes(event_id, now)
        if viewer_id not in mutes and len(mutes) >= MAX_MUTES:
            raise TooManyMutes(f"{MAX_MUTES} viewers are muted on {event_id!r} already")
        until = now + round(seconds * 1000)
        await self.engine.set_mute(event_id, viewer_id, until, now)
        return until

    async def unmute(self, event_id: str, viewer_id: str) -> bool:
        """Lift a mute; whether the viewer was muted. Raises UnknownEvent, EngineUnavailable."""
        now = self.clock.time_ms()
        if viewer_id not in await self.engine.mutes(event_id, now):
            return False
        await self.engine.set_mute(event_id, viewer_id, 0, now)
        return True

    async def mutes(self, event_id: str) -> dict[str, int]:
        """The event's mutes in force: viewer id to when each ends (ms)."""
        return await self.engine.mutes(event_id, self.clock.time_ms())

    async def _forget_old_ended(self) -> None:
        """Delete events that ended more than ``ended_retention`` ago."""
        oldest = self.clock.time_ms() - round(self.settings.ended_retention * 1000)
        for info in await self.engine.list_events():
            if info.status == "ended" and info.updated_at < oldest:
                await self.delete_event(info.event_id)


_CLIENT_TYPES: dict[type, str] = {
    protocol.Join: "join",
    protocol.Reaction: "reaction",
    protocol.Ping: "ping",
    protocol.Leave: "leave",
    protocol.Refresh: "refresh",
}
_SERVER_TYPES = (
    "joined",
    "score",
    "reactions",
    "viewers",
    "pong",
    "error",
    "ended",
    "refreshed",
)
_TYPE_START = len(b'{"type":"')


def _next_state(sport: Sport, state: Any, data: dict[str, Any]) -> tuple[Any, bytes | None]:
    """The sport's match state after ``data`` and its encoding; (None, None) for a sport
    without one. ``state`` is the decoded state so far (None before the first update).

    A state past :data:`MAX_STATE` refuses the update (nothing is stored).
    """
    folded = fold_state(sport, state, data)
    if folded is None:
        return None, None
    encoded = orjson.dumps(folded)
    if len(encoded) > MAX_STATE:
        raise InvalidUpdate(
            [FieldError("payload", f"the match state would exceed {MAX_STATE} bytes")]
        )
    return folded, encoded


class _ParsedCache:
    """Each event's latest payload and state, decoded, valid at one (epoch, seq).

    A publish checks the update against the previous payload and folds it into the
    state; decoding both from the engine's bytes every time costs more than the
    check. What this node accepted last is kept decoded; the engine's (epoch, seq)
    says whether it is still the latest (another node's update moves the seq, a
    recreated event the epoch). Entries are taken, not shared: a sport's check may
    not keep or change them behind the cache's back. Bounded by encoded bytes.
    """

    __slots__ = ("_budget", "_entries", "_size")

    def __init__(self, budget: int) -> None:
        self._budget = budget
        self._size = 0
        self._entries: OrderedDict[str, tuple[str, int, Any, Any, int]] = OrderedDict()

    def take(self, info: EventInfo) -> tuple[Any, Any]:
        """(payload, state) of ``info``'s latest update, decoded; from the cache when it
        holds that update, else from its bytes. The entry is used up either way."""
        entry = self._entries.pop(info.event_id, None)
        if entry is not None:
            self._size -= entry[4]
            if (entry[0], entry[1]) == (info.epoch, info.seq):
                return entry[2], entry[3]
        previous = orjson.loads(info.snapshot) if info.snapshot else None
        return previous, orjson.loads(info.state) if info.state else None

    def put(
        self,
        event_id: str,
        epoch: str,
        seq: int,
        payload: Any,
        state: Any,
        payload_json: bytes,
        state_json: bytes | None,
    ) -> None:
        size = len(payload_json) + len(state_json or b"")
        if size > self._budget:
            return
        old = self._entries.pop(event_id, None)
        if old is not None:
            self._size -= old[4]
        self._entries[event_id] = (epoch, seq, payload, state, size)
        self._size += size
        while self._size > self._budget:
            _, evicted = self._entries.popitem(last=False)
            self._size -= evicted[4]


def _message_type(payload: bytes) -> str:
    """The ``type`` of an encoded server message (always its first key)."""
    return payload[_TYPE_START : payload.index(b'"', _TYPE_START)].decode()


def _score_seq(payload: bytes) -> int | None:
    """The seq of an encoded ``score`` message, or None for any other message."""
    if not payload.startswith(b'{"type":"score"'):
        return None
    seq: int = orjson.loads(payload)["seq"]
    return seq
