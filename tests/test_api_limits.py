"""The HTTP API under hostile readers and guessers, and the logs they cause.

Real server processes: the event list is paginated and its encoding shared
(ETag, 304), public reads are rate-limited per client, API-key guessing is held
to a trickle (429 with ``Retry-After``), keys are 16+ characters, and a flood of
malformed requests leaves a few log lines, never tracebacks.
"""

from __future__ import annotations

import asyncio
import socket
import subprocess
from pathlib import Path
from typing import Any

import aiohttp

from tests.conftest import API_KEY, Api, LivegateProcess, run_briefly


async def test_event_list_is_paginated_in_creation_order(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory()
    api = Api(http, server)
    created = [f"page-{i:03d}" for i in range(230)]
    await asyncio.gather(*(api.create_event(event_id) for event_id in created[:115]))
    for event_id in created[115:]:  # the tail in a known order
        await api.create_event(event_id)
    await api.publish("page-229", {"n": 1})
    seen: list[str] = []
    cursor = None
    while True:
        query = "limit=100" + (f"&cursor={cursor}" if cursor else "")
        async with http.get(f"{server.url}/api/events?{query}") as resp:
            assert resp.status == 200
            body = await resp.json()
        assert len(body["events"]) <= 100
        seen += [event["eventId"] for event in body["events"]]
        cursor = body["next"]
        if cursor is None:
            break
    assert sorted(seen) == created and seen[115:] == created[115:]
    async with http.get(f"{server.url}/api/events?status=live") as resp:
        assert [e["eventId"] for e in (await resp.json())["events"]] == ["page-229"]
    async with http.get(f"{server.url}/api/events") as resp:
        assert len((await resp.json())["events"]) == 100  # the default page
    for bad in ("limit=0", "limit=501", "limit=x", "status=over", "cursor=nope", "cursor=a%20b"):
        async with http.get(f"{server.url}/api/events?{bad}") as resp:
            assert resp.status == 400, bad
            assert (await resp.json())["error"]["code"] == "bad_query"


async def test_event_list_is_encoded_once_per_interval_with_an_etag(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory()
    api = Api(http, server)
    await api.create_event("etag-1")
    async with http.get(f"{server.url}/api/events") as resp:
        etag = resp.headers["ETag"]
        assert "max-age" in resp.headers["Cache-Control"]
        first = await resp.read()
    async with http.get(f"{server.url}/api/events", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 304 and await resp.read() == b""
    # A new event shows at once: the shape of the list changed.
    await api.create_event("etag-2")
    async with http.get(f"{server.url}/api/events", headers={"If-None-Match": etag}) as resp:
        assert resp.status == 200 and resp.headers["ETag"] != etag
        assert await resp.read() != first


async def test_public_reads_are_rate_limited_per_client(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--read-rate", "2", "--read-burst", "5")
    api = Api(http, server)
    await api.create_event("reads")
    statuses = []
    for _ in range(8):
        async with http.get(f"{server.url}/api/events/reads") as resp:
            statuses.append(resp.status)
            if resp.status == 429:
                assert int(resp.headers["Retry-After"]) >= 1
                assert (await resp.json())["error"]["code"] == "rate_limited"
    assert statuses[:5] == [200] * 5 and 429 in statuses[5:]
    # Writes and health are not public reads.
    assert (await api.publish("reads", {"n": 1}))["seq"] == 1
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200


async def test_api_key_guessing_is_throttled_per_address(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory()
    url = f"{server.url}/api/events/guess/updates"
    statuses = []
    for i in range(14):
        headers = {"Authorization": f"Bearer guess-{i:012d}"}
        async with http.post(url, data=b"{}", headers=headers) as resp:
            statuses.append(resp.status)
            retry_after = resp.headers.get("Retry-After")
    assert statuses[:10] == [401] * 10 and set(statuses[10:]) == {429}
    assert retry_after is not None and int(retry_after) >= 1
    # Even the right key is refused from this address until the bucket refills.
    async with http.put(
        f"{server.url}/api/events/guess", json={"sport": "generic"}, headers=server.headers()
    ) as resp:
        assert resp.status == 429
    await asyncio.sleep(1.2)
    async with http.put(
        f"{server.url}/api/events/guess", json={"sport": "generic"}, headers=server.headers()
    ) as resp:
        assert resp.status == 201
    server.stop()
    log = server.output.decode()
    assert "failed API key from 127.0.0.1" in log
    assert log.count("failed API key") <= 2 and "guess-" not in log  # never the key itself


async def test_malformed_requests_log_a_few_lines_and_no_traceback(server_factory: Any) -> None:
    server: LivegateProcess = server_factory()
    requests = [
        b"GARBAGE\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
        b"GET /" + b"a" * 10_000 + b" HTTP/1.1\r\n\r\n",
        b"POST /api/events/x/updates HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
    ]
    for i in range(400):
        reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.write(requests[i % len(requests)])
        assert (await reader.read(12)).startswith(b"HTTP/1.")
        writer.close()
    server.stop()
    log = server.output.decode()
    assert "Traceback" not in log
    assert 1 <= log.count("malformed HTTP request") <= 8, log


def _serve_briefly(
    *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_briefly("serve", *args, env=env)


def test_short_api_keys_are_refused_at_start() -> None:
    env = {"LIVEGATE_API_KEY": "abc"}
    result = _serve_briefly(env=env)
    assert result.returncode == 2 and "at least 16 characters" in result.stdout
    assert "Traceback" not in result.stdout


def test_api_key_on_the_command_line_warns_and_a_key_file_does_not(tmp_path: Path) -> None:
    env = {"LIVEGATE_API_KEY": ""}
    result = _serve_briefly("--api-key", API_KEY, env=env)
    assert "visible to every user in ps" in result.stdout
    assert "listening on" in result.stdout
    key_file = tmp_path / "key"
    key_file.write_text(API_KEY + "\n")
    result = _serve_briefly("--api-key-file", str(key_file), env=env)
    assert "visible to every user" not in result.stdout and "generated" not in result.stdout
    assert "listening on" in result.stdout
    result = _serve_briefly("--api-key-file", str(tmp_path / "missing"), env=env)
    assert result.returncode == 2 and "cannot read the API key file" in result.stdout


async def test_events_list_cli_follows_every_page(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    from tests.test_feeds import run_cli

    server: LivegateProcess = server_factory()
    api = Api(http, server)
    await asyncio.gather(*(api.create_event(f"many-{i:04d}") for i in range(1100)))
    result = await asyncio.to_thread(run_cli, server, "events", "list")
    assert result.returncode == 0, result.stderr
    listed = [line.split("\t")[0] for line in result.stdout.splitlines()]
    assert sorted(listed) == [f"many-{i:04d}" for i in range(1100)]


def test_a_bad_setting_is_one_line_and_exit_2_before_anything_starts() -> None:
    for args in (
        ["--engine", "redis://127.0.0.1:1/0"],  # nothing listens there
        ["--engine", "nats://x"],
        ["--engine", "sqlite:///nonexistent-dir/x.db"],
        ["--engine", "redis://127.0.0.1:6379/x"],
        ["--node-id", "a b"],
        ["--viewers-budget", "0"],
    ):
        result = _serve_briefly(*args, env={"LIVEGATE_API_KEY": API_KEY})
        assert result.returncode == 2, (args, result.stdout)
        lines = result.stdout.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("livegate: "), result.stdout
    env = {"LIVEGATE_API_KEY": API_KEY, "LIVEGATE_HEARTBEAT_TIMEOUT": "soon"}
    result = _serve_briefly(env=env)
    assert result.returncode == 2 and "LIVEGATE_HEARTBEAT_TIMEOUT='soon'" in result.stdout


async def test_node_id_names_the_node_in_healthz(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    named: LivegateProcess = server_factory("--node-id", "web-1")
    async with http.get(f"{named.url}/healthz") as resp:
        assert (await resp.json())["node"] == "web-1"
    default: LivegateProcess = server_factory()
    async with http.get(f"{default.url}/healthz") as resp:
        node = (await resp.json())["node"]
    assert default.proc is not None and node == f"{socket.gethostname()}-{default.proc.pid}"
