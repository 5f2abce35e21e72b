"""Browser tests of the scorer console's moderation panel, in Chromium against a real server.

The console watches the selected event as a viewer and lists its comments; a click
mutes a viewer through ``POST /api/events/{id}/mutes``, the muted list comes from
``GET …/mutes`` and "Unmute" is ``DELETE …/mutes/{viewer}``. Fans are real WebSocket
clients of the test; what the panel does is checked through the API and through
what the fans receive. Like ``tests/test_web.py``, nothing sleeps to assert, and an
uncaught page error or CSP violation fails the test.
"""

from __future__ import annotations

import asyncio
import os
import re
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import orjson
import pytest

from livegate.viewer_tokens import mint_token
from tests import test_web as web
from tests.conftest import API_KEY, LivegateProcess, join_ws, recv_type

try:
    from playwright.async_api import Browser, Page, async_playwright, expect
except ImportError:  # pragma: no cover - playwright is in the dev extras
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("pip install playwright (the dev extras)", allow_module_level=True)

SECRET = "a-moderation-test-secret-of-32-bytes-or-more"
SCORER = "ipl-scorer-key-0123456789"
"""A scorer's key in the keys file: it may publish to (and moderate) ``ipl-*`` only."""
POLL_MS = 13_000
"""The panel asks for the mutes every 10 s; a change made elsewhere shows within this."""


@pytest.fixture(scope="module")
def mod_server() -> Iterator[LivegateProcess]:
    """Short reaction windows, and viewer tokens so that comments can be verified."""
    server = LivegateProcess("--reaction-window", "0.2", "--token-hmac-secret", SECRET)
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def chromium() -> AsyncIterator[Browser]:
    web._require_chromium()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=web.CHROMIUM, args=web.CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def pages(chromium: Browser, mod_server: LivegateProcess) -> AsyncIterator[web.Browsing]:
    browsing = web.Browsing(chromium, mod_server.url)
    yield browsing
    assert not browsing.problems, "errors in the page:\n" + "\n".join(browsing.problems)


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


async def create_event(
    http: aiohttp.ClientSession, server: LivegateProcess, event_id: str, title: str
) -> None:
    async with http.put(
        f"{server.url}/api/events/{event_id}",
        json={"sport": "cricket", "title": title},
        headers=bearer(API_KEY),
    ) as resp:
        assert resp.status == 201, await resp.text()


async def mutes(
    http: aiohttp.ClientSession, server: LivegateProcess, event_id: str
) -> dict[str, int]:
    """The event's mutes, asked with the admin key: viewer id to ``until`` (ms)."""
    async with http.get(
        f"{server.url}/api/events/{event_id}/mutes", headers=bearer(API_KEY)
    ) as resp:
        assert resp.status == 200, await resp.text()
        body = await resp.json()
        return {mute["id"]: mute["until"] for mute in body["mutes"]}


async def say(ws: aiohttp.ClientWebSocketResponse, emoji: str, comment: str) -> None:
    await ws.send_str(
        orjson.dumps({"type": "reaction", "emoji": emoji, "comment": comment}).decode()
    )


async def window_with(ws: aiohttp.ClientWebSocketResponse, emoji: str) -> dict[str, Any]:
    """The next ``reactions`` message that counts ``emoji``."""
    async with asyncio.timeout(5):
        while emoji not in (message := await recv_type(ws, "reactions"))["counts"]:
            pass
    return message


async def open_console(pages: web.Browsing, event_id: str, key: str, **size: Any) -> Page:
    """The scorer console on ``event_id`` with ``key`` saved and the moderation panel open."""
    page = await pages.open(f"/scorer?event={event_id}", **size)
    await page.get_by_label("API key (kept in this tab only)").fill(key)
    await page.get_by_role("button", name="Save").click()
    await expect(page.locator("#event-select")).to_have_value(event_id)
    panel = page.locator("#moderation")
    await expect(panel).to_be_visible()
    await panel.get_by_text("Watch comments and mute viewers").click()
    await expect(panel.locator("#mod-body")).to_have_attribute("data-state", "connected")
    await expect(panel.locator("#mod-conn")).to_contain_text("Watching comments live")
    return page


