"""``livegate watch``: a terminal scoreboard, or raw JSON lines with ``--json``."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys

import aiohttp
import orjson
from rich.console import Console

from livegate.watch_view import WatchState, render
from tests.conftest import Api, LivegateProcess


def ball(n: int, score: str) -> dict[str, object]:
    return {
        f"ball {n}": score,
        "comment": "Bumrah has drawn the first blood",
        "batsman": {"name": "rohit", "runs": "100", "balls": "96"},
        "bowler": {"name": "yuvi", "overs": "3.6", "runs": "10", "maiden": "1", "wickets": "2"},
    }


BALL = ball(12, "13/1")


def _text(state: WatchState, connection: str) -> str:
    console = Console(record=True, width=110, color_system=None)
    console.print(render(state, connection))
    return console.export_text()


def test_the_scoreboard_folds_messages_into_one_screen() -> None:
    state = WatchState("ind-aus")
    assert "Waiting for the first update" in _text(state, "connecting")
    state.apply(
        {
            "type": "joined",
            "sport": "cricket",
            "title": "India v Australia",
            "status": "live",
            "viewers": 3,
            "seq": 1,
            "snapshot": BALL,
        }
    )
    state.apply({"type": "score", "seq": 2, "data": ball(13, "17/1")})
    state.apply({"type": "viewers", "count": 41})
    state.apply(
        {
            "type": "reactions",
            "counts": {"🔥": 5, "👏": 2},
            "comments": [{"id": "a", "emoji": "🔥", "comment": "what a ball"}],
        }
    )
    state.apply({"type": "reactions", "counts": {"🔥": 1}, "comments": []})
    text = _text(state, "reconnecting")
    assert "LIVE" in text and "India v Australia" in text and "41 watching" in text
    assert "Reconnecting…" in text
    assert "13/1 Rohit 100* (96)" in text and "#1" in text and "#2" in text
    assert "🔥 6" in text and "👏 2" in text and "what a ball" in text
    state.apply({"type": "ended", "eventId": "ind-aus", "result": "India won by 6 wickets"})
    text = _text(state, "connected")
    assert "ENDED" in text and "Result: India won by 6 wickets" in text


async def test_watch_prints_a_scoreboard_and_stops_on_ctrl_c(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    await api.create_event("watched", "cricket", "Watched XI")
    await api.publish("watched", BALL)
    for n, mode in ((13, []), (14, ["--json"])):
        command = ["-m", "livegate", "watch", "watched", "--url", shared_server.ws_url, *mode]
        proc = subprocess.Popen(  # noqa: ASYNC220 - starting it does not block
            [sys.executable, *command],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env={**os.environ, "COLUMNS": "120"},
        )
        await asyncio.sleep(1.5)
        await api.publish("watched", ball(n, f"{n + 4}/1"))
        await asyncio.sleep(1.0)
        proc.send_signal(signal.SIGINT)
        out, err = await asyncio.to_thread(proc.communicate, timeout=15)
        assert b"Traceback" not in err, err
        if mode:
            lines = [orjson.loads(line) for line in out.splitlines()]
            assert [m["type"] for m in lines][:1] == ["joined"]
            assert any(m["type"] == "score" and m["data"].get("ball 14") == "18/1" for m in lines)
        else:
            text = out.decode()
            assert "Watched XI" in text and "17/1 Rohit 100* (96)" in text, text
