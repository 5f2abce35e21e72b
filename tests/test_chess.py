"""The chess sport and the PGN replay converter (pure: no server)."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import chess
import pytest

from livegate.replay import ReplayError
from livegate.replay.pgn import PLY_SECONDS, load, loads
from livegate.sports import FieldError, get_sport, known_sports
from livegate.sports import chess as chess_sport
from livegate.sports.chess import SPORT
from tests.sport_helpers import check_sequence as shared_check_sequence
from tests.sport_helpers import docstring_example, paths

START = chess.STARTING_FEN
AFTER_E4 = "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"
AFTER_E5 = "rnbqkbnr/pppp1ppp/8/4p3/4P3/8/PPPP1PPP/RNBQKBNR w KQkq - 0 2"
AFTER_NF3 = "rnbqkbnr/pppp1ppp/8/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R b KQkq - 1 2"
AFTER_D6 = "rnbqkbnr/ppp2ppp/3p4/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 0 3"

OPERA_GAME = """\
[Event "Paris"]
[Site "Paris FRA"]
[Date "1858.??.??"]
[Round "?"]
[White "Paul Morphy"]
[Black "Duke Karl / Count Isouard"]
[Result "1-0"]
[ECO "C41"]

1.e4 e5 2.Nf3 d6 3.d4 Bg4 {This is a weak move already.} 4.dxe5 Bxf3 5.Qxf3 dxe5
6.Bc4 Nf6 7.Qb3 Qe7 8.Nc3 c6 9.Bg5 b5 10.Nxb5 cxb5 11.Bxb5+ Nbd7 12.O-O-O Rd8
13.Rxd7 Rxd7 14.Rd1 Qe6 15.Bxd7+ Nxd7 16.Qb8+ Nxb8 17.Rd8# 1-0
"""
OPERA_FINAL_FEN = "1n1Rkb1r/p4ppp/4q3/4p1B1/4P3/8/PPP2PPP/2K5 b k - 1 17"


def move(ply: int, san: str, uci: str, fen: str, **extra: Any) -> dict[str, Any]:
    return {"ply": ply, "san": san, "uci": uci, "fen": fen, **extra}


def play(*sans: str, start: str = START) -> list[dict[str, Any]]:
    """Payloads for ``sans`` played from ``start``, computed with python-chess."""
    board = chess.Board(start)
    payloads = []
    for ply, san in enumerate(sans, start=1):
        mv = board.parse_san(san)
        data = {"ply": ply, "san": board.san(mv), "uci": mv.uci()}
        board.push(mv)
        data["fen"] = board.fen()
        payloads.append(data)
    return payloads


def check_sequence(payloads: list[dict[str, Any]]) -> None:
    shared_check_sequence(SPORT, payloads)


# -- the sport ---------------------------------------------------------------------


def test_registered() -> None:
    assert "chess" in known_sports()
    assert get_sport("chess") is SPORT


def test_legal_sequence_validates() -> None:
    check_sequence(
        [
            move(1, "e4", "e2e4", AFTER_E4, white="Morphy", black="Duke Karl"),
            move(2, "e5", "e7e5", AFTER_E5, clocks={"white": 5_400_000, "black": 5_399_000}),
            move(3, "Nf3", "g1f3", AFTER_NF3, comment="developing"),
            move(4, "d6", "d7d6", AFTER_D6),
        ]
    )


def test_fen_conventions_accepted() -> None:
    # The en passant square after any double push (PGN standard) or only when
    # a capture is possible (python-chess, lichess): both are fine.
    assert SPORT.validate(move(1, "e4", "e2e4", AFTER_E4.replace(" - ", " e3 ")), None) == []
    # Four fields (EPD style), or counters that are not python-chess's.
    assert SPORT.validate(move(1, "e4", "e2e4", AFTER_E4.rsplit(" ", 2)[0]), None) == []
    assert SPORT.validate(move(1, "e4", "e2e4", AFTER_E4[:-3] + "7 31"), None) == []


def test_en_passant_square_required_when_a_capture_is_possible() -> None:
    payloads = play("e4", "a6", "e5", "d5")
    assert " d6 " in payloads[-1]["fen"]
    check_sequence(payloads)
    wrong = dict(payloads[-1], fen=payloads[-1]["fen"].replace(" d6 ", " - "))
    assert paths(SPORT.validate(wrong, payloads[-2])) == ["fen"]
    capture = play("e4", "a6", "e5", "d5", "exd6")[-1]
    assert capture["san"] == "exd6"
    assert SPORT.validate(capture, payloads[-1]) == []


def test_illegal_move() -> None:
    errors = SPORT.validate(move(1, "e5", "e2e5", AFTER_E4), None)
    assert paths(errors) == ["uci"]
    assert "not legal" in errors[0].reason
    errors = SPORT.validate(move(2, "e4", "e2e4", AFTER_E4), move(1, "e4", "e2e4", AFTER_E4))
    assert paths(errors) == ["uci"]  # white's pawn, black to move


def test_not_uci() -> None:
    for uci in ("e2-e4", "E2E4", "e7e8Q", "0000", "", "e2e4e5"):
        errors = SPORT.validate(move(1, "e4", uci, AFTER_E4), None)
        assert paths(errors) == ["uci"], uci


def test_castling_is_the_kings_move() -> None:
    moves = play("e4", "e5", "Nf3", "Nc6", "Bc4", "Bc5", "O-O")
    assert moves[-1]["uci"] == "e1g1"
    check_sequence(moves)
    rook_capture = dict(moves[-1], uci="e1h1")
    assert paths(SPORT.validate(rook_capture, moves[-2])) == ["uci"]


def test_promotion() -> None:
    start = "8/4P3/8/8/8/8/k7/7K w - - 0 1"
    first = move(1, "e8=Q", "e7e8q", "4Q3/8/8/8/8/8/k7/7K b - - 0 1", startFen=start)
    assert SPORT.validate(first, None) == []
    assert paths(SPORT.validate(dict(first, san="e8Q"), None)) == ["san"]
    assert paths(SPORT.validate(dict(first, uci="e7e8"), None)) == ["uci"]


def test_wrong_san() -> None:
    errors = SPORT.validate(move(1, "Pe4", "e2e4", AFTER_E4), None)
    assert paths(errors) == ["san"]
    assert "'e4'" in errors[0].reason
    # The check suffix is part of python-chess's SAN.
    moves = play("e4", "f5", "Qh5+")
    assert moves[-1]["san"] == "Qh5+"
    assert paths(SPORT.validate(dict(moves[-1], san="Qh5"), moves[-2])) == ["san"]


def test_wrong_fen() -> None:
    errors = SPORT.validate(move(1, "e4", "e2e4", AFTER_E5), None)
    assert paths(errors) == ["fen"]
    assert "expected" in errors[0].reason
    # Wrong side to move, wrong castling rights, wrong field count, bad counters.
    for fen in (
        AFTER_E4.replace(" b ", " w "),
        AFTER_E4.replace("KQkq", "Kkq"),
        AFTER_E4 + " 5",
        AFTER_E4.replace(" 0 1", " x 1"),
        AFTER_E4.replace(" 0 1", " 0 0"),
        "garbage",
        "",
    ):
        assert paths(SPORT.validate(move(1, "e4", "e2e4", fen), None)) == ["fen"], fen


def test_wrong_ply() -> None:
    first = move(1, "e4", "e2e4", AFTER_E4)
    assert paths(SPORT.validate(dict(first, ply=2), None)) == ["ply"]
    assert paths(SPORT.validate(dict(first, ply=0), None)) == ["ply"]
    second = move(2, "e5", "e7e5", AFTER_E5)
    assert paths(SPORT.validate(dict(second, ply=1), first)) == ["ply"]
    assert paths(SPORT.validate(dict(second, ply=3), first)) == ["ply"]


def test_bad_types() -> None:
    first = move(1, "e4", "e2e4", AFTER_E4)
    cases: list[tuple[dict[str, Any], list[str]]] = [
        ({**first, "ply": "1"}, ["ply"]),
        ({**first, "ply": True}, ["ply"]),
        ({**first, "ply": 1.0}, ["ply"]),
        ({**first, "ply": -1}, ["ply"]),
        ({**first, "san": 5}, ["san"]),
        ({**first, "uci": None}, ["uci"]),
        ({**first, "fen": ["x"]}, ["fen"]),
        ({**first, "clocks": []}, ["clocks"]),
        ({**first, "clocks": {}}, ["clocks"]),
        ({**first, "clocks": {"white": -1}}, ["clocks.white"]),
        ({**first, "clocks": {"black": "1:00"}}, ["clocks.black"]),
        ({**first, "clocks": {"black": False}}, ["clocks.black"]),
        ({**first, "clocks": {"red": 1}}, ["clocks.red"]),
        ({**first, "clocks": {"white": 2**53}}, ["clocks.white"]),
        ({**first, "result": "2-0"}, ["result"]),
        ({**first, "comment": 7}, ["comment"]),
        ({**first, "white": ""}, ["white"]),
        ({**first, "resutl": "1-0"}, ["resutl"]),
        ({**first, "startFen": 3}, ["startFen"]),
    ]
    for payload, expected in cases:
        assert paths(SPORT.validate(payload, None)) == expected, payload


def test_missing_fields() -> None:
    assert paths(SPORT.validate({}, None)) == ["ply", "fen", "uci"]
    assert paths(SPORT.validate({"ply": 1, "uci": "e2e4", "fen": AFTER_E4}, None)) == ["san"]
    assert paths(SPORT.validate({"ply": 1, "san": "e4", "fen": AFTER_E4}, None)) == ["uci"]
    assert paths(SPORT.validate({"ply": 1, "san": "e4", "uci": "e2e4"}, None)) == ["fen"]


def test_start_fen() -> None:
    start = "r1bqkbnr/pppp1ppp/2n5/4p3/4P3/5N2/PPPP1PPP/RNBQKB1R w KQkq - 2 3"
    moves = play("Bb5", "a6", start=start)
    moves[0]["startFen"] = start
    check_sequence(moves)
    assert SPORT.summary(moves[0]) == "3. Bb5"
    assert SPORT.summary(moves[1]) == "3... a6"
    # Not a FEN, not a legal position, or not on the first update.
    errors = SPORT.validate(dict(moves[0], startFen="nonsense"), None)
    assert paths(errors) == ["startFen"]
    errors = SPORT.validate(dict(moves[0], startFen="8/8/8/8/8/8/8/8 w - - 0 1"), None)
    assert paths(errors) == ["startFen"]
    assert "no white king" in errors[0].reason
    assert paths(SPORT.validate(dict(moves[1], startFen=start), moves[0])) == ["startFen"]


def test_start_fen_with_black_to_move() -> None:
    start = AFTER_E4
    first = move(1, "e5", "e7e5", AFTER_E5, startFen=start)
    assert SPORT.validate(first, None) == []
    assert SPORT.summary(first) == "1... e5"


def test_result_on_the_last_move() -> None:
    moves = play("f3", "e5", "g4", "Qh4#")
    moves[-1]["result"] = "0-1"
    check_sequence(moves)
    assert SPORT.summary(moves[-1]) == "2... Qh4# 0-1"
    wrong = dict(moves[-1], result="1-0")
    errors = SPORT.validate(wrong, moves[-2])
    assert paths(errors) == ["result"]
    assert "black has delivered mate" in errors[0].reason
    # Nothing is accepted after the result, not even a result-only update.
    after = {"ply": 4, "fen": moves[-1]["fen"], "result": "0-1"}
    errors = SPORT.validate(after, moves[-1])
    assert paths(errors) == ["ply"]
    assert "already ended" in errors[0].reason


def test_no_move_after_checkmate() -> None:
    moves = play("f3", "e5", "g4", "Qh4#")
    nonsense = move(5, "Kf2", "e1f2", moves[-1]["fen"])
    errors = SPORT.validate(nonsense, moves[-1])
    assert paths(errors) == ["uci"]
    assert "game is over" in errors[0].reason
    # The checkmate then ends with a result-only update.
    done = {"ply": 4, "fen": moves[-1]["fen"], "result": "0-1"}
    assert SPORT.validate(done, moves[-1]) == []
    assert paths(SPORT.validate(dict(done, result="1/2-1/2"), moves[-1])) == ["result"]


def test_stalemate_is_a_draw() -> None:
    start = "7k/8/6Q1/8/8/8/8/K7 w - - 0 1"
    mate = play("Qf7", start=start)[0]
    mate["startFen"] = start
    assert SPORT.validate(mate, None) == []  # no result yet: a result-only update may follow
    assert paths(SPORT.validate(dict(mate, result="1-0"), None)) == ["result"]
    assert SPORT.validate(dict(mate, result="1/2-1/2"), None) == []


def test_result_only_update() -> None:
    moves = play("e4", "e5")
    resign = {"ply": 2, "fen": moves[-1]["fen"], "result": "1-0", "comment": "Black resigns"}
    assert SPORT.validate(resign, moves[-1]) == []
    assert SPORT.summary(resign) == "1-0 at ply 2"
    # Same ply as the previous move, unchanged position.
    assert paths(SPORT.validate(dict(resign, ply=3), moves[-1])) == ["ply"]
    assert paths(SPORT.validate(dict(resign, fen=AFTER_E4), moves[-1])) == ["fen"]
    # Without a result it is not an update at all.
    assert paths(SPORT.validate({"ply": 2, "fen": moves[-1]["fen"]}, moves[-1])) == ["uci"]
    # A forfeit before the first move.
    assert SPORT.validate({"ply": 0, "fen": START, "result": "0-1"}, None) == []


def test_unusable_previous() -> None:
    first = move(1, "e4", "e2e4", AFTER_E4)
    second = move(2, "e5", "e7e5", AFTER_E5)
    assert "previous.fen" in paths(SPORT.validate(second, {"ply": 1}))
    assert "previous.fen" in paths(SPORT.validate(second, dict(first, fen="nonsense")))
    assert "previous.ply" in paths(SPORT.validate(second, dict(first, ply="one")))


def test_summary() -> None:
    first = move(1, "e4", "e2e4", AFTER_E4, clocks={"white": 5_340_000, "black": 5_400_000})
    assert SPORT.summary(first) == "1. e4 (white 1:29:00)"
    assert SPORT.summary(move(2, "e5", "e7e5", AFTER_E5)) == "1... e5"
    late = move(23, "Nf3", "g1f3", "8/8/8/8/8/8/8/8 b - - 0 12", clocks={"white": 4_980_000})
    assert SPORT.summary(late) == "12. Nf3 (white 1:23:00)"
    # Four-field FEN: the number comes from the ply.
    assert SPORT.summary(move(4, "d6", "d7d6", "8/8/8/8/8/8/8/8 w - -")) == "2... d6"


def test_never_raises_on_garbage() -> None:
    rng = random.Random(1858)
    values: list[Any] = [
        None,
        True,
        0,
        -1,
        1,
        2**70,
        1.5,
        float("nan"),
        "",
        "e2e4",
        "e7e8q",
        "e1h1",
        "\x00",
        "a" * 5000,
        START,
        AFTER_E4,
        "8/8/8/8/8/8/8/8 w - - 0 1",
        "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq - -1 1",
        "rnbqkbnr/pppppppp/8/8/8/8/PPPPPPPP/RNBQKBNR w KQkq z9 0 1",
        "kkkkkkkk/8/8/8/8/8/8/KKKKKKKK w - - 0 1",
        "8/8/8/8/8/8/8/8 w KQkq - 0 1",
        "P7/8/8/8/8/8/8/k6K w - - 0 1",
        [],
        {},
        {"white": 1},
        ["e2e4"],
    ]
    keys = ["ply", "san", "uci", "fen", "startFen", "clocks", "result", "comment", "white", "x"]
    for _ in range(3000):
        payload = {key: rng.choice(values) for key in rng.sample(keys, rng.randint(0, 6))}
        previous = rng.choice(
            [None, {key: rng.choice(values) for key in rng.sample(keys, rng.randint(0, 4))}]
        )
        errors = SPORT.validate(payload, previous)
        assert all(isinstance(error, FieldError) for error in errors)
        assert all(error.path != "payload" for error in errors), errors
        SPORT.summary(payload)  # must not raise either


# -- PGN replay --------------------------------------------------------------------


def test_docstring_example_is_the_opera_games_last_move() -> None:
    example = docstring_example(chess_sport.__doc__)
    replay = loads(OPERA_GAME)
    assert SPORT.validate(example, replay.items[-2].data) == []
    assert SPORT.summary(example) == "17. Rd8# (white 1:27:00) 1-0"


def test_opera_game_replay(tmp_path: Path) -> None:
    path = tmp_path / "opera.pgn"
    path.write_text(OPERA_GAME, encoding="utf-8")
    replay = load(path)
    assert replay.sport == "chess"
    assert replay.title == "Paul Morphy v Duke Karl / Count Isouard, Paris 1858"
    assert replay.meta["white"] == "Paul Morphy"
    assert len(replay.items) == 33
    check_sequence([item.data for item in replay.items])
    first, last = replay.items[0].data, replay.items[-1].data
    assert first == {
        "ply": 1,
        "san": "e4",
        "uci": "e2e4",
        "fen": AFTER_E4,
        "white": "Paul Morphy",
        "black": "Duke Karl / Count Isouard",
    }
    assert last["san"] == "Rd8#"
    assert last["result"] == "1-0"
    assert last["fen"] == OPERA_FINAL_FEN
    assert all("result" not in item.data for item in replay.items[:-1])
    assert replay.items[5].data["comment"] == "This is a weak move already."
    assert [item.at for item in replay.items] == [PLY_SECONDS * n for n in range(1, 34)]
    assert "clocks" not in last
    assert SPORT.summary(last) == "17. Rd8# 1-0"


FOOLS_MATE_WITH_CLOCKS = """\
[White "A"]
[Black "B"]
[TimeControl "300+2"]
[Result "0-1"]

