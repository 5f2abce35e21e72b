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

    def __init__(
        self,
        *args: str,
        port: int | None = None,
        api_key: str = API_KEY,
        fd_limit: int | None = None,
    ) -> None:
        self.args = list(args)
        self.fd_limit = fd_limit
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
        # The key travels in the environment, as the docs advise (not in ps).
        env = dict(os.environ, PYTHONUNBUFFERED="1", LIVEGATE_API_KEY=self.api_key)
        env.setdefault("LIVEGATE_ENGINE", "memory://")  # a test that wants another says so
        cmd = [
            sys.executable,
            "-m",
            "livegate",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(self.port),
            *self.args,
        ]
        fd_limit = self.fd_limit

        def limit_fds() -> None:  # in the child, before exec: its hard limit too
            if fd_limit is not None:
                import resource

                resource.setrlimit(resource.RLIMIT_NOFILE, (fd_limit, fd_limit))

        self.proc = subprocess.Popen(
            cmd,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            preexec_fn=limit_fds if fd_limit is not None else None,
        )
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                out = self.proc.stdout.read() if self.proc.stdout else b""
                if self.proc.stdout:
                    self.proc.stdout.close()
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
            self.proc.stdout.close()
        self.proc = None
        return code

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"}


def run_briefly(
    command: str, *args: str, port: int | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Start ``livegate <command>`` (serve or demo) on 127.0.0.1 and stop it with SIGTERM
    after 1.5 s (or when it exits first); its output, stderr included."""
    cmd = [sys.executable, "-m", "livegate", command, "--host", "127.0.0.1"]
    cmd += ["--port", str(port or free_port()), *args]
    proc = subprocess.Popen(
        cmd,
        env={**os.environ, "LIVEGATE_ENGINE": "memory://", **(env or {})},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = proc.communicate(timeout=1.5)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=10)
    return subprocess.CompletedProcess(cmd, proc.returncode, out, "")


@pytest.fixture
def server_factory() -> Iterator[Any]:
    """Start servers with custom flags; all are stopped after the test."""
    started: list[LivegateProcess] = []

    def make(*args: str, port: int | None = None, **options: Any) -> LivegateProcess:
        server = LivegateProcess(*args, port=port, **options)
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
        self, event_id: str, sport: str = "generic", title: str = "Test match"
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


# -- helpers for the robustness, heartbeat and viewer tests -------------------------


async def join_ws(
    session: aiohttp.ClientSession,
    server: LivegateProcess,
    event_id: str,
    user: str = "fan",
    **extra: Any,
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    """Open a WebSocket, join ``event_id`` as ``user``; returns it and the ``joined`` message."""
    ws = await session.ws_connect(server.ws_url)
    await ws.send_str(
        orjson.dumps({"type": "join", "id": user, "eventId": event_id, **extra}).decode()
    )
    return ws, await recv_type(ws, "joined")


async def fetch_metrics(session: aiohttp.ClientSession, server: LivegateProcess) -> str:
    """The server's ``/metrics`` text."""
    async with session.get(f"{server.url}/metrics") as resp:
        assert resp.status == 200, await resp.text()
        return await resp.text()


def metric_value(text: str, sample: str) -> float | None:
    """The value of one sample (``name{labels}`` exactly as rendered) or None if absent."""
    for line in text.splitlines():
        if line.startswith(sample + " "):
            return float(line[len(sample) + 1 :].split()[0])
    return None


class RawWebSocket:
    """A hand-made WebSocket client over asyncio streams.

    For what aiohttp's client will not do: send invalid UTF-8 in a text frame,
    fragment a message by hand, stop reading (``pause_reading``) so the server's
    send buffer fills, or vanish without a close handshake (``abort``).
    """

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.key = ""

    @classmethod
    async def connect(
        cls, server: LivegateProcess, *, rcvbuf: int | None = None, path: str = "/ws"
    ) -> RawWebSocket:
        raw = await cls.open_upgrade(server, rcvbuf=rcvbuf, path=path)
        await raw.expect_upgraded()
        return raw

    @classmethod
    async def open_upgrade(
        cls, server: LivegateProcess, *, rcvbuf: int | None = None, path: str = "/ws"
    ) -> RawWebSocket:
        """Connect and send the upgrade request; ``expect_upgraded`` reads the answer."""
        import base64

        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            # Before connect, so the advertised TCP window stays small too.
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        sock.setblocking(False)
        try:
            await asyncio.get_running_loop().sock_connect(sock, ("127.0.0.1", server.port))
        except BaseException:
            sock.close()
            raise
        reader, writer = await asyncio.open_connection(sock=sock)
        raw = cls(reader, writer)
        raw.key = base64.b64encode(os.urandom(16)).decode()
        writer.write(
            (
                f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{server.port}\r\n"
                "Upgrade: websocket\r\nConnection: Upgrade\r\n"
                f"Sec-WebSocket-Key: {raw.key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
            ).encode()
        )
        return raw

    async def expect_upgraded(self, timeout: float = 5) -> None:
        """Read the handshake's answer: a 101 with the right ``Sec-WebSocket-Accept``."""
        import base64
        import hashlib

        head = await asyncio.wait_for(self.reader.readuntil(b"\r\n\r\n"), timeout)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        assert status_line.split()[1] == "101", head
        headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.partition(":") for line in header_lines if line)
        }
        magic = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        accept = base64.b64encode(hashlib.sha1((self.key + magic).encode()).digest()).decode()
        assert headers.get("sec-websocket-accept") == accept, head

    def frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> bytes:
        """A masked client frame."""
        mask = os.urandom(4)
        length = len(payload)
        head = bytes([(0x80 if fin else 0) | opcode])
        if length < 126:
            head += bytes([0x80 | length])
        elif length < 65536:
            head += bytes([0x80 | 126]) + length.to_bytes(2, "big")
        else:
            head += bytes([0x80 | 127]) + length.to_bytes(8, "big")
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
        return head + mask + masked

    async def send_frame(self, opcode: int, payload: bytes, *, fin: bool = True) -> None:
        self.writer.write(self.frame(opcode, payload, fin=fin))
        await self.writer.drain()

    async def send_text(self, payload: bytes | str) -> None:
        """A text frame with these exact bytes (not checked to be UTF-8)."""
        await self.send_frame(0x1, payload.encode() if isinstance(payload, str) else payload)

    async def send_json(self, message: Any) -> None:
        await self.send_text(orjson.dumps(message))

    async def recv_frame(self, timeout: float = 5) -> tuple[int, bytes]:
        """Next (opcode, payload) from the server (server frames are unmasked)."""

        async def read() -> tuple[int, bytes]:
            b0, b1 = await self.reader.readexactly(2)
            length = b1 & 0x7F
            if length == 126:
                length = int.from_bytes(await self.reader.readexactly(2), "big")
            elif length == 127:
                length = int.from_bytes(await self.reader.readexactly(8), "big")
            mask = await self.reader.readexactly(4) if b1 & 0x80 else b""
            payload = await self.reader.readexactly(length)
            if mask:
                payload = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
            return b0 & 0x0F, payload

        return await asyncio.wait_for(read(), timeout)

    async def recv_json(self, timeout: float = 5) -> dict[str, Any]:
        """Next text message as a dict; fails on any other frame."""
        opcode, payload = await self.recv_frame(timeout)
        assert opcode == 0x1, f"expected a text frame, got opcode {opcode}: {payload[:80]!r}"
        message: dict[str, Any] = orjson.loads(payload)
        return message

    async def recv_type(self, kind: str, timeout: float = 5) -> dict[str, Any]:
        """Skip text messages until one of type ``kind``."""
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"no {kind!r} message within {timeout} s"
            message = await self.recv_json(remaining)
            if message["type"] == kind:
                return message

    def pause_reading(self) -> None:
        """Stop reading from the socket: the kernel buffers fill, then the server's."""
        self.writer.transport.pause_reading()  # type: ignore[attr-defined]

    def resume_reading(self) -> None:
        self.writer.transport.resume_reading()  # type: ignore[attr-defined]

    async def read_until_gone(self, timeout: float = 10) -> tuple[int, int | None]:
        """Read everything until EOF or reset: (bytes read, close code if a close frame came).

        Fails if the server keeps the connection open past ``timeout``.
        """
        self.resume_reading()
        data = bytearray()
        deadline = asyncio.get_running_loop().time() + timeout
        while True:
            remaining = deadline - asyncio.get_running_loop().time()
            assert remaining > 0, f"connection still open after {timeout} s"
            try:
                chunk = await asyncio.wait_for(self.reader.read(1 << 16), remaining)
            except (ConnectionResetError, BrokenPipeError):
                break
            if not chunk:
                break
            data += chunk
        return len(data), _last_close_code(bytes(data))

    def abort(self) -> None:
        """Vanish: reset the TCP connection without a WebSocket close."""
        self.writer.transport.abort()

    async def close(self) -> None:
        import contextlib

        self.writer.close()
        with contextlib.suppress(OSError):
            await self.writer.wait_closed()


