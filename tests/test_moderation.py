"""Comments: blocked words and links are refused; the emoji still counts."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp

from livegate.moderation import CommentFilter
from tests.conftest import Api, LivegateProcess, join_ws, recv_type


def test_the_filter() -> None:
    words = CommentFilter(["idiot", "Official Scorer", "  "])
    assert words.why("what a catch!") is None
    assert words.why("you IDIOT") == "the comment contains a blocked word"
    full_width = "".join(chr(0xFF41 + ord(c) - ord("a")) for c in "idiot")
    assert words.why(full_width) is not None  # full-width letters fold to the same word
    assert words.why("idiotic") is None  # whole words only
    assert words.why("I am the official scorer ✔") is not None
    for link in ("see https://x.example/p", "www.win-prizes.example", "free at spam.com now"):
        assert CommentFilter().why(link) == "links are not allowed in comments"
    assert CommentFilter().why("4.5 overs left, 3.2 rpo") is None


async def test_refused_comments_on_a_real_server(
    http: aiohttp.ClientSession, server_factory: Any, tmp_path: Path
) -> None:
    words = tmp_path / "words"
    words.write_text("# one per line\nidiot\n")
    server: LivegateProcess = server_factory(
        "--blocked-words", str(words), "--reaction-window", "0.1"
    )
    await Api(http, server).create_event("m1")
    sender, _ = await join_ws(http, server, "m1", "fan-a")
    watcher, _ = await join_ws(http, server, "m1", "fan-b")
    await sender.send_str('{"type":"reaction","emoji":"🔥","comment":"you idiot"}')
    error = await recv_type(sender, "error")
    assert error["code"] == "comment_refused" and "blocked word" in error["message"]
    await sender.send_str('{"type":"reaction","emoji":"👏","comment":"go to www.spam.example"}')
    assert (await recv_type(sender, "error"))["code"] == "comment_refused"
    await sender.send_str('{"type":"reaction","emoji":"😮","comment":"what a catch"}')
    counts: dict[str, int] = {}
    comments: list[str] = []
    async with asyncio.timeout(5):
        while sum(counts.values()) < 3:
            message = await recv_type(watcher, "reactions")
            for emoji, count in message["counts"].items():
                counts[emoji] = counts.get(emoji, 0) + count
            comments += [c["comment"] for c in message["comments"]]
    assert counts == {"🔥": 1, "👏": 1, "😮": 1}  # every emoji counted
    assert comments == ["what a catch"]  # only the clean comment shown
    # SIGHUP reloads the list without dropping anyone.
    words.write_text("idiot\ncatch\n")
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    await asyncio.sleep(0.5)
    await sender.send_str('{"type":"reaction","emoji":"😮","comment":"what a catch"}')
    assert (await recv_type(sender, "error"))["code"] == "comment_refused"
