"""The Redis engine (``redis://HOST:PORT/DB``, ``rediss://``): many nodes on one Redis.

Every node serves every event; Redis holds all shared state and carries
messages between nodes. ``docs/scaling.md`` has the picture; the short form:

Keys (``P`` is ``--engine-prefix``; every key of one event carries the hash tag
``{event_id}``, so a move to Redis Cluster keeps each event's script in one slot):

=========================  ======  =============================================
``P:{e}:ev``               hash    epoch, sport, title, status, seq, snapshot,
                                   state, meta, created_at, updated_at, peak
``P:{e}:hist``             stream  score messages, id ``seq-0``, ``MAXLEN ~`` history
``P:{e}:idem:<digest>``    string  ``seq:ts`` of a key's first append, ``PX`` its TTL
``P:{e}:viewers``          hash    node id → ``count:expires_ms``
``P:{e}:mutes``            hash    viewer id → when its mute ends (ms); ``mutes_v`` in
                                   ``P:{e}:ev`` counts its changes
``P:{e}:ch``               channel ``S<seq> <score>``, ``E<seq> <ended>``, ``P <partial>``
``P:events``               zset    every event id by creation time (the registry)
=========================  ======  =============================================

An append is one script, run by SHA, in one round trip: it checks the
idempotency key, that the event exists and is live, and the expected seq;
increments seq, stores snapshot and state, ``XADD``\\s the message, remembers the
key and ``PUBLISH``\\es, so the stream's order and the channel's are the same.

Pub/sub is at most once. Each node remembers the last seq it delivered per
subscribed event; a seq jump, a resubscription after a lost connection, or the
periodic position check (every ``POSITION_CHECK`` seconds) makes it read the
missing range from the stream before delivering anything newer of that event,
or, when the stream no longer holds it, call ``on_reset``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import urlsplit

import orjson
import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.connection import Connection
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import NoScriptError, RedisError
from redis.retry import Retry

from livegate import protocol
from livegate.engines.base import (
    AppendResult,
    EngineOptions,
    EngineUnavailable,
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
from livegate.tasks import cancel_and_wait

__all__ = ["RedisEngine", "parse_redis_url"]

log = logging.getLogger(__name__)

T = TypeVar("T")

COMMAND_TIMEOUT = 2.0
"""Seconds a command may take before Redis counts as unreachable (503s, /healthz 503)."""
HEALTH_INTERVAL = 1.0
"""Seconds between the pings that tell whether Redis is reachable."""
POSITION_CHECK = 5.0
"""Seconds between comparisons of each subscribed event's seq with the last delivered."""
MAX_QUEUED = 10_000
"""Messages held for one event while its gap is filled; past this the event is reset."""
FILL_BATCH = 1000
"""Stream entries read per XRANGE while filling a gap."""
POOL_SIZE = 64
"""Connections to Redis per node for commands (pub/sub has its own)."""


def parse_redis_url(url: str) -> None:
    """Raise ValueError unless ``url`` is a usable Redis URL."""
    parts = urlsplit(url)
    try:
        parts.port  # noqa: B018 - the property validates the port
    except ValueError:
        raise ValueError(f"the Redis engine URL {url!r} has a bad port") from None
    if not parts.hostname:
        raise ValueError(f"the Redis engine URL {url!r} names no host")
    db = parts.path.strip("/")
    if db and not db.isdigit():
        raise ValueError(f"the Redis engine URL {url!r} must end in a database number")


# -- scripts -------------------------------------------------------------------------

_APPEND = """
local ev, hist, idem = KEYS[1], KEYS[2], KEYS[3]
local now = tonumber(ARGV[6])
if ARGV[9] == '1' then
  local seen = redis.call('GET', idem)
  if seen then
    local sep = string.find(seen, ':', 1, true)
    if tonumber(string.sub(seen, sep + 1)) >= now - tonumber(ARGV[8]) then
      return {'dup', seen}
    end
  end
end
local fields = redis.call('HMGET', ev, 'status', 'seq')
if not fields[1] then return {'unknown'} end
if fields[1] == 'ended' then return {'ended'} end
local seq = tonumber(fields[2])
if ARGV[4] ~= '' and tonumber(ARGV[4]) ~= seq then return {'conflict', tostring(seq)} end
seq = seq + 1
local msg = ARGV[1] .. seq .. ARGV[2] .. ARGV[3] .. '}'
redis.call('HSET', ev, 'seq', seq, 'snapshot', ARGV[3], 'status', 'live', 'updated_at', ARGV[6])
if ARGV[5] == '1' then
  redis.call('HSET', ev, 'state', ARGV[10])
else
  redis.call('HDEL', ev, 'state')
end
redis.call('XADD', hist, 'MAXLEN', '~', ARGV[7], seq .. '-0', 'm', msg)
if ARGV[9] == '1' then
  redis.call('SET', idem, seq .. ':' .. ARGV[6], 'PX', ARGV[8])
end
redis.call('PUBLISH', ARGV[11], 'S' .. seq .. ' ' .. msg)
return {'ok', tostring(seq)}
"""