def _last_close_code(data: bytes) -> int | None:
    """Walk a stream of whole server frames; the code of a close frame among them."""
    pos = 0
    code = None
    while pos + 2 <= len(data):
        opcode, length = data[pos] & 0x0F, data[pos + 1] & 0x7F
        pos += 2
        if length == 126:
            length = int.from_bytes(data[pos : pos + 2], "big")
            pos += 2
        elif length == 127:
            length = int.from_bytes(data[pos : pos + 8], "big")
            pos += 8
        if pos + length > len(data):
            break
        if opcode == 0x8 and length >= 2:
            code = int.from_bytes(data[pos : pos + 2], "big")
        pos += length
    return code


async def expect_close_frame(
    ws: aiohttp.ClientWebSocketResponse, code: int, timeout: float = 5
) -> list[dict[str, Any]]:
    """Read until the server's close frame; assert the code it carries.

    Unlike ``expect_close`` this checks the code in the close frame itself, not
    ``ws.close_code``, which aiohttp turns into 1006 when its close reply cannot be
    sent (the close handshake has its own test). Returns the text messages before it.
    """
    messages: list[dict[str, Any]] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        remaining = deadline - asyncio.get_running_loop().time()
        assert remaining > 0, "server did not close in time"
        msg = await asyncio.wait_for(ws.receive(), remaining)
        if msg.type is aiohttp.WSMsgType.TEXT:
            messages.append(orjson.loads(msg.data))
            continue
        assert msg.type is aiohttp.WSMsgType.CLOSE, f"no close frame: {msg.type} {msg.data!r}"
        assert msg.data == code, f"close code {msg.data}, expected {code}"
        return messages


@pytest.fixture(scope="session")
def redis_server() -> Iterator[Any]:
    """One ``redis-server`` of the tests' own for the session (never the machine's 6379).

    Tests that share it use their own ``--engine-prefix``; tests that kill or
    pause Redis start their own ``RedisServer``.
    """
    from tests.services import RedisServer

    server = RedisServer()
    server.start()
    yield server
    server.close()
