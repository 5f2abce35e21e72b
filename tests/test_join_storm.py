"""Many joins at once on the Redis engine: shared engine reads, nothing lost, nobody timed out.

After a node restart every viewer joins again within a second or two. Each join
reading the event and reporting the viewer count by itself cost two Redis round
trips a join, which at 18,000 viewers timed joins out (4002) and exhausted the
connection pool (1013): the storm took 100 s to settle instead of 20. Joins of
one event now share those calls (``livegate.batcher``), and a join waiting for
the engine is never closed for not having joined.
"""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
import orjson

from livegate.protocol import CloseCode
from tests.conftest import Api, LivegateProcess, fetch_metrics, metric_value, recv_json
from tests.services import RedisServer

_prefixes = itertools.count()
VIEWERS = 300
UPDATES = 5


async def engine_commands(http: aiohttp.ClientSession, node: LivegateProcess) -> float:
    value = metric_value(await fetch_metrics(http, node), "livegate_engine_commands")
    assert value is not None
    return value


async def scores_until(ws: aiohttp.ClientWebSocketResponse, last: int) -> tuple[int, list[int]]:
    """The seq in ``joined``, then the seqs of the scores after it until ``last``."""
    joined = await recv_json(ws, timeout=20)
    assert joined["type"] == "joined", joined
    seqs: list[int] = []
    seq = joined["seq"]
    while seq < last:
        message = await recv_json(ws, timeout=20)
        if message["type"] == "score":
            seq = message["seq"]
            seqs.append(seq)
    return joined["seq"], seqs


async def test_a_storm_of_joins_shares_engine_reads_and_loses_nothing(
    http: aiohttp.ClientSession, redis_server: Any
) -> None:
    node = LivegateProcess(
        "--engine", redis_server.url, "--engine-prefix", f"storm{next(_prefixes)}"
    )
    node.start()
    try:
        api = Api(http, node)
        await api.create_event("storm")
        for n in range(2):
            await api.publish("storm", {"n": n})
        # A session of their own: the shared one holds at most 100 connections.
        viewers = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0))
        sockets = [await viewers.ws_connect(node.ws_url) for _ in range(VIEWERS)]
        before = await engine_commands(http, node)

        async def publish_during_the_joins() -> None:
            for n in range(2, 2 + UPDATES):
                await api.publish("storm", {"n": n})
                await asyncio.sleep(0.005)

        joins = [
            ws.send_str(orjson.dumps({"type": "join", "id": f"v{i}", "eventId": "storm"}).decode())
            for i, ws in enumerate(sockets)
        ]
        await asyncio.gather(*joins, publish_during_the_joins())
        last = 2 + UPDATES
        seen = await asyncio.gather(*(scores_until(ws, last) for ws in sockets))
        for joined_seq, seqs in seen:
            # Whenever its join was read, a viewer gets every later score, once, in order.
            assert seqs == list(range(joined_seq + 1, last + 1))
        used = await engine_commands(http, node) - before
        # Alone, each join cost 2 commands (the read and the viewer count): 600 here.
        # The publishes cost about 3 each, the counts a second 1.
        assert used < VIEWERS / 3, used
        await viewers.close()
    finally:
        node.stop()


async def test_a_join_waiting_on_a_stalled_engine_is_not_closed_as_idle(
    http: aiohttp.ClientSession,
) -> None:
    redis = RedisServer()
    redis.start()
    node = LivegateProcess("--engine", redis.url, "--join-timeout", "0.5")
    try:
        node.start()
        await Api(http, node).create_event("slow")
        ws = await http.ws_connect(node.ws_url)
        redis.pause()
        await ws.send_str('{"type": "join", "id": "patient", "eventId": "slow"}')
        # The join timeout (0.5 s) passes while the join waits; it ends when the
        # engine's own timeout does, with the code the SDKs retry.
        msg = await ws.receive(timeout=10)
        assert msg.type is aiohttp.WSMsgType.CLOSE, msg
        assert msg.data == CloseCode.TRY_AGAIN_LATER
        redis.resume()
        # A socket that sends no join is still closed for it.
        idle = await http.ws_connect(node.ws_url)
        msg = await idle.receive(timeout=10)
        assert msg.type is aiohttp.WSMsgType.CLOSE and msg.data == CloseCode.JOIN_TIMEOUT
    finally:
        redis.resume()
        node.stop()
        redis.close()
