"""``livegate serve --workers N``: N worker processes on one port, and their metrics as one.

The supervisor (the process the user started) runs no gateway. It starts N copies of
``livegate serve`` with the same flags; each binds the port with ``SO_REUSEPORT``, so
the kernel spreads new connections over them, and all share the Redis engine (the
memory and SQLite engines belong to one process, so more than one worker is refused
with them). The supervisor forwards SIGTERM, SIGINT and SIGHUP to every worker,
restarts a worker that dies (after a second, so a crash loop does not spin), and exits
once every worker has exited after a stop signal; a worker still running past the
drain window and ``STOP_GRACE`` is killed (a stuck shutdown must not keep the port or
outlive the supervisor). A worker whose supervisor is gone (SIGKILLed) stops itself.

Metrics: ``GET /metrics`` on any worker answers for all of them. Each worker also
serves its own metrics on a private ``127.0.0.1`` port, written to the supervisor's
run directory; the worker that takes the scrape reads the others' and merges every
family, each sample labelled ``worker="<index>"``. A worker that does not answer within
a second is left out of that scrape (and ``livegate_workers_unreachable`` says so).
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import aiohttp
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.metrics_core import Metric
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.registry import Collector

__all__ = [
    "SUPERVISOR_ENV",
    "WORKER_DIR_ENV",
    "WORKER_INDEX_ENV",
    "WorkerInfo",
    "gather_metrics",
    "run_supervisor",
    "stop_when_orphaned",
    "worker_info",
]

log = logging.getLogger(__name__)

WORKER_INDEX_ENV = "LIVEGATE_WORKER_INDEX"
WORKER_DIR_ENV = "LIVEGATE_WORKER_DIR"
SUPERVISOR_ENV = "LIVEGATE_SUPERVISOR_PID"
RESTART_DELAY = 1.0
"""Seconds before a worker that died is started again."""
SCRAPE_TIMEOUT = 1.0
STOP_GRACE = 10.0
"""Seconds past its drain window a worker may take to stop before it is killed."""


class WorkerInfo:
    """What a worker process knows of its place: its index, the run directory and
    the supervisor's pid."""

    def __init__(self, index: int, directory: Path, supervisor: int) -> None:
        self.index = index
        self.directory = directory
        self.supervisor = supervisor

    def port_file(self, index: int | None = None) -> Path:
        return self.directory / f"worker-{self.index if index is None else index}.port"

    def siblings(self) -> Iterator[tuple[int, int]]:
        """(index, private metrics port) of every worker that wrote its port, this one too."""
        for path in sorted(self.directory.glob("worker-*.port")):
            try:
                index = int(path.stem.removeprefix("worker-"))
                port = int(path.read_text().strip())
            except (OSError, ValueError):
                continue  # being written or removed
            yield index, port


def worker_info() -> WorkerInfo | None:
    """This process's place among workers, or None when it is not a worker."""
    index, directory = os.environ.get(WORKER_INDEX_ENV), os.environ.get(WORKER_DIR_ENV)
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if index is None or directory is None or supervisor is None:
        return None
    return WorkerInfo(int(index), Path(directory), int(supervisor))


async def stop_when_orphaned(info: WorkerInfo, stop: Callable[[], None]) -> None:
    """Call ``stop`` once the supervisor has exited (killed: it forwarded no signal).

    Left running, an orphaned worker would keep the port and its viewers with no one
    to restart or stop it; stopping drains them to the next node as SIGTERM would.
    Waits on a pidfd (Linux 5.3+), which becomes readable when the process exits.
    """
    loop = asyncio.get_running_loop()
    try:
        pidfd: int | None = os.pidfd_open(info.supervisor)
    except ProcessLookupError:
        pidfd = None
    if pidfd is not None:
        try:
            # Still our parent now, so the pidfd is the supervisor's (not a reused pid).
            if os.getppid() == info.supervisor:
                exited = asyncio.Event()
                loop.add_reader(pidfd, exited.set)
                try:
                    await exited.wait()
                finally:
                    loop.remove_reader(pidfd)
        finally:
            os.close(pidfd)
    log.error("worker %d: the supervisor (pid %d) is gone; stopping", info.index, info.supervisor)
    stop()


# -- the supervisor ----------------------------------------------------------------------


