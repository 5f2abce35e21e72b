"""An event's life: scheduled → live → ended with a result, deleted, or retired after a while."""

from __future__ import annotations

import asyncio
from typing import Any

import aiohttp

from tests.conftest import Api, LivegateProcess, join_ws, recv_type
from tests.test_scores import CRICKET_UPDATE as BALL
from tests.test_scores import new_event_id as new_id


async def test_end_with_a_result_reaches_viewers_and_the_api(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_id()
    await api.create_event(event_id, "cricket", "CSK v MI")
    ws, _ = await join_ws(http, shared_server, event_id)
    await api.publish(event_id, BALL)
    async with http.post(
        f"{shared_server.url}/api/events/{event_id}/end",
        json={"result": "CSK won by 5 wickets"},
        headers=shared_server.headers(),
    ) as resp:
        assert resp.status == 200
        body = await resp.json()
    assert (body["status"], body["result"]) == ("ended", "CSK won by 5 wickets")
    ended = await recv_type(ws, "ended")
    assert ended == {"type": "ended", "eventId": event_id, "result": "CSK won by 5 wickets"}
    event = await api.get_event(event_id)
    assert event["result"] == "CSK won by 5 wickets"
    assert event["summary"].startswith("13/1 Rohit 100* (96)")
    await ws.close()


async def test_the_list_carries_each_event_s_summary(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_id()
    await api.create_event(event_id, "cricket", "Summary XI")
    listed = await _listed(http, shared_server, event_id)
    assert listed["summary"] == "" and "result" not in listed
    await api.publish(event_id, BALL)
    await asyncio.sleep(1.1)  # the list's one-second cache
    listed = await _listed(http, shared_server, event_id)
    assert listed["summary"] == "13/1 Rohit 100* (96), Yuvi 2-10: Bumrah has drawn the first blood"


async def _listed(
    http: aiohttp.ClientSession, server: LivegateProcess, event_id: str
) -> dict[str, Any]:
    url = f"{server.url}/api/events?limit=500"
    while url:
        async with http.get(url) as resp:
            page = await resp.json()
        for event in page["events"]:
            if event["eventId"] == event_id:
                return dict(event)
        url = f"{server.url}/api/events?limit=500&cursor={page['next']}" if page["next"] else ""
    raise AssertionError(f"{event_id} is not listed")


async def test_delete_ends_it_for_viewers_and_forgets_it(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_id()
    await api.create_event(event_id)
    ws, _ = await join_ws(http, shared_server, event_id)
    await api.publish(event_id, {"n": 1})
    url = f"{shared_server.url}/api/events/{event_id}"
    async with http.delete(url, headers=shared_server.headers()) as resp:
        assert resp.status == 204
    assert (await recv_type(ws, "ended"))["eventId"] == event_id
    async with http.get(url) as resp:
        assert resp.status == 404
    async with http.delete(url, headers=shared_server.headers()) as resp:
        assert resp.status == 404
    await ws.close()
    created = await api.create_event(event_id)  # the id is free again: a new history
    assert created["seq"] == 0 and created["status"] == "scheduled"


async def test_ended_events_leave_after_the_retention(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--ended-retention", "1")
    api = Api(http, server)
    await api.create_event("old")
    await api.create_event("still-live")
    await api.publish("still-live", {"n": 1})
    await api.end("old")
    async with asyncio.timeout(10):
        while True:
            async with http.get(f"{server.url}/api/events/old") as resp:
                if resp.status == 404:
                    break
            await asyncio.sleep(0.2)
    assert (await api.get_event("still-live"))["status"] == "live"
