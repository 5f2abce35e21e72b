"""The ``cricket`` sport: one update per ball, in the original spec's shape.

An update is a JSON object. The spec's own example is valid as it stands::

    {"ball 12": "13/1", "comment": "Bumrah has drawn the first blood",
     "batsman": {"name": "rohit", "runs": "100", "balls": "96"},
     "bowler": {"name": "yuvi", "overs": "3.6", "runs": "10", "maiden": "1", "wickets": "2"}}

A full update, as the Cricsheet replay sends it (Mumbai Indians v Delhi
Capitals, IPL 2025-04-13, the 31st delivery of the first innings)::

    {
      "ball 31": "47/1",
      "comment": "OUT! RG Sharma lbw b V Nigam",
      "batsman": {"name": "RG Sharma", "runs": 18, "balls": 12, "fours": 2, "sixes": 1},
      "nonStriker": {"name": "RD Rickelton", "runs": 28, "balls": 18, "fours": 4, "sixes": 1},
      "bowler": {"name": "V Nigam", "overs": "1.0", "runs": 2, "maiden": 0, "wickets": 1},
      "innings": 1,
      "battingTeam": "Mumbai Indians",
      "bowlingTeam": "Delhi Capitals",
      "superOver": false,
      "overs": "5.0",
      "extras": {"wides": 1, "noballs": 0, "byes": 0, "legbyes": 0, "penalty": 0},
      "event": {"runs": 0, "batterRuns": 0, "extras": 0,
                "wicket": {"kind": "lbw", "playerOut": "RG Sharma"}}
    }

In a chase the update also has ``"target": 206``; a ball with extras has
``"extraKind"`` in its ``event`` (``{"runs": 5, "batterRuns": 0, "extras": 5,
"extraKind": "wide"}``), a boundary ``"boundary": 4``, a catch ``"fielders":
["WG Jacks"]`` in its ``wicket``.

Fields (a *count* is a non-negative integer, given as a JSON integer or as a
string of digits such as ``"100"``, at most 99999; *overs* are ``"O.B"``, see
below):

``ball N`` (required, exactly one such key)
    ``N`` is a positive integer without leading zeros: the delivery's number in
    the innings, counting every delivery (wides and no-balls too). The value is
    the innings score after the ball as ``"runs/wickets"``, wickets 0 to 10.
``comment`` (optional)
    A line of commentary, at most 1000 characters.
``batsman`` (required)
    The striker on this ball, figures after it: ``name`` (non-empty string),
    ``runs`` and ``balls`` (counts; balls faced: wides are not, no-balls are),
    optional ``fours`` and ``sixes`` (counts).
``bowler`` (required)
    ``name``, ``overs`` (legal balls bowled), ``runs`` (conceded: wides, no-balls
    and runs off the bat; not byes, leg-byes or penalty runs), ``maiden`` (count
    of maiden overs, no more than the completed overs) and ``wickets`` (0 to 10,
    the dismissals credited to the bowler: not run outs, retirements or
    obstructing the field).
``nonStriker`` (optional)
    The other batter, same fields as ``batsman``; a different name.
``innings`` (optional)
    The innings number, a count from 1 (super overs continue the numbering).
``battingTeam``, ``bowlingTeam`` (optional)
    Non-empty strings, different from each other.
``target`` (optional)
    Runs the batting side needs to win (a count from 1), in a chasing innings.
``superOver`` (optional)
    JSON boolean: this innings is a super over.
``overs`` (optional)
    The innings' overs, legal balls only.
``extras`` (optional)
    Innings totals so far, every member optional: ``wides``, ``noballs``,
    ``byes``, ``legbyes``, ``penalty`` (counts; together no more than the score's
    runs).
``event`` (optional)
    What happened on this ball: ``runs`` (total off the ball), ``batterRuns``
    (off the bat), ``extras`` (count), ``extraKind`` (the main kind when extras
    were conceded: ``wide``, ``noball``, ``bye``, ``legbye`` or ``penalty``;
    required when ``extras`` > 0), ``boundary`` (4 or 6 when the batter hit a
    boundary; equals ``batterRuns``), ``wicket`` (an object ``{kind, playerOut,
    fielders}``, or for the rare ball with two dismissals a list of two). Every
    member is optional; given together, ``runs`` = ``batterRuns`` + ``extras``.
    ``kind`` is one of: bowled, caught, caught and bowled, lbw, run out, stumped,
    hit wicket, retired hurt, retired not out, retired out, obstructing the
    field, handled the ball, hit the ball twice, timed out. ``playerOut`` is a
    name; ``fielders`` an optional list of names.

**Status updates** (no ball bowled): ``{"kind": "toss", "comment": "Mumbai
Indians won the toss and chose to bat"}``. ``kind`` is one of ``toss``,
``innings_break``, ``delay`` (rain, bad light), ``resumed``, ``stumps``,
``result``, ``note``; ``comment`` is required (1 to 1000 characters); no ``ball
N``, ``batsman``, ``nonStriker``, ``bowler``, ``extras`` or ``event``. Optional:
``battingTeam``, ``bowlingTeam``, ``innings``, ``target``, ``overs`` and
``score`` (the innings score, ``"runs/wickets"``), as on a ball. Its summary is
``Innings break: Mumbai Indians 205/6: Delhi Capitals need 206 to win`` (the kind,
the team and score when given, the comment).

Overs ``"O.B"``: ``O`` completed overs and ``B`` further legal balls. ``B`` is
normally 0 to 5 and the replay always sends that form (``"4.0"`` after the
fourth over), but ``B = 6`` is accepted too because scoreboards and the spec's
own example (``"3.6"``) label balls that way: ``"3.6"`` is the sixth ball of the
fourth over, the same as ``"4.0"``. ``B = 7`` and more never are (an over has
six legal balls; extra deliveries do not count). A plain count (``"4"``, ``4``)
means whole overs; a JSON number such as ``3.6`` is read like the string.

Unknown top-level fields are allowed (for forward compatibility); inside
``batsman``, ``nonStriker``, ``bowler``, ``extras``, ``event`` and ``wicket``
they are refused, to catch typos such as ``maidens``. Numbers are not checked against
each other across objects (the spec's own example has 24 legal balls for the
bowler at ball 12), only within one: a bowler's maidens, a batter's boundaries,
an event's runs.

Every problem is reported, each with a dotted path (``bowler.overs``,
``event.wicket.fielders[0]``, ``ball 12``) and a reason.

The summary line reads ``Mumbai Indians 47/1 (5.0 ov) RG Sharma 18 (12), V Nigam
1-2: OUT! RG Sharma lbw b V Nigam``: team and score, then in brackets the overs,
target and super over when the update has them, the striker (``*`` while not
out), the bowler's wickets-runs and the comment. For the spec's example it is
``13/1 Rohit 100* (96), Yuvi 2-10: Bumrah has drawn the first blood`` (an
all-lowercase name is capitalised; the bowler's overs are not the innings').
"""

