"""The bare floor: the least a Python fan-out server can do, to measure livegate against.

A minimal aiohttp server with the same wire shapes the benchmark touches and
nothing else: no event store, no history, no viewer counts, no heartbeat, no
auth. It is the "frame encoded once, ``transport.write`` per socket" row of
DESIGN.md section 3, so ``bench/fanout.py`` can report livegate's cost as a ratio
to it on the same machine, in the same run.

- ``GET /ws``: accept the WebSocket, read the client's join frame, then keep the
  connection's transport in one set until it closes.
- ``POST /api/events/{eventId}/updates``: splice the body into a ``score``
  message once, frame it once, ``transport.write`` the same bytes to every
  transport, answer ``202 {"seq": n}``.
- ``PUT /api/events/{eventId}``: answer 200 (the benchmark's readiness probe).

Run: ``python bench/floor_server.py --host 127.0.0.1 --port 8081``.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import resource
import time

import uvloop
from aiohttp import WSMsgType, web

from livegate.protocol import encode_score, frame_text

TRANSPORTS = web.AppKey("transports", set[asyncio.Transport])
JOINED = frame_text(b'{"type":"joined","seq":0,"snapshot":null}')
SEQS = web.AppKey("seqs", dict[str, int])


async def ws_handler(request: web.Request) -> web.StreamResponse:
    ws = web.WebSocketResponse(max_msg_size=4096)
    await ws.prepare(request)
    transport = request.transport
    transports = request.app[TRANSPORTS]
    join = await ws.receive()
    if join.type is not WSMsgType.TEXT or transport is None:
        await ws.close()
        return ws
    # The transport is only ever written pre-framed bytes; aiohttp's reader
    # keeps running below so pings and the close handshake still work. The join is
    # answered (the load waits for every viewer's `joined` before it measures).
    transport.write(JOINED)
    transports.add(transport)
    try:
        async for _ in ws:
            pass
    finally:
        transports.discard(transport)
    return ws


async def publish(request: web.Request) -> web.Response:
    event_id = request.match_info["event_id"]
    body = await request.read()
    seqs = request.app[SEQS]
    seq = seqs.get(event_id, 0) + 1
    seqs[event_id] = seq
    frame = frame_text(encode_score(event_id, seq, time.time_ns() // 1_000_000, body.strip()))
    # connection_lost runs from the loop, never inside write(), so the set
    # cannot change while this loop runs.
    for transport in request.app[TRANSPORTS]:
        transport.write(frame)
    return web.json_response({"seq": seq}, status=202)


async def put_event(request: web.Request) -> web.Response:
    await request.read()
    return web.json_response({"eventId": request.match_info["event_id"]})


def make_app() -> web.Application:
    app = web.Application()
    app[TRANSPORTS] = set()
    app[SEQS] = {}
    app.router.add_get("/ws", ws_handler)
    app.router.add_post("/api/events/{event_id}/updates", publish)
    app.router.add_put("/api/events/{event_id}", put_event)
    return app


def raise_nofile_limit() -> None:
    """Raise the soft open-file limit to the hard limit (5000 sockets need it)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8081)
    args = parser.parse_args()
    raise_nofile_limit()
    with contextlib.suppress(KeyboardInterrupt):
        web.run_app(
            make_app(),
            host=args.host,
            port=args.port,
            print=None,
            access_log=None,
            backlog=4096,  # as livegate: a batch of 200 connects never overflows it
            loop=uvloop.new_event_loop(),
        )


if __name__ == "__main__":
    main()
