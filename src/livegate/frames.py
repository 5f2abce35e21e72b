"""Reading a WebSocket client's frames (RFC 6455): pure, no asyncio, no sockets.

:class:`FrameReader` turns the bytes a client sends, in whatever chunks they arrive,
into whole messages: text (reassembled from fragments), binary, ping, pong and close.
It is the whole of the server's read side after the handshake, so it enforces what the
RFC and livegate require of a client, and stops at the first violation with the close
code to send (:class:`FrameError`):

- every frame masked (1002), no reserved bits (1002, no extension is ever agreed), no
  reserved opcode (1002), control frames final and at most 125 bytes (1002),
  continuations only inside a fragmented message and no new message inside one (1002);
- a message at most :data:`~livegate.protocol.MAX_CLIENT_FRAME` bytes, refused from its
  header, before its payload is buffered (1009);
- text valid UTF-8 (1007), a close frame's code a valid one and its reason UTF-8 (1002,
  1007);
- at most ``budget`` frames per call: the next frame's header stops the read with 4008,
  so a flood of tiny frames (an empty ping is 6 bytes) costs a header each, not a parse.

What it buffers is bounded: one frame's header and payload (so at most
``MAX_CLIENT_FRAME`` plus 14 bytes) and one message's fragments.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from livegate.protocol import MAX_CLIENT_FRAME, CloseCode

try:  # aiohttp's C loop for the XOR: 5x faster than the big-integer one below
    from aiohttp._websocket.helpers import websocket_mask as _mask_in_place
except ImportError:  # pragma: no cover - aiohttp without its helpers

    def _mask_in_place(mask: bytes, data: bytearray) -> None:
        length = len(data)
        key = int.from_bytes((mask * (length // 4 + 1))[:length], "big")
        data[:] = (int.from_bytes(data, "big") ^ key).to_bytes(length, "big")


__all__ = [
    "BINARY",
    "CLOSE",
    "PING",
    "PONG",
    "TEXT",
    "FrameError",
    "FrameReader",
    "close_payload",
    "frame_pong",
]

TEXT: Final = 0x1
BINARY: Final = 0x2
CLOSE: Final = 0x8
PING: Final = 0x9
PONG: Final = 0xA
_CONTINUATION: Final = 0x0
_DATA_OPCODES: Final = frozenset({_CONTINUATION, TEXT, BINARY})
_CONTROL_OPCODES: Final = frozenset({CLOSE, PING, PONG})


@dataclass(frozen=True, slots=True)
class FrameError:
    """Why reading stopped: the close code, a metric tag and a message for the close frame."""

    code: int
    tag: str
    message: str


UNMASKED: Final = FrameError(
    CloseCode.PROTOCOL_ERROR, "protocol_error", "client frames must be masked"
)
TOO_MANY_FRAMES: Final = FrameError(CloseCode.RATE_LIMIT, "frame_flood", "too many frames")
TOO_BIG: Final = FrameError(
    CloseCode.MESSAGE_TOO_BIG, "message_too_big", f"messages are at most {MAX_CLIENT_FRAME} bytes"
)
BAD_UTF8: Final = FrameError(CloseCode.INVALID_DATA, "invalid_utf8", "text must be UTF-8")


def _protocol_error(message: str) -> FrameError:
    return FrameError(CloseCode.PROTOCOL_ERROR, "protocol_error", message)


def _unmask(payload: bytes, mask: bytes) -> bytes:
    data = bytearray(payload)
    _mask_in_place(mask, data)
    return bytes(data)


def _valid_close_code(code: int) -> bool:
    """RFC 6455 7.4: codes a peer may send (1004-1006 and 1015 never go on the wire)."""
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or (
        3000 <= code <= 4999
    )


def close_payload(payload: bytes) -> FrameError | tuple[int, str]:
    """A close frame's (code, reason), 1005 when it has none, or why it is invalid."""
    if not payload:
        return 1005, ""
    if len(payload) == 1:
        return _protocol_error("a close frame's code is two bytes")
    code = int.from_bytes(payload[:2], "big")
    if not _valid_close_code(code):
        return _protocol_error(f"close code {code} is not one a peer may send")
    try:
        return code, payload[2:].decode()
    except UnicodeDecodeError:
        return BAD_UTF8


