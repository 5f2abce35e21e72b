"""A simulated T20 innings pair, ball by ball, in Cricsheet's delivery shape.

The outcomes follow typical T20 frequencies (about a third dot balls, a third
singles, a boundary every six or seven balls, a wicket every twenty-odd balls,
occasional wides and no-balls). Deliveries come out in the shape of Cricsheet's
JSON so the same scorer that replays real matches turns them into updates.
Deterministic for a given ``random.Random``.
"""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["TEAMS", "InningsPlan", "simulate_innings"]

TEAMS: dict[str, list[str]] = {
    "Mumbai Mavericks": [
        "R Sharma",
        "I Kishan",
        "S Yadav",
        "T Varma",
        "H Pandya",
        "T David",
        "N Wadhera",
        "P Chawla",
        "J Bumrah",
        "G Coetzee",
        "A Madhwal",
    ],
    "Chennai Chargers": [
        "R Gaikwad",
        "D Conway",
        "A Rahane",
        "S Dube",
        "R Jadeja",
        "M Ali",
        "MS Dhoni",
        "D Chahar",
        "S Thakur",
        "M Pathirana",
        "T Deshpande",
    ],
}

# Outcome of one delivery and its weight (per cent, roughly T20 averages).
_OUTCOMES: list[tuple[str, float]] = [
    ("dot", 33.0),
    ("1", 36.0),
    ("2", 7.0),
    ("3", 0.5),
    ("4", 11.0),
    ("6", 5.0),
    ("wicket", 4.5),
    ("wide", 2.5),
    ("noball", 0.5),
    ("legbye", 1.0),
]
_WICKETS: list[tuple[str, float]] = [
    ("caught", 60.0),
    ("bowled", 18.0),
    ("lbw", 10.0),
    ("run out", 7.0),
    ("stumped", 3.0),
    ("caught and bowled", 2.0),
]


@dataclass(frozen=True, slots=True)
class InningsPlan:
    """Who bats and bowls: batters in order, and the five bowlers (each bowls 4 overs)."""

    batters: list[str]
    bowlers: list[str]
    fielders: list[str]
    keeper: str
    overs: int = 20
    target: int | None = None


def _choose(rng: random.Random, table: list[tuple[str, float]]) -> str:
    return rng.choices([name for name, _ in table], weights=[w for _, w in table])[0]


def simulate_innings(rng: random.Random, plan: InningsPlan) -> Iterator[dict[str, Any]]:
    """Yield Cricsheet-shaped deliveries until 20 overs, 10 wickets or the target."""
    striker, non_striker = plan.batters[0], plan.batters[1]
    next_batter = 2
    runs = wickets = 0
    for over in range(plan.overs):
        bowler = plan.bowlers[over % len(plan.bowlers)]
        legal = 0
        while legal < 6:
            outcome = _choose(rng, _OUTCOMES)
            batter_runs = extras = 0
            delivery: dict[str, Any] = {
                "batter": striker,
                "bowler": bowler,
                "non_striker": non_striker,
            }
            out: str | None = None
            if outcome in ("1", "2", "3", "4", "6"):
                batter_runs = int(outcome)
            elif outcome == "wide":
                extras = 1
                delivery["extras"] = {"wides": 1}
            elif outcome == "noball":
                extras = 1
                batter_runs = rng.choice((0, 0, 1, 4))
                delivery["extras"] = {"noballs": 1}
            elif outcome == "legbye":
                extras = rng.choice((1, 1, 2, 4))
                delivery["extras"] = {"legbyes": extras}
            elif outcome == "wicket":
                kind = _choose(rng, _WICKETS)
                fielders: list[dict[str, str]] = []
                if kind == "caught":
                    fielders = [{"name": rng.choice(plan.fielders)}]
                elif kind == "stumped":
                    fielders = [{"name": plan.keeper}]
                elif kind == "run out":
                    fielders = [{"name": rng.choice(plan.fielders)}]
                out = striker
                delivery["wickets"] = [{"player_out": out, "kind": kind, "fielders": fielders}]
                if not fielders:
                    del delivery["wickets"][0]["fielders"]
            delivery["runs"] = {
                "batter": batter_runs,
                "extras": extras,
                "total": batter_runs + extras,
            }
            yield delivery
            runs += batter_runs + extras
            if outcome not in ("wide", "noball"):
                legal += 1
            if out is not None:
                wickets += 1
                if wickets == 10 or next_batter >= len(plan.batters):
                    return
                striker = plan.batters[next_batter]
                next_batter += 1
            else:
                ran = batter_runs if outcome != "legbye" else extras
                if ran % 2 == 1 and batter_runs not in (4, 6):
                    striker, non_striker = non_striker, striker
            if plan.target is not None and runs >= plan.target:
                return
        striker, non_striker = non_striker, striker
