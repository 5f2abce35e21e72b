"""Browser tests of the web app: Debian's Chromium driven by Playwright against a real server.

Each test opens the pages as a fan (or a scorer) would and publishes through the
HTTP API, then waits with Playwright's ``expect`` (polling, with a timeout) for the
page to show it; nothing sleeps to assert. Every page is also watched for uncaught
JavaScript errors and Content-Security-Policy violations, which fail the test.

Needs ``/usr/bin/chromium`` (Debian's ``chromium`` package): skipped without it,
except under ``CI=true``, where a missing browser fails.
"""

from __future__ import annotations

import asyncio
import os
import re
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from tests.conftest import API_KEY, Api, LivegateProcess

try:
    from playwright.async_api import Browser, BrowserContext, Page, async_playwright, expect
except ImportError:  # pragma: no cover - playwright is in the dev extras
    if os.environ.get("CI") == "true":
        raise
    pytest.skip("pip install playwright (the dev extras)", allow_module_level=True)

CHROMIUM = "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
LIVE_MS = 1_000
"""An update published through the API must be on screen within a second."""
WEB_ROOT = Path(__file__).resolve().parent.parent / "src" / "livegate" / "web"

# Any CSP violation fails the page's test (the SDK's blob: heartbeat worker included:
# the server's policy allows it, so hidden tabs keep their heartbeat).
CSP_WATCH = """
document.addEventListener("securitypolicyviolation", (e) => {
  const where = `${e.sourceFile}:${e.lineNumber}`;
  console.error(`csp-violation: ${e.violatedDirective} ${e.blockedURI} ${where}`);
});
"""

CRICKET_SPEC = {
    "ball 12": "13/1",
    "comment": "Bumrah has drawn the first blood",
    "batsman": {"name": "rohit", "runs": "100", "balls": "96"},
    "bowler": {"name": "yuvi", "overs": "3.6", "runs": "10", "maiden": "1", "wickets": "2"},
}
E4_FEN = "rnbqkbnr/pppppppp/8/8/4P3/8/PPPP1PPP/RNBQKBNR b KQkq - 0 1"
E5_FEN = "rnbqkbnr/pppp1ppp/8/4p3/4P3/8/PPPP1PPP/RNBQKBNR w KQkq - 0 2"
TEAMS = {"home": "Arsenal", "away": "Chelsea"}
KICK_OFF = {
    "minute": 0,
    "kind": "kick_off",
    "period": "first_half",
    "score": {"home": 0, "away": 0},
}


def _require_chromium() -> None:
    if not os.path.exists(CHROMIUM):
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: CI must install Debian's chromium package")
        pytest.skip("install Debian's chromium package")


