"""The ``chess`` sport: one update per move, checked for legality with python-chess.

Every update carries the position after it (``fen``), so the latest update alone
(the snapshot a newcomer receives) is enough to draw the board.

Schema (one JSON object per update)::

    {
      "ply": 33,
      "san": "Rd8#",
      "uci": "d1d8",
      "fen": "1n1Rkb1r/p4ppp/4q3/4p1B1/4P3/8/PPP2PPP/2K5 b k - 1 17",
      "clocks": {"white": 5220000, "black": 4980000},
      "result": "1-0",
      "comment": "The Opera Game",
      "white": "Paul Morphy",
      "black": "Duke Karl / Count Isouard"
    }

Fields:

``ply`` (int, required)
    Half-moves played in this feed, counting this one: 1 for the first move,
    then the previous update's ply + 1. A result-only update repeats the
    previous ply (0 when the game ends before any move, e.g. a forfeit).
``uci``, ``san`` (strings, required together for a move)
    The move in UCI (``e2e4``, ``e7e8q``, castling as the king's move ``e1g1``)
    and in SAN exactly as python-chess writes it (``Nf3``, ``exd6``, ``O-O``,
    ``e8=Q+``, ``Qxf7#``). The UCI move must be legal in the previous position;
    the SAN must be that move's SAN there.
``fen`` (string, required)
    The position after the move. The first four fields (placement, side to
    move, castling rights, en passant square) are compared strictly with the
    position python-chess computes; the en passant square may be written
    either way the conventions allow (only when a capture is possible, or after
    every double pawn push). The last two fields (halfmove clock, fullmove
    number) may be left out; when present they must be numbers but are not
    compared, because legality never depends on them and feeds disagree on
    them (some restart the count). ``summary`` uses the fullmove number.
``startFen`` (string, optional, first update only)
    The position the game starts from, for a game from a set position or a
    feed that joins a game in progress. Default: the standard start position.
``clocks`` (object, optional)
    Remaining time in milliseconds after the move, ``white`` and/or ``black``,
    each an integer from 0 to 2**53 - 1 (the largest a browser reads exactly).
    Not checked against each other (increments and delays make any change
    plausible).
``result`` (optional)
    ``"1-0"``, ``"0-1"`` or ``"1/2-1/2"``, on the update that ends the game.
    After a checkmate it must name the side that mated; after a stalemate it
    must be a draw. Once an update has a result, nothing more is accepted.
``comment``, ``white``, ``black`` (strings, optional)
    Free text, and the players' names (send them on every update so the
    snapshot names the players).

A **result-only update** ends the game without a move (resignation, time
forfeit, agreed draw): no ``uci``/``san``, a ``result``, the same ``ply`` as
the previous update and the unchanged ``fen``, e.g.
``{"ply": 40, "fen": "<the current position>", "result": "0-1", "comment": "White resigns"}``.

Any other field is an error (it is most likely a typo). Variants (Chess960,
crazyhouse, ...) are not supported.
"""

from __future__ import annotations

import re
from typing import Any, Final, TypeGuard

import chess

from livegate.sports import FieldError

__all__ = ["MAX_CLOCK_MS", "RESULTS", "SPORT", "STANDARD_START"]

RESULTS: Final = ("1-0", "0-1", "1/2-1/2")
STANDARD_START: Final = chess.STARTING_FEN
MAX_CLOCK_MS: Final = 2**53 - 1
"""The largest integer a JavaScript client reads exactly."""

_FIELDS: Final = frozenset(
    {"ply", "san", "uci", "fen", "startFen", "clocks", "result", "comment", "white", "black"}
)
_TEXT_FIELDS: Final = ("san", "uci", "fen", "startFen", "comment", "white", "black")
_UCI: Final = re.compile(r"[a-h][1-8][a-h][1-8][qrbn]?\Z")
_COUNTER: Final = re.compile(r"[0-9]{1,9}\Z")


def _is_int(value: object) -> TypeGuard[int]:
    """A JSON integer (``True`` is an ``int`` to Python, not to JSON)."""
    return isinstance(value, int) and not isinstance(value, bool)


def _side(color: chess.Color) -> str:
    return "white" if color == chess.WHITE else "black"


def _board(fen: str) -> tuple[chess.Board | None, str]:
    """The position ``fen`` describes, or None and why it is unusable."""
    try:
        board = chess.Board(fen)
    except ValueError as exc:
        return None, f"not a valid FEN ({exc})"
    if not board.is_valid():
        problems = [
            flag.name.lower().replace("_", " ")
            for flag in chess.Status
            if flag and flag in board.status() and flag.name
        ]
        return None, f"not a legal position ({', '.join(problems) or 'invalid'})"
    return board, ""


