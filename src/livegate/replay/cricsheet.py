"""Cricsheet ball-by-ball JSON (https://cricsheet.org/format/json/) as cricket updates.

:func:`load` reads a match file and returns a :class:`~livegate.replay.Replay`
with one update per delivery, every innings in order, super overs included
(innings marked ``"super_over": true``). Each update is a ``cricket`` payload
(see :mod:`livegate.sports.cricket`) computed by :class:`CricketScorer`, the
scoring state machine, which the demo simulation reuses by feeding it
Cricsheet-shaped deliveries of its own.

How the figures are scored (the Laws of Cricket, as scorecards show them):

- ``ball N`` counts every delivery of the innings, wides and no-balls too; its
  value is the innings score. A batter who retires hurt (or "retired not out")
  is not a wicket for the side; every other dismissal is.
- A batter's balls faced count every delivery except wides (no-balls count).
  Fours and sixes are runs off the bat of 4 or 6 not marked ``non_boundary``.
- Legal balls exclude wides and no-balls; overs ``"O.B"`` count legal balls.
- Runs charged to the bowler: runs off the bat, wides and no-balls, never byes,
  leg-byes or penalty runs. Wickets credited to the bowler: bowled, caught,
  caught and bowled, lbw, stumped, hit wicket.
- A maiden: an over of ``balls_per_over`` legal balls, all bowled by one bowler,
  with no runs charged to that bowler. An over is closed when its last legal
  ball is bowled; an over left unfinished (end of innings, injured bowler) is
  never a maiden.
- Target: the file's ``target.runs`` when given; otherwise, for the second
  innings of a super-over pair, the first one's runs plus one, and for the
  second innings of a limited-overs match (``info.overs`` set), the first
  innings' runs plus one. Penalty runs awarded before an innings
  (``penalty_runs.pre``) open its score; those awarded after it are ignored.

Timing: ``ReplayItem.at`` approximates real pace, :data:`SECONDS_PER_DELIVERY`
(35 s) per delivery, plus :data:`INNINGS_BREAK` (10 minutes) before every
innings after the first, super overs included. A T20 innings of about 125
deliveries takes about 73 minutes, a match about two and a half hours.

Errors: a malformed file raises :class:`~livegate.replay.ReplayError` naming the
position, e.g. ``innings 2, over 4, delivery 3: 'runs' missing``: the innings is
counted from 1, the over is numbered as in the file (Cricsheet counts overs from
0, so "over 4, delivery 3" is ball 4.3 in cricket notation), the delivery is
counted from 1 within the over. An update that the ``cricket`` sport would
refuse (a 150-character name, say) is reported the same way, at load time
rather than half way through a replay.

Data from Cricsheet is under the Open Data Commons Attribution License; the
replay's ``meta`` carries the attribution to the event.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from livegate.replay import Replay, ReplayError, ReplayItem
from livegate.sports.cricket import (
    BOWLER_WICKET_KINDS,
    NOT_TEAM_WICKET_KINDS,
    SPORT,
    WICKET_KINDS,
    dismissal,
    format_overs,
)

__all__ = [
    "INNINGS_BREAK",
    "SECONDS_PER_DELIVERY",
    "BatterFigures",
    "BowlerFigures",
    "CricketScorer",
    "DeliveryError",
    "convert",
    "load",
]

SECONDS_PER_DELIVERY: Final = 35.0
"""Seconds between two deliveries in a replay (real pace, roughly)."""

INNINGS_BREAK: Final = 600.0
"""Extra seconds before every innings after the first."""

ATTRIBUTION: Final = (
    "Ball-by-ball data from Cricsheet (https://cricsheet.org), "
    "Open Data Commons Attribution License (ODC-By 1.0)"
)

_EXTRA_KINDS: Final = ("wides", "noballs", "byes", "legbyes", "penalty")
"""Cricsheet's extras, also the keys of the innings ``extras`` in an update."""

_EVENT_EXTRA_KIND: Final = {
    "wides": "wide",
    "noballs": "noball",
    "byes": "bye",
    "legbyes": "legbye",
    "penalty": "penalty",
}
"""Cricsheet extra to ``event.extraKind``, in priority order (the main kind first)."""

