"""Splitting a server's byte stream into WebSocket frames, for the benchmarks' raw clients.

One parser for every load generator in ``bench/`` (the soak, the attacks, the fuzzer):
it returns offsets, not copies, so a client reading thousands of frames a second pays
for the payloads it actually looks at.
"""

from __future__ import annotations

__all__ = ["split_frames"]

Span = tuple[int, int, int, int]
"""(first header byte, second header byte, payload start, payload stop) of one frame."""


def split_frames(buf: bytes) -> tuple[list[Span], int]:
    """The whole frames at the start of ``buf``, and the offset where the rest begins.

    The opcode is ``span[0] & 0x0F``. A masked frame (a server must never send
    one) is skipped over its 4-byte key; its payload is left masked.
    """
    spans: list[Span] = []
    pos, end = 0, len(buf)
    while end - pos >= 2:
        first, second = buf[pos], buf[pos + 1]
        length = second & 0x7F
        start = pos + 2
        if length == 126:
            if end - pos < 4:
                break
            length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
            start = pos + 4
        elif length == 127:
            if end - pos < 10:
                break
            length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
            start = pos + 10
        if second & 0x80:
            start += 4
        stop = start + length
        if stop > end:
            break
        spans.append((first, second, start, stop))
        pos = stop
    return spans, pos
