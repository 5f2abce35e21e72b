"""The engine contract, run against every engine: memory, SQLite and Redis.

Each test talks to a real engine: SQLite on a file, Redis on a ``redis-server``
of the tests' own (a fresh key prefix per test). What only some engines
promise (SQLite surviving a reopen, Redis counting viewers across nodes) is
tested below the contract.
"""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from livegate.engines import (
    Engine,
    EngineOptions,
    EngineUnavailable,
    EventEnded,
    EventsFull,
    SeqConflict,
    UnknownEvent,
    open_engine,
)
from livegate.engines.memory import MemoryEngine

_prefixes = itertools.count()


class Recorder:
    """Collects what an engine delivers to its node."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, dict[str, Any]]] = []
        self.resets: list[str] = []
        self.arrived = asyncio.Event()

    def on_message(self, event_id: str, payload: bytes) -> None:
        self.messages.append((event_id, orjson.loads(payload)))
        self.arrived.set()

    def on_reset(self, event_id: str) -> None:
        self.resets.append(event_id)

    async def wait_for(self, count: int, timeout: float = 5.0) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return [message for _, message in self.messages]


EngineFactory = Callable[..., Any]


@pytest.fixture(params=["memory", "sqlite", "redis"])
async def make_engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Any]:
    """``await make_engine(node_id=..., **options)`` → (started engine, its recorder)."""
    kind = request.param
    if kind == "memory":
        url = "memory://"
    elif kind == "sqlite":
        url = f"sqlite://{tmp_path / 'engine.db'}"
    else:
        url = request.getfixturevalue("redis_server").url
    prefix = f"t{next(_prefixes)}"
    started: list[Engine] = []

    async def make(node_id: str = "node-a", **options: Any) -> tuple[Engine, Recorder]:
        options.setdefault("history_size", 10)
        engine = open_engine(url, EngineOptions(node_id=node_id, prefix=prefix, **options))
        recorder = Recorder()
        await engine.start(recorder.on_message, recorder.on_reset)
        started.append(engine)
        return engine, recorder

    make.kind = kind  # type: ignore[attr-defined]
    yield make
    for engine in started:
        await engine.close()


async def test_seq_snapshot_state_and_resume(make_engine: EngineFactory) -> None:
    engine, _ = await make_engine()
    info, created = await engine.put_event("m1", "cricket", "T", {"venue": "Lord's"}, 1)
    assert created and info.seq == 0 and info.status == "scheduled" and info.snapshot is None
    assert info.meta == {"venue": "Lord's"} and info.title == "T" and info.sport == "cricket"
    for i in range(1, 6):
        result = await engine.append("m1", b'{"n":%d}' % i, 10 + i, None, state=b"s%d" % i)
        assert (result.seq, result.ts, result.duplicate) == (i, 10 + i, False)
        assert orjson.loads(result.message or b"") == {
            "type": "score",
            "eventId": "m1",
            "seq": i,
            "ts": 10 + i,
            "data": {"n": i},
        }
    info = await engine.get_event("m1")
    assert info is not None and (info.seq, info.status, info.snapshot, info.state) == (
        5,
        "live",
        b'{"n":5}',
        b"s5",
    )
    resume = await engine.since("m1", 2, 3)
    assert resume.recovered and [orjson.loads(m)["seq"] for m in resume.missed] == [3, 4, 5]
    capped = await engine.since("m1", 2, 2)  # more missed than a resume replays
    assert not capped.recovered and capped.missed == []
    assert (await engine.since("m1", 5, 10)).recovered is True
    ahead = await engine.since("m1", 9, 10)  # the client is ahead of this history
    assert ahead.recovered is False and ahead.event.seq == 5 and ahead.missed == []
    fresh = await engine.since("m1", None, 10)
    assert fresh.recovered is False and fresh.event.epoch == info.epoch
    with pytest.raises(UnknownEvent):
        await engine.since("nope", 1, 10)
    assert await engine.get_event("nope") is None


async def test_update_without_state_clears_it(make_engine: EngineFactory) -> None:
    engine, _ = await make_engine()
    await engine.put_event("m1", "generic", None, {}, 0)
    await engine.append("m1", b"{}", 1, None, state=b"blob")
    await engine.append("m1", b"{}", 2, None)
    info = await engine.get_event("m1")
    assert info is not None and info.state is None and info.title == "m1"


async def test_expected_seq_conflict(make_engine: EngineFactory) -> None:
    engine, _ = await make_engine()
    await engine.put_event("m1", "chess", None, {}, 0)
    assert (await engine.append("m1", b"{}", 1, None, expected_seq=0)).seq == 1
    with pytest.raises(SeqConflict):
        await engine.append("m1", b"{}", 2, None, expected_seq=0)
    assert (await engine.append("m1", b"{}", 3, None, expected_seq=1)).seq == 2


async def test_concurrent_conditional_appends_accept_one(make_engine: EngineFactory) -> None:
    engine, _ = await make_engine()
    await engine.put_event("m1", "chess", None, {}, 0)
    for round_ in range(20):
        outcomes = await asyncio.gather(
            *(
                engine.append("m1", b'{"m":%d}' % i, round_, None, expected_seq=round_)
                for i in range(4)
            ),
            return_exceptions=True,
        )
        accepted = [o for o in outcomes if not isinstance(o, BaseException)]
        assert len(accepted) == 1 and accepted[0].seq == round_ + 1
        assert all(isinstance(o, SeqConflict) for o in outcomes if isinstance(o, BaseException))


async def test_idempotency_keys(make_engine: EngineFactory) -> None:
    engine, recorder = await make_engine(idempotency_ttl_ms=60_000)
    await engine.put_event("m1", "generic", None, {}, 0)
    await engine.subscribe("m1")
    first = await engine.append("m1", b"{}", 0, "k" * 256)
    again = await engine.append("m1", b'{"x":1}', 5, "k" * 256)
    assert (again.seq, again.ts, again.duplicate, again.message) == (first.seq, 0, True, None)
    seen = await engine.find_idempotent("m1", "k" * 256, 60_000)
    assert seen is not None and seen.seq == 1 and seen.duplicate
    assert await engine.find_idempotent("m1", "k" * 256, 60_001) is None  # past the TTL
    assert await engine.find_idempotent("m1", "other", 1) is None
    later = await engine.append("m1", b"{}", 60_001, "k" * 256)
    assert not later.duplicate and later.seq == 2
    messages = await recorder.wait_for(2)
    assert [m["seq"] for m in messages] == [1, 2]  # the duplicate was not sent again


async def test_meta_replaced_not_merged(make_engine: EngineFactory) -> None:
    engine, _ = await make_engine()
    await engine.put_event("m1", "generic", None, {"a": 1}, 0)
    info, created = await engine.put_event("m1", None, None, {"b": 2}, 1)
    assert not created and info.meta == {"b": 2} and info.updated_at == 1
    info, _ = await engine.put_event("m1", None, "New title", {}, 2)
    assert info.meta == {"b": 2} and info.title == "New title" and info.sport == "generic"
    assert [e.event_id for e in await engine.list_events()] == ["m1"]


async def test_end_and_unknown(make_engine: EngineFactory) -> None:
    engine, recorder = await make_engine()
    await engine.put_event("m1", "chess", None, {}, 1)
    await engine.subscribe("m1")
    await engine.append("m1", b"{}", 2, None)
    info, changed = await engine.end("m1", 6)
    assert changed and info.status == "ended" and info.seq == 1
    assert (await engine.end("m1", 7))[1] is False
    with pytest.raises(EventEnded):
        await engine.append("m1", b"{}", 8, None)
    with pytest.raises(UnknownEvent):
        await engine.append("nope", b"{}", 9, None)
    with pytest.raises(UnknownEvent):
        await engine.end("nope", 9)
    messages = await recorder.wait_for(2)
    assert [m["type"] for m in messages] == ["score", "ended"]  # ended after the last score


async def test_delivery_in_order_only_while_subscribed(make_engine: EngineFactory) -> None:
    engine, recorder = await make_engine()
    await engine.put_event("m1", "generic", None, {}, 0)
    await engine.put_event("m2", "generic", None, {}, 0)
    await engine.append("m1", b"{}", 1, None)  # before subscribing: not delivered
    await engine.subscribe("m1")
    for i in range(50):
        await engine.append("m1", b'{"i":%d}' % i, 2, None)
        await engine.append("m2", b"{}", 2, None)  # not subscribed
    await engine.publish("m1", b'{"type":"partial","node":"x","counts":{},"comments":[]}')
    messages = await recorder.wait_for(51)
    assert [m["seq"] for m in messages[:50]] == list(range(2, 52))
    assert messages[50]["type"] == "partial"
    assert {event_id for event_id, _ in recorder.messages} == {"m1"}
    await engine.unsubscribe("m1")
    await engine.append("m1", b"{}", 3, None)
    await asyncio.sleep(0.1)
    assert len(recorder.messages) == 51


async def test_viewers_and_peak(make_engine: EngineFactory) -> None:
    engine, _ = await make_engine()
    await engine.put_event("m1", "generic", None, {}, 0)
    assert await engine.report_viewers({"m1": 3, "nope": 1}) in (
        {"m1": (3, 3)},
        {"m1": (3, 3), "nope": (0, 0)},
    )
    assert (await engine.report_viewers({"m1": 1}))["m1"] == (1, 3)
    info = await engine.get_event("m1")
    assert info is not None and info.peak_viewers == 3


async def test_events_full(make_engine: EngineFactory) -> None:
    engine, _ = await make_engine(max_events=2)
    await engine.put_event("a", "generic", None, {}, 0)
    await engine.put_event("b", "generic", None, {}, 1)
    with pytest.raises(EventsFull):
        await engine.put_event("c", "generic", None, {}, 2)
    await engine.put_event("a", None, "still updatable", {}, 3)
    assert [e.event_id for e in await engine.list_events()] == ["a", "b"]


# -- beyond the contract -------------------------------------------------------------


async def test_memory_history_is_exactly_its_size() -> None:
    engine = MemoryEngine(EngineOptions(node_id="n", history_size=3, idempotency_keys=2))
    await engine.put_event("m1", "generic", None, {}, 0)
    for i in range(5):
        await engine.append("m1", b"{}", i, f"k{i}")
    assert (await engine.since("m1", 1, 10)).recovered is False  # seq 2 fell out
    assert (await engine.since("m1", 2, 10)).recovered is True
    # Only the last 2 keys are remembered.
    assert await engine.find_idempotent("m1", "k2", 5) is None
    assert await engine.find_idempotent("m1", "k4", 5) is not None


async def test_sqlite_keeps_everything_across_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'keep.db'}"
    options = EngineOptions(node_id="n", history_size=3)
    engine = open_engine(url, options)
    await engine.start(lambda *_: None, lambda *_: None)
    await engine.put_event("m1", "cricket", "Final", {"venue": "MCG"}, 1)
    for i in range(1, 6):
        await engine.append("m1", b'{"n":%d}' % i, 10 * i, f"key-{i}", state=b"st%d" % i)
    await engine.report_viewers({"m1": 7})
    await engine.put_event("m2", "chess", None, {}, 2)
    await engine.end("m2", 3, "1-0")
    before = await engine.get_event("m1")
    await engine.close()

    again = open_engine(url, options)
    await again.start(lambda *_: None, lambda *_: None)
    try:
        after = await again.get_event("m1")
        assert before is not None and after is not None
        assert (after.epoch, after.seq, after.snapshot, after.state, after.meta) == (
            before.epoch,
            5,
            b'{"n":5}',
            b"st5",
            {"venue": "MCG"},
        )
        assert after.peak_viewers == 7 and after.viewers == 0
        resume = await again.since("m1", 2, 10)
        assert resume.recovered and [orjson.loads(m)["seq"] for m in resume.missed] == [3, 4, 5]
        assert (await again.since("m1", 1, 10)).recovered is False  # beyond history_size
        dup = await again.append("m1", b"{}", 60, "key-4")
        assert dup.duplicate and dup.seq == 4
        assert (await again.append("m1", b"{}", 61, None)).seq == 6
        ended = await again.get_event("m2")
        assert ended is not None and (ended.status, ended.result) == ("ended", "1-0")
        assert [e.event_id for e in await again.list_events()] == ["m1", "m2"]
    finally:
        await again.close()


async def test_sqlite_file_has_one_node(tmp_path: Path) -> None:

    url = f"sqlite://{tmp_path / 'one.db'}"
    first = open_engine(url, EngineOptions(node_id="a"))
    await first.start(lambda *_: None, lambda *_: None)
    try:
        second = open_engine(url, EngineOptions(node_id="b"))
        with pytest.raises(EngineUnavailable, match="locked"):
            await second.start(lambda *_: None, lambda *_: None)
    finally:
        await first.close()


async def test_redis_viewers_sum_over_nodes_and_expire(redis_server: Any) -> None:
    options: dict[str, Any] = {"prefix": f"t{next(_prefixes)}", "viewers_ttl_ms": 300}
    a = open_engine(redis_server.url, EngineOptions(node_id="a", **options))
    b = open_engine(redis_server.url, EngineOptions(node_id="b", **options))
    for engine in (a, b):
        await engine.start(lambda *_: None, lambda *_: None)
    try:
        await a.put_event("m1", "generic", None, {}, 0)
        assert (await a.report_viewers({"m1": 3}))["m1"] == (3, 3)
        assert (await b.report_viewers({"m1": 4}))["m1"] == (7, 7)
        assert (await a.report_viewers({"m1": 0}))["m1"] == (4, 7)
        await asyncio.sleep(0.4)  # b stopped reporting: its count expires
        assert (await a.report_viewers({"m1": 1}))["m1"] == (1, 7)
    finally:
        await a.close()
        await b.close()


async def test_redis_pool_busy_fails_the_call_but_is_not_an_outage(redis_server: Any) -> None:
    """Every pooled connection in use: a call waits, fails, and Redis still counts as up
    (it is this node that is busy: /healthz must not send its viewers elsewhere)."""
    from livegate.engines import redis as redis_engine_module

    engine = open_engine(redis_server.url, EngineOptions(node_id="a", prefix="pool"))
    await engine.start(lambda *_: None, lambda *_: None)
    pool = engine._pool  # type: ignore[attr-defined]
    held = [await pool.get_connection() for _ in range(redis_engine_module.POOL_SIZE)]
    try:
        with pytest.raises(EngineUnavailable, match="No connection available"):
            await engine.get_event("m1")
        assert engine.available
    finally:
        for connection in held:
            await pool.release(connection)
    assert await engine.get_event("m1") is None
    # Closing right after the pool frees up: the health check's wait for a connection
    # is notified as close() cancels it (it used to swallow the cancel and hang).
    await engine.close()


@pytest.fixture
async def redis_engine(redis_server: Any) -> AsyncIterator[tuple[Engine, Recorder, Any, str]]:
    """A started Redis engine with event ``m1`` subscribed, its recorder, a raw
    client to meddle with its keys, and its key prefix."""
    import redis.asyncio as aioredis

    prefix = f"t{next(_prefixes)}"
    engine = open_engine(redis_server.url, EngineOptions(node_id="a", prefix=prefix))
    recorder = Recorder()
    await engine.start(recorder.on_message, recorder.on_reset)
    raw = aioredis.Redis.from_url(redis_server.url)
    try:
        await engine.put_event("m1", "generic", None, {}, 0)
        await engine.subscribe("m1")
        yield engine, recorder, raw, prefix
    finally:
        await raw.aclose()
        await engine.close()


async def test_redis_reader_survives_strangers_and_fills_lost_messages(
    redis_engine: tuple[Engine, Recorder, Any, str],
) -> None:
    engine, recorder, raw, prefix = redis_engine
    channel = f"{prefix}:{{m1}}:ch"
    for junk in (b"", b"no-space", b"Sx y", b"S1", "é".encode()):
        await raw.publish(channel, junk)
    await engine.append("m1", b"{}", 1, None)
    # Seq 2 and 3 stored but "lost" on the way: only the stream has them.
    ev, hist = f"{prefix}:{{m1}}:ev", f"{prefix}:{{m1}}:hist"
    for seq in (2, 3):
        message = b'{"type":"score","eventId":"m1","seq":%d,"ts":1,"data":{}}' % seq
        await raw.hset(ev, "seq", seq)
        await raw.xadd(hist, {"m": message}, id=f"{seq}-0")
    await engine.append("m1", b"{}", 4, None)  # seq 4 arrives after a gap
    messages = await recorder.wait_for(4)
    assert [m["seq"] for m in messages] == [1, 2, 3, 4]
    assert recorder.resets == []


async def test_redis_gap_the_stream_no_longer_holds_is_a_reset(
    redis_engine: tuple[Engine, Recorder, Any, str],
) -> None:
    engine, recorder, raw, prefix = redis_engine
    await engine.append("m1", b"{}", 1, None)
    await recorder.wait_for(1)
    # Seqs 2 to 4 stored and "lost" on the way, then trimmed from the stream too.
    ev, hist = f"{prefix}:{{m1}}:ev", f"{prefix}:{{m1}}:hist"
    await raw.hset(ev, "seq", 4)
    await raw.xtrim(hist, maxlen=0)
    await engine.append("m1", b'{"after":1}', 5, None)
    async with asyncio.timeout(5):
        while not recorder.resets:  # noqa: ASYNC110 - the engine's reader runs on its own
            await asyncio.sleep(0.01)
    assert recorder.resets == ["m1"]
    # Delivery goes on after the newest seq (5, which the node resends as a snapshot).
    await engine.append("m1", b"{}", 6, None)
    messages = await recorder.wait_for(2)
    assert [m["seq"] for m in messages] == [1, 6]


async def test_redis_password_in_the_url() -> None:
    from tests.services import RedisServer

    server = RedisServer(appendonly=False, password="s3cret-pass")
    server.start()
    try:
        base = f"redis://:s3cret-pass@127.0.0.1:{server.port}/0"
        engine = open_engine(base, EngineOptions(node_id="a"))
        await engine.start(lambda *_: None, lambda *_: None)
        await engine.put_event("m1", "generic", None, {}, 0)
        assert (await engine.append("m1", b"{}", 1, None)).seq == 1
        await engine.close()
        wrong = open_engine(base.replace("s3cret", "wrong"), EngineOptions(node_id="b"))
        with pytest.raises(EngineUnavailable) as refused:
            await wrong.start(lambda *_: None, lambda *_: None)
        assert "wrong-pass" not in str(refused.value) and "s3cret" not in str(refused.value)
    finally:
        server.close()


async def test_end_keeps_a_result_and_delete_forgets_the_event(make_engine: EngineFactory) -> None:
    engine, recorder = await make_engine()
    await engine.put_event("m1", "cricket", None, {}, 0)
    await engine.put_event("m2", "cricket", None, {}, 0)
    for event_id in ("m1", "m2"):
        await engine.subscribe(event_id)
        await engine.append(event_id, b"{}", 1, f"key-{event_id}")
    info, changed = await engine.end("m1", 2, "CSK won by 5 wickets")
    assert changed and info.result == "CSK won by 5 wickets"
    stored = await engine.get_event("m1")
    assert stored is not None and stored.result == "CSK won by 5 wickets"
    assert await engine.delete("m2") is True
    assert await engine.delete("m2") is False
    assert await engine.get_event("m2") is None
    assert [e.event_id for e in await engine.list_events()] == ["m1"]
    with pytest.raises(UnknownEvent):
        await engine.append("m2", b"{}", 3, None)
    messages = await recorder.wait_for(4)
    ends = {m["eventId"]: m for m in messages if m["type"] == "ended"}
    assert ends["m1"] == {"type": "ended", "eventId": "m1", "result": "CSK won by 5 wickets"}
    assert ends["m2"] == {"type": "ended", "eventId": "m2"}  # deleted while live
    # The id can be used again, as a new history.
    again, created = await engine.put_event("m2", "cricket", None, {}, 4)
    assert created and again.seq == 0 and again.status == "scheduled"


async def test_mutes_are_kept_with_the_event_and_sent_whole(make_engine: EngineFactory) -> None:
    engine, recorder = await make_engine()
    await engine.put_event("m1", "generic", None, {}, 0)
    with pytest.raises(UnknownEvent):
        await engine.set_mute("nope", "v", 2_000, 1_000)
    with pytest.raises(UnknownEvent):
        await engine.mutes("nope", 1_000)
    await engine.subscribe("m1")
    assert await engine.set_mute("m1", "troll", 5_000, 1_000) == {"troll": 5_000}
    assert await engine.set_mute("m1", "pest", 3_000, 1_000) == {"troll": 5_000, "pest": 3_000}
    messages = await recorder.wait_for(2)
    assert messages[-1] == {
        "type": "mutes",
        "eventId": "m1",
        "mutes": {"troll": 5_000, "pest": 3_000},
    }
    assert await engine.mutes("m1", 4_000) == {"troll": 5_000}  # pest's ended
    assert await engine.set_mute("m1", "troll", 0, 4_000) == {}  # lifted; pest forgotten
    assert (await recorder.wait_for(3))[-1]["mutes"] == {}
    await engine.set_mute("m1", "again", 9_000, 4_000)
    assert await engine.delete("m1")
    await engine.put_event("m1", "generic", None, {}, 5_000)
    assert await engine.mutes("m1", 5_000) == {}  # deleted with the event


async def test_sqlite_keeps_mutes_across_a_reopen(tmp_path: Path) -> None:
    url = f"sqlite://{tmp_path / 'mutes.db'}"
    options = EngineOptions(node_id="n")
    engine = open_engine(url, options)
    await engine.start(lambda *_: None, lambda *_: None)
    await engine.put_event("m1", "generic", None, {}, 0)
    await engine.set_mute("m1", "troll", 10**13, 1)
    await engine.set_mute("m1", "gone", 5, 1)
    await engine.close()
    again = open_engine(url, options)
    await again.start(lambda *_: None, lambda *_: None)
    try:
        assert await again.mutes("m1", 10) == {"troll": 10**13}
    finally:
        await again.close()


async def test_redis_node_that_missed_a_mute_reads_them_again(
    redis_engine: tuple[Engine, Recorder, Any, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A lost pub/sub message must not leave a node without a mute for long: the
    position check sees ``mutes_v`` move and sends the whole set again."""
    import livegate.engines.redis as redis_module

    engine, recorder, raw, prefix = redis_engine
    await engine.append("m1", b"{}", 1, None)
    await recorder.wait_for(1)
    # Another node muted, and its message never arrived here.
    await raw.hset(f"{prefix}:{{m1}}:mutes", "troll", 10**13)
    await raw.hincrby(f"{prefix}:{{m1}}:ev", "mutes_v", 1)
    monkeypatch.setattr(redis_module, "POSITION_CHECK", 0.05)
    checker = asyncio.create_task(engine._check_positions_forever())  # type: ignore[attr-defined]
    try:
        messages = await recorder.wait_for(2)
    finally:
        checker.cancel()
    assert messages[-1] == {"type": "mutes", "eventId": "m1", "mutes": {"troll": 10**13}}
