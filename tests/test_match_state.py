"""The whole match on join: a sport's match state in ``joined`` and the API (chess first)."""

from __future__ import annotations

import io
import itertools

import aiohttp
import chess
import chess.pgn

from livegate.demo.chess_games import OPERA_GAME_PGN
from livegate.replay import pgn
from tests.conftest import Api, LivegateProcess, join_ws, recv_type

_ids = itertools.count()


async def test_a_chess_viewer_joining_mid_game_gets_every_move_and_the_pgn(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = f"opera-{next(_ids)}"
    game = pgn.loads(OPERA_GAME_PGN)
    sans = [item.data["san"] for item in game.items]
    await api.create_event(event_id, "chess", game.title)
    early, joined = await join_ws(http, shared_server, event_id, "early")
    assert "state" not in joined  # nothing played yet
    for item in game.items[:20]:
        await api.publish(event_id, item.data)
    late, joined = await join_ws(http, shared_server, event_id, "late")
    # The newcomer sees what a fan who watched from the first move saw.
    assert joined["state"]["moves"] == sans[:20] and joined["state"]["ply"] == 20
    assert joined["state"]["white"] == "Paul Morphy"
    for item in game.items[20:]:
        await api.publish(event_id, item.data)
    event = await api.get_event(event_id)
    assert event["state"]["moves"] == sans and event["state"]["result"] == "1-0"
    async with http.get(f"{shared_server.url}/api/events/{event_id}/pgn") as resp:
        assert resp.status == 200 and resp.content_type == "application/x-chess-pgn"
        text = await resp.text()
    exported = chess.pgn.read_game(io.StringIO(text))
    assert exported is not None and exported.headers["Result"] == "1-0"
    board = exported.end().board()
    assert board.fen() == game.items[-1].data["fen"] and board.is_checkmate()
    assert [m["seq"] for m in [await recv_type(late, "score") for _ in sans[20:]]] == list(
        range(21, 34)
    )
    await early.close()
    await late.close()


async def test_pgn_of_a_game_from_a_set_position_and_of_other_sports(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = f"study-{next(_ids)}"
    start = "4k3/8/8/8/8/8/4P3/4K3 w - - 0 1"
    board = chess.Board(start)
    move = board.parse_san("e4")
    san = board.san(move)
    board.push(move)
    await api.create_event(event_id, "chess", "A study")
    await api.publish(
        event_id, {"ply": 1, "san": san, "uci": move.uci(), "fen": board.fen(), "startFen": start}
    )
    async with http.get(f"{shared_server.url}/api/events/{event_id}/pgn") as resp:
        exported = chess.pgn.read_game(io.StringIO(await resp.text()))
    assert exported is not None and exported.end().board().fen() == board.fen()
    other = f"not-chess-{next(_ids)}"
    await api.create_event(other, "generic")
    async with http.get(f"{shared_server.url}/api/events/{other}/pgn") as resp:
        assert resp.status == 404 and (await resp.json())["error"]["code"] == "no_pgn"
    async with http.get(f"{shared_server.url}/api/events/nope-{other}/pgn") as resp:
        assert resp.status == 404
    generic = await api.get_event(other)
    assert "state" not in generic


async def test_a_football_viewer_joining_late_gets_the_whole_timeline(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = f"final-{next(_ids)}"
    teams = {"home": "Arsenal", "away": "Chelsea"}
    incidents = [
        {"minute": 1, "kind": "kick_off", "period": "first_half", "score": {"home": 0, "away": 0}},
        {"minute": 23, "kind": "goal", "team": "home", "player": "Saka", "assist": "Odegaard",
         "score": {"home": 1, "away": 0}},
        {"minute": 38, "kind": "yellow_card", "team": "away", "player": "Caicedo",
         "score": {"home": 1, "away": 0}},
    ]  # fmt: skip
    await api.create_event(event_id, "football", "Arsenal v Chelsea")
    for incident in incidents:
        await api.publish(event_id, {**incident, "teams": teams})
    ws, joined = await join_ws(http, shared_server, event_id)
    state = joined["state"]
    assert state["timeline"] == incidents and state["teams"] == teams
    assert state["score"] == {"home": 1, "away": 0} and state["period"] == "first_half"
    goals = [i for i in state["timeline"] if i["kind"] == "goal"]
    assert goals == [incidents[1]]
    await ws.close()


def test_a_state_past_its_bound_refuses_the_update() -> None:
    from typing import Any

    import pytest

    from livegate.gateway import InvalidUpdate, _next_state
    from livegate.sports import MAX_STATE, get_sport

    class Hoarder:  # a sport whose state grows by the update's text each time
        name = "hoarder"

        def validate(self, payload: dict[str, Any], previous: Any) -> list[Any]:
            return []

        def summary(self, payload: dict[str, Any]) -> str:
            return ""

        def fold(self, state: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
            return {"texts": [*(state or {}).get("texts", ()), payload["text"]]}

    sport: Any = Hoarder()
    state, encoded = _next_state(sport, None, {"text": "x" * (MAX_STATE // 2)})
    assert state is not None and encoded is not None
    with pytest.raises(InvalidUpdate, match="match state would exceed"):
        _next_state(sport, state, {"text": "x" * (MAX_STATE // 2)})
    assert _next_state(get_sport("generic"), None, {"a": 1}) == (None, None)  # no state kept


def test_the_parsed_cache_serves_only_the_latest_update() -> None:
    """A publish reuses the decoded payload and state it accepted last, and decodes the
    engine's bytes whenever another update (another node's) came since, or the event was
    recreated, or the entry was pushed out by the byte budget."""
    import orjson

    from livegate.engines import EventInfo
    from livegate.gateway import _ParsedCache

    def info(seq: int, epoch: str = "e1", payload: object = None) -> EventInfo:
        snapshot = orjson.dumps(payload) if payload is not None else None
        return EventInfo("m1", epoch, "generic", "t", "live", seq, snapshot, 0, 0)

    cache = _ParsedCache(budget=100)
    mine = {"n": 1}
    cache.put("m1", "e1", 1, mine, None, b'{"n":1}', None)
    previous, _ = cache.take(info(1, payload={"n": 1}))
    assert previous is mine  # no decode
    cache.put("m1", "e1", 1, mine, None, b'{"n":1}', None)
    previous, _ = cache.take(info(2, payload={"n": 2}))  # another node's update
    assert previous == {"n": 2} and previous is not mine
    cache.put("m1", "e1", 1, mine, None, b'{"n":1}', None)
    assert cache.take(info(1, epoch="e2", payload={"n": 9}))[0] == {"n": 9}  # recreated
    # Taken once: a second take decodes (a sport's check may have changed the objects).
    cache.put("m1", "e1", 1, mine, None, b'{"n":1}', None)
    cache.take(info(1, payload={"n": 1}))
    assert cache.take(info(1, payload={"n": 1}))[0] is not mine
    # The budget: a newer event pushes the oldest out.
    cache.put("m1", "e1", 1, mine, None, b"x" * 60, None)
    cache.put("m2", "e1", 1, {"n": 2}, None, b"y" * 60, None)
    assert cache.take(info(1, payload={"n": 1}))[0] is not mine