1. f3 {[%clk 0:04:58]} e5 {[%clk 0:05:00] [%eval 0.5] best} 2. g4 {[%clk 0:04:50]}
Qh4# {[%clk 0:04:41]} 0-1
"""


def test_clocks_and_pace_from_clock_comments() -> None:
    replay = loads(FOOLS_MATE_WITH_CLOCKS)
    assert replay.title == "A v B"
    data = [item.data for item in replay.items]
    check_sequence(data)
    assert data[0]["clocks"] == {"white": 298_000, "black": 300_000}
    assert data[1]["clocks"] == {"white": 298_000, "black": 300_000}
    assert data[2]["clocks"] == {"white": 290_000, "black": 300_000}
    assert data[3]["clocks"] == {"white": 290_000, "black": 281_000}
    assert data[1]["comment"] == "best"
    assert data[3]["result"] == "0-1"
    # Time spent = previous clock - clock + increment: 4, 2, 10, 21 seconds.
    assert [item.at for item in replay.items] == [4.0, 6.0, 16.0, 37.0]
    assert SPORT.summary(data[2]) == "2. g4 (white 0:04:50)"


def test_clocks_without_time_control() -> None:
    text = FOOLS_MATE_WITH_CLOCKS.replace('[TimeControl "300+2"]\n', "")
    replay = loads(text)
    data = [item.data for item in replay.items]
    assert data[0]["clocks"] == {"white": 298_000}
    assert data[1]["clocks"] == {"white": 298_000, "black": 300_000}
    # The first move of each side has no earlier clock: the fixed pace.
    assert [item.at for item in replay.items] == [20.0, 40.0, 48.0, 67.0]
    check_sequence(data)


def test_set_up_position() -> None:
    text = """\
