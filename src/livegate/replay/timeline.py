"""JSON match timelines as football replays: one update per incident.

A timeline is what a person writes down while watching a match; the
converter adds what can be computed (the score, the shootout tally, the team
names), so an author never keeps a running score by hand::

    {
      "home": "Arsenal",
      "away": "Chelsea",
      "title": "Arsenal v Chelsea, FA Cup final",
      "meta": {"competition": "FA Cup", "venue": "Wembley"},
      "incidents": [
        {"minute": 1, "kind": "kick_off", "period": "first_half"},
        {"minute": 23, "kind": "goal", "team": "home", "player": "Saka", "assist": "Odegaard"},
        {"minute": 38, "kind": "yellow_card", "team": "away", "player": "Caicedo"},
        {"minute": 45, "addedTime": 2, "kind": "half_time"},
        {"minute": 46, "kind": "kick_off", "period": "second_half"},
        {"minute": 61, "kind": "own_goal", "team": "home", "player": "Gabriel"},
        {"minute": 70, "kind": "substitution", "team": "away", "playerIn": "Madueke",
         "playerOut": "Sterling"},
        {"minute": 78, "kind": "goal", "team": "away", "player": "Palmer"},
        {"minute": 81, "kind": "var", "decision": "goal disallowed for offside",
         "team": "away", "score": {"home": 1, "away": 1}},
        {"minute": 90, "addedTime": 3, "kind": "penalty", "team": "home", "player": "Saka",
         "outcome": "scored"},
        {"minute": 90, "addedTime": 5, "kind": "full_time"}
      ]
    }

Top level: ``home`` and ``away`` (team names, required), ``title`` (optional,
default ``"Home v Away"``), ``meta`` (optional object sent with the event when
the replay creates it; no ``sport``, ``title``, ``home`` or ``away`` key, at
most 4 KiB as JSON; ``meta`` of the replay is ``home``, ``away`` and these)
and ``incidents`` (required, not empty). Any other top-level key is an error.

Each incident is a ``football`` update (see :mod:`livegate.sports.football`)
without ``score`` and ``teams``: the converter fills ``teams`` from ``home``
and ``away`` and computes ``score`` from the incidents (a goal or scored
penalty adds one for ``team``, an own goal one for the other team). An
incident may give ``score`` anyway: the converter then checks it (an
assertion), and it is the only way to change the score on a ``var``
decision. In a ``penalty_shootout`` period the ``shootout`` tally is computed
the same way. An incident may not give ``teams``.

Timing (``ReplayItem.at``, real pace): 60 seconds per match minute, the
Nth minute starting at (N-1) minutes, so a kick-off at minute 0 or 1 is at 0
s and ``45+2'`` is at 46 minutes. Each later period also starts after the
longest added time seen at the end of the earlier ones (``45+3'`` makes the
second half start 3 minutes later) and after the breaks: each ``half_time``
incident starts a break, 15 minutes for the first, 5 minutes for later ones
(before and during extra time); a ``kick_off`` after a ``half_time`` comes a
break after the end of the half-time whistle's minute, whatever minute it is
written at. In a penalty shootout the kicks are a minute apart. Times
never go backwards.

Every produced update is checked with the football sport's ``validate`` in
sequence; the first bad incident raises :class:`~livegate.replay.ReplayError`
naming it, e.g. ``incidents[4].kind: unknown kind 'goall'``.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Final

from livegate.replay import Replay, ReplayError, ReplayItem, read_replay_file
from livegate.sports.football import PERIOD_ENDS, SIDES, SPORT

__all__ = ["BREAK_SECONDS", "HALF_TIME_SECONDS", "MINUTE_SECONDS", "load", "loads"]

MINUTE_SECONDS: Final = 60.0
HALF_TIME_SECONDS: Final = 15 * 60.0
"""The break after the first ``half_time`` incident."""
BREAK_SECONDS: Final = 5 * 60.0
"""The break after each later ``half_time`` (before extra time, between its halves)."""
SHOOTOUT_KICK_SECONDS: Final = 60.0
MAX_TITLE: Final = 200
MAX_META_BYTES: Final = 4096
_TOP_LEVEL: Final = frozenset({"home", "away", "title", "meta", "incidents"})


def load(path: str | Path) -> Replay:
    """Read the timeline file at ``path``. Raises :class:`ReplayError`."""
    return loads(read_replay_file(path), name=str(path))


def loads(text: str, *, name: str = "<timeline>") -> Replay:
    """Like :func:`load`, from the text of a timeline; ``name`` prefixes error messages."""
    try:
        document = json.loads(text, parse_constant=_not_json)
    except json.JSONDecodeError as exc:
        raise ReplayError(f"{name}: line {exc.lineno} column {exc.colno}: {exc.msg}") from None
    except RecursionError:
        raise ReplayError(f"{name}: nested too deeply") from None
    except ValueError as exc:  # from _not_json
        raise ReplayError(f"{name}: {exc}") from None
    home, away, title, meta, incidents = _top_level(document, name)
    teams = {"home": home, "away": away}

    items: list[ReplayItem] = []
    previous: dict[str, Any] | None = None
    clock = _Clock()
    for index, incident in enumerate(incidents):
        where = f"{name}: incidents[{index}]"
        if not isinstance(incident, dict):
            raise ReplayError(f"{where}: must be an object")
        if "teams" in incident:
            raise ReplayError(f"{where}.teams: set from the top-level home and away; remove it")
        data = _complete(incident, previous, teams)
        errors = SPORT.validate(data, previous)
        if errors:
            raise ReplayError(
                "; ".join(f"{where}.{error.path}: {error.reason}" for error in errors)
            )
        items.append(ReplayItem(at=clock.at(data), data=data))
        previous = data
    return Replay(
        sport="football",
        title=title,
        items=items,
        meta={**teams, **meta},
        result=_result(previous, teams),
    )


def _result(last: dict[str, Any] | None, teams: dict[str, str]) -> str | None:
    """``Arsenal 2-1 Chelsea`` once the timeline reached full time, else None."""
    if last is None or last.get("kind") != "full_time":
        return None
    score = last.get("score") or {}
    line = f"{teams['home']} {score.get('home', 0)}-{score.get('away', 0)} {teams['away']}"
    shootout = last.get("shootout")
    if isinstance(shootout, dict):
        line += f" ({shootout.get('home', 0)}-{shootout.get('away', 0)} on penalties)"
    return line


def _not_json(constant: str) -> None:
    """Python's json reads NaN and Infinity; JSON (and the gateway) does not."""
    raise ValueError(f"{constant} is not JSON")


