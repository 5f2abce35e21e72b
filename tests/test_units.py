"""Pure building blocks: token bucket, reaction window, liveness, memory store."""

from __future__ import annotations

import random

import pytest

from livegate.liveness import LivenessTracker
from livegate.memory_store import MemoryStore
from livegate.ratelimit import TokenBucket
from livegate.reactions import MAX_DISTINCT_EMOJI, ReactionWindow
from livegate.store import EventEnded, UnknownEvent


def test_token_bucket_burst_then_rate() -> None:
    bucket = TokenBucket(rate=5, burst=10, now=0.0)
    assert sum(bucket.take(0.0) for _ in range(20)) == 10
    assert not bucket.take(0.1)  # half a token
    assert bucket.take(0.2)  # one token refilled
    assert not bucket.take(0.2)
    assert sum(bucket.take(100.0) for _ in range(20)) == 10  # refill caps at burst


def test_reaction_window_counts_everything_and_samples_comments() -> None:
    window = ReactionWindow(max_comments=20, rng=random.Random(7))
    for i in range(1000):
        window.add(f"u{i}", "🏏" if i % 3 else "🔥", f"comment {i}")
    counts, comments = window.drain()
    assert counts == {"🏏": 666, "🔥": 334}
    assert len(comments) == 20
    assert len({c["comment"] for c in comments}) == 20
    # Reservoir sampling: later comments get in too, not only the first 20.
    assert any(int(c["comment"].split()[1]) >= 20 for c in comments)
    assert not window and window.drain() == ({}, [])


def test_reaction_window_bounds_distinct_emoji() -> None:
    window = ReactionWindow(max_comments=5, rng=random.Random(1))
    for i in range(MAX_DISTINCT_EMOJI + 50):
        window.add("u", f"e{i}", None)
    counts, _ = window.drain()
    assert len(counts) == MAX_DISTINCT_EMOJI + 1
    assert counts["other"] == 50
    assert sum(counts.values()) == MAX_DISTINCT_EMOJI + 50


def test_liveness_expires_only_the_silent() -> None:
    tracker: LivenessTracker[str] = LivenessTracker()
    tracker.touch("a", 0.0)
    tracker.touch("b", 1.0)
    tracker.touch("c", 2.0)
    tracker.touch("a", 3.0)  # a spoke again: moves to the back
    assert tracker.expired(now=5.5, timeout=4.0) == ["b"]
    assert tracker.expired(now=5.5, timeout=4.0) == []
    tracker.forget("c")
    assert tracker.expired(now=100.0, timeout=4.0) == ["a"]
    assert len(tracker) == 0


async def test_memory_store_seq_history_and_resume() -> None:
    store = MemoryStore(history_size=3, idempotency_keys=2, max_events=10)
    info, created = await store.put_event("m1", "cricket", "T", {}, now=1)
    assert created and info.seq == 0 and info.status == "scheduled"
    for i in range(1, 6):
        result = await store.append("m1", b'{"n":%d}' % i, now=i, idempotency_key=None)
        assert result.seq == i
    resume = await store.since("m1", 2, max_messages=3)
    assert resume.recovered and len(resume.missed) == 3
    capped = await store.since("m1", 2, max_messages=2)  # more missed than a resume replays
    assert not capped.recovered and capped.missed == []
    assert (await store.since("m1", 1, 10)).recovered is False  # seq 2 fell out of history
    assert (await store.since("m1", 5, 10)).recovered is True
    ahead = await store.since("m1", 9, 10)  # the client is ahead: the store was reset
    assert ahead.recovered is False and ahead.event.seq == 5
    assert ahead.event.snapshot == b'{"n":5}' and ahead.event.status == "live"


async def test_memory_store_idempotency_keys_expire() -> None:
    store = MemoryStore(
        history_size=10, idempotency_keys=100, idempotency_ttl_ms=1000, max_events=10
    )
    await store.put_event("m1", "generic", None, {}, now=0)
    first = await store.append("m1", b"{}", now=0, idempotency_key="k" * 256)
    assert (seen := await store.find_idempotent("m1", "k" * 256, now=1000)) is not None
    assert (seen.seq, seen.ts, seen.duplicate, seen.message) == (first.seq, 0, True, None)
    assert await store.find_idempotent("m1", "k" * 256, now=1001) is None  # past the TTL
    again = await store.append("m1", b"{}", now=1001, idempotency_key="k" * 256)
    assert not again.duplicate and again.seq == 2


async def test_memory_store_meta_is_replaced_not_merged() -> None:
    store = MemoryStore(history_size=10, idempotency_keys=2, max_events=10)
    await store.put_event("m1", "generic", None, {"a": 1}, now=0)
    info, _ = await store.put_event("m1", None, None, {"b": 2}, now=1)
    assert info.meta == {"b": 2}
    info, _ = await store.put_event("m1", None, "New title", {}, now=2)
    assert info.meta == {"b": 2} and info.title == "New title"


async def test_memory_store_idempotency_and_end() -> None:
    store = MemoryStore(history_size=10, idempotency_keys=2, max_events=10)
    await store.put_event("m1", "chess", None, {}, now=1)
    first = await store.append("m1", b"{}", now=1, idempotency_key="k1")
    again = await store.append("m1", b"{}", now=2, idempotency_key="k1")
    assert again.seq == first.seq and again.duplicate and again.message is None
    await store.append("m1", b"{}", now=3, idempotency_key="k2")
    await store.append("m1", b"{}", now=4, idempotency_key="k3")  # k1 forgotten (limit 2)
    assert not (await store.append("m1", b"{}", now=5, idempotency_key="k1")).duplicate
    info, changed = await store.end("m1", now=6)
    assert changed and info.status == "ended"
    assert (await store.end("m1", now=7))[1] is False
    with pytest.raises(EventEnded):
        await store.append("m1", b"{}", now=8, idempotency_key=None)
    with pytest.raises(UnknownEvent):
        await store.append("nope", b"{}", now=8, idempotency_key=None)


async def test_memory_store_viewer_presence_sums_nodes_and_keeps_peak() -> None:
    store = MemoryStore(history_size=10, idempotency_keys=2, max_events=10)
    await store.put_event("m1", "football", None, {}, now=1)
    assert await store.set_viewers("m1", "a", 3) == (3, 3)
    assert await store.set_viewers("m1", "b", 4) == (7, 7)
    assert await store.set_viewers("m1", "a", 0) == (4, 7)
    info = await store.get_event("m1")
    assert info is not None and (info.viewers, info.peak_viewers) == (4, 7)
