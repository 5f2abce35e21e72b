"""Browser tests of viewer tokens on the event page: Chromium against a real server.

The page takes a token from its address (``?token=``, then removed from the address
bar) or, when ``GET /api`` names a ``tokenUrl``, from that endpoint, which the SDK
asks again for every connection attempt and every refresh. The server has no token
endpoint of its own (the product's backend provides it), so the tests answer it
with Playwright's ``page.route``: the page's own ``fetch`` of a same-origin path,
intercepted in the browser. Helpers and fixtures come from ``tests/test_web.py``;
``web_server`` is overridden here with a server that reads tokens.
"""

from __future__ import annotations

import asyncio
import base64
import json
import os
import time
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import aiohttp
import pytest

from livegate.viewer_tokens import mint_token
from tests import test_web
from tests.conftest import Api, LivegateProcess
from tests.test_web import LIVE_MS, Browsing, new_id, open_event

try:
    from playwright.async_api import BrowserContext, Page, Route, WebSocket, expect
except ImportError:  # pragma: no cover - playwright is in the dev extras
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("pip install playwright (the dev extras)", allow_module_level=True)

SECRET = "web-test-token-secret-0123456789abcdef"
TOKEN_PATH = "/account/livegate-token"
SIGN_IN = "This match needs you to sign in."
NOT_IN_PASS = "Your pass does not include this match."


def mint(sub: str, *, ttl: float | None = 600, **claims: Any) -> str:
    return mint_token(sub=sub, key=SECRET, now=time.time(), ttl=ttl, **claims)


def expiry(token: str) -> int:
    """The ``exp`` claim of ``token`` (read, not verified)."""
    payload = token.split(".")[1]
    exp: int = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))["exp"]
    return exp


# test_web's fixtures, found by name here; they get this module's `web_server`.
browser = test_web.browser
pages = test_web.pages
web_api = test_web.web_api


@pytest.fixture(scope="module")
def web_server() -> Iterator[LivegateProcess]:
    """Overrides test_web's: a server that reads viewer tokens and names a token endpoint."""
    server = LivegateProcess(
        "--reaction-window",
        "0.2",
        "--token-hmac-secret",
        SECRET,
        "--web-token-url",
        TOKEN_PATH,
    )
    server.start()
    yield server
    server.stop()


async def open_prepared(
    pages: Browsing, path: str, prepare: Callable[[BrowserContext, Page], Awaitable[None]]
) -> Page:
    return await pages.open(path, prepare=prepare)


class SentFrames:
    """The JSON frames a page sends on its WebSockets, and the sockets it opens."""

    def __init__(self) -> None:
        self.sockets: list[WebSocket] = []
        self.sent: list[dict[str, Any]] = []

    def watch(self, page: Page) -> None:
        def on_socket(ws: WebSocket) -> None:
            self.sockets.append(ws)
            ws.on("framesent", self._on_frame)

        page.on("websocket", on_socket)

    def _on_frame(self, payload: str | bytes) -> None:
        message = json.loads(payload)
        if isinstance(message, dict):
            self.sent.append(message)

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [m for m in self.sent if m.get("type") == kind]


