"""Attack benchmark: what one hostile client can do to a ``livegate serve`` node.

Run from the repository root, by hand (not in ``make bench``; all attacks take
about three minutes)::

    .venv/bin/python bench/attacks.py [--only NAME ...] [--seconds 20] [--json PATH]

For each attack the orchestrator starts a fresh ``python -m livegate serve``
pinned to one core (``taskset -c 0``; a random API key in ``LIVEGATE_API_KEY``;
``--heartbeat-timeout 600`` so silent benchmark viewers are never closed),
then runs the attack from a load process pinned to the other core
(``taskset -c 1``; this script with ``--load``), stops the server with SIGTERM
and reads its log. The attacks (``--only`` picks some):

- ``rst-storm``: 300 viewers that join and then reset their TCP connection
  (SO_LINGER 0, close), 10 at a time, each replaced at once, for ``--seconds``,
  while 8 keep-alive publishers post as fast as they are acked and 20 innocent
  viewers watch. Every publish must be 202 and every innocent viewer must get
  every seq exactly once.
- ``ping-flood``: 20 connections (``--flooders``) writing masked WebSocket ping
  frames as fast as the socket takes them, reconnecting when the server drops
  them (they do not answer its close). ``/healthz`` and publish latency (20/s
  each) and server CPU are measured with no flood, then under it. The only
  close code must be 4008, and the p99s under the flood must stay within the
  latency bound (below).
- ``list-reads``: 10,000 events, then 8 readers ``GET /api/events`` as fast as
  they can: the default page; walking the pages with ``cursor``; with
  ``If-None-Match``; and walking from 8 source addresses (127.0.0.2-9) instead
  of one. Publish latency (20/s) against a no-reader baseline, within the
  latency bound. From one address at most the read rate (20/s, burst 40) may be
  answered.
- ``slowloris``: 500 sockets each sending one header byte every 5 s; none may be
  open 15 s later (the header timeout is 10 s); ``/healthz`` latency meanwhile,
  within the latency bound.
- ``amplification``: joins with ``since`` on an event with 1000 history messages
  of ~500 bytes (a resume is capped at 100 messages and 64 KiB, else the
  snapshot), and the largest ``reactions`` message while 200 viewers with
  128-character ids react at their rate limit with distinct 16-character emoji
  and 280-character comments, all 4-byte UTF-8 (bound: 4096 bytes; every
  accepted reaction must be counted).
- ``auth-guess``: wrong API keys from one address as fast as answered for
  ``--burst-seconds``: 401s are bounded by the failure bucket (10, then 1/s), the
  rest 429; the right key from that address is 429, from another address 202;
  log lines are counted and no key may appear in the log.
- ``bad-requests``: malformed requests (garbage request line, bad
  Content-Length, 16 KiB request line, bad chunked body), each on a new
  connection, as fast as answered for ``--burst-seconds``: log lines and bytes
  written meanwhile, and no traceback.
- ``fd-cap``: the server under ``prlimit --nofile=1024:1024``: WebSocket
  connections until refused (accepted must equal the logged capacity; refusals
  503 with ``Retry-After``); ``/healthz`` (new connections) and a publish while
  full; then the same with ``--fd-idle`` idle TCP sockets on top (each holds a
  descriptor until the header timeout, unless the server aborts it sooner);
  after everything is closed ``/healthz`` must answer 200 again.

The latency bound for a probe under attack is a p99 of 100 ms, or 5 times the
p99 without the attack in the same run if that is higher (a busy machine).

The output is one markdown table (attack, figure, value, bound, ok) and a
PASS/FAIL line; the exit status is 1 if an invariant failed. Every attack also
checks that the server stayed up, exited 0 on SIGTERM and logged no traceback.
The raw WebSocket client, the ``/proc`` readers and the update payload come
from ``bench/fanout.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import json
import os
import re
import secrets
import socket
import struct
import subprocess
import sys
import tempfile
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, TypeVar

import aiohttp
import orjson

if __name__ == "__main__" and not __package__:
    # Run as `python bench/attacks.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout import (
    HOST,
    JOINED_PREFIX,
    ROOT,
    SCORE_PREFIX,
    Counters,
    WSClient,
    _percentile,
    client_frame,
    free_port,
    gateway_command,
    handshake,
    make_payload,
    proc_cpu_seconds,
    raise_nofile_limit,
    stop,
)
from bench.soak import wait_healthy
from bench.wsframes import split_frames

ATTACKS: Final = (
    "rst-storm",
    "ping-flood",
    "list-reads",
    "slowloris",
    "amplification",
    "auth-guess",
    "bad-requests",
    "fd-cap",
)
REACTIONS_PREFIX: Final = b'{"type":"reactions"'
ERROR_PREFIX: Final = b'{"type":"error"'
PINGS_PER_CHUNK: Final = 256
PING_CHUNK: Final = client_frame(0x9, b"p") * PINGS_PER_CHUNK
PROBE_RATE: Final = 20.0  # /healthz probes and paced publishes per second
MAX_REACTIONS_MESSAGE: Final = 4096
CAPACITY_LINE: Final = re.compile(
    rb"capacity: (\d+) WebSocket connections \(file descriptor limit (\d+)\)"
)
NETWORK_ERRORS: Final = (aiohttp.ClientError, OSError, TimeoutError, asyncio.TimeoutError)

Row = tuple[str, str, str, bool | None]
"""(figure, value, bound, ok): ``ok`` is None for a figure without a bound."""


# -- the load side: a raw WebSocket connection with a general frame parser ----------


@dataclass(slots=True)
class Stats(Counters):
    """Counters shared by the connections of one attack (the loop is single-threaded)."""

    pongs: int = 0
    pings_written: int = 0
    connections: int = 0
    connect_failures: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    reactions_msgs: int = 0
    max_reactions_bytes: int = 0


class Conn(WSClient):
    """fanout's client (handshake, masked join) with a parser that hands every text
    frame to :meth:`on_text` and keeps the handshake head, close code and pongs."""

    def __init__(
        self, stats: Stats, port: int, join: dict[str, Any] | None, ready: asyncio.Future[None]
    ) -> None:
        request, accept = handshake(port)
        frame = client_frame(0x1, orjson.dumps(join)) if join is not None else b""
        super().__init__(stats, request, accept, frame, False, ready)
        loop = asyncio.get_running_loop()
        self.s = stats
        self.wants_join = join is not None
        self.joined: asyncio.Future[bytes] = loop.create_future()
        self.lost: asyncio.Future[None] = loop.create_future()
        self.head = b""
        self.close_code: int | None = None

    @property
    def upgraded(self) -> bool:
        return self._upgraded

    def data_received(self, data: bytes) -> None:
        if not self._upgraded and not self.head:
            buf = self._buf + data
            end = buf.find(b"\r\n\r\n")
            if end >= 0:
                self.head = buf[:end]
        super().data_received(data)

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.lost.done():
            self.lost.set_result(None)
        if self.wants_join and not self.joined.done():
            self.joined.set_exception(ConnectionError(f"closed before joined: {exc}"))
            self.joined.exception()  # retrieved: whoever awaits it still gets it

    def reset(self) -> None:
        """Vanish with a TCP reset: SO_LINGER 0, then close."""
        if self.t is None or self.t.is_closing():
            return
        sock = self.t.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.t.abort()

    def abort(self) -> None:
        if self.t is not None:
            self.t.abort()

    def on_text(self, buf: bytes, start: int, stop: int) -> None:
        c = self.s
        if buf.startswith(SCORE_PREFIX, start):
            c.score += 1
        elif buf.startswith(JOINED_PREFIX, start):
            c.joined += 1
            if not self.joined.done():
                self.joined.set_result(bytes(buf[start:stop]))
        elif buf.startswith(ERROR_PREFIX, start):
            code = str(orjson.loads(buf[start:stop]).get("code"))
            c.errors[code] = c.errors.get(code, 0) + 1
        else:
            c.other += 1

    def _frames(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        spans, pos = split_frames(buf)
        for first, _second, start, end in spans:
            opcode = first & 0x0F
            if opcode == 1:
                self.on_text(buf, start, end)
            elif opcode == 0xA:
                self.s.pongs += 1
            elif opcode == 9 and self.t is not None:
                self.t.write(client_frame(0xA, buf[start:end]))
            elif opcode == 8:
                code = int.from_bytes(buf[start : start + 2], "big") if end - start >= 2 else 1005
                self.close_code = code
                self.s.close_codes[code] = self.s.close_codes.get(code, 0) + 1
        self._buf = buf[pos:] if pos < len(buf) else b""


ConnT = TypeVar("ConnT", bound=Conn)


class Innocent(Conn):
    """A viewer that keeps every seq it gets, in order."""

    def __init__(
        self, stats: Stats, port: int, join: dict[str, Any], ready: asyncio.Future[None]
    ) -> None:
        super().__init__(stats, port, join, ready)
        self.seqs: list[int] = []
        self._prefix = b'{"type":"score","eventId":"%s","seq":' % join["eventId"].encode()

    def on_text(self, buf: bytes, start: int, stop: int) -> None:
        if buf.startswith(self._prefix, start):
            p = start + len(self._prefix)
            self.seqs.append(int(buf[p : buf.index(b",", p)]))
        elif buf.startswith(SCORE_PREFIX, start):
            self.seqs.append(orjson.loads(buf[start:stop])["seq"])
        super().on_text(buf, start, stop)


class Flooder(Conn):
    """Writes ping frames whenever the socket takes them; ignores the server's close."""

    def __init__(self, stats: Stats, port: int, ready: asyncio.Future[None]) -> None:
        super().__init__(stats, port, None, ready)
        self.flooding = False
        self.paused = False

    def flood(self) -> None:
        self.flooding = True
        self._pump()

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        self._pump()

    def connection_lost(self, exc: Exception | None) -> None:
        self.flooding = False
        super().connection_lost(exc)

    def _pump(self) -> None:
        t = self.t
        if not self.flooding or self.paused or t is None or t.is_closing():
            return
        t.write(PING_CHUNK)
        self.s.pings_written += PINGS_PER_CHUNK
        asyncio.get_running_loop().call_soon(self._pump)


