"""Heartbeat, viewer counts and metrics, against a real server over real sockets."""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import orjson
import pytest

from livegate.protocol import CloseCode
from tests.conftest import (
    Api,
    LivegateProcess,
    RawWebSocket,
    expect_close_frame,
    fetch_metrics,
    join_ws,
    metric_value,
    recv_json,
    recv_type,
)

INTERVAL, TIMEOUT = 0.2, 0.6
# The server sweeps every timeout/10; allow that, a scheduling hiccup and loopback.
LATE = 0.4
EARLY = 0.05

_ids = itertools.count()


def new_event_id() -> str:
    return f"hb-{next(_ids)}"


@pytest.fixture(scope="module")
def hb_server() -> Iterator[LivegateProcess]:
    """A server with a short heartbeat: pings every 0.2 s, silence closes after 0.6 s."""
    server = LivegateProcess(
        "--heartbeat-interval", str(INTERVAL), "--heartbeat-timeout", str(TIMEOUT)
    )
    server.start()
    yield server
    server.stop(signal.SIGKILL)


@pytest.fixture
async def hb_api(http: aiohttp.ClientSession, hb_server: LivegateProcess) -> Api:
    return Api(http, hb_server)


async def ping(ws: aiohttp.ClientWebSocketResponse, t: Any) -> dict[str, Any]:
    await ws.send_str(orjson.dumps({"type": "ping", "t": t}).decode())
    pong = await recv_type(ws, "pong")
    assert pong["t"] == t
    return pong


async def closed_after(ws: aiohttp.ClientWebSocketResponse, since: float, code: int) -> float:
    """Wait for the server's close with ``code``; seconds from ``since`` to it."""
    await expect_close_frame(ws, code, timeout=TIMEOUT + 3)
    return time.monotonic() - since


# -- heartbeat ------------------------------------------------------------------------


