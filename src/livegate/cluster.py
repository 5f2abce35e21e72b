"""``livegate cluster``: a local cluster of real processes for users and tests.

A ``redis-server`` (AOF on), N ``livegate serve`` nodes on the Redis engine and
``nginx`` in front of them on one port; with ``--demo``, simulated matches are
published through nginx. Every process is stopped on Ctrl-C or SIGTERM. A node
that dies (say, killed to watch a failover) is reported and the rest go on.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shutil
import signal
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from livegate import nginx_config

__all__ = ["ClusterSpec", "find_program", "run_cluster"]


class MissingProgram(Exception):
    """A program the cluster needs is not installed."""


def find_program(name: str, package: str) -> str:
    """The path of ``name`` (also in /usr/sbin); raises MissingProgram naming the package."""
    path = shutil.which(name) or shutil.which(name, path="/usr/sbin:/usr/local/sbin")
    if path is None:
        raise MissingProgram(f"{name} is not installed (Debian package {package})")
    return path


@dataclass(frozen=True)
class ClusterSpec:
    nodes: int = 3
    port: int = 8080
    """nginx listens here; node i listens on port + i."""
    data_dir: Path = Path("livegate-cluster")
    redis_url: str = ""
    """An existing Redis to use; empty: start one (AOF in ``data_dir``)."""
    api_key: str = ""
    demo: bool = False
    node_args: tuple[str, ...] = ()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _wait_port(port: int, proc: asyncio.subprocess.Process, what: str) -> None:
    for _ in range(300):
        if proc.returncode is not None:
            raise RuntimeError(f"{what} exited at start (code {proc.returncode})")
        try:
            _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        except OSError:
            await asyncio.sleep(0.05)
            continue
        writer.close()
        return
    raise RuntimeError(f"{what} did not listen on port {port} in 15 s")


async def run_cluster(spec: ClusterSpec, announce: Callable[[str], None] = print) -> int:
    """Start everything, print where it is, and run until a signal; returns an exit code."""
    nginx = find_program("nginx", "nginx")
    redis_server = "" if spec.redis_url else find_program("redis-server", "redis-server")
    data = spec.data_dir.resolve()
    (data / "nginx" / "temp").mkdir(parents=True, exist_ok=True)
    (data / "redis").mkdir(parents=True, exist_ok=True)
    api_key = spec.api_key or secrets.token_urlsafe(24)
    procs: list[tuple[str, asyncio.subprocess.Process]] = []
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    demo: asyncio.Task[None] | None = None
    try:
        redis_url = spec.redis_url
        if not redis_url:
            redis_port = _free_port()
            redis = await asyncio.create_subprocess_exec(
                redis_server,
                *("--port", str(redis_port), "--bind", "127.0.0.1", "--dir", str(data / "redis")),
                *("--appendonly", "yes", "--appendfsync", "everysec", "--save", ""),
                stdout=asyncio.subprocess.DEVNULL,
            )
            procs.append(("redis-server", redis))
            await _wait_port(redis_port, redis, "redis-server")
            redis_url = f"redis://127.0.0.1:{redis_port}/0"
        node_ports = [spec.port + i for i in range(1, spec.nodes + 1)]
        env = dict(os.environ, LIVEGATE_API_KEY=api_key)
        for i, port in enumerate(node_ports, start=1):
            node = await asyncio.create_subprocess_exec(
                sys.executable,
                *("-m", "livegate", "serve", "--host", "127.0.0.1", "--port", str(port)),
                *("--engine", redis_url, "--node-id", f"node-{i}"),
                *("--trusted-proxies", "127.0.0.1", "--log-level", "warning"),
                *spec.node_args,
                env=env,
                stdout=asyncio.subprocess.DEVNULL,
            )
            procs.append((f"node-{i}", node))
        for (name, proc), port in zip(procs[-spec.nodes :], node_ports, strict=True):
            await _wait_port(port, proc, name)
        conf = data / "nginx" / "nginx.conf"
        conf.write_text(nginx_config.render(spec.port, node_ports))
        balancer = await asyncio.create_subprocess_exec(
            nginx, "-p", str(data / "nginx"), "-c", str(conf), "-g", "daemon off;"
        )
        procs.append(("nginx", balancer))
        await _wait_port(spec.port, balancer, "nginx")
        url = f"http://127.0.0.1:{spec.port}"
        lines = [
            f"livegate cluster: {spec.nodes} nodes behind nginx at {url} (WebSocket {url}/ws)",
            f"  redis:   {redis_url}",
            *(f"  node-{i}:  http://127.0.0.1:{p}" for i, p in enumerate(node_ports, start=1)),
            f"  API key: {api_key}",
            f"  data:    {data}",
            "  Ctrl-C stops them all.",
        ]
        announce("\n".join(lines))
        if spec.demo:
            from livegate.demo import run_matches

            demo = asyncio.create_task(run_matches(url, api_key, seed=2024))
        await _supervise(procs, stop, announce)
        return 0
    finally:
        if demo is not None:
            demo.cancel()
            await asyncio.gather(demo, return_exceptions=True)
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.remove_signal_handler(sig)
        await _stop_all(procs)
        announce("livegate cluster: stopped")


async def _supervise(
    procs: list[tuple[str, asyncio.subprocess.Process]],
    stop: asyncio.Event,
    announce: Callable[[str], None],
) -> None:
    """Wait for the signal; report each process that exits meanwhile."""
    reported: set[str] = set()
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), 0.5)
        for name, proc in procs:
            if proc.returncode is not None and name not in reported:
                reported.add(name)
                announce(f"livegate cluster: {name} exited (code {proc.returncode})")


async def _stop_all(procs: list[tuple[str, asyncio.subprocess.Process]]) -> None:
    """nginx first, then every node at once (SIGTERM: they drain), then Redis."""
    stages = (
        [p for p in procs if p[0] == "nginx"],
        [p for p in procs if p[0].startswith("node-")],
        [p for p in procs if p[0] == "redis-server"],
    )
    for stage in stages:
        for name, proc in stage:
            if proc.returncode is None:
                proc.send_signal(signal.SIGQUIT if name == "nginx" else signal.SIGTERM)
        await asyncio.gather(*(_reap(proc) for _, proc in stage))


async def _reap(proc: asyncio.subprocess.Process) -> None:
    try:
        await asyncio.wait_for(proc.wait(), 10)
    except TimeoutError:
        proc.kill()
        await proc.wait()
