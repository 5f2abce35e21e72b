"""livegate beside the servers a user would pick instead, on the same job, in one run.

Run from the repository root (after ``npm ci --prefix bench/peers``, which ``make
bench-peers`` does)::

    .venv/bin/python bench/peers/run.py [--n 1000 5000 18000] [--repeat 3] [--plots docs/plots]

The job: N viewers joined to one room (livegate: one event); a publisher sends a ~300 B
JSON score message; every viewer must receive every message. The servers
(``--kinds``): ``livegate`` (memory engine), ``livegate-redis`` (Redis engine, a
redis-server of its own on the load's core), Node ``ws`` (a plain loop over the room's
sockets, ``ws_server.js``), Node ``socket.io`` 4 (rooms on the in-memory adapter,
``socketio_server.js``), python ``websockets`` (``broadcast()``,
``websockets_server.py``) and ``python-socketio`` on aiohttp (rooms,
``python_socketio_server.py``).

For each N, each run and each server, the orchestrator starts the server pinned to one
core (``taskset -c 0``) and one load process pinned to the other (``taskset -c 1``; it is
this script with ``--load``), one server at a time, the order rotated run by run. The
load process opens N raw WebSocket connections (bench/fanout.py's approach: a small
client with its own frame parser, so the load costs less than any server it measures)
from a source address of its own (127.P.0.R: P from the orchestrator's pid, R the run),
joins them, and measures:

- **idle KiB/viewer**: (server VmRSS with N joined viewers - VmRSS before them) / N;
- **paced**: ``--seconds`` of messages at a fixed rate, ``--paced-load`` deliveries a
  second offered whatever N is (the rate is that divided by N): server CPU µs per
  delivery (utime+stime from ``/proc`` from the first publish to the last delivery),
  p50/p99 publish-to-receive latency on ``--samples`` viewers spread over the
  connection order, and messages lost;
- **burst**: ``--burst-load`` deliveries' worth of messages, each published as soon as
  the previous one is acknowledged: server CPU µs per delivery, deliveries a second and
  messages lost.

Lost means a message a viewer never received within the wait (30 s plus 50 µs a
delivery); it must be 0. Viewers ping every 15 s from their open (livegate's heartbeat
asks it; the others' pings are answered). The table shows the median of each figure over the runs;
``--json`` keeps every run's figures and ``--plots DIR`` draws the three charts.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson

if __name__ == "__main__" and not __package__:
    # Run as `python bench/peers/run.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent.parent))

from bench.fanout import (
    API_KEY,
    EVENT_ID,
    HOST,
    JOINED_PREFIX,
    SCORE_PREFIX,
    Counters,
    WSClient,
    _joined_all,
    _percentile,
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

HERE: Final = Path(__file__).resolve().parent
ROOT: Final = HERE.parent.parent
SENT: Final = re.compile(rb'"sent":(\d+)')
PING_EVERY_S: Final = 15.0


@dataclass(frozen=True, slots=True)
class Peer:
    """How to start one server, speak to its viewers and publish to it."""

    name: str
    dialect: str
    """``json``: viewers send a JSON join and get JSON text frames; ``socketio``: Engine.IO 4."""
    publish: str
    """``livegate`` (its HTTP API), ``http`` (``POST /publish?room=``) or ``ws`` (a publisher
    WebSocket on ``/publish?room=`` that acknowledges each message)."""
    program: tuple[str, ...]
    """The server's command before its port; empty for livegate."""

    def command(self, port: int, redis_url: str) -> list[str]:
        if self.publish == "livegate":
            engine = ["--engine", redis_url] if redis_url else []
            return gateway_command(port, "--api-key", API_KEY, *engine)
        return [*self.program, str(port)]

    @property
    def ws_path(self) -> str:
        return "/socket.io/?EIO=4&transport=websocket" if self.dialect == "socketio" else "/ws"

    @property
    def needs_redis(self) -> bool:
        return self.name == "livegate-redis"


PEERS: Final = {
    p.name: p
    for p in (
        Peer("livegate", "json", "livegate", ()),
        Peer("livegate-redis", "json", "livegate", ()),
        Peer("ws", "json", "http", ("node", str(HERE / "ws_server.js"))),
        Peer("socket.io", "socketio", "http", ("node", str(HERE / "socketio_server.js"))),
        Peer("websockets", "json", "ws", (sys.executable, str(HERE / "websockets_server.py"))),
        Peer(
            "python-socketio",
            "socketio",
            "http",
            (sys.executable, str(HERE / "python_socketio_server.py")),
        ),
    )
}


