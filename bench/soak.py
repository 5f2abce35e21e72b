"""Soak benchmark: one ``livegate serve`` process under a steady live-match load.

Run from the repository root, by hand (the defaults take about 11 minutes)::

    .venv/bin/python bench/soak.py [--viewers 10000] [--minutes 10] [--json PATH]

The orchestrator starts ``python -m livegate serve`` pinned to one core
(``taskset -c 0``; API key in ``LIVEGATE_API_KEY``, ``--heartbeat-interval 15
--heartbeat-timeout 45``, the defaults) and a load process pinned to another
(``taskset -c 1``; this script with ``--load``). The load process creates one
cricket event, opens ``--viewers`` raw WebSocket viewers that join it (their
sockets spread over the source addresses 127.0.0.2, 127.0.0.3, ... so ephemeral
ports never run out), then for ``--minutes``:

- publishes ``--update-rate`` updates per second through the HTTP API;
- every viewer sends ``{"type":"ping"}`` every ``heartbeat.intervalMs`` (from
  ``joined``), the viewers' pings spread evenly over the interval;
- ``--reactor-fraction`` of the viewers (10% by default, so the one-core load
  process keeps up) send reactions at the server's per-connection limit
  (``--reaction-rate``, 5/s);
- ``--reconnect-fraction`` of the viewers (5%) each close (code 1000) and, after
  a random 0.2 s to ``--offline`` (3 s) away, rejoin once a minute, spread over
  the minute, with ``since`` = the last seq they saw and the ``epoch`` of their
  last ``joined``, as the SDKs do. Reactors and reconnecting viewers are picked
  at random (seed 1), independently; a reactor stops reacting 1 s before it
  closes, so the answers to its last reactions are not lost with the socket.

It then checks, and prints as a markdown table:

- every viewer that stayed the whole run got every seq from its join to the
  last publish exactly once (lost and duplicated seqs must be 0; out-of-order
  deliveries are counted);
- every resume of a reconnecting viewer had ``recovered: true`` and a
  ``missed`` list of exactly ``since+1 .. joined.seq``, and no seq was lost or
  duplicated across its reconnects;
- server VmRSS, sampled every 10 s, at minute 1 against the end (target: flat
  within 5%);
- server CPU (utime+stime over the run) per message delivered to the load
  side, all message types and ``score`` only;
- reactions sent, refused (``rate_limited``) and accepted, against the counts
  in the ``reactions`` aggregates a few stayed viewers received (every accepted
  reaction must be counted once);
- publish acks (any non-202 is a failure), server-initiated closes (none
  expected), a server traceback or a non-zero exit.

It exits 1 if an invariant fails. The raw WebSocket client, the ``/proc``
readers and the update payload come from ``bench/fanout.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import resource
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final

import aiohttp
import orjson

if __name__ == "__main__" and not __package__:
    # Run as `python bench/soak.py`: make the repository root importable.
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.fanout import (
    HOST,
    ROOT,
    Counters,
    WSClient,
    client_frame,
    free_port,
    gateway_command,
    handshake,
    make_payload,
    proc_cpu_seconds,
    proc_rss_kib,
    raise_nofile_limit,
    stop,
)
from bench.wsframes import split_frames

EVENT_ID: Final = "soak-e1"
PER_SOURCE: Final = 2000  # viewers per source address (127.0.0.2, 127.0.0.3, ...)
RSS_EVERY_S: Final = 10.0
REACTION_GROUPS: Final = 10  # reactors are spread over this many phases of one period
PING_TICK_S: Final = 0.1
QUIET_S: Final = 1.0  # a reactor stops reacting this long before it closes
SCORE_PREFIX: Final = b'{"type":"score"'
SCORE_SEQ_PREFIX: Final = b'{"type":"score","eventId":"%s","seq":' % EVENT_ID.encode()
PREFIXES: Final = {
    kind: b'{"type":"%s"' % kind.encode()
    for kind in ("joined", "reactions", "viewers", "pong", "error", "ended")
}
EMOJI: Final = ("🔥", "👏", "🏏", "😱", "🎉", "👍🏽", "🇮🇳", "❤️")
CLOSE_1000: Final = (1000).to_bytes(2, "big")


# -- the load side -----------------------------------------------------------------


@dataclass(slots=True)
class Stats(Counters):
    """Counters shared by every viewer of the load process (``score``, ``joined``,
    ``other`` and ``close_codes`` come from fanout's ``Counters``)."""

    frames: int = 0
    reactions_msgs: int = 0
    viewers_msgs: int = 0
    pongs: int = 0
    errors: dict[str, int] = field(default_factory=dict)
    ended: int = 0
    heartbeat_ms: int = 15000
    pings_sent: int = 0
    reactions_sent: int = 0
    unexpected_lost: int = 0
    close_timeouts: int = 0


class Viewer:
    """One fan across its connections: which seqs it got, how its resumes went."""

    __slots__ = (
        "active",
        "base",
        "broken",
        "conn",
        "dups",
        "epoch",
        "failures",
        "idx",
        "last",
        "observer",
        "ooo",
        "reaction_count",
        "reactor",
        "reconnecting",
        "reconnector",
        "recovered",
        "replayed",
        "resumes",
        "resumes_with_missed",
        "seen",
        "source",
        "uid",
    )

    def __init__(self, idx: int, reactor: bool, reconnector: bool) -> None:
        self.idx = idx
        self.uid = f"soak-{idx}"
        self.source = f"127.0.0.{2 + idx // PER_SOURCE}"
        self.reactor = reactor
        self.reconnector = reconnector
        self.observer = False  # sums the counts of the reactions aggregates it gets
        self.conn: SoakClient | None = None
        self.active = False  # joined and not closing: pings and reacts
        self.reconnecting = False
        self.broken = False  # closed by the server, or a connect or join failed
        self.base = 0  # the first seq it must get (joined.seq + 1 of its first join)
        self.last = 0  # the highest seq it got
        self.seen = bytearray()  # seen[seq - base]
        self.dups = 0
        self.ooo = 0
        self.epoch = ""
        self.resumes = 0
        self.recovered = 0
        self.resumes_with_missed = 0
        self.replayed = 0  # scores received in ``missed`` lists
        self.failures: list[str] = []
        self.reaction_count = 0

    def on_seq(self, seq: int) -> None:
        i = seq - self.base
        if i < 0:  # already covered by the snapshot of its first join
            self.dups += 1
            return
        seen = self.seen
        if i >= len(seen):
            seen.extend(bytes(i - len(seen) + 256))
        if seen[i]:
            self.dups += 1
            return
        seen[i] = 1
        if seq < self.last:
            self.ooo += 1
        else:
            self.last = seq

    def lost(self, final: int) -> int:
        n = final - self.base + 1
        return n - self.seen[: max(0, n)].count(1)


class SoakClient(WSClient):
    """One connection of a viewer: fanout's handshake, then a parser that tracks seqs."""

    __slots__ = ("bye", "closed", "joined", "s", "since", "v")

    def __init__(
        self,
        viewer: Viewer,
        stats: Stats,
        request: bytes,
        accept: bytes,
        join: bytes,
        since: int | None,
        ready: asyncio.Future[None],
    ) -> None:
        super().__init__(stats, request, accept, join, False, ready)
        loop = asyncio.get_running_loop()
        self.v = viewer
        self.s = stats
        self.since = since
        self.bye = False  # the load side is closing it
        self.joined: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        if not self.closed.done():
            self.closed.set_result(None)
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(f"closed before joined: {exc}"))
        if not self.bye:
            self.s.unexpected_lost += 1
            self.v.active = False
            self.v.broken = True
            self.v.failures.append(f"connection lost: {exc}")

    def _frames(self, data: bytes) -> None:
        buf = self._buf + data if self._buf else data
        spans, pos = split_frames(buf)
        s = self.s
        v = self.v
        for first, _second, start, end in spans:
            opcode = first & 0x0F
            if opcode == 1:
                s.frames += 1
                if buf.startswith(SCORE_PREFIX, start):
                    s.score += 1
                    if buf.startswith(SCORE_SEQ_PREFIX, start):
                        p = start + len(SCORE_SEQ_PREFIX)
                        v.on_seq(int(buf[p : buf.index(b",", p)]))
                    else:
                        v.on_seq(orjson.loads(buf[start:end])["seq"])
                elif buf.startswith(PREFIXES["reactions"], start):
                    s.reactions_msgs += 1
                    if v.observer:
                        v.reaction_count += sum(orjson.loads(buf[start:end])["counts"].values())
                elif buf.startswith(PREFIXES["viewers"], start):
                    s.viewers_msgs += 1
                elif buf.startswith(PREFIXES["pong"], start):
                    s.pongs += 1
                elif buf.startswith(PREFIXES["joined"], start):
                    s.joined += 1
                    self._on_joined(orjson.loads(buf[start:end]))
                elif buf.startswith(PREFIXES["error"], start):
                    err = str(orjson.loads(buf[start:end]).get("code"))
                    s.errors[err] = s.errors.get(err, 0) + 1
                elif buf.startswith(PREFIXES["ended"], start):
                    s.ended += 1
                else:
                    s.other += 1
            elif opcode == 9 and self.t is not None:  # ping: answer with a pong
                self.t.write(client_frame(0xA, buf[start:end]))
            elif opcode == 8:
                code = int.from_bytes(buf[start : start + 2], "big") if end - start >= 2 else 1005
                if not self.bye:  # the server closed it: nothing in this run should
                    s.close_codes[code] = s.close_codes.get(code, 0) + 1
                    v.active = False
                    v.broken = True
                    v.failures.append(f"closed by the server with {code}")
        self._buf = buf[pos:] if pos < len(buf) else b""

    def _on_joined(self, msg: dict[str, Any]) -> None:
        """Check a ``joined`` at once, before the live scores that follow it in ``buf``."""
        v = self.v
        seq: int = msg["seq"]
        self.s.heartbeat_ms = int(msg.get("heartbeat", {}).get("intervalMs", 15000))
        if self.since is None:
            v.base = seq + 1
            v.last = seq
        else:
            v.resumes += 1
            missed = [m["seq"] for m in msg.get("missed", [])]
            v.replayed += len(missed)
            v.resumes_with_missed += bool(missed)
            if (
                msg.get("recovered") is True
                and msg.get("epoch") == v.epoch
                and missed == list(range(self.since + 1, seq + 1))
            ):
                v.recovered += 1
            else:
                v.failures.append(
                    f"resume since={self.since} epoch={v.epoch}: recovered="
                    f"{msg.get('recovered')} epoch={msg.get('epoch')} seq={seq} missed={missed}"
                )
            for m in missed:
                v.on_seq(m)
        v.epoch = msg["epoch"]
        if not self.joined.done():
            self.joined.set_result(None)


