"""The football sport and the JSON timeline replay converter (pure: no server)."""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import pytest

from livegate.replay import ReplayError
from livegate.replay import timeline as timeline_module
from livegate.replay.timeline import load, loads
from livegate.sports import FieldError, get_sport, known_sports
from livegate.sports import football as football_sport
from livegate.sports.football import SPORT
from tests.sport_helpers import check_sequence as shared_check_sequence
from tests.sport_helpers import docstring_example, paths

TEAMS = {"home": "Arsenal", "away": "Chelsea"}

# A realistic league match written as a person would: no running score.
TIMELINE: dict[str, Any] = {
    "home": "Arsenal",
    "away": "Chelsea",
    "meta": {"competition": "Premier League", "venue": "Emirates Stadium"},
    "incidents": [
        {"minute": 1, "kind": "kick_off", "period": "first_half"},
        {"minute": 9, "kind": "foul", "team": "away", "player": "Caicedo"},
        {"minute": 9, "kind": "yellow_card", "team": "away", "player": "Caicedo"},
        {"minute": 23, "kind": "goal", "team": "home", "player": "Saka", "assist": "Odegaard"},
        {"minute": 34, "kind": "penalty", "team": "away", "player": "Palmer", "outcome": "saved"},
        {"minute": 45, "addedTime": 2, "kind": "goal", "team": "away", "player": "Jackson"},
        {"minute": 45, "addedTime": 4, "kind": "half_time"},
        {"minute": 46, "kind": "kick_off", "period": "second_half"},
        {"minute": 46, "kind": "substitution", "team": "home", "playerIn": "Trossard",
         "playerOut": "Martinelli"},
        {"minute": 58, "kind": "own_goal", "team": "away", "player": "Colwill"},
        {"minute": 67, "kind": "goal", "team": "away", "player": "Palmer"},
        {"minute": 69, "kind": "var", "decision": "goal disallowed for offside", "team": "away",
         "score": {"home": 2, "away": 1}},
        {"minute": 75, "kind": "red_card", "team": "away", "player": "Cucurella",
         "comment": "second yellow"},
        {"minute": 88, "kind": "penalty", "team": "home", "player": "Saka", "outcome": "scored"},
        {"minute": 90, "addedTime": 3, "kind": "penalty", "team": "away", "player": "Palmer",
         "outcome": "missed"},
        {"minute": 90, "addedTime": 6, "kind": "full_time"},
    ],
}  # fmt: skip


def incident(minute: int, kind: str, home: int = 0, away: int = 0, **extra: Any) -> dict[str, Any]:
    return {"minute": minute, "kind": kind, "score": {"home": home, "away": away}, **extra}


def check_sequence(payloads: list[dict[str, Any]]) -> None:
    shared_check_sequence(SPORT, payloads)


def write(tmp_path: Path, document: object) -> Path:
    path = tmp_path / "match.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


# -- the sport ---------------------------------------------------------------------


def test_registered() -> None:
    assert "football" in known_sports()
    assert get_sport("football") is SPORT


def test_docstring_examples_are_valid() -> None:
    example = docstring_example(football_sport.__doc__)
    assert SPORT.validate(example, None) == []
    assert SPORT.summary(example) == "45+2' GOAL Kane (home) 1-0"


def test_score_goes_up_by_one_for_the_scorer() -> None:
    goal = incident(23, "goal", 1, 0, team="home", player="Saka")
    assert SPORT.validate(goal, None) == []
    errors = SPORT.validate(dict(goal, score={"home": 0, "away": 0}), None)
    assert paths(errors) == ["score.home"]
    assert "expected 1 after a home goal (was 0), got 0" in errors[0].reason
    assert paths(SPORT.validate(dict(goal, score={"home": 2, "away": 0}), None)) == ["score.home"]
    assert paths(SPORT.validate(dict(goal, score={"home": 0, "away": 1}), None)) == [
        "score.home",
        "score.away",
    ]
    second = incident(30, "goal", 1, 1, team="away", player="Palmer")
    assert SPORT.validate(second, goal) == []


def test_own_goal_counts_for_the_other_team() -> None:
    own = incident(58, "own_goal", 0, 1, team="home", player="Gabriel")
    assert SPORT.validate(own, None) == []
    errors = SPORT.validate(dict(own, score={"home": 1, "away": 0}), None)
    assert paths(errors) == ["score.home", "score.away"]
    assert "own goal by home (away scores)" in errors[1].reason


