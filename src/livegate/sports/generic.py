"""The ``generic`` sport: any JSON object is a valid update."""

from __future__ import annotations

from typing import Any

from livegate.sports import FieldError

__all__ = ["SPORT"]


class Generic:
    name = "generic"

    def validate(
        self, payload: dict[str, Any], previous: dict[str, Any] | None
    ) -> list[FieldError]:
        return []

    def summary(self, payload: dict[str, Any]) -> str:
        text = str(payload.get("comment") or payload.get("summary") or "")
        return text[:200] or f"update with {len(payload)} fields"


SPORT = Generic()