def frame_pong(payload: bytes) -> bytes:
    """A server-to-client pong frame answering a ping of ``payload`` (at most 125 bytes)."""
    return bytes((0x80 | PONG, len(payload))) + payload


class FrameReader:
    """Incremental parser of one client's frames; feed it every byte read, in order.

    ``feed`` returns the whole messages completed by the bytes given, as (opcode,
    payload) pairs in order (a text payload is UTF-8 checked but left as bytes, a close
    payload is raw: see :func:`close_payload`), how many frame headers it read, and a
    :class:`FrameError` if it stopped. After a stop the stream is broken: every later
    ``feed`` returns nothing.
    """

    __slots__ = ("_buf", "_counted", "_fragments", "_fragments_size", "_opcode", "failed")

    def __init__(self) -> None:
        self._buf = b""
        self._counted = False
        """The header at the front of ``_buf`` was counted against a budget already."""
        self._fragments: list[bytes] = []
        self._fragments_size = 0
        self._opcode = 0
        """The opcode of the fragmented message in progress; 0 when none is."""
        self.failed = False

    def feed(
        self, data: bytes, budget: int
    ) -> tuple[list[tuple[int, bytes]], int, FrameError | None]:
        if self.failed:
            return [], 0, None
        buf = self._buf + data if self._buf else data
        messages: list[tuple[int, bytes]] = []
        frames = 0
        pos, end = 0, len(buf)
        error: FrameError | None = None
        while end - pos >= 2:
            first, second = buf[pos], buf[pos + 1]
            if not second & 0x80:
                error = UNMASKED
                break
            length = second & 0x7F
            head = 6
            if length == 126:
                head = 8
            elif length == 127:
                head = 14
            if end - pos < head:
                break
            if length == 126:
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            elif length == 127:
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            if not self._counted:
                if frames == budget:
                    error = TOO_MANY_FRAMES
                    break
                frames += 1
                error = self._check_header(first, length)
                if error is not None:
                    break
                self._counted = True
            if end - pos < head + length:
                break
            self._counted = False
            payload = buf[pos + head : pos + head + length]
            if length:
                payload = _unmask(payload, buf[pos + head - 4 : pos + head])
            pos += head + length
            error = self._message(first, payload, messages)
            if error is not None:
                break
        if error is not None:
            self.failed = True
            self._buf = b""
            self._fragments = []
            return messages, frames, error
        self._buf = buf[pos:] if pos < end else b""
        return messages, frames, None

    def _check_header(self, first: int, length: int) -> FrameError | None:
        """A frame's header, checked before its payload is waited for."""
        if first & 0x70:
            return _protocol_error("reserved bits set; no extension was agreed")
        opcode = first & 0x0F
        if opcode in _CONTROL_OPCODES:
            if not first & 0x80:
                return _protocol_error("a control frame cannot be fragmented")
            if length > 125:
                return _protocol_error("a control frame carries at most 125 bytes")
            return None
        if opcode not in _DATA_OPCODES:
            return _protocol_error(f"opcode {opcode} is reserved")
        if opcode == _CONTINUATION:
            if not self._opcode:
                return _protocol_error("a continuation frame outside a fragmented message")
        elif self._opcode:
            return _protocol_error("a new message inside a fragmented one")
        if self._fragments_size + length > MAX_CLIENT_FRAME:
            return TOO_BIG
        return None

    def _message(
        self, first: int, payload: bytes, messages: list[tuple[int, bytes]]
    ) -> FrameError | None:
        """A whole frame: a message for ``messages``, or a fragment kept for later."""
        opcode = first & 0x0F
        if opcode >= CLOSE:
            messages.append((opcode, payload))
            return None
        if not first & 0x80:  # a fragment, not the last
            if opcode:
                self._opcode = opcode
            self._fragments.append(payload)
            self._fragments_size += len(payload)
            return None
        if opcode == _CONTINUATION:
            opcode = self._opcode
            self._fragments.append(payload)
            payload = b"".join(self._fragments)
            self._fragments = []
            self._fragments_size = 0
            self._opcode = 0
        if opcode == TEXT:
            try:
                payload.decode()
            except UnicodeDecodeError:
                return BAD_UTF8
        messages.append((opcode, payload))
        return None
