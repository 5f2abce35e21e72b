"""Bad input, close codes, rate limits, aggregation, slow consumers and shutdown.

Everything here runs against a real ``livegate serve`` subprocess over real
sockets. Frames aiohttp's client will not send (invalid UTF-8, hand-made
fragments) and a viewer that stops reading go through ``RawWebSocket``.
"""

from __future__ import annotations

import asyncio
import itertools
import signal
import time
from typing import Any

import aiohttp
import orjson
import pytest

from livegate.protocol import MAX_CLIENT_FRAME, CloseCode, ErrorCode
from tests.conftest import (
    Api,
    LivegateProcess,
    RawWebSocket,
    expect_close_frame,
    fetch_metrics,
    join_ws,
    metric_value,
    recv_json,
    recv_type,
)

_ids = itertools.count()

ENGLAND = "\U0001f3f4\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f"
FAMILY = "\U0001f468\u200d\U0001f469\u200d\U0001f467\u200d\U0001f466"


def new_event_id() -> str:
    return f"robust-{next(_ids)}"


def dumps(message: Any) -> str:
    return orjson.dumps(message).decode()


async def send(ws: aiohttp.ClientWebSocketResponse, message: Any) -> None:
    await ws.send_str(dumps(message))


async def expect_error(ws: aiohttp.ClientWebSocketResponse, code: str) -> dict[str, Any]:
    """The next ``error`` message (viewers/reactions may come first); asserts its code."""
    error = await recv_type(ws, "error")
    assert error["code"] == code, error
    assert isinstance(error["message"], str) and error["message"]
    return error


async def expect_pong(ws: aiohttp.ClientWebSocketResponse, t: Any) -> None:
    """Ping and get the pong: the connection is open and nothing errored before it."""
    await send(ws, {"type": "ping", "t": t})
    while True:
        message = await recv_json(ws)
        assert message["type"] != "error", message
        if message["type"] == "pong":
            assert message["t"] == t
            return


async def expect_quiet(ws: aiohttp.ClientWebSocketResponse, seconds: float) -> list[str]:
    """Read for ``seconds``; fail on a close. Returns the types of what came."""
    kinds = []
    deadline = asyncio.get_running_loop().time() + seconds
    while (remaining := deadline - asyncio.get_running_loop().time()) > 0:
        try:
            kinds.append((await recv_json(ws, remaining))["type"])
        except TimeoutError:
            break
    return kinds


async def still_serving(
    api: Api,
    ws: aiohttp.ClientWebSocketResponse,
    other: aiohttp.ClientWebSocketResponse,
    event_id: str,
    user: str,
) -> None:
    """After a bad frame: a valid join works, scores arrive, the other viewer is unaffected."""
    await send(ws, {"type": "join", "id": user, "eventId": event_id})
    joined = await recv_type(ws, "joined")
    assert joined["eventId"] == event_id
    published = await api.publish(event_id, {"after": "bad frame"})
    for viewer in (ws, other):
        score = await recv_type(viewer, "score")
        assert score["seq"] == published["seq"] and score["data"] == {"after": "bad frame"}
    await expect_pong(ws, "still-here")
    await expect_pong(other, "unaffected")


async def wait_for_viewers(api: Api, event_id: str, count: int, timeout: float = 3) -> None:
    """Poll the API until the event's live viewer count is ``count``."""
    deadline = time.monotonic() + timeout
    while (viewers := (await api.get_event(event_id))["viewers"]) != count:
        assert time.monotonic() < deadline, f"viewers is {viewers}, expected {count}"
        await asyncio.sleep(0.1)


def nested_arrays(depth: int) -> str:
    return "[" * depth + "]" * depth