def test_penalty_outcomes() -> None:
    scored = incident(88, "penalty", 1, 0, team="home", player="Saka", outcome="scored")
    assert SPORT.validate(scored, None) == []
    for outcome in ("missed", "saved"):
        missed = dict(scored, outcome=outcome, score={"home": 0, "away": 0})
        assert SPORT.validate(missed, None) == []
        assert paths(SPORT.validate(dict(missed, score={"home": 1, "away": 0}), None)) == [
            "score.home"
        ]
    assert paths(SPORT.validate({k: v for k, v in scored.items() if k != "outcome"}, None)) == [
        "outcome"
    ]
    assert paths(SPORT.validate(dict(scored, outcome="in"), None)) == ["outcome"]


def test_other_incidents_leave_the_score_alone() -> None:
    before = incident(20, "goal", 1, 0, team="home", player="Saka")
    for kind, extra in [
        ("foul", {"team": "away", "player": "Caicedo"}),
        ("yellow_card", {"team": "away", "player": "Caicedo"}),
        ("red_card", {"team": "home", "player": "Rice"}),
        ("substitution", {"team": "home", "playerIn": "Havertz", "playerOut": "Jesus"}),
        ("half_time", {}),
        ("kick_off", {}),
    ]:
        same = incident(30, kind, 1, 0, **extra)
        assert SPORT.validate(same, before) == [], kind
        changed = incident(30, kind, 1, 1, **extra)
        errors = SPORT.validate(changed, before)
        assert paths(errors) == ["score.away"], kind
        assert "expected 0 unchanged (was 0), got 1" in errors[0].reason


def test_var_may_change_the_score_by_one_goal() -> None:
    before = incident(67, "goal", 1, 1, team="away", player="Palmer")
    disallowed = incident(69, "var", 1, 0, decision="goal disallowed", team="away")
    assert SPORT.validate(disallowed, before) == []
    assert SPORT.validate(incident(69, "var", 1, 1, decision="goal stands"), before) == []
    assert SPORT.validate(incident(69, "var", 2, 1, decision="goal awarded"), before) == []
    errors = SPORT.validate(incident(69, "var", 0, 0, decision="both disallowed"), before)
    assert paths(errors) == ["score"]
    assert paths(SPORT.validate(incident(69, "var", 1, 1), before)) == ["decision"]


def test_minute_never_goes_backwards() -> None:
    def at(minute: int, added: int = 0) -> dict[str, Any]:
        data = incident(minute, "foul", team="home", player="Rice")
        if added:
            data["addedTime"] = added
        return data

    assert SPORT.validate(at(31), at(31)) == []  # same minute is fine
    assert SPORT.validate(at(46), at(45, 3)) == []
    assert SPORT.validate(at(45, 4), at(45, 3)) == []
    assert SPORT.validate(at(91), at(90, 7)) == []
    # The second half may kick off at 45' after a half-time whistle at 45+3'.
    whistle = incident(45, "half_time", addedTime=3)
    assert SPORT.validate(incident(45, "kick_off"), whistle) == []
    assert paths(SPORT.validate(incident(44, "kick_off"), whistle)) == ["minute"]
    assert paths(SPORT.validate(at(45), whistle)) == ["minute"]
    for now, before in [(at(30), at(31)), (at(45, 1), at(45, 3)), (at(45), at(45, 1))]:
        errors = SPORT.validate(now, before)
        assert paths(errors) == ["minute"]
    errors = SPORT.validate(at(45, 1), at(45, 3))
    assert errors[0].reason == "goes back in time: 45+1' after 45+3'"


def test_minute_and_added_time_ranges() -> None:
    for minute in (-1, 131, "12", 12.0, True, None):
        assert paths(SPORT.validate(incident(0, "kick_off") | {"minute": minute}, None)) == [
            "minute"
        ]
    assert SPORT.validate(incident(0, "kick_off"), None) == []
    assert SPORT.validate(incident(130, "foul", team="home", player="Rice"), None) == []
    for added in (-1, 31, "2", 1.5, False):
        data = incident(90, "foul", team="home", player="Rice", addedTime=added)
        assert paths(SPORT.validate(data, None)) == ["addedTime"], added
    for end in (45, 90, 105, 120):
        data = incident(end, "foul", team="home", player="Rice", addedTime=3)
        assert SPORT.validate(data, None) == []
    errors = SPORT.validate(incident(93, "foul", team="home", player="Rice", addedTime=1), None)
    assert paths(errors) == ["addedTime"]
    assert "minute 90, addedTime 3" in errors[0].reason


