"""Sport definitions: one module per sport under one small interface.

Each module in this package that defines a module-level ``SPORT`` (an object
satisfying :class:`Sport`) is registered under ``SPORT.name`` automatically, so
adding a sport is adding a module, nothing else. An event whose sport has no
module is treated as ``generic``: any JSON object is accepted.
"""

from __future__ import annotations

import importlib
import pkgutil
from dataclasses import dataclass
from functools import cache
from typing import Any, Protocol

__all__ = ["MAX_STATE", "FieldError", "Sport", "fold_state", "get_sport", "known_sports"]

MAX_STATE = 256 * 1024
"""Bytes a sport's match state may take as JSON (sent in every ``joined``)."""


@dataclass(frozen=True, slots=True)
class FieldError:
    """One offending field: ``path`` like ``batsman.runs`` or ``ball 12``, and why."""

    path: str
    reason: str

    def as_json(self) -> dict[str, str]:
        return {"path": self.path, "reason": self.reason}


class Sport(Protocol):
    """What a sport module provides. Implementations are pure and stateless."""

    name: str
    """The event's ``sport`` value this module handles, e.g. ``cricket``."""

    def validate(
        self, payload: dict[str, Any], previous: dict[str, Any] | None
    ) -> list[FieldError]:
        """Every problem with ``payload`` (empty if it is valid).

        ``previous`` is the event's latest accepted payload (None before the
        first), for rules that depend on the state so far (a chess move must be
        legal in the previous position). Must not raise for any JSON object.
        """
        ...

    def summary(self, payload: dict[str, Any]) -> str:
        """A short human line for a valid payload, for logs and notifications."""
        ...


@cache
def _registry() -> dict[str, Sport]:
    sports: dict[str, Sport] = {}
    for module_info in pkgutil.iter_modules(__path__):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        sport = getattr(module, "SPORT", None)
        if sport is not None:
            sports[sport.name] = sport
    return sports


def fold_state(sport: Sport, state: dict[str, Any] | None, payload: dict[str, Any]) -> Any:
    """The sport's match state after the valid ``payload``, or None for a sport
    that keeps none. A sport keeps one by defining ``fold(state, payload)``: pure,
    it folds one accepted update into the state so far (None before the first).
    """
    fold = getattr(sport, "fold", None)
    return None if fold is None else fold(state, payload)


def get_sport(name: str) -> Sport:
    """The module for ``name``; ``generic`` when no module handles it."""
    registry = _registry()
    return registry.get(name) or registry["generic"]


def known_sports() -> list[str]:
    """Names of every sport with a module, sorted."""
    return sorted(_registry())