from __future__ import annotations

import math
import re
from typing import Any, Final

from livegate.sports import FieldError

__all__ = [
    "BOWLER_WICKET_KINDS",
    "EXTRA_KINDS",
    "NOT_TEAM_WICKET_KINDS",
    "SPORT",
    "STATUS_KINDS",
    "WICKET_KINDS",
    "Cricket",
    "dismissal",
    "format_overs",
    "parse_overs",
]

MAX_COUNT: Final = 99_999
MAX_NAME: Final = 100
MAX_COMMENT: Final = 1000
MAX_FIELDERS: Final = 5

WICKET_KINDS: Final = frozenset(
    {
        "bowled",
        "caught",
        "caught and bowled",
        "lbw",
        "run out",
        "stumped",
        "hit wicket",
        "retired hurt",
        "retired not out",
        "retired out",
        "obstructing the field",
        "handled the ball",
        "hit the ball twice",
        "timed out",
    }
)
"""Every dismissal kind (Cricsheet's words)."""

BOWLER_WICKET_KINDS: Final = frozenset(
    {"bowled", "caught", "caught and bowled", "lbw", "stumped", "hit wicket"}
)
"""The dismissals credited to the bowler."""

NOT_TEAM_WICKET_KINDS: Final = frozenset({"retired hurt", "retired not out"})
"""Kinds that are not a wicket for the batting side (the batter may come back)."""

EXTRA_KINDS: Final = ("wide", "noball", "bye", "legbye", "penalty")
INNINGS_EXTRAS: Final = ("wides", "noballs", "byes", "legbyes", "penalty")

STATUS_KINDS: Final = {
    "toss": "Toss",
    "innings_break": "Innings break",
    "delay": "Delay",
    "resumed": "Resumed",
    "stumps": "Stumps",
    "result": "Result",
    "note": "Note",
}
"""Updates that are not a ball, and how their summary names them."""
_BALL_ONLY: Final = ("batsman", "nonStriker", "bowler", "extras", "event")

