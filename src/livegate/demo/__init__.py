"""``livegate demo``: the gateway plus simulated live matches, one per sport.

Each match is published through the gateway's HTTP API, the same path a real
feed takes, at a watchable pace, and the matches loop forever: when one ends,
its event is ended and the next round starts as a new event (``demo-cricket``,
then ``demo-cricket-2``, ...). Everything is seeded, so a given seed always
plays the same matches.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from livegate.api_client import ApiClient, ApiClientError
from livegate.demo.chess_games import OPERA_GAME_PGN
from livegate.demo.cricket_sim import TEAMS, InningsPlan, simulate_innings
from livegate.demo.football_sim import SQUADS, simulate_match
from livegate.replay import Replay, ReplayItem, pgn, timeline
from livegate.replay.cricsheet import CricketScorer
from livegate.replay.runner import publish_replay

__all__ = ["DemoPace", "chess_match", "cricket_match", "football_match", "run_matches"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class DemoPace:
    """Seconds between updates in the demo (real pace would be far slower)."""

    cricket_ball: float = 3.0
    innings_break: float = 15.0
    chess_ply: float = 4.0
    football_minute: float = 2.0
    between_rounds: float = 10.0

    def scaled(self, factor: float) -> DemoPace:
        """Every interval multiplied by ``factor`` (tests use a small one)."""
        return DemoPace(
            self.cricket_ball * factor,
            self.innings_break * factor,
            self.chess_ply * factor,
            self.football_minute * factor,
            self.between_rounds * factor,
        )


def cricket_match(rng: random.Random, pace: DemoPace) -> Replay:
    """A simulated T20 match between the two demo teams, ball by ball."""
    (home, home_xi), (away, away_xi) = list(TEAMS.items())
    if rng.random() < 0.5:
        (home, home_xi), (away, away_xi) = (away, away_xi), (home, home_xi)
    scorer = CricketScorer()
    items: list[ReplayItem] = []
    at = 0.0
    target: int | None = None
    for number, (batting, batters, bowling, fielders) in enumerate(
        ((home, home_xi, away, away_xi), (away, away_xi, home, home_xi)), start=1
    ):
        plan = InningsPlan(
            batters=batters,
            bowlers=fielders[-5:],
            fielders=fielders,
            keeper=fielders[6],
            target=target,
        )
        scorer.start_innings(number, batting, bowling, target=target)
        for delivery in simulate_innings(rng, plan):
            items.append(ReplayItem(at, scorer.deliver(delivery)))
            at += pace.cricket_ball
        target = scorer.runs + 1
        at += pace.innings_break
    first, chased, wickets = target - 1 if target else 0, scorer.runs, scorer.wickets
    if chased > first:
        result = f"{away} won by {10 - wickets} wicket{'s' * (10 - wickets != 1)}"
    elif chased == first:
        result = "Match tied"
    else:
        result = f"{home} won by {first - chased} run{'s' * (first - chased != 1)}"
    return Replay("cricket", f"{home} v {away}, demo T20", items, {"demo": True}, result)


def chess_match(rng: random.Random, pace: DemoPace) -> Replay:
    """The Opera Game (Morphy v the Duke of Brunswick and Count Isouard, Paris 1858)."""
    game = pgn.loads(OPERA_GAME_PGN, name="opera-game.pgn")
    items = [ReplayItem(index * pace.chess_ply, item.data) for index, item in enumerate(game.items)]
    return Replay("chess", game.title, items, {"demo": True}, game.result)


def football_match(rng: random.Random, pace: DemoPace) -> Replay:
    """A plausible simulated match between the two demo clubs."""
    home, away = rng.sample(sorted(SQUADS), 2)
    match = timeline.loads(orjson.dumps(simulate_match(rng, home, away)).decode())
    factor = pace.football_minute / timeline.MINUTE_SECONDS
    items = [ReplayItem(item.at * factor, item.data) for item in match.items]
    return Replay("football", match.title, items, {"demo": True}, match.result)


MATCHES: dict[str, Callable[[random.Random, DemoPace], Replay]] = {
    "cricket": cricket_match,
    "chess": chess_match,
    "football": football_match,
}


async def run_matches(
    base_url: str,
    api_key: str,
    *,
    seed: int = 2024,
    pace: DemoPace | None = None,
    rounds: int | None = None,
) -> None:
    """Publish the demo matches to the gateway at ``base_url`` until cancelled.

    ``rounds`` limits how many matches each sport plays (None: forever).
    """
    pace = pace or DemoPace()
    async with ApiClient(base_url, api_key) as api:
        await asyncio.gather(
            *(
                _loop_sport(api, sport, make, random.Random(f"{seed}-{sport}"), pace, rounds)
                for sport, make in MATCHES.items()
            )
        )


async def _delete(api: ApiClient, event_id: str) -> None:
    try:
        await api.delete_event(event_id)
    except ApiClientError as exc:
        if exc.status != 404:  # already gone is fine
            log.warning("demo: could not delete %s: %s", event_id, exc.describe())


async def _loop_sport(
    api: ApiClient,
    sport: str,
    make: Callable[[random.Random, DemoPace], Replay],
    rng: random.Random,
    pace: DemoPace,
    rounds: int | None,
) -> None:
    round_number = 1
    finished: list[str] = []
    while rounds is None or round_number <= rounds:
        event_id = f"demo-{sport}" if round_number == 1 else f"demo-{sport}-{round_number}"
        replay = make(rng, pace)
        try:
            # One live match per sport and at most its last finished one: no pile-up.
            while len(finished) > 1:
                await _delete(api, finished.pop(0))
            await publish_replay(api, replay, event_id, speed=1.0)
            await api.end_event(event_id, replay.result)
            finished.append(event_id)
        except ApiClientError as exc:
            # The demo must keep playing; a refused update is a bug worth a log line.
            log.error("demo %s: %s", event_id, exc.describe())
        round_number += 1
        await asyncio.sleep(pace.between_rounds)
