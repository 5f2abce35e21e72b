"""Processes killed under load: nothing acknowledged is lost, nothing hangs.

- A SQLite node SIGKILLed mid-stream and restarted keeps every acknowledged
  update (seq, history, idempotency keys, epoch); viewers resume recovered.
- ``redis-server`` SIGKILLed mid-stream and restarted (AOF): publishes answer
  503 meanwhile, ``/healthz`` too; afterwards seq continues and every
  acknowledged seq reaches every viewer on every node, in order, once.
- ``redis-server`` paused (SIGSTOP) past the client timeout: publishes answer
  503 in bounded time instead of hanging, and the nodes carry on after SIGCONT.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import LivegateProcess, join_ws, recv_json
from tests.services import RedisServer

_prefixes = itertools.count()


async def publish(
    http: aiohttp.ClientSession, node: LivegateProcess, event_id: str, n: int
) -> tuple[int, dict[str, Any]]:
    """One attempt of update ``n`` (Idempotency-Key ``ball-n``): (status, body)."""
    headers = {**node.headers(), "Idempotency-Key": f"ball-{n}"}
    try:
        async with http.post(
            f"{node.url}/api/events/{event_id}/updates",
            data=orjson.dumps({"n": n}),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=10),
        ) as resp:
            body = await resp.json()
            if resp.status == 503:
                assert resp.headers.get("Retry-After") == "1"
            return resp.status, body
    except (aiohttp.ClientConnectionError, TimeoutError):
        return 0, {}


async def publish_until_acked(
    http: aiohttp.ClientSession, node: LivegateProcess, event_id: str, n: int, statuses: list[int]
) -> int:
    """Retry update ``n`` as a careful publisher does until it is acknowledged; its seq."""
    while True:
        status, body = await publish(http, node, event_id, n)
        statuses.append(status)
        if status == 202:
            seq: int = body["seq"]
            return seq
        assert status in (0, 503), (status, body)
        await asyncio.sleep(0.1)


async def collect_scores(ws: aiohttp.ClientWebSocketResponse, until: int) -> list[int]:
    """Seqs of score messages until seq ``until`` arrives."""
    seqs: list[int] = []
    while not seqs or seqs[-1] < until:
        message = await recv_json(ws, timeout=20)
        if message["type"] == "score":
            seqs.append(message["seq"])
    return seqs


async def health(http: aiohttp.ClientSession, node: LivegateProcess) -> int:
    async with http.get(f"{node.url}/healthz") as resp:
        return resp.status


async def test_sqlite_node_killed_mid_stream_loses_nothing(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    node = LivegateProcess("--engine", f"sqlite://{tmp_path / 'livegate.db'}")
    node.start()
    try:
        async with http.put(
            f"{node.url}/api/events/m1", json={"sport": "generic"}, headers=node.headers()
        ) as resp:
            assert resp.status == 201
        ws, joined = await join_ws(http, node, "m1")
        acked: dict[int, int] = {}

        async def publisher() -> None:
            n = 0
            while True:
                n += 1
                status, body = await publish(http, node, "m1", n)
                if status != 202:
                    return  # the node died under this request: unknown outcome
                acked[n] = body["seq"]

        task = asyncio.create_task(publisher())
        while len(acked) < 40:  # noqa: ASYNC110 - the publisher runs on its own
            await asyncio.sleep(0.01)
        node.stop(signal.SIGKILL)
        await task
        last_acked_n = max(acked)
        seen = [s for s in await _drain_scores(ws)]
        await ws.close()

        node.start()
        event = await _get(http, node, "m1")
        # The update in flight at the kill may or may not have committed.
        assert event["seq"] in (acked[last_acked_n], acked[last_acked_n] + 1)
        for n, seq in acked.items():  # every acknowledged update answers its first seq
            status, body = await publish(http, node, "m1", n)
            assert (status, body["seq"], body["duplicate"]) == (202, seq, True)
        status, body = await publish(http, node, "m1", 10_000)
        assert status == 202 and body["seq"] == event["seq"] + 1
        since = seen[-1] if seen else 0
        ws, resumed = await join_ws(http, node, "m1", since=since, epoch=joined["epoch"])
        assert resumed["epoch"] == joined["epoch"] and resumed["recovered"] is True
        assert [m["seq"] for m in resumed["missed"]] == list(range(since + 1, body["seq"] + 1))
        await ws.close()
    finally:
        if node.proc is not None:
            node.stop(signal.SIGKILL)


async def _drain_scores(ws: aiohttp.ClientWebSocketResponse) -> list[int]:
    """Score seqs received until the connection ends (its node was killed)."""
    seqs: list[int] = []
    while True:
        msg = await ws.receive(timeout=5)
        if msg.type != aiohttp.WSMsgType.TEXT:
            return seqs
        message = orjson.loads(msg.data)
        if message["type"] == "score":
            seqs.append(message["seq"])


async def _get(http: aiohttp.ClientSession, node: LivegateProcess, event_id: str) -> Any:
    async with http.get(f"{node.url}/api/events/{event_id}") as resp:
        assert resp.status == 200
        return await resp.json()


@pytest.fixture
async def two_nodes(http: aiohttp.ClientSession) -> AsyncIterator[tuple[RedisServer, list[Any]]]:
    """A redis-server of the test's own (AOF on), two nodes on it, and event ``m1``."""
    redis = RedisServer()
    redis.start()
    prefix = f"f{next(_prefixes)}"
    nodes = [
        LivegateProcess("--engine", redis.url, "--engine-prefix", prefix, "--node-id", f"n{i}")
        for i in range(2)
    ]
    try:
        for node in nodes:
            node.start()
        async with http.put(
            f"{nodes[0].url}/api/events/m1", json={"sport": "generic"}, headers=nodes[0].headers()
        ) as resp:
            assert resp.status == 201
        yield redis, nodes
    finally:
        for node in nodes:
            if node.proc is not None:
                node.stop(signal.SIGKILL)
        redis.close()


