"""Joins, live scores, resume and the HTTP API, against a real server."""

from __future__ import annotations

import asyncio
import itertools
from typing import Any

import aiohttp
import orjson
import pytest

from tests.conftest import API_KEY, Api, LivegateProcess, recv_json, recv_type

_ids = itertools.count()

CRICKET_UPDATE = {
    "ball 12": "13/1",
    "comment": "Bumrah has drawn the first blood",
    "batsman": {"name": "rohit", "runs": "100", "balls": "96"},
    "bowler": {"name": "yuvi", "overs": "3.6", "runs": "10", "maiden": "1", "wickets": "2"},
}


def new_event_id() -> str:
    return f"match-{next(_ids)}"


async def join(
    http: aiohttp.ClientSession,
    server: LivegateProcess,
    event_id: str,
    user: str = "fan",
    **extra: Any,
) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    ws = await http.ws_connect(server.ws_url)
    await ws.send_str(
        orjson.dumps({"type": "join", "id": user, "eventId": event_id, **extra}).decode()
    )
    return ws, await recv_type(ws, "joined")


async def test_bare_spec_join_gets_state_and_heartbeat(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id, "cricket", "India v Australia")
    ws = await http.ws_connect(shared_server.ws_url)
    await ws.send_str(orjson.dumps({"id": "user-1", "eventId": event_id}).decode())
    joined = await recv_json(ws)
    assert joined["type"] == "joined"
    assert joined["eventId"] == event_id
    assert (joined["sport"], joined["title"], joined["status"]) == (
        "cricket",
        "India v Australia",
        "scheduled",
    )
    assert joined["seq"] == 0 and joined["snapshot"] is None and joined["viewers"] == 1
    assert joined["heartbeat"] == {"intervalMs": 15000, "timeoutMs": 45000}
    assert "recovered" not in joined
    await ws.close()


