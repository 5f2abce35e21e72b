"""A peer for ``bench/peers``: python-socketio's ``AsyncServer`` on aiohttp, with rooms.

A viewer emits ``join`` with the room's name, enters the room and gets ``joined``.
``POST /publish?room=R`` with a JSON body emits ``score`` ``{seq, data}`` to the room and
answers 202 ``{"seq": n}``; ``GET /ready`` answers 200. WebSocket transport only, on
uvloop, as livegate runs::

    python bench/peers/python_socketio_server.py <port>
"""

from __future__ import annotations

import json
import sys

import socketio
import uvloop
from aiohttp import web

sio = socketio.AsyncServer(async_mode="aiohttp", transports=["websocket"])
state = {"seq": 0}


async def join(sid: str, room: object) -> None:
    if isinstance(room, str):
        await sio.enter_room(sid, room)
        await sio.emit("joined", room, to=sid)


async def publish(request: web.Request) -> web.Response:
    state["seq"] += 1
    data = json.loads(await request.read())
    await sio.emit("score", {"seq": state["seq"], "data": data}, room=request.query["room"])
    return web.json_response({"seq": state["seq"]}, status=202)


async def ready(_request: web.Request) -> web.Response:
    return web.Response()


if __name__ == "__main__":
    app = web.Application()
    sio.on("join", handler=join)
    sio.attach(app)
    app.router.add_post("/publish", publish)
    app.router.add_get("/ready", ready)
    web.run_app(
        app, host="127.0.0.1", port=int(sys.argv[1]), print=None, loop=uvloop.new_event_loop()
    )