@dataclass(slots=True)
class LoadResult:
    """What the load process measured; the orchestrator adds the server's log checks."""

    viewers: int
    stayed: int
    reconnectors: int
    reactors: int
    observers: int
    duration_s: float
    connect_s: float
    published: int
    publish_acks: int
    publish_non_202: dict[str, int]
    publish_errors: list[str]
    first_seq: int
    final_seq: int
    converged: bool
    rss_samples: list[tuple[float, int]]
    rss_minute1_kib: int
    rss_end_kib: int
    rss_ratio: float
    server_cpu_s: float
    server_sys_s: float
    deliveries: int
    score_deliveries: int
    reactions_msgs: int
    viewers_msgs: int
    pongs: int
    joined_msgs: int
    other_msgs: int
    errors: dict[str, int]
    cpu_us_per_delivery: float
    cpu_us_per_score: float
    stayed_lost: int
    stayed_dups: int
    stayed_ooo: int
    stayed_short: int  # viewers that did not reach the final seq
    resumes: int
    resumes_recovered: int
    resumes_with_missed: int
    missed_replayed: int
    resume_failures: list[str]
    reconnect_failures: int
    reconnect_skipped: int
    reconnector_lost: int
    reconnector_dups: int
    reconnector_ooo: int
    reactions_sent: int
    reactions_rate_limited: int
    reactions_accepted: int
    reactions_counted: list[int]  # per observer, summed over the aggregates it got
    aggregates_per_stayed_viewer: float
    pings_sent: int
    heartbeat_ms: int
    server_closes: dict[str, int]
    unexpected_lost: int
    broken: int
    close_timeouts: int
    load_cpu_share: float
    max_reaction_lag_ms: float
    max_ping_lag_ms: float
    failures_sample: list[str]