_MAX_NAME: Final = 100
_MAX_RUNS: Final = 99


class DeliveryError(ValueError):
    """A delivery that is not in Cricsheet's shape; the message names the field."""


@dataclass(slots=True)
class BatterFigures:
    """A batter's innings so far."""

    name: str
    runs: int = 0
    balls: int = 0
    fours: int = 0
    sixes: int = 0
    dismissal: str | None = None
    """How the batter got out (``c Pant b Bumrah``, ``retired hurt``), None while in."""

    def as_json(self) -> dict[str, Any]:
        """The update's ``batsman`` / ``nonStriker`` object."""
        return {
            "name": self.name,
            "runs": self.runs,
            "balls": self.balls,
            "fours": self.fours,
            "sixes": self.sixes,
        }


@dataclass(slots=True)
class BowlerFigures:
    """A bowler's figures in the innings so far."""

    name: str
    balls_per_over: int = 6
    legal_balls: int = 0
    runs: int = 0
    maidens: int = 0
    wickets: int = 0

    @property
    def overs(self) -> str:
        """Overs bowled as ``"O.B"``."""
        return format_overs(self.legal_balls, self.balls_per_over)

    def as_json(self) -> dict[str, Any]:
        """The update's ``bowler`` object."""
        return {
            "name": self.name,
            "overs": self.overs,
            "runs": self.runs,
            "maiden": self.maidens,
            "wickets": self.wickets,
        }


@dataclass(frozen=True, slots=True)
class _Wicket:
    player_out: str
    kind: str
    fielders: tuple[tuple[str, bool], ...]  # (name, substitute)


@dataclass(frozen=True, slots=True)
class _Delivery:
    batter: str
    bowler: str
    non_striker: str
    batter_runs: int
    extras_runs: int
    total: int
    extras: dict[str, int]
    non_boundary: bool
    wickets: tuple[_Wicket, ...]


@dataclass(slots=True)
class _Innings:
    number: int
    batting_team: str
    bowling_team: str
    target: int | None
    super_over: bool
    runs: int = 0
    wickets: int = 0
    deliveries: int = 0
    legal_balls: int = 0
    extras: dict[str, int] = field(default_factory=lambda: dict.fromkeys(_EXTRA_KINDS, 0))
    batters: dict[str, BatterFigures] = field(default_factory=dict)
    bowlers: dict[str, BowlerFigures] = field(default_factory=dict)
    over_legal: int = 0
    over_charged: int = 0
    over_bowlers: set[str] = field(default_factory=set)