# (case id, frame to send after joining as "fan", expected error code)
BAD_FRAMES: list[tuple[str, str | dict[str, Any], str]] = [
    ("not-json", "this is not json", ErrorCode.BAD_JSON),
    ("truncated-json", '{"type":"ping"', ErrorCode.BAD_JSON),
    ("empty-frame", "", ErrorCode.BAD_JSON),
    ("lone-surrogate-escape", '{"type":"ping","t":"\\ud800"}', ErrorCode.BAD_JSON),
    ("array", "[1, 2, 3]", ErrorCode.NOT_AN_OBJECT),
    ("number", "42", ErrorCode.NOT_AN_OBJECT),
    ("string", '"join"', ErrorCode.NOT_AN_OBJECT),
    ("null", "null", ErrorCode.NOT_AN_OBJECT),
    ("type-not-string", {"type": 5}, ErrorCode.BAD_FIELD),
    ("join-id-number", {"type": "join", "id": 5, "eventId": "x"}, ErrorCode.BAD_FIELD),
    ("join-id-empty", {"type": "join", "id": "", "eventId": "x"}, ErrorCode.BAD_FIELD),
    ("join-id-too-long", {"type": "join", "id": "u" * 129, "eventId": "x"}, ErrorCode.BAD_FIELD),
    ("join-id-control", {"type": "join", "id": "a\x00b", "eventId": "x"}, ErrorCode.BAD_FIELD),
    ("join-event-list", {"type": "join", "id": "u", "eventId": ["x"]}, ErrorCode.BAD_FIELD),
    ("join-event-bad-chars", {"type": "join", "id": "u", "eventId": "a b/c"}, ErrorCode.BAD_FIELD),
    ("join-since-negative", {"id": "u", "eventId": "x", "since": -1}, ErrorCode.BAD_FIELD),
    ("join-since-string", {"id": "u", "eventId": "x", "since": "3"}, ErrorCode.BAD_FIELD),
    ("join-since-bool", {"id": "u", "eventId": "x", "since": True}, ErrorCode.BAD_FIELD),
    ("join-since-float", {"id": "u", "eventId": "x", "since": 1.5}, ErrorCode.BAD_FIELD),
    ("join-token-number", {"id": "u", "eventId": "x", "token": 7}, ErrorCode.BAD_FIELD),
    ("reaction-emoji-number", {"type": "reaction", "emoji": 5}, ErrorCode.BAD_FIELD),
    ("reaction-comment-number", {"emoji": "x", "comment": 7}, ErrorCode.BAD_FIELD),
    ("reaction-id-number", {"type": "reaction", "emoji": "x", "id": 7}, ErrorCode.BAD_FIELD),
    ("ping-t-object", {"type": "ping", "t": [1]}, ErrorCode.BAD_FIELD),
    ("ping-t-long-string", {"type": "ping", "t": "t" * 65}, ErrorCode.BAD_FIELD),
    ("unknown-type", {"type": "subscribe", "eventId": "x"}, ErrorCode.UNKNOWN_TYPE),
    ("untyped-unknown-shape", {"id": "fan", "hello": 1}, ErrorCode.UNKNOWN_TYPE),
    ("empty-object", {}, ErrorCode.UNKNOWN_TYPE),
    ("join-missing-event", {"type": "join", "id": "u"}, ErrorCode.MISSING_FIELD),
    ("join-missing-id", {"eventId": "x"}, ErrorCode.MISSING_FIELD),
    ("reaction-missing-emoji", {"type": "reaction", "comment": "hi"}, ErrorCode.MISSING_FIELD),
    ("reaction-other-id", {"id": "someone-else", "emoji": "x"}, ErrorCode.ID_MISMATCH),
    ("unknown-event", {"id": "fan", "eventId": "no-such-event"}, ErrorCode.UNKNOWN_EVENT),
    ("five-nested-objects", {"type": "ping", "x": {"a": {"b": {"c": {}}}}}, ErrorCode.TOO_DEEP),
    (
        "1000-nested-arrays-in-object",
        '{"type":"ping","x":' + nested_arrays(1000) + "}",
        ErrorCode.TOO_DEEP,
    ),
    # A bare array is refused for its type before its depth is looked at.
    ("1000-nested-arrays", nested_arrays(1000), ErrorCode.NOT_AN_OBJECT),
    # Deeper than orjson's own limit (1024): must still be too_deep, not bad_json.
    ("2000-nested-arrays", nested_arrays(2000), ErrorCode.TOO_DEEP),
    ("2000-nested-arrays-in-object", '{"x":' + nested_arrays(2000) + "}", ErrorCode.TOO_DEEP),
    ("emoji-empty", {"emoji": ""}, ErrorCode.BAD_FIELD),
    ("emoji-blank", {"emoji": "   "}, ErrorCode.BAD_FIELD),
    ("emoji-too-long", {"emoji": "a" * 17}, ErrorCode.BAD_FIELD),
    ("emoji-with-space", {"emoji": "\U0001f44d \U0001f44d"}, ErrorCode.BAD_FIELD),
    ("emoji-nul", {"emoji": "\U0001f44d\x00"}, ErrorCode.BAD_FIELD),
    ("emoji-bell", {"emoji": "\x07"}, ErrorCode.BAD_FIELD),
    ("emoji-zero-width-space", {"emoji": "a\u200bb"}, ErrorCode.BAD_FIELD),
    ("emoji-bidi-override", {"emoji": "\u202e:)"}, ErrorCode.BAD_FIELD),
    ("comment-281", {"emoji": "x", "comment": "c" * 281}, ErrorCode.BAD_FIELD),
    ("comment-281-emoji", {"emoji": "x", "comment": "\U0001f3cf" * 281}, ErrorCode.BAD_FIELD),
    ("comment-control", {"emoji": "x", "comment": "hi\x07there"}, ErrorCode.BAD_FIELD),
    ("comment-escape-seq", {"emoji": "x", "comment": "\x1b[31mred"}, ErrorCode.BAD_FIELD),
    ("comment-bidi-override", {"emoji": "x", "comment": "abc\u202edef"}, ErrorCode.BAD_FIELD),
]


