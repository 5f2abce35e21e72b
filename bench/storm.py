"""Many viewers on one node, and the reconnect storm when they all drop at once.

Run from the repository root::

    .venv/bin/python bench/storm.py                               # 18,000 on one process
    .venv/bin/python bench/storm.py --n 100000 --workers 6        # 100,000 on 6 workers

The node runs pinned to one core (``taskset -c 0``): one ``livegate serve`` process on
the SQLite engine (the embedded default, so the event outlives a restart), or with
``--workers W`` a supervisor and W workers on the Redis engine (a redis-server of the
benchmark's own, on the node's core too, at niceness -10 so the workers do not starve
it). The viewers run on the other core, in
``--crowds`` load processes (this script with ``--crowd``; a process holds at most
~19,000 sockets here), each from source addresses of its own (127.0.0.10 and up).

1. **Many viewers**: N viewers join one event (opened 500 at a time), ping every 15 s
   as the SDKs do, and get a score every second for ``--score-seconds``: the node's
   RSS per joined idle viewer (all its processes), its CPU a second, and every score
   must reach every viewer.
2. **The storm**, for each ``--mode``:
   - ``kill``: SIGKILL to the node (to every worker with ``--workers``: the supervisor
     starts them again after its 1 s restart delay), and a new node at once: every
     connection drops at the same instant, as in a crash;
   - ``drain``: SIGTERM, the node closes every viewer with 1012 over its drain window
     and exits, and is started again: a planned restart.

   Each viewer behaves as the SDKs do (``livegate.client.Backoff``, the Python SDK's
   own class, whose schedule the JavaScript SDK shares): on a loss it waits
   ``uniform(0, min(20, 0.5 * 2**attempt))`` seconds, tries again, and restarts its
   attempt count once joined. Reported: the node's start (signal to listening), the
   time until every viewer is joined again, joins a second (overall and the best
   second), refusals by reason (an HTTP status on the upgrade, or a connection refused
   while no node listened) and the node's CPU during the storm. Last, one update is
   published and must reach all N: nobody came back broken.
"""

from __future__ import annotations

import argparse
import asyncio
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
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, cast

import aiohttp
import orjson

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout import (
    API_KEY,
    EVENT_ID,
    HOST,
    client_frame,
    connect_from,
    free_port,
    gateway_command,
    handshake,
    make_payload,
    proc_cpu_seconds,
    proc_rss_kib,
    raise_nofile_limit,
    start_redis,
    stop,
    wait_ready,
)
from bench.wsframes import split_frames
from livegate.client import Backoff

ROOT: Final = Path(__file__).resolve().parent.parent
SCRIPT: Final = str(Path(__file__).resolve())
PING: Final = client_frame(0x9, b"")
PING_EVERY_S: Final = 15.0
OPEN_BATCH: Final = 500


# -- a crowd: one load process's viewers -------------------------------------------------


class Refused(Exception):
    """The upgrade was answered with something other than 101 (the reason is its status)."""


class ClosedBeforeJoined(Exception):
    """The node closed the WebSocket before ``joined`` (the reason is the close code)."""


@dataclass(slots=True)
class Stats:
    """What a crowd saw since the orchestrator last asked (but the running totals)."""

    joins: list[float] = field(default_factory=list)
    """When each join was answered (``time.monotonic()``, the same clock in every process)."""
    refusals: list[tuple[str, float]] = field(default_factory=list)
    joined_now: int = 0
    scores: int = 0

    def refuse(self, reason: str) -> None:
        self.refusals.append((reason, time.monotonic()))


def by_reason(refusals: list[tuple[str, float]]) -> dict[str, int]:
    """Failed attempts counted by reason."""
    return dict(Counter(reason for reason, _ in refusals))