async def test_pre_match_viewer_gets_first_update_then_snapshot_on_join(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    early, _ = await join(http, shared_server, event_id)
    published = await api.publish(event_id, CRICKET_UPDATE)
    assert published["seq"] == 1
    score = await recv_type(early, "score")
    assert score["seq"] == 1 and score["data"] == CRICKET_UPDATE and score["eventId"] == event_id
    assert isinstance(score["ts"], int) and score["ts"] == published["ts"]
    late, joined = await join(http, shared_server, event_id, "late")
    assert joined["status"] == "live" and joined["seq"] == 1
    assert joined["snapshot"] == CRICKET_UPDATE and joined["viewers"] == 2
    await early.close()
    await late.close()


async def test_scores_fan_out_to_every_viewer_in_seq_order(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    other_event = new_event_id()
    await api.create_event(event_id)
    await api.create_event(other_event)
    viewers = [(await join(http, shared_server, event_id, f"u{i}"))[0] for i in range(20)]
    bystander, _ = await join(http, shared_server, other_event)
    results = await asyncio.gather(*(api.publish(event_id, {"n": i}) for i in range(30)))
    assert sorted(r["seq"] for r in results) == list(range(1, 31))
    for ws in viewers:
        seqs: list[int] = []
        while len(seqs) < 30:
            message = await recv_json(ws)
            if message["type"] == "score":
                seqs.append(message["seq"])
        assert seqs == list(range(1, 31))
    await api.publish(other_event, {"other": True})
    message = await recv_type(bystander, "score")
    assert message["data"] == {"other": True}  # nothing of the first event leaked here
    for ws in [*viewers, bystander]:
        await ws.close()


async def test_resume_with_everything_in_history(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    for i in range(5):
        await api.publish(event_id, {"n": i + 1})
    ws, joined = await join(http, shared_server, event_id, since=2)
    assert joined["recovered"] is True
    assert [m["seq"] for m in joined["missed"]] == [3, 4, 5]
    assert [m["data"]["n"] for m in joined["missed"]] == [3, 4, 5]
    assert all(m["type"] == "score" for m in joined["missed"])
    await api.publish(event_id, {"n": 6})
    assert (await recv_type(ws, "score"))["seq"] == 6  # live continues with no gap
    await ws.close()
    up_to_date, joined = await join(http, shared_server, event_id, since=6)
    assert joined["recovered"] is True and joined["missed"] == []
    await up_to_date.close()


async def test_resume_with_a_gap_past_history_gets_snapshot(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server = server_factory("--history-size", "3")
    api = Api(http, server)
    await api.create_event("m")
    for i in range(6):
        await api.publish("m", {"n": i + 1})
    ws, joined = await join(http, server, "m", since=1)
    assert joined["recovered"] is False and joined["missed"] == []
    assert joined["seq"] == 6 and joined["snapshot"] == {"n": 6}
    await ws.close()
    ws, joined = await join(http, server, "m", since=3)  # 4, 5, 6 are held
    assert joined["recovered"] is True and [m["seq"] for m in joined["missed"]] == [4, 5, 6]
    await ws.close()


async def test_resume_while_publishing_has_no_gap_and_no_duplicate(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    await api.publish(event_id, {"n": 1})

    async def publish_many() -> None:
        for i in range(2, 80):
            await api.publish(event_id, {"n": i})

    publisher = asyncio.create_task(publish_many())
    await asyncio.sleep(0.01)
    ws, joined = await join(http, shared_server, event_id, since=1)
    await publisher
    seqs = [m["seq"] for m in joined["missed"]]
    while not seqs or seqs[-1] < 79:
        message = await recv_json(ws)
        if message["type"] == "score":
            seqs.append(message["seq"])
    assert seqs == list(range(2, 80))
    await ws.close()


async def test_switching_event_on_one_connection(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    first, second = new_event_id(), new_event_id()
    await api.create_event(first)
    await api.create_event(second, "tennis", "Alcaraz v Sinner")
    ws, _ = await join(http, shared_server, first)
    await ws.send_str(orjson.dumps({"type": "join", "id": "fan", "eventId": second}).decode())
    joined = await recv_type(ws, "joined")
    assert joined["eventId"] == second and joined["sport"] == "tennis"
    await api.publish(first, {"old": True})
    await api.publish(second, {"new": True})
    score = await recv_type(ws, "score")
    assert score["eventId"] == second and score["data"] == {"new": True}
    assert (await api.get_event(first))["viewers"] == 0
    await ws.close()


async def test_idempotent_publish_returns_same_seq_and_broadcasts_once(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    ws, _ = await join(http, shared_server, event_id)
    first = await api.publish(event_id, {"goal": 1}, key="feed-42")
    retry = await api.publish(event_id, {"goal": 1}, key="feed-42")
    assert retry["seq"] == first["seq"] == 1 and retry["duplicate"] is True
    assert first["duplicate"] is False
    await api.publish(event_id, {"goal": 2}, key="feed-43")
    assert (await recv_type(ws, "score"))["seq"] == 1
    assert (await recv_type(ws, "score"))["seq"] == 2  # the retry sent nothing
    assert (await api.get_event(event_id))["seq"] == 2
    await ws.close()


async def test_end_event_tells_viewers_and_refuses_updates(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    ws, _ = await join(http, shared_server, event_id)
    await api.publish(event_id, {"final": True})
    await api.end(event_id)
    assert (await recv_type(ws, "ended")) == {"type": "ended", "eventId": event_id}
    refused = await api.publish(event_id, {"late": True}, expect=409)
    assert refused["error"]["code"] == "event_ended"
    await ws.send_str('{"type":"reaction","emoji":"👏"}')
    assert (await recv_type(ws, "error"))["code"] == "event_ended"
    info = await api.get_event(event_id)
    assert info["status"] == "ended" and info["snapshot"] == {"final": True}
    _, joined = await join(http, shared_server, event_id, "after")
    assert joined["status"] == "ended" and joined["snapshot"] == {"final": True}
    await ws.close()


async def test_event_listing_and_reading(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    created = await api.create_event(event_id, "tennis", "Final")
    assert created["status"] == "scheduled" and created["seq"] == 0
    async with http.put(
        f"{shared_server.url}/api/events/{event_id}",
        json={"title": "The Final", "venue": "Wembley"},
        headers=shared_server.headers(),
    ) as resp:
        assert resp.status == 200
        updated = await resp.json()
    assert updated["title"] == "The Final" and updated["sport"] == "tennis"
    assert updated["meta"] == {"venue": "Wembley"}
    ws, _ = await join(http, shared_server, event_id)
    await api.publish(event_id, {"minute": 1})
    async with http.get(f"{shared_server.url}/api/events") as resp:
        listing = await resp.json()
    mine = [e for e in listing["events"] if e["eventId"] == event_id]
    assert len(mine) == 1
    assert mine[0]["seq"] == 1 and mine[0]["viewers"] == 1 and mine[0]["peakViewers"] == 1
    one = await api.get_event(event_id)
    assert one["snapshot"] == {"minute": 1} and one["status"] == "live"
    await ws.close()


@pytest.mark.parametrize(
    ("method", "path", "body", "headers", "status", "code"),
    [
        ("PUT", "/api/events/x1", {"sport": "cricket"}, {}, 401, "unauthorized"),
        (
            "PUT",
            "/api/events/x1",
            {"sport": "cricket"},
            {"Authorization": "Bearer wrong"},
            401,
            "unauthorized",
        ),
        (
            "PUT",
            "/api/events/x1",
            {"sport": "cricket"},
            {"Authorization": f"Basic {API_KEY}"},
            401,
            "unauthorized",
        ),
        ("POST", "/api/events/x1/updates", {"a": 1}, {}, 401, "unauthorized"),
        ("POST", "/api/events/x1/end", None, {}, 401, "unauthorized"),
        ("PUT", "/api/events/x1", {"title": "no sport"}, "auth", 400, "missing_field"),
        ("PUT", "/api/events/x1", {"sport": "Cricket!"}, "auth", 400, "bad_field"),
        ("PUT", "/api/events/x1", [1, 2], "auth", 400, "not_an_object"),
        ("PUT", "/api/events/bad%20id", {"sport": "cricket"}, "auth", 400, "bad_event_id"),
        ("POST", "/api/events/never-created/updates", {"a": 1}, "auth", 404, "unknown_event"),
        ("POST", "/api/events/never-created/end", None, "auth", 404, "unknown_event"),
        ("GET", "/api/events/never-created", None, {}, 404, "unknown_event"),
        ("GET", "/api/nothing-here", None, {}, 404, "not_found"),
        ("DELETE", "/api/events/never-created", None, "auth", 404, "unknown_event"),
        ("DELETE", "/api/events/x1", None, {}, 401, "unauthorized"),
        ("PATCH", "/api/events/x1", None, "auth", 405, "method_not_allowed"),
        ("POST", "/api/events/x1/end", {"result": 5}, "auth", 400, "bad_field"),
        ("POST", "/api/events/x1/end", [1], "auth", 400, "not_an_object"),
    ],
)
async def test_api_errors_are_json_with_a_code(
    http: aiohttp.ClientSession,
    shared_server: LivegateProcess,
    method: str,
    path: str,
    body: Any,
    headers: Any,
    status: int,
    code: str,
) -> None:
    if headers == "auth":
        headers = shared_server.headers()
    data = orjson.dumps(body) if body is not None else None
    async with http.request(method, shared_server.url + path, data=data, headers=headers) as resp:
        assert resp.status == status
        assert resp.content_type == "application/json"
        error = (await resp.json())["error"]
    assert error["code"] == code and error["message"]


async def test_publish_body_rules(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    url = f"{shared_server.url}/api/events/{event_id}/updates"
    cases: list[tuple[bytes, int, str]] = [
        (b"not json", 400, "bad_json"),
        (b"[1]", 400, "not_an_object"),
        (b'{"x": "' + b"a" * 70_000 + b'"}', 413, "too_large"),
        (b"[" * 3000 + b"]" * 3000, 400, "bad_json"),
    ]
    for body, status, code in cases:
        async with http.post(url, data=body, headers=shared_server.headers()) as resp:
            assert resp.status == status, body[:20]
            assert (await resp.json())["error"]["code"] == code

    async def chunked() -> Any:
        for _ in range(20):
            yield b" " * 4096

    async with http.post(url, data=chunked(), headers=shared_server.headers()) as resp:
        assert resp.status == 413  # no Content-Length: counted while reading
    just_fits = {"x": "a" * (64 * 1024 - 10)}
    assert (await api.publish(event_id, just_fits))["seq"] == 1


async def test_healthz_and_index(
    http: aiohttp.ClientSession, shared_server: LivegateProcess
) -> None:
    async with http.get(f"{shared_server.url}/healthz") as resp:
        assert resp.status == 200 and (await resp.json())["status"] == "ok"
    async with http.get(f"{shared_server.url}/") as resp:
        assert resp.status == 200


async def test_resume_too_large_to_replay_falls_back_to_snapshot(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server = server_factory("--max-buffer", "65536")
    api = Api(http, server)
    await api.create_event("big")
    for i in range(10):
        await api.publish("big", {"n": i + 1, "pad": "x" * 16_000})
    ws, joined = await join(http, server, "big", since=0)
    assert joined["recovered"] is False and joined["missed"] == []
    assert joined["snapshot"]["n"] == 10 and joined["seq"] == 10
    ws2, joined = await join(http, server, "big", since=8)  # 2 x 16 KB fits
    assert joined["recovered"] is True and [m["seq"] for m in joined["missed"]] == [9, 10]
    await ws.close()
    await ws2.close()


async def test_resume_across_a_restart_is_not_mistaken_for_recovery(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server = server_factory()
    api = Api(http, server)
    await api.create_event("m")
    await api.publish("m", {"old": 1})
    await api.publish("m", {"old": 2})
    ws, joined = await join(http, server, "m")
    old_epoch = joined["epoch"]
    assert isinstance(old_epoch, str) and old_epoch
    await ws.close()
    assert server.stop() == 0
    server.start()  # same port, empty memory store
    await api.create_event("m")
    for i in range(3):
        await api.publish("m", {"new": i + 1})
    ws, joined = await join(http, server, "m", since=2, epoch=old_epoch)
    assert joined["epoch"] != old_epoch
    assert joined["recovered"] is False and joined["missed"] == []
    assert joined["seq"] == 3 and joined["snapshot"] == {"new": 3}
    await ws.close()
    ws, joined = await join(http, server, "m", since=2, epoch=joined["epoch"])
    assert joined["recovered"] is True and [m["data"] for m in joined["missed"]] == [{"new": 3}]
    await ws.close()


async def test_a_failed_join_keeps_the_event_the_connection_had(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    ws, _ = await join(http, shared_server, event_id)
    await ws.send_str(orjson.dumps({"type": "join", "id": "fan", "eventId": "no-such"}).decode())
    error = await recv_type(ws, "error")
    assert error["code"] == "unknown_event"
    await api.publish(event_id, {"n": 1})
    assert (await recv_type(ws, "score"))["seq"] == 1  # still on the first event
    await ws.close()
