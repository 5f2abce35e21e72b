"""Cricket's match state: the scorecard folded from every accepted update (pure).

The state is what a fan who watched from the first ball knows::

    {
      "innings": [
        {"number": 1, "battingTeam": "Mumbai Indians", "bowlingTeam": "Delhi Capitals",
         "score": "205/6", "runs": 205, "wickets": 6, "overs": "20.0", "target": null,
         "superOver": false,
         "batting": [{"name": "RG Sharma", "runs": 18, "balls": 12, "fours": 2,
                      "sixes": 1, "out": "lbw b V Nigam"}, ...],
         "bowling": [{"name": "V Nigam", "overs": "4.0", "maiden": 0, "runs": 26,
                      "wickets": 2}, ...],
         "extras": {"wides": 4, ...},
         "fallOfWickets": [{"wicket": 1, "runs": 47, "player": "RG Sharma",
                            "overs": "5.0"}, ...],
         "partnership": {"runs": 31, "balls": 22},
         "balls": 124}
      ],
      "recent": ["1", "4", "W", "1wd", "·", ...],
      "status": {"kind": "innings_break", "comment": "..."}
    }

Batters and bowlers are listed in the order they first appear; their figures are
the latest the feed sent (the feed's own running totals, not recomputed). A
dismissal is written from the ball's ``event.wicket`` (``cricket.dismissal``, the
words the replay's commentary uses too). ``recent`` is the last 12
balls of the match. Size: about 60 bytes per batter and bowler and 50 per
wicket, so a five-day Test (4 innings, ~2,700 balls) is a few KiB, far under
:data:`livegate.sports.MAX_STATE`.
"""

from __future__ import annotations

import re
from typing import Any, Final

import orjson

from livegate.sports.cricket import dismissal

__all__ = ["RECENT_BALLS", "fold"]

RECENT_BALLS: Final = 12
_BALL_KEY = re.compile(r"ball ([1-9][0-9]{0,5})")
_SCORE = re.compile(r"([0-9]{1,5})/([0-9]{1,2})")
_BATTER_FIELDS = ("runs", "balls", "fours", "sixes")
_BOWLER_FIELDS = ("overs", "maiden", "runs", "wickets")
_SHORT_EXTRAS = {"wide": "wd", "noball": "nb", "bye": "b", "legbye": "lb", "penalty": "pen"}


def fold(state: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
    """The scorecard after ``payload`` (a valid cricket update), from ``state`` (None
    before the first). ``state`` is not modified."""
    # A JSON round trip copies a scorecard ~10x faster than copy.deepcopy.
    match = orjson.loads(orjson.dumps(state)) if state else {"innings": [], "recent": []}
    kind = payload.get("kind")
    if isinstance(kind, str) and not any(_BALL_KEY.fullmatch(str(k)) for k in payload):
        match["status"] = {"kind": kind, "comment": payload.get("comment", "")}
        innings = _innings(match, payload) if "battingTeam" in payload else None
        if innings is not None and isinstance(payload.get("score"), str):
            innings["score"] = payload["score"]
        return match
    match.pop("status", None)
    innings = _innings(match, payload)
    score = next((str(v) for k, v in payload.items() if _BALL_KEY.fullmatch(str(k))), "")
    before_runs = innings["runs"]
    if m := _SCORE.fullmatch(score):
        innings["score"], innings["runs"], innings["wickets"] = score, int(m[1]), int(m[2])
    innings["balls"] += 1
    for key in ("overs", "target"):
        if key in payload:
            innings[key] = payload[key]
    if isinstance(payload.get("extras"), dict):
        innings["extras"] = payload["extras"]
    for key in ("batsman", "nonStriker"):
        _update(innings["batting"], payload.get(key), _BATTER_FIELDS)
    _update(innings["bowling"], payload.get("bowler"), _BOWLER_FIELDS)
    partnership = innings["partnership"]
    partnership["runs"] += max(0, innings["runs"] - before_runs)
    partnership["balls"] += 1
    wickets = _wickets(payload)
    bowler = payload.get("bowler")
    bowler_name = str(bowler.get("name", "")) if isinstance(bowler, dict) else ""
    for wicket in wickets:
        player = str(wicket.get("playerOut", ""))
        card = _entry(innings["batting"], player)
        fielders = [str(f) for f in wicket.get("fielders", ()) if isinstance(f, str)]
        card["out"] = dismissal(str(wicket.get("kind", "")), fielders, bowler_name)
        if str(wicket.get("kind")) not in ("retired hurt", "retired not out"):
            innings["fallOfWickets"].append(
                {
                    "wicket": len(innings["fallOfWickets"]) + 1,
                    "runs": innings["runs"],
                    "player": player,
                    "overs": payload.get("overs"),
                }
            )
            innings["partnership"] = {"runs": 0, "balls": 0}
    match["recent"] = [*match["recent"], _label(payload, wickets)][-RECENT_BALLS:]
    return match


def _innings(match: dict[str, Any], payload: dict[str, Any]) -> dict[str, Any]:
    """The innings ``payload`` belongs to (a new one when the number or team changes)."""
    innings_list: list[dict[str, Any]] = match["innings"]
    number = payload.get("innings")
    team = payload.get("battingTeam")
    if innings_list:
        last = innings_list[-1]
        same_number = number is None or str(number) == str(last["number"])
        # A feed may name the team only from some ball on: the innings it was in.
        same_team = team is None or last["battingTeam"] in (None, team)
        if same_number and same_team:
            if team is not None:
                last["battingTeam"] = team
            if last["bowlingTeam"] is None and payload.get("bowlingTeam") is not None:
                last["bowlingTeam"] = payload["bowlingTeam"]
            return last
    new: dict[str, Any] = {
        "number": number if number is not None else len(innings_list) + 1,
        "battingTeam": team,
        "bowlingTeam": payload.get("bowlingTeam"),
        "superOver": payload.get("superOver") is True,
        "score": "0/0",
        "runs": 0,
        "wickets": 0,
        "overs": None,
        "target": payload.get("target"),
        "balls": 0,
        "batting": [],
        "bowling": [],
        "extras": {},
        "fallOfWickets": [],
        "partnership": {"runs": 0, "balls": 0},
    }
    innings_list.append(new)
    return new


def _entry(cards: list[dict[str, Any]], name: str) -> dict[str, Any]:
    for card in cards:
        if card["name"] == name:
            return card
    card = {"name": name}
    cards.append(card)
    return card


def _update(cards: list[dict[str, Any]], figures: object, fields: tuple[str, ...]) -> None:
    if not isinstance(figures, dict) or not isinstance(figures.get("name"), str):
        return
    card = _entry(cards, figures["name"])
    for field in fields:
        if field in figures:
            card[field] = figures[field]


def _wickets(payload: dict[str, Any]) -> list[dict[str, Any]]:
    event = payload.get("event")
    wicket = event.get("wicket") if isinstance(event, dict) else None
    wickets = wicket if isinstance(wicket, list) else [wicket]
    return [w for w in wickets if isinstance(w, dict) and "playerOut" in w]


def _label(payload: dict[str, Any], wickets: list[dict[str, Any]]) -> str:
    """A ball as scoreboards write it: ``·``, ``4``, ``W``, ``1wd``, ``2lb``."""
    if wickets:
        return "W"
    event = payload.get("event")
    if not isinstance(event, dict):
        return "•"
    runs = event.get("runs", 0)
    extra = _SHORT_EXTRAS.get(str(event.get("extraKind", "")), "")
    if extra:
        return f"{runs}{extra}"
    return "·" if runs in (0, "0") else str(runs)
