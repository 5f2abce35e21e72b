"""Viewer tokens: the verifier alone, then every refusal on a real server."""

from __future__ import annotations

import asyncio
import base64
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import aiohttp
import jwt
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from livegate.client import (
    Backoff,
    ConnectFailed,
    InvalidMessage,
    JoinRejected,
    Unauthorized,
    connect,
)
from livegate.config import Settings
from livegate.protocol import CloseCode
from livegate.viewer_tokens import (
    TokenRefused,
    TokenVerifier,
    ViewerClaims,
    event_allowed,
    mint_token,
)
from tests.conftest import (
    Api,
    LivegateProcess,
    expect_close,
    join_ws,
    recv_json,
    recv_type,
)

SECRET = "a-test-secret-of-at-least-32-bytes-long"
FAST = Backoff(base=0.05, cap=0.2)


def token(sub: str = "fan-1", ttl: float | None = 3600, secret: str = SECRET, **claims: Any) -> str:
    return mint_token(sub=sub, key=secret, now=time.time(), ttl=ttl, **claims)


def refused(verifier: TokenVerifier, raw: str) -> TokenRefused:
    with pytest.raises(TokenRefused) as caught:
        verifier.verify(raw, time.time())
    return caught.value


# -- the verifier -------------------------------------------------------------------


def test_hmac_tokens_and_what_is_refused() -> None:
    verifier = TokenVerifier.load(hmac_secret=SECRET)
    assert verifier is not None
    claims = verifier.verify(token(events=["ipl-*"], name="Asha"), time.time())
    assert claims.sub == "fan-1" and claims.events == ("ipl-*",) and claims.name == "Asha"
    assert claims.exp is not None and 3590 < claims.exp - time.time() <= 3600
    assert refused(verifier, token(secret="another-secret-of-at-least-32-bytes")).code == (
        "bad_token"
    )
    expired = mint_token(sub="fan-1", key=SECRET, now=time.time() - 120, ttl=60)
    assert refused(verifier, expired).code == "token_expired"
    assert refused(verifier, "not.a.jwt").code == "bad_token"
    # No `sub`, a bad `events`, a control character in `name`: all bad tokens.
    for payload in (
        {"exp": time.time() + 60},
        {"sub": "x", "events": "bad pattern!"},
        {"sub": "x", "events": [1]},
        {"sub": "x", "name": "a\nb"},
        {"sub": ""},
    ):
        assert refused(verifier, jwt.encode(payload, SECRET, algorithm="HS256")).code == (
            "bad_token"
        )
    # alg "none": never.
    unsigned = jwt.encode({"sub": "x"}, "", algorithm="none")
    assert "algorithm" in refused(verifier, unsigned).message
    # A token without exp does not expire; one with nbf in the future is not valid yet.
    assert verifier.verify(token(ttl=None), time.time()).exp is None
    early = jwt.encode({"sub": "x", "nbf": time.time() + 600}, SECRET, algorithm="HS256")
    assert "nbf" in refused(verifier, early).message


def test_a_valid_token_is_checked_once_and_still_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    verifier = TokenVerifier.load(hmac_secret=SECRET)
    assert verifier is not None
    checked: list[str] = []
    real_check = verifier._check

    def counting(raw: str) -> ViewerClaims:
        checked.append(raw)
        return real_check(raw)

    monkeypatch.setattr(verifier, "_check", counting)
    raw = token(ttl=60)
    for _ in range(5):
        assert verifier.verify(raw, time.time()).sub == "fan-1"
    assert len(checked) == 1
    with pytest.raises(TokenRefused) as caught:
        verifier.verify(raw, time.time() + 61)  # remembered, but past its exp
    assert caught.value.code == "token_expired"
    bad = token(secret="x" * 40)
    for _ in range(2):
        with pytest.raises(TokenRefused):
            verifier.verify(bad, time.time())
    assert checked.count(bad) == 2  # a refusal is never remembered


def test_audience_and_issuer() -> None:
    verifier = TokenVerifier.load(hmac_secret=SECRET, audience="fans", issuer="login.example")
    assert verifier is not None
    good = token(audience="fans", issuer="login.example")
    assert verifier.verify(good, time.time()).sub == "fan-1"
    assert "audience" in refused(verifier, token(audience="ops", issuer="login.example")).message
    assert "issuer" in refused(verifier, token(audience="fans", issuer="evil.example")).message
    assert "'aud'" in refused(verifier, token(issuer="login.example")).message


