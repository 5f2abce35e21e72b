"""Which pages may open a WebSocket: the server's own, and ``--allowed-origins``."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from livegate.origins import LOCALHOST_ORIGINS, OriginPolicy
from tests.conftest import Api, LivegateProcess, free_port


def test_the_policy() -> None:
    own = OriginPolicy.parse("")
    assert own.allows(None, "live.example.com")  # not a browser
    assert own.allows("https://live.example.com", "live.example.com")
    assert own.allows("http://127.0.0.1:8080", "127.0.0.1:8080")
    assert not own.allows("http://127.0.0.1:9999", "127.0.0.1:8080")  # another port
    assert not own.allows("https://evil.example", "live.example.com")
    assert not own.allows("null", "live.example.com")  # a sandboxed page
    listed = OriginPolicy.parse("https://app.example.com, https://*.fans.example")
    assert listed.allows("https://app.example.com", "gw.example.com")
    assert not listed.allows("http://app.example.com", "gw.example.com")  # the scheme counts
    assert listed.allows("https://cricket.fans.example", "gw.example.com")
    assert not listed.allows("https://fans.example", "gw.example.com")
    assert not listed.allows("https://evilfans.example", "gw.example.com")
    local = OriginPolicy.parse("", extra=LOCALHOST_ORIGINS)
    assert local.allows("http://localhost:5173", "127.0.0.1:8080")
    assert not local.allows("http://localhost.evil.example:80", "127.0.0.1:8080")
    assert OriginPolicy.parse("*").allows("https://anything.example", "x")
    with pytest.raises(ValueError, match="allowed origin"):
        OriginPolicy.parse("ftp://files.example")


async def _upgrade_status(http: aiohttp.ClientSession, server: LivegateProcess, origin: str) -> int:
    try:
        async with http.ws_connect(server.ws_url, origin=origin) as ws:
            await ws.close()
            return 101
    except aiohttp.WSServerHandshakeError as exc:
        return exc.status


async def test_upgrades_from_other_origins_are_refused(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--allowed-origins", "https://*.fans.example")
    assert await _upgrade_status(http, server, f"http://127.0.0.1:{server.port}") == 101
    assert await _upgrade_status(http, server, "https://club.fans.example") == 101
    assert await _upgrade_status(http, server, "https://evil.example") == 403
    assert await _upgrade_status(http, server, "null") == 403
    async with http.get(
        server.ws_url.replace("ws:", "http:"),
        headers={
            "Upgrade": "websocket",
            "Connection": "Upgrade",
            "Sec-WebSocket-Key": "dGhlIHNhbXBsZSBub25jZQ==",
            "Sec-WebSocket-Version": "13",
            "Origin": "https://evil.example",
        },
    ) as resp:
        assert resp.status == 403
        assert (await resp.json())["error"]["code"] == "forbidden_origin"


@pytest.fixture
async def other_site() -> AsyncIterator[str]:
    """A second origin: a page that tries to open a WebSocket to the gateway."""
    page = """<!doctype html><title>other</title><body><script>
      const gateway = new URLSearchParams(location.search).get("ws");
      const socket = new WebSocket(gateway);
      socket.onopen = () => { document.title = "opened"; };
      socket.onclose = (e) => {
        if (document.title !== "opened") document.title = "refused " + e.code;
      };
    </script></body>"""

    async def index(request: web.Request) -> web.Response:
        return web.Response(text=page, content_type="text/html")

    app = web.Application()
    app.router.add_get("/", index)
    runner = web.AppRunner(app)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    yield f"http://127.0.0.1:{port}"
    await runner.cleanup()


async def test_a_page_of_another_origin_cannot_connect_in_chromium(
    http: aiohttp.ClientSession, server_factory: Any, other_site: str
) -> None:
    from playwright.async_api import async_playwright, expect

    from tests.test_web import CHROMIUM, CHROMIUM_ARGS, _require_chromium

    _require_chromium()
    server: LivegateProcess = server_factory()
    await Api(http, server).create_event("m1")
    site = other_site
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            page = await browser.new_page()
            await page.goto(f"{site}/?ws={server.ws_url}")
            await expect(page).to_have_title("refused 1006", timeout=10_000)
            # The app's own page, from the gateway's origin, connects.
            own = await browser.new_page()
            await own.goto(f"{server.url}/events/m1")
            await expect(own.locator("#conn")).to_have_attribute(
                "data-state", "connected", timeout=10_000
            )
        finally:
            await browser.close()
