"""Reactions in: what a node spends per reaction, and what goes out whatever comes in.

``--n`` viewers of one event each send reactions at ``--rates`` per second, one frame at a
time spread over the second (within the per-connection limit, 5/s by default and
``--node-arg=--reaction-rate=R`` to raise it, so none is refused); the node (memory
engine, CPU 0) parses, validates, rate-limits and aggregates them and sends one
``reactions`` aggregate per 0.5 s window to every viewer. The load runs on CPU 1.
Reported per inbound rate: the reactions accepted per second, node CPU µs per accepted
reaction and the reactions a core could take at that cost, and the ``reactions``
messages sent per second (which must not grow with the inbound rate); with two rates or
more, the slope between the lowest and the highest: node CPU per more reaction, apart
from what a second costs whatever the rate.

    .venv/bin/python bench/reactions.py                 # N = 15000, 1 and 5/s each (~1 min)
    .venv/bin/python bench/reactions.py --n 5000 --rates 5
    .venv/bin/python bench/reactions.py --rates 1 5 8 --node-arg=--reaction-rate=10
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
    node = Node(SERVER_CPU, "memory://", logdir, *args.node_arg)
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
            # Every viewer sends one reaction every `period` of the 40 slots a second, so
            # `rate` a second each, spread evenly: a frame a write, as a fan taps.
            period = round(SLOTS / rate)
            tick = 0
            while time.perf_counter() - start < args.seconds:
                due = start + tick / SLOTS
                delay = due - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                frame = REACTIONS[tick % len(REACTIONS)]
                for client in clients[tick % period :: period]:
                    if client.t is not None:
                        client.t.write(frame)
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


SLOTS = 40
"""Send turns a second; a rate must divide it."""


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=15_000)
    parser.add_argument("--rates", type=float, nargs="+", default=[1.0, 5.0])
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument(
        "--node-arg",
        action="append",
        default=[],
        help="extra `livegate serve` argument, repeatable (--node-arg=--reaction-rate=10)",
    )
    args = parser.parse_args(argv)
    for rate in args.rates:
        if SLOTS % rate:
            parser.error(f"each rate must divide {SLOTS}")
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
    if len(results) > 1:
        # What one more reaction costs, apart from the fixed cost of a second (the
        # aggregates out, heartbeats): the slope of node CPU against reactions taken.
        (low, a), (high, b) = min(results.items()), max(results.items())
        cpu_a = a["accepted_per_s"] * a["node_cpu_us_per_reaction"]
        cpu_b = b["accepted_per_s"] * b["node_cpu_us_per_reaction"]
        marginal = (cpu_b - cpu_a) / (b["accepted_per_s"] - a["accepted_per_s"])
        fixed = cpu_a - marginal * a["accepted_per_s"]
        print()
        print(
            f"Between {low:g}/s and {high:g}/s: {marginal:.2f} µs of node CPU per more "
            f"reaction ({1e6 / marginal:,.0f} a core), plus {fixed / 1e4:.1f}% of a core "
            "whatever the rate."
        )
    print()
    print(orjson.dumps(results, option=orjson.OPT_NON_STR_KEYS).decode())


if __name__ == "__main__":
    main()