def _rsa() -> tuple[bytes, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    private = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return private, public


def test_a_public_key_and_the_algorithm_confusion_attack(tmp_path: Path) -> None:
    private, public = _rsa()
    pem = tmp_path / "key.pem"
    pem.write_bytes(public)
    verifier = TokenVerifier.load(public_key_file=str(pem))
    assert verifier is not None
    signed = mint_token(sub="fan-9", key=private, algorithm="RS256", now=time.time())
    assert verifier.verify(signed, time.time()).sub == "fan-9"
    # An HS256 token "signed" with the public key as its secret must not verify.
    forged = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(b'{"sub":"admin"}').rstrip(b"=")
    import hashlib
    import hmac

    mac = hmac.new(public, forged + b"." + body, hashlib.sha256).digest()
    confused = b".".join([forged, body, base64.urlsafe_b64encode(mac).rstrip(b"=")]).decode()
    assert refused(verifier, confused).code == "bad_token"
    with pytest.raises(ValueError, match="PEM public key"):
        bad = tmp_path / "bad.pem"
        bad.write_text("not a key")
        TokenVerifier.load(public_key_file=str(bad))


def _jwk(key: Any, kid: str) -> dict[str, Any]:
    jwk: dict[str, Any] = json.loads(jwt.algorithms.get_default_algorithms()["ES256"].to_jwk(key))
    jwk["kid"] = kid
    return jwk


def test_a_jwks_rotates_keys_by_kid(tmp_path: Path) -> None:
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk(old.public_key(), "2026-01")]}))
    verifier = TokenVerifier.load(jwks_file=str(jwks))
    assert verifier is not None

    def es256(key: ec.EllipticCurvePrivateKey, kid: str) -> str:
        pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        return mint_token(sub="fan-2", key=pem, algorithm="ES256", now=time.time(), kid=kid)

    assert verifier.verify(es256(old, "2026-01"), time.time()).sub == "fan-2"
    assert "kid" in refused(verifier, es256(new, "2026-02")).message
    assert refused(verifier, es256(new, "2026-01")).code == "bad_token"  # wrong key for kid
    jwks.write_text(
        json.dumps({"keys": [_jwk(old.public_key(), "2026-01"), _jwk(new.public_key(), "2026-02")]})
    )
    rotated = TokenVerifier.load(jwks_file=str(jwks))
    assert rotated is not None
    assert rotated.verify(es256(new, "2026-02"), time.time()).sub == "fan-2"
    for text, message in (
        ("[]", "JSON"),
        ('{"keys": []}', "no keys"),
        ('{"keys": [{"kty": "oct", "k": "c2hvcnQ"}]}', "shorter"),
    ):
        jwks.write_text(text)
        with pytest.raises(ValueError, match=message):
            TokenVerifier.load(jwks_file=str(jwks))


def test_which_events_a_viewer_may_join() -> None:
    anyone = ViewerClaims("a", None, None, None)
    ipl = ViewerClaims("b", None, ("ipl-*", "final"), None)
    assert event_allowed(None, "ipl-1", private=False)
    assert not event_allowed(None, "ipl-1", private=True)
    assert event_allowed(anyone, "x", private=False) and not event_allowed(anyone, "x", True)
    assert event_allowed(ipl, "ipl-7", private=True) and event_allowed(ipl, "final", True)
    assert not event_allowed(ipl, "epl-1", private=False)


def test_settings_refuse_what_cannot_work() -> None:
    with pytest.raises(ValueError, match="32 bytes"):
        Settings(api_key="k" * 16, token_hmac_secret="short").validate()
    with pytest.raises(ValueError, match="needs a token key"):
        Settings(api_key="k" * 16, viewer_auth="required").validate()
    with pytest.raises(ValueError, match="viewer auth"):
        Settings(api_key="k" * 16, viewer_auth="sometimes").validate()
    Settings(api_key="k" * 16, viewer_auth="required", token_hmac_secret=SECRET).validate()


