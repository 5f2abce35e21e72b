"""``livegate serve --workers N``: N processes on one port, one Redis, one /metrics."""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import aiohttp
import pytest

from livegate import workers
from tests.conftest import Api, LivegateProcess, free_port, join_ws, recv_type


def workers_of(supervisor: LivegateProcess) -> list[int]:
    assert supervisor.proc is not None
    out = subprocess.run(
        ["pgrep", "-P", str(supervisor.proc.pid)], capture_output=True, text=True
    ).stdout
    return sorted(int(pid) for pid in out.split())


def gone(pid: int) -> bool:
    """The process has exited (and been reaped, or is a zombie awaiting it)."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ")[1].startswith("Z")
    except FileNotFoundError:
        return True


async def connections_by_worker(
    http: aiohttp.ClientSession, server: LivegateProcess
) -> dict[int, float]:
    async with http.get(f"{server.url}/metrics") as resp:
        text = await resp.text()
    found = re.findall(r'^livegate_connections\{worker="(\d+)"\} (\S+)$', text, re.M)
    return {int(worker): float(value) for worker, value in found}


async def both_listening(http: aiohttp.ClientSession, server: LivegateProcess) -> None:
    """Wait until both workers listen: each writes its metrics port once its site is up
    (the first to listen lets ``server.start`` return before the other)."""
    for _attempt in range(100):
        if len(await connections_by_worker(http, server)) == 2:
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"workers listening: {sorted(await connections_by_worker(http, server))}")


def test_more_than_one_worker_needs_redis() -> None:
    for engine in ("memory://", "sqlite:///tmp/x.db"):
        command = ["-m", "livegate", "serve", "--port", str(free_port()), "--workers", "2"]
        result = subprocess.run(
            [sys.executable, *command, "--engine", engine],
            capture_output=True,
            text=True,
            env={**os.environ, "LIVEGATE_API_KEY": "test-key-0123456789"},
            timeout=30,
        )
        assert result.returncode == 2 and "needs the Redis engine" in result.stderr


async def test_workers_share_the_port_the_engine_and_the_metrics(
    http: aiohttp.ClientSession, redis_server: Any
) -> None:
    server = LivegateProcess(
        "--workers", "2", "--engine", redis_server.url, "--engine-prefix", "w1"
    )
    server.start()
    try:
        await both_listening(http, server)
        api = Api(http, server)
        await api.create_event("m1")
        viewers = [(await join_ws(http, server, "m1", f"fan-{i}"))[0] for i in range(24)]
        spread = await connections_by_worker(http, server)
        assert sorted(spread) == [0, 1] and sum(spread.values()) == 24
        assert all(count > 0 for count in spread.values()), spread  # the kernel spread them
        # An update published through either worker reaches every viewer on both.
        for n in (1, 2):
            await api.publish("m1", {"n": n})
        for ws in viewers:
            assert (await recv_type(ws, "score"))["seq"] == 1
            assert (await recv_type(ws, "score"))["seq"] == 2
        # Counters merge too: every join was counted by the worker that took it.
        async with http.get(f"{server.url}/metrics") as resp:
            text = await resp.text()
        joins = re.findall(r'^livegate_joins_total\{worker="\d"\} (\S+)$', text, re.M)
        assert sum(float(v) for v in joins) == 24

        # A worker that dies is started again; its viewers come back through the port.
        first = workers_of(server)[0]
        os.kill(first, signal.SIGKILL)
        async with asyncio.timeout(10):
            while True:
                current = workers_of(server)
                if len(current) == 2 and first not in current:
                    break
                await asyncio.sleep(0.1)
        await both_listening(http, server)
        _ws, joined = await join_ws(http, server, "m1", "late-fan")
        assert joined["seq"] == 2
        pids = workers_of(server)
    finally:
        code = server.stop(signal.SIGTERM)
    assert code == 0 and all(gone(pid) for pid in pids)


def start_workers(
    redis_server: Any, prefix: str, *args: str, count: int = 2
) -> tuple[LivegateProcess, list[int]]:
    """A supervisor of ``count`` workers on Redis, once every worker process exists."""
    server = LivegateProcess(
        "--workers", str(count), "--engine", redis_server.url, "--engine-prefix", prefix, *args
    )
    server.start()
    deadline = time.monotonic() + 10
    while len(workers_of(server)) < count and time.monotonic() < deadline:
        time.sleep(0.05)
    pids = workers_of(server)
    assert len(pids) == count
    return server, pids


@pytest.mark.parametrize("sig", [signal.SIGTERM])
def test_a_stopped_supervisor_leaves_no_worker(redis_server: Any, sig: int) -> None:
    server, pids = start_workers(redis_server, "w2", count=3)
    assert server.stop(sig) == 0
    assert all(gone(pid) for pid in pids)


def wait_gone(pids: list[int], timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not all(gone(pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def test_workers_stop_when_their_supervisor_is_killed(redis_server: Any) -> None:
    server, pids = start_workers(redis_server, "w3", "--drain-window", "0.2")
    # SIGKILL forwards nothing: the workers must notice by themselves, and drain.
    assert server.stop(signal.SIGKILL) == -signal.SIGKILL
    assert wait_gone(pids, 10), "orphaned workers kept running"
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=1).close()


def test_a_worker_stuck_at_stop_is_killed_after_the_drain_window_and_grace(
    redis_server: Any,
) -> None:
    server, pids = start_workers(redis_server, "w4", "--drain-window", "0.2")
    stuck = pids[0]
    os.kill(stuck, signal.SIGSTOP)  # it cannot act on the SIGTERM the supervisor forwards
    started = time.monotonic()
    try:
        code = server.stop(signal.SIGTERM)
    finally:
        with contextlib.suppress(ProcessLookupError):  # killed, as it should be
            os.kill(stuck, signal.SIGCONT)
    waited = time.monotonic() - started
    assert code == 1  # not a clean stop: one worker had to be killed
    assert all(gone(pid) for pid in pids)
    assert workers.STOP_GRACE <= waited < workers.STOP_GRACE + 5
    assert b"did not stop; killed" in server.output