async def test_a_comment_is_listed_and_one_click_mutes_its_viewer(
    pages: web.Browsing, mod_server: LivegateProcess, http: aiohttp.ClientSession
) -> None:
    event_id = web.new_id("mod")
    await create_event(http, mod_server, event_id, "Mods v Trolls")
    page = await open_console(pages, event_id, API_KEY)
    panel = page.locator("#moderation")
    await expect(panel.locator("#mod-mutes-note")).to_have_text("No one is muted on this event.")
    await expect(panel.locator("#mod-comments-empty")).to_be_visible()

    troll, _ = await join_ws(http, mod_server, event_id, "troll-7")
    signed = mint_token(sub="fan-asha", key=SECRET, now=time.time(), name="Asha")
    asha, joined = await join_ws(http, mod_server, event_id, "fan-asha", token=signed)
    assert joined["viewer"]["name"] == "Asha"
    try:
        # Viewer text is only text: markup in a comment shows as typed and builds nothing.
        await say(troll, "🤡", "<b>boo</b> <img src=x>")
        comments = panel.locator("#mod-comments li")
        troll_row = comments.filter(has_text="troll-7")
        await expect(troll_row).to_have_count(1, timeout=web.LIVE_MS * 3)
        await expect(troll_row.locator(".mod-text")).to_have_text("<b>boo</b> <img src=x>")
        await expect(troll_row.locator(".mod-emoji")).to_have_text("🤡")
        assert await troll_row.locator("b, img").count() == 0
        await expect(troll_row.locator(".mod-verified")).to_have_count(0)  # anonymous
        await expect(panel.locator("#mod-comments-empty")).to_be_hidden()

        # A viewer with a token: its name and a verified mark; newest comment first.
        await say(asha, "🔥", "what a catch")
        asha_row = comments.filter(has_text="fan-asha")
        await expect(comments.first).to_contain_text("what a catch", timeout=web.LIVE_MS * 3)
        await expect(asha_row.locator(".mod-name")).to_have_text("Asha")
        await expect(asha_row.locator(".mod-verified")).to_contain_text("verified")

        # One click: ten minutes.
        await troll_row.get_by_role("button", name="Mute 10 min").click()
        muted = panel.locator("#mod-mutes li")
        await expect(muted).to_have_count(1)
        await expect(muted.filter(has_text="troll-7")).to_contain_text(
            re.compile(r"(9 min \d+|10 min 0) s left")
        )
        await expect(panel.locator("#mod-status")).to_contain_text("Muted troll-7 for 10 min")
        await expect(troll_row.locator(".mod-badge")).to_be_visible()
        await expect(asha_row.locator(".mod-badge")).to_be_hidden()
        left = (await mutes(http, mod_server, event_id))["troll-7"] - time.time() * 1000
        assert 590_000 < left <= 601_000, left

        # The troll's next comment: refused to it, shown to no one, its emoji still counted.
        await say(troll, "🙈", "still here")
        assert (await recv_type(troll, "error"))["code"] == "muted"
        window = await window_with(asha, "🙈")
        assert "still here" not in [c["comment"] for c in window["comments"]]
        await say(asha, "👏", "fair play")  # after the troll's, so its window came first
        await expect(comments.first).to_contain_text("fair play", timeout=web.LIVE_MS * 3)
        await expect(troll_row).to_have_count(1)
        await expect(panel.locator("#mod-comments")).not_to_contain_text("still here")

        # A longer mute from the select: the buttons say so; the API gets an hour.
        await panel.get_by_label("Mute for").select_option(label="1 h")
        await asha_row.first.get_by_role("button", name="Mute 1 h").click()
        await expect(muted.filter(has_text="fan-asha")).to_contain_text(
            re.compile(r"59 min \d+ s left|1 h 0 min left")
        )
        left = (await mutes(http, mod_server, event_id))["fan-asha"] - time.time() * 1000
        assert 3_590_000 < left <= 3_601_000, left
        await say(asha, "😡", "muted too?")
        assert (await recv_type(asha, "error"))["code"] == "muted"

        # Unmute: the DELETE lifts it, the list drops it, the next comment shows again.
        await muted.filter(has_text="troll-7").get_by_role("button", name="Unmute").click()
        await expect(muted.filter(has_text="troll-7")).to_have_count(0)
        await expect(muted).to_have_count(1)  # Asha stays muted
        await expect(panel.locator("#mod-status")).to_have_text("Unmuted troll-7.")
        assert list(await mutes(http, mod_server, event_id)) == ["fan-asha"]
        await expect(troll_row.locator(".mod-badge")).to_be_hidden()
        await say(troll, "🎉", "sorry, back to cricket")
        window = await window_with(asha, "🎉")
        assert "sorry, back to cricket" in [c["comment"] for c in window["comments"]]
        await expect(comments.first).to_contain_text("sorry, back to cricket")
        await expect(panel.locator("#mod-error")).to_be_hidden()
    finally:
        await troll.close()
        await asha.close()


