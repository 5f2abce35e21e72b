"""The peers benchmark (``bench/peers/run.py``) at a tiny size, so it cannot rot unnoticed.

Every server of the comparison (livegate on memory and on Redis, Node ``ws``, Node
``socket.io``, python ``websockets``, python-socketio) is started by the benchmark's own
orchestrator, pinned as in the real run, and must deliver every message of both phases
to every viewer: the same figures the real run reports, only smaller. The figures
themselves are not checked (the test is about the harness and the peers working), but
each run must have measured something: latencies, memory and deliveries.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.services import require_program

ROOT = Path(__file__).resolve().parent.parent
PEERS = ROOT / "bench" / "peers"
KINDS = ("livegate", "livegate-redis", "ws", "socket.io", "websockets", "python-socketio")


def _require_node_peers() -> None:
    require_program("node", "nodejs")
    require_program("taskset", "util-linux")
    if not (PEERS / "node_modules" / "socket.io").is_dir():
        reason = "the Node peers are not installed: `npm ci --prefix bench/peers` (make test does)"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)


@pytest.mark.timeout(300)
def test_every_peer_delivers_every_message(tmp_path: Path) -> None:
    _require_node_peers()
    require_program("redis-server", "redis-server")
    out = tmp_path / "peers.json"
    done = subprocess.run(
        [
            *(sys.executable, str(PEERS / "run.py"), "--n", "40", "--repeat", "1"),
            *("--seconds", "1", "--paced-load", "400", "--burst-load", "2000"),
            *("--settle", "0.2", "--samples", "10", "--json", str(out)),
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=280,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    runs = json.loads(out.read_text())["40"]
    assert sorted(runs) == sorted(KINDS)
    for kind, (run,) in runs.items():
        assert run["paced_lost"] == 0 and run["burst_lost"] == 0, kind
        # 10 messages paced to 10 sampled viewers: every one timed.
        assert run["latency_samples"] == 100, kind
        assert 0 < run["p50_ms"] <= run["p99_ms"], kind
        assert run["rss_idle_kib"] > 0 and run["burst_deliveries_per_s"] > 0, kind
        assert run["close_codes"] == {}, kind
    table = done.stdout
    for kind in KINDS:
        assert f"| 40 | {kind} |" in table