[White "Composer"]
[Black "Solver"]
[SetUp "1"]
[FEN "7k/8/6Q1/8/8/8/8/K7 w - - 0 60"]
[Result "1/2-1/2"]

60. Qf7 1/2-1/2
"""
    replay = loads(text)
    data = [item.data for item in replay.items]
    assert data[0]["startFen"] == "7k/8/6Q1/8/8/8/8/K7 w - - 0 60"
    assert data[0]["result"] == "1/2-1/2"
    check_sequence(data)
    assert SPORT.summary(data[0]) == "60. Qf7 1/2-1/2"


def test_forfeit_without_moves() -> None:
    replay = loads('[White "A"]\n[Black "B"]\n[Result "1-0"]\n\n1-0\n')
    assert [item.data for item in replay.items] == [
        {"ply": 0, "fen": START, "result": "1-0", "white": "A", "black": "B"}
    ]
    check_sequence([item.data for item in replay.items])


def test_only_the_first_game() -> None:
    replay = loads(OPERA_GAME + "\n" + FOOLS_MATE_WITH_CLOCKS)
    assert len(replay.items) == 33


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "no game found"),
        ("   \n\n", "no game found"),
        ('[White "A"]\n\n*\n', "no moves and no result"),
        ("just some words", "no moves and no result"),
        (OPERA_GAME.replace("13.Rxd7", "13.Qxh7"), "move 13 (ply 25): illegal move Qxh7"),
        (OPERA_GAME.replace("13.Rxd7 Rxd7", "13.Rxd7 Qxh7"), "move 13... (ply 26): illegal move"),
        ("1. e4 a6 2. Nc3 a5 3. Ne2 *", "move 3 (ply 5): ambiguous move Ne2"),
        ("1. e4 e5 (1... c5 2. Qxh7) 2. Nf3 *", "in a variation at move 2 (ply 3): illegal"),
        ('[FEN "nonsense"]\n\n1. e4 *', "headers:"),
        ('[SetUp "1"]\n[FEN "8/8/8/8/8/8/8/8 w - - 0 1"]\n\n*', "not a legal position"),
        ('[Variant "Crazyhouse"]\n\n1. e4 *', "variant 'Crazyhouse' is not supported"),
        ('[Variant "Chess960"]\n\n1. e4 *', "variant 'Chess960' is not supported"),
        # The header's result contradicts the checkmate on the board.
        (
            '[Result "1-0"]\n\n1. f3 e5 2. g4 Qh4# 1-0',
            "move 2... (ply 4) Qh4#: result: must be 0-1",
        ),
    ],
)
def test_malformed_pgn(text: str, message: str) -> None:
    with pytest.raises(ReplayError) as info:
        loads(text, name="game.pgn")
    assert str(info.value).startswith("game.pgn: ")
    assert message in str(info.value)


def test_unreadable_file(tmp_path: Path) -> None:
    with pytest.raises(ReplayError, match="cannot read"):
        load(tmp_path / "missing.pgn")
    binary = tmp_path / "binary.pgn"
    binary.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ReplayError, match="cannot read"):
        load(binary)
