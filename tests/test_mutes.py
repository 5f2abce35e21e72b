"""Mutes: who may mute, what a muted viewer's comments become, on one node and many."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson

from tests.conftest import Api, LivegateProcess, join_ws, recv_type
from tests.test_cluster import Cluster

OPS = "ops-key-0123456789abcdef"
IPL = "ipl-key-0123456789abcdef"
STATS = "stats-key-0123456789ab"


async def call(
    http: aiohttp.ClientSession,
    method: str,
    url: str,
    key: str,
    body: Any = None,
) -> tuple[int, Any]:
    async with http.request(
        method, url, json=body, headers={"Authorization": f"Bearer {key}"}
    ) as resp:
        payload = await resp.read()
        return resp.status, orjson.loads(payload) if payload else None


async def comment(ws: aiohttp.ClientWebSocketResponse, text: str, emoji: str = "🔥") -> None:
    await ws.send_str(orjson.dumps({"type": "reaction", "emoji": emoji, "comment": text}).decode())


async def shown(ws: aiohttp.ClientWebSocketResponse, emoji_total: int) -> list[str]:
    """The comments a viewer sees until it has counted ``emoji_total`` reactions."""
    counted, comments = 0, []
    async with asyncio.timeout(5):
        while counted < emoji_total:
            message = await recv_type(ws, "reactions")
            counted += sum(message["counts"].values())
            comments += [c["comment"] for c in message["comments"]]
    return comments


async def test_who_may_mute_and_what_is_checked(
    http: aiohttp.ClientSession, server_factory: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"ops admin {OPS}\nipl-feed publish:ipl-* {IPL}\nstats read {STATS}\n")
    server: LivegateProcess = server_factory("--api-keys-file", str(keys))
    for event_id in ("ipl-1", "epl-1"):
        status, _ = await call(
            http, "PUT", f"{server.url}/api/events/{event_id}", OPS, {"sport": "generic"}
        )
        assert status == 201
    mutes = f"{server.url}/api/events/ipl-1/mutes"
    # The event's scorer key and an admin key may; a key for other events or a read key not.
    status, body = await call(http, "POST", mutes, IPL, {"id": "troll", "seconds": 600})
    assert status == 200 and body["id"] == "troll"
    assert 599_000 < body["until"] - time.time() * 1000 <= 600_000
    assert (await call(http, "POST", mutes, OPS, {"id": "pest", "seconds": 60}))[0] == 200
    status, body = await call(
        http, "POST", f"{server.url}/api/events/epl-1/mutes", IPL, {"id": "x", "seconds": 60}
    )
    assert status == 403 and body["error"]["code"] == "forbidden"
    assert (await call(http, "POST", mutes, STATS, {"id": "x", "seconds": 60}))[0] == 403
    assert (await call(http, "GET", mutes, "wrong-key-0123456789"))[0] == 401
    status, body = await call(http, "GET", mutes, IPL)
    assert status == 200 and sorted(m["id"] for m in body["mutes"]) == ["pest", "troll"]
    for bad in (
        {"id": "x"},
        {"id": "x", "seconds": 0},
        {"id": "x", "seconds": True},
        {"id": "x", "seconds": 10**9},
        {"id": "", "seconds": 60},
        {"id": "x" * 129, "seconds": 60},
        {"seconds": 60},
    ):
        status, body = await call(http, "POST", mutes, OPS, bad)
        assert status == 400 and body["error"]["code"] == "bad_field", bad
    unknown = f"{server.url}/api/events/nope/mutes"
    assert (await call(http, "POST", unknown, OPS, {"id": "x", "seconds": 60}))[0] == 404
    # Lifting: 204, then 404 not_muted; ids travel URL-encoded.
    assert (await call(http, "DELETE", f"{mutes}/troll", IPL))[0] == 204
    status, body = await call(http, "DELETE", f"{mutes}/troll", IPL)
    assert status == 404 and body["error"]["code"] == "not_muted"
    odd = "fan 7/✔"
    assert (await call(http, "POST", mutes, OPS, {"id": odd, "seconds": 60}))[0] == 200
    quoted = "fan%207%2F%E2%9C%94"
    assert (await call(http, "DELETE", f"{mutes}/{quoted}", OPS))[0] == 204


async def test_a_muted_viewers_comments_are_dropped_not_its_emoji(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--reaction-window", "0.1")
    await Api(http, server).create_event("m1")
    troll, _ = await join_ws(http, server, "m1", "troll")
    fan, _ = await join_ws(http, server, "m1", "fan")
    mutes = f"{server.url}/api/events/m1/mutes"
    key = server.api_key
    assert (await call(http, "POST", mutes, key, {"id": "troll", "seconds": 1.5}))[0] == 200
    await comment(troll, "spam spam", "👎")
    error = await recv_type(troll, "error")
    assert error["code"] == "muted"
    await comment(fan, "what a catch", "👏")
    assert await shown(fan, 2) == ["what a catch"]  # both emoji counted, one comment
    # The mute ends by itself.
    await asyncio.sleep(1.6)
    await comment(troll, "sorry")
    assert await shown(fan, 1) == ["sorry"]
    # A new mute, then lifted: comments show again at once.
    assert (await call(http, "POST", mutes, key, {"id": "troll", "seconds": 600}))[0] == 200
    await comment(troll, "again")
    assert (await recv_type(troll, "error"))["code"] == "muted"
    assert (await call(http, "DELETE", f"{mutes}/troll", key))[0] == 204
    await comment(troll, "better now")
    assert "better now" in await shown(fan, 2)


async def test_a_mute_holds_on_every_node(http: aiohttp.ClientSession, redis_server: Any) -> None:
    cluster = Cluster(redis_server.url, 2)
    cluster.start()
    try:
        first, second = cluster.nodes
        await Api(http, first).create_event("m1")
        troll_a, _ = await join_ws(http, first, "m1", "troll")
        troll_b, _ = await join_ws(http, second, "m1", "troll")
        watcher, _ = await join_ws(http, second, "m1", "fan")
        status, _ = await call(
            http,
            "POST",
            f"{first.url}/api/events/m1/mutes",
            first.api_key,
            {"id": "troll", "seconds": 600},
        )
        assert status == 200
        for ws in (troll_a, troll_b):
            # The mute reached the node through Redis: refused on both.
            async with asyncio.timeout(5):
                while True:
                    await comment(ws, "spam")
                    message = await recv_type(ws, "error")
                    if message["code"] == "muted":
                        break
        # A node that subscribes to the event after the mute reads it at the join.
        await Api(http, second).create_event("m2")
        await call(
            http,
            "POST",
            f"{first.url}/api/events/m2/mutes",
            first.api_key,
            {"id": "troll", "seconds": 600},
        )
        late, _ = await join_ws(http, second, "m2", "troll")
        await comment(late, "spam")
        assert (await recv_type(late, "error"))["code"] == "muted"
        # The muted comments were shown to no one on either node.
        await comment(watcher, "clean")
        comments: list[str] = []
        async with asyncio.timeout(5):
            while "clean" not in comments:
                message = await recv_type(watcher, "reactions")
                comments += [c["comment"] for c in message["comments"]]
        assert "spam" not in comments
    finally:
        cluster.stop()


async def test_mute_ids_follow_the_join_rule_and_the_list_has_the_server_clock(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    await api.create_event("m-rules")
    mutes = f"{shared_server.url}/api/events/m-rules/mutes"
    key = shared_server.api_key
    for bad in ({"id": "a\u200bb", "seconds": 60}, {"id": "x", "seconds": 0.5}):
        status, body = await call(http, "POST", mutes, key, bad)
        assert status == 400 and body["error"]["code"] == "bad_field", bad
    status, body = await call(http, "GET", mutes, key)
    assert status == 200 and abs(body["now"] - time.time() * 1000) < 5_000
