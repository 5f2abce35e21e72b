"""Reconnect storm: every viewer of a node drops at once and comes back with the SDKs' backoff.

Run from the repository root::

    .venv/bin/python bench/storm.py [--n 18000] [--mode kill drain] [--json FILE]

The node (``livegate serve`` on the SQLite engine, the embedded default, so the event
outlives the restart) runs pinned to one core (``taskset -c 0``); this process, the
viewers, runs on the other and starts, kills and restarts the node itself. N viewers
join one event from ``--sources`` addresses (127.0.0.2 and up), then:

- ``kill``: SIGKILL, and the node is started again at once on the same port: every
  connection drops at the same instant, as in a crash or an OOM kill;
- ``drain``: SIGTERM, the node closes every viewer with 1012 over its drain window and
  exits, and is started again: a planned restart.

Each viewer behaves as the SDKs do (``livegate.client.Backoff``, the Python SDK's own
class, whose schedule the JavaScript SDK shares): on a loss it waits
``uniform(0, min(20, 0.5 * 2**attempt))`` seconds, tries again, and restarts its attempt
count once joined; it answers pings and pings every 15 s. Reported: the node's start
time (signal to listening), the time until every viewer is joined again, joins a second
(overall and the best second), refusals by reason (an HTTP status on the upgrade, or a
connection refused while no node listened) and the node's CPU during the storm. Last,
one update is published and must reach all N: nobody came back broken.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, cast

import aiohttp
import orjson

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout import (
    API_KEY,
    EVENT_ID,
    HOST,
    client_frame,
    free_port,
    gateway_command,
    make_payload,
    proc_cpu_seconds,
    raise_nofile_limit,
    stop,
    wait_ready,
)
from bench.wsframes import split_frames
from livegate.client import Backoff

ROOT: Final = Path(__file__).resolve().parent.parent
PING: Final = client_frame(0x9, b"")
PING_EVERY_S: Final = 15.0


class Refused(Exception):
    """The upgrade was answered with something other than 101 (the reason is its status)."""


class Conn(asyncio.Protocol):
    """One connection of a viewer: handshake, join, then watch for scores and the end."""

    __slots__ = ("_buf", "_join", "_request", "_upgraded", "joined", "lost", "scores", "t")

    def __init__(self, request: bytes, join: bytes, loop: asyncio.AbstractEventLoop) -> None:
        self._request = request
        self._join = join
        self._buf = b""
        self._upgraded = False
        self.joined: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.scores = 0
        self.t: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = cast(asyncio.Transport, transport)
        self.t.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.joined.done():
            self.joined.set_exception(ConnectionResetError("lost before joined"))
        if not self.lost.done():
            self.lost.set_result(None)

    def data_received(self, data: bytes) -> None:
        buf = self._buf + data
        if not self._upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self._buf = buf
                return
            head, buf = buf[:end], buf[end + 4 :]
            assert self.t is not None
            if not head.startswith(b"HTTP/1.1 101"):
                if not self.joined.done():
                    self.joined.set_exception(Refused(head[9:12].decode(errors="replace")))
                self.t.abort()
                return
            self._upgraded = True
            self.t.write(self._join)
        spans, pos = split_frames(buf)
        for first, _second, start, end in spans:
            opcode = first & 0x0F
            if opcode == 1:
                if buf.startswith(b'{"type":"score"', start):
                    self.scores += 1
                elif buf.startswith(b'{"type":"joined"', start) and not self.joined.done():
                    self.joined.set_result(None)
            elif opcode == 9 and self.t is not None:
                self.t.write(client_frame(0xA, buf[start:end]))
            elif opcode == 8 and self.t is not None:
                self.t.close()  # the server closed (1012 on a drain): our side is done
        self._buf = buf[pos:]


@dataclass(slots=True)
class Stats:
    joins: list[float] = field(default_factory=list)
    """When each join was answered (``time.monotonic()``)."""
    refusals: list[tuple[str, float]] = field(default_factory=list)
    """Each failed attempt: its reason and when (``time.monotonic()``)."""
    joined_now: int = 0

    def refuse(self, reason: str) -> None:
        self.refusals.append((reason, time.monotonic()))


class Crowd:
    """N viewers, each a coroutine that connects, joins and reconnects with backoff."""

    def __init__(self, args: argparse.Namespace, port: int) -> None:
        self.args = args
        self.port = port
        self.loop = asyncio.get_running_loop()
        self.stats = Stats()
        self.backoff = Backoff()
        self.rng = random.Random(args.seed)
        self.conns: list[Conn | None] = [None] * args.n
        self.tasks: list[asyncio.Task[None]] = []

    def _request(self) -> bytes:
        key = base64.b64encode(os.urandom(16))
        return (
            b"GET /ws HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ) % (HOST.encode(), self.port, key)

    async def _connect(self, i: int) -> Conn:
        join = client_frame(0x1, orjson.dumps({"id": f"v{i}", "eventId": EVENT_ID}))
        source = f"127.0.0.{2 + i % self.args.sources}"
        _, conn = await self.loop.create_connection(
            lambda: Conn(self._request(), join, self.loop), HOST, self.port, local_addr=(source, 0)
        )
        try:
            await asyncio.wait_for(asyncio.shield(conn.joined), 30)
        except BaseException:
            if conn.t is not None:
                conn.t.abort()
            raise
        return conn

    async def viewer(self, i: int) -> None:
        stats = self.stats
        attempt = 0
        first = True
        while True:
            if not first:
                await asyncio.sleep(self.backoff.delay(attempt, self.rng))
                attempt += 1
            first = False
            try:
                conn = await self._connect(i)
            except Refused as exc:
                stats.refuse(f"HTTP {exc}")
                continue
            except ConnectionRefusedError:
                stats.refuse("connection refused (no node listening)")
                continue
            except (OSError, TimeoutError) as exc:
                stats.refuse(type(exc).__name__)
                continue
            stats.joins.append(time.monotonic())
            stats.joined_now += 1
            self.conns[i] = conn
            attempt = 0
            await conn.lost
            stats.joined_now -= 1
            self.conns[i] = None

    def start(self) -> None:
        self.tasks = [self.loop.create_task(self.viewer(i)) for i in range(self.args.n)]

    async def all_joined(self, timeout: float) -> float:
        """Wait until every viewer is joined; return when the last one was."""
        deadline = time.monotonic() + timeout
        while self.stats.joined_now < self.args.n:
            if time.monotonic() > deadline:
                raise RuntimeError(f"only {self.stats.joined_now} of {self.args.n} joined")
            await asyncio.sleep(0.02)
        return self.stats.joins[-1]

    async def pinger(self) -> None:
        while True:
            await asyncio.sleep(PING_EVERY_S)
            for conn in self.conns:
                if conn is not None and conn.t is not None and not conn.t.is_closing():
                    conn.t.write(PING)

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for conn in self.conns:
            if conn is not None and conn.t is not None:
                conn.t.abort()


@dataclass(slots=True)
class StormResult:
    mode: str
    n: int
    sources: int
    initial_join_s: float
    node_start_s: float
    """From the signal to the new node accepting connections."""
    all_rejoined_s: float
    """From the signal to the last viewer joined again."""
    joins_per_s: float
    """N over the time from the new node listening to the last join."""
    best_second_joins: int
    refused: dict[str, int]
    refused_by_new_node: int
    """Upgrades the new node refused with an HTTP status (the limits allow none here)."""
    node_cpu_s: float
    """The new node's CPU from its start to the last join."""
    delivered_after: int