class Conn(asyncio.Protocol):
    """One connection of a viewer: handshake, join, then count scores until it ends."""

    __slots__ = ("_buf", "_join", "_request", "_upgraded", "joined", "lost", "stats", "t")

    def __init__(
        self, request: bytes, join: bytes, stats: Stats, loop: asyncio.AbstractEventLoop
    ) -> None:
        self._request = request
        self._join = join
        self.stats = stats
        self._buf = b""
        self._upgraded = False
        self.joined: asyncio.Future[None] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.t: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = cast(asyncio.Transport, transport)
        self.t.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self._refuse(ConnectionResetError("lost before joined"))
        if not self.lost.done():
            self.lost.set_result(None)

    def _refuse(self, error: Exception) -> None:
        if not self.joined.done():
            self.joined.set_exception(error)
            # The viewer may have stopped waiting (its 30 s timeout): not worth a log line.
            self.joined.exception()

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
                self._refuse(Refused(head[9:12].decode(errors="replace")))
                self.t.abort()
                return
            self._upgraded = True
            self.t.write(self._join)
        spans, pos = split_frames(buf)
        for first, _second, start, end in spans:
            opcode = first & 0x0F
            if opcode == 1:
                if buf.startswith(b'{"type":"score"', start):
                    self.stats.scores += 1
                elif buf.startswith(b'{"type":"joined"', start) and not self.joined.done():
                    self.joined.set_result(None)
            elif opcode == 9 and self.t is not None:
                self.t.write(client_frame(0xA, buf[start:end]))
            elif opcode == 8 and self.t is not None:
                code = int.from_bytes(buf[start : start + 2]) if end - start >= 2 else 1005
                self._refuse(ClosedBeforeJoined(str(code)))
                self.t.close()  # the server closed (1012 on a drain): our side is done
        self._buf = buf[pos:]


class Crowd:
    """Viewers ``first`` to ``first + count - 1``: each a coroutine that connects, joins,
    and reconnects with the SDKs' backoff."""

    def __init__(self, port: int, first: int, count: int, sources: list[str], seed: int) -> None:
        self.port = port
        self.first = first
        self.count = count
        self.sources = sources
        self.loop = asyncio.get_running_loop()
        self.stats = Stats()
        self.backoff = Backoff()
        self.rng = random.Random(seed)
        self.conns: list[Conn | None] = [None] * count
        self.tasks: list[asyncio.Task[None]] = []

    async def _connect(self, i: int) -> Conn:
        join = client_frame(0x1, orjson.dumps({"id": f"v{self.first + i}", "eventId": EVENT_ID}))
        source = self.sources[i % len(self.sources)]
        conn = await connect_from(
            self.loop,
            lambda: Conn(handshake(self.port)[0], join, self.stats, self.loop),
            self.port,
            source,
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
            except ClosedBeforeJoined as exc:
                stats.refuse(f"closed {exc} before joined")
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

    async def open(self) -> None:
        """Start every viewer, ``OPEN_BATCH`` at a time, each batch joined before the next."""
        for start in range(0, self.count, OPEN_BATCH):
            end = min(self.count, start + OPEN_BATCH)
            self.tasks += [self.loop.create_task(self.viewer(i)) for i in range(start, end)]
            deadline = time.monotonic() + 120
            while self.stats.joined_now < end:
                if time.monotonic() > deadline:
                    raise RuntimeError(
                        f"only {self.stats.joined_now} of {end} joined; failed attempts: "
                        f"{by_reason(self.stats.refusals)}"
                    )
                await asyncio.sleep(0.01)

    async def pinger(self) -> None:
        while True:
            await asyncio.sleep(PING_EVERY_S)
            for conn in self.conns:
                if conn is not None and conn.t is not None and not conn.t.is_closing():
                    conn.t.write(PING)

    def report(self) -> dict[str, Any]:
        """The running totals, and the joins and refusals since the last report."""
        stats = self.stats
        out = {
            "joined_now": stats.joined_now,
            "scores": stats.scores,
            "joins": stats.joins,
            "refusals": stats.refusals,
        }
        stats.joins, stats.refusals = [], []
        return out

    def stop(self) -> None:
        for task in self.tasks:
            task.cancel()
        for conn in self.conns:
            if conn is not None and conn.t is not None:
                conn.t.abort()


async def crowd_main(args: argparse.Namespace) -> None:
    """A load process: open the crowd, say ``ready``, then answer ``report`` lines on stdin."""
    crowd = Crowd(args.port, args.first, args.count, args.source_list.split(","), args.seed)
    pinger = asyncio.create_task(crowd.pinger())  # the SDKs ping from the open on
    await crowd.open()
    print(json.dumps(crowd.report()), flush=True)
    loop = asyncio.get_running_loop()
    reader = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(reader), sys.stdin)
    while (line := await reader.readline()) and line.strip() == b"report":
        print(json.dumps(crowd.report()), flush=True)
    pinger.cancel()
    crowd.stop()


# -- the orchestrator ---------------------------------------------------------------------