async def test_the_muted_list_follows_mutes_made_elsewhere_and_fits_a_phone(
    pages: web.Browsing, mod_server: LivegateProcess, http: aiohttp.ClientSession
) -> None:
    event_id = web.new_id("mod-poll")
    await create_event(http, mod_server, event_id, "Polls v Phones")
    page = await open_console(pages, event_id, API_KEY, width=360, height=780)
    panel = page.locator("#moderation")
    await expect(panel.locator("#mod-mutes-note")).to_have_text("No one is muted on this event.")

    # Another scorer (here, the test) mutes a viewer whose id needs escaping in a URL:
    # the panel's list picks it up at its next refresh.
    odd = "quiet/one 100%"
    async with http.post(
        f"{mod_server.url}/api/events/{event_id}/mutes",
        json={"id": odd, "seconds": 86_400},
        headers=bearer(API_KEY),
    ) as resp:
        assert resp.status == 200, await resp.text()
    muted = panel.locator("#mod-mutes li").filter(has_text=odd)
    await expect(muted).to_contain_text(
        re.compile(r"23 h 59 min left|24 h 0 min left"), timeout=POLL_MS
    )

    # Unmuted elsewhere meanwhile: the click is answered 404, in words, and the list refreshed.
    async with http.delete(
        f"{mod_server.url}/api/events/{event_id}/mutes/quiet%2Fone%20100%25",
        headers=bearer(API_KEY),
    ) as resp:
        assert resp.status == 204, await resp.text()
    await muted.get_by_role("button", name="Unmute").click()
    error = panel.locator("#mod-error")
    await expect(error).to_contain_text(f"Could not unmute {odd}: that viewer is not muted")
    await expect(error).to_contain_text("(404 not_muted)")
    await expect(panel.locator("#mod-mutes li")).to_have_count(0)
    await expect(panel.locator("#mod-mutes-note")).to_have_text("No one is muted on this event.")

    # That viewer comments (ids may hold "/", "%" and spaces), and so does one whose long
    # unbroken id must wrap rather than widen a phone's page.
    fan, _ = await join_ws(http, mod_server, event_id, odd)
    watcher, _ = await join_ws(http, mod_server, event_id, "x" * 128)
    try:
        await say(fan, "🏏", "hello from a strange id")
        await say(watcher, "🔥", "w" * 280)
        comments = panel.locator("#mod-comments li")
        await expect(comments).to_have_count(2, timeout=web.LIVE_MS * 3)
        await comments.filter(has_text=odd).get_by_role("button", name="Mute 10 min").click()
        await expect(muted).to_have_count(1)
        await expect(error).to_be_hidden()
        assert list(await mutes(http, mod_server, event_id)) == [odd]
        assert await page.evaluate(web.UNLABELLED_CONTROLS) == []
        overflow = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"the panel is {overflow}px wider than a 360px screen"

        # Unmute escapes the id in the DELETE path: the mute is lifted.
        await muted.get_by_role("button", name="Unmute").click()
        await expect(panel.locator("#mod-status")).to_have_text(f"Unmuted {odd}.")
        await expect(muted).to_have_count(0)
        assert await mutes(http, mod_server, event_id) == {}

        # Closing the panel leaves the event: the console no longer counts as a viewer.
        await fan.close()
        await panel.get_by_text("Watch comments and mute viewers").click()
        await expect(panel.locator("#mod-body")).to_have_attribute("data-state", "closed")
        async with asyncio.timeout(5):
            while (await recv_type(watcher, "viewers"))["count"] != 1:
                pass
    finally:
        await fan.close()
        await watcher.close()