_PUT = """
local ev = KEYS[1]
local created = 0
if redis.call('EXISTS', ev) == 0 then
  redis.call('HSET', ev, 'epoch', ARGV[5], 'sport', ARGV[2], 'title', ARGV[3],
             'status', 'scheduled', 'seq', 0, 'meta', ARGV[4], 'created_at', ARGV[1],
             'updated_at', ARGV[1], 'peak', 0)
  created = 1
else
  if ARGV[2] ~= '' then redis.call('HSET', ev, 'sport', ARGV[2]) end
  if ARGV[6] == '1' then redis.call('HSET', ev, 'title', ARGV[3]) end
  if ARGV[4] ~= '{}' then redis.call('HSET', ev, 'meta', ARGV[4]) end
  redis.call('HSET', ev, 'updated_at', ARGV[1])
end
local all = redis.call('HGETALL', ev)
table.insert(all, 1, created)
return all
"""

_END = """
local ev = KEYS[1]
local status = redis.call('HGET', ev, 'status')
if not status then return {'unknown'} end
local changed = 0
if status ~= 'ended' then
  redis.call('HSET', ev, 'status', 'ended', 'updated_at', ARGV[1])
  if ARGV[4] ~= '' then redis.call('HSET', ev, 'result', ARGV[4]) end
  local seq = redis.call('HGET', ev, 'seq')
  redis.call('PUBLISH', ARGV[2], 'E' .. seq .. ' ' .. ARGV[3])
  changed = 1
end
local all = redis.call('HGETALL', ev)
table.insert(all, 1, changed)
return all
"""

_DELETE = """
local ev = KEYS[1]
local status = redis.call('HGET', ev, 'status')
if not status then return 0 end
if status ~= 'ended' then
  local seq = redis.call('HGET', ev, 'seq')
  redis.call('PUBLISH', ARGV[1], 'E' .. seq .. ' ' .. ARGV[2])
end
redis.call('DEL', unpack(KEYS))
return 1
"""

_MUTE = """
local ev, mk = KEYS[1], KEYS[2]
if redis.call('EXISTS', ev) == 0 then return {'unknown'} end
local now = tonumber(ARGV[2])
if tonumber(ARGV[3]) > now then
  redis.call('HSET', mk, ARGV[1], ARGV[3])
else
  redis.call('HDEL', mk, ARGV[1])
end
local all = redis.call('HGETALL', mk)
local out = {'ok'}
local latest = 0
for i = 1, #all, 2 do
  local ends = tonumber(all[i + 1])
  if ends <= now then
    redis.call('HDEL', mk, all[i])
  else
    table.insert(out, all[i])
    table.insert(out, all[i + 1])
    if ends > latest then latest = ends end
  end
end
if latest > 0 then redis.call('PEXPIRE', mk, latest - now) end
redis.call('HINCRBY', ev, 'mutes_v', 1)
return out
"""

_VIEWERS = """
local vk, ev = KEYS[1], KEYS[2]
local peak = tonumber(redis.call('HGET', ev, 'peak') or '-1')
if peak < 0 then return {0, 0} end
local ttl = tonumber(ARGV[3])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
if tonumber(ARGV[2]) > 0 then
  redis.call('HSET', vk, ARGV[1], ARGV[2] .. ':' .. (now + ttl))
else
  redis.call('HDEL', vk, ARGV[1])
end
local all = redis.call('HGETALL', vk)
local live = 0
for i = 1, #all, 2 do
  local value = all[i + 1]
  local sep = string.find(value, ':', 1, true)
  if tonumber(string.sub(value, sep + 1)) < now then
    redis.call('HDEL', vk, all[i])
  else
    live = live + tonumber(string.sub(value, 1, sep - 1))
  end
end
redis.call('PEXPIRE', vk, ttl * 2)
-- The sum, for reads of the event; it counts until a node reports again or it expires.
redis.call('HSET', ev, 'viewers', live, 'viewers_until', now + ttl)
if live > peak then
  redis.call('HSET', ev, 'peak', live)
  peak = live
end
return {live, peak}
"""