def _pick(n: int, fraction: float, rng: random.Random) -> list[bool]:
    """``round(n * fraction)`` flags out of ``n``, chosen at random."""
    chosen = set(rng.sample(range(n), min(n, round(n * fraction))))
    return [i in chosen for i in range(n)]


class Load:
    def __init__(self, args: argparse.Namespace) -> None:
        self.args = args
        self.loop = asyncio.get_running_loop()
        self.port: int = args.port
        self.pid: int = args.pid
        self.stats = Stats()
        # Independent random picks (a fixed seed, so runs are comparable): some
        # reconnecting viewers are reactors too, as in a real crowd.
        rng = random.Random(1)
        reactors = _pick(args.viewers, args.reactor_fraction, rng)
        reconnectors = _pick(args.viewers, args.reconnect_fraction, rng)
        self.viewers = [Viewer(i, reactors[i], reconnectors[i]) for i in range(args.viewers)]
        stayers = [v for v in self.viewers if not v.reconnector]
        for v in stayers[:: max(1, len(stayers) // 3)][:3]:
            v.observer = True
        self.key = os.environ["LIVEGATE_API_KEY"]
        self.base_url = f"http://{HOST}:{self.port}/api/events/{EVENT_ID}"
        self.headers = {"Authorization": f"Bearer {self.key}", "Content-Type": "application/json"}
        self.running = True  # reactions and reconnects go on
        self.publishing = True
        self.pinging = True
        self.published = 0
        self.acks = 0
        self.non_202: dict[str, int] = {}
        self.publish_errors: list[str] = []
        self.final_seq = 0
        self.rss: list[tuple[float, int]] = []
        self.reconnect_failures = 0
        self.reconnect_skipped = 0
        self.tasks: set[asyncio.Task[None]] = set()
        self.max_reaction_lag = 0.0
        self.max_ping_lag = 0.0

    def log(self, text: str) -> None:
        print(f"[soak] {text}", file=sys.stderr, flush=True)

    def lag(self, what: str, seconds: float, worst: float) -> float:
        """A tick came late: the load process fell behind (or the machine stalled).
        Return the new worst lag; log each new worst above 250 ms."""
        if seconds > max(0.25, worst):
            self.log(f"{what} tick {seconds * 1000:.0f} ms late at {time.strftime('%H:%M:%S')}")
        return max(seconds, worst)

    # -- connections

    async def open(self, v: Viewer, since: int | None) -> None:
        request, accept = handshake(self.port)
        join: dict[str, Any] = {"type": "join", "id": v.uid, "eventId": EVENT_ID}
        if since is not None:
            join["since"] = since
            join["epoch"] = v.epoch
        ready: asyncio.Future[None] = self.loop.create_future()
        frame = client_frame(0x1, orjson.dumps(join))

        def factory() -> SoakClient:
            return SoakClient(v, self.stats, request, accept, frame, since, ready)

        _, client = await self.loop.create_connection(
            factory, HOST, self.port, local_addr=(v.source, 0)
        )
        v.conn = client
        await asyncio.wait_for(ready, 30)
        await asyncio.wait_for(asyncio.shield(client.joined), 30)
        v.active = True

    async def reconnect(self, v: Viewer) -> None:
        v.reconnecting = True
        try:
            v.active = False
            if v.reactor:  # let the answers to its last reactions arrive
                await asyncio.sleep(QUIET_S)
            conn = v.conn
            if conn is None or conn.t is None or v.broken:
                return
            conn.bye = True
            conn.t.write(client_frame(0x8, CLOSE_1000))
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed), 5)
            except TimeoutError:
                self.stats.close_timeouts += 1
                conn.t.abort()
            # Offline a while, like a dropped network and an SDK's backoff, so the
            # resume has updates to replay in ``missed``.
            await asyncio.sleep(random.uniform(0.2, self.args.offline))
            await self.open(v, v.last)
        except (OSError, TimeoutError, ConnectionError) as exc:
            self.reconnect_failures += 1
            v.broken = True
            v.failures.append(f"reconnect: {exc!r}")
        finally:
            v.reconnecting = False

    # -- the periodic tasks

    async def publisher(self, session: aiohttp.ClientSession, t0: float) -> None:
        period = 1 / self.args.update_rate
        k = 0
        while self.publishing:
            delay = t0 + k * period - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                if not self.publishing:
                    break
            await self.publish(session, k)
            k += 1

    async def publish(self, session: aiohttp.ClientSession, k: int) -> None:
        payload = make_payload(time.perf_counter_ns(), k % 1000)
        self.published += 1
        try:
            url = self.base_url + "/updates"
            async with session.post(url, data=payload, headers=self.headers) as resp:
                body = await resp.read()
                if resp.status == 202:
                    self.acks += 1
                    self.final_seq = max(self.final_seq, orjson.loads(body)["seq"])
                else:
                    key = str(resp.status)
                    self.non_202[key] = self.non_202.get(key, 0) + 1
                    if len(self.publish_errors) < 10:
                        self.publish_errors.append(f"{resp.status} {body[:300]!r}")
        except (aiohttp.ClientError, OSError, TimeoutError) as exc:
            self.non_202["exception"] = self.non_202.get("exception", 0) + 1
            if len(self.publish_errors) < 10:
                self.publish_errors.append(repr(exc))

    async def pinger(self) -> None:
        """Each viewer pings once per ``heartbeat.intervalMs``, the viewers spread
        over the interval (the slot of viewer i is i mod the number of ticks)."""
        t0 = self.loop.time()
        k = 0
        s = self.stats
        while self.pinging:
            due = t0 + k * PING_TICK_S
            now = self.loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                self.max_ping_lag = self.lag("ping", now - due, self.max_ping_lag)
            slots = max(1, round(s.heartbeat_ms / 1000 / PING_TICK_S))
            payload = b'{"type":"ping","t":%d}' % int(time.time() * 1000)
            for v in self.viewers[k % slots :: slots]:
                if v.active and v.conn is not None and v.conn.t is not None:
                    v.conn.t.write(client_frame(0x1, payload))
                    s.pings_sent += 1
            k += 1

    async def reactor(self) -> None:
        """Every reactor sends ``--reaction-rate`` reactions per second, in
        ``REACTION_GROUPS`` groups that take turns, on an absolute schedule."""
        reactors = [v for v in self.viewers if v.reactor]
        if not reactors:
            return
        groups = [reactors[g::REACTION_GROUPS] for g in range(REACTION_GROUPS)]
        period = 1 / (self.args.reaction_rate * REACTION_GROUPS)
        payloads = [orjson.dumps({"type": "reaction", "emoji": e}) for e in EMOJI] + [
            orjson.dumps({"type": "reaction", "emoji": e, "comment": f"soak {e} {i}"})
            for i, e in enumerate(EMOJI)
        ]
        t0 = self.loop.time()
        k = 0
        s = self.stats
        while self.running:
            due = t0 + k * period
            now = self.loop.time()
            if due > now:
                await asyncio.sleep(due - now)
            else:
                self.max_reaction_lag = self.lag("reaction", now - due, self.max_reaction_lag)
            for v in groups[k % REACTION_GROUPS]:
                if v.active and v.conn is not None and v.conn.t is not None:
                    payload = payloads[(k + v.idx) % len(payloads)]
                    v.conn.t.write(client_frame(0x1, payload))
                    s.reactions_sent += 1
            k += 1

    async def reconnector(self, t0: float) -> None:
        """Each reconnecting viewer closes and resumes once a minute, in turn."""
        cohort = [v for v in self.viewers if v.reconnector]
        if not cohort:
            return
        step = 60 / len(cohort)
        k = 0
        while self.running:
            delay = t0 + (k + 0.5) * step - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
                if not self.running:
                    break
            v = cohort[k % len(cohort)]
            k += 1
            if v.reconnecting or v.broken:
                self.reconnect_skipped += 1
                continue
            task = asyncio.create_task(self.reconnect(v))
            self.tasks.add(task)
            task.add_done_callback(self.tasks.discard)

    async def sampler(self, t0: float) -> None:
        k = 0
        while True:
            delay = t0 + k * RSS_EVERY_S - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            self.rss.append((round(self.loop.time() - t0, 1), proc_rss_kib(self.pid)))
            k += 1

    # -- the run

    async def run(self) -> LoadResult:
        args = self.args
        s = self.stats
        async with aiohttp.ClientSession() as session:
            body = orjson.dumps({"sport": "cricket", "title": "Soak XI v Load XI"})
            async with session.put(self.base_url, data=body, headers=self.headers) as resp:
                if resp.status not in (200, 201):
                    raise RuntimeError(f"PUT event: {resp.status} {await resp.text()}")
            await self.publish(session, 0)  # the event is live before anyone joins
            pinger = asyncio.create_task(self.pinger())
            t_connect = time.perf_counter()
            for first in range(0, len(self.viewers), args.batch):
                batch = self.viewers[first : first + args.batch]
                await asyncio.gather(*(self.open(v, None) for v in batch))
            connect_s = time.perf_counter() - t_connect
            self.log(f"{len(self.viewers)} viewers joined in {connect_s:.1f}s")
            first_seq = self.final_seq

            # The measured run.
            await asyncio.sleep(2)
            t0 = self.loop.time()
            user0, sys0 = proc_cpu_seconds(self.pid)
            load0 = resource.getrusage(resource.RUSAGE_SELF)
            base = (s.frames, s.score, s.reactions_msgs, s.viewers_msgs, s.pongs, s.joined, s.other)
            errors0 = dict(s.errors)
            sent0 = s.reactions_sent
            pings0 = s.pings_sent
            sampler = asyncio.create_task(self.sampler(t0))
            workers = [
                asyncio.create_task(self.publisher(session, t0)),
                asyncio.create_task(self.reactor()),
                asyncio.create_task(self.reconnector(t0)),
            ]
            duration = args.minutes * 60
            minute = 1
            while (left := t0 + duration - self.loop.time()) > 0:
                await asyncio.sleep(min(left, t0 + minute * 60 - self.loop.time()))
                if self.loop.time() >= t0 + minute * 60 - 0.01:
                    rss = self.rss[-1][1] / 1024 if self.rss else 0.0
                    self.log(
                        f"minute {minute}: seq {self.final_seq}, RSS {rss:.1f} MiB, "
                        f"{s.frames - base[0]:,} messages, {s.reactions_sent - sent0:,} "
                        f"reactions sent, {sum(v.resumes for v in self.viewers)} resumes, "
                        f"{sum(v.broken for v in self.viewers)} broken"
                    )
                    minute += 1

            # Wind down: no new reactions or reconnects; let every viewer catch up.
            self.running = False
            self.publishing = False
            await asyncio.gather(*workers)
            if self.tasks:
                await asyncio.gather(*list(self.tasks))
            deadline = self.loop.time() + 30
            converged = False
            while self.loop.time() < deadline:
                if all(v.last >= self.final_seq for v in self.viewers if not v.broken):
                    converged = True
                    break
                await asyncio.sleep(0.1)
            # The last reactions aggregate (one window, 0.5 s by default) and error replies.
            await asyncio.sleep(args.settle)
            user1, sys1 = proc_cpu_seconds(self.pid)
            load1 = resource.getrusage(resource.RUSAGE_SELF)
            elapsed = self.loop.time() - t0
            sampler.cancel()
            self.rss.append((round(elapsed, 1), proc_rss_kib(self.pid)))
            self.pinging = False
            await pinger
        for v in self.viewers:
            if v.conn is not None and v.conn.t is not None:
                v.conn.bye = True
                v.conn.t.abort()

        deliveries = s.frames - base[0]
        scores = s.score - base[1]
        server_cpu = (user1 - user0) + (sys1 - sys0)
        errors = {k: n - errors0.get(k, 0) for k, n in s.errors.items() if n - errors0.get(k, 0)}
        stayers = [v for v in self.viewers if not v.reconnector and not v.broken]
        cohort = [v for v in self.viewers if v.reconnector]
        observers = [v for v in stayers if v.observer]
        final = self.final_seq
        # The sample at minute 1 (the first one for a run shorter than that).
        minute1 = next((kib for t, kib in self.rss if t >= 59.5), self.rss[0][1])
        rate_limited = errors.get("rate_limited", 0)
        sent = s.reactions_sent - sent0
        reaction_errors = sum(n for k, n in errors.items() if k in ("rate_limited", "event_ended"))
        load_cpu = (load1.ru_utime + load1.ru_stime) - (load0.ru_utime + load0.ru_stime)
        failures = [f"{v.uid}: {f}" for v in self.viewers for f in v.failures]
        return LoadResult(
            viewers=len(self.viewers),
            stayed=len(stayers),
            reconnectors=len(cohort),
            reactors=sum(v.reactor for v in self.viewers),
            observers=len(observers),
            duration_s=duration,
            connect_s=connect_s,
            published=self.published,
            publish_acks=self.acks,
            publish_non_202=self.non_202,
            publish_errors=self.publish_errors,
            first_seq=first_seq,
            final_seq=final,
            converged=converged,
            rss_samples=self.rss,
            rss_minute1_kib=minute1,
            rss_end_kib=self.rss[-1][1],
            rss_ratio=self.rss[-1][1] / minute1,
            server_cpu_s=server_cpu,
            server_sys_s=sys1 - sys0,
            deliveries=deliveries,
            score_deliveries=scores,
            reactions_msgs=s.reactions_msgs - base[2],
            viewers_msgs=s.viewers_msgs - base[3],
            pongs=s.pongs - base[4],
            joined_msgs=s.joined - base[5],
            other_msgs=s.other - base[6],
            errors=errors,
            cpu_us_per_delivery=server_cpu / max(1, deliveries) * 1e6,
            cpu_us_per_score=server_cpu / max(1, scores) * 1e6,
            stayed_lost=sum(v.lost(final) for v in stayers),
            stayed_dups=sum(v.dups for v in stayers),
            stayed_ooo=sum(v.ooo for v in stayers),
            stayed_short=sum(v.last < final for v in stayers),
            resumes=sum(v.resumes for v in cohort),
            resumes_recovered=sum(v.recovered for v in cohort),
            resumes_with_missed=sum(v.resumes_with_missed for v in cohort),
            missed_replayed=sum(v.replayed for v in cohort),
            resume_failures=[f for v in cohort for f in v.failures][:20],
            reconnect_failures=self.reconnect_failures,
            reconnect_skipped=self.reconnect_skipped,
            reconnector_lost=sum(v.lost(final) for v in cohort if not v.broken),
            reconnector_dups=sum(v.dups for v in cohort),
            reconnector_ooo=sum(v.ooo for v in cohort),
            reactions_sent=sent,
            reactions_rate_limited=rate_limited,
            reactions_accepted=sent - reaction_errors,
            reactions_counted=[v.reaction_count for v in observers],
            aggregates_per_stayed_viewer=(s.reactions_msgs - base[2]) / max(1, len(self.viewers)),
            pings_sent=s.pings_sent - pings0,
            heartbeat_ms=s.heartbeat_ms,
            server_closes={str(k): n for k, n in s.close_codes.items()},
            unexpected_lost=s.unexpected_lost,
            broken=sum(v.broken for v in self.viewers),
            close_timeouts=s.close_timeouts,
            load_cpu_share=load_cpu / elapsed,
            max_reaction_lag_ms=self.max_reaction_lag * 1000,
            max_ping_lag_ms=self.max_ping_lag * 1000,
            failures_sample=failures[:20],
        )


