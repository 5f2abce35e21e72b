"""What viewer tokens cost: a signature check per algorithm, and a node's CPU per join.

Two parts, both on this machine in one run (the node and the checks pinned to CPU 0,
the load to CPU 1):

- ``verify``: µs per ``TokenVerifier.verify`` for HS256, RS256 and ES256, each with a
  token never seen (a signature check) and with one seen before (the verified-token
  cache);
- ``joins``: node CPU µs per join (open a WebSocket, join, get ``joined``, close) for
  anonymous joins, joins with a fresh ES256 token each, and joins reusing one token,
  and their ratios to the anonymous join.

    .venv/bin/python bench/tokens.py              # both parts (~1 min)
    .venv/bin/python bench/tokens.py --joins 500  # a quicker look
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

if __name__ == "__main__" and not __package__:
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.engines import LOAD_CPU, SERVER_CPU, Node, create
from livegate.viewer_tokens import TokenVerifier, mint_token

SECRET = "a-benchmark-secret-of-at-least-32-bytes"


def _pem(key: Any) -> tuple[bytes, bytes]:
    private = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def _keys(tmp: Path) -> dict[str, tuple[TokenVerifier, Callable[[str], str]]]:
    """Per algorithm: a verifier, and a minter of tokens for ``sub``."""
    kinds: dict[str, tuple[TokenVerifier, Callable[[str], str]]] = {}
    hmac = TokenVerifier.load(hmac_secret=SECRET)
    assert hmac is not None
    kinds["HS256"] = (hmac, lambda sub: mint_token(sub=sub, key=SECRET, now=time.time()))
    for name, key in (
        ("RS256", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
        ("ES256", ec.generate_private_key(ec.SECP256R1())),
    ):
        private, public = _pem(key)
        path = tmp / f"{name}.pem"
        path.write_bytes(public)
        verifier = TokenVerifier.load(public_key_file=str(path))
        assert verifier is not None

        def mint(sub: str, private: bytes = private, algorithm: str = name) -> str:
            return mint_token(sub=sub, key=private, algorithm=algorithm, now=time.time())

        kinds[name] = (verifier, mint)
    return kinds


def part_verify(count: int, tmp: Path) -> dict[str, dict[str, float]]:
    os.sched_setaffinity(0, {int(SERVER_CPU)})
    results: dict[str, dict[str, float]] = {}
    for name, (verifier, mint) in _keys(tmp).items():
        fresh = [mint(f"fan-{i}") for i in range(count)]
        now = time.time()
        started = time.process_time()
        for raw in fresh:
            verifier.verify(raw, now)
        checked = (time.process_time() - started) / count
        started = time.process_time()
        for _ in range(count):
            verifier.verify(fresh[0], now)
        cached = (time.process_time() - started) / count
        results[name] = {"checked_us": checked * 1e6, "cached_us": cached * 1e6}
    os.sched_setaffinity(0, set(range(os.cpu_count() or 1)))
    return results


async def _joins(url: str, frames: list[bytes], concurrency: int) -> None:
    queue = list(reversed(frames))

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            frame = queue.pop()
            async with session.ws_connect(url) as ws:
                await ws.send_str(frame.decode())
                while True:
                    message = orjson.loads((await ws.receive()).data)
                    if message["type"] == "joined":
                        break
                    if message["type"] == "error":
                        raise RuntimeError(message)

    async with aiohttp.ClientSession() as session:
        await asyncio.gather(*(worker(session) for _ in range(concurrency)))


def part_joins(count: int, tmp: Path) -> dict[str, float]:
    os.sched_setaffinity(0, {int(LOAD_CPU)})
    keys = _keys(tmp)
    _verifier, mint_es = keys["ES256"]
    es_public = tmp / "ES256.pem"
    node = Node(SERVER_CPU, "memory://", tmp, "--token-public-key", str(es_public))
    per_join: dict[str, float] = {}
    try:

        async def run() -> None:
            async with aiohttp.ClientSession() as session:
                await node.ready(session)
                await create(session, node.url, "bench", "generic")
            ws_url = f"ws://127.0.0.1:{node.port}/ws"
            one = mint_es("fan-same")

            def frames(round_: int) -> dict[str, list[bytes]]:
                """Fresh tokens every round: one seen in an earlier round is cached."""
                return {
                    "anonymous": [
                        orjson.dumps({"type": "join", "id": f"fan-{i}", "eventId": "bench"})
                        for i in range(count)
                    ],
                    "fresh ES256 token": [
                        orjson.dumps(
                            {"type": "join", "eventId": "bench", "token": mint_es(f"r{round_}-{i}")}
                        )
                        for i in range(count)
                    ],
                    "one ES256 token again": [
                        orjson.dumps({"type": "join", "eventId": "bench", "token": one})
                        for _ in range(count)
                    ],
                }

            await _joins(ws_url, frames(-1)["anonymous"][:100], 8)  # warm up
            for round_ in range(3):
                for kind, joins in frames(round_).items():
                    before = node.cpu_s()
                    await _joins(ws_url, joins, 8)
                    per_join.setdefault(kind, 0.0)
                    spent = (node.cpu_s() - before) / count * 1e6
                    per_join[kind] = spent if not per_join[kind] else min(per_join[kind], spent)

        asyncio.run(run())
    finally:
        node.close()
    anonymous = per_join["anonymous"]
    result = {f"{kind} us": value for kind, value in per_join.items()}
    result.update({f"{kind} / anonymous": value / anonymous for kind, value in per_join.items()})
    return result


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--verifies", type=int, default=2000)
    parser.add_argument("--joins", type=int, default=1500)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        verify = part_verify(args.verifies, tmp)
        joins = part_joins(args.joins, tmp)
    print("| algorithm | signature checked (µs) | seen before (µs) |")
    print("|---|---|---|")
    for name, figures in verify.items():
        print(f"| {name} | {figures['checked_us']:.1f} | {figures['cached_us']:.2f} |")
    print()
    print("| join | node CPU per join (µs) | ÷ anonymous |")
    print("|---|---|---|")
    for kind in ("anonymous", "fresh ES256 token", "one ES256 token again"):
        print(f"| {kind} | {joins[kind + ' us']:.0f} | {joins[kind + ' / anonymous']:.2f} |")
    print()
    print(json.dumps({"verify": verify, "joins": joins}))


if __name__ == "__main__":
    main()
