"""The SQLite engine (``sqlite://PATH``): one node, durable across restarts.

The working set is the memory engine's; every change is written to SQLite
(WAL mode, the standard library's ``sqlite3``) on one writer thread and
applied in memory, and published, only after its transaction committed.
Writes that arrive while a commit is in flight wait and share the next one
(group commit), so a busy node commits a batch per disk flush rather than an
update per flush. At start the events, their seq, epoch, snapshot, state, the
last ``history_size`` messages and the live idempotency keys are read back, so
a restart, even after SIGKILL, loses no acknowledged update and viewers resume
with ``recovered: true``.

The file is opened with an exclusive lock: a second node on the same file
fails at start instead of forking the event's seq.

``?synchronous=`` picks SQLite's setting (``full``, the default, or ``normal``,
``extra``); ``docs/scaling.md`` says what each keeps through a power loss.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import time
from collections import OrderedDict, deque
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any
from urllib.parse import parse_qs

import orjson

from livegate.engines.base import (
    EngineOptions,
    EngineUnavailable,
    EventInfo,
    MessageHandler,
    ResetHandler,
)
from livegate.engines.memory import MemoryEngine, _Event
from livegate.keyed_lock import KeyedLock

__all__ = ["SqliteEngine", "parse_sqlite_url"]

log = logging.getLogger(__name__)

SYNCHRONOUS = ("normal", "full", "extra")
"""SQLite's `synchronous` settings accepted; `off` may corrupt the file on a power loss."""
PRUNE_INTERVAL = 60.0
"""Seconds between deletions of expired idempotency keys from the file."""

_SCHEMA = """
CREATE TABLE IF NOT EXISTS events (
    event_id TEXT PRIMARY KEY,
    epoch TEXT NOT NULL,
    sport TEXT NOT NULL,
    title TEXT NOT NULL,
    status TEXT NOT NULL,
    seq INTEGER NOT NULL,
    snapshot BLOB,
    state BLOB,
    meta BLOB NOT NULL,
    created_at INTEGER NOT NULL,
    updated_at INTEGER NOT NULL,
    peak_viewers INTEGER NOT NULL DEFAULT 0,
    result TEXT
);
CREATE TABLE IF NOT EXISTS history (
    event_id TEXT NOT NULL,
    seq INTEGER NOT NULL,
    message BLOB NOT NULL,
    PRIMARY KEY (event_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS mutes (
    event_id TEXT NOT NULL,
    viewer_id TEXT NOT NULL,
    until_ms INTEGER NOT NULL,
    PRIMARY KEY (event_id, viewer_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS idempotency (
    event_id TEXT NOT NULL,
    digest BLOB NOT NULL,
    seq INTEGER NOT NULL,
    ts INTEGER NOT NULL,
    PRIMARY KEY (event_id, digest)
) WITHOUT ROWID;
"""

_UPSERT_EVENT = """
INSERT INTO events (event_id, epoch, sport, title, status, seq, snapshot, state, meta,
                    created_at, updated_at, peak_viewers, result)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (event_id) DO UPDATE SET
    sport = excluded.sport, title = excluded.title, status = excluded.status,
    seq = excluded.seq, snapshot = excluded.snapshot, state = excluded.state,
    meta = excluded.meta, updated_at = excluded.updated_at,
    peak_viewers = max(peak_viewers, excluded.peak_viewers), result = excluded.result
"""

_Op = tuple[str, Sequence[Any]]
_Loaded = tuple[EventInfo, list[bytes], list[tuple[bytes, tuple[int, int]]], dict[str, int]]
"""An event read back at start: info, history, idempotency keys by age, mutes."""


def parse_sqlite_url(url: str) -> tuple[str, str]:
    """(file path, synchronous setting) of ``sqlite://PATH[?synchronous=...]``.

    ``sqlite:///var/lib/livegate.db`` is an absolute path, ``sqlite://livegate.db``
    a path relative to the working directory. Raises ValueError.
    """
    rest = url.removeprefix("sqlite://")
    path, _, query = rest.partition("?")
    if not path:
        raise ValueError(f"the SQLite engine URL {url!r} names no file (sqlite://PATH)")
    options = parse_qs(query, keep_blank_values=True)
    unknown = set(options) - {"synchronous"}
    if unknown:
        raise ValueError(f"unknown SQLite engine option {sorted(unknown)[0]!r} in {url!r}")
    synchronous = options.get("synchronous", ["full"])[-1].lower()
    if synchronous not in SYNCHRONOUS:
        raise ValueError(f"synchronous must be one of {', '.join(SYNCHRONOUS)}")
    return path, synchronous


