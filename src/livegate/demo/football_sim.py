"""A plausible simulated football match as an incident timeline.

Goals arrive at about 2.7 a match (Poisson), cards and fouls at league rates,
three substitutions a side after the hour, with kick-off, half-time and
full-time. The result is a timeline in the format of
:mod:`livegate.replay.timeline`, so it is published exactly as a recorded one.
Deterministic for a given ``random.Random``.
"""

from __future__ import annotations

import random
from typing import Any

__all__ = ["SQUADS", "simulate_match"]

SQUADS: dict[str, dict[str, list[str]]] = {
    "Northbridge Rovers": {
        "starters": [
            "Okafor",
            "Lindqvist",
            "Moreau",
            "Haddad",
            "Silva",
            "Kowalski",
            "Brennan",
            "Ito",
            "Adeyemi",
            "Novak",
            "Castillo",
        ],
        "bench": ["Fischer", "Mensah", "Duarte"],
    },
    "Eastport Athletic": {
        "starters": [
            "Petrov",
            "Walsh",
            "Nakamura",
            "Diallo",
            "Romero",
            "Jansen",
            "O'Neill",
            "Costa",
            "Berg",
            "Keane",
            "Mbappe-Lowe",
        ],
        "bench": ["Rossi", "Sato", "Gallagher"],
    },
}


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; fine for the small means of a football match.
    limit, count, product = pow(2.718281828459045, -mean), 0, rng.random()
    while product > limit:
        count += 1
        product *= rng.random()
    return count


def simulate_match(rng: random.Random, home: str, away: str) -> dict[str, Any]:
    """A full match timeline (timeline format), incidents sorted by time."""
    sides = {"home": home, "away": away}
    incidents: list[dict[str, Any]] = []

    def outfield(side: str) -> str:
        return rng.choice(SQUADS[sides[side]]["starters"][1:])

    for side, mean in (("home", 1.5), ("away", 1.2)):
        for _ in range(_poisson(rng, mean)):
            minute = rng.randint(2, 89)
            roll = rng.random()
            if roll < 0.08:
                other = "away" if side == "home" else "home"
                incidents.append(
                    {"minute": minute, "kind": "own_goal", "team": other, "player": outfield(other)}
                )
            elif roll < 0.18:
                incidents.append(
                    {
                        "minute": minute,
                        "kind": "penalty",
                        "team": side,
                        "player": outfield(side),
                        "outcome": "scored",
                    }
                )
            else:
                scorer = outfield(side)
                assist = outfield(side)
                goal: dict[str, Any] = {
                    "minute": minute,
                    "kind": "goal",
                    "team": side,
                    "player": scorer,
                }
                if assist != scorer and rng.random() < 0.7:
                    goal["assist"] = assist
                incidents.append(goal)
    for _ in range(rng.randint(12, 22)):
        side = rng.choice(("home", "away"))
        incidents.append(
            {"minute": rng.randint(1, 90), "kind": "foul", "team": side, "player": outfield(side)}
        )
    for _ in range(_poisson(rng, 3.5)):
        side = rng.choice(("home", "away"))
        incidents.append(
            {
                "minute": rng.randint(10, 90),
                "kind": "yellow_card",
                "team": side,
                "player": outfield(side),
            }
        )
    for side in ("home", "away"):
        squad = SQUADS[sides[side]]
        leaving = rng.sample(squad["starters"][1:], 3)
        for player_in, player_out in zip(squad["bench"], leaving, strict=True):
            incidents.append(
                {
                    "minute": rng.randint(58, 85),
                    "kind": "substitution",
                    "team": side,
                    "playerIn": player_in,
                    "playerOut": player_out,
                }
            )
    # Stable sort by minute, so incidents of one minute keep a plausible order.
    incidents.sort(key=lambda incident: incident["minute"])
    first_half = [i for i in incidents if i["minute"] <= 45]
    second_half = [i for i in incidents if i["minute"] > 45]
    added_first, added_second = rng.randint(1, 4), rng.randint(3, 7)
    timeline = [
        {"minute": 0, "kind": "kick_off"},
        *first_half,
        {"minute": 45, "addedTime": added_first, "kind": "half_time"},
        {"minute": 46, "kind": "kick_off"},
        *second_half,
        {"minute": 90, "addedTime": added_second, "kind": "full_time"},
    ]
    return {"home": home, "away": away, "title": f"{home} v {away}", "incidents": timeline}
