"""Many nodes on one Redis: every node serves every event, with the single node's guarantees.

Three real ``livegate serve`` processes on a ``redis-server`` of the tests' own
(each test with its own key prefix); viewers and publishers on different nodes.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import (
    Api,
    LivegateProcess,
    join_ws,
    recv_json,
    recv_type,
)

_prefixes = itertools.count()


class Cluster:
    """``nodes`` livegate processes sharing one Redis under one key prefix."""

    def __init__(self, redis_url: str, count: int, *extra: str) -> None:
        prefix = f"c{next(_prefixes)}"
        self.nodes = [
            LivegateProcess(
                *("--engine", redis_url, "--engine-prefix", prefix),
                *("--node-id", f"node-{i}", "--reaction-window", "0.2"),
                *extra,
            )
            for i in range(count)
        ]

    def start(self) -> None:
        for node in self.nodes:
            node.start()

    def stop(self) -> None:
        for node in self.nodes:
            if node.proc is not None:
                node.stop(signal.SIGKILL)


@pytest.fixture
def cluster(redis_server: Any) -> Iterator[Cluster]:
    nodes = Cluster(redis_server.url, 3)
    nodes.start()
    yield nodes
    nodes.stop()


def apis(http: aiohttp.ClientSession, cluster: Cluster) -> list[Api]:
    return [Api(http, node) for node in cluster.nodes]


async def scores(ws: aiohttp.ClientWebSocketResponse, count: int) -> list[int]:
    """The seqs of the next ``count`` score messages."""
    seqs: list[int] = []
    while len(seqs) < count:
        message = await recv_json(ws)
        if message["type"] == "score":
            seqs.append(message["seq"])
    return seqs


async def test_create_on_one_publish_on_another_watch_on_a_third(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    a, b, c = apis(http, cluster)
    await a.create_event("final", "generic", "The final")
    viewers = [
        (await join_ws(http, node, "final", f"fan{i}"))[0] for i, node in enumerate(cluster.nodes)
    ]
    for i in range(30):
        result = await (a, b, c)[i % 3].publish("final", {"n": i})
        assert result["seq"] == i + 1
    for ws in viewers:
        assert await scores(ws, 30) == list(range(1, 31))
    events = [await api.get_event("final") for api in (a, b, c)]
    for event in events:
        event.pop("viewers")
    assert events[0] == events[1] == events[2]
    assert events[0]["seq"] == 30 and events[0]["status"] == "live"
    await c.end("final")
    for ws in viewers:
        assert (await recv_type(ws, "ended"))["eventId"] == "final"
    await b.publish("final", {"n": 99}, expect=409)
    for node in cluster.nodes:
        async with http.get(f"{node.url}/api/events") as resp:
            listed = [event["eventId"] for event in (await resp.json())["events"]]
            assert listed == ["final"]


async def test_a_retry_on_another_node_gets_the_first_seq(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    a, b, _ = apis(http, cluster)
    await a.create_event("m1")
    first = await a.publish("m1", {"n": 1}, key="ball-1")
    again = await b.publish("m1", {"n": 1}, key="ball-1")
    assert (again["seq"], again["duplicate"]) == (first["seq"], True)
    assert (await b.get_event("m1"))["seq"] == 1


async def test_resume_on_any_node(http: aiohttp.ClientSession, cluster: Cluster) -> None:
    a, _, c = apis(http, cluster)
    await a.create_event("m1")
    ws, joined = await join_ws(http, cluster.nodes[0], "m1")
    for i in range(5):
        await a.publish("m1", {"n": i})
    assert await scores(ws, 5) == [1, 2, 3, 4, 5]
    await ws.close()
    for i in range(5, 8):
        await c.publish("m1", {"n": i})
    ws, resumed = await join_ws(http, cluster.nodes[2], "m1", since=5, epoch=joined["epoch"])
    assert resumed["recovered"] is True
    assert [m["seq"] for m in resumed["missed"]] == [6, 7, 8]
    await ws.close()


async def test_two_first_moves_at_once_on_two_nodes_accept_exactly_one(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    a, b, _ = apis(http, cluster)
    after_e4 = "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"
    after_d4 = "rnbqkbnr/pppppppp/8/8/3P4/8/PPP1PPPP/RNBQKBNR b KQkq - 0 1"
    e4 = {"ply": 1, "san": "e4", "uci": "e2e4", "fen": after_e4}
    d4 = {"ply": 1, "san": "d4", "uci": "d2d4", "fen": after_d4}

    async def send(api: Api, event_id: str, move: dict[str, Any]) -> int:
        async with http.post(
            f"{api.server.url}/api/events/{event_id}/updates",
            data=orjson.dumps(move),
            headers=api.server.headers(),
        ) as resp:
            return resp.status

    for round_ in range(15):
        event_id = f"game-{round_}"
        await a.create_event(event_id, "chess")
        statuses = await asyncio.gather(send(a, event_id, e4), send(b, event_id, d4))
        assert sorted(statuses) in ([202, 409], [202, 422]), statuses
        event = await a.get_event(event_id)
        assert event["seq"] == 1 and event["snapshot"]["fen"] in (after_e4, after_d4)


async def test_viewer_counts_sum_over_nodes_and_a_killed_node_leaves_them(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    a, _, _ = apis(http, cluster)
    await a.create_event("m1")
    on_a = [(await join_ws(http, cluster.nodes[0], "m1", f"a{i}"))[0] for i in range(2)]
    on_b = [(await join_ws(http, cluster.nodes[1], "m1", f"b{i}"))[0] for i in range(3)]
    assert await _count_reaching(on_a[0], 5)
    assert await _count_reaching(on_b[0], 5)
    event = await a.get_event("m1")
    assert event["viewers"] == 5 and event["peakViewers"] == 5
    cluster.nodes[1].stop(signal.SIGKILL)
    loop = asyncio.get_running_loop()
    killed_at = loop.time()
    assert await _count_reaching(on_a[0], 2, timeout=8)
    assert loop.time() - killed_at < 5.5  # the bound: gone within 5 s
    assert (await a.get_event("m1"))["peakViewers"] == 5
    # The survivors miss nothing: updates published through a third node reach them all.
    for i in range(5):
        await apis(http, cluster)[2].publish("m1", {"n": i})
    for ws in on_a:
        assert await scores(ws, 5) == [1, 2, 3, 4, 5]


async def _count_reaching(
    ws: aiohttp.ClientWebSocketResponse, count: int, timeout: float = 5
) -> bool:
    """True once a ``viewers`` message with ``count`` arrives (fails after ``timeout``)."""
    async with asyncio.timeout(timeout):
        while True:
            message = await recv_json(ws, timeout)
            if message["type"] == "viewers" and message["count"] == count:
                return True


async def test_reactions_of_every_node_reach_every_viewer(
    http: aiohttp.ClientSession, cluster: Cluster
) -> None:
    a, _, _ = apis(http, cluster)
    await a.create_event("m1")
    ws_a, _ = await join_ws(http, cluster.nodes[0], "m1", "fan-a")
    ws_b, _ = await join_ws(http, cluster.nodes[1], "m1", "fan-b")
    ws_c, _ = await join_ws(http, cluster.nodes[2], "m1", "fan-c")
    for _ in range(3):
        await ws_a.send_str('{"type":"reaction","emoji":"🔥"}')
    for _ in range(2):
        await ws_b.send_str('{"type":"reaction","emoji":"👏","comment":"what a catch"}')
    for ws in (ws_a, ws_b, ws_c):
        totals: dict[str, int] = {}
        comments: list[str] = []
        async with asyncio.timeout(5):
            while totals != {"🔥": 3, "👏": 2}:
                message = await recv_type(ws, "reactions")
                for emoji, count in message["counts"].items():
                    totals[emoji] = totals.get(emoji, 0) + count
                comments += [c["comment"] for c in message["comments"]]
        assert comments == ["what a catch"] * 2