@pytest.mark.parametrize(
    ("frame", "code"), [case[1:] for case in BAD_FRAMES], ids=[case[0] for case in BAD_FRAMES]
)
async def test_bad_frame_gets_error_and_connection_keeps_serving(
    http: aiohttp.ClientSession,
    api: Api,
    shared_server: LivegateProcess,
    frame: str | dict[str, Any],
    code: str,
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    ws, _ = await join_ws(http, shared_server, event_id, "fan")
    other, _ = await join_ws(http, shared_server, event_id, "other")
    text = frame if isinstance(frame, str) else dumps(frame)
    assert len(text.encode()) <= MAX_CLIENT_FRAME
    await ws.send_str(text)
    await expect_error(ws, code)
    await still_serving(api, ws, other, event_id, "fan")
    await ws.close()
    await other.close()


@pytest.mark.parametrize(
    "frame",
    [{"type": "reaction", "emoji": "x"}, {"id": "fan", "emoji": "x"}, {"type": "leave"}],
    ids=["typed-reaction", "untyped-reaction", "leave"],
)
async def test_needs_join_first(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess, frame: dict[str, Any]
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    other, _ = await join_ws(http, shared_server, event_id, "other")
    ws = await http.ws_connect(shared_server.ws_url)
    await send(ws, frame)
    await expect_error(ws, ErrorCode.NOT_JOINED)
    await expect_pong(ws, 1)
    await still_serving(api, ws, other, event_id, "fan")
    await ws.close()
    await other.close()


async def test_fragmented_message_is_one_message(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    """Hand-made fragments reassemble, even split inside a UTF-8 character."""
    event_id = new_event_id()
    await api.create_event(event_id)
    other, _ = await join_ws(http, shared_server, event_id, "other")
    raw = await RawWebSocket.connect(shared_server)
    await raw.send_json({"type": "join", "id": "raw", "eventId": event_id})
    assert (await raw.recv_type("joined"))["eventId"] == event_id
    message = '{"type":"ping","t":"frag\U0001f3cfmented"}'.encode()
    cut = message.index(b"\xf0") + 2  # inside the 4-byte bat and ball
    await raw.send_frame(0x1, message[:5], fin=False)
    await raw.send_frame(0x0, message[5:cut], fin=False)
    await raw.send_frame(0x0, message[cut:], fin=True)
    pong = await raw.recv_type("pong")
    assert pong["t"] == "frag\U0001f3cfmented"
    # The raw viewer still gets scores, and so does the other one.
    published = await api.publish(event_id, {"raw": True})
    assert (await raw.recv_type("score"))["seq"] == published["seq"]
    assert (await recv_type(other, "score"))["seq"] == published["seq"]
    await raw.close()
    await other.close()


@pytest.mark.parametrize(
    "payload",
    [b"\xff\xfe", b'{"type":"ping","t":"\xc3\x28"}', b'{"type":"ping","t":"\xed\xa0\x80"}'],
    ids=["not-utf8", "truncated-sequence", "encoded-surrogate"],
)
async def test_invalid_utf8_in_a_text_frame_closes_1007(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess, payload: bytes
) -> None:
    """RFC 6455 8.1: a text frame that is not UTF-8 fails the connection with 1007."""
    event_id = new_event_id()
    await api.create_event(event_id)
    other, _ = await join_ws(http, shared_server, event_id, "other")
    raw = await RawWebSocket.connect(shared_server)
    await raw.send_json({"type": "join", "id": "raw", "eventId": event_id})
    await raw.recv_type("joined")
    await raw.send_text(payload)
    while True:
        opcode, body = await raw.recv_frame()
        if opcode == 0x8:
            break
        assert opcode == 0x1 and orjson.loads(body)["type"] == "viewers", body
    assert int.from_bytes(body[:2], "big") == CloseCode.INVALID_DATA
    await raw.close()
    # The other viewer is unaffected, and the closed one is no longer counted.
    published = await api.publish(event_id, {"n": 1})
    assert (await recv_type(other, "score"))["seq"] == published["seq"]
    await wait_for_viewers(api, event_id, 1)
    await other.close()


async def test_valid_emoji_and_comments_are_accepted_and_aggregated(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    ws, _ = await join_ws(http, shared_server, event_id, "fan")
    viewer, _ = await join_ws(http, shared_server, event_id, "viewer")
    emoji = [
        "\U0001f3cf",  # cricket bat and ball
        "\U0001f44d\U0001f3fd",  # thumbs up, medium skin tone
        "\U0001f1ee\U0001f1f3",  # flag of India
        ":)",
        ENGLAND,
        FAMILY,
        "\u2764\ufe0f",  # red heart with variation selector
        "  \U0001f525  ",  # surrounding blanks are trimmed
    ]
    comments = {
        ":)": "  " + "c" * 280 + "  ",  # 280 after trimming
        "\U0001f3cf": "What a shot! \U0001f3cf\U0001f525",
        ENGLAND: "   ",  # blank: no comment
    }
    assert len(emoji) <= 10  # within the default burst
    for item in emoji:
        reaction: dict[str, Any] = {"type": "reaction", "emoji": item, "id": "fan"}
        if item in comments:
            reaction["comment"] = comments[item]
        await send(ws, reaction)
    await expect_pong(ws, "sent")  # no error came before the pong
    expected = {item.strip(): 1 for item in emoji}
    counts: dict[str, int] = {}
    seen_comments: list[dict[str, str]] = []
    while sum(counts.values()) < len(emoji):
        aggregate = await recv_type(viewer, "reactions")
        assert aggregate["eventId"] == event_id
        for key, value in aggregate["counts"].items():
            counts[key] = counts.get(key, 0) + value
        seen_comments += aggregate["comments"]
    assert counts == expected
    assert sorted(seen_comments, key=lambda c: c["emoji"]) == sorted(
        [
            {"id": "fan", "emoji": ":)", "comment": "c" * 280},
            {"id": "fan", "emoji": "\U0001f3cf", "comment": "What a shot! \U0001f3cf\U0001f525"},
        ],
        key=lambda c: c["emoji"],
    )
    await ws.close()
    await viewer.close()


# -- close codes ---------------------------------------------------------------------


async def test_frame_of_exactly_max_size_is_fine_one_more_byte_closes_1009(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    other, _ = await join_ws(http, shared_server, event_id, "other")
    ws, _ = await join_ws(http, shared_server, event_id, "big")
    head = '{"type":"ping","t":1,"pad":"'
    exact = head + "p" * (MAX_CLIENT_FRAME - len(head) - 2) + '"}'
    assert len(exact.encode()) == MAX_CLIENT_FRAME
    await ws.send_str(exact)
    assert (await recv_type(ws, "pong"))["t"] == 1
    too_big = head + "p" * (MAX_CLIENT_FRAME - len(head) - 1) + '"}'
    assert len(too_big.encode()) == MAX_CLIENT_FRAME + 1
    await ws.send_str(too_big)
    await expect_close_frame(ws, CloseCode.MESSAGE_TOO_BIG)
    # The other viewer is unaffected and the event's viewer count drops back.
    published = await api.publish(event_id, {"n": 1})
    assert (await recv_type(other, "score"))["seq"] == published["seq"]
    await expect_pong(other, 2)
    await wait_for_viewers(api, event_id, 1)
    await other.close()


async def test_fragmented_message_over_limit_closes_1009(
    api: Api, shared_server: LivegateProcess
) -> None:
    raw = await RawWebSocket.connect(shared_server)
    half = b"x" * (MAX_CLIENT_FRAME // 2 + 1)
    await raw.send_frame(0x1, half, fin=False)
    await raw.send_frame(0x0, half, fin=True)
    _, code = await raw.read_until_gone(timeout=5)
    assert code == CloseCode.MESSAGE_TOO_BIG
    await raw.close()


async def test_binary_frame_closes_1003(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    other, _ = await join_ws(http, shared_server, event_id, "other")
    ws, _ = await join_ws(http, shared_server, event_id, "binary")
    await ws.send_bytes(b'{"type":"ping"}')
    await expect_close_frame(ws, CloseCode.UNSUPPORTED_DATA)
    await expect_pong(other, 1)
    await other.close()


async def trigger_close(raw: RawWebSocket, trigger: str) -> int:
    """Make the server close ``raw``; returns the code it should close with."""
    if trigger == "bad-streak":
        for _ in range(10):
            await raw.send_text(b"nope")
        return CloseCode.POLICY_VIOLATION
    if trigger == "binary":
        await raw.send_frame(0x2, b"\x00\x01")
        return CloseCode.UNSUPPORTED_DATA
    for _ in range(100):
        await raw.send_json({"type": "ping"})
    return CloseCode.RATE_LIMIT


@pytest.mark.parametrize("trigger", ["bad-streak", "binary", "flood"])
async def test_server_close_waits_for_the_client_close_reply(
    shared_server: LivegateProcess, trigger: str
) -> None:
    """RFC 6455 5.5.1 and 7.1.1: after its close frame the server waits for the client's.

    Closing TCP right after the close frame makes a client's close reply fail,
    and aiohttp's client then reports 1006 instead of the server's code.
    """
    raw = await RawWebSocket.connect(shared_server)
    expected = await trigger_close(raw, trigger)
    while True:
        opcode, payload = await raw.recv_frame()
        if opcode == 0x8:
            break
    assert int.from_bytes(payload[:2], "big") == expected
    # Still open until the client answers...
    with pytest.raises(TimeoutError):
        data = await asyncio.wait_for(raw.reader.read(1), 0.3)
        raise AssertionError(f"server closed TCP before the close reply ({data!r})")
    await raw.send_frame(0x8, expected.to_bytes(2, "big"))
    # ...then it closes.
    assert await asyncio.wait_for(raw.reader.read(), 2) == b""
    await raw.close()


async def test_aiohttp_client_sees_the_server_close_code(
    http: aiohttp.ClientSession, shared_server: LivegateProcess
) -> None:
    """What a Python client sees: the close code, not 1006 (see the test above)."""

    async def one() -> int | None:
        ws = await http.ws_connect(shared_server.ws_url)
        for _ in range(10):
            await ws.send_str("nope")
        while (await asyncio.wait_for(ws.receive(), 5)).type is aiohttp.WSMsgType.TEXT:
            pass
        return ws.close_code

    codes = [await one() for _ in range(20)]
    assert codes == [CloseCode.POLICY_VIOLATION] * 20


async def test_ten_bad_frames_in_a_row_close_1008(
    http: aiohttp.ClientSession, shared_server: LivegateProcess
) -> None:
    ws = await http.ws_connect(shared_server.ws_url)
    for _ in range(10):
        await ws.send_str("nope")
    before = await expect_close_frame(ws, CloseCode.POLICY_VIOLATION)
    assert [m["code"] for m in before] == [ErrorCode.BAD_JSON] * 10


async def test_mixed_bad_frames_count_towards_the_streak(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    ws, _ = await join_ws(http, shared_server, event_id, "fan")
    bad = [
        "nope",
        "[]",
        dumps({"type": "x"}),
        dumps({"type": "join", "id": "fan"}),
        dumps({"emoji": 1}),
        dumps({"id": "other", "emoji": "x"}),
        dumps({"id": "fan", "eventId": "x", "since": -1}),
        dumps({"a": {"b": {"c": {"d": {}}}}}),
        "",
        dumps({"emoji": ""}),
    ]
    for frame in bad:
        await ws.send_str(frame)
    before = await expect_close_frame(ws, CloseCode.POLICY_VIOLATION)
    assert [m["code"] for m in before if m["type"] == "error"] == [
        ErrorCode.BAD_JSON,
        ErrorCode.NOT_AN_OBJECT,
        ErrorCode.UNKNOWN_TYPE,
        ErrorCode.MISSING_FIELD,
        ErrorCode.BAD_FIELD,
        ErrorCode.ID_MISMATCH,
        ErrorCode.BAD_FIELD,
        ErrorCode.TOO_DEEP,
        ErrorCode.BAD_JSON,
        ErrorCode.BAD_FIELD,
    ]


@pytest.mark.parametrize("good", ["ping", "join", "reaction", "leave"])
async def test_a_good_frame_resets_the_bad_streak(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess, good: str
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    ws, _ = await join_ws(http, shared_server, event_id, "fan")
    good_frame = {
        "ping": {"type": "ping"},
        "join": {"id": "fan", "eventId": event_id},
        "reaction": {"id": "fan", "emoji": "x"},
        "leave": {"type": "leave"},
    }[good]
    for _ in range(9):
        await ws.send_str("nope")
    await send(ws, good_frame)
    for _ in range(9):
        await ws.send_str("nope")
    for _ in range(18):
        await expect_error(ws, ErrorCode.BAD_JSON)
    await expect_pong(ws, "open")  # 19 bad frames in all, never 10 in a row
    await expect_quiet(ws, 0.1)
    assert not ws.closed
    await ws.close()


# -- rate limits ------------------------------------------------------------------------


async def test_reaction_burst_is_limited_and_counts_match_accepted(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    """Defaults: 5 reactions/s with a burst of 10."""
    event_id = new_event_id()
    await api.create_event(event_id)
    ws, _ = await join_ws(http, shared_server, event_id, "fan")
    viewer, _ = await join_ws(http, shared_server, event_id, "viewer")
    for _ in range(15):
        await send(ws, {"emoji": "\U0001f44f"})
    burst_end = time.monotonic()
    await send(ws, {"type": "ping", "t": "end"})
    limited = 0
    while True:
        message = await recv_json(ws)
        if message["type"] == "pong":
            break
        if message["type"] == "error":
            assert message["code"] == ErrorCode.RATE_LIMITED, message
            limited += 1
    accepted = 15 - limited
    assert limited >= 5 and 10 <= accepted <= 11, (limited, accepted)
    counts: dict[str, int] = {}
    while sum(counts.values()) < accepted:
        for key, value in (await recv_type(viewer, "reactions"))["counts"].items():
            counts[key] = counts.get(key, 0) + value
    assert counts == {"\U0001f44f": accepted}
    # Nothing more arrives later (the default window is 0.5 s).
    assert "reactions" not in await expect_quiet(viewer, 0.7)
    # A second after the burst the bucket holds five tokens again.
    await asyncio.sleep(max(0.0, burst_end + 1.0 - time.monotonic()))
    for _ in range(5):
        await send(ws, {"emoji": "\U0001f44f"})
    await expect_pong(ws, "refilled")
    assert (await recv_type(viewer, "reactions"))["counts"] == {"\U0001f44f": 5}
    await ws.close()
    await viewer.close()


@pytest.mark.parametrize("kind", ["reaction", "ping"])
async def test_sustained_flooding_closes_4008(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess, kind: str
) -> None:
    event_id = new_event_id()
    await api.create_event(event_id)
    other, _ = await join_ws(http, shared_server, event_id, "other")
    ws, _ = await join_ws(http, shared_server, event_id, "flood")
    frame = dumps({"emoji": "x"} if kind == "reaction" else {"type": "ping"})
    closes_before = metric_value(
        await fetch_metrics(http, shared_server), 'livegate_closes_total{reason="rate_limit"}'
    )
    for _ in range(200):
        await ws.send_str(frame)
    before = await expect_close_frame(ws, CloseCode.RATE_LIMIT)
    errors = [m["code"] for m in before if m["type"] == "error"]
    assert set(errors) == {ErrorCode.RATE_LIMITED} and len(errors) >= 10, errors
    after = metric_value(
        await fetch_metrics(http, shared_server), 'livegate_closes_total{reason="rate_limit"}'
    )
    assert after == (closes_before or 0) + 1
    await expect_pong(other, "fine")
    await other.close()


# -- reaction aggregation -------------------------------------------------------------


async def test_thousand_reactions_are_aggregated_per_window(server_factory: Any) -> None:
    # More than aiohttp's default 100 connections per session.
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as http:
        await check_thousand_reactions(http, server_factory)


async def check_thousand_reactions(http: aiohttp.ClientSession, server_factory: Any) -> None:
    window = 0.2
    server: LivegateProcess = server_factory("--reaction-window", str(window))
    api = Api(http, server)
    event_id = new_event_id()
    await api.create_event(event_id)
    viewers = [(await join_ws(http, server, event_id, f"viewer-{i}"))[0] for i in range(2)]
    reactors = await asyncio.gather(*(join_ws(http, server, event_id, f"r{i}") for i in range(100)))
    palette = ["\U0001f3cf", "\U0001f44f", "\U0001f525", ":)", ENGLAND]

    async def react(index: int, ws: aiohttp.ClientWebSocketResponse) -> None:
        for j in range(10):
            await send(ws, {"emoji": palette[(index + j) % 5], "comment": f"c-{index}-{j}"})

    started = time.monotonic()
    await asyncio.gather(*(react(i, ws) for i, (ws, _) in enumerate(reactors)))

    async def collect(ws: aiohttp.ClientWebSocketResponse) -> tuple[list[dict[str, Any]], float]:
        aggregates: list[dict[str, Any]] = []
        while sum(sum(a["counts"].values()) for a in aggregates) < 1000:
            aggregates.append(await recv_type(ws, "reactions", timeout=10))
        last = time.monotonic()
        # Then nothing more: not one reaction counted twice.
        assert "reactions" not in await expect_quiet(ws, 3 * window)
        return aggregates, last

    results = await asyncio.gather(*(collect(ws) for ws in viewers))
    expected_total = {emoji: 200 for emoji in palette}
    for aggregates, last in results:
        elapsed = last - started
        assert len(aggregates) <= elapsed / (window * 0.95) + 1, (len(aggregates), elapsed)
        assert len(aggregates) < 100  # aggregated, not one message per reaction
        totals: dict[str, int] = {}
        for aggregate in aggregates:
            assert aggregate["eventId"] == event_id
            assert aggregate["windowMs"] == round(window * 1000)
            in_window = sum(aggregate["counts"].values())
            # Every reaction carried a short comment, so the sample is as full as it can be.
            assert len(aggregate["comments"]) == min(10, in_window)
            for comment in aggregate["comments"]:
                assert comment["emoji"] in aggregate["counts"]
                _, index, j = comment["comment"].split("-")
                assert comment["id"] == f"r{index}"
                assert comment["emoji"] == palette[(int(index) + int(j)) % 5]
            for key, value in aggregate["counts"].items():
                totals[key] = totals.get(key, 0) + value
        assert totals == expected_total
    # Both viewers got the very same aggregates.
    assert results[0][0] == results[1][0]
    for ws in viewers + [ws for ws, _ in reactors]:
        await ws.close()


# -- slow consumers ---------------------------------------------------------------------


async def test_slow_consumer_is_closed_and_others_get_everything(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--max-buffer", "65536")
    api = Api(http, server)
    event_id = new_event_id()
    await api.create_event(event_id)
    readers = [(await join_ws(http, server, event_id, f"reader-{i}"))[0] for i in range(3)]
    slow = await RawWebSocket.connect(server, rcvbuf=4096)
    await slow.send_json({"type": "join", "id": "slow", "eventId": event_id})
    assert (await slow.recv_type("joined"))["viewers"] == 4
    slow.pause_reading()

    count, pad = 200, "x" * 32 * 1024

    async def read_all(ws: aiohttp.ClientWebSocketResponse) -> list[int]:
        seqs: list[int] = []
        while len(seqs) < count:
            score = await recv_type(ws, "score", timeout=10)
            assert score["data"]["i"] == score["seq"] and len(score["data"]["pad"]) == len(pad)
            seqs.append(score["seq"])
        return seqs

    reading = [asyncio.create_task(read_all(ws)) for ws in readers]
    for i in range(1, count + 1):
        assert (await api.publish(event_id, {"i": i, "pad": pad}))["seq"] == i
    for seqs in await asyncio.gather(*reading):
        assert seqs == list(range(1, count + 1))

    metrics = await fetch_metrics(http, server)
    assert metric_value(metrics, 'livegate_closes_total{reason="slow_consumer"}') == 1
    # The slow socket is gone: draining it ends in EOF or a reset well short of 6.4 MB.
    received, code = await slow.read_until_gone(timeout=5)
    assert received < count * len(pad) // 2
    assert code in (None, CloseCode.SLOW_CONSUMER)
    await slow.close()
    # The server is healthy, the readers still served, the slow viewer not counted.
    async with http.get(f"{server.url}/healthz") as resp:
        assert resp.status == 200
    for ws in readers:
        await expect_pong(ws, "ok")
    await wait_for_viewers(api, event_id, 3)
    for ws in readers:
        await ws.close()


# -- graceful shutdown ------------------------------------------------------------------


async def test_sigterm_drains_with_1012_spread_over_the_window(
    http: aiohttp.ClientSession, server_factory: Any
) -> None:
    server: LivegateProcess = server_factory("--drain-window", "0.5")
    api = Api(http, server)
    event_id = new_event_id()
    await api.create_event(event_id)
    clients = [(await join_ws(http, server, event_id, f"fan-{i}"))[0] for i in range(40)]
    idle = [await http.ws_connect(server.ws_url) for _ in range(5)]  # never joined
    loop = asyncio.get_running_loop()

    async def closed_at(ws: aiohttp.ClientWebSocketResponse) -> tuple[float, int | None]:
        while True:
            msg = await asyncio.wait_for(ws.receive(), 10)
            if msg.type in (
                aiohttp.WSMsgType.CLOSE,
                aiohttp.WSMsgType.CLOSING,
                aiohttp.WSMsgType.CLOSED,
            ):
                return loop.time(), ws.close_code

    waiting = [asyncio.create_task(closed_at(ws)) for ws in clients + idle]
    assert server.proc is not None
    signalled = loop.time()
    server.proc.send_signal(signal.SIGTERM)
    first = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    assert first[0]
    # The listener is closed before the first viewer is told to go.
    with pytest.raises(OSError):
        _, writer = await asyncio.open_connection("127.0.0.1", server.port)
        writer.close()
    async with aiohttp.ClientSession() as fresh:
        with pytest.raises(aiohttp.ClientError):
            await fresh.ws_connect(server.ws_url)
    results = await asyncio.gather(*waiting)
    assert [code for _, code in results] == [CloseCode.SERVICE_RESTART] * len(results)
    times = [at for at, _ in results]
    spread = max(times) - min(times)
    assert 0.1 < spread < 1.5, spread
    assert max(times) - signalled < 3
    # Wait for the exit without a second signal (the drain is already under way).
    await asyncio.to_thread(server.proc.wait, 10)
    exit_code = server.stop()
    assert exit_code == 0, server.output.decode(errors="replace")


async def test_unknown_event_joins_are_not_bad_input(
    http: aiohttp.ClientSession, api: Api, shared_server: LivegateProcess
) -> None:
    ws = await http.ws_connect(shared_server.ws_url)
    for _ in range(12):  # more than the bad-input streak: a client waiting for an event
        await ws.send_str(dumps({"id": "fan", "eventId": "not-created-yet"}))
        assert (await recv_type(ws, "error"))["code"] == ErrorCode.UNKNOWN_EVENT
    event_id = new_event_id()
    await api.create_event(event_id)
    await ws.send_str(dumps({"id": "fan", "eventId": event_id}))
    assert (await recv_type(ws, "joined"))["eventId"] == event_id
    await ws.close()
