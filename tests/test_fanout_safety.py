"""No update is lost when viewers drop: one dead socket never stops a fan-out.

The reproduction of the critical defect of issue 7: viewers that reset their TCP
connections (RST) while keep-alive publishers post updates and innocent viewers
watch. Before the fix, a fan-out that met a socket closed under it (uvloop raises
``RuntimeError`` from ``transport.write``) stopped half-way, the publisher got a
500 although the update was stored, and every viewer after the dead one missed it.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import aiohttp
import orjson

from tests.conftest import Api, LivegateProcess, RawWebSocket, join_ws, recv_json

INNOCENT = 20
PUBLISHERS = 8
DROPPERS = 300
DROP_BATCH = 10


async def _drop_with_rst(server: LivegateProcess, event_id: str, user: str) -> None:
    """Join, then vanish with a TCP reset (SO_LINGER 0), never closing the WebSocket."""
    raw = await RawWebSocket.connect(server)
    await raw.send_json({"type": "join", "id": user, "eventId": event_id})
    await raw.recv_type("joined")
    sock = raw.writer.get_extra_info("socket")
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    raw.abort()


async def _collect_scores(ws: aiohttp.ClientWebSocketResponse, seqs: list[int]) -> None:
    while True:
        message = await recv_json(ws, timeout=30)
        if message["type"] == "score":
            seqs.append(message["seq"])


async def test_viewers_resetting_mid_fanout_lose_no_update_and_cause_no_5xx(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory()
    api = Api(http, server)
    event_id = "rst-storm"
    await api.create_event(event_id)
    innocents = [(await join_ws(http, server, event_id, f"fan-{i}"))[0] for i in range(INNOCENT)]
    received: list[list[int]] = [[] for _ in innocents]
    readers = [
        asyncio.create_task(_collect_scores(ws, seqs))
        for ws, seqs in zip(innocents, received, strict=True)
    ]
    statuses: list[int] = []
    acked: list[int] = []
    stop = asyncio.Event()

    async def publisher(n: int) -> None:
        # One keep-alive session per publisher, as a feed would hold.
        async with aiohttp.ClientSession() as session:
            i = 0
            while not stop.is_set():
                i += 1
                async with session.post(
                    f"{server.url}/api/events/{event_id}/updates",
                    data=orjson.dumps({"publisher": n, "i": i}),
                    headers={**server.headers(), "Idempotency-Key": f"p{n}-{i}"},
                ) as resp:
                    statuses.append(resp.status)
                    if resp.status == 202:
                        acked.append((await resp.json())["seq"])

    publishing = [asyncio.create_task(publisher(n)) for n in range(PUBLISHERS)]
    for start in range(0, DROPPERS, DROP_BATCH):
        await asyncio.gather(
            *(
                _drop_with_rst(server, event_id, f"dropper-{i}")
                for i in range(start, start + DROP_BATCH)
            )
        )
    stop.set()
    await asyncio.gather(*publishing)

    assert statuses and all(status == 202 for status in statuses), sorted(set(statuses))
    expected = list(range(1, len(statuses) + 1))
    assert sorted(acked) == expected
    deadline = asyncio.get_running_loop().time() + 15
    while any(len(seqs) < len(expected) for seqs in received):
        assert asyncio.get_running_loop().time() < deadline, [len(s) for s in received]
        await asyncio.sleep(0.05)
    for seqs in received:
        assert seqs == expected  # every seq, once, in order
    for task in readers:
        task.cancel()
    await asyncio.gather(*readers, return_exceptions=True)
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200
    for ws in innocents:
        await ws.close()