class CricketScorer:
    """The scoring state machine: Cricsheet-shaped deliveries in, cricket updates out.

    Call :meth:`start_innings`, then :meth:`deliver` once per delivery, in order;
    start the next innings (super overs too) with :meth:`start_innings` again.
    The figures so far are readable between deliveries (:attr:`score`,
    :attr:`overs`, :attr:`batters`, :attr:`bowlers`...); treat them as read-only.
    Not thread-safe; one scorer per match.
    """

    def __init__(self, balls_per_over: int = 6) -> None:
        if not 1 <= balls_per_over <= 10:
            raise ValueError("balls_per_over must be from 1 to 10")
        self.balls_per_over = balls_per_over
        self._innings: _Innings | None = None

    def start_innings(
        self,
        number: int,
        batting_team: str,
        bowling_team: str,
        target: int | None = None,
        super_over: bool = False,
        *,
        penalty_runs: int = 0,
    ) -> None:
        """Begin innings ``number`` (from 1; super overs continue the count).

        ``target`` is the runs the batting side needs to win, for a chase;
        ``penalty_runs`` awarded before the innings open its score.
        """
        if number < 1:
            raise ValueError("the innings number counts from 1")
        if target is not None and target < 1:
            raise ValueError("a target is at least 1 run")
        if penalty_runs < 0:
            raise ValueError("penalty_runs cannot be negative")
        self._innings = _Innings(number, batting_team, bowling_team, target, super_over)
        self._innings.runs = penalty_runs
        self._innings.extras["penalty"] = penalty_runs

    # -- the state so far ------------------------------------------------------

    @property
    def _current(self) -> _Innings:
        if self._innings is None:
            raise RuntimeError("no innings in progress: call start_innings() first")
        return self._innings

    @property
    def innings(self) -> int:
        return self._current.number

    @property
    def runs(self) -> int:
        return self._current.runs

    @property
    def wickets(self) -> int:
        return self._current.wickets

    @property
    def score(self) -> str:
        """``"runs/wickets"``."""
        return f"{self._current.runs}/{self._current.wickets}"

    @property
    def deliveries(self) -> int:
        """Deliveries bowled in the innings, wides and no-balls included."""
        return self._current.deliveries

    @property
    def legal_balls(self) -> int:
        return self._current.legal_balls

    @property
    def overs(self) -> str:
        """The innings' overs as ``"O.B"``."""
        return format_overs(self._current.legal_balls, self.balls_per_over)

    @property
    def target(self) -> int | None:
        return self._current.target

    @property
    def extras(self) -> Mapping[str, int]:
        """Innings extras: wides, noballs, byes, legbyes, penalty."""
        return self._current.extras

    @property
    def batters(self) -> Mapping[str, BatterFigures]:
        """Every batter who has come in, in order of appearance."""
        return self._current.batters

    @property
    def bowlers(self) -> Mapping[str, BowlerFigures]:
        """Every bowler who has bowled, in order of appearance."""
        return self._current.bowlers

    # -- scoring ---------------------------------------------------------------

    def deliver(self, delivery: Mapping[str, Any]) -> dict[str, Any]:
        """Score one delivery in Cricsheet's shape; returns the cricket update for it.

        ``delivery`` has ``batter``, ``bowler``, ``non_striker``, ``runs``
        ``{batter, extras, total, non_boundary?}``, optional ``extras`` ``{wides,
        noballs, byes, legbyes, penalty}`` and ``wickets`` ``[{player_out, kind,
        fielders?: [{name, substitute?}]}]``; other keys are ignored. Raises
        DeliveryError (nothing is scored) when it is malformed, RuntimeError
        before :meth:`start_innings`.
        """
        state = self._current
        ball = _parse_delivery(delivery)
        team_wickets = sum(1 for w in ball.wickets if w.kind not in NOT_TEAM_WICKET_KINDS)
        if state.wickets + team_wickets > 10:
            raise DeliveryError("a wicket after the tenth")

        striker = self._batter(ball.batter)
        non_striker = self._batter(ball.non_striker)
        bowler = state.bowlers.get(ball.bowler)
        if bowler is None:
            bowler = state.bowlers[ball.bowler] = BowlerFigures(ball.bowler, self.balls_per_over)

        wides = ball.extras.get("wides", 0)
        noballs = ball.extras.get("noballs", 0)
        legal = not wides and not noballs
        boundary = ball.batter_runs if ball.batter_runs in (4, 6) and not ball.non_boundary else 0
        charged = ball.batter_runs + wides + noballs

        state.deliveries += 1
        state.runs += ball.total
        for kind, runs in ball.extras.items():
            state.extras[kind] += runs
        striker.runs += ball.batter_runs
        if not wides:
            striker.balls += 1
        if boundary == 4:
            striker.fours += 1
        elif boundary == 6:
            striker.sixes += 1
        bowler.runs += charged
        if legal:
            bowler.legal_balls += 1
            state.legal_balls += 1

        dismissals = []
        for wicket in ball.wickets:
            text = _dismissal(wicket, ball.bowler)
            self._batter(wicket.player_out).dismissal = text[len(wicket.player_out) + 1 :]
            if wicket.kind not in NOT_TEAM_WICKET_KINDS:
                state.wickets += 1
                dismissals.append(f"OUT! {text}")
            else:
                dismissals.append(text)
            if wicket.kind in BOWLER_WICKET_KINDS:
                bowler.wickets += 1

        # The over: a maiden needs a full over by one bowler with nothing charged.
        state.over_bowlers.add(ball.bowler)
        state.over_charged += charged
        if legal:
            state.over_legal += 1
            if state.over_legal == self.balls_per_over:
                if len(state.over_bowlers) == 1 and state.over_charged == 0:
                    bowler.maidens += 1
                state.over_legal = state.over_charged = 0
                state.over_bowlers = set()

        described = _describe(ball, boundary)
        if dismissals:
            comment = ". ".join(dismissals)
            if described != "no run":
                comment += f", {described}"
        else:
            comment = f"{ball.bowler} to {ball.batter}, {described}"

        event: dict[str, Any] = {
            "runs": ball.total,
            "batterRuns": ball.batter_runs,
            "extras": ball.extras_runs,
        }
        main_extra = next(
            (name for key, name in _EVENT_EXTRA_KIND.items() if key in ball.extras), None
        )
        if main_extra is not None:
            event["extraKind"] = main_extra
        if boundary:
            event["boundary"] = boundary
        if ball.wickets:
            wickets = [_wicket_json(wicket) for wicket in ball.wickets]
            event["wicket"] = wickets[0] if len(wickets) == 1 else wickets

        payload: dict[str, Any] = {
            f"ball {state.deliveries}": f"{state.runs}/{state.wickets}",
            "comment": comment,
            "batsman": striker.as_json(),
            "nonStriker": non_striker.as_json(),
            "bowler": bowler.as_json(),
            "innings": state.number,
            "battingTeam": state.batting_team,
            "bowlingTeam": state.bowling_team,
        }
        if state.target is not None:
            payload["target"] = state.target
        payload["superOver"] = state.super_over
        payload["overs"] = self.overs
        payload["extras"] = dict(state.extras)
        payload["event"] = event
        return payload

    def _batter(self, name: str) -> BatterFigures:
        batters = self._current.batters
        figures = batters.get(name)
        if figures is None:
            figures = batters[name] = BatterFigures(name)
        return figures


