"""Slow, silent and noisy clients: each is bounded in time and in what it costs the node.

Real server processes, raw sockets: a connection that dribbles its headers
(slowloris), an idle keep-alive connection, a WebSocket that never joins, a
ping-frame flood, and unmasked client frames.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from typing import Any

import aiohttp

from livegate.protocol import CloseCode
from tests.conftest import Api, LivegateProcess, RawWebSocket, fetch_metrics, join_ws, metric_value

PING, PONG, CLOSE = 0x9, 0xA, 0x8


async def _open(server: LivegateProcess) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    return await asyncio.open_connection("127.0.0.1", server.port)


async def _closed_within(reader: asyncio.StreamReader, seconds: float) -> bool:
    """Whether the server ends the connection (EOF or reset) within ``seconds``."""
    try:
        while True:
            chunk = await asyncio.wait_for(reader.read(4096), seconds)
            if not chunk:
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except TimeoutError:
        return False


async def test_slowloris_headers_are_cut_off_and_others_are_served(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--header-timeout", "0.6")
    dribblers = [await _open(server) for _ in range(50)]
    silent = [await _open(server) for _ in range(10)]  # never send a byte

    async def dribble(writer: asyncio.StreamWriter) -> None:
        for byte in b"GET /healthz HTTP/1.1\r\nHost: x\r\n":
            writer.write(bytes([byte]))
            await asyncio.sleep(0.2)

    feeding = [asyncio.create_task(dribble(w)) for _, w in dribblers]
    # Meanwhile the node serves everyone else.
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200
    results = await asyncio.gather(*(_closed_within(r, 3) for r, _ in dribblers + silent))
    assert all(results), f"{results.count(False)} slow connections still open"
    for task in feeding:
        task.cancel()
    await asyncio.gather(*feeding, return_exceptions=True)
    for _, writer in dribblers + silent:
        writer.close()
    # A prompt client on a fresh connection is unaffected.
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200


async def test_idle_keepalive_connection_is_closed(server_factory: Any) -> None:
    server: LivegateProcess = server_factory("--keepalive-timeout", "0.5")
    reader, writer = await _open(server)
    writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert head.startswith(b"HTTP/1.1 200")
    assert await _closed_within(reader, 3)
    writer.close()


async def test_websocket_that_never_joins_is_closed_even_if_it_pings(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--join-timeout", "0.6")
    await Api(http, server).create_event("jt")
    idler = await http.ws_connect(server.ws_url)
    joined_ws, _ = await join_ws(http, server, "jt")
    leaver, _ = await join_ws(http, server, "jt", "leaver")
    await leaver.send_str('{"type": "leave"}')

    async def keep_pinging(ws: aiohttp.ClientWebSocketResponse) -> int | None:
        while True:
            await ws.send_str('{"type": "ping"}')
            msg = await ws.receive(timeout=5)
            if msg.type is not aiohttp.WSMsgType.TEXT:
                return msg.data if msg.type is aiohttp.WSMsgType.CLOSE else None
            await asyncio.sleep(0.1)

    codes = await asyncio.gather(keep_pinging(idler), keep_pinging(leaver))
    assert list(codes) == [CloseCode.JOIN_TIMEOUT, CloseCode.JOIN_TIMEOUT]
    # The joined viewer is untouched.
    await joined_ws.send_str('{"type": "ping", "t": 1}')
    msg = await joined_ws.receive(timeout=5)
    assert msg.type is aiohttp.WSMsgType.TEXT
    await joined_ws.close()


async def test_ping_frame_flood_is_rate_limited_then_closed(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory()
    api = Api(http, server)
    await api.create_event("pings")
    viewer, _ = await join_ws(http, server, "pings", "innocent")
    flooders = [await RawWebSocket.connect(server) for _ in range(5)]
    frame = flooders[0].frame(PING, b"x" * 100)
    for raw in flooders:
        raw.writer.write(frame * 5000)  # 5,000 pings back to back
    pongs_and_closes = []
    for raw in flooders:
        pongs = 0
        while True:
            opcode, payload = await raw.recv_frame(timeout=10)
            if opcode == PONG:
                pongs += 1
            elif opcode == CLOSE:
                pongs_and_closes.append((pongs, int.from_bytes(payload[:2], "big")))
                break
    for pongs, code in pongs_and_closes:
        # The burst (40) and a few refills are answered; the rest is not, and
        # sustained flooding ends in 4008 like any other message flood.
        assert pongs <= 60 and code == CloseCode.RATE_LIMIT
    assert (await api.publish("pings", {"n": 1}))["seq"] == 1
    assert (await api.publish("pings", {"n": 2}))["seq"] == 2
    seqs: list[int] = []
    while len(seqs) < 2:
        msg = await viewer.receive(timeout=5)
        if '"type":"score"' in msg.data:
            seqs.append(msg.json()["seq"])
    assert seqs == [1, 2]
    for raw in flooders:
        await raw.close()
    await viewer.close()


async def test_polite_ping_frames_are_answered(server_factory: Any) -> None:
    server: LivegateProcess = server_factory()
    raw = await RawWebSocket.connect(server)
    for i in range(5):
        await raw.send_frame(PING, b"p%d" % i)
        assert await raw.recv_frame() == (PONG, b"p%d" % i)
    await raw.close()


async def test_unmasked_client_frame_closes_1002(server_factory: Any) -> None:
    server: LivegateProcess = server_factory()
    raw = await RawWebSocket.connect(server)
    await raw.send_json({"type": "ping", "t": "masked"})
    assert (await raw.recv_json())["type"] == "pong"
    payload = b'{"type": "ping", "t": "unmasked"}'
    raw.writer.write(bytes((0x81, len(payload))) + payload)  # no mask bit, no key
    opcode, body = await raw.recv_frame()
    assert opcode == CLOSE and int.from_bytes(body[:2], "big") == CloseCode.PROTOCOL_ERROR
    await raw.close()


async def test_pings_queued_behind_a_reset_end_quietly(server_factory: Any) -> None:
    # Found by the fuzzer: answering a ping after the client reset the
    # connection raised from the /ws handler and logged a traceback.
    server: LivegateProcess = server_factory()
    for _ in range(20):
        raw = await RawWebSocket.connect(server)
        raw.writer.write(b"\x89\x80\x00\x00\x00\x00" * 2000)  # 2,000 empty masked pings
        await raw.writer.drain()
        sock = raw.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        raw.abort()
        await asyncio.sleep(0.02)
    await asyncio.sleep(0.3)
    server.stop()
    assert "Traceback" not in server.output.decode(), server.output.decode()[-2000:]


async def test_non_utf8_upgrade_header_is_a_400_not_a_500(server_factory: Any) -> None:
    # Found by the fuzzer: aiohttp quotes the header in its 400 text, and a
    # byte that is not UTF-8 failed to encode there: 500 and a traceback.
    server: LivegateProcess = server_factory()
    for header in (b"Upgrade: websocke\xef", b"Sec-WebSocket-Version: 1\xff"):
        reader, writer = await _open(server)
        base = {
            b"Upgrade": b"Upgrade: websocket",
            b"Sec-WebSocket-Version": b"Sec-WebSocket-Version: 13",
        }
        base[header.split(b":")[0]] = header
        writer.write(
            b"GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\n"
            + b"\r\n".join(base.values())
            + b"\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n"
        )
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
        assert head.startswith(b"HTTP/1.1 400"), head
        writer.close()
    server.stop()
    assert "Traceback" not in server.output.decode()


async def test_frames_past_the_frame_budget_close_4008_before_parsing(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    # 500 one-byte fragments of one small ping message: legal WebSocket, but 500
    # frames to parse for one message. The frame budget (burst 400) stops it.
    server: LivegateProcess = server_factory()
    raw = await RawWebSocket.connect(server)
    message = b'{"type":"ping",' + b" " * 479 + b'"t":1}'
    assert len(message) == 500
    frames = [raw.frame(0x1 if i == 0 else 0x0, message[i : i + 1], fin=False) for i in range(499)]
    raw.writer.write(b"".join(frames) + raw.frame(0x0, message[499:], fin=True))
    opcode, body = await raw.recv_frame()
    assert opcode == CLOSE and int.from_bytes(body[:2], "big") == CloseCode.RATE_LIMIT
    await raw.close()
    # The same message in 100 fragments is within the budget and answered.
    polite = await RawWebSocket.connect(server)
    for i in range(0, 500, 5):
        opcode = 0x1 if i == 0 else 0x0
        await polite.send_frame(opcode, message[i : i + 5], fin=i == 495)
    answer = await polite.recv_json()
    assert answer["type"] == "pong", answer
    await polite.close()
    metrics = await fetch_metrics(http, server)
    assert metric_value(metrics, 'livegate_closes_total{reason="frame_flood"}') == 1
