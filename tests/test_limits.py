"""Amplification and state ceilings: a small request never buys a large answer or state.

Real server, real sockets: a resume is capped by count and bytes, a ``reactions``
aggregate stays within its byte bound under any inbound load, and an event's
``meta`` is replaced (never merged without end) and capped.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import orjson

from livegate import protocol
from tests.conftest import Api, LivegateProcess, join_ws, recv_type


async def test_resume_is_capped_by_count_and_falls_back_to_the_snapshot(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--resume-max-messages", "50")
    api = Api(http, server)
    await api.create_event("amp")
    pad = "x" * 400
    for i in range(1, 61):
        await api.publish("amp", {"i": i, "pad": pad})
    ws, joined = await join_ws(http, server, "amp", since=0)
    assert joined["recovered"] is False and joined["missed"] == []
    assert joined["snapshot"]["i"] == 60 and joined["seq"] == 60
    await ws.close()
    ws, joined = await join_ws(http, server, "amp", since=10)  # exactly 50 missed
    assert joined["recovered"] is True and [m["seq"] for m in joined["missed"]] == list(
        range(11, 61)
    )
    await ws.close()


async def test_resume_is_capped_by_bytes(http: aiohttp.ClientSession, server_factory: Any) -> None:
    server: LivegateProcess = server_factory("--resume-max-bytes", "20000")
    api = Api(http, server)
    await api.create_event("amp-bytes")
    for i in range(1, 11):
        await api.publish("amp-bytes", {"i": i, "pad": "y" * 3000})
    ws = await http.ws_connect(server.ws_url)
    await ws.send_str(orjson.dumps({"id": "a", "eventId": "amp-bytes", "since": 0}).decode())
    msg = await ws.receive(timeout=5)
    joined = orjson.loads(msg.data)
    assert joined["type"] == "joined" and joined["recovered"] is False
    assert len(msg.data) < 5000  # the snapshot only, not ten 3 KB messages
    await ws.send_str(orjson.dumps({"id": "a", "eventId": "amp-bytes", "since": 5}).decode())
    joined = await recv_type(ws, "joined")
    assert joined["recovered"] is True and len(joined["missed"]) == 5
    await ws.close()


async def test_reactions_message_stays_bounded_under_a_wide_flood(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--reaction-window", "0.3")
    api = Api(http, server)
    await api.create_event("react-flood")
    viewers = [(await join_ws(http, server, "react-flood", f"fan-{i}" * 10))[0] for i in range(12)]
    wide = "\U0001f525" * 4
    for n, ws in enumerate(viewers):
        for k in range(6):  # within the reaction burst of 10
            await ws.send_str(
                orjson.dumps(
                    {"type": "reaction", "emoji": f"{wide}{n}{k}", "comment": "\U0001f600" * 280}
                ).decode()
            )
    sizes: list[int] = []
    total = 0
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while total < 72 and loop.time() < deadline:
        msg = await viewers[0].receive(timeout=5)
        if msg.data.startswith('{"type":"reactions"'):
            sizes.append(len(msg.data.encode()))
            aggregate = orjson.loads(msg.data)
            total += sum(aggregate["counts"].values())
            assert len(aggregate["counts"]) <= protocol.MAX_REACTION_KINDS
            assert aggregate["comments"], "some comments fit"
    assert total == 72, "every reaction is counted, in its emoji or in other"
    assert sizes and max(sizes) <= protocol.MAX_REACTIONS_MESSAGE
    for ws in viewers:
        await ws.close()


async def test_meta_is_replaced_and_capped(http: aiohttp.ClientSession, api: Api) -> None:
    server = api.server
    url = f"{server.url}/api/events/meta-cap"
    async with http.put(url, json={"sport": "generic", "a": "1"}, headers=server.headers()) as r:
        assert r.status == 201
    for i in range(20):  # before: merged, so 20 x 300 B fields piled up
        body = {f"k{i}": "v" * 300}
        async with http.put(url, json=body, headers=server.headers()) as r:
            assert r.status == 200
            assert (await r.json())["meta"] == body
    async with http.put(url, json={"title": "Only the title"}, headers=server.headers()) as r:
        assert (await r.json())["meta"] == {"k19": "v" * 300}  # no meta given: kept
    async with http.put(url, json={"big": "z" * 5000}, headers=server.headers()) as r:
        assert r.status == 413 and (await r.json())["error"]["code"] == "too_large"
