"""Coalescing on a hot event's mixed stream, against the same gateway writing each message.

One event, ``--n`` viewers, and what a final sends them at once: scores at 10/s, a
``reactions`` aggregate every 0.5 s (reactors send 200 reactions/s from the load
process), a ``viewers`` count every second (a churner joins and leaves), then a burst
of 200 updates/s for 2 s. The same load runs against ``livegate serve`` with its
default coalescing (``--flush-delay`` 5 ms) and with ``--flush-delay -1`` (a write per
message, what it did before), each pinned to CPU 0, the load on CPU 1. Reported per
server: node CPU µs per delivered message, messages per socket write, and each phase's
deliveries.

    .venv/bin/python bench/mixed.py              # N = 5000 (~2 min)
    .venv/bin/python bench/mixed.py --n 1000
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engines import LOAD_CPU, SERVER_CPU, Node
from bench.fanout import (
    API_KEY,
    EVENT_ID,
    Counters,
    Publisher,
    _connect_all,
    _joined_all,
    make_payload,
    raise_nofile_limit,
)


async def _reactor(url: str, index: int, per_s: float, stop_at: float) -> None:
    async with aiohttp.ClientSession() as session, session.ws_connect(url) as ws:
        await ws.send_str(orjson.dumps({"id": f"r{index}", "eventId": EVENT_ID}).decode())
        while time.perf_counter() < stop_at:
            await ws.send_str('{"type":"reaction","emoji":"🔥"}')
            await asyncio.sleep(1 / per_s)


async def _churner(url: str, stop_at: float) -> None:
    """Joins and leaves once a second, so the viewer count changes every tick."""
    async with aiohttp.ClientSession() as session:
        while time.perf_counter() < stop_at:
            async with session.ws_connect(url) as ws:
                await ws.send_str(orjson.dumps({"id": "churn", "eventId": EVENT_ID}).decode())
                await asyncio.sleep(0.5)
            await asyncio.sleep(0.5)


async def _phase(
    session: aiohttp.ClientSession,
    node: Node,
    counters: Counters,
    pub: Publisher,
    rate: float,
    seconds: float,
    first: int,
) -> dict[str, float]:
    """Publish at ``rate``/s for ``seconds`` with reactions and churn running."""
    before_delivered = counters.score + counters.other
    cpu0 = node.cpu_s()
    messages0 = await node.metric(session, "livegate_fanout_deliveries_total")
    writes0 = await node.metric(session, "livegate_fanout_writes_total")
    start = time.perf_counter()
    for i in range(int(rate * seconds)):
        delay = start + i / rate - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        await pub.publish(make_payload(time.perf_counter_ns(), first + i))
    await asyncio.sleep(1.0)  # the last messages, and a reactions window, arrive
    cpu = node.cpu_s() - cpu0
    messages = await node.metric(session, "livegate_fanout_deliveries_total") - messages0
    writes = await node.metric(session, "livegate_fanout_writes_total") - writes0
    delivered = counters.score + counters.other - before_delivered
    return {
        "delivered": delivered,
        "cpu_us_per_delivered": cpu / delivered * 1e6 if delivered else float("nan"),
        "messages_per_write": messages / writes if writes else float("nan"),
    }


async def _run(args: argparse.Namespace, flush_delay: str, logdir: Path) -> dict[str, Any]:
    node = Node(SERVER_CPU, "memory://", logdir, "--flush-delay", flush_delay)
    try:
        async with aiohttp.ClientSession() as session:
            await node.ready(session)
            pub = Publisher(session, node.port, "cricket")
            await pub.create_event()
            counters = Counters()
            loop = asyncio.get_running_loop()
            clients = await _connect_all(loop, counters, node.port, args.n, 200, set(), "v")
            await _joined_all(counters, len(clients), 60)
            ws_url = f"ws://127.0.0.1:{node.port}/ws"
            stop_at = time.perf_counter() + args.seconds + 2 + 3
            extras = [asyncio.create_task(_reactor(ws_url, i, 4, stop_at)) for i in range(50)]
            extras.append(asyncio.create_task(_churner(ws_url, stop_at)))
            await asyncio.sleep(1.5)
            steady = await _phase(session, node, counters, pub, 10, args.seconds, 0)
            burst = await _phase(session, node, counters, pub, 200, 2, int(10 * args.seconds))
            await asyncio.gather(*extras, return_exceptions=True)
            for client in clients:
                if client.t is not None:
                    client.t.abort()
            return {"steady": steady, "burst": burst}
    finally:
        node.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--seconds", type=float, default=6.0, help="steady phase length")
    args = parser.parse_args(argv)
    raise_nofile_limit()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    assert API_KEY  # the nodes take the benchmark key
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for label, delay in (("coalesced (5 ms)", "0.005"), ("a write per message", "-1")):
            results[label] = asyncio.run(_run(args, delay, Path(tmp)))
    print(f"N = {args.n}: node CPU µs per delivered message, messages per socket write")
    print()
    print("| phase | coalesced (5 ms) | a write per message | ratio |")
    print("|---|---:|---:|---:|")
    on, off = results["coalesced (5 ms)"], results["a write per message"]
    for phase in ("steady", "burst"):
        ratio = on[phase]["cpu_us_per_delivered"] / off[phase]["cpu_us_per_delivered"]
        print(
            f"| {phase}: CPU µs/delivered | {on[phase]['cpu_us_per_delivered']:.2f} | "
            f"{off[phase]['cpu_us_per_delivered']:.2f} | {ratio:.2f} |"
        )
        print(
            f"| {phase}: messages/write | {on[phase]['messages_per_write']:.2f} | "
            f"{off[phase]['messages_per_write']:.2f} | |"
        )
        print(
            f"| {phase}: delivered | {on[phase]['delivered']:,.0f} | "
            f"{off[phase]['delivered']:,.0f} | |"
        )
    print()
    print(orjson.dumps(results).decode())


if __name__ == "__main__":
    main()