def load_main(args: argparse.Namespace) -> None:
    import uvloop

    raise_nofile_limit()

    async def main() -> LoadResult:
        return await Load(args).run()

    result = uvloop.run(main())
    # The orchestrator reads the last line of stdout.
    print(json.dumps(asdict(result)), flush=True)


# -- the orchestrator -------------------------------------------------------------


def server_command(port: int, extra: Sequence[str]) -> list[str]:
    return gateway_command(port, "--heartbeat-interval", "15", "--heartbeat-timeout", "45", *extra)


def wait_healthy(proc: subprocess.Popen[bytes], port: int, log: Path, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}:\n{log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(f"http://{HOST}:{port}/healthz", timeout=2) as resp:
                if resp.status == 200:
                    return
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server not ready after {timeout}s:\n{log.read_text()[-2000:]}")


def check(r: dict[str, Any]) -> list[str]:
    """The invariants that failed, as readable lines (empty: the run passed)."""
    failed = []

    def need(ok: bool, text: str) -> None:
        if not ok:
            failed.append(text)

    need(r["stayed_lost"] == 0, f"stayed viewers lost {r['stayed_lost']} seqs")
    need(r["stayed_dups"] == 0, f"stayed viewers got {r['stayed_dups']} duplicate seqs")
    need(r["converged"], "not every viewer reached the last published seq within 30 s")
    need(
        r["resumes_recovered"] == r["resumes"],
        f"{r['resumes'] - r['resumes_recovered']} of {r['resumes']} resumes not gap-free",
    )
    need(r["reconnect_failures"] == 0, f"{r['reconnect_failures']} reconnects failed")
    need(
        r["reconnector_lost"] == 0 and r["reconnector_dups"] == 0,
        f"reconnecting viewers lost {r['reconnector_lost']} and duplicated "
        f"{r['reconnector_dups']} seqs",
    )
    need(not r["publish_non_202"], f"publishes not acked 202: {r['publish_non_202']}")
    need(r["publish_acks"] == r["published"], "not every publish was acked")
    need(not r["server_closes"], f"the server closed viewers: {r['server_closes']}")
    need(r["unexpected_lost"] == 0, f"{r['unexpected_lost']} connections dropped")
    need(r["rss_ratio"] <= 1.05, f"server RSS grew {r['rss_ratio']:.3f}x from minute 1")
    other_errors = {k: n for k, n in r["errors"].items() if k != "rate_limited"}
    need(not other_errors, f"unexpected error messages: {other_errors}")
    need(
        all(n == r["reactions_accepted"] for n in r["reactions_counted"]),
        f"reactions accepted {r['reactions_accepted']} but counted in the aggregates "
        f"{r['reactions_counted']}",
    )
    need(r["server_alive"], "the server died during the run")
    need(r["server_exit"] == 0, f"the server exited {r['server_exit']} on SIGTERM")
    need(not r["server_log_problems"], "tracebacks or errors in the server log")
    return failed


def render(r: dict[str, Any], args: argparse.Namespace, failed: Sequence[str]) -> str:
    mib = 1024
    d = r["duration_s"]
    counted = r["reactions_counted"]
    resume_ok = r["resumes_recovered"] == r["resumes"]
    lines = [
        f"Soak: {r['viewers']:,} viewers for {d / 60:g} min, {args.update_rate:g} update/s, "
        f"{r['reactors']:,} reactors at {args.reaction_rate:g}/s, {r['reconnectors']:,} viewers "
        f"reconnecting once a minute; pings every {r['heartbeat_ms'] / 1000:g} s. "
        f"Server on CPU {args.server_cpu}, load on CPU {args.load_cpu}.",
        "",
        "| figure | value | target |",
        "|---|---:|---|",
        f"| viewers joined (connect time) | {r['viewers']:,} ({r['connect_s']:.1f} s) | |",
        f"| updates published / acked 202 / other | {r['published']:,} / {r['publish_acks']:,} "
        f"/ {sum(r['publish_non_202'].values())} | other = 0 |",
        f"| server RSS at minute 1 → end | {r['rss_minute1_kib'] / mib:.1f} → "
        f"{r['rss_end_kib'] / mib:.1f} MiB | |",
        f"| RSS end ÷ minute 1 | {r['rss_ratio']:.3f} | ≤ 1.05 "
        f"{'ok' if r['rss_ratio'] <= 1.05 else 'MISSED'} |",
        f"| viewers that stayed | {r['stayed']:,} | |",
        f"| lost seqs (stayed) | {r['stayed_lost']} | 0 "
        f"{'ok' if not r['stayed_lost'] else 'FAIL'} |",
        f"| duplicated seqs (stayed) | {r['stayed_dups']} | 0 "
        f"{'ok' if not r['stayed_dups'] else 'FAIL'} |",
        f"| out-of-order seqs (stayed) | {r['stayed_ooo']} | |",
        f"| resumes recovered / total | {r['resumes_recovered']:,} / {r['resumes']:,} | all "
        f"{'ok' if resume_ok else 'FAIL'} |",
        f"| resumes with a non-empty `missed` / scores replayed in `missed` | "
        f"{r['resumes_with_missed']:,} / {r['missed_replayed']:,} | |",
        f"| reconnecting viewers: lost / duplicated / out-of-order seqs | "
        f"{r['reconnector_lost']} / {r['reconnector_dups']} / {r['reconnector_ooo']} | 0 / 0 / |",
        f"| server closes / dropped connections | {r['server_closes'] or 0} / "
        f"{r['unexpected_lost']} | 0 / 0 |",
        f"| server CPU over the run | {r['server_cpu_s']:.1f} s "
        f"({r['server_cpu_s'] / d:.0%} of a core, kernel "
        f"{r['server_sys_s'] / max(r['server_cpu_s'], 1e-9):.0%}) | |",
        f"| messages delivered: all / score | {r['deliveries']:,} / {r['score_deliveries']:,} | |",
        f"| server CPU per delivered message: all / score | {r['cpu_us_per_delivery']:.2f} / "
        f"{r['cpu_us_per_score']:.2f} µs | |",
        f"| reactions sent / rate_limited / accepted | {r['reactions_sent']:,} / "
        f"{r['reactions_rate_limited']:,} / {r['reactions_accepted']:,} | |",
        f"| reactions counted in the aggregates ({r['observers']} stayed viewers) | "
        f"{', '.join(f'{n:,}' for n in counted) or '-'} | = accepted "
        f"{'ok' if all(n == r['reactions_accepted'] for n in counted) else 'FAIL'} |",
        f"| `reactions` aggregates received: all / per viewer | {r['reactions_msgs']:,} / "
        f"{r['aggregates_per_stayed_viewer']:.0f} | |",
        f"| `viewers` / `joined` / other messages | {r['viewers_msgs']:,} / "
        f"{r['joined_msgs']:,} / {r['other_msgs']:,} | |",
        f"| pings sent / `pong` received | {r['pings_sent']:,} / {r['pongs']:,} | |",
        f"| error messages | {r['errors'] or 0} | rate_limited only |",
        f"| load process CPU (max reaction / ping tick lag) | {r['load_cpu_share']:.0%} of a "
        f"core ({r['max_reaction_lag_ms']:.0f} / {r['max_ping_lag_ms']:.0f} ms) | < 100% |",
        f"| server alive / exit on SIGTERM / log problems | {r['server_alive']} / "
        f"{r['server_exit']} / {len(r['server_log_problems'])} | True / 0 / 0 |",
        "",
        "RSS every 10 s (MiB): " + " ".join(f"{kib / mib:.1f}" for _, kib in r["rss_samples"]),
    ]
    if r["failures_sample"]:
        lines += ["", "Viewer failures (first 20):", *(f"- {f}" for f in r["failures_sample"])]
    if r["publish_errors"]:
        lines += ["", "Publish errors:", *(f"- {e}" for e in r["publish_errors"])]
    if r["server_log_problems"]:
        lines += ["", "Server log:", "```", *r["server_log_problems"][-40:], "```"]
    lines += ["", "PASS" if not failed else "FAIL:\n" + "\n".join(f"- {f}" for f in failed)]
    return "\n".join(lines)


def orchestrate(args: argparse.Namespace) -> int:
    raise_nofile_limit()  # the server inherits the raised limit
    with contextlib.suppress(OSError, ValueError):
        os.sched_setaffinity(0, {int(args.load_cpu.split(",")[0].split("-")[0])})
    env = {**os.environ, "LIVEGATE_API_KEY": secrets.token_urlsafe(24)}
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="livegate-soak-") as tmp:
        log = Path(tmp) / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                ["taskset", "-c", args.server_cpu, *server_command(port, args.gateway_arg)],
                cwd=ROOT,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
            )
        try:
            wait_healthy(proc, port, log)
            load_cmd = [
                "taskset",
                "-c",
                args.load_cpu,
                sys.executable,
                str(Path(__file__).resolve()),
                "--load",
                f"--port={port}",
                f"--pid={proc.pid}",
                f"--viewers={args.viewers}",
                f"--minutes={args.minutes}",
                f"--update-rate={args.update_rate}",
                f"--reaction-rate={args.reaction_rate}",
                f"--reactor-fraction={args.reactor_fraction}",
                f"--reconnect-fraction={args.reconnect_fraction}",
                f"--offline={args.offline}",
                f"--batch={args.batch}",
                f"--settle={args.settle}",
            ]
            # The load's progress lines go to our stderr; its result is its last stdout line.
            done = subprocess.run(
                load_cmd,
                cwd=ROOT,
                env=env,
                stdout=subprocess.PIPE,
                text=True,
                timeout=args.minutes * 60 + 900,
            )
            alive = proc.poll() is None
        finally:
            stop(proc)
        text = log.read_text(errors="replace")
        if done.returncode != 0:
            print(f"load exited {done.returncode}\nserver log:\n{text[-3000:]}", file=sys.stderr)
            return 2
    r: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    r["server_alive"] = alive
    r["server_exit"] = proc.returncode
    problem_words = ("Traceback", "ERROR", "CRITICAL", "Exception")
    r["server_log_problems"] = [
        line for line in text.splitlines() if any(w in line for w in problem_words)
    ]
    if r["server_log_problems"]:
        r["server_log_tail"] = text.splitlines()[-80:]
    failed = check(r)
    if args.json:
        path = Path(args.json)
        path.parent.mkdir(parents=True, exist_ok=True)
        args_out = {k: v for k, v in vars(args).items() if k not in ("load", "port", "pid")}
        path.write_text(json.dumps({"args": args_out, "result": r, "failed": failed}, indent=1))
    print(render(r, args, failed))
    return 1 if failed else 0


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Soak benchmark: one livegate server under a steady live-match load."
    )
    parser.add_argument("--viewers", type=int, default=10000, help="viewers (connections)")
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the measured run")
    parser.add_argument("--update-rate", type=float, default=1.0, help="updates per second")
    parser.add_argument(
        "--reactor-fraction",
        type=float,
        default=0.1,
        help="fraction of the viewers that react at --reaction-rate (default 0.1: with 10,000 "
        "viewers that is 5,000 reactions/s, which one load core keeps up with)",
    )
    parser.add_argument(
        "--reaction-rate",
        type=float,
        default=5.0,
        help="reactions per second per reactor (the server's --reaction-rate, default 5)",
    )
    parser.add_argument(
        "--reconnect-fraction",
        type=float,
        default=0.05,
        help="fraction of the viewers that close and resume once a minute",
    )
    parser.add_argument(
        "--offline",
        type=float,
        default=3.0,
        help="a reconnecting viewer stays closed a random 0.2 s to this many seconds",
    )
    parser.add_argument("--batch", type=int, default=200, help="connections opened at once")
    parser.add_argument(
        "--settle", type=float, default=2.0, help="seconds to wait for the last aggregates"
    )
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--load-cpu", default="1", help="taskset CPU list for the load")
    parser.add_argument(
        "--gateway-arg",
        action="append",
        default=[],
        help="extra argument for `livegate serve` (repeatable: --gateway-arg=--log-level=warning)",
    )
    parser.add_argument("--json", help="also write every figure to this file")
    # Internal: the load process and its server.
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--pid", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    args = parse_args(argv)
    if args.load:
        load_main(args)
    else:
        sys.exit(orchestrate(args))


if __name__ == "__main__":
    main()