def test_unknown_kind() -> None:
    errors = SPORT.validate(incident(10, "goall", 1, 0, team="home", player="Saka"), None)
    assert paths(errors) == ["kind"]
    assert errors[0].reason.startswith("unknown kind 'goall'")
    assert paths(SPORT.validate(incident(10, "kick_off") | {"kind": 3}, None)) == ["kind"]
    no_kind = incident(10, "x")
    del no_kind["kind"]
    assert paths(SPORT.validate(no_kind, None)) == ["kind"]


def test_fields_per_kind() -> None:
    cases: list[tuple[dict[str, Any], list[str]]] = [
        (incident(10, "goal", 1, 0, team="home"), ["player"]),
        (incident(10, "goal", 1, 0, player="Saka"), ["team"]),
        (incident(10, "own_goal", 0, 1, team="home"), ["player"]),
        (incident(10, "yellow_card", team="away"), ["player"]),
        (incident(10, "red_card", player="Rice"), ["team"]),
        (incident(10, "foul", team="home", player=""), ["player"]),
        (incident(10, "foul", team="middle", player="Rice"), ["team"]),
        (incident(10, "substitution", team="home", playerIn="A"), ["playerOut"]),
        (incident(10, "substitution", team="home", playerIn="A", playerOut=7), ["playerOut"]),
        (incident(10, "substitution", team="home", playerIn="A", playerOut="B", player="C"),
         ["player"]),
        (incident(10, "yellow_card", team="away", player="X", assist="Y"), ["assist"]),
        (incident(10, "kick_off", team="home"), ["team"]),
        (incident(10, "full_time", player="Ref"), ["player"]),
        (incident(10, "foul", team="home", player="Rice", outcome="saved"), ["outcome"]),
        (incident(10, "goal", 1, 0, team="home", player="Saka", decision="x"), ["decision"]),
        (incident(10, "kick_off", plyer="Saka"), ["plyer"]),
        (incident(10, "kick_off", comment=5), ["comment"]),
        (incident(10, "kick_off", period="third_half"), ["period"]),
        (incident(10, "kick_off", teams={"home": "Arsenal"}), ["teams.away"]),
        (incident(10, "kick_off", teams={"home": "", "away": "Chelsea"}), ["teams.home"]),
        (incident(10, "kick_off", teams=["Arsenal", "Chelsea"]), ["teams"]),
    ]  # fmt: skip
    for payload, expected in cases:
        assert paths(SPORT.validate(payload, None)) == expected, payload
    assert SPORT.validate(incident(10, "var", decision="penalty overturned"), None) == []
    assert SPORT.validate(incident(10, "kick_off", teams=TEAMS), None) == []


def test_score_shape() -> None:
    kick_off = {"minute": 0, "kind": "kick_off"}
    assert paths(SPORT.validate(kick_off, None)) == ["score"]
    for score, expected in [
        ({"home": 0}, ["score.away"]),
        ({"home": -1, "away": 0}, ["score.home"]),
        ({"home": 1000, "away": 0}, ["score.home"]),
        ({"home": 0, "away": "0"}, ["score.away"]),
        ({"home": 0, "away": True}, ["score.away"]),
        ({"home": 0, "away": 0, "draw": 1}, ["score.draw"]),
        ([0, 0], ["score"]),
    ]:
        assert paths(SPORT.validate(dict(kick_off, score=score), None)) == expected, score


def test_nothing_after_full_time() -> None:
    end = incident(90, "full_time", 2, 1, addedTime=5)
    errors = SPORT.validate(incident(90, "foul", 2, 1, addedTime=6, team="home", player="X"), end)
    assert paths(errors) == ["kind"]
    assert "already ended" in errors[0].reason


def test_period_never_goes_back() -> None:
    second = incident(46, "kick_off", period="second_half")
    first = incident(47, "foul", team="home", player="Rice", period="first_half")
    assert paths(SPORT.validate(first, second)) == ["period"]