_BALL_KEY = re.compile(r"ball ([1-9][0-9]{0,5})")
_BALL_LIKE = re.compile(r"(?i)ball(?:\s.*|[0-9#:-].*)?", re.DOTALL)
_SCORE = re.compile(r"([0-9]{1,5})/([0-9]{1,2})")
_OVERS = re.compile(r"([0-9]{1,4})(?:\.([0-9]))?")
_DIGITS = re.compile(r"[0-9]{1,6}")

_BATTER_FIELDS: Final = ("name", "runs", "balls", "fours", "sixes")
_BOWLER_FIELDS: Final = ("name", "overs", "runs", "maiden", "wickets")
_EVENT_FIELDS: Final = ("runs", "batterRuns", "extras", "extraKind", "boundary", "wicket")
_WICKET_FIELDS: Final = ("kind", "playerOut", "fielders")
_HINTS: Final = {
    "maidens": "maiden",
    "wicket": "wickets",
    "batter": "batsman",
    "ballsFaced": "balls",
    "player_out": "playerOut",
    "non_striker": "nonStriker",
    "batter_runs": "batterRuns",
}


def parse_overs(value: object) -> tuple[int, int] | None:
    """``(overs, balls)`` from ``"O.B"``, a count or a JSON number; None if invalid.

    ``B`` may be 0 to 6 (``"3.6"`` is the same as ``"4.0"``, see the module notes).
    """
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return (value, 0) if 0 <= value <= MAX_COUNT else None
    if isinstance(value, float):
        if not math.isfinite(value) or value < 0:
            return None
        value = repr(value)
    if not isinstance(value, str):
        return None
    match = _OVERS.fullmatch(value)
    if match is None:
        return None
    overs, balls = int(match[1]), int(match[2] or 0)
    if balls > 6:
        return None
    return overs, balls


def format_overs(legal_balls: int, balls_per_over: int = 6) -> str:
    """``"O.B"`` for a number of legal balls (``B`` below ``balls_per_over``)."""
    return f"{legal_balls // balls_per_over}.{legal_balls % balls_per_over}"


