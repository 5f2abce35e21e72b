"""Engine benchmarks: what the SQLite and Redis engines cost, and what many nodes give.

Run from the repository root (needs ``redis-server`` and ``taskset``)::

    .venv/bin/python bench/engines.py [--parts commands publish latency scale]

- **commands**: Redis commands a node sends per publish (with and without an
  Idempotency-Key) and per join (the first join of an event subscribes, the
  others do not), from the node's ``livegate_engine_commands`` counter, and
  what Redis executed (``INFO commandstats``, script bodies included).
- **publish**: one node on each engine (memory, SQLite with ``synchronous=full``
  and ``normal``, Redis) pinned to core 0, publishers on core 1: updates/s and
  server CPU µs per update with ``--publishers`` concurrent publishers on as
  many events, and p50/p99 latency of one publisher publishing back to back.
- **latency**: publish-to-receive p50/p99 at ``--viewers`` viewers (10k), paced
  at 10 updates/s, on 1 node and on 3 nodes sharing one Redis (viewers spread
  evenly, publishes through node 1). Nodes on core 0, load and Redis on core 1.
- **scale**: deliveries/s of a publish burst to ``--scale-viewers`` viewers on 1
  node (core 0) and on 2 nodes (cores 0 and 1), Redis engine both. Measured twice:
  with viewers reading as the bytes come (the load process is on core 1 with one
  node and shares both cores with two), and with viewers holding their reads until
  the nodes wrote every delivery (``livegate_fanout_deliveries_total``), so two
  nodes have the two cores to themselves; every delivery is then read and counted.

The figures and a reading of them are in ``docs/benchmarks.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson
import redis

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout import (
    API_KEY,
    EVENT_ID,
    HOST,
    Counters,
    Publisher,
    _connect_all,
    _joined_all,
    _percentile,
    _wait,
    free_port,
    gateway_command,
    make_payload,
    proc_cpu_seconds,
    raise_nofile_limit,
    start_redis,
    stop,
)

SERVER_CPU: Final = "0"
LOAD_CPU: Final = "1"
HEADERS: Final = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}


class Node:
    """A ``livegate serve`` process pinned to ``cpu``."""

    def __init__(self, cpu: str, engine: str, logdir: Path, *extra: str) -> None:
        self.port = free_port()
        self.url = f"http://{HOST}:{self.port}"
        self.log = logdir / f"node-{self.port}.log"
        command = gateway_command(
            self.port,
            *("--api-key", API_KEY, "--engine", engine, "--log-level", "warning"),
            *("--heartbeat-interval", "300", "--heartbeat-timeout", "600"),
            *extra,
        )
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                ["taskset", "-c", cpu, *command], stdout=out, stderr=subprocess.STDOUT
            )

    async def ready(self, session: aiohttp.ClientSession) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited:\n{self.log.read_text()[-2000:]}")
            with contextlib.suppress(aiohttp.ClientError):
                async with session.get(f"{self.url}/healthz") as resp:
                    if resp.status == 200:
                        return
            await asyncio.sleep(0.1)
        raise RuntimeError("node not ready")

    def cpu_s(self) -> float:
        """CPU seconds of the node, and of its workers when it runs ``--workers``."""
        total = 0.0
        for pid in [self.proc.pid, *_children(self.proc.pid)]:
            with contextlib.suppress(OSError):
                user, system = proc_cpu_seconds(pid)
                total += user + system
        return total

    async def metric(self, session: aiohttp.ClientSession, sample: str) -> float:
        """``sample`` (a metric name, or a name with its labels) summed over the node's
        ``/metrics`` lines: over its labels, and over its workers with ``--workers``."""
        async with session.get(f"{self.url}/metrics") as resp:
            text = await resp.text()
        return sum(
            float(line.split()[1])
            for line in text.splitlines()
            if line.startswith((sample + " ", sample + "{"))
        )

    async def engine_commands(self, session: aiohttp.ClientSession) -> float:
        async with session.get(f"{self.url}/metrics") as resp:
            for line in (await resp.text()).splitlines():
                if line.startswith("livegate_engine_commands "):
                    return float(line.split()[1])
        raise RuntimeError("no livegate_engine_commands")

    def close(self) -> None:
        stop(self.proc)


def _children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as children:
            return [int(child) for child in children.read().split()]
    except OSError:
        return []


async def create(session: aiohttp.ClientSession, url: str, event_id: str, sport: str) -> None:
    body = orjson.dumps({"sport": sport, "title": "Benchmark XI v Load XI"})
    async with session.put(f"{url}/api/events/{event_id}", data=body, headers=HEADERS) as resp:
        assert resp.status in (200, 201), await resp.text()


async def post(
    session: aiohttp.ClientSession, url: str, event_id: str, payload: bytes, key: str | None = None
) -> None:
    headers = dict(HEADERS, **({"Idempotency-Key": key} if key else {}))
    async with session.post(
        f"{url}/api/events/{event_id}/updates", data=payload, headers=headers
    ) as resp:
        if resp.status != 202:
            raise RuntimeError(f"publish: {resp.status} {await resp.text()}")
        await resp.read()


# -- commands per publish and per join ---------------------------------------------------


async def part_commands(args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    redis_proc, url = start_redis(LOAD_CPU)
    node = Node(SERVER_CPU, url, logdir)
    stats = redis.Redis.from_url(url)
    try:
        async with aiohttp.ClientSession() as session:
            await node.ready(session)
            await create(session, node.url, EVENT_ID, "cricket")
            await post(session, node.url, EVENT_ID, make_payload(0, 0))  # warm the scripts
            result: dict[str, Any] = {}
            count = args.count
            for label, keyed in (("publish", False), ("publish with Idempotency-Key", True)):
                before = await node.engine_commands(session)
                stats.config_resetstat()
                for i in range(count):
                    key = f"k-{label}-{i}" if keyed else None
                    await post(session, node.url, EVENT_ID, make_payload(0, i), key)
                sent = await node.engine_commands(session) - before
                result[label] = _per(sent, stats, count)
            # Joins: the first viewer subscribes the node; the rest only read.
            loop = asyncio.get_running_loop()
            counters = Counters()
            for label, event_id in (("first join of an event", "fresh"), ("join", EVENT_ID)):
                if event_id == "fresh":
                    await create(session, node.url, "fresh", "cricket")
                before = await node.engine_commands(session)
                stats.config_resetstat()
                joins = 1 if event_id == "fresh" else count
                clients = await _connect_all(
                    loop, counters, node.port, joins, 50, set(), f"j{event_id}"
                )
                if event_id == "fresh":
                    # The join's own commands (the viewers tick adds its own each second).
                    await asyncio.sleep(0.2)
                else:
                    await asyncio.sleep(0.5)
                sent = await node.engine_commands(session) - before
                result[label] = _per(sent, stats, joins)
                for client in clients:
                    if client.t is not None:
                        client.t.abort()
            return result
    finally:
        stats.close()
        node.close()
        stop(redis_proc)


def _per(sent: float, stats: redis.Redis, count: int) -> dict[str, Any]:
    executed = {
        name.removeprefix("cmdstat_"): round(int(value["calls"]) / count, 2)
        for name, value in stats.info("commandstats").items()
        if name not in ("cmdstat_config|resetstat", "cmdstat_info", "cmdstat_ping")
    }
    return {"sent_per_op": round(sent / count, 2), "redis_executed_per_op": executed}


# -- publish cost per engine ---------------------------------------------------------------


async def part_publish(args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    redis_proc, redis_url = start_redis(LOAD_CPU)
    engines = {
        "memory": "memory://",
        "sqlite full": f"sqlite://{logdir / 'full.db'}?synchronous=full",
        "sqlite normal": f"sqlite://{logdir / 'normal.db'}?synchronous=normal",
        "redis": redis_url,
    }
    engines = {name: url for name, url in engines.items() if name in args.engines}
    results: dict[str, list[dict[str, float]]] = {name: [] for name in engines}
    try:
        for _rep in range(args.repeat):
            for name, url in engines.items():
                results[name].append(await _publish_run(args, url, logdir))
    finally:
        stop(redis_proc)
    return {
        name: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for name, runs in results.items()
    }


async def _publish_run(args: argparse.Namespace, engine: str, logdir: Path) -> dict[str, float]:
    node = Node(SERVER_CPU, engine, logdir)
    try:
        async with aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(limit=args.publishers + 4)
        ) as session:
            await node.ready(session)
            events = [f"p{i}" for i in range(args.publishers)]
            for event_id in events:
                await create(session, node.url, event_id, args.sport)
            # Cricket checks each ball against the last one: every event counts its own.
            balls = dict.fromkeys(events, 0)

            def payload_of(event_id: str) -> bytes:
                balls[event_id] += 1
                return make_payload(0, balls[event_id] - 1)

            for event_id in events:  # warm up
                await post(session, node.url, event_id, payload_of(event_id))
            done = 0
            stop_at = time.perf_counter() + args.seconds
            cpu0, t0 = node.cpu_s(), time.perf_counter()

            async def publisher(event_id: str) -> None:
                nonlocal done
                while time.perf_counter() < stop_at:
                    await post(session, node.url, event_id, payload_of(event_id))
                    done += 1

            await asyncio.gather(*(publisher(e) for e in events))
            wall, cpu = time.perf_counter() - t0, node.cpu_s() - cpu0
            latencies = []
            for i in range(args.count):
                started = time.perf_counter()
                await post(session, node.url, events[0], payload_of(events[0]), f"lat-{i}")
                latencies.append((time.perf_counter() - started) * 1000)
            latencies.sort()
            return {
                "updates_per_s": done / wall,
                "server_cpu_us_per_update": cpu / done * 1e6,
                "p50_ms": _percentile(latencies, 0.5),
                "p99_ms": _percentile(latencies, 0.99),
            }
    finally:
        node.close()


# -- publish to deliver at a feed's rate ------------------------------------------------


async def part_publish_latency(args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    """Publishes at ``--publish-rate``/s through the HTTP API (the memory engine, one
    node on CPU 0, the default coalescing, a generic event) to 100 viewers, all timed: the
    publish-to-receive latency a feed's viewers see, and the node's CPU per publish."""
    node = Node(SERVER_CPU, "memory://", logdir)
    try:
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=64)) as session:
            await node.ready(session)
            # Generic: answers may come back out of order, cricket would refuse a ball early.
            pub = Publisher(session, node.port, "generic")
            await pub.create_event()
            counters = Counters()
            loop = asyncio.get_running_loop()
            viewers = 100
            clients = await _connect_all(
                loop, counters, node.port, viewers, 100, set(range(viewers)), "p"
            )
            await _joined_all(counters, viewers, 30)
            count = int(args.publish_rate * args.seconds)
            counters.record_latency = True
            done = counters.expect(count * viewers, loop)
            cpu0, start = node.cpu_s(), time.perf_counter()
            in_flight: set[asyncio.Task[int]] = set()
            for i in range(count):  # paced, not waiting for each answer
                delay = start + i / args.publish_rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
                task = asyncio.create_task(pub.publish(make_payload(time.perf_counter_ns(), i)))
                in_flight.add(task)
                task.add_done_callback(in_flight.discard)
            await asyncio.gather(*in_flight)
            if not await _wait(done, 60):
                raise RuntimeError(f"{counters.score} of {count * viewers} delivered")
            cpu = node.cpu_s() - cpu0
            latencies = sorted(ns / 1e6 for ns in counters.latencies_ns)
            for client in clients:
                if client.t is not None:
                    client.t.abort()
            return {
                "publishes_per_s": args.publish_rate,
                "publishes": count,
                "delivered_share": counters.score / (count * viewers),
                "node_cpu_us_per_publish": cpu / count * 1e6,
                "p50_ms": _percentile(latencies, 0.5),
                "p99_ms": _percentile(latencies, 0.99),
            }
    finally:
        node.close()


# -- latency: 1 node vs 3 nodes ------------------------------------------------------------


async def part_latency(args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for nodes in (1, 3):
        runs = []
        for _rep in range(args.repeat):
            runs.append(await _latency_run(args, nodes, logdir))
        out[f"{nodes} node{'s' * (nodes > 1)}"] = {
            key: statistics.median(run[key] for run in runs) for key in runs[0]
        }
    return out


async def _viewers_on(nodes: list[Node], total: int, samples: int, counters: Counters) -> list[Any]:
    loop = asyncio.get_running_loop()
    clients: list[Any] = []
    per = total // len(nodes)
    step = max(1, per // max(1, samples // len(nodes)))
    for index, node in enumerate(nodes):
        sampled = set(range(0, per, step))
        clients += await _connect_all(loop, counters, node.port, per, 200, sampled, f"v{index}-")
    return clients


@contextlib.asynccontextmanager
async def _nodes_with_viewers(
    cpus: list[str], logdir: Path, viewers: int, samples: int, workers: int = 1
) -> AsyncIterator[tuple[aiohttp.ClientSession, list[Node], Publisher, Counters, list[Any]]]:
    """Redis, a node per CPU of ``cpus`` (or, with ``workers`` above 1, one node of that
    many workers on all of them), the event, and ``viewers`` joined evenly over the
    nodes (``samples`` of them timed); everything is stopped on the way out."""
    redis_proc, url = start_redis(LOAD_CPU)
    if workers > 1:
        nodes = [Node(",".join(cpus), url, logdir, "--workers", str(workers))]
    else:
        nodes = [Node(cpu, url, logdir) for cpu in cpus]
    clients: list[Any] = []
    try:
        async with aiohttp.ClientSession() as session:
            for node in nodes:
                await node.ready(session)
            pub = Publisher(session, nodes[0].port, "cricket")
            await pub.create_event()
            counters = Counters()
            clients = await _viewers_on(nodes, viewers, samples, counters)
            await _joined_all(counters, len(clients), 60)
            yield session, nodes, pub, counters, clients
    finally:
        for client in clients:
            if client.t is not None:
                client.t.abort()
        for node in nodes:
            node.close()
        stop(redis_proc)


async def _latency_run(args: argparse.Namespace, count: int, logdir: Path) -> dict[str, float]:
    cpus = [SERVER_CPU] * count
    async with _nodes_with_viewers(cpus, logdir, args.viewers, args.samples) as setup:
        _session, _nodes, pub, counters, clients = setup
        viewers = len(clients)
        loop = asyncio.get_running_loop()
        done = counters.expect(viewers, loop)
        await pub.publish(make_payload(time.perf_counter_ns(), 0))
        if not await _wait(done, 60):
            raise RuntimeError(f"{counters.score} of {viewers} got the probe")
        await asyncio.sleep(2)
        counters.latencies_ns.clear()
        counters.record_latency = True
        done = counters.expect(viewers * args.updates, loop)
        start = time.perf_counter()
        for i in range(args.updates):
            delay = start + i / 10 - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await pub.publish(make_payload(time.perf_counter_ns(), i))
        await _wait(done, 60)
        latencies = sorted(ns / 1e6 for ns in counters.latencies_ns)
        return {
            "viewers": viewers,
            "delivered_share": counters.score / (viewers * args.updates),
            "p50_ms": _percentile(latencies, 0.5),
            "p99_ms": _percentile(latencies, 0.99),
        }


# -- scale: 1 node vs 2 nodes ------------------------------------------------------------


async def _written(session: aiohttp.ClientSession, node: Node) -> float:
    """The node's deliveries written to sockets."""
    return await node.metric(session, "livegate_fanout_deliveries_total")