async def until(check: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, f"timed out after {timeout} s waiting for {what}"
        await asyncio.sleep(0.05)


async def test_token_in_the_address_joins_as_its_sub_and_leaves_the_address(
    pages: Browsing, web_api: Api
) -> None:
    event_id = new_id("tok-url")
    await web_api.create_event(event_id, "generic", "Pass v Address")
    token = mint("fan-asha", name="Asha")
    frames = SentFrames()

    async def prepare(context: BrowserContext, page: Page) -> None:
        frames.watch(page)

    page = await open_prepared(pages, f"/events/{event_id}?ref=mail&token={token}#top", prepare)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    # joined.viewer, from the server: the token's sub and name.
    await expect(page.locator("#viewer-line")).to_have_text("Signed in as Asha ✓")
    await expect(page.locator("#viewer-line .verified-mark")).to_have_attribute(
        "title", "verified viewer"
    )
    assert await page.evaluate("location.search") == "?ref=mail"
    assert await page.evaluate("location.hash") == "#top"
    assert token not in page.url
    assert frames.of_type("join") == [{"type": "join", "eventId": event_id, "token": token}]


async def test_token_endpoint_gives_the_token_and_every_refresh(
    pages: Browsing, web_api: Api
) -> None:
    event_id = new_id("tok-endpoint")
    await web_api.create_event(event_id, "generic", "Endpoint v Refresh")
    issued: list[str] = []
    cookies: list[str | None] = []
    frames = SentFrames()

    async def token_endpoint(route: Route) -> None:
        cookies.append(await route.request.header_value("cookie"))
        issued.append(mint("fan-route", ttl=3, name="Route Fan"))
        await route.fulfill(status=200, json={"token": issued[-1]})

    async def prepare(context: BrowserContext, page: Page) -> None:
        await context.add_cookies([{"name": "session", "value": "s3cret", "url": pages.base_url}])
        await page.route(f"**{TOKEN_PATH}", token_endpoint)
        frames.watch(page)

    page = await open_prepared(pages, f"/events/{event_id}", prepare)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    await expect(page.locator("#viewer-line")).to_have_text("Signed in as Route Fan ✓")
    assert frames.of_type("join") == [{"type": "join", "eventId": event_id, "token": issued[0]}]
    first_exp = expiry(issued[0])

    # Refreshed on the same connection before each token expires, well past the first.
    await until(lambda: time.time() > first_exp + 1.5, 8, "the first token's expiry")
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    assert len(frames.sockets) == 1, "one connection throughout"
    refreshes = frames.of_type("refresh")
    assert refreshes, "no refresh sent"
    assert [m["token"] for m in refreshes] == issued[1 : 1 + len(refreshes)]
    assert cookies == ["session=s3cret"] * len(cookies), "the endpoint gets the viewer's cookies"
    await web_api.publish(event_id, {"comment": "still watching"})
    await expect(page.locator(".gn-headline")).to_have_text("still watching", timeout=LIVE_MS)


async def test_required_mode_without_a_token_asks_to_sign_in(
    pages: Browsing, server_factory: Any, http: aiohttp.ClientSession
) -> None:
    server: LivegateProcess = server_factory(
        "--viewer-auth", "required", "--token-hmac-secret", SECRET
    )
    pages.base_url = server.url
    event_id = new_id("tok-required")
    await Api(http, server).create_event(event_id, "generic", "Members v Only")
    frames = SentFrames()

    async def prepare(context: BrowserContext, page: Page) -> None:
        frames.watch(page)

    page = await open_prepared(pages, f"/events/{event_id}", prepare)
    await expect(page.locator("#notice")).to_have_text(SIGN_IN)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "disconnected")
    await expect(page.locator("#conn-text")).to_have_text("Disconnected (no access)")
    await expect(page.locator("#title")).to_have_text("Members v Only")
    assert frames.sockets == [], "no connection the server would close anyway"

    # With a pass in the address the same page joins.
    member = await open_event(pages, f"{event_id}?token={mint('fan-member')}")
    await expect(member.locator("#viewer-line")).to_have_text("Signed in as fan-member ✓")
    await expect(member.locator("#notice")).to_be_hidden()


async def test_a_pass_without_the_match_and_a_private_match_say_so(
    pages: Browsing, web_api: Api
) -> None:
    event_id = new_id("tok-other")
    await web_api.create_event(event_id, "generic", "Not In The Pass")
    page = await pages.open(f"/events/{event_id}?token={mint('fan-ipl', events=['ipl-*'])}")
    await expect(page.locator("#notice")).to_have_text(NOT_IN_PASS)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "disconnected")
    await expect(page.locator("#retry")).to_be_visible()

    private_id = new_id("ipl-private")
    async with web_api.session.put(
        f"{web_api.server.url}/api/events/{private_id}",
        json={"sport": "generic", "title": "Private Box", "private": True},
        headers=web_api.server.headers(),
    ) as resp:
        assert resp.status in (200, 201), await resp.text()
    anonymous = await pages.open(f"/events/{private_id}")  # the endpoint 404s: anonymous
    await expect(anonymous.locator("#notice")).to_have_text(SIGN_IN)
    await expect(anonymous.locator("#conn")).to_have_attribute("data-state", "disconnected")
    member = await open_event(pages, f"{private_id}?token={mint('fan-ipl', events=['ipl-*'])}")
    await expect(member.locator("#notice")).to_be_hidden()


async def test_verified_comments_show_the_name_and_a_mark(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("tok-cheer")
    await web_api.create_event(event_id, "generic", "Verified v Anonymous")
    watcher = await open_event(pages, event_id)
    name = "<b>Asha</b>"  # viewer-provided text: shown as text, never parsed
    verified = await open_event(pages, f"{event_id}?token={mint('fan-asha', name=name)}")
    anonymous = await open_event(pages, event_id)

    await verified.get_by_label("Comment", exact=True).fill("verified cheer")
    await verified.get_by_role("button", name="Send").click()
    await anonymous.get_by_label("Comment", exact=True).fill("anonymous cheer")
    await anonymous.get_by_role("button", name="Send").click()

    tick = watcher.locator("#ticker li").filter(has_text="verified cheer")
    await expect(tick.locator(".tick-who")).to_have_text(f"{name}✓")
    await expect(tick.locator(".tick-who b")).to_have_count(0)
    mark = tick.locator(".verified-mark")
    await expect(mark).to_have_attribute("title", "verified viewer")
    await expect(mark).to_be_visible()

    plain = watcher.locator("#ticker li").filter(has_text="anonymous cheer")
    anonymous_id = await anonymous.evaluate("localStorage.getItem('livegate.viewerId')")
    await expect(plain.locator(".tick-who")).to_have_text(anonymous_id)
    await expect(plain.locator(".verified-mark")).to_have_count(0)

    # The verified fan sees its own comment as its own, marked too.
    own = verified.locator("#ticker li").filter(has_text="verified cheer")
    await expect(own.locator(".tick-who")).to_have_text("you✓")
