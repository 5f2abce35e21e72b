"""Reactions in: what a node spends per reaction, and what goes out whatever comes in.

``--n`` viewers of one event each send reactions at ``--rates`` per second (within the
per-connection limit of 5/s, so none is refused); the node (memory engine, CPU 0) parses,
validates, rate-limits and aggregates them and sends one ``reactions`` aggregate per
0.5 s window to every viewer. The load runs on CPU 1. Reported per inbound rate: the
reactions accepted per second, node CPU µs per accepted reaction and the reactions a
core could take at that cost, and the ``reactions`` messages sent per second (which
must not grow with the inbound rate).

    .venv/bin/python bench/reactions.py                 # N = 15000, 1 and 5/s each (~1 min)
    .venv/bin/python bench/reactions.py --n 5000 --rates 5
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
    Counters,
    Publisher,
    _connect_all,
    _joined_all,
    client_frame,
    raise_nofile_limit,
)

REACTIONS = [
    client_frame(0x1, orjson.dumps({"type": "reaction", "emoji": emoji}))
    for emoji in ("🔥", "👏", "😮", "🏏")
] + [client_frame(0x1, orjson.dumps({"type": "reaction", "emoji": "🔥", "comment": "shot!"}))]


async def _run(args: argparse.Namespace, rate: float, logdir: Path) -> dict[str, Any]:
    node = Node(SERVER_CPU, "memory://", logdir)
    try:
        async with aiohttp.ClientSession() as session:
            await node.ready(session)
            await Publisher(session, node.port, "cricket").create_event()
            counters = Counters()
            loop = asyncio.get_running_loop()
            clients = await _connect_all(loop, counters, node.port, args.n, 500, set(), "r")
            await _joined_all(counters, len(clients), 120)
            accepted = 'livegate_reactions_total{result="accepted"}'
            sent = 'livegate_messages_out_total{type="reactions"}'
            await asyncio.sleep(1)
            accepted0 = await node.metric(session, accepted)
            sent0 = await node.metric(session, sent)
            cpu0, start = node.cpu_s(), time.perf_counter()
            # Every viewer sends at `rate`: the viewers are spread over 20 slots a second.
            slots = 20
            per_slot = [clients[i::slots] for i in range(slots)]
            tick = 0
            while time.perf_counter() - start < args.seconds:
                due = start + tick / slots
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                # A viewer's turn comes once a second; it sends `rate` frames then, within
                # its burst of 10 (the bucket refills at 5/s).
                for index, client in enumerate(per_slot[tick % slots]):
                    if client.t is not None:
                        for k in range(int(rate)):
                            client.t.write(REACTIONS[(index + k) % len(REACTIONS)])
                tick += 1
            await asyncio.sleep(1)  # the last windows go out
            wall = time.perf_counter() - start
            cpu = node.cpu_s() - cpu0
            taken = await node.metric(session, accepted) - accepted0
            aggregates = await node.metric(session, sent) - sent0
            for client in clients:
                if client.t is not None:
                    client.t.abort()
            us = cpu / taken * 1e6 if taken else float("nan")
            return {
                "offered_per_s": args.n * rate,
                "accepted_per_s": taken / args.seconds,
                "node_cpu_us_per_reaction": us,
                "reactions_per_core_s": 1e6 / us if taken else 0.0,
                "aggregates_out_per_s": aggregates / wall,
            }
    finally:
        node.close()


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=15_000)
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--seconds", type=float, default=10.0)
    args = parser.parse_args(argv)
    raise_nofile_limit()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    results = {}
    with tempfile.TemporaryDirectory() as tmp:
        for rate in args.rates:
            results[rate] = asyncio.run(_run(args, rate, Path(tmp)))
    print(f"N = {args.n} viewers reacting")
    print()
    print(
        "| reactions/s per viewer | accepted/s | node CPU µs per reaction | reactions a core "
        "takes at that cost | `reactions` messages out/s |"
    )
    print("|---:|---:|---:|---:|---:|")
    for rate, figures in results.items():
        print(
            f"| {rate:g} | {figures['accepted_per_s']:,.0f} | "
            f"{figures['node_cpu_us_per_reaction']:.2f} | {figures['reactions_per_core_s']:,.0f} | "
            f"{figures['aggregates_out_per_s']:,.0f} |"
        )
    print()
    print(orjson.dumps(results, option=orjson.OPT_NON_STR_KEYS).decode())


if __name__ == "__main__":
    main()
