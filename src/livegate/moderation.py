"""Which comments fans may show each other (pure, no I/O but reading the word file).

Comments are the only text fans write to each other. A comment is refused when
it contains a blocked word or phrase (``--blocked-words FILE``: one per line,
``#`` comments; matched case-insensitively, after Unicode NFKC folding, on word
boundaries, so ``ass`` does not refuse "class") or a link (``http://``,
``www.``, or a bare ``name.tld/…``): links invite phishing and spam.
"""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

__all__ = ["CommentFilter"]

_LINK = re.compile(
    r"(?i)\b(?:https?://|www\.)\S+|\b[a-z0-9-]+\.(?:com|net|org|io|ly|co|gg|xyz|ru|info|me)\b"
)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


class CommentFilter:
    """Refuses comments with a blocked word or a link; ``why`` says which, or None."""

    def __init__(self, words: list[str] | None = None) -> None:
        folded = sorted({_fold(w.strip()) for w in words or () if w.strip()}, key=len, reverse=True)
        self.words = tuple(folded)
        self._blocked = (
            re.compile(r"(?<!\w)(?:" + "|".join(re.escape(w) for w in folded) + r")(?!\w)")
            if folded
            else None
        )

    @classmethod
    def load(cls, path: str | Path) -> CommentFilter:
        """Read a word file (``""``: no words, links only). Raises ValueError when it
        cannot be read."""
        if not str(path):
            return cls()
        try:
            text = Path(path).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read the blocked words file {str(path)!r}: {exc}") from None
        return cls([line.split("#", 1)[0] for line in text.splitlines()])

    def why(self, comment: str) -> str | None:
        """Why ``comment`` is refused ("a blocked word", "a link"), or None to show it."""
        if _LINK.search(comment):
            return "links are not allowed in comments"
        if self._blocked is not None and self._blocked.search(_fold(comment)):
            return "the comment contains a blocked word"
        return None
