"""Behind real nginx with the shipped configuration, and ``livegate cluster`` itself.

- A viewer joins through nginx; the node it landed on is SIGKILLed; the Python
  SDK reconnects through nginx to another node and resumes with no gap while a
  publisher keeps publishing through nginx.
- ``livegate cluster --nodes 2`` starts redis-server, the nodes and nginx on one
  port, serves through it, and stops every process on SIGTERM.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from livegate.client import Backoff, connect
from tests.conftest import API_KEY, LivegateProcess, fetch_metrics, free_port, metric_value
from tests.services import NginxServer, RedisServer, require_program

_prefixes = itertools.count()
FAST = Backoff(base=0.05, cap=0.2)


async def _publish(http: aiohttp.ClientSession, base_url: str, event_id: str, n: int) -> int | None:
    """One attempt of update ``n`` through ``base_url``; its seq, or None to retry."""
    headers = {"Authorization": f"Bearer {API_KEY}", "Idempotency-Key": f"u-{n}"}
    try:
        async with http.post(
            f"{base_url}/api/events/{event_id}/updates",
            data=orjson.dumps({"n": n}),
            headers=headers,
            timeout=aiohttp.ClientTimeout(total=5),
        ) as resp:
            if resp.status == 202:
                seq: int = (await resp.json())["seq"]
                return seq
            assert resp.status in (502, 503, 504), await resp.text()
            return None
    except (aiohttp.ClientConnectionError, TimeoutError):
        return None


async def _connections(http: aiohttp.ClientSession, node: LivegateProcess) -> float:
    return metric_value(await fetch_metrics(http, node), "livegate_connections") or 0


async def test_sdk_fails_over_through_nginx_with_no_gap(http: aiohttp.ClientSession) -> None:
    require_program("nginx", "nginx")  # before anything starts: a skip must leave nothing running
    redis = RedisServer()
    redis.start()
    prefix = f"lb{next(_prefixes)}"
    nodes = [
        LivegateProcess(
            *("--engine", redis.url, "--engine-prefix", prefix, "--node-id", f"n{i}"),
            *("--trusted-proxies", "127.0.0.1"),
        )
        for i in range(2)
    ]
    for node in nodes:
        node.start()
    nginx = NginxServer([node.port for node in nodes])
    nginx.start()
    try:
        async with http.put(
            f"{nginx.url}/api/events/m1",
            json={"sport": "generic"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as resp:
            assert resp.status == 201
        async with connect(nginx.ws_url, id="fan", event_id="m1", backoff=FAST) as client:
            assert (await anext(client))["type"] == "joined"
            counts = [await _connections(http, node) for node in nodes]
            assert sorted(counts) == [0, 1]
            victim = nodes[counts.index(1)]
            acked: list[int] = []

            async def publisher() -> None:
                for n in range(1, 41):
                    # Retried as a careful publisher does (the Idempotency-Key makes it safe).
                    while (seq := await _publish(http, nginx.url, "m1", n)) is None:  # noqa: ASYNC110
                        await asyncio.sleep(0.05)
                    acked.append(seq)
                    await asyncio.sleep(0.02)

            task = asyncio.create_task(publisher())
            seen: list[int] = []
            async with asyncio.timeout(30):
                while len(seen) < 40:
                    message = await anext(client)
                    if message["type"] == "score":
                        seen.append(message["seq"])
                        if len(seen) == 10:
                            victim.stop(signal.SIGKILL)
                    else:
                        assert message["type"] in ("viewers", "reactions"), message
            await task
            assert acked == list(range(1, 41))
            assert seen == list(range(1, 41))  # resumed on the other node: no gap, no repeat
            assert client.reconnects >= 1
            assert client.joined is not None and client.joined["recovered"] is True
    finally:
        nginx.close()
        for node in nodes:
            if node.proc is not None:
                node.stop(signal.SIGKILL)
        redis.close()


def _free_port_run(count: int) -> int:
    """A port p with p .. p+count-1 all free now."""
    for _ in range(100):
        base = free_port()
        if base + count >= 65536:
            continue
        socks = []
        try:
            for port in range(base, base + count):
                sock = socket.socket()
                socks.append(sock)
                sock.bind(("127.0.0.1", port))
            return base
        except OSError:
            continue
        finally:
            for sock in socks:
                sock.close()
    raise RuntimeError("no run of free ports")


async def test_livegate_cluster_runs_and_stops_everything(
    http: aiohttp.ClientSession, tmp_path: Path
) -> None:
    require_program("nginx", "nginx")
    require_program("redis-server", "redis-server")
    port = _free_port_run(3)
    proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
        [sys.executable, "-m", "livegate", "cluster", "--nodes", "2", "--port", str(port)],
        cwd=tmp_path,
        env={**os.environ, "LIVEGATE_API_KEY": API_KEY},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        assert proc.stdout is not None
        lines: list[str] = []
        async with asyncio.timeout(30):
            while not lines or "Ctrl-C" not in lines[-1]:
                line = await asyncio.to_thread(proc.stdout.readline)
                assert line, b"".join(x.encode() for x in lines)
                lines.append(line.decode())
        text = "".join(lines)
        assert f"http://127.0.0.1:{port}" in text and "node-2" in text
        base = f"http://127.0.0.1:{port}"
        async with http.put(
            f"{base}/api/events/m1",
            json={"sport": "generic"},
            headers={"Authorization": f"Bearer {API_KEY}"},
        ) as resp:
            assert resp.status == 201
        # Every node serves it: ask each directly.
        for node_port in (port + 1, port + 2):
            async with http.get(f"http://127.0.0.1:{node_port}/api/events/m1") as resp:
                assert resp.status == 200
        async with http.ws_connect(f"ws://127.0.0.1:{port}/ws") as ws:
            await ws.send_str('{"type":"join","id":"fan","eventId":"m1"}')
            joined: dict[str, Any] = orjson.loads((await ws.receive(timeout=5)).data)
            assert joined["type"] == "joined"
            assert await _publish(http, base, "m1", 1) == 1
            while (message := orjson.loads((await ws.receive(timeout=5)).data))["type"] != "score":
                pass
            assert message["seq"] == 1
        proc.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(proc.wait, 30) == 0
        for p in (port, port + 1, port + 2):  # nothing left listening
            with socket.socket() as sock:
                assert sock.connect_ex(("127.0.0.1", p)) != 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout:
            proc.stdout.close()


def test_shipped_nginx_conf_is_the_rendered_one() -> None:
    from livegate.nginx_config import render

    shipped = Path(__file__).resolve().parent.parent / "deploy" / "nginx.conf"
    assert shipped.read_text() == render(8080, [8081, 8082, 8083])
