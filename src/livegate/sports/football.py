"""The ``football`` sport: one update per match incident, with the score after it.

Every update carries the score after the incident, so the latest update alone
(the snapshot a newcomer receives) is enough to show the scoreboard.

Schema (one JSON object per update)::

    {
      "minute": 45,
      "addedTime": 2,
      "kind": "goal",
      "team": "home",
      "player": "Kane",
      "assist": "Son",
      "score": {"home": 1, "away": 0},
      "teams": {"home": "Tottenham Hotspur", "away": "Arsenal"},
      "period": "first_half",
      "comment": "Header from a corner"
    }

Fields:

``minute`` (int 0..130, required), ``addedTime`` (int 0..30, optional)
    The match clock: ``45`` plus ``addedTime: 2`` is 45+2'. Added time is
    only allowed on the minute a period ends (45, 90, 105, 120); write 90+3'
    as ``minute: 90, addedTime: 3``, not ``minute: 93``. Incidents never go
    back in time: ``(minute, addedTime)`` (added time 0 when absent) compares
    as a pair and must be at least the previous update's, so 45+3' may be
    followed by 46' but not by 45+1'. Equal times are fine (several
    incidents in one minute). Only the minute is compared for a
    ``kick_off`` right after a ``half_time`` (the second half may kick off
    at 45' after a half-time whistle at 45+3') and in the
    ``penalty_shootout`` period (kicks written at 120' may follow 120+2').
``kind`` (required)
    ``goal``, ``own_goal``, ``penalty``, ``yellow_card``, ``red_card``,
    ``foul``, ``substitution``, ``var``, ``kick_off``, ``half_time``,
    ``full_time``. ``half_time`` ends any period but the last (also the end of
    normal time before extra time); ``full_time`` ends the match, after which
    no update is accepted.
``team`` (``"home"`` or ``"away"``)
    Required for goal, own_goal, penalty, yellow_card, red_card, foul and
    substitution; optional for var; not allowed for kick_off, half_time,
    full_time. For an own goal it is the team of the player who put the ball
    in his own net (the OTHER team scores).
``player`` (string)
    Required for goal, own_goal, penalty (the taker), yellow_card, red_card
    and foul (the player who fouled); optional for var.
``assist`` (string, goal only, optional);
``playerIn``, ``playerOut`` (strings, substitution only, required);
``outcome`` (penalty only, required): ``"scored"``, ``"missed"`` or ``"saved"``;
``decision`` (string, var only, required): free text, e.g. ``"goal disallowed"``.
``score`` (required): ``{"home": int, "away": int}``, each 0..999
    The score after the incident, checked against the previous update's
    (0-0 before the first update, or its ``startScore``): a goal or a scored
    penalty adds exactly one
    to ``team``'s count, an own goal adds one to the other team's; a ``var``
    decision may change the score by at most one goal in total (a goal
    disallowed or awarded); every other incident leaves it unchanged.
``period`` (optional)
    ``first_half``, ``second_half``, ``extra_time_first_half``,
    ``extra_time_second_half`` or ``penalty_shootout``; never goes back to an
    earlier period.
``shootout`` (``{"home": int, "away": int}``, required while ``period`` is
    ``penalty_shootout``, not allowed otherwise): the shootout tally. In the
    shootout a penalty leaves ``score`` unchanged and a scored one adds one to
    the team's shootout count instead (0-0 before the first kick).
``teams`` (optional): ``{"home": name, "away": name}``.
``comment`` (string, optional): free text.
``startScore`` (``{"home": int, "away": int}``, first update only, optional): the
    score before the first incident, for a feed that joins a match already under
    way (as a chess game may start from a position).

Any other field, or a field the kind does not use (``assist`` on a card), is
an error.
"""

from __future__ import annotations

from typing import Any, Final, TypeGuard

from livegate.sports import FieldError

__all__ = ["KINDS", "MAX_ADDED_TIME", "MAX_COUNT", "MAX_MINUTE", "PERIODS", "SIDES", "SPORT"]

MAX_MINUTE: Final = 130
MAX_ADDED_TIME: Final = 30
MAX_COUNT: Final = 999
"""The largest goal count (score and shootout tally) accepted."""
TIMELINE_COMMENT: Final = 280
"""Characters of an incident's comment kept in the match state's timeline."""
SIDES: Final = ("home", "away")
PERIODS: Final = (
    "first_half",
    "second_half",
    "extra_time_first_half",
    "extra_time_second_half",
    "penalty_shootout",
)
PERIOD_ENDS: Final = (45, 90, 105, 120)
"""The minutes at which added time is played."""
OUTCOMES: Final = ("scored", "missed", "saved")

