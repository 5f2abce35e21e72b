"""Real system services for tests: ``redis-server`` (and later ``nginx``) on free ports.

A test that needs a program the machine lacks skips with a reason naming the
Debian package, except under ``CI=true``, where it fails: CI installs them.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

from tests.conftest import free_port

__all__ = ["NginxServer", "RedisServer", "require_program"]


def require_program(name: str, package: str) -> str:
    """The path of ``name``; skips (fails under CI=true) when it is missing."""
    path = shutil.which(name) or (
        f"/usr/sbin/{name}" if os.path.exists(f"/usr/sbin/{name}") else None
    )
    if path is None:
        reason = f"{name} is not installed (Debian package {package})"
        if os.environ.get("CI") == "true":
            pytest.fail(f"{reason}; CI=true requires it")
        pytest.skip(reason)
    return path


class RedisServer:
    """A ``redis-server`` of the test's own on 127.0.0.1, with AOF in a temporary folder.

    ``stop``/``start`` restart it on the same port with the same data (AOF with
    ``appendfsync always``, so every acknowledged write survives a SIGKILL);
    ``pause``/``resume`` freeze it with SIGSTOP/SIGCONT.
    """

    def __init__(self, *, appendonly: bool = True, password: str = "") -> None:
        self.binary = require_program("redis-server", "redis-server")
        self.password = password
        self.port = free_port()
        self.appendonly = appendonly
        self._dir = tempfile.TemporaryDirectory(prefix="livegate-redis-")
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self.binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self._dir.name,
            "--save", "",
            "--appendonly", "yes" if self.appendonly else "no",
            "--appendfsync", "always",
            "--protected-mode", "no",
            *(("--requirepass", self.password) if self.password else ()),
        ]  # fmt: skip
        self.proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                    sock.sendall(b"PING\r\n")
                    answer = sock.recv(64)
                    if answer.startswith(b"+PONG") or answer.startswith(b"-NOAUTH"):
                        return
            except OSError:
                pass
            if self.proc.poll() is not None:
                raise RuntimeError("redis-server exited at start")
            time.sleep(0.02)
        raise RuntimeError("redis-server did not start in 10 s")

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.proc is None:
            return
        self.resume()
        self.proc.send_signal(sig)
        self.proc.wait(10)
        self.proc = None

    def pause(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def flush(self) -> None:
        """Empty every database (between tests that share the server)."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"FLUSHALL\r\n")
            assert sock.recv(64).startswith(b"+OK")

    def close(self) -> None:
        self.stop(signal.SIGKILL)
        self._dir.cleanup()

    @property
    def data_dir(self) -> Path:
        return Path(self._dir.name)


class NginxServer:
    """``nginx`` with livegate's shipped configuration, in front of ``node_ports``."""

    def __init__(self, node_ports: list[int]) -> None:
        from livegate.nginx_config import render

        self.binary = require_program("nginx", "nginx")
        self.port = free_port()
        self._dir = tempfile.TemporaryDirectory(prefix="livegate-nginx-")
        (Path(self._dir.name) / "temp").mkdir()
        self.conf = Path(self._dir.name) / "nginx.conf"
        self.conf.write_text(render(self.port, node_ports))
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/ws"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [self.binary, "-p", self._dir.name, "-c", str(self.conf), "-g", "daemon off;"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
        )
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=0.5):
                    return
            except OSError:
                if self.proc.poll() is not None:
                    err = self.proc.stderr.read() if self.proc.stderr else b""
                    raise RuntimeError(f"nginx exited at start: {err.decode()}") from None
                time.sleep(0.02)
        raise RuntimeError("nginx did not start in 10 s")

    def close(self) -> None:
        if self.proc is not None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.proc.stderr:
                self.proc.stderr.close()
            self.proc = None
        self._dir.cleanup()