# -- reading deliveries ----------------------------------------------------------------


def _name(obj: Mapping[str, Any], key: str, where: str = "") -> str:
    label = f"{where}{key}"
    if key not in obj:
        raise DeliveryError(f"'{label}' missing")
    value = obj[key]
    if not isinstance(value, str) or not value.strip():
        raise DeliveryError(f"'{label}' must be a non-empty string")
    if len(value) > _MAX_NAME:
        raise DeliveryError(f"'{label}' is longer than {_MAX_NAME} characters")
    return value


def _runs(obj: Mapping[str, Any], key: str, where: str) -> int:
    label = f"{where}{key}"
    if key not in obj:
        raise DeliveryError(f"'{label}' missing")
    value = obj[key]
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_RUNS:
        raise DeliveryError(f"'{label}' must be an integer from 0 to {_MAX_RUNS}")
    return value


def _parse_delivery(delivery: object) -> _Delivery:
    if not isinstance(delivery, Mapping):
        raise DeliveryError("a delivery must be an object")
    batter = _name(delivery, "batter")
    bowler = _name(delivery, "bowler")
    non_striker = _name(delivery, "non_striker")
    if batter == non_striker:
        raise DeliveryError("'batter' and 'non_striker' are the same player")

    if "runs" not in delivery:
        raise DeliveryError("'runs' missing")
    runs = delivery["runs"]
    if not isinstance(runs, Mapping):
        raise DeliveryError("'runs' must be an object")
    batter_runs = _runs(runs, "batter", "runs.")
    extras_runs = _runs(runs, "extras", "runs.")
    total = _runs(runs, "total", "runs.")
    if total != batter_runs + extras_runs:
        raise DeliveryError(
            f"'runs.total' is {total}, not runs.batter + runs.extras ({batter_runs + extras_runs})"
        )

    extras: dict[str, int] = {}
    raw_extras = delivery.get("extras", {})
    if not isinstance(raw_extras, Mapping):
        raise DeliveryError("'extras' must be an object")
    for key, value in raw_extras.items():
        if key not in _EXTRA_KINDS:
            raise DeliveryError(f"'extras.{key}' is not one of {', '.join(_EXTRA_KINDS)}")
        if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= _MAX_RUNS:
            raise DeliveryError(f"'extras.{key}' must be an integer from 0 to {_MAX_RUNS}")
        if value:
            extras[key] = value
    if sum(extras.values()) != extras_runs:
        raise DeliveryError(
            f"'extras' add up to {sum(extras.values())} but 'runs.extras' is {extras_runs}"
        )
    if "wides" in extras and "noballs" in extras:
        raise DeliveryError("a delivery cannot be both a wide and a no-ball")

    non_boundary = runs.get("non_boundary", False)  # 4 or 6 runs run, not a boundary
    if not isinstance(non_boundary, bool):
        raise DeliveryError("'runs.non_boundary' must be true or false")

    raw_wickets = delivery.get("wickets", [])
    if not isinstance(raw_wickets, list):
        raise DeliveryError("'wickets' must be a list")
    if len(raw_wickets) > 2:
        raise DeliveryError("'wickets' lists more than two dismissals on one delivery")
    wickets = tuple(_parse_wicket(raw, index) for index, raw in enumerate(raw_wickets))
    if len(wickets) == 2 and wickets[0].player_out == wickets[1].player_out:
        raise DeliveryError("'wickets' dismisses the same player twice")

    return _Delivery(
        batter,
        bowler,
        non_striker,
        batter_runs,
        extras_runs,
        total,
        extras,
        non_boundary,
        wickets,
    )