_TEAM_KINDS: Final = frozenset(
    {"goal", "own_goal", "penalty", "yellow_card", "red_card", "foul", "substitution"}
)
_COMMON: Final = frozenset(
    {"minute", "addedTime", "kind", "score", "teams", "period", "comment", "shootout", "startScore"}
)
KINDS: Final[dict[str, tuple[frozenset[str], frozenset[str]]]] = {
    # kind: (required fields, optional fields) beyond the common ones
    "goal": (frozenset({"team", "player"}), frozenset({"assist"})),
    "own_goal": (frozenset({"team", "player"}), frozenset()),
    "penalty": (frozenset({"team", "player", "outcome"}), frozenset()),
    "yellow_card": (frozenset({"team", "player"}), frozenset()),
    "red_card": (frozenset({"team", "player"}), frozenset()),
    "foul": (frozenset({"team", "player"}), frozenset()),
    "substitution": (frozenset({"team", "playerIn", "playerOut"}), frozenset()),
    "var": (frozenset({"decision"}), frozenset({"team", "player"})),
    "kick_off": (frozenset(), frozenset()),
    "half_time": (frozenset(), frozenset()),
    "full_time": (frozenset(), frozenset()),
}
"""Each kind's required and optional fields beyond ``minute``, ``kind``, ``score``, ..."""

_KIND_FIELDS: Final = frozenset(f for req, opt in KINDS.values() for f in req | opt)
_NAMES: Final = ("player", "assist", "playerIn", "playerOut", "decision")


