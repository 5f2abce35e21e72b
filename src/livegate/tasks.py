"""Stopping background tasks for good, even when a library loses the cancel."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Iterable[asyncio.Task[None]]) -> None:
    """Cancel ``tasks`` and return once every one has ended; their errors are dropped.

    A task is cancelled again until it ends: on Python 3.11 a cancel that arrives as
    redis-py's pool wait (an ``asyncio.Condition`` under a timeout) is notified can be
    lost, and a loop that survives its failures (the engine's health check, the
    gateway's timers) then carries on, so waiting for it once never ended
    (``tests/test_engines.py`` closes an engine at that moment).
    """
    tasks = list(tasks)
    pending = {task for task in tasks if not task.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=0.1)
    for task in tasks:
        if not task.cancelled():
            task.exception()  # read, so a failure at shutdown is not logged as unread