def _parse_wicket(raw: object, index: int) -> _Wicket:
    where = f"wickets[{index}]."
    if not isinstance(raw, Mapping):
        raise DeliveryError(f"'wickets[{index}]' must be an object")
    player_out = _name(raw, "player_out", where)
    if "kind" not in raw:
        raise DeliveryError(f"'{where}kind' missing")
    kind = raw["kind"]
    if not isinstance(kind, str) or kind not in WICKET_KINDS:
        raise DeliveryError(f"'{where}kind' is not a known dismissal: {kind!r}")
    raw_fielders = raw.get("fielders", [])
    if not isinstance(raw_fielders, list):
        raise DeliveryError(f"'{where}fielders' must be a list")
    fielders = []
    for number, fielder in enumerate(raw_fielders):
        label = f"{where}fielders[{number}]."
        if not isinstance(fielder, Mapping):
            raise DeliveryError(f"'{label[:-1]}' must be an object")
        substitute = fielder.get("substitute", False)
        if not isinstance(substitute, bool):
            raise DeliveryError(f"'{label}substitute' must be true or false")
        if "name" in fielder:  # Cricsheet leaves out names it does not know
            fielders.append((_name(fielder, "name", label), substitute))
    return _Wicket(player_out, kind, tuple(fielders[:5]))


# -- words -----------------------------------------------------------------------------


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _describe(ball: _Delivery, boundary: int) -> str:
    """What the ball produced: ``FOUR``, ``no run``, ``wide``, ``no ball, 1 run``..."""
    parts = []
    extras = ball.extras
    if "wides" in extras:
        parts.append("wide" if extras["wides"] == 1 else _plural(extras["wides"], "wide"))
    if "noballs" in extras:
        parts.append("no ball")
    if boundary == 4:
        parts.append("FOUR")
    elif boundary == 6:
        parts.append("SIX")
    elif ball.batter_runs:
        parts.append(_plural(ball.batter_runs, "run"))
    if "byes" in extras:
        parts.append(_plural(extras["byes"], "bye"))
    if "legbyes" in extras:
        parts.append(_plural(extras["legbyes"], "leg bye"))
    if "penalty" in extras:
        parts.append(_plural(extras["penalty"], "penalty run"))
    return ", ".join(parts) or "no run"


def _fielder(name: str, substitute: bool) -> str:
    return f"sub ({name})" if substitute else name


def _dismissal(wicket: _Wicket, bowler: str) -> str:
    """The scorecard line: ``Rohit c Pant b Bumrah``, ``Rohit run out (Pant)``..."""
    names = [_fielder(name, sub) for name, sub in wicket.fielders]
    return f"{wicket.player_out} {dismissal(wicket.kind, names, bowler)}"


def _wicket_json(wicket: _Wicket) -> dict[str, Any]:
    result: dict[str, Any] = {"kind": wicket.kind, "playerOut": wicket.player_out}
    if wicket.fielders:
        result["fielders"] = [name for name, _ in wicket.fielders]
    return result


# -- files -----------------------------------------------------------------------------


def load(path: str | os.PathLike[str]) -> Replay:
    """Read a Cricsheet JSON match file; raises ReplayError if it is malformed."""
    name = os.fspath(path)
    try:
        text = Path(path).read_bytes()
    except OSError as exc:
        raise ReplayError(f"{name}: cannot read the file: {exc.strerror or exc}") from None
    try:
        document = json.loads(text)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError, UnicodeDecodeError
        raise ReplayError(f"{name}: not JSON: {exc}") from None
    try:
        return convert(document)
    except ReplayError as exc:
        raise ReplayError(f"{name}: {exc}") from None


