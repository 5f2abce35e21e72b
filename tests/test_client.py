"""The Python client SDK (``livegate.client``).

Two kinds of peer: the real server in a subprocess (``shared_server`` /
``server_factory``) for the end-to-end contract, and a small scripted aiohttp
WebSocket server in this process for behaviour the real one cannot be made to
show on demand (a silent server, a 4001 close, duplicate or out-of-date scores).
Randomness is injected; no test depends on a lucky draw.
"""

from __future__ import annotations

import asyncio
import random
import signal
import socket
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import aiohttp
import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from livegate import protocol
from livegate.client import (
    Backoff,
    Client,
    ConnectFailed,
    ConnectionRefusedByServer,
    InvalidMessage,
    JoinRejected,
    NotConnected,
    PolicyViolation,
    Unauthorized,
    _encode_client,
    connect,
)
from tests.conftest import Api, LivegateProcess, expect_close, free_port, recv_type

# -- helpers ----------------------------------------------------------------------

FAST = Backoff(base=0.01, cap=0.05)
"""Backoff for tests: reconnects within 50 ms."""


class TopRng(random.Random):
    """Draws the top of every range (the longest wait) and records the ranges asked for."""

    def __init__(self, *, top: bool = True) -> None:
        super().__init__(0)
        self.top = top
        self.ceilings: list[float] = []

    def uniform(self, a: float, b: float) -> float:
        self.ceilings.append(b)
        return b if self.top else a


def new_event_id() -> str:
    return f"ev-{uuid.uuid4().hex[:12]}"


