"""Screenshots of the web app for docs/screenshots/ (not a test: pytest does not collect it).

Starts ``livegate demo`` on a free port, lets each sport's match play a few
updates, sends a few reactions so the crowd panel is not empty, and saves
``docs/screenshots/{cricket,chess,football,events}.png`` at 1280x800.

    .venv/bin/python tests/make_screenshots.py [--out docs/screenshots] [--mobile]

``--mobile`` also saves ``*-mobile.png`` at 360x780, to check the narrow layout.
Needs Debian's ``chromium`` (``/usr/bin/chromium``); color emoji need
``fonts-noto-color-emoji``.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from playwright.sync_api import Page, ViewportSize, expect, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
CHROMIUM = os.environ.get("LIVEGATE_CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
API_KEY = "screenshots-key-0123"
UPDATES = {"cricket": 14, "chess": 12, "football": 6}
"""Score updates to wait for before each sport's shot (demo pace: 3 s, 4 s, ~2 s)."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def start_demo(port: int) -> subprocess.Popen[bytes]:
    cmd = [sys.executable, "-m", "livegate", "demo", "--host", "127.0.0.1"]
    cmd += ["--port", str(port), "--api-key", API_KEY]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=1):
                return proc
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("livegate demo did not start")


def react(page: Page, emoji_label: str, times: int, comment: str | None = None) -> None:
    for _ in range(times):
        page.get_by_role("button", name=emoji_label).click()
    if comment:
        page.get_by_label("Comment", exact=True).fill(comment)
        page.get_by_role("button", name="Send").click()


def shoot_event(page: Page, sport: str, out: Path, suffix: str) -> None:
    expect(page.locator("#conn")).to_have_attribute("data-state", "connected", timeout=10_000)
    # Wait until the page has seen enough live updates for a full scoreboard.
    page.wait_for_function(
        "n => document.querySelectorAll('#feed > li').length > n",
        arg=UPDATES[sport],
        timeout=120_000,
    )
    react(page, "Fire", 3, "What a moment!")
    react(page, "Applause", 2)
    expect(page.locator("#ticker li").first).to_be_visible(timeout=5_000)
    page.wait_for_timeout(900)  # let the emoji swarm rise into view (cosmetic only)
    page.screenshot(path=str(out / f"{sport}{suffix}.png"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "screenshots")
    parser.add_argument("--mobile", action="store_true", help="also shoot 360 px wide pages")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    demo = start_demo(port)
    try:
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
            sizes = [("", ViewportSize(width=1280, height=800))]
            if args.mobile:
                sizes.append(("-mobile", ViewportSize(width=360, height=780)))
            for suffix, viewport in sizes:
                context = browser.new_context(viewport=viewport, device_scale_factor=1)
                pages = {sport: context.new_page() for sport in UPDATES}
                # Open every sport at once so they play in parallel.
                for sport, page in pages.items():
                    page.goto(f"{base}/events/demo-{sport}")
                for sport, page in pages.items():
                    shoot_event(page, sport, args.out, suffix)
                index = context.new_page()
                index.goto(base + "/")
                expect(index.locator(".event-card")).to_have_count(3, timeout=10_000)
                expect(index.locator(".event-card .viewers").first).not_to_have_text(
                    "0 watching", timeout=10_000
                )
                index.screenshot(path=str(args.out / f"events{suffix}.png"))
                context.close()
            browser.close()
    finally:
        demo.send_signal(signal.SIGTERM)
        try:
            demo.wait(15)
        except subprocess.TimeoutExpired:
            demo.kill()
    print(f"screenshots in {args.out}")


if __name__ == "__main__":
    main()
