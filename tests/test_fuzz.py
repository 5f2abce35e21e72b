"""A few seconds of the WebSocket frame fuzzer (``bench/fuzz.py``) against a real server.

Connections 0 to ``CONNECTIONS - 1`` of a fixed seed send the same bytes on every run
(malformed, mutated, fragmented and oversized frames, bad upgrades...), 30 at a time,
while a few innocent viewers watch an event that gets 20 updates a second. The test
checks invariants, not close codes: the innocents get every seq once and in order, the
server stays healthy, comes back to only the innocents' connections, exits 0 on SIGTERM,
keeps its memory bounded and prints no traceback. ``bench/fuzz.py`` runs the same core
for a million frames.
"""

from __future__ import annotations

import signal
import threading
from typing import IO, Any

from bench.fuzz import FuzzConfig, run_fuzz, tracebacks

from tests.conftest import LivegateProcess

SEED = 20240601
CONNECTIONS = 1000
CONCURRENT = 30
INNOCENT = 3


class OutputDrain:
    """Reads the server's stdout while it runs, so a chatty log cannot fill the pipe
    (``LivegateProcess`` only reads it when stopped) and block the server."""

    def __init__(self, stream: IO[bytes]) -> None:
        self.chunks: list[bytes] = []
        self.stream = stream
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        read = getattr(self.stream, "read1", self.stream.read)
        while chunk := read(65536):
            self.chunks.append(chunk)

    def finish(self, timeout: float = 10) -> bytes:
        """Everything the server wrote; call once the process has exited."""
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the server's stdout is still open"
        return b"".join(self.chunks)


async def test_fuzzing_leaves_innocent_viewers_and_the_server_intact(server_factory: Any) -> None:
    server: LivegateProcess = server_factory()
    assert server.proc is not None and server.proc.stdout is not None
    drain = OutputDrain(server.proc.stdout)
    report = await run_fuzz(
        FuzzConfig(
            port=server.port,
            api_key=server.api_key,
            server_pid=server.proc.pid,
            total_connections=CONNECTIONS,
            connections=CONCURRENT,
            innocent=INNOCENT,
            seed=SEED,
            rss_limit_mib=128,
        )
    )
    summary = report.summary()

    # Not vacuous: frames went out, and the server really closed connections over them.
    assert report.frames_sent >= 15_000, summary
    assert report.connections >= CONNECTIONS * 0.95, summary
    assert report.upgrades_fuzzed >= 10, summary
    assert report.server_closed >= report.connections // 2, summary
    assert sum(report.close_codes.values()) >= 200, summary
    assert len(report.close_codes) >= 3, summary
    assert report.server_metrics.get("messages_in", 0) >= 2_000, summary
    assert report.published >= 5, summary
    assert report.innocents_complete == INNOCENT, summary
    assert 0 < report.rss_start_kib <= report.rss_max_kib, summary

    assert server.proc.poll() is None, "the server died"
    server.proc.send_signal(signal.SIGTERM)
    code = server.proc.wait(20)
    output = drain.finish()
    server.stop()
    assert code == 0, f"exit code {code} on SIGTERM\n{output[-3000:].decode(errors='replace')}"

    assert not report.failures, summary
    found = tracebacks(output)
    assert not found, f"{len(found)} traceback(s); the first:\n{found[0]}"
