"""The pure protocol module: parsing client frames and encoding server messages."""

from __future__ import annotations

import orjson
import pytest

from livegate import protocol
from livegate.protocol import ErrorCode, Join, Leave, Ping, ProtocolError, Reaction


def parse_error(frame: str | bytes) -> str:
    with pytest.raises(ProtocolError) as info:
        protocol.parse_client_frame(frame)
    return info.value.code


def test_untyped_join_is_the_spec_shape() -> None:
    assert protocol.parse_client_frame('{"id": "u1", "eventId": "m1"}') == Join("u1", "m1")


def test_typed_join_with_since_and_token() -> None:
    frame = '{"type":"join","id":"u1","eventId":"ipl:2024-1","since":7,"token":"t"}'
    assert protocol.parse_client_frame(frame) == Join("u1", "ipl:2024-1", since=7, token="t")
    with_epoch = '{"id":"u1","eventId":"m","since":3,"epoch":"ab12"}'
    assert protocol.parse_client_frame(with_epoch) == Join("u1", "m", since=3, epoch="ab12")


@pytest.mark.parametrize(
    "message",
    [
        Join("u1", "m1"),
        Join("u1", "m1", since=4, token="tok", epoch="e"),
        Reaction("🏏"),
        Reaction(":)", "nice", "u1"),
        Ping(),
        Ping("x"),
        Leave(),
    ],
)
def test_encode_client_round_trips(message: protocol.ClientMessage) -> None:
    assert protocol.parse_client_frame(protocol.encode_client(message)) == message


def test_untyped_reaction_is_the_spec_shape() -> None:
    frame = '{"id": "u1", "emoji": "🏏", "comment": "  what a shot  "}'
    assert protocol.parse_client_frame(frame) == Reaction("🏏", "what a shot", "u1")


def test_blank_comment_becomes_none() -> None:
    assert protocol.parse_client_frame('{"emoji": ":)", "comment": "   "}') == Reaction(":)")


def test_ping_and_leave() -> None:
    assert protocol.parse_client_frame('{"type":"ping","t":42}') == Ping(42)
    assert protocol.parse_client_frame('{"type":"ping"}') == Ping(None)
    assert protocol.parse_client_frame('{"type":"leave"}') == Leave()


@pytest.mark.parametrize(
    ("frame", "code"),
    [
        ("not json", ErrorCode.BAD_JSON),
        (b"\xff\xfe{}", ErrorCode.BAD_JSON),
        ("[1, 2]", ErrorCode.NOT_AN_OBJECT),
        ("42", ErrorCode.NOT_AN_OBJECT),
        ('{"hello": 1}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": "subscribe"}', ErrorCode.UNKNOWN_TYPE),
        ('{"type": 5}', ErrorCode.BAD_FIELD),
        ('{"type": "join", "id": "u"}', ErrorCode.MISSING_FIELD),
        ('{"type": "join", "eventId": "m"}', ErrorCode.MISSING_FIELD),
        ('{"id": 5, "eventId": "m"}', ErrorCode.BAD_FIELD),
        ('{"id": "", "eventId": "m"}', ErrorCode.BAD_FIELD),
        ('{"id": "u", "eventId": "bad id"}', ErrorCode.BAD_FIELD),
        ('{"id": "u", "eventId": "m", "since": -1}', ErrorCode.BAD_FIELD),
        ('{"id": "u", "eventId": "m", "since": "3"}', ErrorCode.BAD_FIELD),
        ('{"id": "u", "eventId": "m", "since": true}', ErrorCode.BAD_FIELD),
        ('{"id": "u\\u0000", "eventId": "m"}', ErrorCode.BAD_FIELD),
        ('{"type": "reaction"}', ErrorCode.MISSING_FIELD),
        ('{"emoji": 1}', ErrorCode.BAD_FIELD),
        ('{"emoji": ""}', ErrorCode.BAD_FIELD),
        ('{"emoji": "aaaaaaaaaaaaaaaaa"}', ErrorCode.BAD_FIELD),
        ('{"emoji": "a b"}', ErrorCode.BAD_FIELD),
        ('{"emoji": "\\u0007"}', ErrorCode.BAD_FIELD),
        ('{"emoji": "x", "comment": 5}', ErrorCode.BAD_FIELD),
        ('{"emoji": "x", "comment": "bell\\u0007"}', ErrorCode.BAD_FIELD),
        ('{"emoji": "x", "comment": "rtl\\u202e"}', ErrorCode.BAD_FIELD),
        ('{"type": "ping", "t": {"a": 1}}', ErrorCode.BAD_FIELD),
        ('{"id": "u", "eventId": "m", "epoch": 7}', ErrorCode.BAD_FIELD),
        ('{"id": "u", "eventId": "m", "epoch": ""}', ErrorCode.BAD_FIELD),
        ('{"a": {"b": {"c": {"d": {}}}}}', ErrorCode.TOO_DEEP),
        ("[" * 2000 + "]" * 2000, ErrorCode.TOO_DEEP),
    ],
)
def test_bad_frames_get_a_machine_code(frame: str | bytes, code: str) -> None:
    assert parse_error(frame) == code