def new_id(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


class Browsing:
    """Opens pages, each in its own browser context (its own localStorage, so its own
    viewer id), and collects page errors and CSP violations."""

    def __init__(self, browser: Browser, base_url: str) -> None:
        self.browser = browser
        self.base_url = base_url
        self.problems: list[str] = []

    async def open(
        self,
        path: str,
        *,
        width: int = 1280,
        height: int = 800,
        prepare: Callable[[BrowserContext, Page], Awaitable[None]] | None = None,
    ) -> Page:
        """Open ``path`` in a new context; ``prepare`` runs before the page loads (routes,
        cookies, WebSocket listeners that must see its very first requests)."""
        context = await self.browser.new_context(viewport={"width": width, "height": height})
        await context.add_init_script(CSP_WATCH)
        page = await context.new_page()
        page.on("pageerror", lambda error: self.problems.append(f"{path}: {error}"))
        page.on(
            "console",
            lambda msg: (
                self.problems.append(f"{path}: {msg.text}")
                if msg.text.startswith("csp-violation")
                else None
            ),
        )
        if prepare is not None:
            await prepare(context, page)
        await page.goto(self.base_url + path)
        return page


@pytest.fixture(scope="module")
def web_server() -> Iterator[LivegateProcess]:
    """One server for the module, with short reaction windows."""
    server = LivegateProcess("--reaction-window", "0.2")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def web_api(http: aiohttp.ClientSession, web_server: LivegateProcess) -> Api:
    return Api(http, web_server)


@pytest.fixture
async def browser() -> AsyncIterator[Browser]:
    _require_chromium()
    async with async_playwright() as pw:
        launched = await pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield launched
        await launched.close()


@pytest.fixture
async def pages(browser: Browser, web_server: LivegateProcess) -> AsyncIterator[Browsing]:
    browsing = Browsing(browser, web_server.url)
    yield browsing
    assert not browsing.problems, "errors in the page:\n" + "\n".join(browsing.problems)


async def open_event(pages: Browsing, event_id: str, **size: Any) -> Page:
    page = await pages.open(f"/events/{event_id}", **size)
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected")
    return page


# -- scoreboards, one per sport ------------------------------------------------------------


async def test_cricket_scoreboard_follows_the_spec_payload(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("cricket")
    await web_api.create_event(event_id, "cricket", "India v Australia, T20")
    page = await open_event(pages, event_id)
    await expect(page.locator("#title")).to_have_text("India v Australia, T20")
    await expect(page.locator("#scoreboard")).to_contain_text("Waiting for the first update")

    await web_api.publish(event_id, CRICKET_SPEC)
    await expect(page.locator(".cr-runs")).to_have_text("13/1", timeout=LIVE_MS)
    batter = page.locator(".figures tbody tr").filter(has_text="rohit")
    await expect(batter).to_contain_text("100")
    await expect(batter.locator("td").nth(1)).to_have_text("96")
    bowler = page.locator(".figures tbody tr").filter(has_text="yuvi")
    await expect(bowler.locator("td")).to_have_text(["3.6", "1", "10", "2", "2.50"])
    await expect(page.locator("#status")).to_have_text("Live")
    await expect(page.locator("#feed li").first).to_contain_text("Bumrah has drawn the first blood")
    await expect(page.locator("#announcer")).to_contain_text("13 for 1")

    # The next ball: a four, with innings overs and a target, so the chase shows.
    four = {
        "ball 13": "17/1",
        "batsman": {"name": "rohit", "runs": 104, "balls": 97, "fours": 9},
        "bowler": {"name": "kumble", "overs": "0.1", "runs": 4, "maiden": 0, "wickets": 0},
        "battingTeam": "India",
        "overs": "4.1",
        "target": 150,
        "event": {"runs": 4, "batterRuns": 4, "extras": 0, "boundary": 4},
    }
    await web_api.publish(event_id, four)
    await expect(page.locator(".cr-runs")).to_have_text("17/1", timeout=LIVE_MS)
    await expect(page.locator(".cr-team")).to_have_text("India")
    await expect(page.locator(".balls li")).to_have_text(["4"])
    await expect(page.locator(".cr-chase")).to_have_text(
        "Target 150 · need 133 runs from 95 balls · RRR 8.40"
    )
    await expect(page.locator("#feed li")).to_have_count(2)

    # The scorecard: the same on this page and on one opened now (from the match state).
    await expect(page.locator(".cr-scorecard .sc-head")).to_have_text(
        ["1st innings: India 17/1 (4.1 ov)"]
    )
    await expect(page.locator(".cr-scorecard")).to_contain_text("rohit")
    late = await open_event(pages, event_id)
    await expect(late.locator(".cr-scorecard")).to_have_text(
        await page.locator(".cr-scorecard").text_content() or ""
    )
    await late.context.close()

    # A rain delay is not a ball: the board keeps its figures and shows the status.
    await web_api.publish(event_id, {"kind": "delay", "comment": "Rain stops play"})
    await expect(page.locator(".cr-last")).to_have_text("Delay: Rain stops play", timeout=LIVE_MS)
    await expect(page.locator(".cr-runs")).to_have_text("17/1")
    await expect(page.locator(".balls li")).to_have_text(["4"])
    await expect(page.locator("#feed li").first).to_contain_text("Delay: Rain stops play")
    await expect(page.locator("#feed li")).to_have_count(3)

    # A wicket in the same over joins it; the dismissed batter is marked out.
    wicket = {
        "ball 14": "17/2",
        "comment": "OUT! rohit b kumble",
        "batsman": {"name": "rohit", "runs": 104, "balls": 98},
        "bowler": {"name": "kumble", "overs": "0.2", "runs": 4, "maiden": 0, "wickets": 1},
        "overs": "4.2",
        "event": {
            "runs": 0,
            "batterRuns": 0,
            "extras": 0,
            "wicket": {"kind": "bowled", "playerOut": "rohit"},
        },
    }
    await web_api.publish(event_id, wicket)
    await expect(page.locator(".balls li")).to_have_text(["4", "W"], timeout=LIVE_MS)
    await expect(page.locator(".figures tr.out")).to_contain_text("rohit")
    await expect(page.locator(".cr-team")).to_have_text("India")  # carried from the last ball


async def test_chess_board_follows_the_moves(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("chess")
    await web_api.create_event(event_id, "chess", "Anderssen v Kieseritzky, London 1851")
    page = await open_event(pages, event_id)

    move = {"ply": 1, "san": "e4", "uci": "e2e4", "fen": E4_FEN}
    await web_api.publish(event_id, {**move, "clocks": {"white": 5_400_000, "black": 5_400_000}})
    e4 = page.locator('.sq[data-square="e4"]')
    await expect(e4.locator(".piece")).to_have_attribute("data-piece", "P", timeout=LIVE_MS)
    await expect(page.locator('.sq[data-square="e2"] .piece')).to_have_text("")
    await expect(e4).to_have_class(re.compile(r"\bto\b"))
    await expect(page.locator('.sq[data-square="e2"]')).to_have_class(re.compile(r"\bfrom\b"))
    await expect(page.locator(".moves li")).to_have_text([re.compile(r"e4")])
    await expect(page.locator(".player.white .name")).to_have_text("Anderssen")
    await expect(page.locator(".player.black .name")).to_have_text("Kieseritzky")
    await expect(page.locator(".player.white .clock")).to_have_text("1:30:00")
    await expect(page.locator(".player.black")).to_have_class(re.compile(r"\bto-move\b"))
    await expect(page.locator("#feed li").first).to_contain_text("1. e4")

    await web_api.publish(event_id, {"ply": 2, "san": "e5", "uci": "e7e5", "fen": E5_FEN})
    await expect(page.locator('.sq[data-square="e5"] .piece')).to_have_attribute(
        "data-piece", "p", timeout=LIVE_MS
    )
    await expect(page.locator(".moves li .mv")).to_have_text(["e4", "e5"])
    await expect(page.locator('.sq[data-square="e4"]')).not_to_have_class(re.compile(r"\bto\b"))
    await expect(page.locator("#announcer")).to_contain_text("Black plays e5")

    # A fan who opens the page now sees the same move list, from the match state.
    late = await open_event(pages, event_id)
    await expect(late.locator(".moves li .mv")).to_have_text(["e4", "e5"])
    await expect(late.locator(".moves li .mv")).to_have_text(
        await page.locator(".moves li .mv").all_text_contents()
    )


async def test_football_scoreline_and_timeline(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("football")
    await web_api.create_event(event_id, "football", "Arsenal v Chelsea, FA Cup final")
    page = await open_event(pages, event_id)

    await web_api.publish(event_id, {**KICK_OFF, "teams": TEAMS})
    await expect(page.locator(".fb-team.home")).to_have_text("Arsenal", timeout=LIVE_MS)
    await expect(page.locator(".fb-team.away")).to_have_text("Chelsea")
    await expect(page.locator(".fb-goals")).to_have_text(["0", "0"])
    await expect(page.locator(".fb-period")).to_have_text("First half")

    goal = {
        "minute": 23,
        "kind": "goal",
        "team": "home",
        "player": "Saka",
        "assist": "Odegaard",
        "score": {"home": 1, "away": 0},
        "teams": TEAMS,
    }
    await web_api.publish(event_id, goal)
    await expect(page.locator(".fb-goals")).to_have_text(["1", "0"], timeout=LIVE_MS)
    await expect(page.locator(".fb-minute")).to_have_text("23'")
    await expect(page.locator(".fb-period")).to_have_text("First half")
    await expect(page.locator(".timeline li").first).to_contain_text("Goal: Saka (assist Odegaard)")
    await expect(page.locator(".timeline li")).to_have_count(2)
    await expect(page.locator(".fb-scorers.home li")).to_have_text(["Saka 23'"])
    await expect(page.locator("#feed li").first).to_contain_text("23' GOAL Saka (home) 1-0")
    await expect(page.locator("#announcer")).to_contain_text("Arsenal 1, Chelsea 0")

    # A card after the goal: a fan who joins now sees the goal and its scorer too.
    card = {"minute": 30, "kind": "yellow_card", "team": "away", "player": "Caicedo"}
    await web_api.publish(event_id, {**card, "score": {"home": 1, "away": 0}, "teams": TEAMS})
    await expect(page.locator(".timeline li")).to_have_count(3, timeout=LIVE_MS)
    late = await open_event(pages, event_id)
    await expect(late.locator(".fb-scorers.home li")).to_have_text(["Saka 23'"])
    await expect(late.locator(".timeline li")).to_have_text(
        await page.locator(".timeline li").all_text_contents()
    )


async def test_generic_payload_is_shown_as_json(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("generic")
    await web_api.create_event(event_id, "generic", "Bake-off final")
    await web_api.publish(event_id, {"comment": "Soggy bottom!", "round": 3})
    page = await open_event(pages, event_id)  # the snapshot, on join
    await expect(page.locator(".gn-headline")).to_have_text("Soggy bottom!")
    await expect(page.locator("pre.json")).to_contain_text('"round": 3')
    await web_api.publish(event_id, {"summary": "Paul's handshake", "round": 4})
    await expect(page.locator("pre.json")).to_contain_text('"round": 4', timeout=LIVE_MS)


async def test_page_for_an_unknown_event_waits_for_it(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("soon")
    page = await pages.open(f"/events/{event_id}")
    # A not-found page (404), not a match page stuck on "Connecting…".
    await expect(page.locator("h1")).to_have_text("Nothing here")
    await expect(page.locator("#notice")).to_contain_text(f"No event called “{event_id}”")
    await expect(
        page.get_by_role("link", name="See every live and scheduled event")
    ).to_be_visible()
    await web_api.create_event(event_id, "generic", "Starting soon")
    await web_api.publish(event_id, {"comment": "We are live"})
    # The page checks every 2 s and then opens the match.
    await expect(page.locator(".gn-headline")).to_have_text("We are live", timeout=15_000)
    await expect(page.locator("#notice")).to_be_hidden()
    await expect(page.locator("#title")).to_have_text("Starting soon")


# -- reactions, reconnecting, the event list, the scorer -----------------------------------


async def test_reaction_from_one_viewer_reaches_another(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("react")
    await web_api.create_event(event_id, "cricket", "Reactions v Everyone")
    sender = await open_event(pages, event_id)
    watcher = await open_event(pages, event_id)
    await expect(watcher.locator("#viewers")).to_have_text("2 watching")

    await sender.get_by_role("button", name="Fire").press("Enter")  # keyboard works too
    await sender.get_by_label("Emoji for your comment").select_option("👏")
    await sender.get_by_label("Comment", exact=True).fill("what a ball!")
    await sender.get_by_role("button", name="Send").click()
    await expect(sender.get_by_label("Comment", exact=True)).to_have_value("")

    tick = watcher.locator("#ticker li").filter(has_text="what a ball!")
    await expect(tick).to_have_count(1)
    await expect(tick.locator(".tick-emoji")).to_have_text("👏")
    await expect(watcher.locator('#reaction-totals [data-emoji="🔥"]')).to_contain_text("1")
    await expect(watcher.locator('#reaction-totals [data-emoji="👏"]')).to_contain_text("1")
    # The sender sees the aggregate too, its own comment marked as its own.
    own = sender.locator("#ticker li").filter(has_text="what a ball!")
    await expect(own).to_contain_text("you")

    # A burst (within the SDK's client-side burst of 10) floats up as a capped swarm.
    for _ in range(6):
        await sender.get_by_role("button", name="Laughing").click()
    await expect(watcher.locator('#reaction-totals [data-emoji="😂"]')).to_contain_text("6")
    assert 1 <= await watcher.locator("#swarm .float").count() <= 40


async def test_page_reconnects_after_a_gateway_restart(
    pages: Browsing, server_factory: Any, http: aiohttp.ClientSession
) -> None:
    server: LivegateProcess = server_factory("--drain-window", "0.2")
    api = Api(http, server)
    pages.base_url = server.url
    event_id = new_id("restart")
    await api.create_event(event_id, "cricket", "Restart v Resume")
    page = await open_event(pages, event_id)
    first = {**CRICKET_SPEC}
    await api.publish(event_id, first)
    await expect(page.locator(".cr-runs")).to_have_text("13/1", timeout=LIVE_MS)

    await asyncio.to_thread(server.stop)  # SIGTERM: viewers are closed with 1012
    await expect(page.locator("#conn")).to_have_attribute("data-state", "reconnecting")
    await expect(page.locator("#conn-text")).to_have_text(re.compile("Reconnecting", re.I))

    await asyncio.to_thread(server.start)  # same port, empty memory store
    await api.create_event(event_id, "cricket", "Restart v Resume")
    after = {**CRICKET_SPEC, "ball 1": "4/0", "comment": "first ball after the restart"}
    del after["ball 12"]
    await api.publish(event_id, after)
    # The SDK backs off (at most a few seconds here) and rejoins; the new epoch makes
    # the page reset to the snapshot.
    await expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=30_000)
    await expect(page.locator(".cr-runs")).to_have_text("4/0")
    await expect(page.locator("#feed")).to_contain_text("Back online")
    await expect(page.locator("#feed li").first).to_contain_text("first ball after the restart")

    later = {**after, "comment": "and the one after"}
    del later["ball 1"]
    await api.publish(event_id, {"ball 2": "10/0", **later})
    await expect(page.locator(".cr-runs")).to_have_text("10/0", timeout=LIVE_MS)
    await expect(page.locator("#feed li").first).to_contain_text("and the one after")


async def test_event_list_shows_events_and_live_viewers(pages: Browsing, web_api: Api) -> None:
    live_id = new_id("list-live")
    later_id = new_id("list-later")
    await web_api.create_event(live_id, "football", "Listed v Watched")
    await web_api.create_event(later_id, "chess", "Scheduled v Later")
    await web_api.publish(live_id, KICK_OFF)

    index = await pages.open("/")
    live = index.locator(f'.event-card[data-event-id="{live_id}"]')
    later = index.locator(f'.event-card[data-event-id="{later_id}"]')
    await expect(live.locator(".event-title")).to_have_text("Listed v Watched")
    await expect(live.locator(".event-sport")).to_have_text("football")
    await expect(live.locator(".badge")).to_have_text("Live")
    await expect(live.locator(".viewers")).to_have_text("0 watching")
    await expect(later.locator(".badge")).to_have_text("Scheduled")
    await expect(live.get_by_role("link")).to_have_attribute("href", f"/events/{live_id}")

    viewer = await open_event(pages, live_id)
    await expect(live.locator(".viewers")).to_have_text("1 watching", timeout=5_000)
    # The card's score line is the sport's summary of the latest update.
    await expect(live.locator(".event-line")).to_contain_text("KICK-OFF", timeout=5_000)
    # The reaction bar fits the sport: a football, not a cricket bat.
    await expect(viewer.get_by_role("button", name="Football")).to_have_text("⚽")
    await expect(viewer.get_by_role("button", name="Cricket bat")).to_have_count(0)
    await viewer.context.close()
    await expect(live.locator(".viewers")).to_have_text("0 watching", timeout=5_000)

    async with web_api.session.post(
        f"{web_api.server.url}/api/events/{live_id}/end",
        json={"result": "Listed 2-1 Watched"},
        headers=web_api.server.headers(),
    ) as resp:
        assert resp.status == 200
    await expect(live.locator(".badge")).to_have_text("Ended", timeout=5_000)
    await expect(live.locator(".event-line")).to_have_text("Listed 2-1 Watched", timeout=5_000)
    await live.get_by_role("link").click()
    await expect(index).to_have_url(re.compile(f"/events/{live_id}$"))
    await expect(index.locator("#status")).to_have_text("Ended")
    await expect(index.locator("#result")).to_have_text("Result: Listed 2-1 Watched")
    await expect(index.get_by_role("button", name="Fire")).to_be_disabled()


async def test_scorer_console_shows_field_errors_inline(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("scorer")
    page = await pages.open("/scorer")
    await page.get_by_label("API key (kept in this tab only)").fill(API_KEY)
    await page.get_by_role("button", name="Save").click()
    await page.get_by_text("Create an event", exact=True).click()
    await page.get_by_label("Event id").fill(event_id)
    await page.get_by_label("Sport").select_option("cricket")
    await page.get_by_label("Title").fill("Console v Validation")
    await page.get_by_role("button", name="Create or update").click()
    await expect(page.locator("#event-select")).to_have_value(event_id)

    form = page.locator("#sport-form")
    await expect(form.get_by_label("Ball number in the innings")).to_have_value("1")
    striker = form.locator("fieldset", has_text="Striker").first
    await striker.get_by_label("Name").fill("Rohit")
    await striker.get_by_label("Runs").fill("0")
    await striker.get_by_label("Balls").fill("1")
    bowler = form.locator("fieldset", has_text="Bowler")
    await bowler.get_by_label("Name").fill("Yuvi")
    await bowler.get_by_label("Overs (O.B)").fill("3.9")
    await bowler.get_by_label("Runs").fill("0")
    await bowler.get_by_label("Maidens").fill("0")
    await bowler.get_by_label("Wickets").fill("0")
    await form.get_by_role("button", name="Publish").click()

    errors = page.locator("#errors")
    await expect(errors).to_be_visible()
    await expect(errors).to_contain_text("422 invalid_update")
    await expect(errors.locator('li[data-path="bowler.overs"]')).to_contain_text("O.B")
    overs = bowler.get_by_label("Overs (O.B)")
    await expect(overs).to_have_attribute("aria-invalid", "true")
    await expect(bowler.locator(".field-error")).to_contain_text("O.B")

    await overs.fill("0.1")
    await form.get_by_role("button", name="Publish").click()
    await expect(page.locator("#publish-status")).to_have_text("Published: update 1.")
    await expect(errors).to_be_hidden()
    await expect(overs).not_to_have_attribute("aria-invalid", "true")
    assert (await web_api.get_event(event_id))["snapshot"]["ball 1"] == "0/0"
    # Ready for the next ball.
    await expect(form.get_by_label("Ball number in the innings")).to_have_value("2")

    # The raw JSON box reports the API's errors too.
    await page.get_by_label("Raw JSON update").fill('{"ball 2": "1/0"}')
    await page.get_by_role("button", name="Publish JSON").click()
    await expect(errors.locator('li[data-path="batsman"]')).to_contain_text("missing")

    await page.get_by_role("button", name="End event…").click()
    await page.get_by_role("button", name="Yes, end it").click()
    await expect(page.locator("#info-status")).to_have_text("ended")
    assert (await web_api.get_event(event_id))["status"] == "ended"


# -- accessibility, layout, CSP ------------------------------------------------------------

UNLABELLED_CONTROLS = """
() => [...document.querySelectorAll("input, select, textarea, button")]
  .filter((el) => !el.closest("[hidden]"))
  .filter((el) => !(el.labels && el.labels.length) && !el.getAttribute("aria-label")
                  && !el.getAttribute("aria-labelledby") && !el.textContent.trim())
  .map((el) => el.outerHTML.slice(0, 120))
"""


async def test_every_control_is_labelled_and_fits_360px(pages: Browsing, web_api: Api) -> None:
    event_id = new_id("a11y")
    await web_api.create_event(event_id, "football", "Small v Screen")
    await web_api.publish(event_id, {**KICK_OFF, "teams": TEAMS})
    for path in ("/", f"/events/{event_id}", f"/scorer?event={event_id}"):
        page = await pages.open(path, width=360, height=780)
        if path.startswith("/events"):
            await expect(page.locator(".fb-team.home")).to_have_text("Arsenal")
            await expect(page.locator("#announcer")).to_have_attribute("aria-live", "polite")
        if path.startswith("/scorer"):
            await expect(page.locator("#sport-form")).to_be_visible()
        assert await page.evaluate(UNLABELLED_CONTROLS) == [], path
        overflow = await page.evaluate("document.documentElement.scrollWidth - innerWidth")
        assert overflow <= 0, f"{path} is {overflow}px wider than a 360px screen"


def test_pages_have_no_inline_script_or_style() -> None:
    for page in WEB_ROOT.glob("*.html"):
        html = page.read_text()
        assert not re.search(r"<script(?![^>]*\bsrc=)", html), page.name
        assert not re.search(r"<style|\sstyle=|\son[a-z]+=", html), page.name
        assert "http://" not in html and "https://" not in html, f"{page.name}: external URL"