def _fen_mismatch(fen: str, board: chess.Board) -> str | None:
    """Why ``fen`` does not describe ``board`` (see the module docstring), or None."""
    fields = fen.split(" ")
    if len(fields) not in (4, 6):
        return "must have 4 or 6 space-separated fields"
    if len(fields) == 6:
        if not _COUNTER.match(fields[4]):
            return "halfmove clock (field 5) must be a non-negative integer"
        if not _COUNTER.match(fields[5]) or int(fields[5]) < 1:
            return "fullmove number (field 6) must be a positive integer"
    expected = board.fen(en_passant="legal").split(" ")
    en_passant = {expected[3], board.fen(en_passant="fen").split(" ")[3]}
    if fields[:3] != expected[:3] or fields[3] not in en_passant:
        return f"expected {' '.join(expected[:4])!r} (first 4 fields), got {' '.join(fields[:4])!r}"
    return None


def _check_clocks(clocks: object, errors: list[FieldError]) -> None:
    if not isinstance(clocks, dict):
        errors.append(FieldError("clocks", "must be an object like {white: ms, black: ms}"))
        return
    if not clocks:
        errors.append(FieldError("clocks", "must have white and/or black"))
    for side, value in clocks.items():
        if side not in ("white", "black"):
            errors.append(FieldError(f"clocks.{side}", "unknown field (white or black)"))
        elif not _is_int(value) or not 0 <= value <= MAX_CLOCK_MS:
            errors.append(FieldError(f"clocks.{side}", "must be a non-negative integer (ms)"))


def _check_shapes(payload: dict[str, Any], errors: list[FieldError]) -> None:
    for key in payload:
        if key not in _FIELDS:
            errors.append(FieldError(str(key), "unknown field"))
    if "ply" not in payload:
        errors.append(FieldError("ply", "required"))
    elif not _is_int(payload["ply"]) or payload["ply"] < 0:
        errors.append(FieldError("ply", "must be a non-negative integer"))
    for key in _TEXT_FIELDS:
        if key in payload and not isinstance(payload[key], str):
            errors.append(FieldError(key, "must be a string"))
    for key in ("white", "black"):
        if isinstance(payload.get(key), str) and not payload[key].strip():
            errors.append(FieldError(key, "must not be empty"))
    if "fen" not in payload:
        errors.append(FieldError("fen", "required (the position after the update)"))
    if "result" in payload and payload["result"] not in RESULTS:
        errors.append(FieldError("result", "must be one of 1-0, 0-1, 1/2-1/2"))
    if "clocks" in payload:
        _check_clocks(payload["clocks"], errors)
    has_uci, has_san = "uci" in payload, "san" in payload
    if has_uci and not has_san:
        errors.append(FieldError("san", "required with uci"))
    elif has_san and not has_uci:
        errors.append(FieldError("uci", "required with san"))
    elif not has_uci and "result" not in payload:
        errors.append(FieldError("uci", "required (a move needs uci and san; or send a result)"))


def _check_result(result: object, board: chess.Board, errors: list[FieldError]) -> None:
    """A result must agree with a finished position (checkmate, stalemate)."""
    if result not in RESULTS:
        return
    if board.is_checkmate():
        winner = not board.turn
        expected = "1-0" if winner == chess.WHITE else "0-1"
        if result != expected:
            errors.append(
                FieldError("result", f"must be {expected}: {_side(winner)} has delivered mate")
            )
    elif board.is_stalemate() and result != "1/2-1/2":
        errors.append(FieldError("result", "must be 1/2-1/2: the position is stalemate"))


def _validate(payload: dict[str, Any], previous: dict[str, Any] | None) -> list[FieldError]:
    if not isinstance(payload, dict):
        return [FieldError("payload", "must be a JSON object")]
    errors: list[FieldError] = []
    _check_shapes(payload, errors)
    is_move = "uci" in payload or "san" in payload

    # The position and ply before this update.
    start: object
    prev_ply: int | None
    if previous is None:
        start = payload.get("startFen", STANDARD_START)
        start_path, prev_ply = "startFen", 0
    else:
        if "startFen" in payload:
            errors.append(FieldError("startFen", "only allowed on the first update"))
        if previous.get("result") in RESULTS:
            ply = previous.get("ply")
            errors.append(
                FieldError("ply", f"the game already ended {previous['result']} at ply {ply}")
            )
            return errors
        start, start_path = previous.get("fen"), "previous.fen"
        prev_ply = previous["ply"] if _is_int(previous.get("ply")) else None
        if prev_ply is None:
            errors.append(FieldError("previous.ply", "the previous update has no usable ply"))
    if not isinstance(start, str):
        if start_path == "previous.fen":
            errors.append(FieldError(start_path, "the previous update has no usable fen"))
        return errors  # startFen's type is already reported
    board, why = _board(start)
    if board is None:
        errors.append(FieldError(start_path, why))

    if prev_ply is not None and _is_int(payload.get("ply")) and payload["ply"] >= 0:
        expected_ply = prev_ply + 1 if is_move else prev_ply
        if payload["ply"] != expected_ply:
            what = "a move" if is_move else "a result-only update"
            after = f"after ply {prev_ply}" if previous is not None else "at the start"
            errors.append(
                FieldError(
                    "ply", f"expected {expected_ply} for {what} {after}, got {payload['ply']}"
                )
            )

    texts_ok = all(isinstance(payload.get(key, ""), str) for key in ("uci", "san", "fen"))
    if board is None or not texts_ok or ("uci" in payload) != ("san" in payload):
        return errors  # the position or the move cannot be checked

    if is_move:
        uci, san = payload["uci"], payload["san"]
        legal = {board.uci(move): move for move in board.legal_moves}
        if uci not in legal:
            if not _UCI.match(uci):
                reason = f"{uci!r} is not a UCI move (like e2e4, e7e8q)"
            elif board.is_game_over():
                reason = f"no move is legal: the game is over ({board.result()})"
            else:
                reason = f"{uci} is not legal with {_side(board.turn)} to move in {board.fen()}"
            errors.append(FieldError("uci", reason))
            return errors
        move = legal[uci]
        expected_san = board.san(move)
        if san != expected_san:
            errors.append(FieldError("san", f"expected {expected_san!r} for {uci}, got {san!r}"))
        board.push(move)

    if "fen" in payload:
        mismatch = _fen_mismatch(payload["fen"], board)
        if mismatch is not None:
            after = f"after {payload['uci']}" if is_move else "unchanged for a result-only update"
            errors.append(FieldError("fen", f"{mismatch} ({after})"))
    _check_result(payload.get("result"), board, errors)
    return errors


