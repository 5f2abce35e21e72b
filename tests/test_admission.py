"""Connection capacity: no crowd, and no single client, takes the node's descriptors.

Real server processes, real sockets. A node caps its WebSocket connections below
its file-descriptor limit (refusing more with 503 and ``Retry-After``) so the
HTTP API and ``/healthz`` always keep working; per-address caps and rates are
optional, and ``X-Forwarded-For`` names the client only behind trusted proxies.
"""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp
import pytest

from tests.conftest import (
    Api,
    LivegateProcess,
    RawWebSocket,
    fetch_metrics,
    join_ws,
    metric_value,
)


async def _try_upgrade(
    http: aiohttp.ClientSession, server: LivegateProcess, headers: dict[str, str] | None = None
) -> aiohttp.ClientWebSocketResponse | aiohttp.WSServerHandshakeError:
    try:
        return await http.ws_connect(server.ws_url, headers=headers)
    except aiohttp.WSServerHandshakeError as refused:
        return refused


async def _node_still_serves(http: aiohttp.ClientSession, server: LivegateProcess) -> None:
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200
    api = Api(http, server)
    await api.create_event("still-serving")
    assert (await api.publish("still-serving", {"n": 1}))["seq"] >= 1


async def test_connections_past_the_cap_get_503_with_retry_after(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--max-connections", "5")
    held = [await http.ws_connect(server.ws_url) for _ in range(5)]
    refused = await _try_upgrade(http, server)
    assert isinstance(refused, aiohttp.WSServerHandshakeError)
    assert refused.status == 503 and refused.headers is not None
    assert int(refused.headers["Retry-After"]) > 0
    async with http.get(server.ws_url.replace("ws://", "http://"), headers=_upgrade()) as resp:
        assert resp.status == 503
        assert (await resp.json())["error"]["code"] == "over_capacity"
    await _node_still_serves(http, server)
    # A slot freed is a slot taken again.
    await held.pop().close()
    for _ in range(50):
        again = await _try_upgrade(http, server)
        if isinstance(again, aiohttp.ClientWebSocketResponse):
            held.append(again)
            break
        await asyncio.sleep(0.05)
    else:
        pytest.fail("the freed slot was never given back")
    metrics = await fetch_metrics(http, server)
    assert metric_value(metrics, 'livegate_refused_upgrades_total{reason="over_capacity"}') == 2
    for ws in held:
        await ws.close()


def _upgrade() -> dict[str, str]:
    return {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
    }


async def test_default_capacity_keeps_descriptors_for_the_api(server_factory: Any) -> None:
    # A process limited to 200 descriptors: the default capacity keeps a reserve
    # (64 here), so at "full" the API and /healthz still get sockets.
    server: LivegateProcess = server_factory(fd_limit=200)
    held: list[aiohttp.ClientWebSocketResponse] = []
    statuses: list[int] = []
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        for _ in range(160):
            outcome = await _try_upgrade(http, server)
            if isinstance(outcome, aiohttp.ClientWebSocketResponse):
                held.append(outcome)
            else:
                statuses.append(outcome.status)
        assert 100 <= len(held) <= 200 - 64
        assert statuses and set(statuses) == {503}
        await _node_still_serves(http, server)
        await held.pop().close()
        await asyncio.sleep(0.2)
        ws, joined = await join_ws(http, server, "still-serving")  # a freed slot is usable
        assert joined["type"] == "joined"
        for held_ws in [*held, ws]:
            await held_ws.close()


async def test_per_address_cap_counts_forwarded_clients_only_behind_trusted_proxies(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory(
        "--max-connections-per-ip", "3", "--trusted-proxies", "127.0.0.1/32,::1"
    )
    first = [
        await http.ws_connect(server.ws_url, headers={"X-Forwarded-For": "203.0.113.7"})
        for _ in range(3)
    ]
    refused = await _try_upgrade(http, server, {"X-Forwarded-For": "203.0.113.7"})
    assert isinstance(refused, aiohttp.WSServerHandshakeError) and refused.status == 429
    assert refused.headers is not None and "Retry-After" in refused.headers
    # Another client behind the same proxy (the rightmost untrusted hop counts).
    other = await http.ws_connect(
        server.ws_url, headers={"X-Forwarded-For": "203.0.113.7, 198.51.100.2"}
    )
    await other.close()
    for ws in first:
        await ws.close()

    plain: LivegateProcess = server_factory("--max-connections-per-ip", "3")
    held = [
        await http.ws_connect(plain.ws_url, headers={"X-Forwarded-For": f"10.0.0.{i}"})
        for i in range(3)
    ]
    # Not a trusted proxy: the header is ignored and all four come from 127.0.0.1.
    refused = await _try_upgrade(http, plain, {"X-Forwarded-For": "10.0.0.99"})
    assert isinstance(refused, aiohttp.WSServerHandshakeError) and refused.status == 429
    for ws in held:
        await ws.close()


async def test_per_address_connection_rate(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory(
        "--connection-rate-per-ip", "0.5", "--connection-burst-per-ip", "4"
    )
    outcomes = [await _try_upgrade(http, server) for _ in range(6)]
    accepted = [o for o in outcomes if isinstance(o, aiohttp.ClientWebSocketResponse)]
    refused = [o for o in outcomes if isinstance(o, aiohttp.WSServerHandshakeError)]
    assert len(accepted) == 4 and [r.status for r in refused] == [429, 429]
    assert refused[0].headers is not None and int(refused[0].headers["Retry-After"]) >= 1
    for ws in accepted:
        await ws.close()
    await _node_still_serves(http, server)


async def test_a_flood_of_silent_sockets_cannot_take_the_api_s_descriptors(
    server_factory: Any,
) -> None:
    # 300 sockets that never send a byte against a process with 200 descriptors:
    # only so many may wait outside a request; the oldest give way to new ones.
    server: LivegateProcess = server_factory(fd_limit=200)
    silent = [await asyncio.open_connection("127.0.0.1", server.port) for _ in range(300)]
    await asyncio.sleep(0.3)
    async with aiohttp.ClientSession() as http:
        await _node_still_serves(http, server)
        metrics = await fetch_metrics(http, server)
    aborted = metric_value(metrics, 'livegate_aborted_connections_total{reason="too_many_waiting"}')
    assert aborted is not None and aborted >= 300 - 200
    for _, writer in silent:
        writer.close()


async def test_idle_keepalive_connections_give_way_to_new_clients(server_factory: Any) -> None:
    # A flash crowd's browsers leave keep-alive connections idle after a page
    # load; 250 of them must not starve a process with 200 descriptors.
    server: LivegateProcess = server_factory(fd_limit=200)
    idle = []
    for _ in range(250):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 200"), head
        idle.append(writer)
    async with aiohttp.ClientSession() as http:
        await _node_still_serves(http, server)
        ws, joined = await join_ws(http, server, "still-serving")
        assert joined["type"] == "joined"
        await ws.close()
    for writer in idle:
        writer.close()


async def test_a_reconnect_storm_is_served_not_taken_for_a_flood(server_factory: Any) -> None:
    # 1,000 upgrades (each with its join) arrive at once, as after a restart: far past the
    # 60 connections that may wait outside a request (fd limit 1200), and more than the
    # node reads and serves in one turn of its loop. None is silent, so none may be
    # aborted as if it were: every one is served.
    server: LivegateProcess = server_factory(fd_limit=1200)
    count = 1000
    async with aiohttp.ClientSession() as http:
        async with http.put(
            f"{server.url}/api/events/storm-1", json={"sport": "generic"}, headers=server.headers()
        ) as resp:
            assert resp.status in (200, 201)

        async def one(i: int) -> RawWebSocket:
            raw = await RawWebSocket.open_upgrade(server)
            raw.writer.write(raw.frame(0x1, b'{"type":"join","eventId":"storm-1","id":"s%d"}' % i))
            return raw

        viewers = await asyncio.gather(*(one(i) for i in range(count)))
        for raw in viewers:
            await raw.expect_upgraded(20)
            assert (await raw.recv_type("joined", 20))["eventId"] == "storm-1"
        metrics = await fetch_metrics(http, server)
        aborted = metric_value(
            metrics, 'livegate_aborted_connections_total{reason="too_many_waiting"}'
        )
        assert not aborted
        for raw in viewers:
            raw.abort()