def _is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (``True`` is an ``int`` to Python, not to JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _other(team: object) -> str:
    return "away" if team == "home" else "home"


def _check_pair(
    value: object, path: str, errors: list[FieldError], *, counts: bool
) -> dict[str, Any] | None:
    """A ``{"home": .., "away": ..}`` object of counts (or names), or None if malformed."""
    if not isinstance(value, dict):
        errors.append(FieldError(path, "must be an object with home and away"))
        return None
    ok = True
    for key in value:
        if key not in SIDES:
            errors.append(FieldError(f"{path}.{key}", "unknown field (home or away)"))
            ok = False
    for side in SIDES:
        if side not in value:
            errors.append(FieldError(f"{path}.{side}", "required"))
            ok = False
        elif counts and (not _is_int(value[side]) or not 0 <= value[side] <= MAX_COUNT):
            errors.append(FieldError(f"{path}.{side}", f"must be an integer from 0 to {MAX_COUNT}"))
            ok = False
        elif not counts and (not isinstance(value[side], str) or not value[side].strip()):
            errors.append(FieldError(f"{path}.{side}", "must be a non-empty string"))
            ok = False
    return value if ok else None


def _check_shapes(payload: dict[str, Any], errors: list[FieldError]) -> None:
    kind = payload.get("kind")
    if "kind" not in payload:
        errors.append(FieldError("kind", "required"))
    elif not isinstance(kind, str) or kind not in KINDS:
        errors.append(FieldError("kind", f"unknown kind {kind!r} (one of {', '.join(KINDS)})"))
    # An unknown kind has no required fields and allows every kind's fields:
    # the kind error is the one worth reading.
    required, optional = KINDS.get(str(kind), (frozenset(), _KIND_FIELDS))
    for key in payload:
        if key in _COMMON or key in required or key in optional:
            continue
        if key in _KIND_FIELDS:
            errors.append(FieldError(key, f"not allowed for kind {kind!r}"))
        else:
            errors.append(FieldError(str(key), "unknown field"))
    for key in sorted(required):
        if key not in payload:
            errors.append(FieldError(key, f"required for kind {kind!r}"))

    if "minute" not in payload:
        errors.append(FieldError("minute", "required"))
    elif not _is_int(payload["minute"]) or not 0 <= payload["minute"] <= MAX_MINUTE:
        errors.append(FieldError("minute", f"must be an integer from 0 to {MAX_MINUTE}"))
    if "addedTime" in payload:
        added = payload["addedTime"]
        if not _is_int(added) or not 0 <= added <= MAX_ADDED_TIME:
            errors.append(FieldError("addedTime", f"must be an integer from 0 to {MAX_ADDED_TIME}"))
        elif added and _is_int(payload.get("minute")) and payload["minute"] not in PERIOD_ENDS:
            errors.append(
                FieldError(
                    "addedTime",
                    f"only allowed at minute 45, 90, 105 or 120 (write 90+3' as minute 90, "
                    f"addedTime 3), not at minute {payload['minute']}",
                )
            )
    if "team" in payload and payload["team"] not in SIDES:
        errors.append(FieldError("team", "must be home or away"))
    for key in _NAMES:
        if key in payload and (not isinstance(payload[key], str) or not payload[key].strip()):
            errors.append(FieldError(key, "must be a non-empty string"))
    if "outcome" in payload and payload["outcome"] not in OUTCOMES:
        errors.append(FieldError("outcome", "must be scored, missed or saved"))
    if "comment" in payload and not isinstance(payload["comment"], str):
        errors.append(FieldError("comment", "must be a string"))
    if "period" in payload and payload["period"] not in PERIODS:
        errors.append(FieldError("period", f"must be one of {', '.join(PERIODS)}"))
    if "teams" in payload:
        _check_pair(payload["teams"], "teams", errors, counts=False)
    if "score" not in payload:
        errors.append(FieldError("score", "required (the score after the incident)"))
    else:
        _check_pair(payload["score"], "score", errors, counts=True)
    if "startScore" in payload:
        _check_pair(payload["startScore"], "startScore", errors, counts=True)
    in_shootout = payload.get("period") == "penalty_shootout"
    if "shootout" in payload:
        if in_shootout:
            _check_pair(payload["shootout"], "shootout", errors, counts=True)
        else:
            errors.append(FieldError("shootout", "only allowed when period is penalty_shootout"))
    elif in_shootout:
        errors.append(FieldError("shootout", "required when period is penalty_shootout"))


def _clock(payload: dict[str, Any]) -> tuple[int, int] | None:
    minute, added = payload.get("minute"), payload.get("addedTime", 0)
    if _is_int(minute) and _is_int(added):
        return minute, added
    return None


def _format_clock(clock: tuple[int, int]) -> str:
    return f"{clock[0]}+{clock[1]}'" if clock[1] else f"{clock[0]}'"


def _pair(value: object) -> tuple[int, int] | None:
    """``(home, away)`` from a well-formed count pair, else None (reported elsewhere)."""
    if isinstance(value, dict):
        home, away = value.get("home"), value.get("away")
        if _is_int(home) and _is_int(away) and 0 <= home <= MAX_COUNT and 0 <= away <= MAX_COUNT:
            return home, away
    return None


def _expected_tally(before: tuple[int, int], team: object, scores: bool) -> tuple[int, int] | None:
    """The pair after one more goal for ``team`` if ``scores``; None if it cannot be told."""
    if not scores:
        return before
    if team == "home":
        return before[0] + 1, before[1]
    if team == "away":
        return before[0], before[1] + 1
    return None  # team is missing or invalid: already reported


def _check_pair_change(
    path: str,
    before: tuple[int, int],
    after: tuple[int, int] | None,
    expected: tuple[int, int] | None,
    why: str,
    errors: list[FieldError],
) -> None:
    if after is None or expected is None:
        return
    for index, side in enumerate(SIDES):
        if after[index] != expected[index]:
            errors.append(
                FieldError(
                    f"{path}.{side}",
                    f"expected {expected[index]} {why} (was {before[index]}), got {after[index]}",
                )
            )


def _check_sequence(
    payload: dict[str, Any], previous: dict[str, Any] | None, errors: list[FieldError]
) -> None:
    first = not previous
    previous = previous or {}
    if "startScore" in payload and not first:
        errors.append(FieldError("startScore", "only the first update may give it"))
    if previous.get("kind") == "full_time":
        errors.append(FieldError("kind", "the match already ended (full_time)"))
        return

    before = _clock(previous)
    now = _clock(payload)
    restart = payload.get("kind") == "kick_off" and previous.get("kind") == "half_time"
    in_shootout = payload.get("period") == "penalty_shootout"
    if (restart or in_shootout) and before is not None and now is not None:
        # The clock restarts at the minute the last period ended (a second
        # half kicked off at 45' after 45+3'), and in a shootout kicks are
        # written at the last minute played whatever its added time was.
        before, now = (before[0], 0), (now[0], 0)
    if before is not None and now is not None and now < before:
        errors.append(
            FieldError(
                "minute",
                f"goes back in time: {_format_clock(now)} after {_format_clock(before)}",
            )
        )
    if previous.get("period") in PERIODS and payload.get("period") in PERIODS:
        was, now_period = PERIODS.index(previous["period"]), PERIODS.index(payload["period"])
        if now_period < was:
            errors.append(
                FieldError("period", f"goes back from {previous['period']} to {payload['period']}")
            )

    kind, team = payload.get("kind"), payload.get("team")
    if not isinstance(kind, str) or kind not in KINDS:
        return  # the expected score cannot be told; the kind is reported
    if kind == "penalty" and payload.get("outcome") not in OUTCOMES:
        return  # likewise, the outcome is reported
    scored = kind == "goal" or (kind == "penalty" and payload.get("outcome") == "scored")

    start = _pair(payload.get("startScore")) if first else None
    score_before = _pair(previous.get("score")) or start or (0, 0)
    score_after = _pair(payload.get("score"))
    if kind == "var":
        if score_after is not None:
            change = sum(abs(a - b) for a, b in zip(score_after, score_before, strict=True))
            if change > 1:
                old = f"{score_before[0]}-{score_before[1]}"
                errors.append(
                    FieldError(
                        "score",
                        f"a var decision changes the score by one goal at most (was {old})",
                    )
                )
    else:
        if kind == "own_goal":
            expected = _expected_tally(score_before, _other(team) if team in SIDES else None, True)
            why = f"after an own goal by {team} ({_other(team)} scores)"
        elif scored and not in_shootout:
            expected = _expected_tally(score_before, team, True)
            why = f"after a {team} {'goal' if kind == 'goal' else 'penalty goal'}"
        else:
            expected = score_before
            why = "unchanged" if not in_shootout else "unchanged in a penalty shootout"
        _check_pair_change("score", score_before, score_after, expected, why, errors)

    if in_shootout:
        tally_before = (
            _pair(previous.get("shootout")) or (0, 0)
            if previous.get("period") == "penalty_shootout"
            else (0, 0)
        )
        shoots = kind == "penalty" and payload.get("outcome") == "scored"
        expected = _expected_tally(tally_before, team, shoots)
        why = f"after a scored {team} kick" if shoots else "unchanged"
        after = _pair(payload.get("shootout"))
        _check_pair_change("shootout", tally_before, after, expected, why, errors)


def _validate(payload: dict[str, Any], previous: dict[str, Any] | None) -> list[FieldError]:
    if not isinstance(payload, dict):
        return [FieldError("payload", "must be a JSON object")]
    errors: list[FieldError] = []
    _check_shapes(payload, errors)
    _check_sequence(payload, previous if isinstance(previous, dict) else None, errors)
    return errors


_HEADLINES: Final = {
    "goal": "GOAL",
    "own_goal": "OWN GOAL",
    "penalty": "PENALTY",
    "yellow_card": "YELLOW CARD",
    "red_card": "RED CARD",
    "foul": "FOUL",
    "substitution": "SUBSTITUTION",
    "var": "VAR",
    "kick_off": "KICK-OFF",
    "half_time": "HALF-TIME",
    "full_time": "FULL-TIME",
}


class Football:
    """Football incidents; see the module docstring for the schema."""

    name = "football"

    def fold(self, state: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        """The match so far: ``{"teams", "score", "shootout", "period",
        "timeline": [every incident, oldest first]}`` (an incident is the update
        without ``teams``/``startScore``). Goals (scorer, assist, minute, own goal or
        penalty), cards and substitutions are the timeline's incidents of those
        kinds. A match of 200 incidents is ~30 KiB."""
        match = dict(state) if state else {"timeline": []}
        incident = {k: v for k, v in payload.items() if k not in ("teams", "startScore")}
        if isinstance(incident.get("comment"), str) and len(incident["comment"]) > TIMELINE_COMMENT:
            # The snapshot keeps the whole comment; the timeline a line of it, so a long
            # match with chatty commentary stays far under the state bound.
            incident["comment"] = incident["comment"][: TIMELINE_COMMENT - 1] + "…"
        match["timeline"] = [*match.get("timeline", ()), incident]
        for key in ("teams", "score", "shootout", "period"):
            if key in payload:
                match[key] = payload[key]
        return match

    def validate(
        self, payload: dict[str, Any], previous: dict[str, Any] | None
    ) -> list[FieldError]:
        try:
            return _validate(payload, previous)
        except Exception as exc:  # a bug must not take the publisher down: report it
            return [FieldError("payload", f"could not be checked ({type(exc).__name__}: {exc})")]

    def summary(self, payload: dict[str, Any]) -> str:
        """``45+2' GOAL Kane (home) 1-0``, ``67' SUBSTITUTION Son for Kulusevski (home)``."""
        clock = _clock(payload)
        kind = payload.get("kind")
        parts = [_format_clock(clock) if clock else "?'", _HEADLINES.get(str(kind), str(kind))]
        if kind == "penalty" and isinstance(payload.get("outcome"), str):
            parts.append(payload["outcome"])
        if kind == "var" and isinstance(payload.get("decision"), str):
            parts.append(payload["decision"])
        if kind == "substitution":
            parts.append(f"{payload.get('playerIn')} for {payload.get('playerOut')}")
        elif isinstance(payload.get("player"), str):
            parts.append(payload["player"])
        if payload.get("team") in SIDES:
            parts.append(f"({payload['team']})")
        score = _pair(payload.get("score"))
        if score is not None:
            parts.append(f"{score[0]}-{score[1]}")
        shootout = _pair(payload.get("shootout"))
        if shootout is not None:
            parts.append(f"(pens {shootout[0]}-{shootout[1]})")
        return " ".join(parts)


SPORT = Football()
