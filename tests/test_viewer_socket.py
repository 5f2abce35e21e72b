"""The connection after the handshake: taken from aiohttp, read by a ViewerSocket.

The first test runs a node in this process (the same Gateway and aiohttp app as
``livegate serve``, on a real socket) so it can look at aiohttp's own books: once a
viewer is upgraded, aiohttp must have forgotten the connection (no request handler, no
task), yet the viewer is served. The others talk to a ``livegate serve`` process.
"""

from __future__ import annotations

import asyncio
import base64
import os
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from livegate.config import Settings
from livegate.gateway import Gateway
from livegate.server import create_app
from livegate.viewer_socket import MAX_QUEUED, accept_key
from tests.conftest import (
    Api,
    LivegateProcess,
    RawWebSocket,
    free_port,
    join_ws,
    recv_type,
)

KEY = "test-key-0123456789"


async def test_aiohttp_forgets_an_upgraded_connection_and_the_viewer_is_served(
    http: aiohttp.ClientSession,
) -> None:
    port = free_port()
    gateway = Gateway(Settings(host="127.0.0.1", port=port, api_key=KEY))
    await gateway.start()
    runner = web.AppRunner(create_app(gateway), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {KEY}"}
        async with http.put(f"{base}/api/events/m1", json={"sport": "generic"}, headers=auth):
            pass
        viewers = [await http.ws_connect(f"ws://127.0.0.1:{port}/ws") for _ in range(5)]
        for i, ws in enumerate(viewers):
            await ws.send_json({"type": "join", "eventId": "m1", "id": f"v{i}"})
            await recv_type(ws, "joined")
        server = runner.server
        assert server is not None
        for _ in range(100):  # the handlers' tasks end a loop turn or two after the 101
            if not server.connections:
                break
            await asyncio.sleep(0.01)
        assert server.connections == []  # aiohttp holds none of the 5 viewers
        async with http.post(
            f"{base}/api/events/m1/updates", json={"score": "1-0"}, headers=auth
        ) as resp:
            assert resp.status == 202
        for ws in viewers:
            assert (await recv_type(ws, "score"))["data"] == {"score": "1-0"}
        await viewers[0].close()
        assert viewers[0].close_code == 1000
        for ws in viewers[1:]:
            await ws.close()
    finally:
        await runner.cleanup()
        await gateway.close()


async def test_frames_sent_with_the_upgrade_request_are_read(shared_server: Any, api: Api) -> None:
    # RFC 6455 asks a client to wait for the 101; one that does not still gets served.
    await api.create_event("early-1", sport="generic")
    reader, writer = await asyncio.open_connection("127.0.0.1", shared_server.port)
    key = base64.b64encode(os.urandom(16)).decode()
    raw = RawWebSocket(reader, writer)
    writer.write(
        (
            f"GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            f"Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        + raw.frame(0x1, orjson.dumps({"type": "join", "eventId": "early-1", "id": "e"}))
        + raw.frame(0x1, b'{"type":"ping","t":7}')
    )
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 101") and accept_key(key).encode() in head
    assert (await raw.recv_json())["type"] == "joined"
    pong = await raw.recv_json()
    assert pong["type"] == "pong" and pong["t"] == 7
    await raw.close()


async def test_messages_behind_a_join_wait_for_it_and_keep_their_order(
    shared_server: LivegateProcess, api: Api
) -> None:
    # A join needs the engine, so it runs in a task; what the client sent after it in
    # the same write (more than MAX_QUEUED messages, so reading pauses too) is handled
    # after it, in order.
    await api.create_event("order-1", sport="generic")
    raw = await RawWebSocket.connect(shared_server)
    count = MAX_QUEUED + 10
    join = raw.frame(0x1, orjson.dumps({"type": "join", "eventId": "order-1", "id": "o"}))
    pings = b"".join(raw.frame(0x1, b'{"type":"ping","t":%d}' % t) for t in range(count))
    raw.writer.write(join + pings)
    assert (await raw.recv_json())["type"] == "joined"
    pongs: list[int] = []
    while len(pongs) < count:
        message = await raw.recv_json()
        if message["type"] == "pong":
            pongs.append(message["t"])
    assert pongs == list(range(count))
    await raw.close()


async def test_a_client_close_is_answered_with_its_code_and_the_connection_ends(
    shared_server: LivegateProcess,
) -> None:
    raw = await RawWebSocket.connect(shared_server)
    await raw.send_frame(0x8, (4321).to_bytes(2, "big") + b"bye")
    read, code = await raw.read_until_gone(5)
    assert code == 4321 and read == 4  # the close frame, then the TCP end


async def test_a_bad_close_frame_is_a_protocol_error(shared_server: LivegateProcess) -> None:
    raw = await RawWebSocket.connect(shared_server)
    await raw.send_frame(0x8, (999).to_bytes(2, "big"))  # not a code a peer may send
    assert (await raw.read_until_gone(5))[1] == 1002


async def test_bad_upgrades_are_400_with_a_json_error(
    http: aiohttp.ClientSession, shared_server: LivegateProcess, api: Api
) -> None:
    good = {
        "Upgrade": "websocket",
        "Connection": "Upgrade",
        "Sec-WebSocket-Version": "13",
        "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode(),
    }
    url = shared_server.url + "/ws"
    for change in (
        {"Upgrade": "h2c"},
        {"Connection": "keep-alive"},
        {"Sec-WebSocket-Version": "8"},
        {"Sec-WebSocket-Key": "c2hvcnQ="},  # 5 bytes
        {"Sec-WebSocket-Key": "not base64!"},
    ):
        async with http.get(url, headers={**good, **change}) as resp:
            assert resp.status == 400, change
            assert (await resp.json())["error"]["code"] == "bad_request"
    async with http.get(url) as resp:  # a browser opening /ws as a page
        assert resp.status == 400
    # The node still serves viewers.
    await api.create_event("after-bad-1", sport="generic")
    ws, joined = await join_ws(http, shared_server, "after-bad-1")
    assert joined["eventId"] == "after-bad-1"
    await ws.close()