def run_supervisor(
    serve_args: Sequence[str],
    count: int,
    drain_window: float,
    announce: Callable[[str], None] = print,
) -> int:
    """Run ``count`` workers of ``livegate serve serve_args`` until a stop signal.

    ``serve_args`` are the user's flags without ``--workers``; ``drain_window`` is
    theirs too (how long a worker's stop may take, ``STOP_GRACE`` more before it is
    killed). Returns the exit code: 0 after a clean stop.
    """
    kill_at: float | None = None
    """Once a stop signal came: when a worker still running is killed (monotonic)."""

    def forward(signum: int, _frame: object) -> None:
        for proc in procs.values():
            if proc.poll() is None:
                proc.send_signal(signum)

    def stop(signum: int, frame: object) -> None:
        nonlocal kill_at
        if kill_at is None:
            kill_at = time.monotonic() + drain_window + STOP_GRACE
        forward(signum, frame)

    procs: dict[int, subprocess.Popen[bytes]] = {}
    with tempfile.TemporaryDirectory(prefix="livegate-workers-") as directory:

        def start(index: int) -> None:
            env = dict(os.environ)
            env.pop("LIVEGATE_WORKERS", None)
            env[WORKER_INDEX_ENV], env[WORKER_DIR_ENV] = str(index), directory
            env[SUPERVISOR_ENV] = str(os.getpid())
            procs[index] = subprocess.Popen(
                [sys.executable, "-m", "livegate", "serve", *serve_args], env=env
            )

        signal.signal(signal.SIGTERM, stop)
        signal.signal(signal.SIGINT, stop)
        signal.signal(signal.SIGHUP, forward)
        for index in range(count):
            start(index)
        announce(f"livegate: {count} workers on one port (pids {_pids(procs)})")
        died: dict[int, float] = {}
        while True:
            time.sleep(0.1)
            alive = 0
            for index, proc in list(procs.items()):
                if proc.poll() is None:
                    if kill_at is not None and time.monotonic() > kill_at:
                        log.error("worker %d (pid %d) did not stop; killed", index, proc.pid)
                        proc.kill()
                        proc.wait()
                    else:
                        alive += 1
                elif kill_at is None:
                    # A worker died: its viewers reconnect to the others; start it again.
                    if index not in died:
                        died[index] = time.monotonic()
                        log.error(
                            "worker %d (pid %d) exited with %s", index, proc.pid, proc.returncode
                        )
                        (Path(directory) / f"worker-{index}.port").unlink(missing_ok=True)
                    elif time.monotonic() - died[index] >= RESTART_DELAY:
                        del died[index]
                        start(index)
                        announce(f"livegate: worker {index} restarted (pid {procs[index].pid})")
            if kill_at is not None and not alive:
                break
    codes = [proc.returncode for proc in procs.values()]
    return 0 if all(code in (0, -signal.SIGTERM, -signal.SIGINT) for code in codes) else 1


def _pids(procs: dict[int, subprocess.Popen[bytes]]) -> str:
    return ", ".join(str(proc.pid) for _, proc in sorted(procs.items()))


# -- metrics of every worker as one ---------------------------------------------------------


class _Merged(Collector):
    def __init__(self, families: list[Metric]) -> None:
        self._families = families

    def collect(self) -> Iterator[Metric]:
        return iter(self._families)


async def gather_metrics(info: WorkerInfo, session: aiohttp.ClientSession, own: bytes) -> bytes:
    """Every worker's metrics as one exposition, each sample labelled with its worker.

    ``own`` is this worker's text (not fetched). A sibling that does not answer within
    :data:`SCRAPE_TIMEOUT` is counted in ``livegate_workers_unreachable``.
    """

    async def fetch(port: int) -> str | None:
        try:
            async with asyncio.timeout(SCRAPE_TIMEOUT):
                async with session.get(f"http://127.0.0.1:{port}/metrics") as resp:
                    return await resp.text() if resp.status == 200 else None
        except (aiohttp.ClientError, OSError, TimeoutError):
            return None

    others = [(index, port) for index, port in info.siblings() if index != info.index]
    texts = await asyncio.gather(*(fetch(port) for _, port in others))
    sources = [(info.index, own.decode())]
    unreachable = 0
    for (index, _port), text in zip(others, texts, strict=True):
        if text is None:
            unreachable += 1
        else:
            sources.append((index, text))
    merged: dict[str, Metric] = {}
    for index, text in sources:
        for family in text_string_to_metric_families(text):
            target = merged.get(family.name)
            if target is None:
                target = merged[family.name] = Metric(
                    family.name, family.documentation, family.type, family.unit
                )
            for sample in family.samples:
                target.add_sample(
                    sample.name, {**sample.labels, "worker": str(index)}, sample.value
                )
    gauge = Metric(
        "livegate_workers_unreachable", "Workers whose metrics this scrape could not read.", "gauge"
    )
    gauge.add_sample("livegate_workers_unreachable", {}, unreachable)
    merged[gauge.name] = gauge
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_Merged(list(merged.values())))
    return generate_latest(registry)
