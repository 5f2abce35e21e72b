"""PGN files as chess replays: the first game of the file, one update per move.

Each move becomes a ``chess`` update (see :mod:`livegate.sports.chess`) with
``ply``, ``san``, ``uci``, ``fen``, the players' names (``white``/``black``, when
the headers name them), ``clocks`` when the game has ``[%clk h:mm:ss]``
comments, the move's comment (other ``[%...]`` commands removed) and, on the
last move, ``result`` (the ``Result`` header unless it is ``*``). A game from a
set position (``SetUp``/``FEN`` headers) sends ``startFen`` on its first
update. A game without moves whose result is known (a forfeit) becomes one
result-only update at ply 0.

Timing (``ReplayItem.at``, seconds after the start, real pace): a ply takes
the time its mover spent on it when the clocks tell, that is the mover's
previous ``[%clk]`` minus this one plus the increment of the ``TimeControl``
header (``5400+30``), never negative; the first clock of each side is
compared with the ``TimeControl`` base time. A ply whose time cannot be told
(no clock comment, or no earlier clock and no ``TimeControl``) takes
:data:`PLY_SECONDS`.

``clocks`` hold each side's last known remaining time, starting from the
``TimeControl`` base time when there is one; a side with no known time yet is
left out, and a game with no ``[%clk]`` comment has no ``clocks`` at all.

The title is ``"White v Black, Event Year"`` from the headers (``"Paul Morphy v
Duke Karl / Count Isouard, Paris 1858"``); ``meta`` carries the known
``event``, ``site``, ``date``, ``round``, ``white`` and ``black`` headers.

Every produced update is checked with the chess sport's ``validate`` in
sequence, so a replay that loads is one the gateway accepts.
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any, Final

import chess
import chess.pgn

from livegate.replay import Replay, ReplayError, ReplayItem, read_replay_file
from livegate.sports.chess import RESULTS, SPORT

__all__ = ["PLY_SECONDS", "load", "loads"]

PLY_SECONDS: Final = 20.0
"""Seconds per ply when the clocks do not tell."""

MAX_TITLE: Final = 200
_COMMAND: Final = re.compile(r"\[%[^\]]*\]")
_TIME_CONTROL: Final = re.compile(r"(?:[0-9]+/)?([0-9]+)(?:\+([0-9]+(?:\.[0-9]+)?))?")
_META_HEADERS: Final = ("Event", "Site", "Date", "Round", "White", "Black")


def load(path: str | Path) -> Replay:
    """Read the first game of the PGN file at ``path``. Raises :class:`ReplayError`."""
    return loads(read_replay_file(path), name=str(path))


def loads(text: str, *, name: str = "<pgn>") -> Replay:
    """Like :func:`load`, from the text of a PGN file; ``name`` prefixes error messages."""
    builder: _Builder | None = None

    def make_builder() -> _Builder:
        nonlocal builder
        builder = _Builder()
        return builder

    try:
        game = chess.pgn.read_game(io.StringIO(text), Visitor=make_builder)
    except Exception as exc:  # python-chess should collect errors, but never let one escape
        raise ReplayError(f"{name}: unreadable PGN ({type(exc).__name__}: {exc})") from None
    if game is None or builder is None:
        raise ReplayError(f"{name}: no game found (empty file?)")
    if builder.first_error is not None:
        raise ReplayError(f"{name}: {builder.first_error}")
    return _replay(game, name)


class _Builder(chess.pgn.GameBuilder[chess.pgn.Game]):
    """python-chess's game builder, remembering where the first error happened.

    python-chess reports an error through :meth:`handle_error` without the
    position; the position is the one last given to :meth:`begin_parse_san`.
    """

    def __init__(self) -> None:
        super().__init__()
        self.first_error: str | None = None
        self._board: chess.Board | None = None
        self._san = ""
        self._variation_depth = 0

    def begin_parse_san(self, board: chess.Board, san: str) -> None:
        self._board, self._san = board, san

    def begin_variation(self) -> None:
        self._variation_depth += 1
        super().begin_variation()

    def end_variation(self) -> None:
        self._variation_depth = max(self._variation_depth - 1, 0)
        super().end_variation()

    def handle_error(self, error: Exception) -> None:
        # Collected like GameBuilder does, minus its logging: the caller reports.
        self.game.errors.append(error)
        if self.first_error is None:
            self.first_error = self._describe(error)

    def _describe(self, error: Exception) -> str:
        board = self._board
        if board is None:  # before any move: a header (FEN, Variant)
            return f"headers: {error}"
        if isinstance(error, chess.IllegalMoveError):
            what = "illegal move"
        elif isinstance(error, chess.AmbiguousMoveError):
            what = "ambiguous move"
        else:
            what = "invalid move"
        dots = "" if board.turn == chess.WHITE else "..."
        where = f"move {board.fullmove_number}{dots} (ply {len(board.move_stack) + 1})"
        if self._variation_depth:
            where = f"in a variation at {where}"
        return f"{where}: {what} {self._san}"


def _header(game: chess.pgn.Game, name: str) -> str | None:
    value = game.headers.get(name, "").strip()
    return value if value and not set(value) <= {"?", "."} else None


def _time_control(game: chess.pgn.Game) -> tuple[float, float] | None:
    """``(base seconds, increment seconds)`` of the first period, if the header says."""
    value = _header(game, "TimeControl")
    match = _TIME_CONTROL.fullmatch(value.split(":")[0]) if value else None
    if match is None:
        return None
    return float(match.group(1)), float(match.group(2) or 0)


def _title(game: chess.pgn.Game) -> str:
    white = _header(game, "White") or "White"
    black = _header(game, "Black") or "Black"
    date = _header(game, "Date") or ""
    year = date[:4] if date[:4].isascii() and date[:4].isdigit() else ""
    where = " ".join(part for part in (_header(game, "Event"), year) if part)
    title = f"{white} v {black}" + (f", {where}" if where else "")
    return title[:MAX_TITLE]


def _replay(game: chess.pgn.Game, name: str) -> Replay:
    board = game.board()
    if type(board) is not chess.Board or board.chess960:
        variant = game.headers.get("Variant", "?")
        raise ReplayError(f"{name}: headers: variant {variant!r} is not supported (standard only)")
    if not board.is_valid():
        raise ReplayError(f"{name}: headers: FEN is not a legal position")
    names = {
        side: value
        for side, value in (("white", _header(game, "White")), ("black", _header(game, "Black")))
        if value is not None
    }
    start_fen = board.fen() if "FEN" in game.headers else None
    result = game.headers.get("Result", "*")
    nodes = list(game.mainline())
    has_clocks = any(node.clock() is not None for node in nodes)
    time_control = _time_control(game)
    base, increment = time_control if time_control else (None, 0.0)
    last: dict[chess.Color, float | None] = {chess.WHITE: base, chess.BLACK: base}

    items: list[ReplayItem] = []
    at = 0.0
    for ply, node in enumerate(nodes, start=1):
        move, mover = node.move, board.turn
        data: dict[str, Any] = {
            "ply": ply,
            "san": board.san(move),
            "uci": board.uci(move),
        }
        board.push(move)
        data["fen"] = board.fen()
        clock = node.clock()
        before = last[mover]
        spent = None if clock is None or before is None else max(before - clock + increment, 0)
        at += PLY_SECONDS if spent is None else spent
        if clock is not None:
            last[mover] = clock
        if has_clocks:
            clocks = {
                "white" if color == chess.WHITE else "black": round(seconds * 1000)
                for color, seconds in last.items()
                if seconds is not None
            }
            if clocks:
                data["clocks"] = clocks
        comment = " ".join(_COMMAND.sub(" ", node.comment).split())
        if comment:
            data["comment"] = comment
        items.append(ReplayItem(at=at, data=data))

    if items:
        if result in RESULTS:
            items[-1].data["result"] = result
    elif result in RESULTS:
        items.append(ReplayItem(at=0.0, data={"ply": 0, "fen": board.fen(), "result": result}))
    else:
        raise ReplayError(f"{name}: no moves and no result")
    if start_fen is not None:
        items[0].data["startFen"] = start_fen
    for item in items:
        item.data.update(names)

    previous: dict[str, Any] | None = None
    for item in items:
        errors = SPORT.validate(item.data, previous)
        if errors:
            where = _where(item.data)
            details = "; ".join(f"{error.path}: {error.reason}" for error in errors)
            raise ReplayError(f"{name}: {where}: {details}")
        previous = item.data

    meta = {key.lower(): value for key in _META_HEADERS if (value := _header(game, key))}
    return Replay(sport="chess", title=_title(game), items=items, meta=meta, result=_result(game))


_RESULT_WORDS = {"1-0": "White won", "0-1": "Black won", "1/2-1/2": "Draw"}


def _result(game: chess.pgn.Game) -> str | None:
    """``1-0: Morphy (white) won``, ``1/2-1/2: draw``, or None for ``*``."""
    result = game.headers.get("Result", "*")
    if result not in _RESULT_WORDS:
        return None
    if result == "1/2-1/2":
        return "1/2-1/2: draw"
    side = "White" if result == "1-0" else "Black"
    name = game.headers.get(side, "?")
    who = f"{name} ({side.lower()})" if name not in ("?", "") else side
    return f"{result}: {who} won"


def _where(data: dict[str, Any]) -> str:
    """``move 17 (ply 33)`` for an update, from its ply and the position after it."""
    ply = data["ply"]
    if "san" not in data:
        return f"result {data.get('result')} (ply {ply})"
    fields = str(data["fen"]).split(" ")
    white_moved = fields[1] == "b"
    number = int(fields[5]) - (0 if white_moved else 1)
    return f"move {number}{'' if white_moved else '...'} (ply {ply}) {data['san']}"