async def until(done: Callable[[], bool], timeout: float, what: str, interval: float = 0.1) -> None:
    """Poll ``done`` every ``interval`` seconds; RuntimeError naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out waiting for {what}")
        await asyncio.sleep(interval)


class Node:
    """The node under test, started (and restarted) pinned to the server core."""

    def __init__(self, args: argparse.Namespace, logdir: Path, engine: str) -> None:
        self.args = args
        self.port = free_port()
        workers = ["--workers", str(args.workers)] if args.workers > 1 else []
        self.command = [
            *("taskset", "-c", args.server_cpu),
            *gateway_command(self.port, "--api-key", API_KEY, "--engine", engine, *workers),
        ]
        self.logdir = logdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.log = logdir / "node-0.log"

    def start(self) -> subprocess.Popen[bytes]:
        self.starts += 1
        self.log = self.logdir / f"node-{self.starts}.log"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(self.command, cwd=ROOT, stdout=out, stderr=out)
        return self.proc

    def pids(self) -> list[int]:
        """The node's processes: the supervisor's workers too, with ``--workers``."""
        assert self.proc is not None
        pid = self.proc.pid
        try:
            children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        except OSError:
            children = []
        return [pid, *map(int, children)]

    def rss_kib(self) -> int:
        return sum(proc_rss_kib(pid) for pid in self.pids())

    def cpu_s(self) -> float:
        return sum(sum(proc_cpu_seconds(pid)) for pid in self.pids())

    async def ready(self) -> None:
        assert self.proc is not None
        await asyncio.to_thread(wait_ready, self.proc, self.port, self.log, "cricket", 60)
        if self.args.workers > 1:  # every worker up, not only the first to answer
            await until(lambda: len(self.pids()) > self.args.workers, 60, "workers started")
            await asyncio.sleep(2)

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


class Crowds:
    """The load processes, started pinned to the load core, and what they report."""

    def __init__(self, args: argparse.Namespace, port: int) -> None:
        self.procs: list[asyncio.subprocess.Process] = []
        self.args = args
        self.port = port
        self.joins: list[float] = []
        self.refusals: list[tuple[str, float]] = []
        self.joined_now = 0
        self.scores = 0

    async def open(self) -> None:
        args = self.args
        per = -(-args.n // args.crowds)
        for k in range(args.crowds):
            first, count = k * per, min(per, args.n - k * per)
            # Addresses of this run's own (see fanout.connect_from).
            base = 1 + os.getpid() % 250
            sources = ",".join(f"127.{base}.{k}.{10 + j}" for j in range(args.sources))
            proc = await asyncio.create_subprocess_exec(
                *("taskset", "-c", args.load_cpu, sys.executable, SCRIPT, "--crowd"),
                *(f"--port={self.port}", f"--first={first}", f"--count={count}"),
                *(f"--source-list={sources}", f"--seed={args.seed + k}"),
                stdin=subprocess.PIPE,
                stdout=subprocess.PIPE,
                limit=1 << 26,
            )
            self.procs.append(proc)
        # Opened one after another (each opens its own in batches), then all ready.
        for proc in self.procs:
            self._take(await self._line(proc, 600))

    async def _line(self, proc: asyncio.subprocess.Process, timeout: float) -> dict[str, Any]:
        assert proc.stdout is not None
        line = await asyncio.wait_for(proc.stdout.readline(), timeout)
        if not line:
            raise RuntimeError(f"a crowd exited with {await proc.wait()}")
        report: dict[str, Any] = json.loads(line)
        return report

    def _take(self, report: dict[str, Any]) -> None:
        self.joins += report["joins"]
        self.refusals += [(reason, t) for reason, t in report["refusals"]]

    async def poll(self) -> None:
        """Ask every crowd for its report; update the totals."""
        joined = scores = 0
        for proc in self.procs:
            assert proc.stdin is not None
            proc.stdin.write(b"report\n")
        for proc in self.procs:
            report = await self._line(proc, 60)
            self._take(report)
            joined += report["joined_now"]
            scores += report["scores"]
        self.joined_now, self.scores = joined, scores

    async def close(self) -> None:
        for proc in self.procs:
            if proc.stdin is not None:
                proc.stdin.close()
        for proc in self.procs:
            try:
                await asyncio.wait_for(proc.wait(), 30)
            except TimeoutError:
                proc.kill()


@dataclass(slots=True)
class Result:
    n: int
    workers: int
    crowds: int
    open_s: float
    """Time to open and join all N, OPEN_BATCH at a time."""
    idle_kib_per_viewer: float
    node_rss_idle_mib: float
    scores_expected: int
    scores_delivered: int
    node_cpu_per_s_scoring: float
    """The node's CPU a second (all processes) with N idle viewers and a score a second."""
    storms: list[dict[str, Any]]