def test_livegate_token_mints_what_the_server_accepts() -> None:
    env = {**os.environ, "LIVEGATE_TOKEN_HMAC_SECRET": SECRET}
    cmd = [sys.executable, "-m", "livegate", "token", "--sub", "fan-7", "--events", "ipl-*"]
    out = subprocess.run(
        [*cmd, "--events", "final", "--ttl", "15m", "--name", "Asha"],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    verifier = TokenVerifier.load(hmac_secret=SECRET)
    assert verifier is not None
    claims = verifier.verify(out, time.time())
    assert claims.events == ("ipl-*", "final") and claims.name == "Asha"
    assert claims.exp is not None and 890 < claims.exp - time.time() <= 900
    env.pop("LIVEGATE_TOKEN_HMAC_SECRET")
    failed = subprocess.run(cmd, env=env, capture_output=True, text=True)
    assert failed.returncode == 1 and "LIVEGATE_TOKEN_HMAC_SECRET" in failed.stderr


# -- on a real server ---------------------------------------------------------------


@pytest.fixture(scope="module")
def token_server() -> Any:
    os.environ["LIVEGATE_TOKEN_HMAC_SECRET"] = SECRET
    try:
        server = LivegateProcess("--reaction-window", "0.1", "--token-audience", "fans")
        server.start()
    finally:
        del os.environ["LIVEGATE_TOKEN_HMAC_SECRET"]
    yield server
    server.stop(signal.SIGKILL)


def fan_token(sub: str = "fan-1", ttl: float | None = 3600, **claims: Any) -> str:
    return token(sub, ttl, audience="fans", **claims)


async def connect_and_send(
    http: aiohttp.ClientSession, server: LivegateProcess, message: dict[str, Any]
) -> aiohttp.ClientWebSocketResponse:
    ws = await http.ws_connect(server.ws_url)
    await ws.send_str(orjson.dumps(message).decode())
    return ws


async def test_a_token_names_the_viewer(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    api = Api(http, token_server)
    await api.create_event("t-open")
    ws = await connect_and_send(
        http,
        token_server,
        {"type": "join", "eventId": "t-open", "token": fan_token(name="Asha", ttl=600)},
    )
    joined = await recv_type(ws, "joined")
    assert joined["viewer"]["id"] == "fan-1" and joined["viewer"]["name"] == "Asha"
    assert 595 <= joined["viewer"]["expiresIn"] <= 600
    # Anonymous viewers still watch public events (optional is the default).
    anonymous, joined = await join_ws(http, token_server, "t-open", "someone")
    assert "viewer" not in joined
    # Comments: only the token holder's are vouched for.
    await ws.send_str('{"type":"reaction","emoji":"🔥","comment":"from Asha"}')
    await anonymous.send_str('{"type":"reaction","emoji":"🔥","comment":"Official Scorer ✔"}')
    seen: dict[str, dict[str, Any]] = {}
    async with asyncio.timeout(5):
        while len(seen) < 2:
            for comment in (await recv_type(ws, "reactions"))["comments"]:
                seen[comment["comment"]] = comment
    assert seen["from Asha"] == {
        "id": "fan-1",
        "emoji": "🔥",
        "comment": "from Asha",
        "verified": True,
        "name": "Asha",
    }
    assert "verified" not in seen["Official Scorer ✔"] and "name" not in seen["Official Scorer ✔"]


@pytest.mark.parametrize(
    ("make", "code"),
    [
        (lambda: token("fan-1", audience="fans", secret="x" * 40), "bad_token"),
        (lambda: fan_token(ttl=-5), "token_expired"),
        (lambda: token("fan-1", audience="ops"), "bad_token"),
        (lambda: "garbage", "bad_token"),
    ],
)
async def test_a_refused_token_closes_with_4001(
    http: aiohttp.ClientSession, token_server: LivegateProcess, make: Any, code: str
) -> None:
    await Api(http, token_server).create_event("t-refused")
    ws = await connect_and_send(
        http, token_server, {"type": "join", "eventId": "t-refused", "token": make()}
    )
    error = await recv_json(ws)
    assert error["type"] == "error" and error["code"] == code
    await expect_close(ws, CloseCode.UNAUTHORIZED)


async def test_an_id_other_than_the_sub_is_refused(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    await Api(http, token_server).create_event("t-spoof")
    ws = await connect_and_send(
        http,
        token_server,
        {"type": "join", "id": "Official Scorer", "eventId": "t-spoof", "token": fan_token()},
    )
    assert (await recv_json(ws))["code"] == "bad_token"
    await expect_close(ws, CloseCode.UNAUTHORIZED)


async def test_events_and_private_matches(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    api = Api(http, token_server)
    await api.create_event("ipl-final")
    await api.create_event("epl-derby")
    async with http.put(
        f"{token_server.url}/api/events/ipl-paid",
        json={"sport": "generic", "title": "Paid", "private": True},
        headers=token_server.headers(),
    ) as resp:
        assert resp.status == 201
    await api.publish("ipl-paid", {"score": "secret"})
    ipl_only = fan_token(events=["ipl-*"])
    ws = await connect_and_send(
        http, token_server, {"type": "join", "eventId": "epl-derby", "token": ipl_only}
    )
    error = await recv_json(ws)
    assert error["code"] == "forbidden" and "epl-derby" in error["message"]
    # The connection stays usable: the same viewer joins an event its token names.
    await ws.send_str(
        orjson.dumps({"type": "join", "eventId": "ipl-paid", "token": ipl_only}).decode()
    )
    joined = await recv_type(ws, "joined")
    assert joined["snapshot"] == {"score": "secret"}
    # A private event: not for anonymous viewers, nor for a token without `events`.
    for extra in ({"id": "anon"}, {"token": fan_token("fan-2")}):
        other = await connect_and_send(
            http, token_server, {"type": "join", "eventId": "ipl-paid", **extra}
        )
        assert (await recv_json(other))["code"] == "forbidden"
        await other.send_str('{"type":"ping"}')
        assert (await recv_type(other, "pong"))["type"] == "pong"  # still open
    # Public reads leave out its score unless an API key comes with them.
    async with http.get(f"{token_server.url}/api/events/ipl-paid") as resp:
        body = await resp.json()
        assert "snapshot" not in body and body["summary"] == "" and body["meta"]["private"]
    async with http.get(
        f"{token_server.url}/api/events/ipl-paid", headers=token_server.headers()
    ) as resp:
        assert (await resp.json())["snapshot"] == {"score": "secret"}
    async with http.get(
        f"{token_server.url}/api/events/ipl-paid",
        headers={"Authorization": "Bearer wrong-key-0123456789"},
    ) as resp:
        assert resp.status == 401
    async with http.put(
        f"{token_server.url}/api/events/bad-private",
        json={"sport": "generic", "private": "yes"},
        headers=token_server.headers(),
    ) as resp:
        assert resp.status == 400 and "private" in (await resp.json())["error"]["message"]


async def test_expiry_closes_and_refresh_keeps_the_connection(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    await Api(http, token_server).create_event("t-expiry")
    short = fan_token(ttl=2)
    lapsing = await connect_and_send(
        http, token_server, {"type": "join", "eventId": "t-expiry", "token": short}
    )
    kept = await connect_and_send(
        http, token_server, {"type": "join", "eventId": "t-expiry", "token": short}
    )
    await recv_type(lapsing, "joined")
    await recv_type(kept, "joined")
    await kept.send_str(orjson.dumps({"type": "refresh", "token": fan_token(ttl=120)}).decode())
    refreshed = await recv_type(kept, "refreshed")
    assert 115 <= refreshed["expiresIn"] <= 120
    error = await recv_type(lapsing, "error", timeout=6)
    assert error["code"] == "token_expired"
    await expect_close(lapsing, CloseCode.UNAUTHORIZED)
    await kept.send_str('{"type":"ping","t":1}')
    assert (await recv_type(kept, "pong"))["t"] == 1  # past the first token's expiry
    # A refresh for another viewer is refused and closes.
    await kept.send_str(orjson.dumps({"type": "refresh", "token": fan_token("fan-2")}).decode())
    assert (await recv_type(kept, "error"))["code"] == "bad_token"
    await expect_close(kept, CloseCode.UNAUTHORIZED)


async def test_refresh_rules(http: aiohttp.ClientSession, token_server: LivegateProcess) -> None:
    await Api(http, token_server).create_event("ipl-r1")
    anonymous, _ = await join_ws(http, token_server, "ipl-r1", "anon")
    await anonymous.send_str(orjson.dumps({"type": "refresh", "token": fan_token()}).decode())
    assert (await recv_type(anonymous, "error"))["code"] == "bad_field"
    # A new token that no longer covers the joined event: refreshed, then left.
    ws = await connect_and_send(
        http, token_server, {"type": "join", "eventId": "ipl-r1", "token": fan_token()}
    )
    await recv_type(ws, "joined")
    narrower = fan_token(events=["epl-*"])
    await ws.send_str(orjson.dumps({"type": "refresh", "token": narrower}).decode())
    await recv_type(ws, "refreshed")
    assert (await recv_type(ws, "error"))["code"] == "forbidden"
    await ws.send_str('{"type":"reaction","emoji":"🔥"}')
    assert (await recv_type(ws, "error"))["code"] == "not_joined"


async def test_required_and_off(http: aiohttp.ClientSession, server_factory: Any) -> None:
    os.environ["LIVEGATE_TOKEN_HMAC_SECRET"] = SECRET
    try:
        required: LivegateProcess = server_factory("--viewer-auth", "required")
        off: LivegateProcess = server_factory("--viewer-auth", "off")
    finally:
        del os.environ["LIVEGATE_TOKEN_HMAC_SECRET"]
    for server in (required, off):
        await Api(http, server).create_event("m")
        async with http.get(f"{server.url}/api") as resp:
            assert (await resp.json())["viewerAuth"] in ("required", "off")
    ws = await connect_and_send(http, required, {"type": "join", "id": "anon", "eventId": "m"})
    assert (await recv_json(ws))["code"] == "token_required"
    await expect_close(ws, CloseCode.UNAUTHORIZED)
    ws = await connect_and_send(http, required, {"type": "join", "eventId": "m", "token": token()})
    assert (await recv_type(ws, "joined"))["viewer"]["id"] == "fan-1"
    # Off: tokens are not read (not even a broken one); the id is taken as given.
    _, joined = await join_ws(http, off, "m", "anyone", token="not-a-jwt")
    assert "viewer" not in joined
    ws = await connect_and_send(http, off, {"type": "join", "eventId": "m", "token": token()})
    assert (await recv_type(ws, "error"))["code"] == "missing_field"


async def test_a_rotated_jwks_is_read_again_on_sighup(
    http: aiohttp.ClientSession, server_factory: Any, tmp_path: Path
) -> None:
    old, new = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [_jwk(old.public_key(), "k1")]}))
    server: LivegateProcess = server_factory("--token-jwks-file", str(jwks))
    await Api(http, server).create_event("m")
    pem = new.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    signed = mint_token(sub="fan-3", key=pem, algorithm="ES256", now=time.time(), kid="k2")
    join = {"type": "join", "eventId": "m", "token": signed}
    ws = await connect_and_send(http, server, join)
    assert (await recv_json(ws))["code"] == "bad_token"
    jwks.write_text(
        json.dumps({"keys": [_jwk(old.public_key(), "k1"), _jwk(new.public_key(), "k2")]})
    )
    assert server.proc is not None
    server.proc.send_signal(signal.SIGHUP)
    async with asyncio.timeout(5):
        while True:
            ws = await connect_and_send(http, server, join)
            message = await recv_json(ws)
            if message["type"] == "joined":
                break
            await asyncio.sleep(0.1)
    assert message["viewer"]["id"] == "fan-3"


# -- the Python SDK's token paths -----------------------------------------------------


Mint = Any  # () -> str | None: a token made when asked for, so its exp starts then


class TokenSource:
    """``get_token`` for the SDK: mints from ``plan`` in order, then from ``then`` forever."""

    def __init__(self, plan: list[Mint], then: Mint) -> None:
        self.plan, self.then, self.calls = list(plan), then, 0

    async def __call__(self) -> str | None:
        self.calls += 1
        mint = self.plan.pop(0) if self.plan else self.then
        token: str | None = mint()
        return token


def lasting(ttl: float) -> Mint:
    return lambda: fan_token(ttl=ttl)


def nothing() -> None:
    return None


async def test_sdk_refreshes_before_expiry_without_reconnecting(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    api = Api(http, token_server)
    await api.create_event("sdk-refresh")
    # 3 s: `exp` is whole seconds, so the first token may have only 2 s left.
    source = TokenSource([], lasting(3))
    async with connect(token_server.ws_url, event_id="sdk-refresh", get_token=source) as client:
        joined = await anext(client)
        assert joined["viewer"]["id"] == "fan-1"
        await asyncio.sleep(6.5)  # two lifetimes of the first token
        await api.publish("sdk-refresh", {"n": 1})
        async with asyncio.timeout(5):
            async for message in client:
                if message["type"] == "score":
                    break
        assert client.reconnects == 0 and client.state == "connected"
        assert source.calls >= 3  # the join, then a refresh at least every 2.4 s


async def test_sdk_reconnects_with_a_fresh_token_after_expiry(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    api = Api(http, token_server)
    await api.create_event("sdk-expiry")
    # The join gets a 2 s token and the refresh nothing: the server closes with 4001.
    source = TokenSource([lasting(2), nothing], lasting(600))
    seqs: list[int] = []
    async with connect(
        token_server.ws_url, event_id="sdk-expiry", get_token=source, backoff=FAST
    ) as client:
        await api.publish("sdk-expiry", {"n": 1})
        async with asyncio.timeout(8):
            async for message in client:
                if message["type"] == "score":
                    seqs.append(message["seq"])
                    if client.reconnects == 0:
                        await asyncio.sleep(0)
                if client.reconnects == 1 and not seqs[1:]:
                    await api.publish("sdk-expiry", {"n": 2})
                    seqs.append(-1)  # published once
                if 2 in seqs:
                    break
        assert [s for s in seqs if s > 0] == [1, 2] and source.calls == 3


async def test_sdk_stops_when_the_fresh_token_is_refused_too(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    await Api(http, token_server).create_event("sdk-refused")
    source = TokenSource([lasting(2), nothing], lasting(-10))
    async with connect(
        token_server.ws_url, event_id="sdk-refused", get_token=source, backoff=FAST
    ) as client:
        with pytest.raises(Unauthorized):
            async with asyncio.timeout(10):
                async for _message in client:
                    pass
        assert client.state == "closed" and source.calls == 3


async def test_sdk_static_token_refusals(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    await Api(http, token_server).create_event("ipl-sdk")
    with pytest.raises(Unauthorized):
        async with connect(token_server.ws_url, event_id="ipl-sdk", token=fan_token(ttl=-1)):
            pass
    with pytest.raises(JoinRejected) as rejected:
        async with connect(
            token_server.ws_url, event_id="ipl-sdk", token=fan_token(events=["epl-*"])
        ):
            pass
    assert rejected.value.code == "forbidden"
    # A static token that expires ends iteration with Unauthorized: nothing to refresh it.
    async with connect(token_server.ws_url, event_id="ipl-sdk", token=fan_token(ttl=2)) as client:
        with pytest.raises(Unauthorized):
            async with asyncio.timeout(6):
                async for _message in client:
                    pass
    with pytest.raises(InvalidMessage):
        connect(token_server.ws_url, event_id="ipl-sdk")  # no id and no token


async def test_livegate_watch_joins_with_a_token(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    await Api(http, token_server).create_event("ipl-watch")
    env = {**os.environ, "LIVEGATE_TOKEN": fan_token("fan-tv", events=["ipl-*"], name="TV")}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "livegate", "watch", "ipl-watch", "--json", "--url", token_server.ws_url),
        env=env,
        stdout=asyncio.subprocess.PIPE,
    )
    assert proc.stdout is not None
    try:
        first = orjson.loads(await asyncio.wait_for(proc.stdout.readline(), 10))
    finally:
        proc.send_signal(signal.SIGINT)
        await asyncio.wait_for(proc.wait(), 15)
    viewer = first["viewer"]
    assert first["type"] == "joined" and (viewer["id"], viewer["name"]) == ("fan-tv", "TV")
    assert 3590 <= viewer["expiresIn"] <= 3600


# -- what a review found ------------------------------------------------------------------


def test_clock_skew_and_absurd_claims() -> None:
    verifier = TokenVerifier.load(hmac_secret=SECRET)
    assert verifier is not None
    now = time.time()
    # The login system's clock 10 s ahead: its fresh tokens still work.
    ahead = jwt.encode({"sub": "x", "iat": int(now + 10)}, SECRET, algorithm="HS256")
    assert verifier.verify(ahead, now).sub == "x"
    for exp in (1e20, -5, 0):
        raw = jwt.encode({"sub": "x", "exp": exp}, SECRET, algorithm="HS256")
        assert refused(verifier, raw).code == "bad_token", exp


def test_a_jwks_with_a_private_or_a_short_key_is_refused_at_load(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    private = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.get_default_algorithms()["ES256"].to_jwk(private))
    jwks.write_text(json.dumps({"keys": [jwk]}))
    with pytest.raises(ValueError, match="private key"):
        TokenVerifier.load(jwks_file=str(jwks))
    short = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()
    jwk = json.loads(jwt.algorithms.get_default_algorithms()["RS256"].to_jwk(short))
    jwks.write_text(json.dumps({"keys": [jwk]}))
    with pytest.raises(ValueError, match="2048"):
        TokenVerifier.load(jwks_file=str(jwks))


def test_expiry_bookkeeping_forgets_connections_that_left() -> None:
    """Connections gone before their token's exp leave nothing behind, however long
    the tokens live (one heap entry per distinct second would grow for a month)."""
    from livegate.gateway import Gateway

    class Conn:  # what _set_viewer reads of a connection
        viewer: ViewerClaims | None = None
        closed = False

    gateway = Gateway(Settings(api_key="k" * 16))
    now = int(time.time())
    conns = [Conn() for _ in range(1000)]
    for offset, conn in enumerate(conns):
        claims = ViewerClaims(f"v{offset}", now + 86_400 + offset, None, None)
        gateway._set_viewer(conn, claims)  # type: ignore[arg-type]
    for conn in conns:
        gateway._set_viewer(conn, None)  # type: ignore[arg-type]
    assert gateway._expiring == {}
    live = Conn()
    gateway._set_viewer(live, ViewerClaims("live", now + 60, None, None))  # type: ignore[arg-type]
    assert len(gateway._expiry_heap) <= 66 and list(gateway._expiring) == [now + 60]


def test_livegate_token_with_an_empty_secret_file(tmp_path: Path) -> None:
    empty = tmp_path / "secret"
    empty.write_text("")
    result = subprocess.run(
        [sys.executable, "-m", "livegate", "token", "--sub", "x", "--secret-file", str(empty)],
        capture_output=True,
        text=True,
    )
    assert result.returncode == 1 and "32 bytes" in result.stderr


async def test_sdk_a_get_token_that_hangs_fails_the_attempt(token_server: LivegateProcess) -> None:
    async def hangs() -> str:
        await asyncio.sleep(3600)
        return "never"

    with pytest.raises(ConnectFailed, match="get_token"):
        async with asyncio.timeout(5):
            async with connect(
                token_server.ws_url, event_id="x", get_token=hangs, open_timeout=0.3
            ):
                pass


async def test_private_is_set_at_creation_for_good(
    http: aiohttp.ClientSession, token_server: LivegateProcess
) -> None:
    base, headers = f"{token_server.url}/api/events", token_server.headers()

    async def put(event_id: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        async with http.put(f"{base}/{event_id}", json=body, headers=headers) as resp:
            return resp.status, await resp.json()

    assert (await put("p-one", {"sport": "generic", "private": 1}))[0] == 400
    status, body = await put("p-paid", {"sport": "generic", "private": True, "venue": "A"})
    assert status == 201
    status, body = await put("p-paid", {"venue": "B"})  # meta replaced, private kept
    assert status == 200 and body["meta"] == {"venue": "B", "private": True}
    assert (await put("p-paid", {"private": False}))[0] == 400
    assert (await put("p-open", {"sport": "generic"}))[0] == 201
    assert (await put("p-open", {"private": True}))[0] == 400
    ws = await connect_and_send(
        http, token_server, {"type": "join", "id": "a", "eventId": "p-paid"}
    )
    assert (await recv_json(ws))["code"] == "forbidden"
