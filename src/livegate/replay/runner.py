"""Publishing a :class:`~livegate.replay.Replay` to a gateway, paced.

Each update is acknowledged before the next is sent, so a replay is published
in order and stops at the first refusal. A network failure is retried with
the same Idempotency-Key, so a retry never publishes an update twice.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from livegate.api_client import ApiClient, ApiClientError
from livegate.replay import Replay, ReplayError

__all__ = ["KINDS", "load_replay", "publish_replay"]

KINDS = ("cricsheet", "pgn", "timeline")
"""Replay file kinds, as named on the command line."""

RETRIES = 5


def load_replay(kind: str, path: Path) -> Replay:
    """Read a replay file of ``kind``. Raises ReplayError (also for an unknown kind)."""
    if kind == "cricsheet":
        from livegate.replay import cricsheet

        return cricsheet.load(path)
    if kind == "pgn":
        from livegate.replay import pgn

        return pgn.load(path)
    if kind == "timeline":
        from livegate.replay import timeline

        return timeline.load(path)
    raise ReplayError(f"unknown replay kind {kind!r}; use one of {', '.join(KINDS)}")


async def publish_replay(
    api: ApiClient,
    replay: Replay,
    event_id: str,
    *,
    speed: float = 1.0,
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    clock: Callable[[], float] | None = None,
    on_published: Callable[[int, int], None] | None = None,
) -> int:
    """Publish every update of ``replay`` to ``event_id``; returns how many were published.

    Creates the event (with the replay's sport and title) if the gateway does not
    know it. ``speed`` is a multiple of real pace; 0 publishes as fast as the
    API acknowledges. ``on_published(index, seq)`` is called after each ack.
    Raises ApiClientError when the gateway refuses an update (a 422 names the
    fields) or stays unreachable after retries.
    """
    if speed < 0:
        raise ValueError("speed must be 0 (as fast as possible) or positive")
    loop = asyncio.get_running_loop()
    now = clock or loop.time
    if await api.find_event(event_id) is None:
        await api.put_event(event_id, sport=replay.sport, title=replay.title, **replay.meta)
    run_id = secrets.token_hex(6)
    started = now()
    for index, item in enumerate(replay.items):
        if speed > 0:
            delay = started + item.at / speed - now()
            if delay > 0:
                await sleep(delay)
        key = f"replay-{run_id}-{index}"
        try:
            answer = await _publish_with_retries(api, event_id, item.data, key, sleep)
        except ApiClientError as exc:
            raise ApiClientError(
                exc.status,
                exc.code,
                f"update {index + 1} of {len(replay.items)}: {exc.message}",
                exc.fields,
            ) from None
        if on_published is not None:
            on_published(index, int(answer["seq"]))
    return len(replay.items)


async def _publish_with_retries(
    api: ApiClient,
    event_id: str,
    data: dict[str, Any],
    key: str,
    sleep: Callable[[float], Awaitable[None]],
) -> dict[str, Any]:
    for attempt in range(RETRIES):
        try:
            return await api.publish(event_id, data, idempotency_key=key)
        except ApiClientError as exc:
            retryable = exc.status == 0 or exc.status >= 500
            if not retryable or attempt == RETRIES - 1:
                raise
            await sleep(min(5.0, 0.25 * 2**attempt))
    raise AssertionError("unreachable")
