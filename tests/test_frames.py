"""The client frame reader (``livegate.frames``): RFC 6455's rules, at every chunking.

Pure code, so these are unit tests; the same rules are exercised end to end, over real
sockets, by tests/test_robustness.py, tests/test_slow_clients.py and the fuzzer.
"""

from __future__ import annotations

import os

import pytest

from livegate import frames
from livegate.frames import FrameReader
from livegate.protocol import MAX_CLIENT_FRAME


def client_frame(
    payload: bytes, *, opcode: int = 1, fin: bool = True, masked: bool = True, rsv: int = 0
) -> bytes:
    """A client frame with a random mask (or none), any opcode, FIN and RSV bits."""
    length = len(payload)
    first = (0x80 if fin else 0) | rsv | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        head = bytes((first, mask_bit | length))
    elif length < 65536:
        head = bytes((first, mask_bit | 126)) + length.to_bytes(2, "big")
    else:
        head = bytes((first, mask_bit | 127)) + length.to_bytes(8, "big")
    if not masked:
        return head + payload
    mask = os.urandom(4)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def read_all(
    stream: bytes, chunk: int, budget: int = 10_000
) -> tuple[list[tuple[int, bytes]], int, frames.FrameError | None]:
    """Feed ``stream`` in ``chunk``-byte pieces; every message, frames counted, the stop."""
    reader = FrameReader()
    messages: list[tuple[int, bytes]] = []
    counted = 0
    for offset in range(0, len(stream), chunk):
        got, count, error = reader.feed(stream[offset : offset + chunk], budget - counted)
        messages += got
        counted += count
        if error is not None:
            assert reader.feed(b"\x81\x80abcd", 100) == ([], 0, None)  # broken for good
            return messages, counted, error
    return messages, counted, None


CHUNKS = [1, 2, 3, 7, 13, 64, 100_000]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_messages_come_out_whole_and_in_order_at_any_split(chunk: int) -> None:
    text = '{"type":"react","emoji":"🔥"}'.encode()
    stream = (
        client_frame(text)
        + client_frame(b"", opcode=frames.PING)
        + client_frame(b"x" * 300)  # a 16-bit length
        + client_frame(b"he", fin=False)  # a fragmented text ...
        + client_frame(b"pp", opcode=frames.PONG)  # ... with a control frame inside it
        + client_frame(b"llo", opcode=0)
        + client_frame(b"\x00\x01", opcode=frames.BINARY)
        + client_frame(b"\x03\xe8bye", opcode=frames.CLOSE)
    )
    messages, counted, error = read_all(stream, chunk)
    assert error is None and counted == 8
    assert messages == [
        (frames.TEXT, text),
        (frames.PING, b""),
        (frames.TEXT, b"x" * 300),
        (frames.PONG, b"pp"),
        (frames.TEXT, b"hello"),
        (frames.BINARY, b"\x00\x01"),
        (frames.CLOSE, b"\x03\xe8bye"),
    ]


@pytest.mark.parametrize("chunk", CHUNKS)
def test_an_unmasked_frame_stops_the_read_with_1002(chunk: int) -> None:
    stream = client_frame(b"a" * 10) + client_frame(b"nope", masked=False) + client_frame(b"x")
    messages, _, error = read_all(stream, chunk)
    assert messages == [(frames.TEXT, b"a" * 10)]
    assert error == frames.UNMASKED and frames.UNMASKED.code == 1002


@pytest.mark.parametrize("chunk", [1, 5, 6, 7, 64, 100_000])
def test_the_frame_past_the_budget_stops_the_read_with_4008(chunk: int) -> None:
    ping = client_frame(b"", opcode=frames.PING)  # 6 bytes: the cheapest frame to flood
    messages, counted, error = read_all(ping * 50, chunk, budget=20)
    assert counted == 20 and len(messages) == 20
    assert error == frames.TOO_MANY_FRAMES and frames.TOO_MANY_FRAMES.code == 4008