async def publish(session: aiohttp.ClientSession, port: int, i: int) -> None:
    url = f"http://{HOST}:{port}/api/events/{EVENT_ID}/updates"
    headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}
    async with session.post(url, data=make_payload(time.time_ns(), i), headers=headers) as resp:
        if resp.status != 202:
            raise RuntimeError(f"publish: {resp.status} {await resp.text()}")


class Progress:
    """A line every ``every`` seconds of a storm: who is joined, the failed attempts so
    far, and how busy each core's processes were (node and load), to tell which limits."""

    def __init__(self, node: Node, crowds: Crowds, every: float = 10.0) -> None:
        self.node, self.crowds, self.every = node, crowds, every
        self.last = time.monotonic()
        self.cpu = self._cpu()

    def _cpu(self) -> tuple[float, float]:
        load = sum(sum(proc_cpu_seconds(proc.pid)) for proc in self.crowds.procs)
        return self.node.cpu_s(), load

    def maybe_print(self, t0: float) -> None:
        now = time.monotonic()
        if now - self.last < self.every:
            return
        cpu = self._cpu()
        busy = [(b - a) / (now - self.last) * 100 for a, b in zip(self.cpu, cpu, strict=True)]
        self.last, self.cpu = now, cpu
        print(
            f"  {now - t0:6.1f} s: {self.crowds.joined_now:,} joined; node {busy[0]:.0f}% "
            f"load {busy[1]:.0f}% of a core; failed so far {by_reason(self.crowds.refusals)}",
            flush=True,
        )


async def storm(
    args: argparse.Namespace, node: Node, crowds: Crowds, session: aiohttp.ClientSession, mode: str
) -> dict[str, Any]:
    await crowds.poll()
    crowds.joins.clear()
    crowds.refusals.clear()
    old = node.proc
    assert old is not None
    t_signal = time.monotonic()
    if args.workers > 1 and mode == "kill":
        workers = node.pids()[1:]
        for pid in workers:  # every worker; the supervisor restarts them
            os.kill(pid, signal.SIGKILL)
        # Gone (reaped), so the port is closed.
        await until(lambda: not set(workers) & set(node.pids()), 10, "workers killed", 0.005)
    elif mode == "kill":
        old.send_signal(signal.SIGKILL)
        await asyncio.to_thread(old.wait)
        node.start()
    else:
        old.send_signal(signal.SIGTERM)
        await asyncio.to_thread(old.wait, 120)
        node.start()
    cpu0 = node.cpu_s()
    t_listen = await node.listening(120)
    deadline = time.monotonic() + 600
    progress = Progress(node, crowds)
    while len(crowds.joins) < args.n or crowds.joined_now < args.n:
        if time.monotonic() > deadline:
            raise RuntimeError(
                f"only {crowds.joined_now} of {args.n} joined again; "
                f"failed attempts: {by_reason(crowds.refusals)}"
            )
        await asyncio.sleep(0.2)
        await crowds.poll()
        progress.maybe_print(t_signal)
    last = max(crowds.joins)
    cpu = node.cpu_s() - cpu0
    per_second = Counter(int(t - t_listen) for t in crowds.joins)
    by_new = sum(
        1 for r, t in crowds.refusals if r.startswith(("HTTP", "closed")) and t >= t_listen
    )
    before = crowds.scores
    await publish(session, node.port, 0)
    deadline = time.monotonic() + 60
    while crowds.scores - before < args.n and time.monotonic() < deadline:
        await asyncio.sleep(0.2)
        await crowds.poll()
    return {
        "mode": mode,
        "node_start_s": t_listen - t_signal,
        "all_rejoined_s": last - t_signal,
        "joins_per_s": args.n / max(1e-9, last - t_listen),
        "best_second_joins": max(per_second.values(), default=0),
        "refused": by_reason(crowds.refusals),
        "refused_by_new_node": by_new,
        "node_cpu_s": cpu,
        "delivered_after": crowds.scores - before,
    }