# -- the load side ---------------------------------------------------------------


class Viewer(WSClient):
    """One viewer of any peer: fanout's client (the handshake, the count of ``score``
    frames), joining in the peer's dialect, and timing a sampled viewer's messages from
    the ``sent`` field wherever it is in them (``42["score",{..."sent":...}]`` too).

    An Engine.IO server speaks first (its open packet), so a socket.io viewer joins
    once its namespace is connected, not right after the handshake.
    """

    __slots__ = ("_sio_join", "sio")

    def __init__(
        self,
        counters: Counters,
        request: bytes,
        accept: bytes,
        join: bytes,
        socketio: bool,
        sample: bool,
        ready: asyncio.Future[None],
    ) -> None:
        super().__init__(counters, request, accept, b"" if socketio else join, sample, ready)
        self.sio = socketio
        self._sio_join = join

    def _text(self, buf: bytes, start: int, end: int, now: int) -> None:
        c = self.c
        score, joined = (
            (b'42["score"', b'42["joined"') if self.sio else (SCORE_PREFIX, JOINED_PREFIX)
        )
        if buf.startswith(score, start):
            c.score += 1
            if self.sample and c.record_latency:
                found = SENT.search(buf, start, end)
                if found is not None:
                    c.latencies_ns.append(now - int(found.group(1)))
        elif buf.startswith(joined, start):
            c.joined += 1
        elif self.sio and self.t is not None:
            self._engine_io(buf[start:end], self.t)

    def _engine_io(self, packet: bytes, t: asyncio.Transport) -> None:
        """Engine.IO 4 / Socket.IO 5: open -> connect the namespace -> join; ping -> pong."""
        if packet == b"2":
            t.write(client_frame(0x1, b"3"))
        elif packet.startswith(b"0{"):
            t.write(client_frame(0x1, b"40"))
        elif packet.startswith(b"40"):
            t.write(self._sio_join)

    def ping(self) -> None:
        if self.t is not None and not self.t.is_closing():
            self.t.write(PING)


PING: Final = client_frame(0x9, b"")


def _join_frame(peer: Peer, viewer_id: str) -> bytes:
    if peer.dialect == "socketio":
        return client_frame(0x1, b"42" + orjson.dumps(["join", EVENT_ID]))
    return client_frame(0x1, orjson.dumps({"id": viewer_id, "eventId": EVENT_ID}))


class Publisher:
    """Publishes one message and returns once the server acknowledged it."""

    def __init__(self, session: aiohttp.ClientSession, peer: Peer, port: int) -> None:
        self._session = session
        self._peer = peer
        self._port = port
        self._ws: aiohttp.ClientWebSocketResponse | None = None
        if peer.publish == "livegate":
            self._url = f"http://{HOST}:{port}/api/events/{EVENT_ID}/updates"
            self._headers = {"Authorization": f"Bearer {API_KEY}"}
        else:
            self._url = f"http://{HOST}:{port}/publish?room={EVENT_ID}"
            self._headers = {}
        self._headers["Content-Type"] = "application/json"

    async def open(self) -> None:
        """(Re)open a publisher WebSocket. Open it just before publishing: it answers the
        server's pings only while it reads, so it must not idle through a long connect."""
        if self._ws is not None:
            await self._ws.close()
        if self._peer.publish == "ws":
            self._ws = await self._session.ws_connect(
                f"ws://{HOST}:{self._port}/publish?room={EVENT_ID}"
            )

    async def publish(self, payload: bytes) -> None:
        if self._ws is not None:
            await self._ws.send_bytes(payload)
            ack = await self._ws.receive(timeout=120)
            if ack.type is not aiohttp.WSMsgType.TEXT:
                raise RuntimeError(f"publish: {ack}")
            return
        async with self._session.post(self._url, data=payload, headers=self._headers) as resp:
            if resp.status != 202:
                raise RuntimeError(f"publish: {resp.status} {await resp.text()}")
            await resp.read()