def _format_clock(ms: int) -> str:
    seconds = ms // 1000
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}"


class Chess:
    """Chess moves validated with python-chess; see the module docstring for the schema."""

    name = "chess"

    def validate(
        self, payload: dict[str, Any], previous: dict[str, Any] | None
    ) -> list[FieldError]:
        try:
            return _validate(payload, previous)
        except Exception as exc:  # python-chess on an odd position, or a bug: never raise
            return [FieldError("payload", f"could not be checked ({type(exc).__name__}: {exc})")]

    def fold(self, state: dict[str, Any] | None, payload: dict[str, Any]) -> dict[str, Any]:
        """The game so far: ``{"startFen", "moves": [SAN...], "ply", "fen", "clocks",
        "result", "white", "black"}``. About 8 bytes a ply: a 3,000-ply game is
        ~24 KiB, under :data:`~livegate.sports.MAX_STATE`."""
        game = dict(state) if state else {"startFen": payload.get("startFen", STANDARD_START)}
        moves = list(game.get("moves", ()))
        if isinstance(payload.get("san"), str):
            moves.append(payload["san"])
        game["moves"] = moves
        for key in ("ply", "fen", "clocks", "result", "white", "black"):
            if key in payload:
                game[key] = payload[key]
        return game

    def pgn(self, state: dict[str, Any], title: str) -> str:
        """The game as PGN (python-chess reads it back to the same position)."""
        import chess.pgn

        game = chess.pgn.Game()
        start = state.get("startFen", STANDARD_START)
        if start != STANDARD_START:
            game.setup(start)
        game.headers["Event"] = title
        for side, key in (("White", "white"), ("Black", "black")):
            if isinstance(state.get(key), str):
                game.headers[side] = state[key]
        game.headers["Result"] = state.get("result") or "*"
        board = game.board()
        node: chess.pgn.GameNode = game
        for san in state.get("moves", ()):
            move = board.parse_san(san)
            node = node.add_variation(move)
            board.push(move)
        return str(game) + "\n"

    def summary(self, payload: dict[str, Any]) -> str:
        """``12. Nf3 (white 1:23:00)``, ``12... Nf6``, ``17. Rd8# 1-0``, ``0-1 at ply 40``."""
        result = payload.get("result")
        san = payload.get("san")
        if not isinstance(san, str) or not san:
            return f"{result} at ply {payload.get('ply')}"
        fen = payload.get("fen")
        fields = fen.split(" ") if isinstance(fen, str) else []
        ply = payload.get("ply")
        # The side to move after the update is the other side.
        if len(fields) >= 2 and fields[1] in ("w", "b"):
            white_moved = fields[1] == "b"
        else:
            white_moved = _is_int(ply) and ply % 2 == 1
        if len(fields) == 6 and _COUNTER.match(fields[5]):
            number = int(fields[5]) if white_moved else int(fields[5]) - 1
        else:
            number = (ply + 1) // 2 if _is_int(ply) else 0
        text = f"{number}. {san}" if white_moved else f"{number}... {san}"
        side = "white" if white_moved else "black"
        clocks = payload.get("clocks")
        if isinstance(clocks, dict) and _is_int(clocks.get(side)) and clocks[side] >= 0:
            text += f" ({side} {_format_clock(clocks[side])})"
        if isinstance(result, str):
            text += f" {result}"
        return text


SPORT = Chess()