async def run(args: argparse.Namespace, logdir: Path) -> Result:
    redis: subprocess.Popen[bytes] | None = None
    engine = f"sqlite://{logdir / 'storm.db'}"
    if args.workers > 1:
        # On the node's core, ahead of the workers: the shared engine would have a core
        # of its own in production, and starved it times out every join.
        redis, engine = start_redis(args.server_cpu, niceness=-10)
    node = Node(args, logdir, engine)
    crowds = Crowds(args, node.port)
    try:
        node.start()
        await node.ready()
        await asyncio.sleep(args.settle)
        rss_before = node.rss_kib()
        t0 = time.monotonic()
        await crowds.open()
        open_s = time.monotonic() - t0
        await asyncio.sleep(args.settle)
        rss_idle = node.rss_kib()
        print(
            f"{args.n:,} joined in {open_s:.1f} s; node RSS {rss_idle / 1024:.0f} MiB, "
            f"{(rss_idle - rss_before) / args.n:.2f} KiB a viewer",
            flush=True,
        )
        async with aiohttp.ClientSession() as session:
            await crowds.poll()
            scores0, cpu0 = crowds.scores, node.cpu_s()
            start = time.monotonic()
            for i in range(args.score_seconds):
                await asyncio.sleep(max(0.0, start + i - time.monotonic()))
                await publish(session, node.port, i)
            expected = args.n * args.score_seconds
            deadline = time.monotonic() + 60
            while crowds.scores - scores0 < expected and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                await crowds.poll()
            scoring_cpu = (node.cpu_s() - cpu0) / (time.monotonic() - start)
            delivered = crowds.scores - scores0
            print(f"scores: {delivered:,} of {expected:,} delivered", flush=True)
            storms = []
            for mode in args.mode:
                result = await storm(args, node, crowds, session, mode)
                print(json.dumps(result), flush=True)
                storms.append(result)
        return Result(
            n=args.n,
            workers=args.workers,
            crowds=args.crowds,
            open_s=open_s,
            idle_kib_per_viewer=(rss_idle - rss_before) / args.n,
            node_rss_idle_mib=rss_idle / 1024,
            scores_expected=expected,
            scores_delivered=delivered,
            node_cpu_per_s_scoring=scoring_cpu,
            storms=storms,
        )
    finally:
        await crowds.close()
        if node.proc is not None:
            stop(node.proc)
        if redis is not None:
            stop(redis)


def render(r: Result) -> str:
    lines = [
        f"N = {r.n:,} viewers, {r.workers} node process(es), {r.crowds} load process(es)",
        "",
        f"- opened and joined in {r.open_s:.1f} s ({r.n / r.open_s:,.0f} joins/s)",
        f"- node RSS {r.node_rss_idle_mib:,.0f} MiB, **{r.idle_kib_per_viewer:.2f} KiB per "
        "joined idle viewer**",
        f"- a score a second: {r.scores_delivered:,} of {r.scores_expected:,} delivered, "
        f"node CPU {r.node_cpu_per_s_scoring * 100:.0f}% of a core",
        "",
        "| restart | node up (s) | all rejoined (s) | joins/s | best second | "
        "refused by the new node | other failed attempts | node CPU (s) | update reached |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for s in r.storms:
        other = sum(s["refused"].values()) - s["refused_by_new_node"]
        lines.append(
            f"| {s['mode']} | {s['node_start_s']:.2f} | {s['all_rejoined_s']:.2f} | "
            f"{s['joins_per_s']:,.0f} | {s['best_second_joins']:,} | "
            f"{s['refused_by_new_node']} | {other:,} | {s['node_cpu_s']:.2f} | "
            f"{s['delivered_after']:,}/{r.n:,} |"
        )
    lines.append("")
    for s in r.storms:
        reasons = ", ".join(f"{k}: {v:,}" for k, v in sorted(s["refused"].items())) or "none"
        lines.append(f"- {s['mode']}: failed attempts by reason: {reasons}")
    return "\n".join(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=18000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--crowds", type=int, default=0, help="load processes (0: by N)")
    parser.add_argument("--mode", nargs="*", choices=("kill", "drain"), default=["kill", "drain"])
    parser.add_argument("--sources", type=int, default=4, help="source addresses a crowd")
    parser.add_argument("--score-seconds", type=int, default=10)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--json", type=Path)
    parser.add_argument("--logdir", type=Path, help="keep the node's logs here")
    parser.add_argument("--crowd", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--first", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--source-list", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if not args.crowds:
        args.crowds = -(-args.n // 18000)
    return args


def main(argv: Sequence[str] | None = None) -> None:
    import uvloop

    args = parse_args(argv)
    raise_nofile_limit()
    if args.crowd:
        uvloop.run(crowd_main(args))
        return
    os.sched_setaffinity(0, {int(args.load_cpu)})
    with tempfile.TemporaryDirectory(prefix="livegate-storm-") as tmp:
        logdir = args.logdir or Path(tmp)
        logdir.mkdir(parents=True, exist_ok=True)
        result = uvloop.run(run(args, logdir))
    if args.json:
        args.json.write_text(json.dumps(asdict(result), indent=1))
    print(render(result))


if __name__ == "__main__":
    main()