class Node:
    """The node under test, started (and restarted) pinned to the server core."""

    def __init__(self, args: argparse.Namespace, port: int, db: Path, logdir: Path) -> None:
        self.args = args
        self.command = [
            *("taskset", "-c", args.server_cpu),
            *gateway_command(port, "--api-key", API_KEY, "--engine", f"sqlite://{db}"),
        ]
        self.port = port
        self.logdir = logdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        log = self.logdir / f"node-{self.starts}.log"
        with open(log, "wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, stdout=out, stderr=out)
        self.log = log
        return self.proc

    async def ready(self) -> None:
        assert self.proc is not None
        await asyncio.to_thread(wait_ready, self.proc, self.port, self.log, "cricket", 60)

    async def listening(self, timeout: float = 60) -> float:
        """Poll until the node accepts a TCP connection; return when it did."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            assert self.proc is not None
            if self.proc.poll() is not None:
                raise RuntimeError(f"node exited: {self.log.read_text()[-2000:]}")
            with contextlib.suppress(OSError):
                _, writer = await asyncio.open_connection(HOST, self.port)
                writer.close()
                return time.monotonic()
            await asyncio.sleep(0.01)
        raise RuntimeError("node not listening")


async def storm(args: argparse.Namespace, mode: str, logdir: Path) -> StormResult:
    port = free_port()
    node = Node(args, port, logdir / f"storm-{mode}.db", logdir)
    node.start()
    await node.ready()
    crowd = Crowd(args, port)
    t0 = time.monotonic()
    crowd.start()
    await crowd.all_joined(300)
    initial = time.monotonic() - t0
    pinger = asyncio.create_task(crowd.pinger())
    await asyncio.sleep(args.settle)
    crowd.stats.refusals.clear()
    old = node.proc
    assert old is not None
    t_signal = time.monotonic()
    if mode == "kill":
        old.send_signal(signal.SIGKILL)
        await asyncio.to_thread(old.wait)
    else:
        old.send_signal(signal.SIGTERM)
        await asyncio.to_thread(old.wait, 60)
    joins_before = len(crowd.stats.joins)
    new = node.start()
    cpu0 = sum(proc_cpu_seconds(new.pid))
    t_listen = await node.listening()
    last = await crowd.all_joined(600)
    cpu1 = sum(proc_cpu_seconds(new.pid))
    rejoins = crowd.stats.joins[joins_before:]
    per_second = Counter(int(t - t_listen) for t in rejoins)
    refused = dict(Counter(reason for reason, _ in crowd.stats.refusals))
    by_new = sum(
        1 for reason, t in crowd.stats.refusals if reason.startswith("HTTP") and t >= t_listen
    )
    # Every viewer is whole again: one update reaches all of them.
    before = sum(c.scores for c in crowd.conns if c is not None)
    async with aiohttp.ClientSession() as session:
        url = f"http://{HOST}:{port}/api/events/{EVENT_ID}/updates"
        headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
        async with session.post(url, data=make_payload(0, 0), headers=headers) as resp:
            assert resp.status == 202, await resp.text()
    deadline = time.monotonic() + 30
    delivered = 0
    while time.monotonic() < deadline:
        delivered = sum(c.scores for c in crowd.conns if c is not None) - before
        if delivered >= args.n:
            break
        await asyncio.sleep(0.05)
    pinger.cancel()
    crowd.stop()
    stop(new)
    return StormResult(
        mode=mode,
        n=args.n,
        sources=args.sources,
        initial_join_s=initial,
        node_start_s=t_listen - t_signal,
        all_rejoined_s=last - t_signal,
        joins_per_s=args.n / max(1e-9, last - t_listen),
        best_second_joins=max(per_second.values(), default=0),
        refused=refused,
        refused_by_new_node=by_new,
        node_cpu_s=cpu1 - cpu0,
        delivered_after=delivered,
    )


async def run(args: argparse.Namespace) -> list[StormResult]:
    results = []
    with tempfile.TemporaryDirectory(prefix="livegate-storm-") as tmp:
        for mode in args.mode:
            result = await storm(args, mode, Path(tmp))
            results.append(result)
            print(json.dumps(asdict(result)), flush=True)
    return results


def render(results: Sequence[StormResult]) -> str:
    lines = [
        "| restart | N | node up (s) | all rejoined (s) | joins/s | best second | "
        "refused by the new node | other refusals | node CPU (s) | update reached |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results:
        other = sum(v for k, v in r.refused.items()) - r.refused_by_new_node
        lines.append(
            f"| {r.mode} | {r.n:,} | {r.node_start_s:.2f} | {r.all_rejoined_s:.2f} | "
            f"{r.joins_per_s:,.0f} | {r.best_second_joins:,} | {r.refused_by_new_node} | "
            f"{other:,} | {r.node_cpu_s:.2f} | {r.delivered_after:,}/{r.n:,} |"
        )
    lines.append("")
    for r in results:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(r.refused.items())) or "none"
        lines.append(f"- {r.mode}: refusals by reason: {reasons}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=18000)
    parser.add_argument("--mode", nargs="+", choices=("kill", "drain"), default=["kill", "drain"])
    parser.add_argument("--sources", type=int, default=4, help="client addresses 127.0.0.2...")
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--json", type=Path)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if os.sched_getaffinity(0) != {int(args.load_cpu)}:
        # Re-run pinned to the load core; the node is pinned by its own taskset.
        os.execvp("taskset", ["taskset", "-c", args.load_cpu, sys.executable, *sys.argv])
    raise_nofile_limit()
    import uvloop

    results = uvloop.run(run(args))
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in results], indent=1))
    print(render(results))


if __name__ == "__main__":
    main()