# -- helpers -------------------------------------------------------------------------


def _pairs(flat: list[bytes]) -> dict[bytes, bytes]:
    """A script's HGETALL reply (field, value, field, value...) as a dict."""
    return dict(zip(flat[::2], flat[1::2], strict=True))


def _info(event_id: str, fields: dict[bytes, bytes]) -> EventInfo:
    """An EventInfo from the event's hash.

    The live count is the last sum a node reported, until it expires (compared
    with this node's clock: nodes' clocks must agree within a second or so).
    """
    viewers = 0
    if int(fields.get(b"viewers_until", b"0")) >= time.time_ns() // 1_000_000:
        viewers = int(fields[b"viewers"])
    return EventInfo(
        event_id=event_id,
        epoch=fields[b"epoch"].decode(),
        sport=fields[b"sport"].decode(),
        title=fields[b"title"].decode(),
        status=fields[b"status"].decode(),
        seq=int(fields[b"seq"]),
        snapshot=fields.get(b"snapshot"),
        state=fields.get(b"state"),
        meta=orjson.loads(fields[b"meta"]),
        created_at=int(fields[b"created_at"]),
        updated_at=int(fields[b"updated_at"]),
        viewers=viewers,
        peak_viewers=int(fields.get(b"peak", b"0")),
        result=result.decode() if (result := fields.get(b"result")) else None,
    )


def _stream_seq(entry_id: bytes) -> int:
    return int(entry_id.split(b"-", 1)[0])


@dataclass(slots=True)
class _Subscription:
    """What this node delivered of one event, and what waits for a gap to be filled."""

    last: int = -1
    """Seq of the last score delivered (-1 until the subscription is confirmed)."""
    ended: bool = False
    filling: bool = True
    queue: list[tuple[str, int, bytes]] = field(default_factory=list)
    """(kind, seq, message) that arrived while filling, in arrival order."""
    confirmed: asyncio.Future[None] | None = None
    mutes_version: bytes | None = None
    """The event's ``mutes_v`` when last read: a change means a ``mutes`` message may
    have been lost, so the set is read and delivered again."""


class _PubSub(PubSub):
    """redis-py's PubSub, telling the engine each time it (re)connects.

    redis-py reconnects and resubscribes on its own inside a read; messages
    published meanwhile are lost, so every reconnect must trigger a resync.
    """

    on_reconnect: Callable[[], None] = staticmethod(lambda: None)

    async def on_connect(self, connection: Connection) -> None:
        await super().on_connect(connection)
        self.on_reconnect()


def _waited_for_pool(exc: BaseException) -> bool:
    """Whether ``exc`` is a wait for a free pooled connection that timed out.

    That is this node being busy (every connection in use), not Redis being gone:
    the call fails, but /healthz must not send the node's viewers elsewhere for it.
    """
    return (
        isinstance(exc, RedisConnectionError)
        and isinstance(exc.__cause__, TimeoutError)
        and "No connection available" in str(exc)
    )


# -- the engine ------------------------------------------------------------------------


