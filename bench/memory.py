"""Where a joined idle viewer's bytes go: livegate's heap per connection, by source line.

Run from the repository root::

    .venv/bin/python bench/memory.py [--n 5000] [--top 25]

This process runs a livegate node in-process (the same ``Gateway`` and aiohttp app as
``livegate serve``, memory engine, on uvloop) with ``tracemalloc`` on, and starts a
load process (``bench/fanout.py``'s raw clients, on the other core) that opens N
viewers joined to one event. Between a snapshot before the viewers and one after them
(with a ``gc.collect()`` before each), it prints the growth per viewer grouped by the
allocating file and by the allocating line, and VmRSS per viewer beside it (tracemalloc
sees Python's allocations; RSS also has the allocator's slack and the tracing's own
cost, so read the two together).
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import os
import subprocess
import sys
import tracemalloc
from collections.abc import Sequence
from pathlib import Path
from typing import Final

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import aiohttp
from aiohttp import web

from bench.fanout import (
    API_KEY,
    EVENT_ID,
    HOST,
    Counters,
    _connect_all,
    _joined_all,
    free_port,
    proc_rss_kib,
    raise_nofile_limit,
)
from livegate.config import Settings
from livegate.gateway import Gateway
from livegate.server import create_app

SCRIPT: Final = str(Path(__file__).resolve())


def _short(filename: str) -> str:
    for marker in ("site-packages/", "lib/python3.11/", "src/"):
        if marker in filename:
            return filename.split(marker, 1)[1]
    return filename


def report(
    before: tracemalloc.Snapshot, after: tracemalloc.Snapshot, n: int, top: int
) -> list[str]:
    lines: list[str] = []
    for key, title in (("filename", "file"), ("lineno", "line")):
        stats = after.compare_to(before, key)
        total = sum(s.size_diff for s in stats)
        lines.append(f"\nby {title}: {total / n:,.0f} B a viewer in all\n")
        lines.append(f"| B/viewer | objects/viewer | {title} |")
        lines.append("|---:|---:|---|")
        for stat in stats[:top]:
            frame = stat.traceback[0]
            where = _short(frame.filename) + (f":{frame.lineno}" if key == "lineno" else "")
            lines.append(f"| {stat.size_diff / n:,.0f} | {stat.count_diff / n:.2f} | {where} |")
    return lines


async def run(args: argparse.Namespace) -> None:
    port = free_port()
    settings = Settings(host=HOST, port=port, api_key=API_KEY, engine_url="memory://")
    gateway = Gateway(settings)
    await gateway.start()
    runner = web.AppRunner(create_app(gateway), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, HOST, port).start()
    async with aiohttp.ClientSession() as session:
        url = f"http://{HOST}:{port}/api/events/{EVENT_ID}"
        headers = {"Authorization": f"Bearer {API_KEY}"}
        async with session.put(url, json={"sport": "cricket", "title": "Mem"}, headers=headers):
            pass
    # Warm-up: lazily built state (imports, caches, the first join's paths) is not
    # the viewers'.
    await _viewers(port, 50, args.load_cpu, hold=0.5)
    gc.collect()
    tracemalloc.start(1)
    gc.collect()
    before = tracemalloc.take_snapshot()
    rss_before = proc_rss_kib(os.getpid())
    load = await _viewers(port, args.n, args.load_cpu, hold=None)
    gc.collect()
    after = tracemalloc.take_snapshot()
    rss_after = proc_rss_kib(os.getpid())
    traced = tracemalloc.get_tracemalloc_memory()
    tracemalloc.stop()
    print(f"N = {args.n} joined idle viewers")
    print(f"VmRSS: {(rss_after - rss_before) / args.n:.2f} KiB a viewer (tracing on)")
    print(f"tracemalloc's own bookkeeping now: {traced / 1024 / 1024:.1f} MiB")
    print("\n".join(report(before, after, args.n, args.top)))
    assert load.stdin is not None
    load.stdin.close()
    await load.wait()
    await runner.cleanup()
    await gateway.close()


async def _viewers(port: int, n: int, cpu: str, hold: float | None) -> asyncio.subprocess.Process:
    """A load process with ``n`` joined viewers; it holds them until its stdin closes
    (``hold`` None) or for ``hold`` seconds. Returns once every viewer is joined."""
    proc = await asyncio.create_subprocess_exec(
        *("taskset", "-c", cpu, sys.executable, SCRIPT),
        *("--load", f"--port={port}", f"--n={n}"),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    assert proc.stdout is not None and proc.stdin is not None
    line = await asyncio.wait_for(proc.stdout.readline(), 300)
    if line.strip() != b"joined":
        raise RuntimeError(f"load: {line!r}")
    if hold is not None:
        await asyncio.sleep(hold)
        proc.stdin.close()
        await proc.wait()
    return proc


async def load(port: int, n: int) -> None:
    loop = asyncio.get_running_loop()
    counters = Counters()
    clients = await _connect_all(loop, counters, port, n, 200, set(), "m")
    await _joined_all(counters, n, 120)
    print("joined", flush=True)
    await loop.run_in_executor(None, sys.stdin.read)
    for client in clients:
        if client.t is not None:
            client.t.abort()


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--server-cpu", default="0")
    parser.add_argument("--load-cpu", default="1")
    parser.add_argument("--load", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> None:
    import uvloop

    args = parse_args(argv)
    raise_nofile_limit()
    if args.load:
        uvloop.run(load(args.port, args.n))
        return
    os.sched_setaffinity(0, {int(args.server_cpu)})
    uvloop.run(run(args))


if __name__ == "__main__":
    main()
