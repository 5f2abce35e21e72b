"""Named API keys with scopes, from a file reloaded on SIGHUP."""

from __future__ import annotations

import asyncio
import signal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from livegate.api_keys import KeyRing, load_key_file
from tests.conftest import LivegateProcess

OPS = "ops-key-0123456789abcdef"
IPL = "ipl-feed-key-0123456789"
STATS = "stats-key-0123456789ab"


def test_the_key_file_and_scopes(tmp_path: Path) -> None:
    path = tmp_path / "keys"
    path.write_text(
        f"# name scopes key\nops admin {OPS}\nipl-feed publish:ipl-*,publish:wpl-* {IPL}\n"
        f"stats read {STATS}  # read only\n"
    )
    ring = load_key_file(path)
    ops, ipl, stats = (ring.find(k) for k in (OPS, IPL, STATS))
    assert ops is not None and ops.allows("admin", "anything")
    assert ipl is not None and ipl.name == "ipl-feed"
    assert ipl.allows("publish", "ipl-32") and ipl.allows("publish", "wpl-1")
    assert not ipl.allows("publish", "epl-final") and not ipl.allows("admin", "ipl-32")
    assert stats is not None and not stats.allows("publish", "ipl-32")
    assert ring.find("nope-nope-nope-nope") is None
    assert (KeyRing.single(OPS) + ring).find(OPS) is not None
    for bad, why in (
        ("x admin short", "shorter than 16"),
        (f"x admin {OPS}\nx read {IPL}", "used twice"),
        (f"x publish {OPS}", "unknown scope"),
        ("x admin", "expected 'name scopes key'"),
    ):
        path.write_text(bad)
        with pytest.raises(ValueError, match=why):
            load_key_file(path)


async def _post(http: aiohttp.ClientSession, url: str, key: str, body: Any = None) -> int:
    async with http.post(url, json=body, headers={"Authorization": f"Bearer {key}"}) as resp:
        return resp.status


async def test_scoped_keys_on_a_real_server_and_a_sighup_reload(
    http: aiohttp.ClientSession, server_factory: Any, tmp_path: Path
) -> None:
    keys = tmp_path / "keys"
    keys.write_text(f"ops admin {OPS}\nipl-feed publish:ipl-* {IPL}\nstats read {STATS}\n")
    server: LivegateProcess = server_factory("--api-keys-file", str(keys))
    base = f"{server.url}/api/events"
    for event_id, sport in (("ipl-32", "generic"), ("epl-final", "football")):
        async with http.put(
            f"{base}/{event_id}", json={"sport": sport}, headers={"Authorization": f"Bearer {OPS}"}
        ) as resp:
            assert resp.status == 201
    assert await _post(http, f"{base}/ipl-32/updates", IPL, {"n": 1}) == 202
    # The scorer's key for ipl-* cannot touch the football match, nor end its own.
    assert await _post(http, f"{base}/epl-final/updates", IPL, {"n": 1}) == 403
    assert await _post(http, f"{base}/epl-final/end", IPL) == 403
    assert await _post(http, f"{base}/ipl-32/end", IPL) == 403
    assert await _post(http, f"{base}/ipl-32/updates", STATS, {"n": 2}) == 403
    async with http.put(
        f"{base}/new", json={"sport": "generic"}, headers={"Authorization": f"Bearer {IPL}"}
    ) as resp:
        assert resp.status == 403 and (await resp.json())["error"]["code"] == "forbidden"
    assert await _post(http, f"{base}/ipl-32/updates", "wrong-key-0123456789", {"n": 3}) == 401
    # Refusals are counted per key name; no key appears anywhere in the metrics.
    async with http.get(f"{server.url}/metrics") as resp:
        text = await resp.text()
    assert 'livegate_api_refusals_total{key="ipl-feed"} 4.0' in text
    assert IPL not in text and OPS not in text

    # Rotate: the stats key becomes a publisher; SIGHUP, no restart, nobody dropped.
    async with http.ws_connect(server.ws_url) as ws:
        await ws.send_str('{"type":"join","id":"fan","eventId":"ipl-32"}')
        assert (await ws.receive_json(timeout=5))["type"] == "joined"
        keys.write_text(f"ops admin {OPS}\nstats publish:ipl-* {STATS}\n")
        assert server.proc is not None
        server.proc.send_signal(signal.SIGHUP)
        async with asyncio.timeout(5):
            while await _post(http, f"{base}/ipl-32/updates", STATS, {"n": 4}) != 202:  # noqa: ASYNC110
                await asyncio.sleep(0.05)
        assert await _post(http, f"{base}/ipl-32/updates", IPL, {"n": 5}) == 401  # removed
        while (message := await ws.receive_json(timeout=5))["type"] != "score":
            pass
        assert message["data"] == {"n": 4}
        # A broken file keeps the keys the node had.
        keys.write_text("broken line\n")
        server.proc.send_signal(signal.SIGHUP)
        await asyncio.sleep(0.3)
        assert await _post(http, f"{base}/ipl-32/updates", STATS, {"n": 6}) == 202
