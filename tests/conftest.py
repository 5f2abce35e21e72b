"""Shared fixtures: a real livegate server in a subprocess on 127.0.0.1.

Every test talks to the server over real sockets. ``LivegateProcess`` starts
``python -m livegate serve`` on a free port, waits for ``/healthz``, and can stop
it with a signal and start it again on the same port (for restart tests).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import orjson
import pytest

API_KEY = "test-key-0123456789"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class LivegateProcess:
    """A ``livegate serve`` subprocess bound to 127.0.0.1 on its own port."""

    def __init__(self, *args: str, port: int | None = None, api_key: str = API_KEY) -> None:
        self.args = list(args)
        self.port = port or free_port()
        self.api_key = api_key
        self.proc: subprocess.Popen[bytes] | None = None
        self.output = b""

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        cmd = [
            sys.executable,
            "-m",
            "livegate",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            "--api-key",
            self.api_key,
            *self.args,
        ]
        self.proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read() if self.proc.stdout else b""
                raise RuntimeError(f"server exited early: {out.decode(errors='replace')}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.2):
                    return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("server did not start listening in 15 s")

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15) -> int:
        """Send ``sig`` and wait for exit; returns the exit code."""
        assert self.proc is not None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        try:
            code = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            code = self.proc.wait()
        if self.proc.stdout:
            self.output += self.proc.stdout.read()
        self.proc = None
        return code

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


@pytest.fixture
def server_factory() -> Iterator[Any]:
    """Start servers with custom flags; all are stopped after the test."""
    started: list[LivegateProcess] = []

    def make(*args: str, port: int | None = None) -> LivegateProcess:
        server = LivegateProcess(*args, port=port)
        server.start()
        started.append(server)
        return server

    yield make
    for server in started:
        if server.proc is not None:
            server.stop(signal.SIGKILL)


@pytest.fixture(scope="module")
def shared_server() -> Iterator[LivegateProcess]:
    """One server with default settings for a whole test module."""
    server = LivegateProcess()
    server.start()
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


class Api:
    """Small helper for the HTTP API of one server."""

    def __init__(self, session: aiohttp.ClientSession, server: LivegateProcess) -> None:
        self.session = session
        self.server = server

    async def create_event(
        self, event_id: str, sport: str = "cricket", title: str = "Test match"
    ) -> dict[str, Any]:
        async with self.session.put(
            f"{self.server.url}/api/events/{event_id}",
            json={"sport": sport, "title": title},
            headers=self.server.headers(),
        ) as resp:
            assert resp.status in (200, 201), await resp.text()
            body: dict[str, Any] = await resp.json()
            return body

    async def publish(
        self, event_id: str, data: Any, *, key: str | None = None, expect: int = 202
    ) -> dict[str, Any]:
        headers = self.server.headers()
        if key is not None:
            headers["Idempotency-Key"] = key
        async with self.session.post(
            f"{self.server.url}/api/events/{event_id}/updates",
            data=orjson.dumps(data),
            headers=headers,
        ) as resp:
            assert resp.status == expect, await resp.text()
            body: dict[str, Any] = await resp.json()
            return body

    async def end(self, event_id: str) -> None:
        async with self.session.post(
            f"{self.server.url}/api/events/{event_id}/end", headers=self.server.headers()
        ) as resp:
            assert resp.status == 200, await resp.text()

    async def get_event(self, event_id: str) -> dict[str, Any]:
        async with self.session.get(f"{self.server.url}/api/events/{event_id}") as resp:
            assert resp.status == 200, await resp.text()
            body: dict[str, Any] = await resp.json()
            return body


@pytest.fixture
async def api(http: aiohttp.ClientSession, shared_server: LivegateProcess) -> Api:
    return Api(http, shared_server)


async def recv_json(ws: aiohttp.ClientWebSocketResponse, timeout: float = 5) -> dict[str, Any]:
    """Next text message as a dict; fails the test on close or timeout."""
    msg = await asyncio.wait_for(ws.receive(), timeout)
    assert msg.type == aiohttp.WSMsgType.TEXT, f"expected text, got {msg.type} {msg.data!r}"
    data: dict[str, Any] = orjson.loads(msg.data)
    return data


async def recv_type(
    ws: aiohttp.ClientWebSocketResponse, kind: str, timeout: float = 5
) -> dict[str, Any]:
    """Skip messages until one of type ``kind`` arrives (viewers/reactions come async)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        if remaining <= 0:
            raise AssertionError(f"no {kind!r} message within {timeout} s")
        message = await recv_json(ws, remaining)
        if message["type"] == kind:
            return message


async def expect_close(ws: aiohttp.ClientWebSocketResponse, code: int, timeout: float = 5) -> None:
    """Read until the server closes; assert the close code."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, "server did not close in time"
        msg = await asyncio.wait_for(ws.receive(), remaining)
        if msg.type in (
            aiohttp.WSMsgType.CLOSE,
            aiohttp.WSMsgType.CLOSING,
            aiohttp.WSMsgType.CLOSED,
        ):
            assert ws.close_code == code, f"close code {ws.close_code}, expected {code}"
            return