def test_a_frame_split_across_reads_is_counted_once() -> None:
    reader = FrameReader()
    frame = client_frame(b"z" * 100)
    assert reader.feed(frame[:10], 1) == ([], 1, None)  # the header: counted
    assert reader.feed(frame[10:50], 0) == ([], 0, None)  # a budget of 0 does not stop it
    assert reader.feed(frame[50:], 0) == ([(frames.TEXT, b"z" * 100)], 0, None)


@pytest.mark.parametrize("chunk", CHUNKS)
def test_a_message_over_the_limit_is_refused_from_its_header_with_1009(chunk: int) -> None:
    whole = client_frame(b"a" * MAX_CLIENT_FRAME)  # the largest allowed
    too_big = client_frame(b"b" * (MAX_CLIENT_FRAME + 1))
    messages, _, error = read_all(whole + too_big, chunk)
    assert messages == [(frames.TEXT, b"a" * MAX_CLIENT_FRAME)]
    assert error == frames.TOO_BIG and frames.TOO_BIG.code == 1009


def test_a_huge_declared_length_is_refused_before_any_payload() -> None:
    header = bytes((0x81, 0x80 | 127)) + (2**62).to_bytes(8, "big") + b"mask"
    assert FrameReader().feed(header, 10)[2] == frames.TOO_BIG


def test_fragments_add_up_against_the_limit() -> None:
    half = MAX_CLIENT_FRAME // 2
    stream = client_frame(b"a" * half, fin=False) + client_frame(b"b" * (half + 1), opcode=0)
    assert read_all(stream, 100_000)[2] == frames.TOO_BIG


@pytest.mark.parametrize(
    "stream",
    [
        pytest.param(client_frame(b"x", rsv=0x40), id="reserved bit"),
        pytest.param(client_frame(b"x", opcode=3), id="reserved data opcode"),
        pytest.param(client_frame(b"x", opcode=0xB), id="reserved control opcode"),
        pytest.param(client_frame(b"", opcode=frames.PING, fin=False), id="fragmented ping"),
        pytest.param(client_frame(b"p" * 126, opcode=frames.PING), id="ping over 125"),
        pytest.param(client_frame(b"x", opcode=0), id="lone continuation"),
        pytest.param(
            client_frame(b"a", fin=False) + client_frame(b"b"), id="new message mid-fragments"
        ),
    ],
)
def test_protocol_violations_stop_the_read_with_1002(stream: bytes) -> None:
    messages, _, error = read_all(stream, 100_000)
    assert messages == []
    assert isinstance(error, frames.FrameError) and error.code == 1002


def test_text_that_is_not_utf8_stops_the_read_with_1007() -> None:
    stream = client_frame(b"ok") + client_frame(b"\xff\xfe") + client_frame(b"later")
    messages, _, error = read_all(stream, 100_000)
    assert messages == [(frames.TEXT, b"ok")] and error == frames.BAD_UTF8
    # A UTF-8 character split over two fragments is valid once whole.
    snowman = "☃".encode()
    split = client_frame(snowman[:1], fin=False) + client_frame(snowman[1:], opcode=0)
    assert read_all(split, 1)[0] == [(frames.TEXT, snowman)]


def test_close_payloads() -> None:
    assert frames.close_payload(b"") == (1005, "")
    assert frames.close_payload(b"\x03\xe8") == (1000, "")
    assert frames.close_payload(b"\x0f\xa0bye") == (4000, "bye")
    for bad in (b"\x03", b"\x03\xed", b"\x00\x00", b"\x13\x88"):  # short, 1005, 0, 5000
        error = frames.close_payload(bad)
        assert isinstance(error, frames.FrameError) and error.code == 1002
    assert frames.close_payload(b"\x03\xe8\xff") == frames.BAD_UTF8


def test_pong_answers_a_ping_with_its_payload() -> None:
    assert frames.frame_pong(b"abc") == b"\x8a\x03abc"
