"""Replaying recorded matches into a running gateway through its HTTP API.

A converter module turns a file into a :class:`Replay`: the sport, a title and
timed updates. Converters are pure (they read the file, nothing else) and raise
:class:`ReplayError` naming the position of the first problem.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Replay", "ReplayError", "ReplayItem", "read_replay_file"]


class ReplayError(Exception):
    """A malformed replay file; the message names the position (``innings 2, over 3.4``)."""


@dataclass(frozen=True, slots=True)
class ReplayItem:
    """One update to publish, ``at`` seconds after the replay starts (real pace)."""

    at: float
    data: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Replay:
    """A match ready to publish: the event's sport and title, then its updates in order."""

    sport: str
    title: str
    items: list[ReplayItem]
    meta: dict[str, Any] = field(default_factory=dict)
    result: str | None = None
    """The match's outcome in words, from the file (the event is ended with it)."""


def read_replay_file(path: str | Path) -> str:
    """The text of a replay file (UTF-8, a BOM allowed). Raises ReplayError."""
    try:
        return Path(path).read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise ReplayError(f"{path}: cannot read: {exc}") from None
