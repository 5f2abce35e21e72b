"""The Batcher: callers of one key share calls, one in flight at a time, nothing lost."""

from __future__ import annotations

import asyncio
import gc

import pytest

from livegate.batcher import Batcher


class Recorder:
    """A ``run`` that records each call (key, size, what was set up) and can be held."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, int, int]] = []
        self.set_up = 0
        """Bumped by each caller before it calls: what a call sees of its members."""
        self.in_flight = 0
        self.most_in_flight = 0
        self.finished = 0
        self.changed = asyncio.Condition()
        self.gate = asyncio.Event()
        self.gate.set()
        self.fail: Exception | None = None

    async def run(self, key: str, size: int) -> str:
        self.calls.append((key, size, self.set_up))
        number = len(self.calls)
        self.in_flight += 1
        async with self.changed:
            self.changed.notify_all()
        self.most_in_flight = max(self.most_in_flight, self.in_flight)
        try:
            await self.gate.wait()
            if self.fail is not None:
                raise self.fail
            return f"{key}#{number}"
        finally:
            self.in_flight -= 1
            self.finished += 1
            async with self.changed:
                self.changed.notify_all()

    async def held_call(self, batcher: Batcher[str, str], callers: int) -> list[asyncio.Task[str]]:
        """``callers`` callers of key ``e`` whose call has started and is held at the gate."""
        self.gate.clear()
        tasks = [asyncio.create_task(self.caller(batcher, "e")) for _ in range(callers)]
        await self.until(calls=len(self.calls) + 1)
        return tasks

    async def until(self, calls: int = 0, finished: int = 0) -> None:
        async with self.changed:
            await self.changed.wait_for(
                lambda: len(self.calls) >= calls and self.finished >= finished
            )

    async def caller(self, batcher: Batcher[str, str], key: str) -> str:
        self.set_up += 1
        return await batcher.call(key)


async def test_callers_of_one_iteration_share_one_call() -> None:
    rec = Recorder()
    batcher: Batcher[str, str] = Batcher(rec.run)
    results = await asyncio.gather(*(rec.caller(batcher, "e") for _ in range(50)))
    assert results == ["e#1"] * 50
    assert rec.calls == [("e", 50, 50)]
    assert len(batcher) == 0  # nothing kept once done


async def test_callers_during_a_call_share_the_next_one_which_starts_after_it() -> None:
    rec = Recorder()
    batcher: Batcher[str, str] = Batcher(rec.run)
    first = await rec.held_call(batcher, 3)
    later = [asyncio.create_task(rec.caller(batcher, "e")) for _ in range(40)]
    for _ in range(20):  # however long the first call takes, the next waits for it
        await asyncio.sleep(0)
    assert len(rec.calls) == 1
    rec.gate.set()
    assert await asyncio.gather(*first) == ["e#1"] * 3
    assert await asyncio.gather(*later) == ["e#2"] * 40
    # The second call saw every one of its 40 members set up before it started.
    assert rec.calls == [("e", 3, 3), ("e", 40, 43)]
    assert rec.most_in_flight == 1


async def test_keys_do_not_wait_for_each_other() -> None:
    rec = Recorder()
    batcher: Batcher[str, str] = Batcher(rec.run)
    rec.gate.clear()
    tasks = [asyncio.create_task(rec.caller(batcher, key)) for key in ("a", "b", "a", "c")]
    await rec.until(calls=3)
    assert rec.most_in_flight == 3
    rec.gate.set()
    assert await asyncio.gather(*tasks) == ["a#1", "b#2", "a#1", "c#3"]
    assert sorted((key, size) for key, size, _ in rec.calls) == [("a", 2), ("b", 1), ("c", 1)]


async def test_a_failure_reaches_every_member_and_the_next_batch_starts_afresh() -> None:
    rec = Recorder()
    batcher: Batcher[str, str] = Batcher(rec.run)
    rec.fail = LookupError("engine down")
    outcomes = await asyncio.gather(
        *(rec.caller(batcher, "e") for _ in range(5)), return_exceptions=True
    )
    assert all(isinstance(o, LookupError) and str(o) == "engine down" for o in outcomes)
    rec.fail = None
    assert await rec.caller(batcher, "e") == "e#2"


async def test_a_cancelled_member_leaves_and_the_call_goes_on_for_the_rest() -> None:
    rec = Recorder()
    batcher: Batcher[str, str] = Batcher(rec.run)
    tasks = await rec.held_call(batcher, 3)
    tasks[0].cancel()
    rec.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await tasks[0]
    assert await asyncio.gather(*tasks[1:]) == ["e#1", "e#1"]
    # A failure nobody waits for any more is not reported as never retrieved.
    reported: list[str] = []
    asyncio.get_running_loop().set_exception_handler(
        lambda _l, ctx: reported.append(ctx["message"])
    )
    rec.fail = LookupError("unread")
    [lonely] = await rec.held_call(batcher, 1)
    lonely.cancel()
    rec.gate.set()
    with pytest.raises(asyncio.CancelledError):
        await lonely
    await rec.until(finished=2)
    await asyncio.sleep(0)
    assert len(batcher) == 0
    gc.collect()
    assert reported == []
