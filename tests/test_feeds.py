"""Feeds end to end: sport validation over the API, the publisher CLI, replay, the demo."""

from __future__ import annotations

import asyncio
import itertools
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from livegate.api_client import ApiClient, ApiClientError
from livegate.demo import MATCHES, DemoPace, run_matches
from livegate.demo.chess_games import OPERA_GAME_PGN
from livegate.replay import pgn
from livegate.replay.runner import publish_replay
from tests.conftest import Api, LivegateProcess, recv_type

CRICSHEET = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "cricsheet"


def cricsheet_file(name: str) -> Path:
    path = CRICSHEET / name
    if not path.exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{path} is missing: CI must have ../shared/data/cricsheet")
        pytest.skip(f"{path} is missing (the shared match data sits beside the repository)")
    return path


def run_cli(server: LivegateProcess, *args: str) -> subprocess.CompletedProcess[str]:
    env = dict(os.environ, LIVEGATE_URL=server.url, LIVEGATE_API_KEY=server.api_key)
    return subprocess.run(
        [sys.executable, "-m", "livegate", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


async def test_invalid_cricket_update_is_422_naming_every_field(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    await api.create_event("cric-422", "cricket")
    ws = await http.ws_connect(shared_server.ws_url)
    await ws.send_str('{"id": "fan", "eventId": "cric-422"}')
    await recv_type(ws, "joined")
    bad = {"ball 3": "12/11", "batsman": {"name": "rohit", "runs": "x", "balls": 2}}
    body = await api.publish("cric-422", bad, expect=422)
    assert body["error"]["code"] == "invalid_update"
    paths = {field["path"] for field in body["error"]["fields"]}
    assert {"ball 3", "batsman.runs", "bowler"} <= paths
    assert all(field["reason"] for field in body["error"]["fields"])
    good = {
        "ball 12": "13/1",
        "comment": "Bumrah has drawn the first blood",
        "batsman": {"name": "rohit", "runs": "100", "balls": "96"},
        "bowler": {"name": "yuvi", "overs": "3.6", "runs": "10", "maiden": "1", "wickets": "2"},
    }
    assert (await api.publish("cric-422", good))["seq"] == 1
    score = await recv_type(ws, "score")
    assert score["seq"] == 1 and score["data"] == good  # the refused one was never sent
    await ws.close()


async def test_illegal_chess_move_is_refused_and_not_broadcast(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    game = pgn.loads(OPERA_GAME_PGN)
    await api.create_event("opera", "chess")
    ws = await http.ws_connect(shared_server.ws_url)
    await ws.send_str('{"id": "fan", "eventId": "opera"}')
    await recv_type(ws, "joined")
    first, second = game.items[0].data, game.items[1].data
    assert (await api.publish("opera", first))["seq"] == 1
    body = await api.publish("opera", first, expect=422)  # e4 again: not legal for black
    assert body["error"]["code"] == "invalid_update" and body["error"]["fields"]
    retried = await api.publish("opera", second, key="move-2")
    again = await api.publish("opera", second, key="move-2")  # a retry skips the legality check
    assert retried["seq"] == again["seq"] == 2 and again["duplicate"] is True
    seqs = [(await recv_type(ws, "score"))["seq"] for _ in range(2)]
    assert seqs == [1, 2]
    await ws.close()


async def test_publisher_cli_and_events_cli(shared_server: LivegateProcess, tmp_path: Path) -> None:
    created = run_cli(
        shared_server, "events", "create", "cli-1", "--sport", "generic", "--title", "CLI match"
    )
    assert created.returncode == 0, created.stderr
    assert orjson.loads(created.stdout)["title"] == "CLI match"
    published = run_cli(shared_server, "publish", "cli-1", "--data", '{"note": "hello"}')
    assert published.returncode == 0, published.stderr
    assert orjson.loads(published.stdout)["seq"] == 1
    update = tmp_path / "update.json"
    update.write_text('{"note": "from a file"}')
    from_file = run_cli(shared_server, "publish", "cli-1", "--data", f"@{update}")
    assert orjson.loads(from_file.stdout)["seq"] == 2
    listing = run_cli(shared_server, "events", "list")
    assert "cli-1\tgeneric\tlive\tseq 2" in listing.stdout
    shown = orjson.loads(run_cli(shared_server, "events", "show", "cli-1").stdout)
    assert shown["snapshot"] == {"note": "from a file"}
    ended = run_cli(shared_server, "events", "end", "cli-1")
    assert orjson.loads(ended.stdout)["status"] == "ended"
    refused = run_cli(shared_server, "publish", "cli-1", "--data", "{}")
    assert refused.returncode == 1 and "409 event_ended" in refused.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["publish", "nope", "--data", "{}"], "404 unknown_event"),
        (["publish", "x", "--data", "not json"], "--data is not valid JSON"),
        (["publish", "x", "--data", "[1]"], "--data must be a JSON object"),
        (["publish", "x", "--data", "@/no/such/file"], "cannot read /no/such/file"),
        (["events", "create", "c-bad", "--sport", "cricket!"], "400 bad_field"),
        (["replay", "pgn", "/no/such.pgn", "--event", "p"], "cannot read"),
    ],
)
def test_cli_errors_are_clear(
    shared_server: LivegateProcess, args: list[str], message: str
) -> None:
    result = run_cli(shared_server, *args)
    assert result.returncode != 0
    assert message in result.stderr


def test_cli_names_the_fields_of_a_422(shared_server: LivegateProcess) -> None:
    assert (
        run_cli(shared_server, "events", "create", "fb-cli", "--sport", "football").returncode == 0
    )
    result = run_cli(
        shared_server, "publish", "fb-cli", "--data", '{"minute": -1, "kind": "goall"}'
    )
    assert result.returncode == 1
    assert "422 invalid_update" in result.stderr
    assert "  minute: " in result.stderr and "  kind: " in result.stderr


def test_cli_without_a_gateway_says_so(tmp_path: Path) -> None:
    server = LivegateProcess()  # never started: nothing listens on its port
    result = run_cli(server, "events", "list")
    assert result.returncode == 1 and "cannot reach" in result.stderr


async def test_cricsheet_replay_reaches_a_viewer_in_order(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    # A resume replays at most 100 messages (64 KiB) by default; this one asks for all 262.
    shared_server: LivegateProcess = server_factory(
        "--resume-max-messages", "300", "--resume-max-bytes", "400000"
    )
    path = cricsheet_file("1473469.json")  # the super-over match: four innings
    ws = None
    result = await asyncio.to_thread(
        run_cli,
        shared_server,
        "replay",
        "cricsheet",
        str(path),
        "--event",
        "ipl-32",
        "--speed",
        "0",
    )
    assert result.returncode == 0, result.stderr
    assert orjson.loads(result.stdout)["published"] == 262
    info = await Api(http, shared_server).get_event("ipl-32")
    assert info["sport"] == "cricket" and info["seq"] == 262
    assert info["meta"]["source"]  # the Cricsheet attribution travels with the event
    ws = await http.ws_connect(shared_server.ws_url)
    await ws.send_str('{"type": "join", "id": "fan", "eventId": "ipl-32", "since": 0}')
    joined = await recv_type(ws, "joined")
    assert joined["recovered"] is True
    missed = joined["missed"]
    assert [m["seq"] for m in missed] == list(range(1, 263))
    assert {m["data"]["innings"] for m in missed} == {1, 2, 3, 4}
    await ws.close()


async def test_replay_runner_paces_by_speed_and_stops_on_refusal(
    shared_server: LivegateProcess,
) -> None:
    game = pgn.loads(OPERA_GAME_PGN)
    waits: list[float] = []
    fake_now = [0.0]

    async def sleep(seconds: float) -> None:
        waits.append(seconds)
        fake_now[0] += seconds

    async with ApiClient(shared_server.url, shared_server.api_key) as api:
        count = await publish_replay(
            api, game, "paced", speed=10, sleep=sleep, clock=lambda: fake_now[0]
        )
        assert count == len(game.items)
        times = [0.0] + [item.at for item in game.items]
        gaps = [b - a for a, b in itertools.pairwise(times)]
        assert waits == pytest.approx([gap / 10 for gap in gaps if gap > 0])
        with pytest.raises(ApiClientError) as info:  # the same game again: move 1 is illegal
            await publish_replay(api, game, "paced", speed=0)
    assert info.value.status == 422 and "update 1 of 33" in info.value.message


async def test_demo_plays_one_round_of_each_sport_through_the_api(
    http: aiohttp.ClientSession, shared_server: LivegateProcess
) -> None:
    await run_matches(
        shared_server.url, shared_server.api_key, seed=7, pace=DemoPace().scaled(0), rounds=1
    )
    api = Api(http, shared_server)
    for sport in ("cricket", "chess", "football"):
        info = await api.get_event(f"demo-{sport}")
        assert info["sport"] == sport and info["status"] == "ended" and info["seq"] > 20
    chess = await api.get_event("demo-chess")
    assert chess["snapshot"]["san"] == "Rd8#" and chess["snapshot"]["result"] == "1-0"
    assert chess["result"] == "1-0: Paul Morphy (white) won"
    football = await api.get_event("demo-football")
    assert football["snapshot"]["kind"] == "full_time"
    score = football["snapshot"]["score"]
    home, away = football["snapshot"]["teams"]["home"], football["snapshot"]["teams"]["away"]
    assert football["result"] == f"{home} {score['home']}-{score['away']} {away}"
    cricket = await api.get_event("demo-cricket")
    assert re.fullmatch(r".+ won by \d+ (runs?|wickets?)|Match tied", cricket["result"])


async def test_the_demo_keeps_one_live_and_one_finished_match_per_sport(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory()
    await run_matches(server.url, server.api_key, seed=3, pace=DemoPace().scaled(0), rounds=4)
    async with http.get(f"{server.url}/api/events?limit=500") as resp:
        listed = sorted(event["eventId"] for event in (await resp.json())["events"])
    # Rounds 1 and 2 were deleted as rounds 3 and 4 began; 3 and 4 are finished.
    assert listed == sorted(f"demo-{sport}-{n}" for sport in MATCHES for n in (3, 4))


def test_demo_is_deterministic_for_a_seed() -> None:
    import random

    from livegate.demo import cricket_match, football_match

    pace = DemoPace()
    one = cricket_match(random.Random(5), pace)
    two = cricket_match(random.Random(5), pace)
    assert [i.data for i in one.items] == [i.data for i in two.items]
    other = cricket_match(random.Random(6), pace)
    assert [i.data for i in one.items] != [i.data for i in other.items]
    assert football_match(random.Random(5), pace) == football_match(random.Random(5), pace)


def test_demo_command_serves_live_matches() -> None:
    server = LivegateProcess(api_key="demo-key-0123456789")
    cmd = [
        sys.executable,
        "-m",
        "livegate",
        "demo",
        "--host",
        "127.0.0.1",
        "--port",
        str(server.port),
        "--api-key",
        "demo-key-0123456789",
    ]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        deadline = time.monotonic() + 20
        live: list[str] = []
        while time.monotonic() < deadline and len(live) < 3:
            time.sleep(0.3)
            result = run_cli(server, "events", "list")
            live = [line for line in result.stdout.splitlines() if "\tlive\t" in line]
        assert len(live) == 3, "the demo did not start three live matches"
    finally:
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=20)
    assert proc.returncode == 0
    assert "API key:    demo-key" in out and "/api/events" in out