@dataclass(slots=True)
class Phase:
    """One publishing phase: what was expected, got, and what it cost the server."""

    messages: int
    expected: int
    delivered: int
    wall_s: float
    cpu_s: float

    @property
    def lost(self) -> int:
        """Messages (not deliveries) that some viewer never got, rounded up."""
        missing = self.expected - self.delivered
        viewers = self.expected // self.messages if self.messages else 1
        return -(-missing // viewers) if missing > 0 else 0


@dataclass(slots=True)
class LoadResult:
    """One server's figures in one run."""

    kind: str
    n: int
    idle_kib_per_viewer: float
    rss_before_kib: int
    rss_idle_kib: int
    rss_after_kib: int
    connect_s: float
    paced_rate: float
    paced_cpu_us: float
    paced_lost: int
    paced_wall_s: float
    burst_cpu_us: float
    burst_deliveries_per_s: float
    burst_lost: int
    p50_ms: float
    p99_ms: float
    latency_cdf_ms: list[float]
    """Publish-to-receive at every half percentile (0, 0.5, ..., 100)."""
    latency_samples: int
    close_codes: dict[str, int]
    payload_bytes: int


class Load:
    """The viewers and the publisher of one load process against one server."""

    def __init__(self, args: argparse.Namespace, peer: Peer) -> None:
        self.args = args
        self.peer = peer
        self.loop = asyncio.get_running_loop()
        self.c = Counters()
        self.viewers: list[Viewer] = []

    async def connect(self, n: int, prefix: str, samples: set[int]) -> None:
        """Open ``n`` viewers, ``--batch`` at a time; each joins ``self.viewers`` once open."""
        args, peer, loop = self.args, self.peer, self.loop

        async def one(i: int) -> None:
            ready: asyncio.Future[None] = loop.create_future()
            request, accept = handshake(args.port, peer.ws_path)
            join = _join_frame(peer, f"{prefix}{i}")
            socketio = peer.dialect == "socketio"

            def factory() -> Viewer:
                return Viewer(self.c, request, accept, join, socketio, i in samples, ready)

            viewer = await connect_from(loop, factory, args.port, args.source)
            await asyncio.wait_for(ready, 60)
            self.viewers.append(viewer)  # pinged from now on, as an SDK pings from the open

        for first in range(0, n, args.batch):
            await asyncio.gather(*(one(i) for i in range(first, min(n, first + args.batch))))

    async def phase(self, pub: Publisher, messages: int, rate: float | None) -> Phase:
        """Publish ``messages`` at ``rate`` a second (None: each once the last is acked)."""
        pid = self.args.pid
        expected = len(self.viewers) * messages
        done = self.c.expect(expected, self.loop)
        user0, sys0 = proc_cpu_seconds(pid)
        start = time.perf_counter()
        for i in range(messages):
            if rate is not None:
                delay = start + i / rate - time.perf_counter()
                if delay > 0:
                    await asyncio.sleep(delay)
            await pub.publish(make_payload(time.perf_counter_ns(), i))
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.shield(done), 30 + expected * 50e-6)
        wall = time.perf_counter() - start
        user1, sys1 = proc_cpu_seconds(pid)
        return Phase(messages, expected, self.c.score, wall, user1 + sys1 - user0 - sys0)

    async def pinger(self) -> None:
        while True:
            await asyncio.sleep(PING_EVERY_S)
            for viewer in self.viewers:
                viewer.ping()

    async def run(self) -> LoadResult:
        args, c = self.args, self.c
        n = args.n
        async with aiohttp.ClientSession() as session:
            pub = Publisher(session, self.peer, args.port)
            await pub.open()
            # Warm-up: a few viewers join, get two messages and leave, so lazily built
            # server state is not charged to the N viewers.
            self.viewers = []
            await self.connect(20, "w", set())
            await _joined_all(c, 20, 30)
            await self.phase(pub, 2, None)
            for viewer in self.viewers:
                assert viewer.t is not None
                viewer.t.abort()
            await asyncio.sleep(args.settle)
            c.joined = 0
            rss_before = proc_rss_kib(args.pid)
            step = max(1, n // args.samples)
            samples = set(range(0, n, step)[: args.samples])
            t0 = time.perf_counter()
            self.viewers = []
            pinger = asyncio.create_task(self.pinger())
            await self.connect(n, "u", samples)
            connect_s = time.perf_counter() - t0
            await _joined_all(c, n, 120)
            await pub.open()
            probe = await self.phase(pub, 1, None)
            if probe.delivered < n:
                raise RuntimeError(f"only {probe.delivered} of {n} viewers got the probe")
            await asyncio.sleep(args.settle)
            rss_idle = proc_rss_kib(args.pid)
            rate = args.paced_load / n
            c.record_latency = True
            paced = await self.phase(pub, max(1, round(rate * args.seconds)), rate)
            c.record_latency = False
            await asyncio.sleep(args.settle)
            burst = await self.phase(pub, max(1, round(args.burst_load / n)), None)
            rss_after = proc_rss_kib(args.pid)
            pinger.cancel()
        for viewer in self.viewers:
            if viewer.t is not None:
                viewer.t.abort()
        latencies = sorted(ns / 1e6 for ns in c.latencies_ns)
        cdf = [_percentile(latencies, q / 200) for q in range(201)]
        return LoadResult(
            kind=self.peer.name,
            n=n,
            idle_kib_per_viewer=(rss_idle - rss_before) / n,
            rss_before_kib=rss_before,
            rss_idle_kib=rss_idle,
            rss_after_kib=rss_after,
            connect_s=connect_s,
            paced_rate=rate,
            paced_cpu_us=paced.cpu_s / max(1, paced.delivered) * 1e6,
            paced_lost=paced.lost,
            paced_wall_s=paced.wall_s,
            burst_cpu_us=burst.cpu_s / max(1, burst.delivered) * 1e6,
            burst_deliveries_per_s=burst.delivered / burst.wall_s,
            burst_lost=burst.lost,
            p50_ms=_percentile(latencies, 0.5),
            p99_ms=_percentile(latencies, 0.99),
            latency_cdf_ms=cdf,
            latency_samples=len(latencies),
            close_codes={str(k): v for k, v in c.close_codes.items()},
            payload_bytes=len(make_payload(time.perf_counter_ns(), 0)),
        )


def load_main(args: argparse.Namespace) -> None:
    import uvloop

    raise_nofile_limit()

    async def load() -> LoadResult:
        return await Load(args, PEERS[args.kind]).run()

    result = uvloop.run(load())
    print(json.dumps(asdict(result)), flush=True)  # the orchestrator reads the last line


# -- the orchestrator --------------------------------------------------------------


def wait_listening(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        with contextlib.suppress(OSError), socket.create_connection((HOST, port), 0.5):
            return
        time.sleep(0.1)
    raise RuntimeError(f"server not listening after {timeout}s:\n{log.read_text()[-2000:]}")


def one_run(args: argparse.Namespace, kind: str, n: int, source: str, logdir: Path) -> LoadResult:
    """A fresh server of ``kind`` on the server core and one load process against it."""
    peer = PEERS[kind]
    redis: subprocess.Popen[bytes] | None = None
    server: subprocess.Popen[bytes] | None = None
    try:
        redis_url = ""
        if peer.needs_redis:
            redis, redis_url = start_redis(args.load_cpu)
        port = free_port()
        log = logdir / f"{kind}-{n}-{port}.log"
        with open(log, "wb") as out:
            server = subprocess.Popen(
                ["taskset", "-c", args.server_cpu, *peer.command(port, redis_url)],
                cwd=ROOT,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        if peer.publish == "livegate":
            wait_ready(server, port, log, "cricket", 60)
        else:
            wait_listening(server, port, log, 60)
        load = [
            *("taskset", "-c", args.load_cpu, sys.executable, str(Path(__file__).resolve())),
            *("--load", f"--kind={kind}", f"--port={port}", f"--pid={server.pid}"),
            *(f"--n={n}", f"--source={source}", f"--samples={args.samples}"),
            *(f"--seconds={args.seconds}", f"--paced-load={args.paced_load}"),
            *(f"--burst-load={args.burst_load}", f"--settle={args.settle}"),
            f"--batch={args.batch}",
        ]
        done = subprocess.run(load, cwd=ROOT, capture_output=True, text=True, timeout=1800)
        if done.returncode != 0 or server.poll() is not None:
            raise RuntimeError(
                f"{kind} N={n}: load exited {done.returncode}, server "
                f"{'exited' if server.poll() is not None else 'running'}\n"
                f"{done.stderr[-3000:]}\nserver log:\n{log.read_text()[-2000:]}"
            )
        raw = json.loads(done.stdout.strip().splitlines()[-1])
        return LoadResult(**raw)
    finally:
        if server is not None:
            stop(server)
        if redis is not None:
            stop(redis)


COLUMNS: Final = (
    ("burst_cpu_us", "CPU µs/delivery (burst)", "{:.2f}"),
    ("paced_cpu_us", "CPU µs/delivery (paced)", "{:.2f}"),
    ("burst_deliveries_per_s", "deliveries/s (burst)", "{:,.0f}"),
    ("idle_kib_per_viewer", "KiB/idle viewer", "{:.1f}"),
    ("p50_ms", "p50 ms", "{:.1f}"),
    ("p99_ms", "p99 ms", "{:.1f}"),
)


def median_of(runs: Sequence[LoadResult], name: str) -> float:
    return statistics.median(float(getattr(r, name)) for r in runs)


def _ratio(ours: float, theirs: float) -> str:
    """``ours / theirs`` as ``0.12x``; a phase too short for one clock tick of CPU is n/a."""
    return f"{ours / theirs:.2f}x" if ours and theirs else "n/a"


def render(results: dict[tuple[int, str], list[LoadResult]], kinds: Sequence[str]) -> str:
    """The markdown table (medians over the runs) and the ratios against livegate."""
    lines = []
    ns = sorted({n for n, _ in results})
    header = ["N", "server", *(title for _, title, _ in COLUMNS), "lost (paced/burst)"]
    lines.append("| " + " | ".join(header) + " |")
    lines.append("|" + "---|" * len(header))
    for n in ns:
        for kind in kinds:
            runs = results.get((n, kind))
            if not runs:
                continue
            cells = [f"{n:,}", kind]
            cells += [fmt.format(median_of(runs, name)) for name, _, fmt in COLUMNS]
            lost = f"{sum(r.paced_lost for r in runs)}/{sum(r.burst_lost for r in runs)}"
            cells.append(lost)
            lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines.append("livegate's server CPU per delivery as a fraction of each peer's (medians):")
    lines.append("")
    lines.append("| N | against | burst | paced |")
    lines.append("|---|---|---|---|")
    for n in ns:
        ours = results.get((n, "livegate"))
        if not ours:
            continue
        for kind in kinds:
            theirs = results.get((n, kind))
            if kind == "livegate" or not theirs:
                continue
            burst = _ratio(median_of(ours, "burst_cpu_us"), median_of(theirs, "burst_cpu_us"))
            paced = _ratio(median_of(ours, "paced_cpu_us"), median_of(theirs, "paced_cpu_us"))
            lines.append(f"| {n:,} | {kind} | {burst} | {paced} |")
    return "\n".join(lines)


def plot(results: dict[tuple[int, str], list[LoadResult]], kinds: Sequence[str], out: Path) -> None:
    """Three PNGs: CPU per delivery against N, the latency CDF at one N, KiB per viewer."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    ns = sorted({n for n, _ in results})
    present = [k for k in kinds if any((n, k) in results for n in ns)]

    fig, ax = plt.subplots(figsize=(8, 4.8))
    for index, kind in enumerate(present):
        xs = [n for n in ns if (n, kind) in results]
        color = f"C{index}"
        burst = [median_of(results[(n, kind)], "burst_cpu_us") for n in xs]
        paced = [median_of(results[(n, kind)], "paced_cpu_us") for n in xs]
        ax.plot(xs, burst, "o-", color=color, label=kind)
        ax.plot(xs, paced, "s--", color=color, alpha=0.6)
    ax.set(xscale="log", yscale="log", xlabel="viewers (N)", ylabel="server CPU µs per delivery")
    ax.set_title("Cost per delivered message, one core (solid: burst, dashed: paced)")
    _save(fig, ax, out / "peers-cpu.png", grid="both")

    at = 5000 if any(n == 5000 for n in ns) else ns[len(ns) // 2]
    fig, ax = plt.subplots(figsize=(8, 4.8))
    for kind in present:
        runs = results.get((at, kind))
        if not runs:
            continue
        cdf = [statistics.median(r.latency_cdf_ms[i] for r in runs) for i in range(201)]
        ax.plot(cdf, [i / 2 for i in range(201)], label=kind)
    ax.set(xscale="log", xlabel="publish → receive (ms)", ylabel="percentile")
    ax.set_title(f"Latency at a paced rate, N = {at:,}")
    _save(fig, ax, out / "peers-latency.png", grid="both")

    fig, ax = plt.subplots(figsize=(8, 4.8))
    width = 0.8 / max(1, len(present))
    for i, kind in enumerate(present):
        xs = [j for j, n in enumerate(ns) if (n, kind) in results]
        ys = [median_of(results[(ns[j], kind)], "idle_kib_per_viewer") for j in xs]
        ax.bar([x + i * width for x in xs], ys, width, label=kind)
    ax.set_xticks([j + 0.4 - width / 2 for j in range(len(ns))], [f"{n:,}" for n in ns])
    ax.set(xlabel="viewers (N)", ylabel="server RSS KiB per idle viewer")
    ax.set_title("Memory per joined idle viewer")
    _save(fig, ax, out / "peers-memory.png", grid="y")


def _save(fig: Any, ax: Any, path: Path, grid: str) -> None:
    """Grid (``both`` axes' ticks, or ``y`` only), the legend outside, the PNG, closed."""
    import matplotlib.pyplot as plt

    if grid == "y":
        ax.grid(True, axis="y", alpha=0.3)
    else:
        ax.grid(True, which="both", alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0))
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def orchestrate(args: argparse.Namespace) -> dict[tuple[int, str], list[LoadResult]]:
    if (
        any(PEERS[k].program[:1] == ("node",) for k in args.kinds)
        and not (HERE / "node_modules").is_dir()
    ):
        sys.exit("the Node peers are not installed: run `npm ci --prefix bench/peers`")
    raise_nofile_limit()
    results: dict[tuple[int, str], list[LoadResult]] = {}
    runs = 0
    with tempfile.TemporaryDirectory(prefix="livegate-peers-") as tmp:
        logdir = args.logdir or Path(tmp)
        logdir.mkdir(parents=True, exist_ok=True)
        for n in args.n:
            for r in range(args.repeat):
                order = args.kinds[r % len(args.kinds) :] + args.kinds[: r % len(args.kinds)]
                for kind in order:
                    source = f"127.{1 + os.getpid() % 250}.0.{2 + runs % 250}"
                    runs += 1
                    result = one_run(args, kind, n, source, logdir)
                    results.setdefault((n, kind), []).append(result)
                    print(
                        f"N={n} run {r + 1} {kind}: burst {result.burst_cpu_us:.2f} µs, "
                        f"paced {result.paced_cpu_us:.2f} µs, "
                        f"{result.idle_kib_per_viewer:.1f} KiB/viewer, "
                        f"p50/p99 {result.p50_ms:.1f}/{result.p99_ms:.1f} ms, "
                        f"lost {result.paced_lost}/{result.burst_lost}",
                        flush=True,
                    )
    return results


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, nargs="+", default=[1000, 5000, 18000])
    parser.add_argument("--kinds", nargs="+", choices=list(PEERS), default=list(PEERS))
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=10.0, help="paced phase length")
    parser.add_argument("--paced-load", type=float, default=50_000, help="deliveries/s offered")
    parser.add_argument("--burst-load", type=float, default=500_000, help="deliveries a burst")
    parser.add_argument("--samples", type=int, default=100)
    parser.add_argument("--settle", type=float, default=2.0)
    parser.add_argument("--batch", type=int, default=200)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--json", type=Path, help="write every run's figures here")
    parser.add_argument("--from-json", type=Path, help="render (and plot) a saved run")
    parser.add_argument("--plots", type=Path, help="draw the PNGs into this folder")
    parser.add_argument("--logdir", type=Path, help="keep the servers' logs here")
    # The load process's own flags.
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--kind", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--source", default="127.0.0.2", help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.load:
        args.n = args.n[0] if isinstance(args.n, list) else args.n
        load_main(args)
        return
    if args.from_json:
        saved = json.loads(args.from_json.read_text())
        results = {
            (int(n), kind): [LoadResult(**r) for r in runs]
            for n, by_kind in saved.items()
            for kind, runs in by_kind.items()
        }
    else:
        results = orchestrate(args)
    if args.json:
        by_n: dict[str, dict[str, list[dict[str, object]]]] = {}
        for (n, kind), runs in results.items():
            by_n.setdefault(str(n), {})[kind] = [asdict(r) for r in runs]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(by_n, indent=1))
    print(render(results, args.kinds))
    if args.plots:
        plot(results, args.kinds, args.plots)


if __name__ == "__main__":
    main()