class RedisEngine:
    """Implements :class:`livegate.engines.base.Engine` on Redis, shared by many nodes."""

    shared = True

    def __init__(self, url: str, options: EngineOptions) -> None:
        parse_redis_url(url)
        self.url = url
        self.options = options
        self._prefix = options.prefix
        self._pool = aioredis.BlockingConnectionPool.from_url(
            url,
            protocol=2,  # RESP2: pub/sub messages arrive as plain replies
            socket_timeout=COMMAND_TIMEOUT,
            socket_connect_timeout=COMMAND_TIMEOUT,
            retry=Retry(ExponentialBackoff(cap=0.2, base=0.01), 1),
            max_connections=POOL_SIZE,
            timeout=COMMAND_TIMEOUT,  # waiting for a free pooled connection
        )
        # Any: redis-py types replies as bytes | str; ours are bytes (no decoding).
        self._client: Any = aioredis.Redis(connection_pool=self._pool)
        self._scripts: dict[str, tuple[str, str]] = {}
        self._pubsub: _PubSub | None = None
        self._subs: dict[str, _Subscription] = {}
        self._on_message: MessageHandler = lambda _e, _m: None
        self._on_reset: Callable[[str], None] = lambda _e: None
        self._tasks: list[asyncio.Task[None]] = []
        self._fills: set[asyncio.Task[None]] = set()
        self._available = False
        self._resync_wanted = False
        self.commands = 0
        """Redis commands and scripts sent (a script counts one): ``bench/`` reads it."""

    @property
    def available(self) -> bool:
        return self._available

    # -- keys ---------------------------------------------------------------------------

    def _key(self, event_id: str, kind: str) -> str:
        return f"{self._prefix}:{{{event_id}}}:{kind}"

    def _channel(self, event_id: str) -> str:
        return f"{self._prefix}:{{{event_id}}}:ch"

    @property
    def _registry(self) -> str:
        return f"{self._prefix}:events"

    def _event_of_channel(self, channel: bytes) -> str:
        # P:{event}:ch
        text = channel.decode()
        return text[len(self._prefix) + 2 : -4]

    # -- calls ----------------------------------------------------------------------------

    async def _call(self, op: Awaitable[T], commands: int = 1) -> T:
        """Await a Redis operation; a connection failure becomes EngineUnavailable."""
        self.commands += commands
        try:
            result = await op
        except (RedisError, OSError, TimeoutError) as exc:
            if isinstance(exc, NoScriptError):
                raise
            if not _waited_for_pool(exc):
                self._available = False
            raise EngineUnavailable(f"Redis: {exc}") from None
        return result

    async def _script(self, name: str, keys: list[str], args: list[Any]) -> Any:
        """Run a script by SHA, loading it once if Redis does not know it."""
        source, sha = self._scripts[name]
        try:
            return await self._call(self._client.evalsha(sha, len(keys), *keys, *args))
        except NoScriptError:  # Redis restarted without the script cache
            return await self._call(self._client.eval(source, len(keys), *keys, *args))

    # -- lifecycle --------------------------------------------------------------------------

    async def start(self, on_message: MessageHandler, on_reset: ResetHandler) -> None:
        self._on_message, self._on_reset = on_message, on_reset
        try:
            await self._client.ping()
            for name, source in (
                ("append", _APPEND),
                ("put", _PUT),
                ("end", _END),
                ("delete", _DELETE),
                ("viewers", _VIEWERS),
                ("mute", _MUTE),
            ):
                sha = await self._client.script_load(source)
                self._scripts[name] = (source, sha)
        except (RedisError, OSError) as exc:
            await self._pool.disconnect()
            raise EngineUnavailable(f"cannot reach Redis at {_safe(self.url)}: {exc}") from None
        self._available = True
        pubsub = _PubSub(self._client.connection_pool, ignore_subscribe_messages=False)
        pubsub.on_reconnect = self._reconnected
        self._pubsub = pubsub
        self._tasks = [
            asyncio.create_task(self._read_forever(), name="redis-pubsub"),
            asyncio.create_task(self._health_forever(), name="redis-health"),
            asyncio.create_task(self._check_positions_forever(), name="redis-positions"),
        ]

    async def close(self) -> None:
        await cancel_and_wait([*self._tasks, *self._fills])
        if self._pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.aclose()  # type: ignore[no-untyped-call]
        with contextlib.suppress(RedisError, OSError):
            await self._client.aclose()
            await self._pool.disconnect()

    async def _health_forever(self) -> None:
        while True:
            await asyncio.sleep(HEALTH_INTERVAL)
            try:
                await self._client.ping()
            except (RedisError, OSError) as exc:
                if _waited_for_pool(exc):
                    continue  # busy, not gone: the commands in use tell soon enough
                if self._available:
                    log.warning("Redis at %s is unreachable", _safe(self.url))
                self._available = False
                continue
            if not self._available:
                log.warning("Redis at %s is reachable again", _safe(self.url))
                self._available = True

    # -- registry and events -------------------------------------------------------------

    async def put_event(
        self, event_id: str, sport: str | None, title: str | None, meta: dict[str, Any], now: int
    ) -> tuple[EventInfo, bool]:
        ev = self._key(event_id, "ev")
        if not await self._call(self._client.exists(ev)):
            count = await self._call(self._client.zcard(self._registry))
            if count >= self.options.max_events:
                raise EventsFull(f"the engine holds {self.options.max_events} events already")
            # Registered first: an event never exists outside the list.
            await self._call(self._client.zadd(self._registry, {event_id: now}, nx=True))
        reply = await self._script(
            "put",
            [ev],
            [
                now,
                sport or "",
                title or event_id,
                orjson.dumps(meta),
                secrets.token_hex(8),
                "1" if title else "0",
            ],
        )
        if not sport and int(reply[0]) == 1:
            # Created without a sport (the API checks for one first): make it generic.
            await self._call(self._client.hset(ev, "sport", "generic"))
            reply[reply.index(b"sport") + 1] = b"generic"
        return _info(event_id, _pairs(reply[1:])), bool(int(reply[0]))

    async def get_event(self, event_id: str) -> EventInfo | None:
        fields = await self._call(self._client.hgetall(self._key(event_id, "ev")))
        return _info(event_id, fields) if fields else None

    async def list_events(self) -> list[EventInfo]:
        ids = [e.decode() for e in await self._call(self._client.zrange(self._registry, 0, -1))]
        if not ids:
            return []
        pipe = self._client.pipeline(transaction=False)
        for event_id in ids:
            pipe.hgetall(self._key(event_id, "ev"))
        replies = await self._call(pipe.execute(), len(ids))
        return [_info(e, fields) for e, fields in zip(ids, replies, strict=True) if fields]

    # -- updates ---------------------------------------------------------------------------

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
        digest = key_digest(idempotency_key).hex() if idempotency_key is not None else ""
        head, middle = _score_parts(event_id, now)
        reply = await self._script(
            "append",
            [
                self._key(event_id, "ev"),
                self._key(event_id, "hist"),
                self._idem_key(event_id, digest),
            ],
            [
                head,
                middle,
                data_json,
                "" if expected_seq is None else expected_seq,
                "1" if state is not None else "0",
                now,
                self.options.history_size,
                self.options.idempotency_ttl_ms,
                "1" if digest else "0",
                state or b"",
                self._channel(event_id),
            ],
        )
        outcome = reply[0]
        if outcome == b"ok":
            seq = int(reply[1])
            return AppendResult(
                seq=seq, ts=now, message=head + reply[1] + middle + data_json + b"}"
            )
        if outcome == b"dup":
            return _duplicate(reply[1])
        if outcome == b"unknown":
            raise UnknownEvent(event_id)
        if outcome == b"ended":
            raise EventEnded(event_id)
        raise SeqConflict(event_id)

    def _idem_key(self, event_id: str, digest_hex: str) -> str:
        return self._key(event_id, f"idem:{digest_hex}")

    async def find_idempotent(
        self, event_id: str, idempotency_key: str, now: int
    ) -> AppendResult | None:
        key = self._idem_key(event_id, key_digest(idempotency_key).hex())
        seen = await self._call(self._client.get(key))
        if seen is None:
            return None
        result = _duplicate(seen)
        if result.ts < now - self.options.idempotency_ttl_ms:
            return None
        return result

    async def since(self, event_id: str, since: int | None, max_messages: int) -> Resume:
        ev = self._key(event_id, "ev")
        if since is None or max_messages <= 0:
            fields = await self._call(self._client.hgetall(ev))
            entries: list[tuple[bytes, dict[bytes, bytes]]] = []
        else:
            # One round trip, and atomic: the stream read matches the seq read.
            pipe = self._client.pipeline(transaction=True)
            pipe.hgetall(ev)
            pipe.xrange(self._key(event_id, "hist"), f"{since + 1}-0", "+", count=max_messages + 1)
            fields, entries = await self._call(pipe.execute(), 2)
        if not fields:
            raise UnknownEvent(event_id)
        info = _info(event_id, fields)
        if since is None:
            return Resume(info, recovered=False, missed=[])
        if since >= info.seq:
            return Resume(info, recovered=since == info.seq, missed=[])
        missed = [entry[b"m"] for entry_id, entry in entries if _stream_seq(entry_id) <= info.seq]
        first = _stream_seq(entries[0][0]) if entries else None
        if first != since + 1 or len(missed) != info.seq - since or len(missed) > max_messages:
            return Resume(info, recovered=False, missed=[])
        return Resume(info, recovered=True, missed=missed)

    async def end(
        self, event_id: str, now: int, result: str | None = None
    ) -> tuple[EventInfo, bool]:
        reply = await self._script(
            "end",
            [self._key(event_id, "ev")],
            [now, self._channel(event_id), protocol.encode_ended(event_id, result), result or ""],
        )
        if reply[0] == b"unknown":
            raise UnknownEvent(event_id)
        return _info(event_id, _pairs(reply[1:])), bool(int(reply[0]))

    async def delete(self, event_id: str) -> bool:
        existed = await self._script(
            "delete",
            [self._key(event_id, k) for k in ("ev", "hist", "viewers", "mutes")],
            [self._channel(event_id), protocol.encode_ended(event_id)],
        )
        # Idempotency keys are left to expire (their names cannot be listed cheaply).
        await self._call(self._client.zrem(self._registry, event_id))
        return bool(existed)

    async def set_mute(self, event_id: str, viewer_id: str, until: int, now: int) -> dict[str, int]:
        reply = await self._script(
            "mute",
            [self._key(event_id, "ev"), self._key(event_id, "mutes")],
            [viewer_id, now, until],
        )
        if reply[0] == b"unknown":
            raise UnknownEvent(event_id)
        mutes = _mutes(_pairs(reply[1:]), now)
        # Sent apart from the script (whose PUBLISH would need the set encoded in Lua);
        # a node that misses it reads the set again at its position check (mutes_v).
        # The mute is stored by now, so a failed send must not report it as not done.
        try:
            await self.publish(event_id, protocol.encode_mutes(event_id, mutes))
        except EngineUnavailable:
            log.warning("the mutes of %r reach the other nodes at their next check", event_id)
        return mutes

    async def mutes(self, event_id: str, now: int) -> dict[str, int]:
        pipe = self._client.pipeline(transaction=True)
        pipe.exists(self._key(event_id, "ev"))
        pipe.hgetall(self._key(event_id, "mutes"))
        exists, fields = await self._call(pipe.execute(), 2)
        if not exists:
            raise UnknownEvent(event_id)
        return _mutes(fields, now)

    async def publish(self, event_id: str, message: bytes) -> None:
        await self._call(self._client.publish(self._channel(event_id), b"P " + message))

    async def report_viewers(self, counts: Mapping[str, int]) -> dict[str, tuple[int, int]]:
        if not counts:
            return {}
        ids = list(counts)
        for attempt in range(2):
            pipe = self._client.pipeline(transaction=False)
            for event_id in ids:
                pipe.evalsha(
                    self._scripts["viewers"][1],
                    2,
                    self._key(event_id, "viewers"),
                    self._key(event_id, "ev"),
                    self.options.node_id,
                    counts[event_id],
                    self.options.viewers_ttl_ms,
                )
            try:
                replies = await self._call(pipe.execute(), len(ids))
                break
            except NoScriptError:  # Redis restarted without the script cache
                if attempt:
                    raise EngineUnavailable("Redis lost the viewers script") from None
                await self._call(self._client.script_load(_VIEWERS))
        return {e: (int(r[0]), int(r[1])) for e, r in zip(ids, replies, strict=True)}

    # -- subscriptions and delivery ------------------------------------------------------------

    async def subscribe(self, event_id: str) -> None:
        """Subscribe, wait for Redis to confirm, then note the event's seq.

        Messages that arrive before the seq is read are queued and filtered by
        it, so delivery starts exactly after the seq the event had.
        """
        assert self._pubsub is not None
        sub = self._subs[event_id] = _Subscription()
        sub.confirmed = asyncio.get_running_loop().create_future()
        try:
            await self._call(self._pubsub.subscribe(self._channel(event_id)))
            async with asyncio.timeout(COMMAND_TIMEOUT):
                await sub.confirmed
            fields = await self._call(
                self._client.hmget(self._key(event_id, "ev"), "seq", "status", "mutes_v")
            )
        except (EngineUnavailable, TimeoutError):
            self._subs.pop(event_id, None)
            with contextlib.suppress(RedisError, OSError):
                await self._pubsub.unsubscribe(self._channel(event_id))
            raise EngineUnavailable("Redis did not confirm the subscription") from None
        sub.last = int(fields[0] or 0)
        sub.ended = fields[1] == b"ended"
        sub.mutes_version = fields[2]
        self._drain_queue(event_id, sub)

    async def unsubscribe(self, event_id: str) -> None:
        self._subs.pop(event_id, None)
        if self._pubsub is not None:
            await self._call(self._pubsub.unsubscribe(self._channel(event_id)))

    async def _read_forever(self) -> None:
        pubsub = self._pubsub
        assert pubsub is not None
        backoff = 0.05
        while True:
            if not pubsub.subscribed:
                await asyncio.sleep(0.05)
                continue
            try:
                message = await pubsub.get_message(timeout=1.0)
            except Exception as exc:  # the reader must outlive any failure: back off, retry
                self._available = False
                log.warning("Redis pub/sub connection lost (%s); reconnecting", exc)
                await asyncio.sleep(backoff)
                backoff = min(backoff * 2, 2.0)
                if pubsub.connection is not None:
                    with contextlib.suppress(RedisError, OSError):
                        await pubsub.connection.disconnect()
                continue
            backoff = 0.05
            if self._resync_wanted:
                self._resync_wanted = False
                self._resync_all()
            if message is not None:
                try:
                    self._dispatch(message)
                except Exception:  # one odd message (a stranger on our channel) must not stop us
                    log.exception("could not handle a message on %r", message.get("channel"))

    def _reconnected(self) -> None:
        # redis-py has resubscribed every channel, in one SUBSCRIBE, before this runs.
        self._resync_wanted = True

    def _dispatch(self, message: dict[str, Any]) -> None:
        kind = message["type"]
        if kind == "subscribe":
            event_id = self._event_of_channel(message["channel"])
            sub = self._subs.get(event_id)
            if sub is not None and sub.confirmed is not None and not sub.confirmed.done():
                sub.confirmed.set_result(None)
            return
        if kind != "message":
            return
        event_id = self._event_of_channel(message["channel"])
        sub = self._subs.get(event_id)
        if sub is None:
            return
        data: bytes = message["data"]
        tag = data[:1]
        space = data.index(b" ")
        body = data[space + 1 :]
        if tag == b"P":
            self._on_message(event_id, body)
            return
        item = ("score" if tag == b"S" else "ended", int(data[1:space]), body)
        if sub.filling:
            sub.queue.append(item)
            if len(sub.queue) > MAX_QUEUED:
                self._reset(event_id, sub)
            return
        self._handle(event_id, sub, item)

    def _handle(self, event_id: str, sub: _Subscription, item: tuple[str, int, bytes]) -> None:
        """Deliver one ordered message, or start filling the gap before it."""
        kind, seq, body = item
        if kind == "ended":
            if seq > sub.last:
                self._start_fill(event_id, sub, [item])
            elif not sub.ended:
                sub.ended = True
                self._on_message(event_id, body)
            return
        if seq <= sub.last:
            return  # delivered already (from the stream, during a fill)
        if seq == sub.last + 1:
            sub.last = seq
            self._on_message(event_id, body)
            return
        self._start_fill(event_id, sub, [item])

    def _drain_queue(self, event_id: str, sub: _Subscription) -> None:
        sub.filling = False
        while sub.queue and not sub.filling:
            item = sub.queue.pop(0)
            self._handle(event_id, sub, item)

    def _start_fill(
        self, event_id: str, sub: _Subscription, queued: list[tuple[str, int, bytes]]
    ) -> None:
        sub.filling = True
        sub.queue[:0] = queued
        task = asyncio.create_task(self._fill(event_id, sub), name=f"redis-fill-{event_id}")
        self._fills.add(task)
        task.add_done_callback(self._fills.discard)

    async def _fill(self, event_id: str, sub: _Subscription) -> None:
        """Read the messages after ``sub.last`` from the stream and deliver them."""
        try:
            entries = await self._call(
                self._client.xrange(
                    self._key(event_id, "hist"), f"{sub.last + 1}-0", "+", count=FILL_BATCH
                )
            )
        except EngineUnavailable:
            # Retried by the resync after the reconnect or the next position check.
            sub.filling = False
            sub.queue.clear()
            return
        if self._subs.get(event_id) is not sub:
            return  # unsubscribed meanwhile
        if not entries:
            # Nothing after the last delivered: fine unless a queued score needs more.
            if any(kind == "score" and seq > sub.last for kind, seq, _ in sub.queue):
                self._reset(event_id, sub)
            else:
                self._drain_queue(event_id, sub)
            return
        if _stream_seq(entries[0][0]) != sub.last + 1:
            self._reset(event_id, sub)
            return
        for entry_id, entry in entries:
            seq = _stream_seq(entry_id)
            if seq == sub.last + 1:
                sub.last = seq
                self._on_message(event_id, entry[b"m"])
        if len(entries) == FILL_BATCH:
            self._start_fill(event_id, sub, [])
            return
        self._drain_queue(event_id, sub)

    def _reset(self, event_id: str, sub: _Subscription) -> None:
        """The gap cannot be filled: carry on after the newest seq; the node resends state."""
        newest = max((seq for kind, seq, _ in sub.queue if kind == "score"), default=sub.last)
        ended = [body for kind, _, body in sub.queue if kind == "ended"]
        sub.queue.clear()
        sub.last = max(sub.last, newest)
        sub.filling = False
        self._on_reset(event_id)
        if ended and not sub.ended:
            sub.ended = True
            self._on_message(event_id, ended[0])

    def _resync_all(self) -> None:
        """After a reconnect: anything published meanwhile was lost; read it back."""
        task = asyncio.create_task(self._check_positions(), name="redis-resync")
        self._fills.add(task)
        task.add_done_callback(self._fills.discard)

    async def _check_positions_forever(self) -> None:
        while True:
            await asyncio.sleep(POSITION_CHECK)
            with contextlib.suppress(EngineUnavailable):
                await self._check_positions()

    async def _check_positions(self) -> None:
        """Fill the gap of every subscribed event whose seq moved past the last delivered."""
        subs = [(e, s) for e, s in self._subs.items() if not s.filling and s.last >= 0]
        if not subs:
            return
        pipe = self._client.pipeline(transaction=False)
        for event_id, _sub in subs:
            pipe.hmget(self._key(event_id, "ev"), "seq", "status", "result", "mutes_v")
        replies = await self._call(pipe.execute(), len(subs))
        stale_mutes = []
        for (event_id, sub), (seq, status, result, mutes_version) in zip(
            subs, replies, strict=True
        ):
            if self._subs.get(event_id) is not sub or sub.filling or seq is None:
                continue
            if mutes_version != sub.mutes_version:
                stale_mutes.append((event_id, sub, mutes_version))
            queued = []
            if status == b"ended" and not sub.ended:
                ended = protocol.encode_ended(event_id, result.decode() if result else None)
                queued.append(("ended", int(seq), ended))
            if int(seq) > sub.last or queued:
                self._start_fill(event_id, sub, queued)
        now = time.time_ns() // 1_000_000
        for event_id, sub, mutes_version in stale_mutes:
            try:
                mutes = await self.mutes(event_id, now)
            except (UnknownEvent, EngineUnavailable):
                continue  # the version stays stale: read again at the next check
            if self._subs.get(event_id) is sub:
                sub.mutes_version = mutes_version
                self._on_message(event_id, protocol.encode_mutes(event_id, mutes))


def _score_parts(event_id: str, now: int) -> tuple[bytes, bytes]:
    """The bytes of a ``score`` message before its seq and between seq and data.

    ``head + seq + middle + data + b"}"`` is ``protocol.encode_score``'s output.
    """
    marker = 987654321987654321
    encoded = protocol.encode_score(event_id, marker, now, b"")
    head, _, rest = encoded.partition(str(marker).encode())
    return head, rest[:-1]


def _mutes(fields: dict[bytes, bytes], now: int) -> dict[str, int]:
    mutes = {viewer.decode(): int(until) for viewer, until in fields.items()}
    return {viewer: until for viewer, until in mutes.items() if until > now}


def _duplicate(seen: bytes) -> AppendResult:
    seq, _, ts = seen.partition(b":")
    return AppendResult(seq=int(seq), ts=int(ts), message=None, duplicate=True)


def _safe(url: str) -> str:
    """The URL without its password, for logs."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    return url.replace(f":{parts.password}@", ":***@", 1)
