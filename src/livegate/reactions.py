"""Reaction aggregation for one event over one time window, pure.

Whatever the input rate, a window produces one aggregate: counts per emoji and
a uniform random sample of at most ``max_comments`` comments (reservoir
sampling, so memory stays bounded and every comment has the same chance).
"""

from __future__ import annotations

import random
from typing import Any

from livegate.protocol import REACTIONS_OTHER

__all__ = ["MAX_DISTINCT_EMOJI", "ReactionWindow"]

MAX_DISTINCT_EMOJI = 64
"""Distinct emoji kept per window; the rarest newcomers past this are counted as "other"."""


class ReactionWindow:
    """Accumulates reactions until ``drain()``; bounded in memory."""

    __slots__ = ("_rng", "_seen_comments", "comments", "counts", "max_comments")

    def __init__(self, max_comments: int, rng: random.Random) -> None:
        self.max_comments = max_comments
        self._rng = rng
        self.counts: dict[str, int] = {}
        self.comments: list[dict[str, Any]] = []
        self._seen_comments = 0

    def add(
        self,
        user_id: str,
        emoji: str,
        comment: str | None,
        *,
        name: str | None = None,
        verified: bool = False,
    ) -> None:
        """Count ``emoji``; sample ``comment`` with who wrote it. ``verified`` says the id
        (and ``name``, the display name) came from a signed token, not from the client."""
        emoji = self._count(emoji, 1)
        if comment:
            item: dict[str, Any] = {"id": user_id, "emoji": emoji, "comment": comment}
            if verified:
                item["verified"] = True
                if name:
                    item["name"] = name
            self._sample(item)

    def merge(self, counts: dict[str, int], comments: list[dict[str, Any]]) -> None:
        """Add another window's aggregate (another node's partial) to this one."""
        for emoji, count in counts.items():
            if isinstance(emoji, str) and isinstance(count, int) and count > 0:
                self._count(emoji, count)
        for item in comments[: self.max_comments]:
            if isinstance(item, dict):
                self._sample(item)

    def _count(self, emoji: str, count: int) -> str:
        counts = self.counts
        if emoji not in counts and len(counts) >= MAX_DISTINCT_EMOJI:
            emoji = REACTIONS_OTHER
        counts[emoji] = counts.get(emoji, 0) + count
        return emoji

    def _sample(self, item: dict[str, Any]) -> None:
        self._seen_comments += 1
        if len(self.comments) < self.max_comments:
            self.comments.append(item)
        else:
            slot = self._rng.randrange(self._seen_comments)
            if slot < self.max_comments:
                self.comments[slot] = item

    def __bool__(self) -> bool:
        return bool(self.counts)

    def drain(self) -> tuple[dict[str, int], list[dict[str, Any]]]:
        """Return the window's counts and comment sample and start a new window."""
        counts, comments = self.counts, self.comments
        self.counts, self.comments, self._seen_comments = {}, [], 0
        return counts, comments