async def test_joined_advertises_the_heartbeat_settings(
    http: aiohttp.ClientSession, hb_api: Api, hb_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await hb_api.create_event(event_id)
    ws, joined = await join_ws(http, hb_server, event_id)
    assert joined["heartbeat"] == {"intervalMs": 200, "timeoutMs": 600}
    await ws.close()


async def test_ping_gets_pong_echoing_t(
    http: aiohttp.ClientSession, hb_server: LivegateProcess
) -> None:
    ws = await http.ws_connect(hb_server.ws_url)  # no join needed
    for t in [1718000000123, 0, -7, 2.5, "abc", "", "\U0001f3cf" * 16]:
        before = time.time() * 1000
        pong = await ping(ws, t)
        assert pong == {"type": "pong", "t": t, "ts": pong["ts"]}
        assert (
            isinstance(pong["ts"], int) and before - 1000 <= pong["ts"] <= time.time() * 1000 + 1000
        )
    await ws.send_str('{"type":"ping"}')
    assert (await recv_json(ws))["t"] is None
    await ws.close()


async def test_silent_connection_that_never_joined_is_closed_4000_after_the_timeout(
    http: aiohttp.ClientSession, hb_server: LivegateProcess
) -> None:
    ws = await http.ws_connect(hb_server.ws_url)
    opened = time.monotonic()
    elapsed = await closed_after(ws, opened, CloseCode.HEARTBEAT_TIMEOUT)
    assert TIMEOUT - EARLY <= elapsed <= TIMEOUT + LATE, elapsed


async def test_silent_joined_viewer_is_closed_4000_and_stops_counting(
    http: aiohttp.ClientSession, hb_api: Api, hb_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await hb_api.create_event(event_id)
    sent = time.monotonic()  # the join, sent after this, is the last frame the server hears
    ws, joined = await join_ws(http, hb_server, event_id)
    answered = time.monotonic()
    assert joined["viewers"] == 1
    await expect_close_frame(ws, CloseCode.HEARTBEAT_TIMEOUT, timeout=TIMEOUT + 3)
    closed = time.monotonic()
    assert closed - sent >= TIMEOUT - EARLY, closed - sent
    assert closed - answered <= TIMEOUT + LATE, closed - answered
    deadline = time.monotonic() + 2
    while (await hb_api.get_event(event_id))["viewers"] != 0:
        assert time.monotonic() < deadline, "a timed-out viewer is still counted"
        await asyncio.sleep(0.05)
    assert (await hb_api.get_event(event_id))["peakViewers"] == 1


@pytest.mark.parametrize("keepalive", ["json-ping", "ws-ping"])
async def test_a_client_that_pings_stays_open_past_the_timeout(
    http: aiohttp.ClientSession, hb_api: Api, hb_server: LivegateProcess, keepalive: str
) -> None:
    event_id = new_event_id()
    await hb_api.create_event(event_id)
    ws, _ = await join_ws(http, hb_server, event_id)
    started = time.monotonic()
    n = 0
    while time.monotonic() - started < 3 * TIMEOUT:
        n += 1
        if keepalive == "json-ping":
            await ping(ws, n)
        else:
            await ws.ping(b"%d" % n)
        await asyncio.sleep(INTERVAL)
    # Open well past the timeout, still joined and served.
    assert not ws.closed
    published = await hb_api.publish(event_id, {"alive": True})
    assert (await recv_type(ws, "score"))["seq"] == published["seq"]
    last = time.monotonic()
    await ping(ws, "last")
    # Silence from here on closes it.
    elapsed = await closed_after(ws, last, CloseCode.HEARTBEAT_TIMEOUT)
    assert TIMEOUT - EARLY <= elapsed <= TIMEOUT + LATE, elapsed


async def test_a_client_that_never_answers_the_close_is_dropped(
    http: aiohttp.ClientSession, hb_server: LivegateProcess
) -> None:
    """A dead client never sends its close reply; the server must not wait forever."""
    raw = await RawWebSocket.connect(hb_server)
    opened = time.monotonic()
    opcode, payload = await raw.recv_frame(timeout=TIMEOUT + 3)
    assert opcode == 0x8 and int.from_bytes(payload[:2], "big") == CloseCode.HEARTBEAT_TIMEOUT
    assert time.monotonic() - opened >= TIMEOUT - EARLY
    # No reply from us: the server gives up on the handshake within a few seconds.
    received, _ = await raw.read_until_gone(timeout=5)
    assert received == 0
    await raw.close()


# -- viewer counts ----------------------------------------------------------------------


async def latest_viewers(ws: aiohttp.ClientWebSocketResponse, count: int, timeout: float) -> None:
    """Read ``viewers`` messages until one says ``count``; fail if none does in time."""
    deadline = asyncio.get_running_loop().time() + timeout
    seen: list[int] = []
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            message = await recv_json(ws, remaining)
        except TimeoutError:
            break
        if message["type"] == "viewers":
            seen.append(message["count"])
            if message["count"] == count:
                return
    raise AssertionError(f"no viewers message with count {count} in {timeout} s; got {seen}")


async def raw_join(server: LivegateProcess, event_id: str, user: str) -> tuple[RawWebSocket, int]:
    raw = await RawWebSocket.connect(server)
    await raw.send_json({"type": "join", "id": user, "eventId": event_id})
    joined = await raw.recv_type("joined")
    return raw, joined["viewers"]


async def test_viewer_counts_converge_and_follow_leaves_and_disconnects(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    clients: list[aiohttp.ClientWebSocketResponse] = []
    raws: list[RawWebSocket] = []
    for i in range(50):
        if i % 5 == 4:  # ten of them on raw sockets, to vanish without a close later
            raw, viewers = await raw_join(shared_server, event_id, f"raw-{i}")
            raws.append(raw)
        else:
            ws, joined = await join_ws(http, shared_server, event_id, f"fan-{i}")
            clients.append(ws)
            viewers = joined["viewers"]
        assert viewers == i + 1  # the joiner counts itself
    await asyncio.gather(*(latest_viewers(ws, 50, timeout=3) for ws in clients))
    info = await api.get_event(event_id)
    assert (info["viewers"], info["peakViewers"]) == (50, 50)
    metrics = await fetch_metrics(http, shared_server)
    assert metric_value(metrics, f'livegate_viewers{{event="{event_id}"}}') == 50
    total = metric_value(metrics, "livegate_viewers_total")
    assert total is not None and total >= 50

    # Ten leave (and stay connected), ten close, ten vanish.
    leavers, closers, stayers = clients[:10], clients[10:20], clients[20:]
    for ws in leavers:
        await ws.send_str('{"type":"leave"}')
    for ws in closers:
        await ws.close()
    for raw in raws:
        raw.abort()
    await asyncio.gather(*(latest_viewers(ws, 20, timeout=3) for ws in stayers))
    info = await api.get_event(event_id)
    assert (info["viewers"], info["peakViewers"]) == (20, 50)
    metrics = await fetch_metrics(http, shared_server)
    assert metric_value(metrics, f'livegate_viewers{{event="{event_id}"}}') == 20
    # Those who left get no more of the event, yet their connection works: the
    # score was written before the pong would have been, had they still been joined.
    published = await api.publish(event_id, {"after": "leave"})
    for ws in leavers:
        await ws.send_str('{"type":"ping","t":"left"}')
        kinds = []
        while (message := await recv_json(ws))["type"] != "pong":
            kinds.append(message["type"])
        assert "score" not in kinds, kinds
    for ws in stayers:
        assert (await recv_type(ws, "score"))["seq"] == published["seq"]
    for ws in leavers + stayers:
        await ws.close()


async def collect_viewers(
    ws: aiohttp.ClientWebSocketResponse, until: float
) -> list[tuple[float, int]]:
    """(arrival time, count) of every ``viewers`` message until ``until`` (monotonic)."""
    seen = []
    while (remaining := until - time.monotonic()) > 0:
        try:
            message = await recv_json(ws, remaining)
        except TimeoutError:
            break
        if message["type"] == "viewers":
            seen.append((time.monotonic(), message["count"]))
    return seen


async def test_viewers_messages_come_at_most_about_once_a_second(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    steady = [(await join_ws(http, shared_server, event_id, f"steady-{i}"))[0] for i in range(5)]
    churn_seconds = 3.0
    started = time.monotonic()
    watching = [asyncio.create_task(collect_viewers(ws, started + churn_seconds)) for ws in steady]
    # Each client's latest known count: from `joined`, then from `viewers` messages.
    churners: dict[aiohttp.ClientWebSocketResponse, int] = {}
    burst = 0
    while time.monotonic() - started < churn_seconds - 0.3:
        if burst % 3 == 2:  # every third burst, five leave; otherwise five join
            for ws in list(churners)[:5]:
                await ws.close()
                del churners[ws]
        else:
            joined = await asyncio.gather(
                *(join_ws(http, shared_server, event_id, f"churn-{burst}-{i}") for i in range(5))
            )
            churners.update((ws, message["viewers"]) for ws, message in joined)
        burst += 1
        await asyncio.sleep(0.2)
    latest = dict.fromkeys(steady, 0)
    for ws, seen in zip(steady, await asyncio.gather(*watching), strict=True):
        arrivals = [at for at, _ in seen]
        # Counts changed all the time, yet no more than one message a second.
        assert 2 <= len(seen) <= churn_seconds + 1, seen
        gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
        assert min(gaps) >= 0.8, gaps
        latest[ws] = seen[-1][1]
    latest.update(churners)
    # Past the next tick every viewer's latest count is exact.
    await asyncio.sleep(1.3)
    final = len(latest)
    for ws in latest:
        while True:
            try:
                message = await recv_json(ws, 0.05)
            except TimeoutError:
                break
            if message["type"] == "viewers":
                latest[ws] = message["count"]
    assert set(latest.values()) == {final}
    info = await api.get_event(event_id)
    assert info["viewers"] == final and info["peakViewers"] >= final
    for ws in latest:
        await ws.close()


async def test_a_large_audience_gets_its_count_less_often(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    """``--viewers-budget 4``: with 8 viewers, a count every max(1, 8/4) = 2 s at most,
    however often it changes; and the last change still reaches everyone."""
    server: LivegateProcess = server_factory("--viewers-budget", "4")
    api = Api(http, server)
    await api.create_event("big")
    steady = [(await join_ws(http, server, "big", f"steady-{i}"))[0] for i in range(8)]
    seconds = 5.0
    started = time.monotonic()
    watching = [asyncio.create_task(collect_viewers(ws, started + seconds)) for ws in steady]
    churner = None
    while time.monotonic() - started < seconds - 0.5:  # the count moves 8, 9, 8, 9...
        if churner is None:
            churner, _ = await join_ws(http, server, "big", "churner")
        else:
            await churner.close()
            churner = None
        await asyncio.sleep(0.3)
    final = 8 if churner is None else 9
    for ws, seen in zip(steady, await asyncio.gather(*watching), strict=True):
        arrivals = [at for at, _ in seen]
        gaps = [later - earlier for earlier, later in itertools.pairwise(arrivals)]
        assert 1 <= len(seen) <= 3 and min(gaps, default=2.0) >= 1.5, seen
        if seen[-1][1] != final:  # the count settles: within the 2 s interval, all know it
            await latest_viewers(ws, final, timeout=3)
        await ws.close()
    if churner is not None:
        await churner.close()


async def test_a_newcomer_with_a_stale_joined_count_gets_corrected(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    """The count falls back to the last broadcast value just after a join.

    ``joined.viewers`` said 2, then the other viewer left: the count is 1 again,
    which is what the event's last ``viewers`` message said, but the newcomer
    never got that one. It must still learn that the count is now 1.
    """
    event_id = new_event_id()
    await api.create_event(event_id)
    first, _ = await join_ws(http, shared_server, event_id, "first")
    await latest_viewers(first, 1, timeout=2.5)  # the event's last broadcast: 1
    newcomer, joined = await join_ws(http, shared_server, event_id, "newcomer")
    assert joined["viewers"] == 2
    await first.close()
    await latest_viewers(newcomer, 1, timeout=2.5)
    assert (await api.get_event(event_id))["viewers"] == 1
    await newcomer.close()


# -- metrics ------------------------------------------------------------------------------


async def test_metrics_are_prometheus_text_with_the_expected_series(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory(
        "--heartbeat-interval", str(INTERVAL), "--heartbeat-timeout", str(TIMEOUT)
    )
    api = Api(http, server)
    async with http.get(f"{server.url}/metrics") as resp:
        assert resp.status == 200
        assert resp.headers["Content-Type"].startswith("text/plain")
        assert "version=0.0.4" in resp.headers["Content-Type"]
        text = await resp.text()
    assert "# TYPE livegate_connections gauge" in text
    assert metric_value(text, "livegate_connections") == 0
    assert metric_value(text, "livegate_fanout_deliveries_total") == 0

    event_id = new_event_id()
    await api.create_event(event_id)
    viewers = [(await join_ws(http, server, event_id, f"m-{i}"))[0] for i in range(2)]
    await api.publish(event_id, {"m": 1})
    for ws in viewers:
        await recv_type(ws, "score")
        await ping(ws, "m")
    text = await fetch_metrics(http, server)
    assert metric_value(text, "livegate_connections") == 2
    assert metric_value(text, 'livegate_messages_in_total{type="join"}') == 2
    assert metric_value(text, 'livegate_messages_in_total{type="ping"}') == 2
    assert metric_value(text, 'livegate_messages_out_total{type="score"}') == 2
    deliveries = metric_value(text, "livegate_fanout_deliveries_total")
    assert deliveries is not None and deliveries >= 2
    assert metric_value(text, 'livegate_publish_to_write_seconds_bucket{le="+Inf"}') == 1
    assert metric_value(text, "livegate_publish_to_write_seconds_count") == 1
    assert metric_value(text, "livegate_viewers_total") == 2

    # Both fall silent and time out.
    for ws in viewers:
        await expect_close_frame(ws, CloseCode.HEARTBEAT_TIMEOUT, timeout=TIMEOUT + 3)
    deadline = time.monotonic() + 2
    while True:
        text = await fetch_metrics(http, server)
        if metric_value(text, "livegate_connections") == 0:
            break
        assert time.monotonic() < deadline, "closed connections still counted"
        await asyncio.sleep(0.05)
    assert metric_value(text, 'livegate_closes_total{reason="heartbeat"}') == 2
    assert metric_value(text, "livegate_viewers_total") == 0
