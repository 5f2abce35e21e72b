"""A peer for ``bench/peers``: the python ``websockets`` library, rooms as sets, ``broadcast()``.

Viewers send ``{"id": ..., "eventId": ...}`` on ``/ws`` and get ``{"type":"joined"}``. The
publisher is a WebSocket on ``/publish?room=R`` (``websockets`` serves no HTTP POST): each
text message it sends becomes ``{"type":"score","eventId":R,"seq":n,"data":<message>}``,
framed once and written to the room by ``broadcast()``, then acknowledged with
``{"seq":n}`` on the publisher's socket. On uvloop, as livegate runs::

    python bench/peers/websockets_server.py <port>
"""

from __future__ import annotations

import json
import sys
from urllib.parse import parse_qs, urlsplit

import uvloop
from websockets.asyncio.server import ServerConnection, broadcast, serve

rooms: dict[str, set[ServerConnection]] = {}
seq = 0


async def publisher(connection: ServerConnection, room: str) -> None:
    global seq
    async for data in connection:
        seq += 1
        body = data if isinstance(data, str) else data.decode()
        message = f'{{"type":"score","eventId":{json.dumps(room)},"seq":{seq},"data":{body}}}'
        broadcast(rooms.get(room, ()), message)
        await connection.send(f'{{"seq":{seq}}}')


async def viewer(connection: ServerConnection) -> None:
    joined: str | None = None
    try:
        async for data in connection:
            message = json.loads(data)
            if joined is None and isinstance(message.get("eventId"), str):
                joined = message["eventId"]
                rooms.setdefault(joined, set()).add(connection)
                await connection.send(f'{{"type":"joined","eventId":{json.dumps(joined)}}}')
    finally:
        if joined is not None:
            rooms[joined].discard(connection)


async def handler(connection: ServerConnection) -> None:
    assert connection.request is not None
    url = urlsplit(connection.request.path)
    if url.path == "/publish":
        await publisher(connection, parse_qs(url.query)["room"][0])
    else:
        await viewer(connection)


async def main(port: int) -> None:
    async with serve(handler, "127.0.0.1", port, compression=None, max_size=64 * 1024) as server:
        await server.serve_forever()


if __name__ == "__main__":
    uvloop.run(main(int(sys.argv[1])))