def convert(document: object) -> Replay:
    """The replay of a parsed Cricsheet match; raises ReplayError if it is malformed."""
    if not isinstance(document, dict):
        raise ReplayError("not a Cricsheet match: the file must hold a JSON object")
    for key in ("info", "innings"):
        if key not in document:
            raise ReplayError(f"not a Cricsheet match: '{key}' missing")
    info = document["info"]
    if not isinstance(info, dict):
        raise ReplayError("'info' must be an object")
    teams = info.get("teams")
    if (
        not isinstance(teams, list)
        or len(teams) != 2
        or not all(isinstance(team, str) and team.strip() for team in teams)
        or teams[0] == teams[1]
    ):
        raise ReplayError("info: 'teams' must list the two teams' names")
    balls_per_over = info.get("balls_per_over", 6)
    if isinstance(balls_per_over, bool) or not isinstance(balls_per_over, int):
        raise ReplayError("info: 'balls_per_over' must be an integer")
    if not 1 <= balls_per_over <= 10:
        raise ReplayError("info: 'balls_per_over' must be from 1 to 10")
    limited_overs = isinstance(info.get("overs"), int)

    all_innings = document["innings"]
    if not isinstance(all_innings, list):
        raise ReplayError("'innings' must be a list")
    if not all_innings:
        raise ReplayError("'innings' is empty: nothing to replay")

    scorer = CricketScorer(balls_per_over)
    items: list[ReplayItem] = []
    totals: list[int] = []
    super_overs_before = 0
    for index, innings in enumerate(all_innings):
        number = index + 1
        where = f"innings {number}"
        if not isinstance(innings, dict):
            raise ReplayError(f"{where}: must be an object")
        batting = innings.get("team")
        if not isinstance(batting, str) or batting not in teams:
            message = "'team' missing" if batting is None else f"'team' {batting!r} is not playing"
            raise ReplayError(f"{where}: {message}")
        bowling = teams[1] if batting == teams[0] else teams[0]
        super_over = innings.get("super_over", False)
        if not isinstance(super_over, bool):
            raise ReplayError(f"{where}: 'super_over' must be true or false")
        target = _target(innings, where)
        if target is None and super_over and super_overs_before % 2 == 1:
            target = totals[-1] + 1
        elif target is None and not super_over and limited_overs and index == 1:
            target = totals[0] + 1
        if super_over:
            super_overs_before += 1
        scorer.start_innings(
            number, batting, bowling, target, super_over, penalty_runs=_pre_penalty(innings, where)
        )
        if "overs" not in innings and innings.get("forfeited") is True:
            totals.append(scorer.runs)
            continue
        for over, deliveries in _overs(innings, where):
            for position, delivery in enumerate(deliveries, start=1):
                here = f"{where}, over {over}, delivery {position}"
                try:
                    payload = scorer.deliver(delivery)
                except DeliveryError as exc:
                    raise ReplayError(f"{here}: {exc}") from None
                errors = SPORT.validate(payload, None)
                if errors:
                    problems = "; ".join(f"{e.path}: {e.reason}" for e in errors)
                    raise ReplayError(f"{here}: the update would be refused: {problems}")
                at = SECONDS_PER_DELIVERY * len(items) + INNINGS_BREAK * index
                items.append(ReplayItem(at, payload))
        totals.append(scorer.runs)
    if not items:
        raise ReplayError("no deliveries: nothing to replay")
    return Replay("cricket", _title(info, teams), items, _meta(info, teams), _outcome(info))


def _target(innings: dict[str, Any], where: str) -> int | None:
    if "target" not in innings:
        return None
    target = innings["target"]
    if not isinstance(target, dict):
        raise ReplayError(f"{where}: 'target' must be an object")
    if "runs" not in target:
        return None
    runs = target["runs"]
    if isinstance(runs, bool) or not isinstance(runs, int) or runs < 1:
        raise ReplayError(f"{where}: 'target.runs' must be a positive integer")
    return runs