async def test_redis_killed_and_restarted_loses_no_acknowledged_update(
    http: aiohttp.ClientSession, two_nodes: tuple[RedisServer, list[LivegateProcess]]
) -> None:
    redis, nodes = two_nodes
    viewers = [(await join_ws(http, node, "m1", f"fan{i}"))[0] for i, node in enumerate(nodes)]
    statuses: list[int] = []
    seqs: list[int] = []
    for n in range(1, 21):
        seqs.append(await publish_until_acked(http, nodes[n % 2], "m1", n, statuses))
    redis.stop(signal.SIGKILL)
    status, body = await publish(http, nodes[0], "m1", 21)
    assert status == 503 and body["error"]["code"] == "engine_unavailable"
    await asyncio.sleep(1.5)  # the health check notices
    assert await health(http, nodes[0]) == 503 and await health(http, nodes[1]) == 503
    redis.start()
    for n in range(21, 41):
        seqs.append(await publish_until_acked(http, nodes[n % 2], "m1", n, statuses))
    assert seqs == list(range(1, 41))  # seq went on where it was
    for ws in viewers:
        assert await collect_scores(ws, 40) == list(range(1, 41))
    async with asyncio.timeout(5):
        while await health(http, nodes[0]) != 200:  # noqa: ASYNC110 - polls a server
            await asyncio.sleep(0.1)


async def test_redis_paused_past_the_timeout_means_503_not_a_hang(
    http: aiohttp.ClientSession, two_nodes: tuple[RedisServer, list[LivegateProcess]]
) -> None:
    redis, nodes = two_nodes
    ws, _ = await join_ws(http, nodes[1], "m1")
    statuses: list[int] = []
    assert await publish_until_acked(http, nodes[0], "m1", 1, statuses) == 1
    redis.pause()
    loop = asyncio.get_running_loop()
    started = loop.time()
    status, _body = await publish(http, nodes[0], "m1", 2)
    assert status == 503
    assert loop.time() - started < 6  # the command timeout, not forever
    assert await health(http, nodes[0]) == 503
    # A join meanwhile is refused with a close code the SDKs retry.
    joining = await http.ws_connect(nodes[0].ws_url)
    await joining.send_str('{"type":"join","id":"late","eventId":"m1"}')
    msg = await joining.receive(timeout=10)
    assert msg.type == aiohttp.WSMsgType.CLOSE and msg.data == 1013
    await joining.close()
    redis.resume()
    for n in range(2, 6):
        await publish_until_acked(http, nodes[0], "m1", n, statuses)
    assert await collect_scores(ws, 5) == [1, 2, 3, 4, 5]