def _count(value: object) -> int | None:
    """A count from an int or a string of ASCII digits; None if it is neither."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if 0 <= value <= MAX_COUNT else None
    if isinstance(value, str) and _DIGITS.fullmatch(value):
        number = int(value)
        return number if number <= MAX_COUNT else None
    return None


class _Checker:
    """Collects FieldErrors while walking a payload."""

    def __init__(self) -> None:
        self.errors: list[FieldError] = []

    def add(self, path: str, reason: str) -> None:
        self.errors.append(FieldError(path, reason))

    def object(self, value: object, path: str) -> dict[str, Any] | None:
        if isinstance(value, dict):
            return value
        self.add(path, "must be an object")
        return None

    def unknown(self, obj: dict[str, Any], allowed: tuple[str, ...], path: str) -> None:
        for key in obj:
            if key not in allowed:
                hint = _HINTS.get(str(key))
                reason = f"unknown field (did you mean '{hint}'?)" if hint else "unknown field"
                self.add(f"{path}.{key}", f"{reason}; allowed: {', '.join(allowed)}")

    def count(
        self,
        obj: dict[str, Any],
        key: str,
        path: str,
        *,
        required: bool,
        minimum: int = 0,
        maximum: int = MAX_COUNT,
    ) -> int | None:
        field = f"{path}.{key}" if path else key
        if key not in obj:
            if required:
                self.add(field, "missing")
            return None
        number = _count(obj[key])
        if number is None:
            self.add(
                field,
                f"must be a non-negative integer or a string of digits, at most {MAX_COUNT}",
            )
            return None
        if not minimum <= number <= maximum:
            self.add(field, f"must be from {minimum} to {maximum}")
            return None
        return number

    def text(
        self, obj: dict[str, Any], key: str, path: str, *, required: bool, maximum: int = MAX_NAME
    ) -> str | None:
        field = f"{path}.{key}" if path else key
        if key not in obj:
            if required:
                self.add(field, "missing")
            return None
        value = obj[key]
        if not isinstance(value, str) or not value.strip():
            self.add(field, "must be a non-empty string")
            return None
        if len(value) > maximum:
            self.add(field, f"must be at most {maximum} characters")
            return None
        return value

    def overs(self, obj: dict[str, Any], key: str, path: str, *, required: bool) -> int | None:
        """The overs as a number of legal balls (B = 6 counted as a full over)."""
        field = f"{path}.{key}" if path else key
        if key not in obj:
            if required:
                self.add(field, "missing")
            return None
        parsed = parse_overs(obj[key])
        if parsed is None:
            self.add(
                field,
                "must be overs as 'O.B' (completed overs, then legal balls 0 to 5; "
                "6 is read as the last ball of the next over), e.g. '3.4'",
            )
            return None
        return parsed[0] * 6 + parsed[1]


class Cricket:
    """Validation and summaries for cricket updates (see the module docstring)."""

    name = "cricket"

    def validate(
        self, payload: dict[str, Any], previous: dict[str, Any] | None
    ) -> list[FieldError]:
        check = _Checker()
        if not isinstance(payload, dict):
            check.add("payload", "a cricket update must be a JSON object")
            return check.errors
        if _status_kind(payload) is not None:
            return self._status(payload, check)
        if "kind" in payload and not any(_BALL_KEY.fullmatch(str(k)) for k in payload):
            check.add("kind", f"a status update's kind is one of {', '.join(STATUS_KINDS)}")
            return check.errors
        score_runs = self._ball(payload, check)
        if "comment" in payload:
            check.text(payload, "comment", "", required=False, maximum=MAX_COMMENT)
        batsman = self._batter(payload, "batsman", check, required=True)
        non_striker = self._batter(payload, "nonStriker", check, required=False)
        if batsman is not None and batsman == non_striker:
            check.add("nonStriker.name", "must differ from batsman.name")
        self._bowler(payload, check)
        check.count(payload, "innings", "", required=False, minimum=1, maximum=99)
        batting = check.text(payload, "battingTeam", "", required=False)
        bowling = check.text(payload, "bowlingTeam", "", required=False)
        if batting is not None and batting == bowling:
            check.add("bowlingTeam", "must differ from battingTeam")
        check.count(payload, "target", "", required=False, minimum=1)
        if "superOver" in payload and not isinstance(payload["superOver"], bool):
            check.add("superOver", "must be true or false")
        check.overs(payload, "overs", "", required=False)
        self._extras(payload, check, score_runs)
        self._event(payload, check)
        return check.errors

    @staticmethod
    def _status(payload: dict[str, Any], check: _Checker) -> list[FieldError]:
        """A status update (toss, innings break, delay...): no ball, a comment."""
        for key in payload:
            if isinstance(key, str) and (_BALL_KEY.fullmatch(key) or key in _BALL_ONLY):
                check.add(key, "not allowed on a status update (no ball was bowled)")
        check.text(payload, "comment", "", required=True, maximum=MAX_COMMENT)
        batting = check.text(payload, "battingTeam", "", required=False)
        bowling = check.text(payload, "bowlingTeam", "", required=False)
        if batting is not None and batting == bowling:
            check.add("bowlingTeam", "must differ from battingTeam")
        check.count(payload, "innings", "", required=False, minimum=1, maximum=99)
        check.count(payload, "target", "", required=False, minimum=1)
        check.overs(payload, "overs", "", required=False)
        if "score" in payload:
            score = payload["score"]
            if not (isinstance(score, str) and _SCORE.fullmatch(score)):
                check.add("score", "must be the innings score as 'runs/wickets', e.g. '205/6'")
        return check.errors

    @staticmethod
    def _ball(payload: dict[str, Any], check: _Checker) -> int | None:
        """Check the ``ball N`` key; the score's runs when valid."""
        keys = [key for key in payload if isinstance(key, str)]
        ball_keys = [key for key in keys if _BALL_KEY.fullmatch(key)]
        for key in keys:
            if key not in ball_keys and _BALL_LIKE.fullmatch(key):
                check.add(
                    key, "a ball key must be 'ball N' with N a positive integer, e.g. 'ball 12'"
                )
        if not ball_keys:
            check.add(
                "ball N",
                "missing: exactly one 'ball N' key (N a positive integer) carries the score",
            )
            return None
        if len(ball_keys) > 1:
            for key in ball_keys:
                check.add(key, f"only one 'ball N' key is allowed, found {len(ball_keys)}")
        runs = None
        for key in ball_keys:
            value = payload[key]
            match = _SCORE.fullmatch(value) if isinstance(value, str) else None
            if match is None:
                check.add(key, "must be the score as 'runs/wickets', e.g. '13/1'")
            elif int(match[2]) > 10:
                check.add(key, "wickets must be from 0 to 10")
            else:
                runs = int(match[1])
        return runs

    @staticmethod
    def _batter(
        payload: dict[str, Any], key: str, check: _Checker, *, required: bool
    ) -> str | None:
        """Check a batter object; its name when valid."""
        if key not in payload:
            if required:
                check.add(key, "missing")
            return None
        batter = check.object(payload[key], key)
        if batter is None:
            return None
        check.unknown(batter, _BATTER_FIELDS, key)
        name = check.text(batter, "name", key, required=True)
        runs = check.count(batter, "runs", key, required=True)
        check.count(batter, "balls", key, required=True)
        fours = check.count(batter, "fours", key, required=False)
        sixes = check.count(batter, "sixes", key, required=False)
        if runs is not None and 4 * (fours or 0) + 6 * (sixes or 0) > runs:
            check.add(f"{key}.runs", "is less than the fours and sixes make")
        return name

    @staticmethod
    def _bowler(payload: dict[str, Any], check: _Checker) -> None:
        if "bowler" not in payload:
            check.add("bowler", "missing")
            return
        bowler = check.object(payload["bowler"], "bowler")
        if bowler is None:
            return
        check.unknown(bowler, _BOWLER_FIELDS, "bowler")
        check.text(bowler, "name", "bowler", required=True)
        balls = check.overs(bowler, "overs", "bowler", required=True)
        check.count(bowler, "runs", "bowler", required=True)
        maidens = check.count(bowler, "maiden", "bowler", required=True)
        check.count(bowler, "wickets", "bowler", required=True, maximum=10)
        if balls is not None and maidens is not None and maidens > balls // 6:
            check.add("bowler.maiden", f"more maidens than completed overs ({balls // 6})")

    @staticmethod
    def _extras(payload: dict[str, Any], check: _Checker, score_runs: int | None) -> None:
        if "extras" not in payload:
            return
        extras = check.object(payload["extras"], "extras")
        if extras is None:
            return
        check.unknown(extras, INNINGS_EXTRAS, "extras")
        total = 0
        for key in INNINGS_EXTRAS:
            total += check.count(extras, key, "extras", required=False) or 0
        if score_runs is not None and total > score_runs:
            check.add("extras", f"add up to {total}, more than the score's {score_runs} runs")

    @staticmethod
    def _event(payload: dict[str, Any], check: _Checker) -> None:
        if "event" not in payload:
            return
        event = check.object(payload["event"], "event")
        if event is None:
            return
        check.unknown(event, _EVENT_FIELDS, "event")
        runs = check.count(event, "runs", "event", required=False, maximum=99)
        batter_runs = check.count(event, "batterRuns", "event", required=False, maximum=99)
        extras = check.count(event, "extras", "event", required=False, maximum=99)
        if (
            runs is not None
            and batter_runs is not None
            and extras is not None
            and runs != batter_runs + extras
        ):
            check.add("event.runs", f"must equal batterRuns + extras ({batter_runs + extras})")
        kind = event.get("extraKind")
        if "extraKind" in event and kind not in EXTRA_KINDS:
            check.add("event.extraKind", f"must be one of: {', '.join(EXTRA_KINDS)}")
            kind = None
        if kind is not None and extras == 0:
            check.add("event.extras", "must be at least 1 when extraKind is given")
        if "extraKind" not in event and extras:
            check.add("event.extraKind", "required when extras were conceded")
        if kind in ("wide", "bye", "legbye") and batter_runs:
            check.add("event.batterRuns", f"a {kind} gives the batter no runs")
        if "boundary" in event:
            boundary = _count(event["boundary"])
            if boundary not in (4, 6):
                check.add("event.boundary", "must be 4 or 6")
            elif batter_runs is not None and batter_runs != boundary:
                check.add("event.boundary", f"does not match batterRuns ({batter_runs})")
        if "wicket" in event:
            wicket = event["wicket"]
            if isinstance(wicket, list):
                if not 1 <= len(wicket) <= 2:
                    check.add("event.wicket", "a list of wickets has one or two entries")
                for index, one in enumerate(wicket[:2]):
                    Cricket._wicket(one, f"event.wicket[{index}]", check)
            else:
                Cricket._wicket(wicket, "event.wicket", check)

    @staticmethod
    def _wicket(value: object, path: str, check: _Checker) -> None:
        wicket = check.object(value, path)
        if wicket is None:
            return
        check.unknown(wicket, _WICKET_FIELDS, path)
        if "kind" not in wicket:
            check.add(f"{path}.kind", "missing")
        elif not isinstance(wicket["kind"], str) or wicket["kind"] not in WICKET_KINDS:
            check.add(f"{path}.kind", f"must be one of: {', '.join(sorted(WICKET_KINDS))}")
        check.text(wicket, "playerOut", path, required=True)
        if "fielders" in wicket:
            fielders = wicket["fielders"]
            if not isinstance(fielders, list) or len(fielders) > MAX_FIELDERS:
                check.add(f"{path}.fielders", f"must be a list of at most {MAX_FIELDERS} names")
                return
            for index, fielder in enumerate(fielders):
                if not isinstance(fielder, str) or not fielder.strip() or len(fielder) > MAX_NAME:
                    check.add(
                        f"{path}.fielders[{index}]",
                        f"must be a non-empty string of at most {MAX_NAME} characters",
                    )

    def fold(self, state: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        """The scorecard so far (see :mod:`livegate.sports.cricket_state`)."""
        from livegate.sports.cricket_state import fold

        return fold(state, payload)

    def summary(self, payload: dict[str, Any]) -> str:
        """E.g. ``Mumbai Indians 21/1 (1.5 ov) RG Sharma 18 (12), V Nigam 1-0: OUT! ...``.

        The overs part appears only when the update has ``overs`` (the spec's shape
        has none); a batter's ``*`` means not out.
        """
        kind = _status_kind(payload)
        if kind is not None:
            head = STATUS_KINDS[kind]
            team, score = payload.get("battingTeam"), payload.get("score")
            if isinstance(score, str):
                head += f": {team} {score}" if isinstance(team, str) else f": {score}"
            return f"{head}: {payload.get('comment', '')}"
        score = next(
            (str(value) for key, value in payload.items() if _BALL_KEY.fullmatch(str(key))), "?"
        )
        head = score
        if isinstance(team := payload.get("battingTeam"), str):
            head = f"{team} {score}"
        notes = []
        if "overs" in payload:
            notes.append(f"{payload['overs']} ov")
        if "target" in payload:
            notes.append(f"target {payload['target']}")
        if payload.get("superOver") is True:
            notes.append("super over")
        if notes:
            head += f" ({', '.join(notes)})"
        parts = [head]
        batsman = payload.get("batsman")
        if isinstance(batsman, dict):
            name = str(batsman.get("name", "?"))
            star = "" if name in _players_out(payload) else "*"
            parts.append(
                f"{_display(name)} {batsman.get('runs', '?')}{star} ({batsman.get('balls', '?')})"
            )
        line = " ".join(parts)
        bowler = payload.get("bowler")
        if isinstance(bowler, dict):
            line += (
                f", {_display(str(bowler.get('name', '?')))} "
                f"{bowler.get('wickets', '?')}-{bowler.get('runs', '?')}"
            )
        comment = payload.get("comment")
        if isinstance(comment, str) and comment:
            line += f": {comment[:120]}"
        return line


def dismissal(kind: str, fielders: list[str], bowler: str) -> str:
    """How a batter was out, as a scorecard writes it after the name: ``b Bumrah``,
    ``c Pant b Bumrah``, ``run out (Pant/Jadeja)``, ``retired hurt``..."""
    if kind == "bowled":
        return f"b {bowler}"
    if kind in ("lbw", "hit wicket"):
        return f"{kind} b {bowler}"
    if kind == "caught and bowled":
        return f"c & b {bowler}"
    if kind == "caught":
        return f"c {fielders[0]} b {bowler}" if fielders else f"caught b {bowler}"
    if kind == "stumped":
        return f"st {fielders[0]} b {bowler}" if fielders else f"stumped b {bowler}"
    if kind == "run out":
        return f"run out ({'/'.join(fielders)})" if fielders else "run out"
    return kind


def _status_kind(payload: dict[str, Any]) -> str | None:
    """The ``kind`` of a status update (toss, innings break...), or None for a ball."""
    kind = payload.get("kind")
    return kind if isinstance(kind, str) and kind in STATUS_KINDS else None


def _players_out(payload: dict[str, Any]) -> set[str]:
    event = payload.get("event")
    wicket = event.get("wicket") if isinstance(event, dict) else None
    wickets = wicket if isinstance(wicket, list) else [wicket]
    return {
        str(one.get("playerOut"))
        for one in wickets
        if isinstance(one, dict) and str(one.get("kind")) not in NOT_TEAM_WICKET_KINDS
    }


def _display(name: str) -> str:
    """A name as written, but an all-lowercase one (``rohit``) capitalised."""
    if name.islower():
        return " ".join(word[:1].upper() + word[1:] for word in name.split(" "))
    return name


SPORT = Cricket()
