"""Logging that a flood of bad clients cannot turn into a flood of log lines.

A client's mistake (a malformed request, a wrong API key, a refused upgrade) is
logged as one line, never a traceback; the first of each kind at once, then at
most one line per interval saying how many more there were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

__all__ = ["ThrottledLog"]


class ThrottledLog:
    """At most one line per ``kind`` per ``interval`` seconds, with a count of the rest.

    ``kind`` must come from a small fixed set (the caller's own words), never
    from client input, so the bookkeeping stays bounded.
    """

    def __init__(
        self,
        logger: logging.Logger,
        interval: float = 10.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._logger = logger
        self._interval = interval
        self._clock = clock
        self._last: dict[str, float] = {}
        self._suppressed: dict[str, int] = {}

    def note(self, kind: str, message: str, *args: object, level: int = logging.WARNING) -> bool:
        """Log ``message % args`` unless this kind was logged within the interval.

        Returns whether a line was written.
        """
        due, suppressed, since = self.due(kind)
        if not due:
            return False
        if suppressed:
            message += " (and %d more like it in the last %.0f s)"
            args = (*args, suppressed, since)
        self._logger.log(level, message, *args)
        return True

    def due(self, kind: str) -> tuple[bool, int, float]:
        """Whether a line of ``kind`` may be written now; if so, also how many
        were held back since the last one and how many seconds ago that was.
        """
        now = self._clock()
        last = self._last.get(kind)
        if last is not None and now - last < self._interval:
            self._suppressed[kind] = self._suppressed.get(kind, 0) + 1
            return False, 0, 0.0
        self._last[kind] = now
        return True, self._suppressed.pop(kind, 0), 0.0 if last is None else now - last
