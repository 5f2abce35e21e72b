"""Fan-out benchmark: livegate against the bare floor, on one pinned core each.

Run from the repository root::

    .venv/bin/python bench/fanout.py [--n 1000 5000] [--updates 200] [--repeat 3]

For each N and each server kind (``gateway`` is ``python -m livegate serve``,
``floor`` is ``bench/floor_server.py``), the orchestrator starts the server pinned
to one core (``taskset -c 0``) and a load process pinned to the other
(``taskset -c 1``; it is this script with ``--load``). The load process opens N
raw WebSocket connections that each join one event, publishes through the HTTP
API and measures:

- **idle KiB/conn**: (server VmRSS with N joined idle connections - VmRSS before
  them) / N, from ``/proc/<pid>/status``;
- **deliveries/s** and **server CPU µs/delivery**: a burst of ``--updates``
  publishes sent back to back (each as soon as the previous one is acked);
  deliveries are ``score`` messages received, counted over the wall time from
  the first publish to the last delivery; CPU is utime+stime from
  ``/proc/<pid>/stat`` across the same span;
- **p50 / p99 latency**: publish-to-receive at a paced ``--rate`` updates/s, from
  the ``sent`` timestamp in the payload to the moment a receiver's
  ``data_received`` sees the frame, on ``--samples`` receivers spread evenly
  over the connection order.

Each measurement runs ``--repeat`` times (a fresh server each time, gateway and
floor interleaved) and the table shows the median of each figure. The method
and a reading of the figures are in ``docs/benchmarks.md``.

The load side is raw sockets with a small frame parser, not an aiohttp client:
one process on one core must read N x updates frames faster than the server can
write them, or the benchmark measures the client.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Final, TypeVar, cast

import aiohttp
import orjson

if __name__ == "__main__" and not __package__:
    # Run as `python bench/fanout.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.wsframes import split_frames

ROOT: Final = Path(__file__).resolve().parent.parent
HOST: Final = "127.0.0.1"
EVENT_ID: Final = "bench-e1"
API_KEY: Final = "bench-key-0123456789"
KINDS: Final = ("gateway", "floor", "redis")
"""``redis`` is ``livegate serve`` on the Redis engine (a redis-server on the load's core)."""
SCORE_PREFIX: Final = b'{"type":"score"'
JOINED_PREFIX: Final = b'{"type":"joined"'
WS_GUID: Final = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLK_TCK: Final = os.sysconf("SC_CLK_TCK")


# -- /proc readers -------------------------------------------------------------


def proc_cpu_seconds(pid: int) -> tuple[float, float]:
    """(utime, stime) of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat", "rb") as f:
        stat = f.read()
    # The command name may hold spaces or parentheses; fields restart after the last ')'.
    fields = stat[stat.rindex(b")") + 2 :].split()
    return int(fields[11]) / CLK_TCK, int(fields[12]) / CLK_TCK


def proc_rss_kib(pid: int) -> int:
    """VmRSS of a process, in KiB."""
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def raise_nofile_limit() -> int:
    """Raise the soft open-file limit to the hard limit; return the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


# -- the load side: a minimal WebSocket client ----------------------------------

ProtocolT = TypeVar("ProtocolT", bound=asyncio.Protocol)


async def connect_from(
    loop: asyncio.AbstractEventLoop,
    factory: Callable[[], ProtocolT],
    port: int,
    source: str,
) -> ProtocolT:
    """A connection to ``HOST:port`` from the address ``source`` (any 127.x.y.z).

    The port is taken at bind time from that address's ~28,000 ephemeral ports, whatever
    the destination: callers give each run addresses of its own (a rerun soon after
    would find ports of the last one still taken).
    """
    _, protocol = await loop.create_connection(factory, HOST, port, local_addr=(source, 0))
    return protocol


def client_frame(opcode: int, payload: bytes) -> bytes:
    """A masked client-to-server frame (RFC 6455 requires clients to mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = bytes((0x80 | opcode, 0x80 | length))
    elif length < 65536:
        header = bytes((0x80 | opcode, 0x80 | 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x80 | opcode, 0x80 | 127)) + length.to_bytes(8, "big")
    if not payload:
        return header + mask
    repeated = (mask * (length // 4 + 1))[:length]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(
        length, "big"
    )
    return header + mask + masked


@dataclass(slots=True)
class Counters:
    """Shared by every client of one load process; the loop is single-threaded."""

    score: int = 0
    joined: int = 0
    other: int = 0
    closed: int = 0
    close_codes: dict[int, int] = field(default_factory=dict)
    target: int = 0
    waiter: asyncio.Future[None] | None = None
    record_latency: bool = False
    latencies_ns: list[int] = field(default_factory=list)

    def expect(self, deliveries: int, loop: asyncio.AbstractEventLoop) -> asyncio.Future[None]:
        """Reset the score count and return a future done when it reaches ``deliveries``."""
        self.score = 0
        self.target = deliveries
        self.waiter = loop.create_future()
        return self.waiter


class WSClient(asyncio.Protocol):
    """One viewer: handshake, join, then count ``score`` frames.

    ``sample`` clients also decode each ``score`` frame for the latency figure;
    the others only look at the frame's first bytes, so the load process stays
    cheaper per delivery than the server it measures.
    """

    __slots__ = ("_accept", "_buf", "_join", "_request", "_upgraded", "c", "ready", "sample", "t")

    def __init__(
        self,
        counters: Counters,
        request: bytes,
        accept: bytes,
        join: bytes,
        sample: bool,
        ready: asyncio.Future[None],
    ) -> None:
        self.c = counters
        self._request = request
        self._accept = accept
        self._join = join
        self.sample = sample
        self.ready = ready
        self._buf = b""
        self._upgraded = False
        self.t: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's TCPTransport does not subclass asyncio.Transport, so cast.
        self.t = cast(asyncio.Transport, transport)
        self.t.write(self._request)

    def connection_lost(self, exc: Exception | None) -> None:
        self.c.closed += 1
        if not self.ready.done():
            self.ready.set_exception(ConnectionError(f"closed before the handshake: {exc}"))

    def data_received(self, data: bytes) -> None:
        if self._upgraded:
            self._frames(data)
            return
        buf = self._buf + data
        end = buf.find(b"\r\n\r\n")
        if end < 0:
            self._buf = buf
            return
        head, rest = buf[:end], buf[end + 4 :]
        self._buf = b""
        if not head.startswith(b"HTTP/1.1 101") or self._accept not in head:
            self.ready.set_exception(ConnectionError(f"handshake refused: {head[:200]!r}"))
            assert self.t is not None
            self.t.abort()
            return
        self._upgraded = True
        assert self.t is not None
        self.t.write(self._join)
        self.ready.set_result(None)
        if rest:
            self._frames(rest)

    def _frames(self, data: bytes) -> None:
        now = time.perf_counter_ns()
        buf = self._buf + data if self._buf else data
        spans, pos = split_frames(buf)
        c = self.c
        for first, _second, start, end in spans:
            opcode = first & 0x0F
            if opcode == 1:
                self._text(buf, start, end, now)
            elif opcode == 9 and self.t is not None:  # ping: answer with a pong
                self.t.write(client_frame(0xA, buf[start:end]))
            elif opcode == 8:
                code = int.from_bytes(buf[start : start + 2], "big") if end - start >= 2 else 1005
                c.close_codes[code] = c.close_codes.get(code, 0) + 1
        self._buf = buf[pos:] if pos < len(buf) else b""
        waiter = c.waiter
        if c.score >= c.target and waiter is not None and not waiter.done():
            waiter.set_result(None)

    def _text(self, buf: bytes, start: int, end: int, now: int) -> None:
        """One text frame, ``buf[start:end]``, received at ``now`` (``perf_counter_ns``)."""
        c = self.c
        if buf.startswith(SCORE_PREFIX, start):
            c.score += 1
            if self.sample and c.record_latency:
                sent = orjson.loads(buf[start:end])["data"]["sent"]
                c.latencies_ns.append(now - sent)
        elif buf.startswith(JOINED_PREFIX, start):
            c.joined += 1
        else:
            c.other += 1


def handshake(port: int, path: str = "/ws") -> tuple[bytes, bytes]:
    """An upgrade request and the ``Sec-WebSocket-Accept`` value it must get back."""
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
    request = (
        b"GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n"
    ) % (path.encode(), HOST.encode(), port, key)
    return request, accept


def make_payload(sent_ns: int, i: int) -> bytes:
    """A cricket ball-by-ball update of about 300 bytes, valid for livegate's cricket sport.

    ``sent`` (an extra top-level field, which the sport allows) drives the latency figure.
    """
    over, ball = divmod(i, 6)
    return orjson.dumps(
        {
            "sent": sent_ns,
            f"ball {i + 1}": f"{150 + 4 * i}/3",
            "comment": "Driven through extra cover for four.",
            "batsman": {"name": "S Mandhana", "runs": 61, "balls": 44, "fours": 7},
            "bowler": {
                "name": "S Ecclestone",
                "overs": "3.2",
                "runs": 27,
                "maiden": 0,
                "wickets": 1,
            },
            "innings": 2,
            "overs": f"{over}.{ball}",
            "event": {"runs": 4, "batterRuns": 4, "extras": 0, "boundary": 4},
        }
    )


class Publisher:
    """The scorer: creates the event and posts updates through the HTTP API."""

    def __init__(self, session: aiohttp.ClientSession, port: int, sport: str) -> None:
        self._session = session
        self._sport = sport
        self._base = f"http://{HOST}:{port}/api/events/{EVENT_ID}"
        self._headers = {"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"}

    async def create_event(self) -> None:
        body = orjson.dumps({"sport": self._sport, "title": "Benchmark XI v Load XI"})
        async with self._session.put(self._base, data=body, headers=self._headers) as resp:
            if resp.status not in (200, 201):
                raise RuntimeError(f"PUT event: {resp.status} {await resp.text()}")

    async def publish(self, payload: bytes) -> int:
        url = self._base + "/updates"
        async with self._session.post(url, data=payload, headers=self._headers) as resp:
            if resp.status != 202:
                raise RuntimeError(f"publish: {resp.status} {await resp.text()}")
            seq: int = (await resp.json())["seq"]
            return seq


@dataclass(slots=True)
class RunResult:
    """The figures of one server in one run (the sums and medians over its bursts)."""

    kind: str
    n: int
    deliveries_per_s: float
    cpu_us_per_delivery: float
    p50_ms: float
    p99_ms: float
    idle_kib_per_conn: float
    rss_before_kib: int
    rss_idle_kib: int
    rss_after_kib: int
    burst_deliveries: int
    burst_expected: int
    burst_wall_s: float
    burst_server_cpu_s: float
    burst_server_sys_share: float
    burst_cpu_us_per_round: list[float]
    load_cpu_us_per_delivery: float
    latency_samples: int
    connect_s: float
    payload_bytes: int
    joined: int
    closed: int
    close_codes: dict[int, int]


async def _connect_all(
    loop: asyncio.AbstractEventLoop,
    counters: Counters,
    port: int,
    n: int,
    batch: int,
    samples: set[int],
    prefix: str,
) -> list[WSClient]:
    clients: list[WSClient] = []

    async def one(i: int) -> WSClient:
        request, accept = handshake(port)
        join = client_frame(0x1, orjson.dumps({"id": f"{prefix}{i}", "eventId": EVENT_ID}))
        ready: asyncio.Future[None] = loop.create_future()

        def factory() -> WSClient:
            return WSClient(counters, request, accept, join, i in samples, ready)

        _, client = await loop.create_connection(factory, HOST, port)
        await asyncio.wait_for(ready, 30)
        return client

    for first in range(0, n, batch):
        clients += await asyncio.gather(*(one(i) for i in range(first, min(n, first + batch))))
    return clients


async def _joined_all(counters: Counters, n: int, timeout: float) -> None:
    """Wait until ``n`` viewers got their ``joined`` (polled: joins are counted, not awaited)."""
    deadline = time.monotonic() + timeout
    while counters.joined < n:
        if time.monotonic() > deadline:
            raise RuntimeError(f"only {counters.joined} of {n} joins answered")
        await asyncio.sleep(0.05)


async def _wait(waiter: asyncio.Future[None], timeout: float) -> bool:
    try:
        await asyncio.wait_for(asyncio.shield(waiter), timeout)
    except TimeoutError:
        return False
    return True


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q * (len(sorted_values) - 1))))
    return sorted_values[index]


@dataclass(slots=True)
class Burst:
    deliveries: int
    expected: int
    wall_s: float
    user_s: float
    sys_s: float
    load_s: float


class Target:
    """One server under load: its viewers, its publisher and what was measured on it."""

    def __init__(self, kind: str, port: int, pid: int, args: argparse.Namespace) -> None:
        self.kind = kind
        self.port = port
        self.pid = pid
        self.args = args
        self.n: int = args.n[0]
        self.loop = asyncio.get_running_loop()
        self.counters = Counters()
        self.clients: list[WSClient] = []
        self.bursts: list[Burst] = []
        self.rss_before = self.rss_idle = self.rss_after = 0
        self.connect_s = 0.0

    async def publish_and_wait(self, pub: Publisher, count: int, timeout: float) -> bool:
        done = self.counters.expect(len(self.clients) * count, self.loop)
        for i in range(count):
            await pub.publish(make_payload(time.perf_counter_ns(), i))
        return await _wait(done, timeout)

    async def warm_up(self, pub: Publisher) -> None:
        """A few connections that join, get an update and leave, so lazily created
        server state (imports, buffers, caches) is not charged to the N viewers."""
        await pub.create_event()
        self.clients = await _connect_all(self.loop, self.counters, self.port, 20, 20, set(), "w")
        await self.publish_and_wait(pub, 1, 10)
        for client in self.clients:
            if client.t is not None:
                client.t.close()
        self.clients = []

    async def connect(self, pub: Publisher) -> None:
        """Open the N viewers and measure the server's RSS before and after."""
        args = self.args
        self.counters.closed = 0
        self.rss_before = proc_rss_kib(self.pid)
        step = max(1, self.n // args.samples)
        samples = set(range(0, self.n, step)[: args.samples])
        t0 = time.perf_counter()
        self.clients = await _connect_all(
            self.loop, self.counters, self.port, self.n, args.batch, samples, "u"
        )
        self.connect_s = time.perf_counter() - t0
        # Every join answered first: an update published while a join is in flight is
        # in that viewer's `joined` snapshot, not a `score` (the protocol's rule), and
        # on the Redis engine a join takes round trips, so many can be in flight.
        await _joined_all(self.counters, self.n, 60)
        # Readiness: one update reaches every viewer, so every join was processed.
        if not await self.publish_and_wait(pub, 1, 60):
            raise RuntimeError(
                f"{self.kind}: only {self.counters.score} of {self.n} viewers got the probe"
            )
        await asyncio.sleep(args.settle)
        self.rss_idle = proc_rss_kib(self.pid)

    async def burst(self, pub: Publisher) -> None:
        """Publish ``--updates`` updates, each as soon as the previous one is acked."""
        expected = self.n * self.args.updates
        done = self.counters.expect(expected, self.loop)
        user0, sys0 = proc_cpu_seconds(self.pid)
        load0 = resource.getrusage(resource.RUSAGE_SELF)
        t0 = time.perf_counter()
        for i in range(self.args.updates):
            await pub.publish(make_payload(time.perf_counter_ns(), i))
        await _wait(done, 30 + expected * 50e-6)
        t1 = time.perf_counter()
        user1, sys1 = proc_cpu_seconds(self.pid)
        load1 = resource.getrusage(resource.RUSAGE_SELF)
        load_s = (load1.ru_utime + load1.ru_stime) - (load0.ru_utime + load0.ru_stime)
        self.bursts.append(
            Burst(self.counters.score, expected, t1 - t0, user1 - user0, sys1 - sys0, load_s)
        )

    async def latency(self, pub: Publisher) -> None:
        """Paced updates; the sampled viewers record publish-to-receive times."""
        args = self.args
        counters = self.counters
        counters.latencies_ns.clear()
        counters.record_latency = True
        done = counters.expect(self.n * args.latency_updates, self.loop)
        start = time.perf_counter()
        for i in range(args.latency_updates):
            delay = start + i / args.rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            await pub.publish(make_payload(time.perf_counter_ns(), i))
        await _wait(done, 30)
        counters.record_latency = False
        self.rss_after = proc_rss_kib(self.pid)

    def close(self) -> None:
        for client in self.clients:
            if client.t is not None:
                client.t.abort()

    def result(self) -> RunResult:
        bursts = self.bursts
        deliveries = sum(b.deliveries for b in bursts)
        wall = sum(b.wall_s for b in bursts)
        user = sum(b.user_s for b in bursts)
        sys_ = sum(b.sys_s for b in bursts)
        load = sum(b.load_s for b in bursts)
        latencies = sorted(ns / 1e6 for ns in self.counters.latencies_ns)
        c = self.counters
        return RunResult(
            kind=self.kind,
            n=self.n,
            deliveries_per_s=deliveries / wall,
            cpu_us_per_delivery=(user + sys_) / max(1, deliveries) * 1e6,
            p50_ms=_percentile(latencies, 0.50),
            p99_ms=_percentile(latencies, 0.99),
            idle_kib_per_conn=(self.rss_idle - self.rss_before) / self.n,
            rss_before_kib=self.rss_before,
            rss_idle_kib=self.rss_idle,
            rss_after_kib=self.rss_after,
            burst_deliveries=deliveries,
            burst_expected=sum(b.expected for b in bursts),
            burst_wall_s=wall,
            burst_server_cpu_s=user + sys_,
            burst_server_sys_share=sys_ / (user + sys_) if user + sys_ else float("nan"),
            burst_cpu_us_per_round=[
                (b.user_s + b.sys_s) / max(1, b.deliveries) * 1e6 for b in bursts
            ],
            load_cpu_us_per_delivery=load / max(1, deliveries) * 1e6,
            latency_samples=len(latencies),
            connect_s=self.connect_s,
            payload_bytes=len(make_payload(time.perf_counter_ns(), 0)),
            joined=c.joined,
            closed=c.closed,
            close_codes=c.close_codes,
        )


async def run_load(args: argparse.Namespace) -> list[RunResult]:
    """One run against already started servers: connect, measure, disconnect.

    With two servers, every phase alternates between them and the burst is
    repeated ``--rounds`` times in the order AB, BA, AB, ... so drift in the
    machine's speed (a shared virtual machine drifts by 10-30% within seconds)
    falls on both alike.
    """
    targets = []
    for spec in args.target:
        kind, port, pid = spec.split(":")
        targets.append(Target(kind, int(port), int(pid), args))
    async with aiohttp.ClientSession() as session:
        pubs = {t.kind: Publisher(session, t.port, args.sport) for t in targets}
        for t in targets:
            await t.warm_up(pubs[t.kind])
        await asyncio.sleep(args.settle)
        for t in targets:
            await t.connect(pubs[t.kind])
        for t in targets:  # warm-up publishes, not measured
            await t.publish_and_wait(pubs[t.kind], 10, 60)
        for r in range(args.rounds):
            for t in targets if r % 2 == 0 else targets[::-1]:
                await asyncio.sleep(0.5)
                await t.burst(pubs[t.kind])
        for t in targets:
            await asyncio.sleep(args.settle)
            await t.latency(pubs[t.kind])
    for t in targets:
        t.close()
    return [t.result() for t in targets]


def load_main(args: argparse.Namespace) -> None:
    import uvloop

    raise_nofile_limit()
    results = uvloop.run(run_load(args))
    # The orchestrator reads the last line of stdout.
    print(json.dumps([asdict(r) for r in results]), flush=True)


# -- the orchestrator ------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        port: int = s.getsockname()[1]
        return port


def gateway_command(port: int, *flags: str) -> list[str]:
    """``livegate serve`` on ``HOST:port`` with ``flags``: every benchmark's server.

    The memory engine unless ``flags`` name another.
    """
    engine = [] if "--engine" in flags else ["--engine", "memory://"]
    return [
        sys.executable,
        "-m",
        "livegate",
        "serve",
        "--host",
        HOST,
        "--port",
        str(port),
        *engine,
        *flags,
    ]


def server_command(kind: str, port: int, extra: Sequence[str], redis_url: str = "") -> list[str]:
    if kind in ("gateway", "redis"):
        if kind == "redis":
            extra = ["--engine", redis_url, *extra]
        return gateway_command(
            port,
            "--api-key",
            API_KEY,
            "--heartbeat-timeout",
            "600",
            "--heartbeat-interval",
            "300",
            *extra,
        )
    return [
        sys.executable,
        str(ROOT / "bench" / "floor_server.py"),
        "--host",
        HOST,
        "--port",
        str(port),
    ]


def wait_ready(
    proc: subprocess.Popen[bytes], port: int, log: Path, sport: str, timeout: float = 30
) -> None:
    """Poll ``PUT /api/events/{id}`` until it answers 200 (both servers serve it)."""
    body = orjson.dumps({"sport": sport, "title": "Benchmark XI v Load XI"})
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        request = urllib.request.Request(
            f"http://{HOST}:{port}/api/events/{EVENT_ID}",
            data=body,
            method="PUT",
            headers={"Authorization": f"Bearer {API_KEY}", "Content-Type": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=2) as resp:
                if resp.status in (200, 201):
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout}s:\n{log.read_text()[-2000:]}")


def messages_per_write(port: int) -> float:
    """A gateway's deliveries per socket write so far (above 1: coalesced writes)."""
    with urllib.request.urlopen(f"http://{HOST}:{port}/metrics", timeout=10) as resp:
        text = resp.read().decode()
    found = dict(
        line.split()[:2]
        for line in text.splitlines()
        if line.startswith(("livegate_fanout_deliveries_total ", "livegate_fanout_writes_total "))
    )
    writes = float(found.get("livegate_fanout_writes_total", 0))
    return float(found.get("livegate_fanout_deliveries_total", 0)) / writes if writes else 0.0


def stop(proc: subprocess.Popen[bytes]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(15)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def one_run(
    args: argparse.Namespace, kinds: Sequence[str], n: int, logdir: Path
) -> list[RunResult]:
    """Start a fresh server of each kind, run one load process against them all."""
    servers: dict[str, tuple[subprocess.Popen[bytes], int, Path]] = {}
    redis: subprocess.Popen[bytes] | None = None
    redis_url = ""
    try:
        if "redis" in kinds:
            redis, redis_url = start_redis(args.load_cpu)
        for kind in kinds:
            port = free_port()
            log = logdir / f"{kind}-{n}-{port}.log"
            with open(log, "wb") as out:
                command = server_command(kind, port, args.gateway_arg, redis_url)
                proc = subprocess.Popen(
                    ["taskset", "-c", args.server_cpu, *command],
                    cwd=ROOT,
                    stdout=out,
                    stderr=subprocess.STDOUT,
                )
            servers[kind] = (proc, port, log)
            wait_ready(proc, port, log, args.sport)
        load_cmd = [
            "taskset",
            "-c",
            args.load_cpu,
            sys.executable,
            str(Path(__file__).resolve()),
            "--load",
            *(f"--target={kind}:{port}:{proc.pid}" for kind, (proc, port, _) in servers.items()),
            f"--n={n}",
            f"--sport={args.sport}",
            f"--updates={args.updates}",
            f"--rounds={args.rounds}",
            f"--latency-updates={args.latency_updates}",
            f"--rate={args.rate}",
            f"--samples={args.samples}",
            f"--batch={args.batch}",
            f"--settle={args.settle}",
        ]
        done = subprocess.run(load_cmd, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        dead = [kind for kind, (proc, _, _) in servers.items() if proc.poll() is not None]
        if done.returncode != 0 or dead:
            logs = "\n".join(
                f"{kind} log:\n{log.read_text()[-2000:]}" for kind, (_, _, log) in servers.items()
            )
            raise RuntimeError(
                f"load exited {done.returncode}, servers exited: {dead or 'none'}\n"
                f"{done.stderr[-3000:]}\n{logs}"
            )
        for kind, (_proc, port, _log) in servers.items():
            if kind in ("gateway", "redis"):
                per_write = messages_per_write(port)
                print(f"N={n} {kind}: {per_write:.2f} messages per socket write", flush=True)
        results = []
        for raw in json.loads(done.stdout.strip().splitlines()[-1]):
            raw["close_codes"] = {int(k): v for k, v in raw["close_codes"].items()}
            results.append(RunResult(**raw))
        return results
    finally:
        for proc, _, _ in servers.values():
            stop(proc)
        if redis is not None:
            stop(redis)


def start_redis(cpu: str, niceness: int = 0) -> tuple[subprocess.Popen[bytes], str]:
    """A redis-server of the benchmark's own (nothing on disk) pinned to ``cpu``; its URL.

    ``niceness`` below 0 (as root) puts it ahead of the processes sharing its core.
    """
    port = free_port()
    proc = subprocess.Popen(
        [
            *("nice", "-n", str(niceness)),
            *("taskset", "-c", cpu, "redis-server", "--port", str(port), "--bind", HOST),
            *("--save", "", "--appendonly", "no"),
        ],
        stdout=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5) as sock:
            sock.sendall(b"PING\r\n")
            if sock.recv(16).startswith(b"+PONG"):
                return proc, f"redis://{HOST}:{port}/0"
        time.sleep(0.05)
    stop(proc)
    raise RuntimeError("redis-server did not start")


FIGURES: Final = (
    "deliveries_per_s",
    "cpu_us_per_delivery",
    "p50_ms",
    "p99_ms",
    "idle_kib_per_conn",
    "load_cpu_us_per_delivery",
    "burst_server_sys_share",
)


def medians(runs: Sequence[RunResult]) -> dict[str, float]:
    return {name: statistics.median(getattr(r, name) for r in runs) for name in FIGURES}


def _user_us(r: RunResult) -> float:
    """User-space server CPU per delivery, in µs."""
    return r.cpu_us_per_delivery * (1 - r.burst_server_sys_share)


def render(results: dict[tuple[int, str], list[RunResult]], args: argparse.Namespace) -> str:
    ns = sorted({n for n, _ in results})
    kinds = [k for k in args.kinds if any((n, k) in results for n in ns)]
    lines = [
        f"Median of {args.repeat} runs; each run: {args.rounds} bursts of {args.updates} updates "
        f"per server, servers alternating; latency at {args.rate:g} updates/s over "
        f"{args.latency_updates} updates on {args.samples} receivers.",
        "",
        "| N | server | deliveries/s | server CPU µs/delivery | p50 ms | p99 ms "
        "| idle KiB/conn | server kernel share | load CPU µs/delivery |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n in ns:
        for kind in kinds:
            if (n, kind) not in results:
                continue
            m = medians(results[n, kind])
            lines.append(
                f"| {n} | {kind} | {m['deliveries_per_s']:,.0f} | {m['cpu_us_per_delivery']:.2f} "
                f"| {m['p50_ms']:.2f} | {m['p99_ms']:.2f} | {m['idle_kib_per_conn']:.1f} "
                f"| {m['burst_server_sys_share']:.0%} | {m['load_cpu_us_per_delivery']:.2f} |"
            )
    if all((n, k) in results for n in ns for k in ("gateway", "floor")):
        lines += [
            "",
            "Ratios are the median over runs of each run's gateway ÷ floor (the two servers of a "
            "run share the machine's state); the range over runs is in brackets.",
            "",
            "| N | CPU/delivery gateway ÷ floor (target ≤ 0.4: coalesced) "
            "| user-space CPU gateway ÷ floor "
            "| gateway idle KiB/conn (target ≤ 16) | idle KiB/conn gateway ÷ floor |",
            "|---:|---:|---:|---:|---:|",
        ]
        for n in ns:
            pairs = list(zip(results[n, "gateway"], results[n, "floor"], strict=True))
            cpu = sorted(g.cpu_us_per_delivery / f.cpu_us_per_delivery for g, f in pairs)
            user = sorted(_user_us(g) / _user_us(f) for g, f in pairs)
            mem = sorted(g.idle_kib_per_conn / f.idle_kib_per_conn for g, f in pairs)
            cpu_ratio = statistics.median(cpu)
            idle = medians(results[n, "gateway"])["idle_kib_per_conn"]
            lines.append(
                f"| {n} | {cpu_ratio:.3f} [{cpu[0]:.3f}-{cpu[-1]:.3f}] "
                f"{'ok' if cpu_ratio <= 0.4 else 'MISSED'} "
                f"| {statistics.median(user):.2f} [{user[0]:.2f}-{user[-1]:.2f}] "
                f"| {idle:.1f} {'ok' if idle <= 16 else 'MISSED'} "
                f"| {statistics.median(mem):.2f} |"
            )
    if all((n, k) in results for n in ns for k in ("gateway", "redis")):
        lines += [
            "",
            "Engines on one node: each run's redis ÷ gateway (memory engine), median [range].",
            "",
            "| N | CPU/delivery redis ÷ memory (target ≤ 1.10) | deliveries/s redis ÷ memory "
            "| p99 redis ÷ memory |",
            "|---:|---:|---:|---:|",
        ]
        for n in ns:
            pairs = list(zip(results[n, "redis"], results[n, "gateway"], strict=True))
            cpu = sorted(r.cpu_us_per_delivery / g.cpu_us_per_delivery for r, g in pairs)
            rate = sorted(r.deliveries_per_s / g.deliveries_per_s for r, g in pairs)
            p99 = sorted(r.p99_ms / g.p99_ms for r, g in pairs)
            ratio = statistics.median(cpu)
            lines.append(
                f"| {n} | {ratio:.3f} [{cpu[0]:.3f}-{cpu[-1]:.3f}] "
                f"{'ok' if ratio <= 1.10 else 'MISSED'} | {statistics.median(rate):.2f} "
                f"| {statistics.median(p99):.2f} |"
            )
    if len(ns) >= 2:
        low, high = ns[0], ns[-1]
        marginals = []
        for kind in kinds:
            paired = zip(results.get((low, kind), []), results.get((high, kind), []), strict=False)
            marginal = [(h.rss_idle_kib - lo.rss_idle_kib) / (high - low) for lo, h in paired]
            if marginal:
                marginals.append(f"{kind} {statistics.median(marginal):.2f}")
        lines += [
            "",
            f"Marginal idle KiB/conn, (RSS with {high} - RSS with {low}) / {high - low}, "
            f"insensitive to heap slack in the baseline: {', '.join(marginals)}.",
        ]
    lines += [
        "",
        "Every run (server CPU µs/delivery, idle KiB/conn, deliveries/s, p99 ms):",
        "",
    ]
    for n in ns:
        for kind in kinds:
            runs = results.get((n, kind), [])
            cells = ", ".join(
                f"{r.cpu_us_per_delivery:.2f} / {r.idle_kib_per_conn:.1f} / "
                f"{r.deliveries_per_s:,.0f} / {r.p99_ms:.2f}"
                for r in runs
            )
            lines.append(f"- N={n} {kind}: {cells}")
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> None:
    raise_nofile_limit()
    # Keep the orchestrator (mostly asleep) off the server's core.
    with contextlib.suppress(OSError, ValueError):
        os.sched_setaffinity(0, {int(args.load_cpu)})
    results: dict[tuple[int, str], list[RunResult]] = {}
    with tempfile.TemporaryDirectory(prefix="livegate-bench-") as tmp:
        for n in args.n:
            for rep in range(args.repeat):
                # Alternate which server comes first in each phase, run to run.
                kinds = args.kinds if rep % 2 == 0 else args.kinds[::-1]
                t0 = time.monotonic()
                for result in one_run(args, kinds, n, Path(tmp)):
                    results.setdefault((n, result.kind), []).append(result)
                    warnings = ""
                    if result.burst_deliveries != result.burst_expected:
                        warnings += f" INCOMPLETE {result.burst_deliveries}/{result.burst_expected}"
                    if result.close_codes:
                        warnings += f" closed by server: {result.close_codes}"
                    rounds = " ".join(f"{x:.2f}" for x in result.burst_cpu_us_per_round)
                    print(
                        f"N={n} {result.kind} run {rep + 1}: "
                        f"{result.cpu_us_per_delivery:.2f} µs/delivery ({rounds}), "
                        f"{result.deliveries_per_s:,.0f} deliveries/s, "
                        f"p50 {result.p50_ms:.2f} ms, p99 {result.p99_ms:.2f} ms, "
                        f"{result.idle_kib_per_conn:.1f} KiB/conn, "
                        f"load {result.load_cpu_us_per_delivery:.2f} µs/delivery "
                        f"[{time.monotonic() - t0:.0f}s]{warnings}",
                        file=sys.stderr,
                        flush=True,
                    )
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "args": {k: v for k, v in vars(args).items() if k != "load"},
                    "runs": [asdict(r) for runs in results.values() for r in runs],
                },
                indent=1,
            )
        )
    print(render(results, args))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fan-out benchmark: livegate against the bare floor server."
    )
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000], help="connections")
    parser.add_argument("--kinds", nargs="+", choices=KINDS, default=["gateway", "floor"])
    parser.add_argument("--updates", type=int, default=200, help="updates in the burst")
    parser.add_argument("--repeat", type=int, default=3, help="runs per figure (median)")
    parser.add_argument(
        "--rounds", type=int, default=6, help="bursts per server per run, alternating servers"
    )
    parser.add_argument("--latency-updates", type=int, default=50, help="paced updates")
    parser.add_argument("--rate", type=float, default=10.0, help="paced updates per second")
    parser.add_argument("--samples", type=int, default=100, help="receivers timed for latency")
    parser.add_argument("--batch", type=int, default=200, help="connections opened at once")
    parser.add_argument("--settle", type=float, default=2.0, help="seconds of quiet between phases")
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--load-cpu", default="1", help="taskset CPU list for the load")
    parser.add_argument(
        "--gateway-arg",
        action="append",
        default=[],
        help="extra argument for `livegate serve` (repeatable: --gateway-arg=--log-level=warning)",
    )
    parser.add_argument(
        "--sport",
        default="cricket",
        help="the event's sport (the payload is a cricket update; 'generic' skips validation)",
    )
    parser.add_argument("--json", help="also write every run's figures to this file")
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a look in under a minute: N = 1000, one run, 3 bursts, 20 paced updates, 1 s "
        "settles (the ratios print as usual; use the full run for figures you report)",
    )
    # Internal: the load process and its servers as kind:port:pid.
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--target", action="append", default=[], help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.quick and not args.load:
        args.n, args.repeat, args.rounds = [1000], 1, 3
        args.latency_updates, args.settle = 20, 1.0
    run: Callable[[argparse.Namespace], None] = load_main if args.load else orchestrate
    run(args)


if __name__ == "__main__":
    main()