def _pre_penalty(innings: dict[str, Any], where: str) -> int:
    penalty = innings.get("penalty_runs", {})
    if not isinstance(penalty, dict):
        raise ReplayError(f"{where}: 'penalty_runs' must be an object")
    pre = penalty.get("pre", 0)
    if isinstance(pre, bool) or not isinstance(pre, int) or not 0 <= pre <= _MAX_RUNS:
        raise ReplayError(f"{where}: 'penalty_runs.pre' must be an integer from 0 to {_MAX_RUNS}")
    return pre


def _overs(innings: dict[str, Any], where: str) -> list[tuple[int, list[Any]]]:
    """The innings' overs as (number, deliveries), checked for shape and order."""
    if "overs" not in innings:
        raise ReplayError(f"{where}: 'overs' missing")
    overs = innings["overs"]
    if not isinstance(overs, list):
        raise ReplayError(f"{where}: 'overs' must be a list")
    result: list[tuple[int, list[Any]]] = []
    for index, over in enumerate(overs, start=1):
        entry = f"{where}, over entry {index}"
        if not isinstance(over, dict):
            raise ReplayError(f"{entry}: must be an object")
        if "over" not in over:
            raise ReplayError(f"{entry}: 'over' missing")
        number = over["over"]
        if isinstance(number, bool) or not isinstance(number, int) or number < 0:
            raise ReplayError(f"{entry}: 'over' must be a non-negative integer")
        if result and number <= result[-1][0]:
            raise ReplayError(f"{where}, over {number}: comes after over {result[-1][0]}")
        if "deliveries" not in over:
            raise ReplayError(f"{where}, over {number}: 'deliveries' missing")
        deliveries = over["deliveries"]
        if not isinstance(deliveries, list) or not deliveries:
            raise ReplayError(f"{where}, over {number}: 'deliveries' must be a non-empty list")
        result.append((number, deliveries))
    return result


def _outcome(info: dict[str, Any]) -> str | None:
    """The result in words from Cricsheet's ``outcome``: ``Chennai Super Kings won by 5
    wickets``, ``Tie (Delhi Capitals won the eliminator)``, ``No result``; None if absent."""
    outcome = info.get("outcome")
    if not isinstance(outcome, dict):
        return None
    method = f" ({outcome['method']})" if isinstance(outcome.get("method"), str) else ""
    winner = outcome.get("winner")
    by = outcome.get("by")
    if isinstance(winner, str):
        margin = ""
        if isinstance(by, dict):
            for unit in ("runs", "wickets", "innings"):
                if isinstance(by.get(unit), int):
                    margin = f" by {_plural(by[unit], unit.rstrip('s'))}"
                    break
        return f"{winner} won{margin}{method}"
    result = outcome.get("result")
    if not isinstance(result, str):
        return None
    text = {"tie": "Tie", "draw": "Match drawn", "no result": "No result"}.get(result, result)
    eliminator = outcome.get("eliminator") or outcome.get("bowl_out")
    if isinstance(eliminator, str):
        text += f" ({eliminator} won the eliminator)"
    return text + method


def _title(info: dict[str, Any], teams: list[str]) -> str:
    """``Team A v Team B, <event name> <date>``, leaving out what the file lacks."""
    title = f"{teams[0]} v {teams[1]}"
    event = info.get("event")
    event_name = event.get("name") if isinstance(event, dict) else None
    dates = info.get("dates")
    date = dates[0] if isinstance(dates, list) and dates else None
    tail = " ".join(part for part in (event_name, date) if isinstance(part, str) and part)
    if tail:
        title += f", {tail}"
    return title[:200]


def _meta(info: dict[str, Any], teams: list[str]) -> dict[str, Any]:
    """Event fields for the gateway: the attribution and what describes the match."""
    meta: dict[str, Any] = {"source": ATTRIBUTION, "teams": list(teams)}
    for key, name in (("venue", "venue"), ("city", "city"), ("match_type", "matchType")):
        value = info.get(key)
        if isinstance(value, str) and value:
            meta[name] = value[:200]
    dates = info.get("dates")
    if isinstance(dates, list) and dates and isinstance(dates[0], str):
        meta["date"] = dates[0]
    return meta
