"""Pure building blocks: token bucket, reaction window, liveness, memory store."""

from __future__ import annotations

import random

from livegate.liveness import LivenessTracker
from livegate.ratelimit import TokenBucket
from livegate.reactions import MAX_DISTINCT_EMOJI, ReactionWindow


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