def test_penalty_shootout() -> None:
    before = incident(120, "half_time", 1, 1, period="extra_time_second_half")
    kick = incident(
        120,
        "penalty",
        1,
        1,
        team="home",
        player="Saka",
        outcome="scored",
        period="penalty_shootout",
        shootout={"home": 1, "away": 0},
    )
    assert SPORT.validate(kick, before) == []
    assert SPORT.summary(kick) == "120' PENALTY scored Saka (home) 1-1 (pens 1-0)"
    # The match score does not move in a shootout; the tally does, by one.
    assert paths(SPORT.validate(dict(kick, score={"home": 2, "away": 1}), before)) == ["score.home"]
    errors = SPORT.validate(dict(kick, shootout={"home": 0, "away": 0}), before)
    assert paths(errors) == ["shootout.home"]
    saved = dict(kick, team="away", player="Palmer", outcome="saved")
    assert SPORT.validate(saved, kick) == []
    assert paths(SPORT.validate({k: v for k, v in kick.items() if k != "shootout"}, before)) == [
        "shootout"
    ]
    assert paths(SPORT.validate(dict(before, shootout={"home": 0, "away": 0}), before)) == [
        "shootout"
    ]
    # Kicks are written at the last minute played, whatever its added time.
    late = dict(before, addedTime=2)
    assert SPORT.validate(kick, late) == []
    assert paths(SPORT.validate(dict(kick, minute=90), late)) == ["minute"]


def test_summary() -> None:
    assert SPORT.summary(incident(1, "kick_off")) == "1' KICK-OFF 0-0"
    sub = incident(46, "substitution", team="home", playerIn="Trossard", playerOut="Martinelli")
    assert SPORT.summary(sub) == "46' SUBSTITUTION Trossard for Martinelli (home) 0-0"
    var = incident(69, "var", 2, 1, decision="goal disallowed", team="away")
    assert SPORT.summary(var) == "69' VAR goal disallowed (away) 2-1"
    assert SPORT.summary(incident(90, "full_time", 3, 1, addedTime=6)) == "90+6' FULL-TIME 3-1"
    assert SPORT.summary({}) == "?' None"  # never raises, even on nonsense


def test_never_raises_on_garbage() -> None:
    rng = random.Random(2024)
    values: list[Any] = [
        None,
        True,
        0,
        -1,
        45,
        90,
        131,
        2**70,
        1.5,
        "",
        "goal",
        "own_goal",
        "penalty",
        "var",
        "full_time",
        "home",
        "away",
        "scored",
        "penalty_shootout",
        "first_half",
        [],
        {},
        {"home": 1, "away": 0},
        {"home": "x"},
        {"home": 0, "away": 0},
    ]
    keys = [
        "minute",
        "addedTime",
        "kind",
        "team",
        "player",
        "outcome",
        "score",
        "teams",
        "period",
        "shootout",
        "decision",
        "x",
    ]
    for _ in range(3000):
        payload = {key: rng.choice(values) for key in rng.sample(keys, rng.randint(0, 8))}
        previous = rng.choice(
            [None, {key: rng.choice(values) for key in rng.sample(keys, rng.randint(0, 6))}]
        )
        errors = SPORT.validate(payload, previous)
        assert all(isinstance(error, FieldError) for error in errors)
        assert all(error.path != "payload" for error in errors), errors
        SPORT.summary(payload)


# -- timeline replay ---------------------------------------------------------------


def test_timeline_docstring_example() -> None:
    document = docstring_example(timeline_module.__doc__)
    replay = loads(json.dumps(document))
    assert replay.title == "Arsenal v Chelsea, FA Cup final"
    data = [item.data for item in replay.items]
    check_sequence(data)
    assert data[-1]["score"] == {"home": 2, "away": 1}


def test_timeline_round_trip(tmp_path: Path) -> None:
    replay = load(write(tmp_path, TIMELINE))
    assert replay.sport == "football"
    assert replay.title == "Arsenal v Chelsea"
    assert replay.meta == {
        "home": "Arsenal",
        "away": "Chelsea",
        "competition": "Premier League",
        "venue": "Emirates Stadium",
    }
    data = [item.data for item in replay.items]
    assert len(data) == len(TIMELINE["incidents"])
    check_sequence(data)
    assert all(item["teams"] == TEAMS for item in data)
    scores = [(item["score"]["home"], item["score"]["away"]) for item in data]
    assert scores == [
        (0, 0),  # kick-off
        (0, 0),
        (0, 0),
        (1, 0),  # Saka
        (1, 0),  # penalty saved
        (1, 1),  # Jackson 45+2
        (1, 1),
        (1, 1),
        (1, 1),
        (2, 1),  # own goal by Chelsea's Colwill
        (2, 2),  # Palmer
        (2, 1),  # VAR: disallowed
        (2, 1),
        (3, 1),  # penalty scored
        (3, 1),  # penalty missed
        (3, 1),
    ]
    # The author's fields are kept as written.
    assert data[3]["assist"] == "Odegaard"
    assert data[12]["comment"] == "second yellow"
    summaries = [SPORT.summary(item) for item in data]
    assert summaries[5] == "45+2' GOAL Jackson (away) 1-1"
    assert summaries[-1] == "90+6' FULL-TIME 3-1"