def _top_level(document: object, name: str) -> tuple[str, str, str, dict[str, Any], list[Any]]:
    if not isinstance(document, dict):
        raise ReplayError(f"{name}: the top level must be an object")
    for key in document:
        if key not in _TOP_LEVEL:
            raise ReplayError(f"{name}: {key}: unknown field ({', '.join(sorted(_TOP_LEVEL))})")
    names = []
    for side in SIDES:
        value = document.get(side)
        if not isinstance(value, str) or not value.strip():
            raise ReplayError(f"{name}: {side}: required, the {side} team's name")
        names.append(value.strip())
    home, away = names
    title = document.get("title", f"{home} v {away}")
    if not isinstance(title, str) or not 0 < len(title.strip()) <= MAX_TITLE:
        raise ReplayError(f"{name}: title: must be a string of 1 to {MAX_TITLE} characters")
    meta = document.get("meta", {})
    if not isinstance(meta, dict):
        raise ReplayError(f"{name}: meta: must be an object")
    for key in ("sport", "title", *SIDES):
        if key in meta:
            raise ReplayError(f"{name}: meta.{key}: not allowed (set at the top level)")
    if len(json.dumps(meta, ensure_ascii=False).encode()) > MAX_META_BYTES:
        raise ReplayError(f"{name}: meta: larger than {MAX_META_BYTES} bytes as JSON")
    incidents = document.get("incidents")
    if not isinstance(incidents, list) or not incidents:
        raise ReplayError(f"{name}: incidents: required, a non-empty list")
    return home, away, title.strip(), meta, incidents


def _pair(value: object) -> tuple[int, int]:
    """``(home, away)`` counts from a well-formed pair; 0-0 otherwise (reported elsewhere)."""
    if isinstance(value, dict):
        home, away = value.get("home"), value.get("away")
        if type(home) is int and type(away) is int:
            return home, away
    return 0, 0


def _bump(pair: tuple[int, int], team: object) -> dict[str, int]:
    home, away = pair
    return {"home": home + (team == "home"), "away": away + (team == "away")}


def _complete(
    incident: dict[str, Any], previous: dict[str, Any] | None, teams: dict[str, str]
) -> dict[str, Any]:
    """The update for ``incident``: its fields plus the computed score, shootout and teams."""
    data = dict(incident)
    previous = previous or {}
    kind, team = incident.get("kind"), incident.get("team")
    in_shootout = incident.get("period") == "penalty_shootout"
    scored = incident.get("outcome") == "scored"
    if "score" not in data:
        score = _pair(previous.get("score"))
        if kind == "goal" or (kind == "penalty" and scored and not in_shootout):
            data["score"] = _bump(score, team)
        elif kind == "own_goal":
            data["score"] = _bump(score, {"home": "away", "away": "home"}.get(str(team)))
        else:
            data["score"] = _bump(score, None)
    if in_shootout and "shootout" not in data:
        was_in_shootout = previous.get("period") == "penalty_shootout"
        tally = _pair(previous.get("shootout")) if was_in_shootout else (0, 0)
        data["shootout"] = _bump(tally, team if kind == "penalty" and scored else None)
    data["teams"] = dict(teams)
    return data


class _Clock:
    """Seconds since kick-off for each incident, in order (see the module docstring)."""

    def __init__(self) -> None:
        self.stoppage = [0] * len(PERIOD_ENDS)  # longest added time at each period end
        self.breaks = 0.0
        self.half_times = 0
        self.last = 0.0
        self.restart: float | None = None  # earliest kick-off after the last half_time

    def at(self, data: dict[str, Any]) -> float:
        # validate() has accepted data: minute and addedTime are in range, and
        # addedTime is only set on a period end.
        minute: int = data["minute"]
        added: int = data.get("addedTime", 0)
        if added:
            end = PERIOD_ENDS.index(minute)
            self.stoppage[end] = max(self.stoppage[end], added)
        periods_before = sum(1 for end in PERIOD_ENDS if minute > end)
        if data.get("period") == "penalty_shootout":
            periods_before = len(PERIOD_ENDS)  # after every period, whatever the minute says
        at = MINUTE_SECONDS * (max(minute - 1, 0) + added + sum(self.stoppage[:periods_before]))
        at += self.breaks
        if data.get("period") == "penalty_shootout":
            at = max(at, self.last + SHOOTOUT_KICK_SECONDS)
        if data.get("kind") == "kick_off" and self.restart is not None:
            at, self.restart = max(at, self.restart), None
        at = max(at, self.last)
        if data.get("kind") == "half_time":
            brk = BREAK_SECONDS if self.half_times else HALF_TIME_SECONDS
            self.breaks += brk
            self.half_times += 1
            # The whistle comes during its minute: play resumes a break after its end.
            self.restart = at + MINUTE_SECONDS + brk
        self.last = at
        return at