def _event_row(info: EventInfo) -> tuple[Any, ...]:
    return (
        info.event_id,
        info.epoch,
        info.sport,
        info.title,
        info.status,
        info.seq,
        info.snapshot,
        info.state,
        orjson.dumps(info.meta),
        info.created_at,
        info.updated_at,
        info.peak_viewers,
        info.result,
    )


class SqliteEngine(MemoryEngine):
    """Implements :class:`livegate.engines.base.Engine` on one SQLite file."""

    def __init__(self, url: str, options: EngineOptions) -> None:
        super().__init__(options)
        self.path, self.synchronous = parse_sqlite_url(url)
        self._executor = ThreadPoolExecutor(1, thread_name_prefix="livegate-sqlite")
        self._db: sqlite3.Connection | None = None
        self._batch: list[_Op] = []
        self._waiters: list[asyncio.Future[None]] = []
        self._flusher: asyncio.Task[None] | None = None
        self._pruner: asyncio.Task[None] | None = None
        self._serial = KeyedLock()
        """One change of an event at a time: the hooks suspend."""
        self._available = True

    @property
    def available(self) -> bool:
        return self._available

    # -- start: open the file and read the events back ---------------------------

    async def start(self, on_message: MessageHandler, on_reset: ResetHandler) -> None:
        loop = asyncio.get_running_loop()
        try:
            rows = await loop.run_in_executor(self._executor, self._open_and_load)
        except (sqlite3.Error, OSError) as exc:
            hint = " (another livegate node has it open)" if "locked" in str(exc) else ""
            raise EngineUnavailable(f"cannot open SQLite file {self.path!r}: {exc}{hint}") from None
        for info, history, keys, mutes in rows:
            event = _Event(info, deque(history, maxlen=self.options.history_size))
            event.idempotency = OrderedDict(keys)
            event.mutes = mutes
            self._events[info.event_id] = event
        await super().start(on_message, on_reset)
        self._pruner = asyncio.create_task(self._prune_forever(), name="sqlite-prune")

    def _open_and_load(self) -> list[_Loaded]:
        db = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
        try:
            db.execute("PRAGMA locking_mode = EXCLUSIVE")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute(f"PRAGMA synchronous = {self.synchronous.upper()}")
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(events)")}
            if "result" not in columns:  # a file from before results were kept
                db.execute("ALTER TABLE events ADD COLUMN result TEXT")
            db.execute("BEGIN IMMEDIATE")  # takes the exclusive lock now, not at the first write
            db.execute("COMMIT")
            loaded = self._load(db)
        except BaseException:
            db.close()
            raise
        self._db = db
        return loaded

    def _load(self, db: sqlite3.Connection) -> list[_Loaded]:
        options = self.options
        loaded = []
        for row in db.execute(
            "SELECT event_id, epoch, sport, title, status, seq, snapshot, state, meta,"
            " created_at, updated_at, peak_viewers, result FROM events"
            " ORDER BY created_at, rowid"
        ):
            info = EventInfo(
                event_id=row[0],
                epoch=row[1],
                sport=row[2],
                title=row[3],
                status=row[4],
                seq=row[5],
                snapshot=row[6],
                state=row[7],
                meta=orjson.loads(row[8]),
                created_at=row[9],
                updated_at=row[10],
                peak_viewers=row[11],
                result=row[12],
            )
            history = [
                bytes(message)
                for (message,) in db.execute(
                    "SELECT message FROM history WHERE event_id = ? AND seq > ? ORDER BY seq",
                    (info.event_id, info.seq - options.history_size),
                )
            ]
            # Expired keys are skipped when looked up (and pruned from the file).
            keys = db.execute(
                "SELECT digest, seq, ts FROM idempotency WHERE event_id = ?"
                " ORDER BY ts DESC LIMIT ?",
                (info.event_id, options.idempotency_keys),
            ).fetchall()
            mutes = dict(
                db.execute(
                    "SELECT viewer_id, until_ms FROM mutes WHERE event_id = ?", (info.event_id,)
                ).fetchall()
            )
            keys_by_age = [(bytes(d), (seq, ts)) for d, seq, ts in reversed(keys)]
            loaded.append((info, history, keys_by_age, mutes))
        return loaded

    # -- writes: one transaction per batch, on the writer thread -------------------

    def _commit(self, batch: list[_Op]) -> None:
        db = self._db
        assert db is not None
        db.execute("BEGIN IMMEDIATE")
        try:
            for sql, params in batch:
                db.execute(sql, params)
            db.execute("COMMIT")
        except BaseException:
            with contextlib.suppress(sqlite3.Error):
                db.execute("ROLLBACK")
            raise

    def _write(self, ops: list[_Op], *, wait: bool) -> asyncio.Future[None] | None:
        """Queue ``ops`` for the next commit; the future resolves once it committed."""
        self._batch.extend(ops)
        waiter = None
        if wait:
            waiter = asyncio.get_running_loop().create_future()
            self._waiters.append(waiter)
        if self._flusher is None:
            self._flusher = asyncio.create_task(self._flush(), name="sqlite-commit")
        return waiter

    async def _flush(self) -> None:
        loop = asyncio.get_running_loop()
        try:
            while self._batch:
                batch, waiters = self._batch, self._waiters
                self._batch, self._waiters = [], []
                try:
                    await loop.run_in_executor(self._executor, self._commit, batch)
                except (sqlite3.Error, OSError) as exc:
                    self._available = False
                    log.error("SQLite commit of %d writes failed: %s", len(batch), exc)
                    for waiter in waiters:
                        if not waiter.done():
                            waiter.set_exception(EngineUnavailable(f"SQLite: {exc}"))
                    continue
                self._available = True
                for waiter in waiters:
                    if not waiter.done():
                        waiter.set_result(None)
        finally:
            self._flusher = None

    async def _durable(self, ops: list[_Op]) -> None:
        waiter = self._write(ops, wait=True)
        assert waiter is not None
        await waiter

    async def _store_info(self, info: EventInfo) -> None:
        await self._durable([(_UPSERT_EVENT, _event_row(info))])

    async def _store_append(
        self, info: EventInfo, message: bytes, digest: bytes | None, history_floor: int
    ) -> None:
        ops: list[_Op] = [
            (_UPSERT_EVENT, _event_row(info)),
            ("INSERT OR REPLACE INTO history VALUES (?, ?, ?)", (info.event_id, info.seq, message)),
        ]
        if history_floor > 0:
            ops.append(
                (
                    "DELETE FROM history WHERE event_id = ? AND seq <= ?",
                    (info.event_id, history_floor),
                )
            )
        if digest is not None:
            ops.append(
                (
                    "INSERT OR REPLACE INTO idempotency VALUES (?, ?, ?, ?)",
                    (info.event_id, digest, info.seq, info.updated_at),
                )
            )
        await self._durable(ops)

    def _store_peak(self, event_id: str, peak: int) -> None:
        self._write(
            [
                (
                    "UPDATE events SET peak_viewers = max(peak_viewers, ?) WHERE event_id = ?",
                    (peak, event_id),
                )
            ],
            wait=False,
        )

    async def _store_delete(self, event_id: str) -> None:
        await self._durable(
            [
                (f"DELETE FROM {table} WHERE event_id = ?", (event_id,))
                for table in ("events", "history", "idempotency", "mutes")
            ]
        )

    async def _store_mute(self, event_id: str, viewer_id: str, until: int, now: int) -> None:
        ops: list[_Op] = [
            ("DELETE FROM mutes WHERE event_id = ? AND until_ms <= ?", (event_id, now))
        ]
        if until > now:
            ops.append(
                ("INSERT OR REPLACE INTO mutes VALUES (?, ?, ?)", (event_id, viewer_id, until))
            )
        else:
            ops.append(
                ("DELETE FROM mutes WHERE event_id = ? AND viewer_id = ?", (event_id, viewer_id))
            )
        await self._durable(ops)

    async def _prune_forever(self) -> None:
        while True:
            await asyncio.sleep(PRUNE_INTERVAL)
            oldest = time.time_ns() // 1_000_000 - self.options.idempotency_ttl_ms
            self._write([("DELETE FROM idempotency WHERE ts < ?", (oldest,))], wait=False)

    def _one_change(self, event_id: str) -> contextlib.AbstractAsyncContextManager[object]:
        return self._serial.hold(event_id)  # the hooks suspend: one change at a time

    async def close(self) -> None:
        if self._pruner is not None:
            self._pruner.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._pruner
        while self._flusher is not None:
            await asyncio.shield(self._flusher)
        db, self._db = self._db, None
        if db is not None:
            await asyncio.get_running_loop().run_in_executor(self._executor, db.close)
        self._executor.shutdown(wait=True)
        await super().close()