@dataclass(slots=True)
class ReactionTally:
    """What the observing viewer read from the ``reactions`` aggregates."""

    counted: int = 0
    max_keys: int = 0
    max_comments: int = 0
    folded: int = 0


class Reactor(Conn):
    """A viewer that notes the size of every ``reactions`` message; the observer also
    decodes them."""

    def __init__(
        self,
        stats: Stats,
        port: int,
        join: dict[str, Any],
        ready: asyncio.Future[None],
        tally: ReactionTally | None,
    ) -> None:
        super().__init__(stats, port, join, ready)
        self.tally = tally

    def on_text(self, buf: bytes, start: int, stop: int) -> None:
        if not buf.startswith(REACTIONS_PREFIX, start):
            super().on_text(buf, start, stop)
            return
        s = self.s
        s.reactions_msgs += 1
        s.max_reactions_bytes = max(s.max_reactions_bytes, stop - start)
        if self.tally is not None:
            msg = orjson.loads(buf[start:stop])
            counts: dict[str, int] = msg["counts"]
            self.tally.counted += sum(counts.values())
            self.tally.max_keys = max(self.tally.max_keys, len(counts))
            self.tally.max_comments = max(self.tally.max_comments, len(msg["comments"]))
            self.tally.folded += "other" in counts


class Slow(asyncio.Protocol):
    """A slowloris socket: the caller writes its bytes; it notes when it was closed."""

    def __init__(self, opened: float) -> None:
        self.opened = opened
        self.closed_after: float | None = None
        self.error: str | None = None
        self.received = b""
        self.t: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.received += data[:200]

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed_after = time.perf_counter() - self.opened
        self.error = repr(exc) if exc is not None else None


# -- the load side: measurements ----------------------------------------------------


@dataclass(slots=True)
class Sample:
    """Latencies (ms) and statuses of a paced series of requests (-1: no answer)."""

    latencies_ms: list[float] = field(default_factory=list)
    statuses: dict[int, int] = field(default_factory=dict)

    def p(self, q: float) -> float:
        return _percentile(sorted(self.latencies_ms), q)

    def only(self, status: int) -> bool:
        return bool(self.statuses) and set(self.statuses) == {status}

    def summary(self) -> dict[str, Any]:
        return {
            "n": len(self.latencies_ms),
            "p50_ms": self.p(0.5),
            "p99_ms": self.p(0.99),
            "max_ms": max(self.latencies_ms, default=float("nan")),
            "statuses": self.statuses,
        }


@dataclass(slots=True)
class Phase:
    """``/healthz`` and publish latency and server CPU over one phase of an attack."""

    healthz: Sample
    publish: Sample
    cpu_share: float
    seconds: float


def _ms(x: float) -> str:
    return f"{x:.1f}" if x >= 10 else f"{x:.2f}"


def _p50_p99(s: Sample) -> str:
    return f"{_ms(s.p(0.5))} / {_ms(s.p(0.99))}"


def _statuses(counts: dict[int, int]) -> str:
    return ", ".join(f"{k if k >= 0 else 'no answer'}: {v:,}" for k, v in sorted(counts.items()))


def _rate(n: float, seconds: float) -> str:
    return f"{n / seconds:,.0f}/s"


def latency_bound(baseline: Sample | None = None) -> float:
    """The p99 (ms) an attack may push a probe to: 100 ms, or 5x the no-attack p99 of
    the same run when that is higher (a busy machine)."""
    return max(100.0, 5 * baseline.p(0.99)) if baseline is not None else 100.0