def test_timeline_pace() -> None:
    replay = loads(json.dumps(TIMELINE))
    minutes = [item.at / 60 for item in replay.items]
    assert minutes[0] == 0  # minute 1 starts at 0:00
    assert minutes[3] == 22  # minute 23 starts at 22:00
    assert minutes[5] == 46  # 45+2' starts at 46:00
    assert minutes[6] == 48  # half-time whistle in 45+4'
    # The second half starts after the first half's 4 added minutes and 15 of break.
    assert minutes[7] == 45 + 4 + 15
    assert minutes[9] == 57 + 4 + 15
    assert minutes[-1] == 89 + 6 + 4 + 15
    assert minutes == sorted(minutes)


def test_timeline_second_half_kick_off_at_45() -> None:
    timeline = json.loads(json.dumps(TIMELINE))
    timeline["incidents"][7]["minute"] = 45
    replay = loads(json.dumps(timeline))
    minutes = [item.at / 60 for item in replay.items]
    assert minutes[6] == 48  # half-time whistle in 45+4'
    assert minutes[7] == 49 + 15  # the end of that minute plus the break
    assert minutes[8] == 45 + 4 + 15  # the substitution at 46'


def test_timeline_with_extra_time_and_shootout() -> None:
    timeline = {
        "home": "Spain",
        "away": "Italy",
        "title": "Spain v Italy, semi-final",
        "incidents": [
            {"minute": 0, "kind": "kick_off"},
            {"minute": 60, "kind": "goal", "team": "away", "player": "Chiesa"},
            {"minute": 80, "kind": "goal", "team": "home", "player": "Morata"},
            {"minute": 90, "addedTime": 2, "kind": "half_time"},
            {"minute": 91, "kind": "kick_off", "period": "extra_time_first_half"},
            {"minute": 120, "addedTime": 1, "kind": "half_time",
             "period": "extra_time_second_half"},
            {"minute": 120, "kind": "penalty", "team": "away", "player": "Locatelli",
             "outcome": "saved", "period": "penalty_shootout"},
            {"minute": 120, "kind": "penalty", "team": "home", "player": "Olmo",
             "outcome": "scored", "period": "penalty_shootout"},
            {"minute": 120, "kind": "penalty", "team": "away", "player": "Belotti",
             "outcome": "scored", "period": "penalty_shootout"},
            {"minute": 120, "kind": "full_time", "period": "penalty_shootout"},
        ],
    }  # fmt: skip
    replay = loads(json.dumps(timeline))
    assert replay.title == "Spain v Italy, semi-final"
    data = [item.data for item in replay.items]
    check_sequence(data)
    assert [item["score"] for item in data[-4:]] == [{"home": 1, "away": 1}] * 4
    assert [item["shootout"] for item in data[-4:]] == [
        {"home": 0, "away": 0},
        {"home": 1, "away": 0},
        {"home": 1, "away": 1},
        {"home": 1, "away": 1},
    ]
    minutes = [item.at / 60 for item in replay.items]
    assert minutes[4] == 90 + 2 + 15  # ET starts after 90+2 and the first (15-minute) break
    # The shootout kicks are a minute apart, after the second (5-minute) break.
    shootout_start = 119 + 1 + 2 + 15 + 5
    assert minutes[6:] == [shootout_start + kick for kick in range(4)]


def test_timeline_score_assertion() -> None:
    timeline = json.loads(json.dumps(TIMELINE))
    timeline["incidents"][3]["score"] = {"home": 1, "away": 0}  # right: kept
    assert loads(json.dumps(timeline)).items[3].data["score"] == {"home": 1, "away": 0}
    timeline["incidents"][3]["score"] = {"home": 2, "away": 0}
    with pytest.raises(ReplayError) as info:
        loads(json.dumps(timeline), name="match.json")
    assert str(info.value) == (
        "match.json: incidents[3].score.home: expected 1 after a home goal (was 0), got 2"
    )