async def part_scale(args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    return await _one_against_two(args, logdir, ("1 node", "2 nodes"), workers=1)


async def part_workers(args: argparse.Namespace, logdir: Path) -> dict[str, Any]:
    """``--workers 2`` on both cores against one worker on one: the same as two nodes,
    on one port."""
    return await _one_against_two(args, logdir, ("1 worker", "2 workers"), workers=2)


async def _one_against_two(
    args: argparse.Namespace, logdir: Path, labels: tuple[str, str], workers: int
) -> dict[str, Any]:
    one, two = labels
    out: dict[str, list[dict[str, float]]] = {one: [], two: []}
    for _rep in range(args.repeat):
        out[one].append(await _scale_run(args, [SERVER_CPU], logdir))
        out[two].append(await _scale_run(args, [SERVER_CPU, LOAD_CPU], logdir, workers))
    medians = {
        label: {key: statistics.median(run[key] for run in runs) for key in runs[0]}
        for label, runs in out.items()
    }
    medians["ratio"] = {
        key: medians[two][key] / medians[one][key]
        for key in ("deliveries_per_s", "held_deliveries_per_s", "deliveries_per_server_cpu_s")
    }
    return medians


async def _scale_run(
    args: argparse.Namespace, cpus: list[str], logdir: Path, workers: int = 1
) -> dict[str, float]:
    # The load follows: one core free for it with one node; with two, it shares.
    os.sched_setaffinity(0, {int(LOAD_CPU)} if len(cpus) == 1 else {0, 1})
    try:
        async with _nodes_with_viewers(cpus, logdir, args.scale_viewers, 0, workers) as setup:
            session, nodes, pub, counters, clients = setup
            loop = asyncio.get_running_loop()
            viewers = len(clients)
            for _warm in range(5):
                done = counters.expect(viewers, loop)
                await pub.publish(make_payload(time.perf_counter_ns(), 0))
                await _wait(done, 60)
            await asyncio.sleep(1)
            expected = viewers * args.updates
            # 1. Viewers reading as they go: the load shares the cores with two nodes.
            done = counters.expect(expected, loop)
            cpu0 = sum(node.cpu_s() for node in nodes)
            t0 = time.perf_counter()
            for i in range(args.updates):
                await pub.publish(make_payload(time.perf_counter_ns(), i))
            await _wait(done, 120)
            wall = time.perf_counter() - t0
            cpu = sum(node.cpu_s() for node in nodes) - cpu0
            reading = counters.score
            await asyncio.sleep(1)
            # 2. Viewers holding their reads (the bytes wait in their kernel buffers)
            # until the nodes wrote every delivery, so the nodes have the cores to
            # themselves; then every delivery is read and counted.
            for client in clients:
                client.t.pause_reading()
            written0 = sum([await _written(session, node) for node in nodes])
            held_t0 = time.perf_counter()
            for i in range(args.updates):
                await pub.publish(make_payload(time.perf_counter_ns(), i))
            while sum([await _written(session, node) for node in nodes]) - written0 < expected:
                if time.perf_counter() - held_t0 > 120:
                    raise RuntimeError("the nodes did not write every delivery in 120 s")
                await asyncio.sleep(0.01)
            held_wall = time.perf_counter() - held_t0
            done = counters.expect(expected, loop)
            for client in clients:
                client.t.resume_reading()
            await _wait(done, 120)
            return {
                "deliveries_per_s": reading / wall,
                "deliveries_per_server_cpu_s": reading / cpu,
                "delivered_share": reading / expected,
                "held_deliveries_per_s": expected / held_wall,
                "held_delivered_share": counters.score / expected,
            }
    finally:
        os.sched_setaffinity(0, {int(LOAD_CPU)})


PARTS: Final = {
    "commands": part_commands,
    "publish": part_publish,
    "latency": part_latency,
    "scale": part_scale,
    "workers": part_workers,
    "publish-latency": part_publish_latency,
}


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--parts", nargs="+", choices=list(PARTS), default=list(PARTS))
    parser.add_argument("--count", type=int, default=200, help="publishes/joins counted")
    parser.add_argument("--publishers", type=int, default=16, help="concurrent publishers")
    parser.add_argument("--seconds", type=float, default=5.0, help="publish phase length")
    parser.add_argument("--viewers", type=int, default=10_000, help="viewers for latency")
    parser.add_argument("--samples", type=int, default=300, help="viewers timed for latency")
    parser.add_argument("--updates", type=int, default=50, help="updates per latency/scale run")
    parser.add_argument("--scale-viewers", type=int, default=5000, help="viewers for scale")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--engines",
        nargs="+",
        default=["memory", "sqlite full", "sqlite normal", "redis"],
        help="engines of the publish part",
    )
    parser.add_argument(
        "--sport", default="generic", help="the publish part's sport (cricket keeps a state)"
    )
    parser.add_argument(
        "--publish-rate", type=float, default=1000.0, help="publishes/s of publish-latency"
    )
    parser.add_argument("--json", help="also write the figures to this file")
    return parser.parse_args(argv)


async def run(args: argparse.Namespace) -> dict[str, Any]:
    raise_nofile_limit()
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    results: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="livegate-engines-") as tmp:
        for part in args.parts:
            t0 = time.monotonic()
            results[part] = await PARTS[part](args, Path(tmp))
            print(
                f"{part} [{time.monotonic() - t0:.0f}s]: {json.dumps(results[part], indent=1)}",
                file=sys.stderr,
                flush=True,
            )
    return results


def main(argv: Sequence[str] | None = None) -> None:
    import uvloop

    args = parse_args(argv)
    results = uvloop.run(run(args))
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps({"args": vars(args), "results": results}, indent=1))
    print(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
