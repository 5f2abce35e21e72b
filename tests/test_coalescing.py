"""Coalesced writes: many messages per socket write, each viewer's order unchanged."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.conftest import (
    Api,
    LivegateProcess,
    fetch_metrics,
    join_ws,
    metric_value,
    recv_json,
)


async def test_a_burst_shares_writes_and_keeps_its_order(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--flush-delay", "0.05")
    api = Api(http, server)
    await api.create_event("burst")
    viewers = [(await join_ws(http, server, "burst", f"fan-{i}"))[0] for i in range(3)]
    before = await fetch_metrics(http, server)
    for n in range(1, 11):  # acknowledged one by one, within one 50 ms tick
        await api.publish("burst", {"n": n})
    for ws in viewers:
        seqs: list[int] = []
        while len(seqs) < 10:
            message = await recv_json(ws)
            if message["type"] == "score":
                seqs.append(message["seq"])
        assert seqs == list(range(1, 11))
    after = await fetch_metrics(http, server)

    def grew(name: str) -> float:
        return (metric_value(after, name) or 0) - (metric_value(before, name) or 0)

    deliveries = grew("livegate_fanout_deliveries_total")
    writes = grew("livegate_fanout_writes_total")
    assert deliveries >= 30 and writes <= deliveries / 3, (deliveries, writes)


async def test_a_direct_answer_never_overtakes_queued_messages(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    """A pong (or error, or joined) written while the event's outbox holds scores comes
    after them: the outbox is flushed first."""
    server: LivegateProcess = server_factory("--flush-delay", "0.1")
    api = Api(http, server)
    await api.create_event("order")
    ws, _ = await join_ws(http, server, "order", "fan")
    for n in range(1, 4):
        await api.publish("order", {"n": n})
    await ws.send_str('{"type":"ping","t":"after"}')
    kinds = []
    async with asyncio.timeout(5):
        while "pong" not in kinds:
            message = await recv_json(ws)
            if message["type"] in ("score", "pong"):
                kinds.append(message["type"])
    assert kinds == ["score", "score", "score", "pong"]


async def test_without_coalescing_each_message_is_one_write(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--flush-delay", "-1")
    api = Api(http, server)
    await api.create_event("plain")
    ws, _ = await join_ws(http, server, "plain", "fan")
    for n in range(1, 6):
        await api.publish("plain", {"n": n})
    seqs: list[int] = []
    while len(seqs) < 5:
        message = await recv_json(ws)
        if message["type"] == "score":
            seqs.append(message["seq"])
    text = await fetch_metrics(http, server)
    assert metric_value(text, "livegate_fanout_writes_total") == metric_value(
        text, "livegate_fanout_deliveries_total"
    )


async def _slow_viewer_receives(http: aiohttp.ClientSession, server: LivegateProcess) -> int:
    """Bytes a viewer that stopped reading gets before the server drops it, while 3.2 MB
    of updates are published within one tick."""
    from tests.conftest import RawWebSocket

    api = Api(http, server)
    await api.create_event("big")
    slow = await RawWebSocket.connect(server, rcvbuf=4096)
    await slow.send_json({"type": "join", "id": "slow", "eventId": "big"})
    await slow.recv_type("joined")
    slow.pause_reading()
    pad = "x" * 32 * 1024
    for i in range(1, 101):
        await api.publish("big", {"i": i, "pad": pad})
    received, _code = await slow.read_until_gone(timeout=5)
    text = await fetch_metrics(http, server)
    assert metric_value(text, 'livegate_closes_total{reason="slow_consumer"}') == 1
    return received


async def test_a_slow_viewer_gets_no_more_than_a_flush_past_its_limit(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    """A tick's worth of large updates is not one giant write: an outbox holding 64 KiB
    is written at once, so a slow viewer's send buffer passes its limit by at most that
    much more than without coalescing (the kernel's socket buffers hold the rest)."""
    plain = await _slow_viewer_receives(
        http, server_factory("--max-buffer", "65536", "--flush-delay", "-1")
    )
    coalesced = await _slow_viewer_receives(
        http, server_factory("--max-buffer", "65536", "--flush-delay", "0.1")
    )
    assert coalesced <= plain + 256 * 1024, (plain, coalesced)