def test_comment_length_counts_after_trimming() -> None:
    comment = " " * 50 + "x" * protocol.MAX_COMMENT_LEN + " " * 50
    parsed = protocol.parse_client_frame(orjson.dumps({"emoji": "x", "comment": comment}))
    assert isinstance(parsed, Reaction) and parsed.comment == "x" * protocol.MAX_COMMENT_LEN
    too_long = orjson.dumps({"emoji": "x", "comment": "x" * (protocol.MAX_COMMENT_LEN + 1)})
    assert parse_error(too_long) == ErrorCode.BAD_FIELD


@pytest.mark.parametrize("emoji", ["🏏", "👍🏽", "🇮🇳", ":)", "<3", "👨‍👩‍👧", "🏴󠁧󠁢󠁥󠁮󠁧󠁿", "❤️"])
def test_real_emoji_are_accepted(emoji: str) -> None:
    parsed = protocol.parse_client_frame(orjson.dumps({"emoji": emoji}))
    assert isinstance(parsed, Reaction) and parsed.emoji == emoji


def test_score_message_splices_payload_verbatim() -> None:
    data = orjson.dumps({"ball 12": "13/1", "batsman": {"name": "rohit"}})
    message = orjson.loads(protocol.encode_score("m1", 3, 1700, data))
    assert message == {
        "type": "score",
        "eventId": "m1",
        "seq": 3,
        "ts": 1700,
        "data": {"ball 12": "13/1", "batsman": {"name": "rohit"}},
    }


def test_joined_without_and_with_resume() -> None:
    common = dict(
        event_id="m1",
        epoch="e1",
        sport="cricket",
        title="T",
        status="scheduled",
        seq=0,
        viewers=1,
        snapshot_json=None,
        heartbeat_interval_ms=15000,
        heartbeat_timeout_ms=45000,
    )
    plain = orjson.loads(protocol.encode_joined(**common))  # type: ignore[arg-type]
    assert plain["snapshot"] is None and "recovered" not in plain and "missed" not in plain
    assert plain["heartbeat"] == {"intervalMs": 15000, "timeoutMs": 45000}
    missed = [protocol.encode_score("m1", 1, 5, b"{}"), protocol.encode_score("m1", 2, 6, b"{}")]
    resumed = orjson.loads(
        protocol.encode_joined(**common, recovered=True, missed=missed)  # type: ignore[arg-type]
    )
    assert resumed["recovered"] is True
    assert [m["seq"] for m in resumed["missed"]] == [1, 2]


@pytest.mark.parametrize("size", [0, 125, 126, 65535, 65536, 70000])
def test_text_frame_header_lengths(size: int) -> None:
    payload = b"x" * size
    frame = protocol.frame_text(payload)
    assert frame[0] == 0x81
    if size < 126:
        assert frame[1] == size and frame[2:] == payload
    elif size < 65536:
        assert frame[1] == 126 and int.from_bytes(frame[2:4], "big") == size
        assert frame[4:] == payload
    else:
        assert frame[1] == 127 and int.from_bytes(frame[2:10], "big") == size
        assert frame[10:] == payload


def test_close_frame_fits_a_control_frame() -> None:
    frame = protocol.frame_close(4009, "x" * 500)
    assert frame[0] == 0x88 and frame[1] == len(frame) - 2 <= 125
    assert int.from_bytes(frame[2:4], "big") == 4009


def test_event_id_rules() -> None:
    assert protocol.valid_event_id("ipl-2024_final:1.a")
    for bad in ("", "a b", "é", "a/b", "x" * 129):
        assert not protocol.valid_event_id(bad)


def test_reactions_message_is_bounded_whatever_the_window_holds() -> None:
    wide = "\U0001f525"  # 4 bytes in UTF-8: the worst case per character
    counts = {wide * 4 + str(i): 1000 + i for i in range(64)} | {"other": 5}
    comment = {"id": "u" * protocol.MAX_USER_ID_LEN, "emoji": wide * 4, "comment": wide * 280}
    encoded = protocol.encode_reactions(
        "e" * protocol.MAX_EVENT_ID_LEN, 500, counts, [comment] * 20
    )
    assert len(encoded) <= protocol.MAX_REACTIONS_MESSAGE
    message = orjson.loads(encoded)
    assert len(message["counts"]) == protocol.MAX_REACTION_KINDS
    # The most counted survive one by one; every other reaction is in "other".
    assert message["counts"][wide * 4 + "63"] == 1063
    assert sum(message["counts"].values()) == sum(counts.values())
    assert 0 < len(message["comments"]) < 20 and message["comments"][0] == comment


def test_small_reactions_message_is_unchanged() -> None:
    counts = {"🔥": 2, "👏": 1}
    comments = [{"id": "a", "emoji": "🔥", "comment": "what a ball"}]
    message = orjson.loads(protocol.encode_reactions("m", 500, counts, comments))
    assert message == {
        "type": "reactions",
        "eventId": "m",
        "windowMs": 500,
        "counts": counts,
        "comments": comments,
    }