async def test_keys_that_may_not_moderate_are_told_in_words(
    pages: web.Browsing,
    server_factory: Any,
    http: aiohttp.ClientSession,
    tmp_path: Path,
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"ipl-scorer publish:ipl-* {SCORER}\n")
    server: LivegateProcess = server_factory(
        "--api-keys-file", str(keys), "--reaction-window", "0.2"
    )
    pages.base_url = server.url
    other = web.new_id("epl")
    own = web.new_id("ipl")
    await create_event(http, server, other, "Not yours")
    await create_event(http, server, own, "Yours")

    # The scorer of ipl-* opens a football match: the list is refused, in words.
    page = await open_console(pages, other, SCORER)
    panel = page.locator("#moderation")
    error = panel.locator("#mod-error")
    await expect(error).to_contain_text(
        f"Cannot list the muted viewers: this API key may not moderate “{other}”"
    )
    await expect(error).to_contain_text("(403 forbidden)")
    # Comments still show (watching needs no key), but muting is refused too.
    fan, _ = await join_ws(http, server, other, "fan-1")
    try:
        await say(fan, "⚽", "come on")
        row = panel.locator("#mod-comments li").filter(has_text="fan-1")
        await row.get_by_role("button", name="Mute 10 min").click(timeout=web.LIVE_MS * 3)
        await expect(error).to_contain_text("Could not mute fan-1: this API key may not moderate")
        await expect(error).to_contain_text("(403 forbidden)")
        await expect(panel.locator("#mod-status")).to_have_text("")
        assert await mutes(http, server, other) == {}
    finally:
        await fan.close()

    # Its own event: the error goes, and the same key mutes.
    await page.locator("#event-select").select_option(own)
    await expect(panel.locator("#mod-body")).to_have_attribute("data-state", "connected")
    await expect(error).to_be_hidden()
    await expect(panel.locator("#mod-mutes-note")).to_have_text("No one is muted on this event.")
    await expect(panel.locator("#mod-comments li")).to_have_count(0)  # the other event's are gone
    fan, _ = await join_ws(http, server, own, "fan-2")
    try:
        await say(fan, "🏏", "six!")
        row = panel.locator("#mod-comments li").filter(has_text="fan-2")
        await row.get_by_role("button", name="Mute 10 min").click(timeout=web.LIVE_MS * 3)
        await expect(panel.locator("#mod-mutes li").filter(has_text="fan-2")).to_have_count(1)
        assert list(await mutes(http, server, own)) == ["fan-2"]
    finally:
        await fan.close()

    # A wrong key: 401, in words, until a right one is saved.
    await page.get_by_label("API key (kept in this tab only)").fill("wrong-key-0123456789")
    await page.get_by_role("button", name="Save").click()
    await expect(error).to_contain_text("Cannot list the muted viewers: the API key was refused")
    await expect(error).to_contain_text("(401 unauthorized)")
    await page.get_by_label("API key (kept in this tab only)").fill(SCORER)
    await page.get_by_role("button", name="Save").click()
    await expect(error).to_be_hidden()
    await expect(panel.locator("#mod-mutes li").filter(has_text="fan-2")).to_have_count(1)


async def test_a_private_event_says_why_no_comments_show(
    pages: web.Browsing, mod_server: LivegateProcess, http: aiohttp.ClientSession
) -> None:
    event_id = web.new_id("mod-private")
    async with http.put(
        f"{mod_server.url}/api/events/{event_id}",
        json={"sport": "cricket", "title": "Members only", "private": True},
        headers=bearer(API_KEY),
    ) as resp:
        assert resp.status == 201, await resp.text()
    page = await pages.open(f"/scorer?event={event_id}")
    await expect(page.locator("#event-select")).to_have_value(event_id)
    panel = page.locator("#moderation")
    await panel.get_by_text("Watch comments and mute viewers").click()
    # The console has no viewer token, so it cannot join; it says so and stops trying.
    await expect(panel.locator("#mod-body")).to_have_attribute("data-state", "disconnected")
    await expect(panel.locator("#mod-conn")).to_contain_text("it is private")
    # Without a key the mutes are not asked for; the panel says what it needs.
    await expect(panel.locator("#mod-mutes-note")).to_contain_text("Enter the event's scorer key")
    await expect(panel.locator("#mod-error")).to_be_hidden()