async def next_message(
    client: Client, timeout: float = 5, skip: Sequence[str] = ("viewers",)
) -> dict[str, Any]:
    """The next message of a type not in ``skip``; fails the test after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        remaining = deadline - loop.time()
        if remaining <= 0:
            raise AssertionError(f"no message within {timeout} s")
        message = await asyncio.wait_for(client.__anext__(), remaining)
        if message["type"] not in skip:
            return message


async def wait_until(predicate: Callable[[], bool], timeout: float = 5) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.01)


# -- a scripted in-process server ---------------------------------------------------

FAKE_EVENT = "fake-1"
Script = Callable[[web.WebSocketResponse, int], Awaitable[None]]


def joined_text(
    seq: int,
    *,
    recovered: bool | None = None,
    missed: Sequence[int] = (),
    snapshot: Any = None,
    interval_ms: int = 30_000,
    timeout_ms: int = 60_000,
) -> str:
    return protocol.encode_joined(
        event_id=FAKE_EVENT,
        epoch="fake-epoch",
        sport="chess",
        title="Fake",
        status="live",
        seq=seq,
        viewers=1,
        snapshot_json=None if snapshot is None else orjson.dumps(snapshot),
        heartbeat_interval_ms=interval_ms,
        heartbeat_timeout_ms=timeout_ms,
        recovered=recovered,
        missed=[score_bytes(n) for n in missed],
    ).decode()


def score_bytes(seq: int) -> bytes:
    return protocol.encode_score(FAKE_EVENT, seq, 1_700_000_000_000, orjson.dumps({"n": seq}))


def score_text(seq: int) -> str:
    return score_bytes(seq).decode()


class FakeServer:
    """A WebSocket endpoint at ``/ws`` that runs ``script(ws, n)`` for connection ``n``.

    It reads the join first and records it in ``joins``; every later client frame
    read through :meth:`drain` is recorded in ``frames[n]``.
    """

    def __init__(self, script: Script) -> None:
        self.script = script
        self.joins: list[dict[str, Any]] = []
        self.frames: list[list[dict[str, Any]]] = []
        app = web.Application()
        app.router.add_get("/ws", self._handle)
        self.server = TestServer(app, host="127.0.0.1")

    @property
    def url(self) -> str:
        return str(self.server.make_url("/ws"))

    async def _handle(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        msg = await ws.receive()
        if msg.type is not aiohttp.WSMsgType.TEXT:
            return ws
        n = len(self.joins)
        self.joins.append(orjson.loads(msg.data))
        self.frames.append([])
        await self.script(ws, n)
        await ws.close()
        return ws

    async def drain(self, ws: web.WebSocketResponse, n: int) -> None:
        """Read (and record) client frames until the client closes; never answer."""
        async for msg in ws:
            if msg.type is aiohttp.WSMsgType.TEXT:
                self.frames[n].append(orjson.loads(msg.data))


@pytest.fixture
async def fake() -> AsyncIterator[Callable[[Script], Awaitable[FakeServer]]]:
    servers: list[FakeServer] = []

    async def make(script: Script) -> FakeServer:
        server = FakeServer(script)
        await server.server.start_server()
        servers.append(server)
        return server

    yield make
    for server in servers:
        await server.server.close()


# -- pure parts ----------------------------------------------------------------------


def test_backoff_ceilings_double_from_base_up_to_cap() -> None:
    backoff = Backoff(base=0.5, cap=20)
    assert [backoff.ceiling(n) for n in range(8)] == [0.5, 1, 2, 4, 8, 16, 20, 20]
    assert backoff.ceiling(10_000) == 20  # no overflow however long the outage


def test_backoff_delay_is_full_jitter_over_the_ceiling() -> None:
    backoff = Backoff(base=0.5, cap=20)
    rng = TopRng()
    assert [backoff.delay(n, rng) for n in range(7)] == [0.5, 1, 2, 4, 8, 16, 20]
    assert backoff.delay(3, TopRng(top=False)) == 0.0
    # Seeded: reproducible, and every delay within [0, ceiling].
    first = [backoff.delay(n, random.Random(42)) for n in range(12)]
    again = [backoff.delay(n, random.Random(42)) for n in range(12)]
    assert first == again
    assert all(0 <= d <= backoff.ceiling(n) for n, d in enumerate(first))
    seeded = random.Random(7)
    draws = [backoff.delay(n, seeded) for n in range(200)]
    assert len(set(draws)) == 200  # actually random, not a fixed schedule


def test_backoff_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        Backoff(base=0)
    with pytest.raises(ValueError):
        Backoff(base=1, cap=0.5)


@pytest.mark.parametrize(
    "message",
    [
        protocol.Join(id="u1", event_id="ev-1"),
        protocol.Join(id="u1", event_id="ev-1", since=0),
        protocol.Join(id="u1", event_id="ev-1", since=41, token="tok"),
        protocol.Reaction(emoji="🔥"),
        protocol.Reaction(emoji="👍🏽", comment="great shot"),
        protocol.Ping(t=3),
        protocol.Ping(),
        protocol.Leave(),
    ],
)
def test_client_frames_parse_back_to_the_same_message(message: protocol.ClientMessage) -> None:
    # The SDK writes client frames; the protocol module is the judge of their shape.
    assert protocol.parse_client_frame(_encode_client(message)) == message


def test_invalid_join_fields_fail_at_construction() -> None:
    with pytest.raises(InvalidMessage) as info:
        connect("ws://127.0.0.1:1/ws", id="u1", event_id="no spaces allowed")
    assert info.value.code == protocol.ErrorCode.BAD_FIELD
    with pytest.raises(InvalidMessage):
        connect("ws://127.0.0.1:1/ws", id="", event_id="ev-1")


# -- against the real server -----------------------------------------------------------


async def test_joins_with_snapshot_then_receives_scores_in_order(api: Api) -> None:
    event_id = new_event_id()
    await api.create_event(event_id, sport="generic", title="Final")
    await api.publish(event_id, {"runs": 1})
    client = connect(api.server.ws_url, id="fan-1", event_id=event_id)
    states = [client.state]
    async with client:
        states.append(client.state)
        joined = await next_message(client)
        assert joined["type"] == "joined"
        assert (joined["eventId"], joined["sport"], joined["title"]) == (
            event_id,
            "generic",
            "Final",
        )
        assert (joined["seq"], joined["snapshot"]) == (1, {"runs": 1})
        assert client.last_seq == 1
        for runs in (2, 3):
            await api.publish(event_id, {"runs": runs})
        scores = [await next_message(client) for _ in range(2)]
        assert [(m["type"], m["seq"], m["data"]) for m in scores] == [
            ("score", 2, {"runs": 2}),
            ("score", 3, {"runs": 3}),
        ]
        assert client.last_seq == 3
    states.append(client.state)
    assert states == ["connecting", "connected", "closed"]


async def test_reaction_reaches_other_viewers_as_an_aggregate(
    server_factory: Any, http: aiohttp.ClientSession
) -> None:
    server: LivegateProcess = server_factory("--reaction-window", "0.1")
    api = Api(http, server)
    event_id = new_event_id()
    await api.create_event(event_id)
    async with (
        connect(server.ws_url, id="sender", event_id=event_id) as sender,
        connect(server.ws_url, id="watcher", event_id=event_id) as watcher,
    ):
        assert (await next_message(watcher))["type"] == "joined"
        await sender.react("🔥", comment="what a catch")
        await sender.react("👏")
        # The two may fall in one window or two: add the aggregates up.
        counts: dict[str, int] = {}
        comments: list[dict[str, Any]] = []
        while sum(counts.values()) < 2:
            aggregate = await next_message(watcher, skip=("viewers", "joined"))
            assert (aggregate["type"], aggregate["eventId"]) == ("reactions", event_id)
            for emoji, count in aggregate["counts"].items():
                counts[emoji] = counts.get(emoji, 0) + count
            comments += aggregate["comments"]
        assert counts == {"🔥": 1, "👏": 1}
        assert {"id": "sender", "emoji": "🔥", "comment": "what a catch"} in comments


async def test_ping_loop_keeps_an_idle_client_connected(
    server_factory: Any, http: aiohttp.ClientSession
) -> None:
    server: LivegateProcess = server_factory(
        "--heartbeat-interval", "0.2", "--heartbeat-timeout", "0.6"
    )
    api = Api(http, server)
    event_id = new_event_id()
    await api.create_event(event_id)
    async with connect(server.ws_url, id="idle-fan", event_id=event_id, backoff=FAST) as client:
        joined = await next_message(client)
        assert joined["heartbeat"] == {"intervalMs": 200, "timeoutMs": 600}
        # Control: a connection that never pings is closed by the same server.
        async with http.ws_connect(server.ws_url) as silent:
            await silent.send_json({"type": "join", "id": "silent", "eventId": event_id})
            await recv_type(silent, "joined")
            await expect_close(silent, protocol.CloseCode.HEARTBEAT_TIMEOUT, timeout=3)
        await asyncio.sleep(0.6)  # the client has now idled for more than twice the timeout
        assert client.state == "connected"
        assert client.reconnects == 0
        await api.publish(event_id, {"over": 1})
        score = await next_message(client)
        assert (score["type"], score["seq"]) == ("score", 1)


async def test_resume_after_a_dropped_connection_misses_no_score(api: Api) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    # The top of the first backoff range: 0.3 s offline, time enough to publish.
    client = connect(
        api.server.ws_url, id="fan", event_id=event_id, backoff=Backoff(base=0.3), rng=TopRng()
    )
    async with client:
        assert (await next_message(client))["seq"] == 0
        for n in (1, 2, 3):
            await api.publish(event_id, {"n": n})
        assert [(await next_message(client))["seq"] for _ in range(3)] == [1, 2, 3]
        # Cut the TCP connection under the client, as a network drop would.
        assert client._ws is not None
        client._ws.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        await wait_until(lambda: client.state == "reconnecting")
        for n in (4, 5, 6):
            await api.publish(event_id, {"n": n})
        assert client.state == "reconnecting"  # these were published while it was away
        await wait_until(lambda: client.state == "connected")
        await api.publish(event_id, {"n": 7})
        rest = [await next_message(client) for _ in range(4)]
        assert [(m["type"], m["seq"], m["data"]) for m in rest] == [
            ("score", n, {"n": n}) for n in (4, 5, 6, 7)
        ]
        assert client.reconnects == 1
        assert client.last_seq == 7
        with pytest.raises(TimeoutError):  # and nothing more: no duplicate, no joined
            await next_message(client, timeout=0.3)


async def test_reconnects_by_itself_across_a_server_restart(
    server_factory: Any, http: aiohttp.ClientSession
) -> None:
    server: LivegateProcess = server_factory()
    api = Api(http, server)
    event_id = new_event_id()
    await api.create_event(event_id)
    async with connect(
        server.ws_url, id="fan", event_id=event_id, backoff=Backoff(base=0.05, cap=0.2)
    ) as client:
        assert (await next_message(client))["type"] == "joined"
        for n in (1, 2):
            await api.publish(event_id, {"n": n})
        assert [(await next_message(client))["seq"] for _ in range(2)] == [1, 2]

        await asyncio.to_thread(server.stop, signal.SIGTERM)
        await wait_until(lambda: client.state == "reconnecting")
        await asyncio.to_thread(server.start)  # same port; the memory store starts empty
        await api.create_event(event_id)

        # The new server's history is not the old one: the client cannot resume,
        # so it yields the new joined to reset the app, and counts from its seq.
        joined = await next_message(client)
        assert (joined["type"], joined["seq"], joined["recovered"]) == ("joined", 0, False)
        assert client.last_seq == 0
        for n in (1, 2, 3):
            await api.publish(event_id, {"n": n})
        scores = [await next_message(client) for _ in range(3)]
        assert [(m["seq"], m["data"]) for m in scores] == [
            (1, {"n": 1}),
            (2, {"n": 2}),
            (3, {"n": 3}),
        ]
        assert client.reconnects == 1


async def test_repeated_bad_frames_stop_the_client_with_policy_violation(api: Api) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    async with connect(api.server.ws_url, id="fan", event_id=event_id, backoff=FAST) as client:
        assert (await next_message(client))["type"] == "joined"
        for _ in range(10):
            await client._send_raw("this is not json")
        errors: list[dict[str, Any]] = []
        with pytest.raises(PolicyViolation) as info:
            while True:
                errors.append(await next_message(client))
        assert info.value.code == protocol.CloseCode.POLICY_VIOLATION
        assert isinstance(info.value, ConnectionRefusedByServer)
        assert errors and {m["type"] for m in errors} == {"error"}
        assert {m["code"] for m in errors} == {protocol.ErrorCode.BAD_JSON}
        assert client.state == "closed"
        assert client.reconnects == 0
        with pytest.raises(PolicyViolation):  # iteration stays over
            await client.__anext__()
        with pytest.raises(NotConnected):
            await client.react("👍")


async def test_unknown_event_on_first_join_raises_join_rejected(api: Api) -> None:
    client = connect(api.server.ws_url, id="fan", event_id=new_event_id())
    with pytest.raises(JoinRejected) as info:
        async with client:
            pass
    assert info.value.code == protocol.ErrorCode.UNKNOWN_EVENT
    assert client.state == "closed"


async def test_nothing_listening_raises_connect_failed() -> None:
    client = connect(f"ws://127.0.0.1:{free_port()}/ws", id="fan", event_id="ev-1")
    with pytest.raises(ConnectFailed):
        async with client:
            pass
    assert client.state == "closed"


# -- against the scripted server --------------------------------------------------------


async def test_duplicate_and_old_scores_are_dropped(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_str(joined_text(0))
        for seq in (1, 2, 2, 1, 3, 0):
            await ws.send_str(score_text(seq))
        await ws.send_str(protocol.encode_viewers(FAKE_EVENT, 7).decode())
        await server.drain(ws, n)

    server = await fake(script)
    async with connect(server.url, id="fan", event_id=FAKE_EVENT) as client:
        messages = [await next_message(client, skip=()) for _ in range(5)]
    assert [(m["type"], m.get("seq")) for m in messages] == [
        ("joined", 0),
        ("score", 1),
        ("score", 2),
        ("score", 3),
        ("viewers", None),
    ]


async def test_resume_yields_missed_scores_then_live_ones_once(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        if n == 0:
            await ws.send_str(joined_text(0))
            for seq in (1, 2):
                await ws.send_str(score_text(seq))
            await ws.close(code=protocol.CloseCode.SERVICE_RESTART)
        else:
            await ws.send_str(joined_text(4, recovered=True, missed=[2, 3, 4]))
            for seq in (4, 5):
                await ws.send_str(score_text(seq))
            await server.drain(ws, n)

    server = await fake(script)
    async with connect(server.url, id="fan", event_id=FAKE_EVENT, backoff=FAST) as client:
        messages = [await next_message(client) for _ in range(6)]
        assert [(m["type"], m["seq"]) for m in messages] == [("joined", 0)] + [
            ("score", seq) for seq in (1, 2, 3, 4, 5)
        ]
        assert [m["data"] for m in messages[1:]] == [{"n": seq} for seq in (1, 2, 3, 4, 5)]
        assert server.joins[0] == {"type": "join", "id": "fan", "eventId": FAKE_EVENT}
        assert server.joins[1] == {
            "type": "join",
            "id": "fan",
            "eventId": FAKE_EVENT,
            "since": 2,
            "epoch": "fake-epoch",
        }
        assert client.reconnects == 1
        assert client.joined is not None and client.joined["recovered"] is True


async def test_a_seq_gap_makes_the_client_rejoin_and_fill_it(fake: Any) -> None:
    # Issue 8: the server never skips a seq, but across engines and versions a
    # client that sees one must fetch the gap, not drop it silently.
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_str(joined_text(0))
        for seq in (1, 2, 5, 6):  # 3 and 4 "lost" on the way; 6 is covered by the rejoin
            await ws.send_str(score_text(seq))
        msg = await ws.receive(timeout=5)
        server.frames[n].append(orjson.loads(msg.data))
        await ws.send_str(joined_text(6, recovered=True, missed=[3, 4, 5, 6]))
        await ws.send_str(score_text(7))
        await server.drain(ws, n)

    server = await fake(script)
    async with connect(server.url, id="fan", event_id=FAKE_EVENT, backoff=FAST) as client:
        messages = [await next_message(client) for _ in range(8)]
        assert [(m["type"], m["seq"]) for m in messages] == [("joined", 0)] + [
            ("score", seq) for seq in (1, 2, 3, 4, 5, 6, 7)
        ]
        rejoin = server.frames[0][0]
        assert rejoin == {
            "type": "join",
            "id": "fan",
            "eventId": FAKE_EVENT,
            "since": 2,
            "epoch": "fake-epoch",
        }
        assert client.reconnects == 0 and client.last_seq == 7


async def test_unrecovered_resume_yields_joined_and_restarts_from_its_seq(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        if n == 0:
            await ws.send_str(joined_text(5, snapshot={"board": "old"}))
            await ws.send_str(score_text(6))
            await ws.close(code=protocol.CloseCode.GOING_AWAY)
        else:
            await ws.send_str(joined_text(1, recovered=False, snapshot={"board": "new"}))
            await ws.send_str(score_text(2))
            await server.drain(ws, n)

    server = await fake(script)
    async with connect(server.url, id="fan", event_id=FAKE_EVENT, backoff=FAST) as client:
        messages = [await next_message(client) for _ in range(4)]
        assert [(m["type"], m["seq"]) for m in messages] == [
            ("joined", 5),
            ("score", 6),
            ("joined", 1),
            ("score", 2),
        ]
        assert messages[2]["snapshot"] == {"board": "new"}
        assert server.joins[1]["since"] == 6
        assert client.last_seq == 2


async def test_silent_server_is_treated_as_dead_and_rejoined(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        if n == 0:
            # Advertise a short heartbeat, then never answer a ping.
            await ws.send_str(joined_text(0, interval_ms=50, timeout_ms=300))
            await server.drain(ws, n)
        else:
            await ws.send_str(joined_text(0, recovered=True))
            await ws.send_str(score_text(1))
            await server.drain(ws, n)

    server = await fake(script)
    loop = asyncio.get_running_loop()
    async with connect(server.url, id="fan", event_id=FAKE_EVENT, backoff=FAST) as client:
        assert (await next_message(client))["type"] == "joined"
        started = loop.time()
        score = await next_message(client, timeout=3)
        assert (score["type"], score["seq"]) == ("score", 1)
        assert loop.time() - started >= 0.25  # not before the advertised 0.3 s timeout
        assert client.reconnects == 1
        # The client kept pinging at the advertised interval while it waited.
        pings = [f for f in server.frames[0] if f.get("type") == "ping"]
        assert len(pings) >= 3
        assert [p["t"] for p in pings] == sorted(p["t"] for p in pings)


async def test_unauthorized_close_stops_without_reconnecting(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_str(joined_text(0))
        await ws.send_str(score_text(1))
        await ws.close(code=protocol.CloseCode.UNAUTHORIZED, message=b"token expired")

    server = await fake(script)
    async with connect(server.url, id="fan", event_id=FAKE_EVENT, backoff=FAST) as client:
        assert (await next_message(client))["type"] == "joined"
        # Messages received before the close are still delivered, then the error.
        assert (await next_message(client))["seq"] == 1
        with pytest.raises(Unauthorized) as info:
            await next_message(client)
        assert (info.value.code, info.value.reason) == (4001, "token expired")
        assert client.state == "closed"
        await asyncio.sleep(0.1)  # several FAST backoff windows
        assert len(server.joins) == 1


async def test_unauthorized_on_first_join_raises_from_connect(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.close(code=protocol.CloseCode.UNAUTHORIZED, message=b"bad token")

    server = await fake(script)
    client = connect(server.url, id="fan", event_id=FAKE_EVENT, token="nope", backoff=FAST)
    with pytest.raises(Unauthorized):
        async with client:
            pass
    assert server.joins == [{"type": "join", "id": "fan", "eventId": FAKE_EVENT, "token": "nope"}]
    assert client.state == "closed"


async def test_backoff_grows_per_failed_attempt_and_restarts_after_a_join(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        if n in (1, 2, 3):  # refused before joining: three failed attempts in a row
            await ws.close(code=protocol.CloseCode.SERVICE_RESTART)
            return
        await ws.send_str(joined_text(n, recovered=True if n else None))
        if n in (0, 4):
            await ws.close(code=protocol.CloseCode.SERVICE_RESTART)
            return
        await ws.send_str(score_text(1))  # the next seq after the first joined (0)
        await server.drain(ws, n)

    server = await fake(script)
    rng = TopRng(top=False)  # no waiting; only the ranges matter
    backoff = Backoff(base=0.01, cap=0.04)
    async with connect(
        server.url, id="fan", event_id=FAKE_EVENT, backoff=backoff, rng=rng
    ) as client:
        assert (await next_message(client))["type"] == "joined"
        assert (await next_message(client))["seq"] == 1
        assert rng.ceilings == [0.01, 0.02, 0.04, 0.04, 0.01]
        assert client.reconnects == 2
        assert len(server.joins) == 6


async def test_react_sends_only_valid_reactions(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_str(joined_text(0))
        await server.drain(ws, n)

    server = await fake(script)
    async with connect(server.url, id="fan", event_id=FAKE_EVENT) as client:
        with pytest.raises(InvalidMessage) as info:
            await client.react("")
        assert info.value.code == protocol.ErrorCode.BAD_FIELD
        with pytest.raises(InvalidMessage):
            await client.react("👍", comment="x" * (protocol.MAX_COMMENT_LEN + 1))
        await client.react("👍", comment="nice")
        await wait_until(lambda: bool(server.frames[0]))
    assert server.frames[0] == [{"type": "reaction", "emoji": "👍", "comment": "nice"}]
    with pytest.raises(NotConnected):
        await client.react("👍")


async def test_close_ends_a_waiting_iteration(fake: Any) -> None:
    async def script(ws: web.WebSocketResponse, n: int) -> None:
        await ws.send_str(joined_text(0))
        await server.drain(ws, n)

    server = await fake(script)
    client = connect(server.url, id="fan", event_id=FAKE_EVENT)
    async with client:
        received: list[dict[str, Any]] = []

        async def consume() -> None:
            async for message in client:
                received.append(message)

        consumer = asyncio.create_task(consume())
        await wait_until(lambda: bool(received))
        await client.close()
        await asyncio.wait_for(consumer, 2)  # ends normally, no exception
    assert [m["type"] for m in received] == ["joined"]
    assert client.state == "closed"
