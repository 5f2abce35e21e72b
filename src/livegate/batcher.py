"""Callers that share one call: a storm of joins reads an event a few times, not once each."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

__all__ = ["Batcher"]

K = TypeVar("K", bound=Hashable)
R = TypeVar("R")


class _Batch(Generic[R]):
    __slots__ = ("result", "size")

    def __init__(self, result: asyncio.Future[R]) -> None:
        self.result = result
        self.size = 0


class Batcher(Generic[K, R]):
    """``await batcher.call(key)`` returns what ``run(key, size)`` returned for its batch.

    The callers of one key that arrive while a call for that key is in flight wait
    together and share the next call, ``size`` being how many they are: one key has at
    most one call in flight, and a thousand callers cost a few calls, not a thousand.

    Guaranteed: a call starts after every member of its batch called :meth:`call`, so a
    member may rely on whatever it set up before calling (the gateway buffers an event's
    messages for a joining viewer before it reads the event). Every member gets the
    call's result or raises its exception. A member that is cancelled leaves the batch;
    the call goes on for the others.
    """

    __slots__ = ("_in_flight", "_run", "_waiting")

    def __init__(self, run: Callable[[K, int], Awaitable[R]]) -> None:
        self._run = run
        self._waiting: dict[K, _Batch[R]] = {}
        """The batch of each key that has not started: newcomers join it."""
        self._in_flight: dict[K, asyncio.Task[None]] = {}
        """Each key's started call, which the next batch of that key waits for."""

    async def call(self, key: K) -> R:
        batch = self._waiting.get(key)
        if batch is None:
            batch = self._waiting[key] = _Batch(asyncio.get_running_loop().create_future())
            previous = self._in_flight.get(key)
            task = asyncio.create_task(self._start(key, batch, previous))
            self._in_flight[key] = task
            task.add_done_callback(lambda done: self._forget(key, done))
        batch.size += 1
        # Shielded: a member cancelled leaves the call alone, and a failure the
        # cancelled members no longer wait for is marked read by the shield.
        return await asyncio.shield(batch.result)

    async def _start(self, key: K, batch: _Batch[R], previous: asyncio.Task[None] | None) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            else:
                # Let the callers that arrive in this loop iteration join first.
                await asyncio.sleep(0)
            del self._waiting[key]  # from here on, newcomers form the next batch
            result = await self._run(key, batch.size)
        except asyncio.CancelledError:  # the batcher's owner is shutting down
            if self._waiting.get(key) is batch:
                del self._waiting[key]
            batch.result.cancel()
            raise
        except Exception as exc:  # every member raises it
            batch.result.set_exception(exc)
            return
        batch.result.set_result(result)

    def _forget(self, key: K, done: asyncio.Task[None]) -> None:
        if self._in_flight.get(key) is done:
            del self._in_flight[key]

    def __len__(self) -> int:
        """Keys with a call in flight or waiting."""
        return len(self._in_flight)