class Load:
    """One attack against one server, from one uvloop event loop."""

    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.port: int = args.port
        self.pid: int = args.pid
        self.log_path = Path(args.log)
        self.base = f"http://{HOST}:{self.port}"
        self.key = os.environ["LIVEGATE_API_KEY"]
        self.auth = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        self.loop = asyncio.get_running_loop()
        self.rows: list[Row] = []
        self.figures: dict[str, Any] = {}
        self.http: aiohttp.ClientSession
        self.fresh: aiohttp.ClientSession

    # -- bookkeeping

    def row(self, figure: str, value: str, bound: str = "", ok: bool | None = None) -> None:
        self.rows.append((figure, value, bound, ok))

    def note(self, text: str) -> None:
        print(f"  [{self.args.attack}] {text}", file=sys.stderr, flush=True)

    def cpu(self) -> float:
        user, system = proc_cpu_seconds(self.pid)
        return user + system

    def log_mark(self) -> tuple[int, int]:
        """(bytes, lines) of the server's log so far."""
        data = self.log_path.read_bytes()
        return len(data), data.count(b"\n")

    def log_since(self, mark: tuple[int, int]) -> bytes:
        return self.log_path.read_bytes()[mark[0] :]

    # -- HTTP helpers

    async def create_event(self, event_id: str, sport: str = "cricket", **meta: Any) -> None:
        body = orjson.dumps({"sport": sport, "title": f"{event_id} XI v Attack XI", **meta})
        async with self.http.put(
            f"{self.base}/api/events/{event_id}", data=body, headers=self.auth
        ) as resp:
            if resp.status not in (200, 201):
                raise RuntimeError(f"PUT {event_id}: {resp.status} {await resp.text()}")

    def publisher(self, event_id: str) -> Callable[[int], Awaitable[int]]:
        url = f"{self.base}/api/events/{event_id}/updates"

        async def call(i: int) -> int:
            payload = make_payload(time.perf_counter_ns(), i)
            async with self.http.post(url, data=payload, headers=self.auth) as resp:
                await resp.read()
                return resp.status

        return call

    async def healthz(self, _i: int = 0) -> int:
        """``GET /healthz`` on a new connection, as a load balancer's check would."""
        async with self.fresh.get(f"{self.base}/healthz") as resp:
            await resp.read()
            return resp.status

    async def metric(self, name: str) -> dict[str, float]:
        """The samples of one ``/metrics`` series, by label set (``""`` without labels)."""
        async with self.fresh.get(f"{self.base}/metrics") as resp:
            text = await resp.text()
        found: dict[str, float] = {}
        for line in text.splitlines():
            if line.startswith(name) and line[len(name) : len(name) + 1] in ("{", " "):
                labels, _, value = line[len(name) :].rpartition(" ")
                key = ",".join(re.findall(r'="([^"]*)"', labels))
                found[key] = float(value)
        return found

    async def paced(
        self, rate: float, until: float, call: Callable[[int], Awaitable[int]]
    ) -> Sample:
        """``call(i)`` ``rate`` times a second, one at a time, until ``until``.

        A call that takes longer delays the next ones (there is no catching up),
        and the last call may end after ``until`` (by at most its timeout).
        """
        sample = Sample()
        start = time.perf_counter()
        i = 0
        while (now := time.perf_counter()) < until:
            due = start + i / rate
            if due > now:
                if due >= until:
                    break
                await asyncio.sleep(due - now)
            else:
                start += now - due  # behind: do not burst to catch up
            await self.timed(sample, call, i)
            i += 1
        return sample

    async def timed(
        self, sample: Sample, call: Callable[[int], Awaitable[int]], i: int = 0
    ) -> None:
        """``call(i)``, its status and latency added to ``sample`` (-1: no answer)."""
        t0 = time.perf_counter()
        try:
            status = await call(i)
        except NETWORK_ERRORS:
            status = -1
        sample.latencies_ms.append((time.perf_counter() - t0) * 1000)
        sample.statuses[status] = sample.statuses.get(status, 0) + 1

    async def phase(self, seconds: float, event_id: str) -> Phase:
        """Probe ``/healthz`` and publish to ``event_id``, each at PROBE_RATE, for ``seconds``."""
        cpu0, t0 = self.cpu(), time.perf_counter()
        until = t0 + seconds
        healthz, publish = await asyncio.gather(
            self.paced(PROBE_RATE, until, self.healthz),
            self.paced(PROBE_RATE, until, self.publisher(event_id)),
        )
        wall = time.perf_counter() - t0
        return Phase(healthz, publish, (self.cpu() - cpu0) / wall, wall)

    # -- WebSocket helpers

    async def open(
        self,
        factory: Callable[[asyncio.Future[None]], ConnT],
        local_addr: tuple[str, int] | None = None,
    ) -> ConnT:
        """Connect, complete the handshake and, if the connection joins, wait for ``joined``."""
        ready: asyncio.Future[None] = self.loop.create_future()
        _, conn = await self.loop.create_connection(
            lambda: factory(ready), HOST, self.port, local_addr=local_addr
        )
        await asyncio.wait_for(ready, 30)
        if conn.wants_join:
            await asyncio.wait_for(asyncio.shield(conn.joined), 30)
        return conn

    async def open_many(
        self, n: int, factory: Callable[[int, asyncio.Future[None]], ConnT], batch: int = 100
    ) -> list[ConnT]:
        conns: list[ConnT] = []
        for first in range(0, n, batch):
            conns += await asyncio.gather(
                *(
                    self.open(functools.partial(factory, i))
                    for i in range(first, min(n, first + batch))
                )
            )
        return conns

    # -- the attacks

    async def run(self) -> dict[str, Any]:
        timeout = aiohttp.ClientTimeout(total=10)
        async with (
            aiohttp.ClientSession(timeout=timeout) as self.http,
            aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(force_close=True),
                timeout=aiohttp.ClientTimeout(total=5),
            ) as self.fresh,
        ):
            attack = getattr(self, self.args.attack.replace("-", "_"))
            await attack()
        return {"rows": self.rows, "figures": self.figures}

    async def rst_storm(self) -> None:
        seconds: float = self.args.seconds
        event_id = "rst-e1"
        await self.create_event(event_id)
        stats = Stats()
        innocents = await self.open_many(
            20,
            lambda i, ready: Innocent(
                stats, self.port, {"id": f"fan-{i}", "eventId": event_id}, ready
            ),
        )

        def dropper(i: int, ready: asyncio.Future[None]) -> Conn:
            return Conn(stats, self.port, {"id": f"drop-{i}", "eventId": event_id}, ready)

        droppers = deque(await self.open_many(300, dropper))
        self.note(f"20 innocent viewers and {len(droppers)} droppers joined")
        statuses: dict[int, int] = {}
        acked: list[int] = []
        stopping = asyncio.Event()
        url = f"{self.base}/api/events/{event_id}/updates"

        async def publisher(n: int) -> None:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session:
                i = 0
                while not stopping.is_set():
                    i += 1
                    try:
                        async with session.post(
                            url, data=make_payload(time.perf_counter_ns(), i), headers=self.auth
                        ) as resp:
                            body = await resp.read()
                            status = resp.status
                    except NETWORK_ERRORS:
                        status, body = -1, b""
                    statuses[status] = statuses.get(status, 0) + 1
                    if status == 202:
                        acked.append(orjson.loads(body)["seq"])

        cpu0, t0 = self.cpu(), time.perf_counter()
        publishing = [asyncio.create_task(publisher(n)) for n in range(8)]
        resets = rejoin_failures = 0
        next_id = len(droppers)
        while time.perf_counter() - t0 < seconds:
            batch = [droppers.popleft() for _ in range(min(10, len(droppers)))]
            for conn in batch:
                conn.reset()
            resets += len(batch)
            fresh = await asyncio.gather(
                *(
                    self.open(functools.partial(dropper, i))
                    for i in range(next_id, next_id + len(batch))
                ),
                return_exceptions=True,
            )
            next_id += len(batch)
            for new in fresh:
                if isinstance(new, Conn):
                    droppers.append(new)
                else:
                    rejoin_failures += 1
        stopping.set()
        await asyncio.gather(*publishing)
        wall = time.perf_counter() - t0
        cpu_share = (self.cpu() - cpu0) / wall
        last = max(acked, default=0)
        deadline = time.perf_counter() + 15
        while any(len(v.seqs) < last for v in innocents) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        expected = set(range(1, last + 1))
        missing = [len(expected - set(v.seqs)) for v in innocents]
        dups = [len(v.seqs) - len(set(v.seqs)) for v in innocents]
        publishes = sum(statuses.values())
        non_202 = publishes - statuses.get(202, 0)
        closed_innocents = sum(1 for v in innocents if v.lost.done())
        closes = await self.metric("livegate_closes_total")
        for conn in [*innocents, *droppers]:
            conn.abort()
        self.figures.update(
            publishes=publishes,
            statuses=statuses,
            acked_gapless=sorted(acked) == list(range(1, len(acked) + 1)),
            resets=resets,
            rejoin_failures=rejoin_failures,
            missing_per_innocent=missing,
            dups_per_innocent=dups,
            server_cpu_share=cpu_share,
            seconds=wall,
            server_closes=closes,
        )
        self.row(
            f"publishes in {wall:.0f} s (8 keep-alive publishers)",
            f"{publishes:,} ({_rate(publishes, wall)})",
        )
        self.row("publishes not 202", f"{non_202} ({_statuses(statuses)})", "0", non_202 == 0)
        self.row(
            "acked seqs 1..N without a gap",
            str(self.figures["acked_gapless"]),
            "True",
            self.figures["acked_gapless"],
        )
        self.row(
            "viewers reset (SO_LINGER 0), 10 at a time / rejoin failures",
            f"{resets:,} / {rejoin_failures}",
        )
        self.row(
            "missing seqs per innocent viewer (20), max",
            str(max(missing)),
            "0",
            max(missing) == 0,
        )
        self.row("duplicate seqs per innocent viewer, max", str(max(dups)), "0", max(dups) == 0)
        self.row(
            "innocent viewers closed by the server",
            f"{closed_innocents} {stats.close_codes or ''}".strip(),
            "0",
            closed_innocents == 0,
        )
        self.row(
            "server closes by reason (/metrics; `gone`: a write met a reset socket)",
            ", ".join(f"{k}: {v:,.0f}" for k, v in sorted(closes.items()) if v) or "none",
        )
        self.row("server CPU", f"{cpu_share:.0%} of a core")

    async def ping_flood(self) -> None:
        seconds: float = self.args.phase_seconds
        event_id = "ping-e1"
        await self.create_event(event_id)
        watchers = await self.open_many(
            10,
            lambda i, ready: Conn(
                Stats(), self.port, {"id": f"fan-{i}", "eventId": event_id}, ready
            ),
        )
        base = await self.phase(seconds, event_id)
        self.note(f"baseline done: healthz {_p50_p99(base.healthz)} ms")
        stats = Stats()
        stopping = asyncio.Event()

        async def slot() -> None:
            while not stopping.is_set():
                try:
                    conn = await self.open(lambda ready: Flooder(stats, self.port, ready))
                except (ConnectionError, OSError, TimeoutError):
                    stats.connect_failures += 1
                    await asyncio.sleep(0.05)
                    continue
                stats.connections += 1
                conn.flood()
                while not conn.lost.done() and not stopping.is_set():
                    await asyncio.wait([conn.lost], timeout=0.2)
                conn.reset()  # a reset also drops what the socket still holds unsent

        slots = [asyncio.create_task(slot()) for _ in range(self.args.flooders)]
        flood = await self.phase(seconds, event_id)
        stopping.set()
        await asyncio.gather(*slots)
        # How long the node takes to answer /healthz again once the flood stops.
        t_stop = time.perf_counter()
        recovery: float | None = None
        while time.perf_counter() - t_stop < 60:
            try:
                if await asyncio.wait_for(self.healthz(), 1) == 200:
                    recovery = time.perf_counter() - t_stop
                    break
            except NETWORK_ERRORS:
                pass
        for conn in watchers:
            conn.abort()
        wall = flood.seconds
        codes = stats.close_codes
        self.figures.update(
            baseline=asdict(base),
            flood=asdict(flood),
            pongs=stats.pongs,
            pings_written=stats.pings_written,
            connections=stats.connections,
            connect_failures=stats.connect_failures,
            close_codes=codes,
            recovery_s=recovery,
        )
        healthz_ms, publish_ms = latency_bound(base.healthz), latency_bound(base.publish)
        self.row(
            "/healthz (20/s, new connections) p50 / p99 ms: no flood → flood",
            f"{_p50_p99(base.healthz)} → {_p50_p99(flood.healthz)}",
            f"flood p99 ≤ {healthz_ms:.0f}",
            flood.healthz.p(0.99) <= healthz_ms,
        )
        self.row(
            "publish (20/s, 10 viewers) p50 / p99 ms: no flood → flood",
            f"{_p50_p99(base.publish)} → {_p50_p99(flood.publish)}",
            f"flood p99 ≤ {publish_ms:.0f}",
            flood.publish.p(0.99) <= publish_ms,
        )
        self.row("server CPU: no flood → flood", f"{base.cpu_share:.0%} → {flood.cpu_share:.0%}")
        self.row(
            "/healthz answered again after the flood stopped",
            "never (60 s)" if recovery is None else f"{recovery:.2f} s",
            "< 1 s",
            recovery is not None and recovery < 1,
        )
        self.row(
            "ping frames written / pongs received",
            f"{_rate(stats.pings_written, wall)} / {_rate(stats.pongs, wall)}",
        )
        self.row(
            f"flood connections opened ({self.args.flooders} at a time) / failed",
            f"{stats.connections:,} / {stats.connect_failures}",
        )
        self.row(
            "close codes seen",
            ", ".join(f"{k}: {v:,}" for k, v in sorted(codes.items())) or "none",
            "4008 only",
            set(codes) == {4008},
        )
        self.row(
            "/healthz / publish answers (both phases)",
            f"{_statuses(_merge(base.healthz.statuses, flood.healthz.statuses))} / "
            f"{_statuses(_merge(base.publish.statuses, flood.publish.statuses))}",
            "all 200 / all 202",
            base.healthz.only(200)
            and flood.healthz.only(200)
            and base.publish.only(202)
            and flood.publish.only(202),
        )

    async def list_reads(self) -> None:
        seconds: float = self.args.phase_seconds
        n_events: int = self.args.events
        event_id = "list-e1"
        t0 = time.perf_counter()
        await self.create_event(event_id)
        queue = iter(range(1, n_events))

        async def creator() -> None:
            for i in queue:
                await self.create_event(f"list-{i:05d}", venue="Eden Gardens, Kolkata")

        await asyncio.gather(*(creator() for _ in range(16)))
        self.note(f"{n_events:,} events created in {time.perf_counter() - t0:.1f} s")
        phases: list[tuple[str, str | None, int]] = [
            ("no readers", None, 0),
            ("default page, 1 address", "page", 1),
            (f"cursor walk (limit={self.args.walk_limit}), 1 address", "walk", 1),
            ("default page with If-None-Match, 1 address", "etag", 1),
            (f"cursor walk (limit={self.args.walk_limit}), 8 addresses", "walk", 8),
        ]
        base: Phase | None = None
        results: list[dict[str, Any]] = []
        for label, mode, addresses in phases:
            counts: dict[int, int] = {}
            body_bytes = [0]
            stopping = asyncio.Event()
            readers = (
                [
                    asyncio.create_task(
                        self._reader(mode, i, addresses, counts, body_bytes, stopping)
                    )
                    for i in range(8)
                ]
                if mode is not None
                else []
            )
            measured = await self.phase(seconds, event_id)
            stopping.set()
            await asyncio.gather(*readers)
            if base is None:
                base = measured
            wall = measured.seconds
            answered = counts.get(200, 0) + counts.get(304, 0)
            results.append(
                {
                    "phase": label,
                    "counts": counts,
                    "bytes_per_200": body_bytes[0] / max(1, counts.get(200, 0)),
                    "phase_measure": asdict(measured),
                }
            )
            self.note(f"{label}: {_statuses(counts)}")
            assert base is not None
            if mode is None:
                self.row(
                    f"{label}: publish p50 / p99 ms; server CPU",
                    f"{_p50_p99(measured.publish)}; {measured.cpu_share:.0%} of a core",
                    "all 202",
                    measured.publish.only(202),
                )
                continue
            if addresses == 1:
                # One address: the read bucket (rate 20/s, burst 40), with some slack.
                limit = (self.args.read_rate + self.args.read_burst / wall) * 1.1 + 1
                ok = answered / wall <= limit and set(counts) <= {200, 304, 429}
                bound = f"200+304 ≤ {limit:.0f}/s"
            else:
                ok, bound = set(counts) <= {200, 304, 429}, "only 200, 304, 429"
            self.row(
                f"{label}: answered 200 / 304 / 429",
                f"{_rate(counts.get(200, 0), wall)} / {_rate(counts.get(304, 0), wall)} / "
                f"{_rate(counts.get(429, 0), wall)}",
                bound,
                ok,
            )
            self.row(
                f"{label}: bytes per 200; server CPU",
                f"{body_bytes[0] / max(1, counts.get(200, 0)):,.0f}; "
                f"{measured.cpu_share:.0%} of a core",
            )
            limit_ms = latency_bound(base.publish)
            self.row(
                f"{label}: publish p50 / p99 ms, no readers → readers",
                f"{_p50_p99(base.publish)} → {_p50_p99(measured.publish)}",
                f"all 202, p99 ≤ {limit_ms:.0f}",
                measured.publish.only(202) and measured.publish.p(0.99) <= limit_ms,
            )
        self.figures.update(events=n_events, phases=results)

    async def _reader(
        self,
        mode: str | None,
        i: int,
        addresses: int,
        counts: dict[int, int],
        body_bytes: list[int],
        stopping: asyncio.Event,
    ) -> None:
        """One reader: GET /api/events back to back (a 429 is retried at once)."""
        local = (f"127.0.0.{2 + i % addresses}", 0) if addresses > 1 else None
        connector = aiohttp.TCPConnector(local_addr=local)
        url = f"{self.base}/api/events"
        cursor: str | None = None
        etag: str | None = None
        async with aiohttp.ClientSession(
            connector=connector, timeout=aiohttp.ClientTimeout(total=30)
        ) as session:
            while not stopping.is_set():
                params: dict[str, str] = {}
                headers: dict[str, str] = {}
                if mode == "walk":
                    params["limit"] = str(self.args.walk_limit)
                    if cursor is not None:
                        params["cursor"] = cursor
                if mode == "etag" and etag is not None:
                    headers["If-None-Match"] = etag
                try:
                    async with session.get(url, params=params, headers=headers) as resp:
                        body = await resp.read()
                        status = resp.status
                        tag = resp.headers.get("ETag")
                except NETWORK_ERRORS:
                    status, body, tag = -1, b"", None
                counts[status] = counts.get(status, 0) + 1
                if status == 200:
                    body_bytes[0] += len(body)
                    etag = tag
                    if mode == "walk":
                        # The page ends with "next":"<id>"} or "next":null}.
                        tail = body[body.rindex(b'"next":') + 7 : -1]
                        cursor = None if tail == b"null" else tail.strip(b'"').decode()

    async def slowloris(self) -> None:
        n: int = self.args.slow_sockets
        header = b"GET /healthz HTTP/1.1\r\nHost: attacker\r\nX-Slow: " + b"a" * 64
        t0 = time.perf_counter()
        socks: list[Slow] = []

        async def one() -> None:
            _, proto = await self.loop.create_connection(
                lambda: Slow(time.perf_counter()), HOST, self.port
            )
            socks.append(proto)
            if proto.t is not None:
                proto.t.write(header[:1])

        for first in range(0, n, 100):
            await asyncio.gather(*(one() for _ in range(first, min(n, first + 100))))
        self.note(f"{len(socks)} sockets open in {time.perf_counter() - t0:.2f} s")

        async def drip() -> None:
            for k in (1, 2):
                await asyncio.sleep(t0 + 5 * k - time.perf_counter())
                for s in socks:
                    if s.closed_after is None and s.t is not None and not s.t.is_closing():
                        s.t.write(header[k : k + 1])

        cpu0 = self.cpu()
        probe, _ = await asyncio.gather(
            self.paced(10, t0 + 15, self.healthz),
            drip(),
        )
        await asyncio.sleep(max(0.0, t0 + 15 - time.perf_counter()))
        cpu_share = (self.cpu() - cpu0) / (time.perf_counter() - t0)
        still_open = sum(1 for s in socks if s.closed_after is None)
        aborted = await self.metric("livegate_aborted_connections_total")
        closed = sorted(s.closed_after for s in socks if s.closed_after is not None)
        for s in socks:
            if s.t is not None:
                s.t.abort()
        early = [
            {"after_s": s.closed_after, "error": s.error, "received": s.received.decode()}
            for s in socks
            if s.closed_after is not None and s.closed_after < 9
        ]
        self.figures.update(
            sockets=len(socks),
            still_open_15s=still_open,
            closed_before_9s=early,
            aborted=aborted,
            closed_after_s={
                "min": closed[0] if closed else None,
                "median": _percentile(closed, 0.5),
                "max": closed[-1] if closed else None,
            },
            healthz=probe.summary(),
            server_cpu_share=cpu_share,
        )
        self.row("slow sockets opened (1 header byte / 5 s)", f"{len(socks)}")
        self.row("still open 15 s after the first", str(still_open), "0", still_open == 0)
        if closed:
            self.row(
                "closed by the server after (min / median / max)",
                f"{closed[0]:.1f} / {_percentile(closed, 0.5):.1f} / {closed[-1]:.1f} s",
                "header timeout 10 s",
            )
        self.row(
            "aborted by the server, by reason (/metrics)",
            ", ".join(f"{k}: {v:,.0f}" for k, v in sorted(aborted.items())) or "none",
        )
        self.row(
            "/healthz during (10/s, new connections) p50 / p99 ms",
            f"{_p50_p99(probe)} ({_statuses(probe.statuses)})",
            f"all 200, p99 ≤ {latency_bound():.0f}",
            probe.only(200) and probe.p(0.99) <= latency_bound(),
        )
        self.row("server CPU", f"{cpu_share:.0%} of a core")

    async def amplification(self) -> None:
        event_id = "amp-e1"
        await self.create_event(event_id, sport="generic")
        url = f"{self.base}/api/events/{event_id}/updates"
        history = 1000
        for i in range(history):
            payload = orjson.dumps({"i": i, "text": "x" * 470})
            async with self.http.post(url, data=payload, headers=self.auth) as resp:
                if resp.status != 202:
                    raise RuntimeError(f"publish {i}: {resp.status} {await resp.text()}")
                seq: int = (await resp.json())["seq"]
        msg_bytes = len(b'{"type":"score","eventId":"amp-e1","seq":1000,"ts":1795636622317}')
        msg_bytes += len(b',"data":') + len(orjson.dumps({"i": 999, "text": "x" * 470}))
        stats = Stats()
        results = []
        for since in (0, seq - 101, seq - 100, seq - 50):
            join = {"id": "amplifier", "eventId": event_id, "since": since}
            frame = client_frame(0x1, orjson.dumps(join))
            conn = await self.open(functools.partial(Conn, stats, self.port, join))
            answer = await conn.joined
            conn.abort()
            msg = orjson.loads(answer)
            results.append(
                {
                    "since": since,
                    "behind": seq - since,
                    "join_bytes": len(frame),
                    "answer_bytes": len(answer),
                    "recovered": msg.get("recovered"),
                    "missed": len(msg.get("missed", [])),
                }
            )
        self.figures.update(history=history, score_message_bytes=msg_bytes, joins=results)
        cap = self.args.resume_max_bytes
        for r in results:
            behind = r["behind"]
            fits = behind <= 100 and behind * msg_bytes <= cap
            expect_recovered = fits
            ok = (
                r["recovered"] is expect_recovered
                and r["answer_bytes"] <= cap + 2048
                and r["missed"] == (behind if fits else 0)
            )
            self.row(
                f"join since seq-{behind} ({r['join_bytes']} bytes): answer",
                f"{r['answer_bytes']:,} bytes (x{r['answer_bytes'] / r['join_bytes']:,.0f}), "
                f"recovered={r['recovered']}, missed={r['missed']}",
                f"≤ {cap // 1024} KiB + snapshot; {'replay' if fits else 'snapshot'}",
                ok,
            )
        await self._reactions()

    async def _reactions(self) -> None:
        seconds: float = self.args.phase_seconds
        n = self.args.reactors
        rate = self.args.reaction_rate
        event_id = "amp-e2"
        await self.create_event(event_id, sport="generic")
        stats = Stats()
        tally = ReactionTally()
        fill = "\U0001d54f"  # MATHEMATICAL DOUBLE-STRUCK CAPITAL X: 4 bytes in UTF-8

        def uid(i: int) -> str:
            head = f"r{i:03d}"
            return head + fill * (128 - len(head))

        reactors = await self.open_many(
            n,
            lambda i, ready: Reactor(
                stats,
                self.port,
                {"id": uid(i), "eventId": event_id},
                ready,
                tally if i == 0 else None,
            ),
        )
        tail = "".join(chr(0x1F600 + j) for j in range(15))
        comment = "".join(chr(0x1F600 + (k * 7) % 80) for k in range(280))

        def reaction(i: int, k: int) -> bytes:
            emoji = chr(0x1F300 + k % 0x300) + tail  # 16 characters, 64 bytes
            return client_frame(
                0x1,
                orjson.dumps(
                    {"type": "reaction", "id": uid(i), "emoji": emoji, "comment": comment}
                ),
            )

        frame_bytes = len(reaction(0, 0))
        # Each reactor sends `rate` a second, the reactors spread evenly over ticks of 0.1 s.
        ticks_per_period = max(1, round(10 / rate))
        sent = 0
        t0 = time.perf_counter()
        cpu0 = self.cpu()
        for tick in range(round(seconds * 10)):
            await asyncio.sleep(t0 + tick * 0.1 - time.perf_counter())
            for i in range(tick % ticks_per_period, n, ticks_per_period):
                t = reactors[i].t
                if t is not None and not t.is_closing():
                    t.write(reaction(i, sent))
                    sent += 1
        wall = time.perf_counter() - t0
        cpu_share = (self.cpu() - cpu0) / wall
        await asyncio.sleep(self.args.reaction_window * 3 + 0.5)  # the last aggregates
        refused = stats.errors.get("rate_limited", 0)
        accepted = sent - refused
        other_errors = {k: v for k, v in stats.errors.items() if k != "rate_limited"}
        for conn in reactors:
            conn.abort()
        self.figures.update(
            reactors=n,
            reactions_sent=sent,
            reaction_frame_bytes=frame_bytes,
            rate_limited=refused,
            counted=tally.counted,
            max_reactions_bytes=stats.max_reactions_bytes,
            reactions_msgs=stats.reactions_msgs,
            max_keys=tally.max_keys,
            max_comments=tally.max_comments,
            errors=stats.errors,
            close_codes=stats.close_codes,
            server_cpu_share=cpu_share,
        )
        self.row(
            f"reactions sent by {n} viewers at {rate:g}/s ({frame_bytes:,}-byte frames) "
            "/ rate_limited",
            f"{sent:,} ({_rate(sent, wall)}) / {refused:,}",
        )
        self.row(
            "largest `reactions` message",
            f"{stats.max_reactions_bytes:,} bytes ({stats.reactions_msgs:,} received)",
            f"≤ {MAX_REACTIONS_MESSAGE}",
            0 < stats.max_reactions_bytes <= MAX_REACTIONS_MESSAGE,
        )
        self.row(
            "most emoji keys / comments in one message",
            f"{tally.max_keys} / {tally.max_comments}",
            "≤ 16 / ≤ 10",
            tally.max_keys <= 16 and tally.max_comments <= 10,
        )
        self.row(
            "reactions counted in the aggregates / accepted",
            f"{tally.counted:,} / {accepted:,}",
            "equal",
            tally.counted == accepted,
        )
        self.row(
            "other errors / server closes",
            f"{other_errors or 0} / {stats.close_codes or 0}",
            "0 / 0",
            not other_errors and not stats.close_codes,
        )
        self.row("server CPU while reacting", f"{cpu_share:.0%} of a core")

    async def auth_guess(self) -> None:
        seconds: float = self.args.burst_seconds
        event_id = "auth-e1"
        await self.create_event(event_id)
        url = f"{self.base}/api/events/{event_id}/updates"
        await asyncio.sleep(0.2)
        mark = self.log_mark()
        counts: dict[int, int] = {}
        until = time.perf_counter() + seconds

        async def guesser() -> None:
            while time.perf_counter() < until:
                key = "guess-" + secrets.token_hex(12)
                headers = {"Authorization": f"Bearer {key}"}
                try:
                    async with self.http.post(url, data=b"{}", headers=headers) as resp:
                        await resp.read()
                        status = resp.status
                except NETWORK_ERRORS:
                    status = -1
                counts[status] = counts.get(status, 0) + 1

        async def right_key() -> tuple[int, int]:
            await asyncio.sleep(seconds / 2)
            same = await self.publisher(event_id)(0)
            connector = aiohttp.TCPConnector(local_addr=("127.0.0.2", 0))
            async with (
                aiohttp.ClientSession(connector=connector) as other,
                other.post(
                    url, data=make_payload(time.perf_counter_ns(), 1), headers=self.auth
                ) as resp,
            ):
                await resp.read()
                return same, resp.status

        cpu0, t0 = self.cpu(), time.perf_counter()
        probe = asyncio.create_task(right_key())
        await asyncio.gather(*(guesser() for _ in range(8)))
        same, other = await probe
        wall = time.perf_counter() - t0
        cpu_share = (self.cpu() - cpu0) / wall
        await asyncio.sleep(0.5)
        logged = self.log_since(mark)
        lines = logged.count(b"\n")
        tries = sum(counts.values())
        allowed_401 = self.args.auth_burst + self.args.auth_rate * wall + 2
        max_lines = 2 * (1 + int(wall // 10))  # failed and throttled, each once per 10 s
        self.figures.update(
            tries=tries,
            statuses=counts,
            right_key_same_address=same,
            right_key_other_address=other,
            log_lines=lines,
            log_bytes=len(logged),
            log_text=logged.decode(errors="replace"),
            server_cpu_share=cpu_share,
        )
        self.row(
            f"wrong keys tried in {wall:.1f} s (8 at a time, keep-alive)",
            f"{tries:,} ({_rate(tries, wall)})",
        )
        self.row(
            "answered 401 / 429",
            f"{counts.get(401, 0):,} / {counts.get(429, 0):,} "
            f"({_rate(counts.get(401, 0), wall)} / {_rate(counts.get(429, 0), wall)})",
            f"401 ≤ {allowed_401:.0f}; only 401, 429",
            counts.get(401, 0) <= allowed_401 and set(counts) <= {401, 429},
        )
        self.row(
            "right key meanwhile: same address / 127.0.0.2",
            f"{same} / {other}",
            "429 / 202",
            same == 429 and other == 202,
        )
        self.row(
            "server log lines / bytes during the attack",
            f"{lines} / {len(logged):,}",
            f"≤ {max_lines} (2 kinds, 1 per 10 s each)",
            lines <= max_lines,
        )
        self.row(
            "a guessed key in the log", str(b"guess-" in logged), "False", b"guess-" not in logged
        )
        self.row("server CPU", f"{cpu_share:.0%} of a core")

    async def bad_requests(self) -> None:
        seconds: float = self.args.burst_seconds
        kinds = {
            "garbage request line": b"\x16\x03\x01\x02\x00 garbage\r\n\r\n",
            "bad Content-Length": (
                b"POST /api/events/x/updates HTTP/1.1\r\nHost: a\r\nContent-Length: 12abc\r\n\r\n{}"
            ),
            "16 KiB request line": b"GET /" + b"a" * 16384 + b" HTTP/1.1\r\nHost: a\r\n\r\n",
            "bad chunked body": (
                b"POST /api/events/x/updates HTTP/1.1\r\nHost: a\r\n"
                b"Transfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n"
            ),
        }
        names = list(kinds)
        outcomes: dict[str, dict[str, int]] = {name: {} for name in names}
        await asyncio.sleep(0.2)
        mark = self.log_mark()
        until = time.perf_counter() + seconds

        async def worker(w: int) -> None:
            k = w
            while time.perf_counter() < until:
                name = names[k % len(names)]
                k += 1
                try:
                    reader, writer = await asyncio.open_connection(HOST, self.port)
                except OSError:
                    outcome = "connect failed"
                else:
                    try:
                        writer.write(kinds[name])
                        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
                        outcome = head.split(b" ", 2)[1].decode()
                    except asyncio.IncompleteReadError:
                        outcome = "closed without answer"
                    except (OSError, asyncio.LimitOverrunError, TimeoutError):
                        outcome = "reset or timeout"
                    writer.transport.abort()
                counts = outcomes[name]
                counts[outcome] = counts.get(outcome, 0) + 1

        cpu0, t0 = self.cpu(), time.perf_counter()
        await asyncio.gather(*(worker(w) for w in range(16)))
        wall = time.perf_counter() - t0
        cpu_share = (self.cpu() - cpu0) / wall
        await asyncio.sleep(0.5)
        logged = self.log_since(mark)
        lines = logged.count(b"\n")
        total = sum(sum(c.values()) for c in outcomes.values())
        self.figures.update(
            requests=total,
            outcomes=outcomes,
            log_lines=lines,
            log_bytes=len(logged),
            log_text=logged.decode(errors="replace"),
            server_cpu_share=cpu_share,
        )
        self.row(
            f"malformed requests in {wall:.1f} s (16 at a time, new connections)",
            f"{total:,} ({_rate(total, wall)})",
        )
        for name in names:
            answers = outcomes[name]
            self.row(
                f"{name}: answers",
                ", ".join(f"{k}: {v:,}" for k, v in sorted(answers.items())),
                "4xx",
                bool(answers) and all(k.startswith("4") for k in answers),
            )
        self.row(
            "server log lines / bytes during the attack",
            f"{lines} / {len(logged):,}",
            "≤ 2 per kind per 10 s",
            lines <= 2 * len(kinds) * (1 + int(wall // 10)),
        )
        self.row(
            "Traceback in the log", str(b"Traceback" in logged), "False", b"Traceback" not in logged
        )
        self.row("server CPU", f"{cpu_share:.0%} of a core")

    async def fd_cap(self) -> None:
        found = CAPACITY_LINE.search(self.log_path.read_bytes())
        if found is None:
            raise RuntimeError("the server did not log its capacity")
        capacity, fd_limit = int(found[1]), int(found[2])
        event_id = "fd-e1"
        await self.create_event(event_id)
        stats = Stats()
        accepted: list[Conn] = []
        refused: list[Conn] = []
        t0 = time.perf_counter()

        async def attempt(i: int) -> None:
            ready: asyncio.Future[None] = self.loop.create_future()
            join = {"id": f"fd-{i}", "eventId": event_id}
            _, conn = await self.loop.create_connection(
                lambda: Conn(stats, self.port, join, ready), HOST, self.port
            )
            try:
                await asyncio.wait_for(ready, 30)
                await asyncio.wait_for(asyncio.shield(conn.joined), 30)
                accepted.append(conn)
            except ConnectionError:
                refused.append(conn)

        i = 0
        while not refused and i < capacity + 1000:
            await asyncio.gather(*(attempt(j) for j in range(i, i + 50)))
            i += 50
        await asyncio.gather(*(attempt(j) for j in range(i, i + 20)))
        fill_s = time.perf_counter() - t0
        statuses: dict[str, int] = {}
        retry_after: set[str] = set()
        for conn in refused:
            head = conn.head.decode(errors="replace")
            answer = head.split(" ", 2)[1] if head.startswith("HTTP/") else "no answer"
            statuses[answer] = statuses.get(answer, 0) + 1
            found_retry = re.search(r"(?im)^retry-after:\s*(\S+)", head)
            retry_after.add(found_retry[1] if found_retry else "missing")
        self.note(f"{len(accepted)} accepted, {len(refused)} refused in {fill_s:.1f} s")
        full = Sample()
        for _ in range(20):
            await self.timed(full, self.healthz)
        pub = Sample()
        before = stats.score
        for k in range(5):
            await self.timed(pub, self.publisher(event_id), k)
        deadline = time.perf_counter() + 10
        while stats.score - before < 5 * len(accepted) and time.perf_counter() < deadline:  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        delivered = stats.score - before
        # Idle sockets (no request yet) hold descriptors until the header timeout;
        # unbounded, enough of them would eat the reserve kept for /healthz and the API.
        idle: list[Slow] = []
        idle_failures = 0
        for _ in range(self.args.fd_idle):
            try:
                _, proto = await self.loop.create_connection(
                    lambda: Slow(time.perf_counter()), HOST, self.port
                )
                idle.append(proto)
            except OSError:
                idle_failures += 1
        await asyncio.sleep(0.3)
        idle_probe = Sample()
        idle_pub = Sample()
        for k in range(5):
            await self.timed(idle_probe, self.healthz)
            await self.timed(idle_pub, self.publisher(event_id), 5 + k)
        idle_closed = sum(1 for s in idle if s.closed_after is not None)
        aborted = await self.metric("livegate_aborted_connections_total")
        refusals = await self.metric("livegate_refused_upgrades_total")
        for s in idle:
            if s.t is not None:
                s.t.abort()
        for conn in accepted:
            conn.abort()
        await asyncio.sleep(1.0)
        after = Sample()
        for _ in range(5):
            await self.timed(after, self.healthz)
            await asyncio.sleep(0.2)
        self.figures.update(
            fd_limit=fd_limit,
            capacity=capacity,
            accepted=len(accepted),
            refused=len(refused),
            refusal_statuses=statuses,
            retry_after=sorted(retry_after),
            healthz_full=full.summary(),
            publish_full=pub.summary(),
            delivered=delivered,
            idle_sockets=len(idle),
            idle_connect_failures=idle_failures,
            idle_closed_by_server=idle_closed,
            healthz_full_plus_idle=idle_probe.summary(),
            publish_full_plus_idle=idle_pub.summary(),
            aborted=aborted,
            refused_upgrades=refusals,
            healthz_after=after.summary(),
            close_codes=stats.close_codes,
        )
        self.row(
            "WebSocket connections accepted (fd limit / logged capacity)",
            f"{len(accepted):,} ({fd_limit} / {capacity:,})",
            "= capacity",
            len(accepted) == capacity,
        )
        self.row(
            "refusals: status / Retry-After",
            f"{', '.join(f'{k}: {v}' for k, v in sorted(statuses.items()))} / "
            f"{', '.join(sorted(retry_after))}",
            "503 / present",
            bool(statuses) and set(statuses) == {"503"} and "missing" not in retry_after,
        )
        self.row(
            "/healthz while full (20, new connections) p50 / p99 ms",
            f"{_p50_p99(full)} ({_statuses(full.statuses)})",
            "all 200",
            full.only(200),
        )
        self.row(
            "publish while full (5) / deliveries",
            f"{_statuses(pub.statuses)} / {delivered:,} of {5 * len(accepted):,}",
            "all 202 / all",
            pub.only(202) and delivered == 5 * len(accepted),
        )
        self.row(
            f"/healthz / publish while full + {len(idle)} idle sockets",
            f"{_statuses(idle_probe.statuses)} / {_statuses(idle_pub.statuses)}",
            "all 200 / all 202",
            idle_probe.only(200) and idle_pub.only(202),
        )
        self.row(
            "idle sockets closed by the server at once / not connected",
            f"{idle_closed} / {idle_failures}",
        )
        self.row(
            "/metrics: refused upgrades; aborted connections",
            f"{', '.join(f'{k}: {v:,.0f}' for k, v in sorted(refusals.items())) or 'none'}; "
            f"{', '.join(f'{k}: {v:,.0f}' for k, v in sorted(aborted.items())) or 'none'}",
        )
        self.row(
            "/healthz after closing everything",
            _statuses(after.statuses),
            "all 200",
            after.only(200),
        )
        self.row(
            "server closes of accepted connections",
            str(stats.close_codes or 0),
            "0",
            not stats.close_codes,
        )


def _merge(a: dict[int, int], b: dict[int, int]) -> dict[int, int]:
    return {k: a.get(k, 0) + b.get(k, 0) for k in set(a) | set(b)}


def load_main(args: argparse.Namespace) -> None:
    import uvloop

    raise_nofile_limit()

    async def main() -> dict[str, Any]:
        return await Load(args).run()

    result = uvloop.run(main())
    # The orchestrator reads the last line of stdout.
    print(json.dumps(result), flush=True)


# -- the orchestrator ----------------------------------------------------------------


def server_command(port: int, extra: Sequence[str]) -> list[str]:
    return gateway_command(
        port, "--heartbeat-timeout", "600", "--heartbeat-interval", "300", *extra
    )


def run_attack(name: str, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """Start a fresh server, run one attack from a load process, stop the server."""
    port = free_port()
    log = tmp / f"{name}.log"
    env = {**os.environ, "LIVEGATE_API_KEY": secrets.token_urlsafe(24)}
    command = ["taskset", "-c", args.server_cpu]
    if name == "fd-cap":
        command += ["prlimit", f"--nofile={args.fd_limit}:{args.fd_limit}"]
    command += server_command(port, args.gateway_arg)
    load_avg = os.getloadavg()[0]
    t0 = time.monotonic()
    rows: list[Row] = []
    figures: dict[str, Any] = {}
    with open(log, "wb") as out:
        proc = subprocess.Popen(command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        wait_healthy(proc, port, log)
        load_cmd = [
            "taskset",
            "-c",
            args.load_cpu,
            sys.executable,
            str(Path(__file__).resolve()),
            "--load",
            f"--attack={name}",
            f"--port={port}",
            f"--pid={proc.pid}",
            f"--log={log}",
            f"--seconds={args.seconds}",
            f"--phase-seconds={args.phase_seconds}",
            f"--burst-seconds={args.burst_seconds}",
            f"--events={args.events}",
            f"--walk-limit={args.walk_limit}",
            f"--slow-sockets={args.slow_sockets}",
            f"--reactors={args.reactors}",
            f"--flooders={args.flooders}",
            f"--fd-idle={args.fd_idle}",
        ]
        done = subprocess.run(
            load_cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True, timeout=1200
        )
        alive = proc.poll() is None
    finally:
        stop(proc)
    text = log.read_text(errors="replace")
    if done.returncode == 0:
        result = json.loads(done.stdout.strip().splitlines()[-1])
        rows = [(str(f), str(v), str(b), ok) for f, v, b, ok in result["rows"]]
        figures = result["figures"]
    else:
        rows.append(("load process", f"exited {done.returncode}", "0", False))
        print(
            f"{name}: load exited {done.returncode}; server log:\n{text[-3000:]}", file=sys.stderr
        )
    tracebacks = text.count("Traceback")
    rows.append(
        (
            "server alive / exit on SIGTERM / tracebacks in its log",
            f"{alive} / {proc.returncode} / {tracebacks}",
            "True / 0 / 0",
            alive and proc.returncode == 0 and tracebacks == 0,
        )
    )
    figures.update(
        server_alive=alive,
        server_exit=proc.returncode,
        server_tracebacks=tracebacks,
        server_log_lines=text.count("\n"),
        load_average_1min=load_avg,
        wall_s=time.monotonic() - t0,
    )
    if tracebacks:
        figures["server_log_tail"] = text.splitlines()[-80:]
    return {"rows": rows, "figures": figures}


def render(results: dict[str, dict[str, Any]], failed: Sequence[str]) -> str:
    lines = [
        "| attack | figure | value | bound | ok |",
        "|---|---|---|---|---|",
    ]
    for name, result in results.items():
        for figure, value, bound, ok in result["rows"]:
            mark = "" if ok is None else ("ok" if ok else "**FAIL**")
            lines.append(f"| {name} | {figure} | {value} | {bound} | {mark} |")
    lines.append("")
    loads = ", ".join(
        f"{name} {r['figures'].get('load_average_1min', float('nan')):.2f}"
        for name, r in results.items()
    )
    lines.append(f"1-minute load average at the start of each attack: {loads}.")
    lines += ["", "PASS" if not failed else "FAIL:\n" + "\n".join(f"- {f}" for f in failed)]
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> int:
    raise_nofile_limit()
    with contextlib.suppress(OSError, ValueError):
        os.sched_setaffinity(0, {int(args.load_cpu.split(",")[0].split("-")[0])})
    names = [a for a in ATTACKS if a in args.only] if args.only else list(ATTACKS)
    results: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="livegate-attacks-") as tmp:
        for name in names:
            t0 = time.monotonic()
            print(f"{name}: running", file=sys.stderr, flush=True)
            results[name] = run_attack(name, args, Path(tmp))
            bad = [r for r in results[name]["rows"] if r[3] is False]
            print(
                f"{name}: {'FAIL' if bad else 'ok'} [{time.monotonic() - t0:.0f}s]",
                file=sys.stderr,
                flush=True,
            )
    failed = [
        f"{name}: {figure}: {value} (bound {bound})"
        for name, result in results.items()
        for figure, value, bound, ok in result["rows"]
        if ok is False
    ]
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(
            json.dumps(
                {
                    "args": {k: v for k, v in vars(args).items() if k not in ("load", "port")},
                    "attacks": results,
                    "failed": failed,
                },
                indent=1,
                default=str,
            )
        )
    print(render(results, failed))
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Attack benchmark: one hostile client against a livegate node."
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=ATTACKS,
        metavar="NAME",
        help=f"run only this attack (repeatable): {', '.join(ATTACKS)}",
    )
    parser.add_argument("--seconds", type=float, default=20.0, help="rst-storm length")
    parser.add_argument(
        "--phase-seconds",
        type=float,
        default=10.0,
        help="length of each phase of ping-flood and list-reads, and of the reactions",
    )
    parser.add_argument(
        "--burst-seconds", type=float, default=5.0, help="auth-guess and bad-requests length"
    )
    parser.add_argument("--events", type=int, default=10000, help="events for list-reads")
    parser.add_argument(
        "--walk-limit", type=int, default=500, help="page size when list-reads walks the cursor"
    )
    parser.add_argument("--slow-sockets", type=int, default=500, help="slowloris sockets")
    parser.add_argument("--reactors", type=int, default=200, help="amplification reactors")
    parser.add_argument("--flooders", type=int, default=20, help="ping-flood connections")
    parser.add_argument("--fd-limit", type=int, default=1024, help="fd-cap server's fd limit")
    parser.add_argument(
        "--fd-idle",
        type=int,
        default=150,
        help="idle sockets opened on top of a full fd-cap server",
    )
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--load-cpu", default="1", help="taskset CPU list for the load")
    parser.add_argument(
        "--gateway-arg",
        action="append",
        default=[],
        help="extra argument for `livegate serve` (repeatable); the bounds checked assume "
        "the defaults",
    )
    parser.add_argument("--json", help="also write every figure to this file")
    # Internal: the load process and its server. The server's defaults the checks use:
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--attack", choices=ATTACKS, help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--log", help=argparse.SUPPRESS)
    parser.set_defaults(
        read_rate=20.0,
        read_burst=40,
        auth_rate=1.0,
        auth_burst=10,
        resume_max_bytes=65536,
        reaction_rate=5.0,
        reaction_window=0.5,
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.load:
        load_main(args)
    else:
        sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
