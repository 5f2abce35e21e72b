"""Helpers shared by the sport tests."""

from __future__ import annotations

import json
import textwrap
from typing import Any

from livegate.sports import FieldError, Sport


def paths(errors: list[FieldError]) -> list[str]:
    return [error.path for error in errors]


def docstring_example(doc: str | None) -> Any:
    """The JSON block after the first ``::`` of a docstring (docs copy it)."""
    assert doc is not None
    block = doc[doc.index("::\n") + 3 :].strip("\n").split("\n\n")[0]
    return json.loads(textwrap.dedent(block))


def check_sequence(sport: Sport, payloads: list[dict[str, Any]]) -> None:
    """Every payload is valid after the one before it."""
    previous = None
    for data in payloads:
        assert sport.validate(data, previous) == [], data
        previous = data