def with_incident(index: int, change: dict[str, Any]) -> str:
    timeline = json.loads(json.dumps(TIMELINE))
    timeline["incidents"][index] = change
    return json.dumps(timeline)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "match.json: line 1 column 1: Expecting value"),
        ('{"home": "A",\n "away": }', "match.json: line 2 column 10: Expecting value"),
        ("[1, 2]", "the top level must be an object"),
        ('{"home": "A", "away": "B", "incidents": [{"minute": NaN}]}', "NaN is not JSON"),
        ('{"away": "B", "incidents": [{}]}', "match.json: home: required"),
        ('{"home": "A", "away": " ", "incidents": [{}]}', "match.json: away: required"),
        ('{"home": "A", "away": "B"}', "incidents: required, a non-empty list"),
        ('{"home": "A", "away": "B", "incidents": []}', "incidents: required, a non-empty list"),
        ('{"home": "A", "away": "B", "incidents": {}}', "incidents: required, a non-empty list"),
        ('{"home": "A", "away": "B", "venue": "X", "incidents": [1]}', "venue: unknown field"),
        ('{"home": "A", "away": "B", "title": "", "incidents": [1]}', "title: must be a string"),
        ('{"home": "A", "away": "B", "meta": [], "incidents": [1]}', "meta: must be an object"),
        (
            '{"home": "A", "away": "B", "meta": {"sport": "x"}, "incidents": [1]}',
            "meta.sport: not allowed",
        ),
        ('{"home": "A", "away": "B", "incidents": [1]}', "match.json: incidents[0]: must be an"),
        (
            with_incident(4, {"minute": 34, "kind": "goall", "team": "away", "player": "X"}),
            "match.json: incidents[4].kind: unknown kind 'goall'",
        ),
        (
            with_incident(4, {"minute": 34, "kind": "goal", "team": "away"}),
            "match.json: incidents[4].player: required for kind 'goal'",
        ),
        (
            with_incident(4, {"minute": 20, "kind": "foul", "team": "away", "player": "X"}),
            "match.json: incidents[4].minute: goes back in time: 20' after 23'",
        ),
        (
            with_incident(4, {"minute": 34, "kind": "kick_off", "teams": {}}),
            "match.json: incidents[4].teams: set from the top-level home and away",
        ),
        (
            with_incident(15, {"minute": 90, "addedTime": 6, "kind": "full_time", "x": 1}),
            "match.json: incidents[15].x: unknown field",
        ),
    ],
)
def test_malformed_timeline(text: str, message: str) -> None:
    with pytest.raises(ReplayError) as info:
        loads(text, name="match.json")
    assert str(info.value).startswith("match.json: ")
    assert message in str(info.value)


def test_unreadable_timeline(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="cannot read"):
        load(tmp_path / "missing.json")
    deep = write(tmp_path, {})
    deep.write_text("[" * 100_000, encoding="utf-8")
    with pytest.raises(ReplayError):
        load(deep)


def test_a_feed_may_start_at_any_score_on_its_first_update() -> None:
    # Joining a match at 2-1 in the 60th minute: the first update says where it starts.
    goal = incident(61, "goal", 3, 1, team="home", player="Saka")
    assert paths(SPORT.validate(goal, None)) == ["score.home", "score.away"]
    started = dict(goal, startScore={"home": 2, "away": 1})
    assert SPORT.validate(started, None) == []
    card = incident(63, "yellow_card", 3, 1, team="away", player="Rice")
    assert SPORT.validate(card, started) == []
    assert paths(SPORT.validate(dict(card, startScore={"home": 3, "away": 1}), started)) == [
        "startScore"
    ]
    bad = dict(goal, startScore={"home": -1, "away": "x"})
    assert "startScore.home" in paths(SPORT.validate(bad, None))


def test_the_match_state_keeps_a_line_of_each_comment() -> None:
    kick_off = incident(1, "kick_off", 0, 0, period="first_half", comment="x" * 5000)
    state = SPORT.fold(None, kick_off)
    assert len(state["timeline"][0]["comment"]) == football_sport.TIMELINE_COMMENT
    assert state["timeline"][0]["comment"].endswith("…")
    goal = incident(23, "goal", 1, 0, team="home", player="Saka", comment="Header")
    state = SPORT.fold(state, goal)
    assert state["timeline"][1]["comment"] == "Header" and state["score"] == {"home": 1, "away": 0}
