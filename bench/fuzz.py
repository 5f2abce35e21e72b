"""WebSocket frame fuzzer: malformed frames and upgrades against a real ``livegate serve``.

Run from the repository root (Linux: it pins processes with ``taskset`` and reads
``/proc``)::

    .venv/bin/python bench/fuzz.py                        # 1,000,000 frames (about a minute)
    .venv/bin/python bench/fuzz.py --frames 50000 --seed 7
    .venv/bin/python bench/fuzz.py --json bench/results/fuzz.json --log /tmp/server.log
    .venv/bin/python bench/fuzz.py --show-conn 1234       # print what connection 1234 sends
    .venv/bin/python bench/fuzz.py --only-conn 1234       # replay that one connection alone

Flags (``--help`` lists them all): ``--frames`` (1,000,000), ``--connections``
(concurrent fuzzing connections, 200), ``--innocent`` (well-behaved viewers, 20),
``--seed`` (1), ``--rate`` (updates/s, 20), ``--upgrade-fuzz`` (share of connections
with a malformed upgrade, 0.05), ``--rss-limit-mib`` (256), ``--server-cpu`` /
``--load-cpu`` (taskset CPU lists, 0 and 1), ``--server-arg`` (extra ``serve`` flag,
repeatable), ``--log`` (keep the server's output), ``--json`` (write the report),
``--total-connections N`` (run exactly connections 0..N-1 instead of a frame budget).

It starts ``python -m livegate serve --host 127.0.0.1 --port P`` under
``taskset -c <server-cpu>`` (the API key, 32 random characters, goes in
``LIVEGATE_API_KEY``), pins itself to ``--load-cpu`` and, in one uvloop event loop:

- creates the event ``fuzz`` (``PUT /api/events/fuzz``, sport ``generic``) and joins
  ``--innocent`` well-behaved viewers (raw sockets) that ping every 5 s and record
  every ``score`` seq;
- publishes ``{"n": i}`` to the event at ``--rate`` updates per second;
- keeps ``--connections`` fuzzing connections open (raw ``asyncio.Protocol`` s). Each
  upgrades (some with a malformed request: missing or bad headers, bare LF, huge or
  many headers, bodies, control bytes, bit flips, truncation), then writes its script
  in a few batches, one write each (some dribbled in pieces), until the server
  closes it; a new connection takes its place. Scripts mix valid client messages
  (join, reaction, ping, leave, the untyped shapes), the same with byte mutations
  (bit flips, truncation, insertion, duplication, deletion, JSON tokens), invalid
  UTF-8, fragmented messages with interleaved control frames, valid UTF-8 split
  across fragments, bad continuations, oversized and fragmented control frames,
  unmasked and wrongly masked frames, reserved bits and opcodes, non-minimal and
  claimed 64-bit lengths, messages of exactly and just over 4096 bytes, deep JSON,
  huge numbers, binary frames, ping and pong floods, close frames with good and
  bad codes and reasons, and at the end of some scripts a truncated frame, a partial
  header or random bytes. When the server's close frame comes, the connection
  answers it, sends FIN, resets, or stays mute;
- when ``--frames`` frames have been written, closes what is left politely, stops
  publishing and checks the invariants below.

Connection ``i`` always sends the same bytes for a given ``--seed`` (its script comes
from ``random.Random(f"livegate-fuzz:{seed}:{i}")``), so a connection named in a
failure can be printed with ``--show-conn i`` and replayed alone with ``--only-conn
i``. Which connections a run reaches, and how much of each script the server reads
before closing, depend on timing.

Invariants (the exit status is 1 if any fails; close codes are only reported):

- every innocent viewer got every published seq exactly once and in order, a pong
  for each of its pings, no error and no close, and its final close frame was
  answered;
- every fuzzing connection was closed within 20 s of a frame that must close it
  (binary, reserved bits or opcode, oversized, invalid UTF-8, a close frame...) and
  within 10 s of a close frame it left unanswered; every well-formed upgrade was
  answered; no upgrade got a 5xx; the server never sent a masked, reserved or
  non-JSON frame, a text frame after its close frame, or a reserved close code;
- every publish was accepted (202), with seqs that neither skip nor repeat;
- the server is alive at the end, ``/healthz`` answers 200, its ``livegate_connections``
  gauge comes back to the number of innocent viewers, it exits 0 on SIGTERM, and its
  combined stdout/stderr holds no ``Traceback``;
- its VmRSS, sampled every 0.5 s, never grows more than ``--rss-limit-mib`` above
  the figure before fuzzing started (the summary shows start, max and end).

The summary also shows frames/s, connections, close codes and other endings with
their counts, frames by kind, what the server counted (``/metrics``), both
processes' CPU, and the server's WARNING/ERROR record counts.
``tests/test_fuzz.py`` runs the same core (:func:`run_fuzz`) for a few seconds as
part of ``make test``.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import hashlib
import json
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Final, cast

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # for `python bench/fuzz.py`

import aiohttp
import orjson

from bench.fanout import (
    HOST,
    WS_GUID,
    client_frame,
    free_port,
    gateway_command,
    handshake,
    proc_cpu_seconds,
    proc_rss_kib,
    raise_nofile_limit,
    stop,
)
from bench.soak import wait_healthy
from bench.wsframes import split_frames

ROOT: Final = Path(__file__).resolve().parent.parent
EVENT_ID: Final = "fuzz"
MAX_FRAME: Final = 4096  # protocol.MAX_CLIENT_FRAME
CLOSE_TIMEOUT: Final = 20.0
"""Seconds the server may take to close after a frame that must close the connection."""
HANDSHAKE_TIMEOUT: Final = 15.0
"""Seconds the server may take to answer a well-formed upgrade request."""
IGNORED_CLOSE_TIMEOUT: Final = 10.0
"""Seconds the server may keep a connection after its close frame when the client is mute."""
INNOCENT_PING_INTERVAL: Final = 5.0
RESERVED_CLOSE_CODES: Final = frozenset({1004, 1005, 1006, 1015})

# -- frames ----------------------------------------------------------------------


def mask_bytes(payload: bytes, key: bytes) -> bytes:
    """``payload`` XOR the 4-byte ``key`` repeated (masking and unmasking alike)."""
    n = len(payload)
    if not n:
        return b""
    repeated = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(n, "big")


def build_frame(
    rng: random.Random,
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv: int = 0,
    masked: bool = True,
    length: int | None = None,
    form: int | None = None,
    key: bytes | None = None,
) -> bytes:
    """A client frame. ``length`` overrides the claimed payload length, ``form`` forces
    the 7-, 16- or 64-bit length encoding, ``key`` the mask key (default: random)."""
    claimed = len(payload) if length is None else length
    if form is None:
        form = 7 if claimed < 126 else 16 if claimed < 65536 else 64
    b0 = (0x80 if fin else 0) | (rsv & 7) << 4 | (opcode & 0xF)
    m = 0x80 if masked else 0
    if form == 7:
        header = bytes((b0, m | (claimed & 0x7F)))
    elif form == 16:
        header = bytes((b0, m | 126)) + (claimed & 0xFFFF).to_bytes(2, "big")
    else:
        header = bytes((b0, m | 127)) + (claimed & (1 << 64) - 1).to_bytes(8, "big")
    if not masked:
        return header + payload
    key = rng.randbytes(4) if key is None else key
    return header + key + mask_bytes(payload, key)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    return code.to_bytes(2, "big") + reason


# -- fuzz material -----------------------------------------------------------------

EMOJI: Final = (
    "🔥", "👏", "🏏", "👍🏽", "🇮🇳", "❤️", "\U0001f468\u200d\U0001f469\u200d\U0001f467",
    "🏴\U000e0067\U000e0062\U000e0065\U000e006e\U000e0067\U000e007f", ":)", "<3", "", " ",
    "  🔥  ", "\u200d", "\ufe0f", "a" * 16, "a" * 17, "\x00", "\u202e", "🔥" * 16, "🔥" * 17,
    "a b", "\t", "\u2028", "\U000e0020",
)  # fmt: skip
IDS: Final = (
    "fan-1", "fan-2", "", " ", "x" * 128, "x" * 129, "\x00", "\u200b", "spaces are fine", "é",
    "🏏" * 128, "🏏" * 129, "\u2029", "null", "\x7f",
)  # fmt: skip
OTHER_EVENTS: Final = (
    "nope", "", "a" * 128, "a" * 129, "bad id", "../x", ":", "é", "fuzz ", "FUZZ", "fuzz\x00",
)  # fmt: skip
ODD_VALUES: Final[tuple[Any, ...]] = (
    None, True, False, 0, -1, 1, 3.0, 1.5, 2**53 - 1, 2**53, 2**63 - 1, -(2**63), "", "x",
    "1", [], {}, [1], {"a": 1}, "x" * 65, "x" * 2049, "🔥",
)  # fmt: skip
NUMBERS: Final = (
    b"1e400", b"-1e400", b"1" + b"0" * 300, b"18446744073709551616", b"-9223372036854775809",
    b"9007199254740993", b"0.1e-400", b"1E+2", b"-0", b"-0.0", b"NaN", b"Infinity",
    b"-Infinity", b"0x10", b"01", b"1.", b".5", b"1e", b"+1", b"9" * 4000, b"1e-99999999999",
)  # fmt: skip
TOKENS: Final = (
    b'"', b"\\", b"\\u0000", b"\\ud800", b"\\udc00\\ud800", b"1e999", b"null", b"{", b"}", b"[",
    b"]", b",", b":", "é".encode(), "🔥".encode(), b"\x00", b"\x7f", b" " * 50, b"\\\\\\",
    b'"type":"join"', b'"eventId":"fuzz"', b'"since":-1', b"\xff", b"\xc0\xaf", b"\xed\xa0\x80",
)  # fmt: skip
SHAPES: Final = (
    b"[]", b"null", b"1", b'"str"', b"{}", b'{"type":null}', b'{"type":1}', b'{"type":"JOIN"}',
    b'{"type":"join"}', b'{"type":"ping","type":"join","id":"a","eventId":"fuzz"}',
    "\ufeff".encode() + b'{"type":"ping"}', b' \n\t{"type":"ping"}\r\n ', b'{"type":"ping"}{}',
    b'{"type":"ping"}\x00', b"", b" ", b'{"type":"ping","t":"\\ud83d\\ude00"}',
    b'{"type":"ping","t":"\\ud800"}', b'{"type":"ping","t":"\\u0000"}', b'{"type":["ping"]}',
    b'{"type":{"type":"ping"}}', b'{"eventId":null,"emoji":"x"}', b'{"emoji":null}',
    b'{"type":"leave","eventId":"fuzz"}', b"{'type':'ping'}", b'{"type":"ping",}',
    b'{"type":"ping"', b"\xef\xbb\xbf", b'{"type":"ping","t":' + b"1" * 4070 + b"}",
)  # fmt: skip
INVALID_UTF8: Final = (
    b"\xff", b"\xfe", b"\x80", b"\xc0\xaf", b"\xc1\xbf", b"\xed\xa0\x80", b"\xed\xbf\xbf",
    b"\xf4\x90\x80\x80", b"\xf5\x80\x80\x80", b"\xf8\x88\x80\x80\x80", b"\xe2\x82", b"\xf0\x9f",
    b"\xe0\x80\x80", b"\xc2",
)  # fmt: skip
VALID_CLOSE_CODES: Final = (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 4000, 4999)
BAD_CLOSE_CODES: Final = (0, 1, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)


def request_bytes(request_line: bytes, header_lines: list[bytes]) -> bytes:
    return b"\r\n".join([request_line, *header_lines]) + b"\r\n\r\n"


class ScriptGen:
    """Builds one connection's bytes from one seeded ``random.Random``."""

    def __init__(self, rng: random.Random, event_id: str, port: int) -> None:
        self.rng = rng
        self.event_id = event_id
        self.port = port

    # -- client messages

    def message(self) -> dict[str, Any]:
        """A client message from docs/protocol.md; usually valid, sometimes off by a field."""
        rng = self.rng
        roll = rng.random()
        odd = rng.random() < 0.2
        if roll < 0.3:
            event = self.event_id if rng.random() < 0.7 else rng.choice(OTHER_EVENTS)
            msg: dict[str, Any] = {"id": rng.choice(IDS[:2]) if not odd else rng.choice(IDS)}
            msg["eventId"] = event
            if rng.random() < 0.7:
                msg = {"type": "join", **msg}
            if rng.random() < 0.3:
                msg["since"] = rng.randrange(0, 50) if not odd else rng.choice(ODD_VALUES)
            if rng.random() < 0.2:
                msg["epoch"] = rng.choice(("0123456789abcdef", "x" * 64, "x" * 65, ""))
            if rng.random() < 0.1:
                msg["token"] = rng.choice(ODD_VALUES) if odd else "opaque"
        elif roll < 0.6:
            msg = {"emoji": rng.choice(EMOJI[:10]) if not odd else rng.choice(EMOJI)}
            if rng.random() < 0.7:
                msg = {"type": "reaction", **msg}
            if rng.random() < 0.4:
                msg["comment"] = rng.choice(
                    (
                        "what a ball!",
                        "  padded  ",
                        "x" * 280,
                        "x" * 281,
                        "tab\there",
                        None,
                        "👨‍👩‍👧",
                    )
                )
            if rng.random() < 0.2:
                msg["id"] = rng.choice(IDS)
        elif roll < 0.85:
            msg = {"type": "ping"}
            if rng.random() < 0.6:
                msg["t"] = rng.randrange(2**41) if not odd else rng.choice(ODD_VALUES)
        elif roll < 0.95:
            msg = {"type": "leave"}
        else:
            msg = {"type": rng.choice(("pong", "score", "", "Ping", "joined", "x" * 100))}
        if rng.random() < 0.05:
            msg["extra"] = rng.choice(ODD_VALUES)
        return msg

    def message_bytes(self) -> bytes:
        return orjson.dumps(self.message())

    def mutate(self, data: bytes) -> bytes:
        """Random byte mutations: bit flips, truncation, insertion, duplication..."""
        rng = self.rng
        b = bytearray(data)
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
            if not b:
                b += rng.randbytes(1)
                continue
            i = rng.randrange(len(b))
            op = rng.randrange(8)
            if op == 0:  # bit flip, mostly keeping ASCII ASCII
                b[i] ^= 1 << (rng.randrange(7) if rng.random() < 0.9 else 7)
            elif op == 1:
                del b[i:]
            elif op == 2:
                b[i:i] = bytes(rng.randrange(32, 127) for _ in range(rng.randrange(1, 8)))
            elif op == 3:
                j = min(len(b), i + rng.randrange(1, 64))
                b[j:j] = b[i:j] * rng.randrange(1, 4)
            elif op == 4:
                del b[i : i + rng.randrange(1, 16)]
            elif op == 5:
                b[i] = rng.choice(b'{}[]":,\\ 0-e.')
            elif op == 6:
                j = rng.randrange(len(b))
                b[i], b[j] = b[j], b[i]
            else:
                b[i:i] = rng.choice(TOKENS)
        return bytes(b[:MAX_FRAME])

    def text(self, payload: bytes, **kw: Any) -> bytes:
        return build_frame(self.rng, 0x1, payload, **kw)

    def control(self) -> bytes:
        rng = self.rng
        opcode = rng.choice((0x9, 0x9, 0xA))
        return build_frame(rng, opcode, rng.randbytes(rng.choice((0, 1, 8, 125))))

    def fragments(
        self, payload: bytes, opcode: int = 0x1, pieces: int | None = None
    ) -> list[bytes]:
        """``payload`` as a fragmented message, control frames sometimes interleaved."""
        rng = self.rng
        if pieces is None:
            pieces = rng.choice((2, 2, 2, 3, 3, 4, 5, 6, 8, 12, 16, 32, len(payload) + 1))
        pieces = max(1, min(pieces, 100, len(payload) + 1))
        cuts = (
            sorted(rng.sample(range(1, len(payload)), pieces - 1)) if len(payload) > pieces else []
        )
        bounds = [0, *cuts, len(payload)]
        frames = []
        for k in range(len(bounds) - 1):
            last = k == len(bounds) - 2
            chunk = payload[bounds[k] : bounds[k + 1]]
            frames.append(build_frame(rng, opcode if k == 0 else 0x0, chunk, fin=last))
            if not last and rng.random() < 0.3:
                frames.append(self.control())
        return frames

    # -- units: (kind, frames); "soft" ones may leave the connection open

    def soft_unit(self) -> tuple[str, list[bytes]]:
        rng = self.rng
        roll = rng.random() * 100
        if roll < 22:
            return "valid", [self.text(self.message_bytes())]
        if roll < 50:
            return "mutated", [self.text(self.mutate(self.message_bytes()))]
        if roll < 54:
            depth = rng.choice((3, 4, 5, 6, 50, 500, 1000, 1025, 2000))
            if rng.random() < 0.5:
                body = b'{"type":"ping","t":' + b"[" * depth + b"]" * depth + b"}"
            else:
                depth = min(depth, 670)
                body = b'{"a":' * depth + b"1" + b"}" * depth
            return "nested", [self.text(body[:MAX_FRAME])]
        if roll < 58:
            number = rng.choice(NUMBERS)
            if rng.random() < 0.5:
                body = b'{"type":"ping","t":' + number + b"}"
            else:
                body = b'{"type":"join","id":"n","eventId":"fuzz","since":' + number + b"}"
            return "numbers", [self.text(body[:MAX_FRAME])]
        if roll < 66:
            return "shapes", [self.text(rng.choice(SHAPES))]
        if roll < 75:
            payload = self.message_bytes()
            if rng.random() < 0.3:
                payload = self.mutate(payload)
            if rng.random() < 0.1:
                payload = self.padded(MAX_FRAME)
            return "fragmented", self.fragments(payload)
        if roll < 81:
            return "control", [self.control()]
        if roll < 83:
            count = rng.choice((5, 10, 20, 50))
            opcode = 0x9 if rng.random() < 0.8 else 0xA
            payload = rng.randbytes(rng.choice((0, 4, 125)))
            return "ping_flood", [build_frame(rng, opcode, payload) for _ in range(count)]
        if roll < 88:
            return "unmasked", [self.text(self.message_bytes(), masked=False)]
        if roll < 90:  # masked with one key, the mask bit lies or the key is wrong
            payload = self.message_bytes()
            if rng.random() < 0.5:
                return "bad_mask", [self.text(mask_bytes(payload, rng.randbytes(4)), masked=False)]
            return "bad_mask", [self.text(payload, key=b"\x00\x00\x00\x00")]
        if roll < 94:  # valid UTF-8 cut inside a character by the fragment boundary
            text = f'{{"type":"reaction","emoji":"{rng.choice(EMOJI[:8])}","comment":"héllo 🏏"}}'
            payload = text.encode()
            wide = [i for i in range(1, len(payload)) if payload[i] & 0xC0 == 0x80]
            cut = rng.choice(wide)
            return "utf8_split", [
                self.text(payload[:cut], fin=False),
                build_frame(rng, 0x0, payload[cut:]),
            ]
        if roll < 96:
            return "max_size", [self.text(self.padded(rng.choice((MAX_FRAME, MAX_FRAME - 1))))]
        if roll < 98:  # non-minimal length encodings of a valid message
            payload = self.message_bytes()
            return "long_form", [self.text(payload, form=rng.choice((16, 64)))]
        return "empty", [self.text(b"")]

    def padded(self, size: int) -> bytes:
        """A valid ping of exactly ``size`` bytes (whitespace padding)."""
        body = b'{"type":"ping"}'
        return body[:-1] + b" " * (size - len(body)) + b"}"

    def fatal_unit(self) -> tuple[str, list[bytes]]:
        """A unit after which a conforming server must close the connection."""
        rng = self.rng
        roll = rng.random() * 100
        if roll < 10:
            payload = rng.randbytes(rng.choice((0, 1, 10, 200)))
            if rng.random() < 0.3 and payload:
                return "binary", self.fragments(payload, opcode=0x2)
            return "binary", [build_frame(rng, 0x2, payload)]
        if roll < 22:
            bad = rng.choice(INVALID_UTF8)
            body = b'{"type":"ping","t":"' + bad + b'"}'
            if rng.random() < 0.5:
                body = b'{"type":"ping","t":"x"}' + bad
            if rng.random() < 0.3:
                return "bad_utf8", self.fragments(body)
            return "bad_utf8", [self.text(body)]
        if roll < 30:
            opcode = rng.choice((0x1, 0x1, 0x9, 0x2))
            return "rsv", [
                build_frame(rng, opcode, self.message_bytes(), rsv=rng.choice((1, 2, 3, 4, 7)))
            ]
        if roll < 38:
            opcode = rng.choice((3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF))
            return "opcode", [build_frame(rng, opcode, rng.randbytes(rng.randrange(0, 126)))]
        if roll < 46:
            opcode = rng.choice((0x8, 0x9, 0xA))
            size = rng.choice((126, 127, 200, 1000, 5000))
            payload = rng.randbytes(size)
            if opcode == 0x8:
                payload = close_payload(1000, b"r" * (size - 2))
            return "big_control", [build_frame(rng, opcode, payload)]
        if roll < 52:
            opcode = rng.choice((0x8, 0x9, 0xA))
            payload = close_payload(1000) if opcode == 0x8 else b"ping"
            return "frag_control", [
                build_frame(rng, opcode, payload, fin=False),
                build_frame(rng, 0x0, b"more"),
            ]
        if roll < 60:
            variant = rng.randrange(3)
            first = self.text(b'{"type":', fin=False)
            if variant == 0:
                return "bad_continuation", [build_frame(rng, 0x0, b'{"type":"ping"}')]
            if variant == 1:
                return "bad_continuation", [first, self.text(b'{"type":"ping"}')]
            return "bad_continuation", [first, build_frame(rng, 0x2, b"\x00")]
        if roll < 68:
            size = rng.choice((MAX_FRAME + 1, MAX_FRAME + 2, 8192, 65535, 65536, 70000))
            payload = self.padded(size)
            if rng.random() < 0.4:
                return "too_big", self.fragments(payload, pieces=rng.choice((2, 3, 10)))
            return "too_big", [self.text(payload)]
        if roll < 76:
            claimed = rng.choice((2**63 - 1, 2**63, 2**64 - 1, 2**32, 10**9, 65536, MAX_FRAME + 1))
            opcode = rng.choice((0x1, 0x1, 0x2, 0x0))
            head = build_frame(rng, opcode, b"", length=claimed, form=64)
            return "huge_length", [head + rng.randbytes(rng.choice((0, 4, 100)))]
        if roll < 90:
            code = rng.choice(VALID_CLOSE_CODES)
            reason = rng.choice((b"", b"bye", "é🔥".encode(), b"r" * 123))
            if rng.random() < 0.15:
                return "close_ok", [build_frame(rng, 0x8, b"")]
            return "close_ok", [build_frame(rng, 0x8, close_payload(code, reason))]
        variant = rng.randrange(3)
        if variant == 0:
            payload = close_payload(rng.choice(BAD_CLOSE_CODES), b"bad code")
        elif variant == 1:
            payload = bytes((rng.randrange(256),))
        else:
            payload = close_payload(1000, rng.choice(INVALID_UTF8))
        return "close_bad", [build_frame(rng, 0x8, payload)]

    def tail_unit(self) -> tuple[str, list[bytes]]:
        """Bytes after which the server may rightly wait for more: we close ourselves."""
        rng = self.rng
        roll = rng.random()
        if roll < 0.35:
            return "random", [rng.randbytes(rng.choice((1, 2, 7, 64, 500, 2000)))]
        if roll < 0.65:
            frame = self.text(self.padded(rng.randrange(20, MAX_FRAME)))
            return "truncated", [frame[: rng.randrange(1, len(frame))]]
        if roll < 0.8:
            head = rng.choice(
                (b"\x81", b"\x81\xfe\x01", b"\x81\xff\x00\x00\x00", b"\x81\x85\x01\x02", b"\x01")
            )
            return "partial_header", [head]
        flipped = bytearray(self.text(self.message_bytes()))
        i = rng.randrange(min(len(flipped), 10))
        flipped[i] ^= 1 << rng.randrange(8)
        return "header_flip", [bytes(flipped)]

    # -- the upgrade request

    def headers(self, key: bytes) -> list[bytes]:
        return [
            b"Host: 127.0.0.1:%d" % self.port,
            b"Upgrade: websocket",
            b"Connection: Upgrade",
            b"Sec-WebSocket-Key: " + key,
            b"Sec-WebSocket-Version: 13",
        ]

    def upgrade(self) -> tuple[bytes, bytes, str]:
        """(a valid upgrade request, the Sec-WebSocket-Accept it must get, "")."""
        key = base64.b64encode(self.rng.randbytes(16))
        accept = base64.b64encode(hashlib.sha1(key + WS_GUID).digest())
        return request_bytes(b"GET /ws HTTP/1.1", self.headers(key)), accept, ""

    def fuzzed_upgrade(self) -> tuple[bytes, str]:
        """A malformed or unusual upgrade request and the name of what was done to it."""
        rng = self.rng
        key = base64.b64encode(rng.randbytes(16))
        headers = self.headers(key)
        method, path, version = b"GET", b"/ws", b"HTTP/1.1"
        variant = rng.choice(
            (
                "drop_header", "bad_version", "bad_key", "upgrade_value", "connection_value",
                "method", "path", "http_version", "huge_header", "many_headers", "no_colon",
                "obs_fold", "ctl_bytes", "bare_lf", "body", "duplicate", "extensions",
                "mutated", "truncated", "pipelined",
            )
        )  # fmt: skip
        valid = request_bytes(b"GET /ws HTTP/1.1", headers)
        if variant == "drop_header":
            del headers[rng.randrange(len(headers))]
        elif variant == "bad_version":
            value = rng.choice((b"12", b"", b"13, 8", b"abc", b"99999999999999999999", b"-13"))
            headers[4] = b"Sec-WebSocket-Version: " + value
        elif variant == "bad_key":
            value = rng.choice((b"", b"short", b"A" * 1000, b"!" * 22 + b"==", key[:-2]))
            headers[3] = b"Sec-WebSocket-Key: " + value
        elif variant == "upgrade_value":
            value = rng.choice((b"WebSocket", b"websocket2", b"h2c", b"", b"websocket, h2c"))
            headers[1] = b"Upgrade: " + value
        elif variant == "connection_value":
            value = rng.choice((b"keep-alive, Upgrade", b"close", b"upgrade", b"", b"x, close"))
            headers[2] = b"Connection: " + value
        elif variant == "method":
            method = rng.choice((b"POST", b"PUT", b"HEAD", b"get", b"G\x00ET", b"GET GET", b"PRI"))
        elif variant == "path":
            path = rng.choice((b"/ws?x=1", b"/ws/", b"//ws", b"/%77s", b"*", b"/" + b"a" * 9000))
        elif variant == "http_version":
            version = rng.choice(
                (b"HTTP/1.0", b"HTTP/2.0", b"HTTP/1.1x", b"HTTP/0.9", b"", b"ICE/1")
            )
        elif variant == "huge_header":
            headers.append(b"X-Big: " + b"b" * rng.choice((8000, 9000, 70000)))
        elif variant == "many_headers":
            headers += [b"X-H%d: v" % i for i in range(rng.choice((50, 200, 1000)))]
        elif variant == "no_colon":
            headers.insert(rng.randrange(len(headers)), rng.choice((b"NoColon", b"Host : x", b":")))
        elif variant == "obs_fold":
            headers.insert(rng.randrange(1, len(headers)), b" folded")
        elif variant == "ctl_bytes":
            value = rng.choice((b"\x00", b"\x7f", b"\xff\xfe", b"a\rb", b"\x1b[31m"))
            headers.append(b"X-Ctl: " + value)
        elif variant == "bare_lf":
            return valid.replace(b"\r\n", b"\n"), variant
        elif variant == "body":
            body = rng.choice(
                (
                    b"Transfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
                    b"Content-Length: 10\r\n\r\n0123456789",
                    b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
                    b"Content-Length: -1\r\n\r\n",
                    b"Content-Length: 99999999999999999999\r\n\r\n",
                )
            )
            return valid[:-2] + body, variant
        elif variant == "duplicate":
            headers.append(rng.choice(headers))
            headers.append(b"Sec-WebSocket-Key: " + base64.b64encode(rng.randbytes(16)))
        elif variant == "extensions":
            value = rng.choice(
                (
                    b"permessage-deflate",
                    b"permessage-deflate; client_max_window_bits",
                    b"x-garbage;;;=",
                    b"permessage-deflate; server_max_window_bits=99",
                )
            )
            headers.append(b"Sec-WebSocket-Extensions: " + value)
            headers.append(b"Sec-WebSocket-Protocol: " + rng.choice((b"chat", b"", b",,,")))
        elif variant == "mutated":
            return self.mutate_bytes(valid), variant
        elif variant == "truncated":
            return valid[: rng.randrange(1, len(valid) - 1)], variant
        elif variant == "pipelined":
            return valid + valid, variant
        return request_bytes(b" ".join((method, path, version)), headers), variant

    def mutate_bytes(self, data: bytes) -> bytes:
        rng = self.rng
        b = bytearray(data)
        for _ in range(rng.choice((1, 2, 4))):
            i = rng.randrange(len(b))
            b[i] ^= 1 << rng.randrange(8)
        return bytes(b)


@dataclass(slots=True)
class Batch:
    """Frames written together: in one write, or ``pieces`` written 2 ms apart."""

    data: bytes
    frames: int
    kinds: list[tuple[str, int]]
    pieces: list[bytes] | None


@dataclass(slots=True)
class BatchPlan:
    units: int
    fatal_inside: bool
    dribble: bool
    gap: float
    """Seconds to wait after writing it."""


Unit = tuple[str, list[bytes]]


@dataclass
class Script:
    """Everything one fuzzing connection sends: the plan is decided before it connects,
    each batch's bytes only when it is about to be written (a connection the server
    closes early never pays for the rest). Batches are always built in order from the
    same ``random.Random``, so they are the same bytes whenever they are built."""

    index: int
    request: bytes
    accept: bytes | None
    upgrade_variant: str
    plan: list[BatchPlan]
    ending: str
    """``fatal`` (the server must close), ``tail`` (we close after ``tail_wait``) or ``open``."""
    tail_wait: float
    on_close: str
    """What we do when the server's close frame comes: echo, fin, rst or ignore."""
    gen: ScriptGen
    built: list[Batch] = field(default_factory=list)

    def batch(self, i: int) -> Batch:
        while len(self.built) <= i:
            self.built.append(self._build(len(self.built)))
        return self.built[i]

    def _build(self, i: int) -> Batch:
        gen, rng, plan = self.gen, self.gen.rng, self.plan[i]
        units = [gen.soft_unit() for _ in range(plan.units)]
        if plan.fatal_inside:
            units.insert(rng.randrange(len(units) + 1), gen.fatal_unit())
        if i == len(self.plan) - 1:
            if self.ending == "fatal":
                units.append(gen.fatal_unit())
            elif self.ending == "tail":
                units.append(gen.tail_unit())
        kinds = Counter[str]()
        for kind, frames in units:
            kinds[kind] += len(frames)
        data = b"".join(b"".join(frames) for _, frames in units)
        pieces = None
        if plan.dribble and len(data) > 1:
            cuts = sorted(rng.sample(range(1, len(data)), min(4, len(data) - 1)))
            pieces = [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
        return Batch(data, kinds.total(), list(kinds.items()), pieces)

    def describe(self) -> str:
        batches = [self.batch(i) for i in range(len(self.plan))]
        lines = [
            f"connection {self.index}: {sum(b.frames for b in batches)} frames, "
            f"ending {self.ending}, on close {self.on_close}, "
            f"upgrade {self.upgrade_variant or 'valid'}",
            f"  request: {self.request[:300]!r}",
        ]
        for plan, batch in zip(self.plan, batches, strict=True):
            kinds = ", ".join(f"{k} x{n}" for k, n in batch.kinds)
            lines.append(
                f"  batch: {batch.frames} frames, {len(batch.data)} bytes"
                f"{', dribbled' if batch.pieces else ''}, then {plan.gap:g} s: {kinds}"
            )
            lines.append(f"    {batch.data.hex()}")
        return "\n".join(lines)


def make_script(
    seed: int, index: int, port: int, *, event_id: str = EVENT_ID, upgrade_fuzz: float = 0.05
) -> Script:
    """Connection ``index``'s script: the same bytes for the same (seed, index) whatever
    the port (only the Host header differs)."""
    rng = random.Random(f"livegate-fuzz:{seed}:{index}")
    gen = ScriptGen(rng, event_id, port)
    request, valid_accept, variant = gen.upgrade()
    accept: bytes | None = valid_accept
    if rng.random() < upgrade_fuzz:
        request, variant = gen.fuzzed_upgrade()
        accept = None
    plan = [
        BatchPlan(
            units=rng.choice((1, 2, 4, 8, 12, 20)),
            fatal_inside=rng.random() < 0.03,
            dribble=rng.random() < 0.1,
            gap=rng.choice((0.0, 0.0, 0.0, 0.0, 0.001, 0.01, 0.05, 0.2)),
        )
        for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 4, 6, 10)))
    ]
    roll = rng.random()
    return Script(
        index=index,
        request=request,
        accept=accept,
        upgrade_variant=variant,
        plan=plan,
        ending="fatal" if roll < 0.75 else "tail" if roll < 0.93 else "open",
        tail_wait=rng.choice((0.05, 0.2, 0.5, 1.0)),
        on_close=rng.choices(("echo", "fin", "rst", "ignore"), (70, 15, 12, 3))[0],
        gen=gen,
    )


# -- server frames -----------------------------------------------------------------


def parse_frames(buf: bytes) -> tuple[list[tuple[int, int, bytes]], bytes]:
    """Whole server frames at the start of ``buf`` as (first byte, second byte, payload),
    and the rest. The payload is returned as sent (server frames are unmasked)."""
    spans, pos = split_frames(buf)
    return [(first, second, buf[start:stop]) for first, second, start, stop in spans], buf[pos:]


def header_value(head: bytes, name: bytes) -> bytes | None:
    """The value of header ``name`` (lowercase) in an HTTP response head."""
    for line in head.split(b"\r\n")[1:]:
        key, sep, value = line.partition(b":")
        if sep and key.strip().lower() == name:
            return value.strip()
    return None


def http_status(head: bytes) -> int | None:
    match = re.match(rb"HTTP/\d\.\d (\d{3})", head)
    return int(match.group(1)) if match else None


# -- results -----------------------------------------------------------------------


@dataclass
class FuzzConfig:
    port: int
    api_key: str
    server_pid: int | None = None
    frames: int = 1_000_000
    connections: int = 200
    innocent: int = 20
    seed: int = 1
    rate: float = 20.0
    upgrade_fuzz: float = 0.05
    rss_limit_mib: float = 256.0
    event_id: str = EVENT_ID
    only_conn: int | None = None
    total_connections: int | None = None
    """Run exactly connections 0 .. n-1 (each to its end) instead of stopping at ``frames``."""
    progress: Callable[[str], None] | None = None
    progress_interval: float = 5.0


@dataclass
class FuzzReport:
    seed: int = 0
    frames_sent: int = 0
    bytes_sent: int = 0
    connections: int = 0
    upgrades_fuzzed: int = 0
    server_closed: int = 0
    """Connections the server ended (close frame, EOF or reset) before we closed them."""
    close_codes: dict[int, int] = field(default_factory=dict)
    endings: dict[str, int] = field(default_factory=dict)
    ending_examples: dict[str, int] = field(default_factory=dict)
    """The first connection index that ended each way (for --show-conn / --only-conn)."""
    http_statuses: dict[str, int] = field(default_factory=dict)
    kinds: dict[str, int] = field(default_factory=dict)
    connect_errors: dict[str, int] = field(default_factory=dict)
    fuzz_seconds: float = 0.0
    """From the first connection to the last one closed."""
    send_seconds: float = 0.0
    """From the first connection to the last one started (or the frame budget spent)."""
    frames_per_s: float = 0.0
    published: int = 0
    innocents: int = 0
    innocents_complete: int = 0
    rss_start_kib: int = 0
    rss_mid_kib: int = 0
    """VmRSS halfway through the fuzzing: with ``end``, whether it still grows."""
    rss_max_kib: int = 0
    rss_end_kib: int = 0
    server_cpu_s: float = 0.0
    load_cpu_s: float = 0.0
    """CPU time of this process (the fuzzer) while fuzzing."""
    server_metrics: dict[str, float] = field(default_factory=dict)
    rss_samples: list[tuple[float, int]] = field(default_factory=list)
    """(seconds since fuzzing started, VmRSS KiB), every 0.5 s."""
    failures: list[str] = field(default_factory=list)

    def fail(self, message: str) -> None:
        self.failures.append(message)

    def summary(self) -> str:
        def counts(d: dict[Any, int]) -> str:
            items = sorted(d.items(), key=lambda kv: -kv[1])
            return ", ".join(f"{k} x{v:,}" for k, v in items) or "none"

        rss = (
            f"start {self.rss_start_kib / 1024:.1f} MiB, halfway {self.rss_mid_kib / 1024:.1f} "
            f"MiB, max {self.rss_max_kib / 1024:.1f} MiB, end {self.rss_end_kib / 1024:.1f} MiB"
        )
        m = self.server_metrics
        lines = [
            f"livegate fuzz (seed {self.seed})",
            f"frames sent      {self.frames_sent:,} ({self.bytes_sent / 1e6:.1f} MB) in "
            f"{self.send_seconds:.1f} s = {self.frames_per_s:,.0f} frames/s "
            f"(then {self.fuzz_seconds - self.send_seconds:.1f} s until every connection closed)",
            f"connections      {self.connections:,} ({self.server_closed:,} ended by the server, "
            f"{self.upgrades_fuzzed:,} with a fuzzed upgrade)",
            f"server counted   {m.get('messages_in', 0):,.0f} client messages, "
            f"{m.get('connections_opened', 0):,.0f} WebSocket connections; server closes by "
            f"reason: {counts({k[6:]: int(v) for k, v in m.items() if k.startswith('close:')})}",
            f"close codes      {counts(self.close_codes)}",
            f"endings          {counts(self.endings)}",
            f"upgrade answers  {counts(self.http_statuses)}",
            f"frames by kind   {counts(self.kinds)}",
            f"published        {self.published:,} updates; innocent viewers complete "
            f"{self.innocents_complete}/{self.innocents}",
            f"server RSS       {rss}",
            f"CPU              server {self.server_cpu_s:.1f} s "
            f"({self.server_cpu_s / max(self.fuzz_seconds, 1e-9):.0%} of a core), "
            f"fuzzer {self.load_cpu_s:.1f} s "
            f"({self.load_cpu_s / max(self.fuzz_seconds, 1e-9):.0%}) while fuzzing",
        ]
        if self.connect_errors:
            lines.append(f"connect errors   {counts(self.connect_errors)}")
        if self.failures:
            lines.append(f"FAILURES ({len(self.failures)}):")
            lines += [f"  - {f}" for f in self.failures[:50]]
            if len(self.failures) > 50:
                lines.append(f"  ... and {len(self.failures) - 50} more")
        else:
            lines.append("failures         none")
        return "\n".join(lines)


# -- the fuzzing connections ---------------------------------------------------------


class FuzzConn(asyncio.Protocol):
    """One fuzzing connection: upgrade, send the script's batches, react to the close."""

    def __init__(self, pool: Pool, script: Script) -> None:
        self.pool = pool
        self.script = script
        self.loop = pool.loop
        self.t: asyncio.Transport | None = None
        self.state = "upgrading"
        self.buf = b""
        self.next_batch = 0
        self.paused = False
        self.want_write = False
        self.got_close: int | None = None
        self.server_ended = False
        self.client_closing = False
        self.ending = "?"
        self.timers: list[asyncio.TimerHandle] = []

    def later(self, delay: float, callback: Callable[[], None]) -> None:
        self.timers.append(self.loop.call_later(delay, callback))

    # -- asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = cast(asyncio.Transport, transport)
        self.t.set_write_buffer_limits(high=256 * 1024)
        self.t.write(self.script.request)
        self.pool.bytes_sent += len(self.script.request)
        fuzzed = self.script.accept is None
        self.later(2.0 if fuzzed else HANDSHAKE_TIMEOUT, self._handshake_timeout)

    def data_received(self, data: bytes) -> None:
        if self.state == "ws":
            self._frames(data)
        elif self.state == "upgrading":
            buf = self.buf + data
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf[-65536:]
                return
            head, rest = buf[:end], buf[end + 4 :]
            self.buf = b""
            status = http_status(head)
            self.pool.http_statuses[str(status)] += 1
            if status is None or status >= 500:
                variant = self.script.upgrade_variant or "a valid request"
                self.pool.violation(f"HTTP {status} answer to an upgrade ({variant})", self)
            if status != 101:
                self._end(f"http {status}")
                self._client_close(rst=False)
                return
            accept = self.script.accept
            if accept is not None and header_value(head, b"sec-websocket-accept") != accept:
                self.pool.violation(f"wrong Sec-WebSocket-Accept: {head[:300]!r}", self)
            self.state = "ws"
            self._write_next()
            if rest:
                self._frames(rest)

    def eof_received(self) -> bool:
        if not self.client_closing and self.state == "ws":
            self.server_ended = True
            self._end("server eof" if self.got_close is None else "closed")
        return False

    def pause_writing(self) -> None:
        self.paused = True

    def resume_writing(self) -> None:
        self.paused = False
        if self.want_write:
            self.want_write = False
            self._write_next()

    def connection_lost(self, exc: Exception | None) -> None:
        for timer in self.timers:
            timer.cancel()
        self.timers.clear()
        if not self.client_closing:
            self.server_ended = True
            if self.state == "upgrading":
                self._end("upgrade dropped without an answer")
                if self.script.accept is not None:
                    self.pool.violation("a well-formed upgrade dropped without an answer", self)
            elif self.got_close is None:
                self._end("server reset" if exc is not None else "server eof")
        self.state = "done"
        self.pool.conn_done(self)

    # -- sending

    def _write_next(self) -> None:
        if self.state != "ws" or self.client_closing or self.got_close is not None:
            return
        if self.pool.cut_short:
            self._stop_close()
            return
        if self.paused:
            self.want_write = True
            return
        script = self.script
        if self.next_batch >= len(script.plan):
            return
        i = self.next_batch
        self.next_batch += 1
        batch = script.batch(i)
        pool = self.pool
        pool.frames_sent += batch.frames
        pool.bytes_sent += len(batch.data)
        for kind, n in batch.kinds:
            pool.kinds[kind] += n
        last = self.next_batch == len(script.plan)
        after = self._finished if last else self._write_next
        if batch.pieces:
            self._dribble(batch.pieces, after, script.plan[i].gap)
        else:
            assert self.t is not None
            self.t.write(batch.data)
            self._after_write(after, script.plan[i].gap)

    def _after_write(self, then: Callable[[], None], gap: float) -> None:
        if gap:
            self.later(gap, then)
        else:
            self.loop.call_soon(then)

    def _dribble(self, pieces: list[bytes], then: Callable[[], None], gap: float) -> None:
        if self.state != "ws" or self.client_closing or self.t is None or self.t.is_closing():
            return
        self.t.write(pieces[0])
        if len(pieces) > 1:
            self.later(0.002, lambda: self._dribble(pieces[1:], then, gap))
        else:
            self._after_write(then, gap)

    def _finished(self) -> None:
        """The whole script is written."""
        if self.state != "ws" or self.client_closing or self.got_close is not None:
            return
        ending = self.script.ending
        if ending == "fatal":
            self.later(CLOSE_TIMEOUT, self._hang)
        elif ending == "tail":
            self.later(self.script.tail_wait, lambda: self._tail_close())
        else:  # the script ran out and the server had no reason to close: we close politely
            self._stop_close(ending="client close")

    def _tail_close(self) -> None:
        self._end("client closed after tail")
        self._client_close(rst=self.script.index % 2 == 0)

    def _stop_close(self, ending: str = "client close at stop") -> None:
        """Close politely: a close frame, then FIN once the server answers (or 3 s pass)."""
        if self.client_closing or self.t is None:
            return
        self._end(ending)
        self.client_closing = True
        self.t.write(build_frame(self.script.gen.rng, 0x8, close_payload(1000, b"fuzz done")))
        self.later(3.0, self.t.abort)

    def _client_close(self, rst: bool) -> None:
        self.client_closing = True
        if self.t is not None:
            if rst:
                self.t.abort()
            else:
                self.t.close()
                self.later(3.0, self.t.abort)

    def _end(self, ending: str) -> None:
        if self.ending == "?":
            self.ending = ending

    def _handshake_timeout(self) -> None:
        if self.state != "upgrading":
            return
        if self.script.accept is not None:
            self.pool.fail(
                f"connection {self.script.index}: no answer to a well-formed upgrade "
                f"within {HANDSHAKE_TIMEOUT:g} s"
            )
            self._end("handshake timeout")
        else:
            self._end("no answer to fuzzed upgrade (client closed)")
        self._client_close(rst=True)

    def _hang(self) -> None:
        if self.state == "ws" and self.got_close is None and not self.client_closing:
            self.pool.hangs.append(self.script.index)
            self._end("HANG")
            self._client_close(rst=True)

    # -- receiving

    def _frames(self, data: bytes) -> None:
        frames, self.buf = parse_frames(self.buf + data if self.buf else data)
        for b0, b1, payload in frames:
            opcode = b0 & 0x0F
            if b1 & 0x80 or b0 & 0x70:
                self.pool.violation(f"server frame with mask or RSV bits: {b0:#x} {b1:#x}", self)
            if opcode == 0x1:
                if self.got_close is not None:
                    self.pool.violation("text frame after the server's close frame", self)
                try:
                    message = orjson.loads(payload)
                except orjson.JSONDecodeError:
                    message = None
                if not isinstance(message, dict) or "type" not in message:
                    self.pool.violation(f"server text frame not a message: {payload[:100]!r}", self)
            elif opcode == 0x8:
                if self.got_close is None:
                    self._server_close(payload)
            elif opcode not in (0x9, 0xA):
                self.pool.violation(f"server frame with opcode {opcode}", self)

    def _server_close(self, payload: bytes) -> None:
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
        if len(payload) == 1 or (
            len(payload) >= 2 and (code < 1000 or code in RESERVED_CLOSE_CODES)
        ):
            self.pool.violation(f"server close frame {payload[:40]!r}", self)
        self.got_close = code
        self.pool.close_codes[code] += 1
        self.server_ended = True
        self._end("closed")
        policy = self.script.on_close
        if self.client_closing or self.t is None:
            return
        if policy == "echo":
            self.t.write(build_frame(self.script.gen.rng, 0x8, close_payload(1000)))
            self._client_close(rst=False)
        elif policy == "fin":
            self._client_close(rst=False)
        elif policy == "rst":
            self._client_close(rst=True)
        else:  # ignore: the server must end it by itself (it waits 2 s for our answer)
            self.later(IGNORED_CLOSE_TIMEOUT, self._close_ignored_too_long)

    def _close_ignored_too_long(self) -> None:
        if self.t is not None and not self.t.is_closing():
            self.pool.violation(
                f"connection still open {IGNORED_CLOSE_TIMEOUT:g} s after the server's close "
                "frame went unanswered",
                self,
            )
            self.t.abort()


class Pool:
    """Keeps ``connections`` fuzzing connections going until ``frames`` are written."""

    def __init__(self, cfg: FuzzConfig, report: FuzzReport) -> None:
        self.cfg = cfg
        self.report = report
        self.loop = asyncio.get_running_loop()
        self.frames_sent = 0
        self.bytes_sent = 0
        self.next_index = 0 if cfg.only_conn is None else cfg.only_conn
        self.active = 0
        self.stopping = False
        """No new connections."""
        self.cut_short = False
        """Open connections stop their scripts and close (the frame budget is spent)."""
        self.started_at = self.stopped_at = self.loop.time()
        self.kinds = Counter[str]()
        self.close_codes = Counter[int]()
        self.endings = Counter[str]()
        self.ending_examples: dict[str, int] = {}
        self.http_statuses = Counter[str]()
        self.connect_errors = Counter[str]()
        self.connections = 0
        self.fuzzed_upgrades = 0
        self.server_closed = 0
        self.hangs: list[int] = []
        self.violations = Counter[str]()
        self.violation_conns: dict[str, int] = {}
        self.failed: list[str] = []
        self.done: asyncio.Future[None] = self.loop.create_future()
        self.tasks: set[asyncio.Task[None]] = set()
        self.consecutive_connect_errors = 0

    def fail(self, message: str) -> None:
        self.failed.append(message)

    def violation(self, what: str, conn: FuzzConn) -> None:
        self.violations[what] += 1
        self.violation_conns.setdefault(what, conn.script.index)

    def start(self) -> None:
        for _ in range(1 if self.cfg.only_conn is not None else self.cfg.connections):
            self.spawn()

    def spawn(self) -> None:
        if self.stopping:
            return
        total = self.cfg.total_connections
        if total is not None and self.next_index >= total:
            self.stop()
            self._maybe_done()
            return
        index = self.next_index
        self.next_index += 1
        cfg = self.cfg
        script = make_script(
            cfg.seed, index, cfg.port, event_id=cfg.event_id, upgrade_fuzz=cfg.upgrade_fuzz
        )
        self.active += 1
        task = self.loop.create_task(self._connect(script))
        self.tasks.add(task)
        task.add_done_callback(self.tasks.discard)

    async def _connect(self, script: Script) -> None:
        try:
            await self.loop.create_connection(lambda: FuzzConn(self, script), HOST, self.cfg.port)
        except OSError as exc:
            self.active -= 1
            self.connect_errors[type(exc).__name__ + (f" {exc.errno}" if exc.errno else "")] += 1
            self.consecutive_connect_errors += 1
            if self.consecutive_connect_errors > 200:
                self.fail(f"the server refuses connections: {exc!r}")
                self.stop(cut_short=True)
            else:
                await asyncio.sleep(0.05)
                self.spawn()
            self._maybe_done()
            return
        self.consecutive_connect_errors = 0
        self.connections += 1
        if script.accept is None:
            self.fuzzed_upgrades += 1

    def conn_done(self, conn: FuzzConn) -> None:
        self.active -= 1
        self.endings[conn.ending] += 1
        self.ending_examples.setdefault(conn.ending, conn.script.index)
        if conn.got_close is not None or (conn.server_ended and not conn.client_closing):
            self.server_closed += 1
        if self.cfg.only_conn is not None:
            self.stop()
        elif not self.stopping:
            if self.cfg.total_connections is None and self.frames_sent >= self.cfg.frames:
                self.stop(cut_short=True)
            else:
                self.spawn()
        self._maybe_done()

    def stop(self, cut_short: bool = False) -> None:
        if not self.stopping:
            self.stopped_at = self.loop.time()
        self.stopping = True
        self.cut_short = self.cut_short or cut_short

    def _maybe_done(self) -> None:
        if self.stopping and self.active <= 0 and not self.done.done():
            self.done.set_result(None)


# -- the innocent viewers ------------------------------------------------------------


class Innocent(asyncio.Protocol):
    """A well-behaved viewer: joins, pings, records every score seq."""

    def __init__(self, index: int, event_id: str, port: int) -> None:
        self.index = index
        self.event_id = event_id
        self.request, self.accept = handshake(port)
        self.loop = asyncio.get_running_loop()
        self.t: asyncio.Transport | None = None
        self.upgraded = False
        self.buf = b""
        self.joined: asyncio.Future[int] = self.loop.create_future()
        self.joined_seq = -1
        self.seqs: list[int] = []
        self.pings = 0
        self.pongs = 0
        self.errors: list[Any] = []
        self.close_code: int | None = None
        self.lost = False
        self.leaving = False
        self.close_answered: asyncio.Future[None] = self.loop.create_future()
        self.gone: asyncio.Future[None] = self.loop.create_future()
        self.problems: list[str] = []

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.t = cast(asyncio.Transport, transport)
        self.t.write(self.request)

    def data_received(self, data: bytes) -> None:
        buf = self.buf + data
        if not self.upgraded:
            end = buf.find(b"\r\n\r\n")
            if end < 0:
                self.buf = buf
                return
            head, buf = buf[:end], buf[end + 4 :]
            if http_status(head) != 101 or self.accept not in head:
                self.problems.append(f"upgrade refused: {head[:200]!r}")
                self.buf = b""
                assert self.t is not None
                self.t.abort()
                return
            self.upgraded = True
            join = {"type": "join", "id": f"innocent-{self.index}", "eventId": self.event_id}
            self.send(join)
        frames, self.buf = parse_frames(buf)
        for b0, _, payload in frames:
            opcode = b0 & 0x0F
            if opcode == 0x1:
                self.message(orjson.loads(payload))
            elif opcode == 0x8:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if self.leaving:
                    if not self.close_answered.done():
                        self.close_answered.set_result(None)
                else:
                    self.close_code = code
                    self.problems.append(f"closed by the server with {code}: {payload[2:]!r}")
                assert self.t is not None
                self.t.close()
            elif opcode == 0x9:
                assert self.t is not None
                self.t.write(client_frame(0xA, payload))

    def message(self, message: dict[str, Any]) -> None:
        kind = message.get("type")
        if kind == "score":
            if message.get("eventId") == self.event_id:
                self.seqs.append(message["seq"])
        elif kind == "joined":
            self.joined_seq = message["seq"]
            if not self.joined.done():
                self.joined.set_result(message["seq"])
        elif kind == "pong":
            self.pongs += 1
        elif kind == "error":
            self.errors.append(message)
            self.problems.append(f"error message: {message}")

    def send(self, message: dict[str, Any]) -> None:
        if self.t is not None and not self.t.is_closing():
            self.t.write(client_frame(0x1, orjson.dumps(message)))

    def ping(self) -> None:
        self.pings += 1
        self.send({"type": "ping", "t": self.pings})

    def close(self) -> None:
        self.leaving = True
        if self.t is not None and not self.t.is_closing():
            self.t.write(client_frame(0x8, close_payload(1000, b"bye")))

    def connection_lost(self, exc: Exception | None) -> None:
        self.lost = True
        if not self.leaving:
            self.problems.append(f"connection lost: {exc!r}")
        if not self.joined.done():
            self.joined.set_exception(ConnectionError(f"innocent {self.index} lost: {exc!r}"))
        if not self.gone.done():
            self.gone.set_result(None)

    def check(self, published: list[int]) -> list[str]:
        problems = list(self.problems)
        expected = [s for s in published if s > self.joined_seq]
        if self.seqs != expected:
            missing = sorted(set(expected) - set(self.seqs))
            dup = sorted(s for s, n in Counter(self.seqs).items() if n > 1)
            order = self.seqs == sorted(self.seqs)
            problems.append(
                f"seqs: got {len(self.seqs)}, expected {len(expected)} "
                f"(missing {missing[:10]}{'...' if len(missing) > 10 else ''}, "
                f"duplicated {dup[:10]}, {'in order' if order else 'OUT OF ORDER'})"
            )
        if self.pongs != self.pings:
            problems.append(f"{self.pongs} pongs for {self.pings} pings")
        return [f"innocent {self.index}: {p}" for p in problems]


# -- the run -----------------------------------------------------------------------


def parse_metrics(text: str) -> dict[str, float]:
    """The few server metrics the report shows, from the Prometheus text."""
    out: dict[str, float] = {}
    for line in text.splitlines():
        if line.startswith("#") or " " not in line:
            continue
        name, _, value = line.rpartition(" ")
        try:
            number = float(value)
        except ValueError:
            continue
        if name.startswith("livegate_messages_in_total"):
            out["messages_in"] = out.get("messages_in", 0) + number
        elif name == "livegate_connections":
            out["connections"] = number
        elif name == "livegate_connections_opened_total":
            out["connections_opened"] = number
        elif name.startswith("livegate_closes_total{"):
            match = re.search(r'reason="([^"]*)"', name)
            out[f"close:{match.group(1) if match else '?'}"] = number
    return out


async def run_fuzz(cfg: FuzzConfig) -> FuzzReport:
    """Create the event, join the innocents, fuzz while publishing, then check everything.

    The server is already running on ``cfg.port``; checks that need the process
    (exit code, output) are the caller's.
    """
    loop = asyncio.get_running_loop()
    report = FuzzReport(seed=cfg.seed, innocents=cfg.innocent)
    base = f"http://{HOST}:{cfg.port}"
    auth = {"Authorization": f"Bearer {cfg.api_key}"}
    rss: list[int] = []
    pid = cfg.server_pid
    start = loop.time()

    def sample_rss() -> int:
        if pid is None:
            return 0
        try:
            value = proc_rss_kib(pid)
        except (OSError, RuntimeError):
            return 0
        rss.append(value)
        report.rss_samples.append((round(loop.time() - start, 2), value))
        return value

    timeout = aiohttp.ClientTimeout(total=15)
    async with aiohttp.ClientSession(timeout=timeout) as http:
        body = orjson.dumps({"sport": "generic", "title": "fuzz"})
        async with http.put(f"{base}/api/events/{cfg.event_id}", data=body, headers=auth) as resp:
            if resp.status not in (200, 201):
                report.fail(f"PUT event: {resp.status} {await resp.text()}")
                return report

        innocents: list[Innocent] = []
        for i in range(cfg.innocent):
            viewer = Innocent(i, cfg.event_id, cfg.port)
            await loop.create_connection(lambda: viewer, HOST, cfg.port)  # noqa: B023
            innocents.append(viewer)
        try:
            await asyncio.wait_for(asyncio.gather(*(v.joined for v in innocents)), 15)
        except (TimeoutError, ConnectionError) as exc:
            report.fail(f"innocent viewers could not join: {exc!r}")
            return report

        async def ping_innocents() -> None:
            while True:
                await asyncio.sleep(INNOCENT_PING_INTERVAL)
                for v in innocents:
                    v.ping()

        published: list[int] = []
        publish_failures: list[str] = []

        stop_publishing = asyncio.Event()

        async def publish_one(url: str, n: int) -> None:
            try:
                async with http.post(url, data=orjson.dumps({"n": n}), headers=auth) as resp:
                    if resp.status == 202:
                        published.append((await resp.json())["seq"])
                    else:
                        publish_failures.append(f"publish {n}: {resp.status}")
            except (aiohttp.ClientError, TimeoutError) as exc:
                publish_failures.append(f"publish {n}: {exc!r}")

        async def publish() -> None:
            """Publish ``{"n": i}`` at ``cfg.rate`` until told to stop, each request on its
            own (at most 20 in flight), none cancelled, so every accepted seq is known."""
            url = f"{base}/api/events/{cfg.event_id}/updates"
            in_flight: set[asyncio.Task[None]] = set()
            next_at = loop.time()
            n = 0
            while not stop_publishing.is_set():
                if len(in_flight) < 20:
                    n += 1
                    task = loop.create_task(publish_one(url, n))
                    in_flight.add(task)
                    task.add_done_callback(in_flight.discard)
                # A steady rate; after a stall of over a second, start again from now
                # rather than catch up in a burst.
                next_at = max(next_at + 1 / cfg.rate, loop.time() - 1.0)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop_publishing.wait(), next_at - loop.time())
            if in_flight:
                await asyncio.wait(in_flight)

        async def sample_forever() -> None:
            while True:
                sample_rss()
                await asyncio.sleep(0.5)

        async def progress(pool: Pool, t0: float) -> None:
            assert cfg.progress is not None
            while True:
                await asyncio.sleep(cfg.progress_interval)
                elapsed = loop.time() - t0
                cfg.progress(
                    f"[{elapsed:5.0f}s] {pool.frames_sent:,} frames "
                    f"({pool.frames_sent / elapsed:,.0f}/s), {pool.connections:,} connections, "
                    f"{len(published)} published, RSS {rss[-1] / 1024 if rss else 0:.1f} MiB"
                )

        start = loop.time()
        report.rss_start_kib = sample_rss()
        cpu0 = sum(proc_cpu_seconds(pid)) if pid is not None else 0.0
        load0 = time.process_time()
        publisher = loop.create_task(publish())
        helpers = [loop.create_task(ping_innocents()), loop.create_task(sample_forever())]
        pool = Pool(cfg, report)
        t0 = loop.time()
        if cfg.progress is not None:
            helpers.append(loop.create_task(progress(pool, t0)))
        pool.start()
        await pool.done
        report.fuzz_seconds = loop.time() - t0
        report.load_cpu_s = time.process_time() - load0
        if pid is not None:
            with contextlib.suppress(OSError):
                report.server_cpu_s = sum(proc_cpu_seconds(pid)) - cpu0
        stop_publishing.set()
        await publisher
        for task in helpers:
            task.cancel()
        await asyncio.gather(*helpers, return_exceptions=True)

        # Every innocent must now get every published seq and a pong for a last ping.
        for v in innocents:
            v.ping()
        published.sort()
        last = published[-1] if published else 0

        def settled(v: Innocent) -> bool:
            return v.lost or ((v.seqs[-1] if v.seqs else 0) >= last and v.pongs >= v.pings)

        deadline = loop.time() + 15
        while loop.time() < deadline and not all(settled(v) for v in innocents):  # noqa: ASYNC110
            await asyncio.sleep(0.05)
        if published and published != list(range(published[0], published[0] + len(published))):
            report.fail(f"the publish API skipped or repeated seqs: {published[:20]}...")
        for v in innocents:
            problems = v.check(published)
            report.failures += problems
            if not problems:
                report.innocents_complete += 1
        report.published = len(published)
        report.failures += publish_failures[:20]
        if len(publish_failures) > 20:
            report.fail(f"... {len(publish_failures) - 20} more publish failures")

        # The server must be healthy and count no fuzz connection any more.
        try:
            async with http.get(f"{base}/healthz") as resp:
                if resp.status != 200:
                    report.fail(f"/healthz answered {resp.status}: {await resp.text()}")
        except (aiohttp.ClientError, TimeoutError) as exc:
            report.fail(f"/healthz failed: {exc!r}")
        metrics: dict[str, float] = {}
        deadline = loop.time() + 10
        while True:
            try:
                async with http.get(f"{base}/metrics") as resp:
                    metrics = parse_metrics(await resp.text())
            except (aiohttp.ClientError, TimeoutError) as exc:
                report.fail(f"/metrics failed: {exc!r}")
                break
            if metrics.get("connections", cfg.innocent) <= cfg.innocent or loop.time() > deadline:
                break
            await asyncio.sleep(0.2)
        report.server_metrics = metrics
        if metrics.get("connections", cfg.innocent) > cfg.innocent:
            report.fail(
                f"the server still counts {metrics['connections']:.0f} connections 10 s after "
                f"the fuzzing ended ({cfg.innocent} innocent viewers are open)"
            )

        # Close the innocents with a close handshake the server must answer.
        for v in innocents:
            v.close()
        for v in innocents:
            try:
                await asyncio.wait_for(asyncio.shield(v.close_answered), 5)
            except TimeoutError:
                if not v.problems:
                    report.fail(f"innocent {v.index}: the server did not answer its close frame")
            if v.t is not None:
                v.t.abort()
        report.rss_end_kib = sample_rss()

    report.frames_sent = pool.frames_sent
    report.bytes_sent = pool.bytes_sent
    report.connections = pool.connections
    report.upgrades_fuzzed = pool.fuzzed_upgrades
    report.server_closed = pool.server_closed
    report.close_codes = dict(pool.close_codes)
    report.endings = dict(pool.endings)
    report.ending_examples = dict(pool.ending_examples)
    report.http_statuses = {f"HTTP {k}": v for k, v in pool.http_statuses.items()}
    report.kinds = dict(pool.kinds)
    report.connect_errors = dict(pool.connect_errors)
    report.send_seconds = pool.stopped_at - pool.started_at
    report.frames_per_s = pool.frames_sent / max(report.send_seconds, 1e-9)
    report.rss_max_kib = max(rss, default=0)
    during = [kib for t, kib in report.rss_samples if 0 < t <= report.fuzz_seconds]
    report.rss_mid_kib = during[len(during) // 2] if during else report.rss_start_kib
    report.failures += pool.failed
    if pool.hangs:
        report.fail(
            f"{len(pool.hangs)} connections stayed open {CLOSE_TIMEOUT:g} s after a frame that "
            f"must close them: {pool.hangs[:20]} (replay one with --only-conn)"
        )
    for what, n in pool.violations.items():
        report.fail(
            f"protocol violation x{n}: {what} (first on connection {pool.violation_conns[what]})"
        )
    growth = (report.rss_max_kib - report.rss_start_kib) / 1024
    if pid is not None and growth > cfg.rss_limit_mib:
        report.fail(f"server RSS grew by {growth:.1f} MiB (limit {cfg.rss_limit_mib:g} MiB)")
    return report


# -- the command line ------------------------------------------------------------------


LOG_RECORD: Final = re.compile(r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d", re.MULTILINE)


def tracebacks(output: bytes) -> list[str]:
    """Each ``Traceback`` in the server's output, up to the next log record or traceback."""
    text = output.decode(errors="replace")
    blocks = []
    for part in text.split("Traceback")[1:]:
        end = LOG_RECORD.search(part)
        blocks.append("Traceback" + (part[: end.start()] if end else part).rstrip())
    return blocks


FRAME_LINE: Final = re.compile(
    r'File "(?:[^"]*/(?:site-packages|src)/)?([^"]+)", line (\d+), in (\S+)'
)


def traceback_key(block: str) -> str:
    """``Exception at file:line in function``: the exception's type and the innermost
    livegate frame (else the innermost frame), to tell tracebacks apart."""
    lines = block.splitlines()
    exception = next((line for line in lines[1:] if line and not line[0].isspace()), "?")
    frames = FRAME_LINE.findall(block)
    ours = [f for f in frames if f[0].startswith("livegate/")]
    where = (ours or frames or [("?", "?", "?")])[-1]
    return f"{exception.split(':')[0]} at {where[0]}:{where[1]} in {where[2]}"


def scan_output(output: bytes) -> list[str]:
    """Failures found in the server's combined stdout/stderr: one per kind of traceback
    (:func:`traceback_key`), with a count and the first one in full."""
    kinds: dict[str, list[str]] = {}
    for block in tracebacks(output):
        kinds.setdefault(traceback_key(block), []).append(block)
    return [
        f"{len(blocks)} Traceback(s) in the server output: {key}; the first:\n{blocks[0][:2000]}"
        for key, blocks in kinds.items()
    ]


def cpu_list(text: str) -> set[int]:
    """A taskset-style CPU list (``1``, ``0,1``, ``0-3``) as a set."""
    cpus: set[int] = set()
    for part in text.split(","):
        first, _, last = part.partition("-")
        cpus.update(range(int(first), int(last or first) + 1))
    return cpus


def log_levels(output: bytes) -> dict[str, int]:
    """How many log records of each level at WARNING and above the server wrote."""
    found = re.findall(rb"^\S+ \S+ (WARNING|ERROR|CRITICAL) ", output, re.MULTILINE)
    return dict(Counter(level.decode() for level in found))


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description="Fuzz livegate's WebSocket endpoint with malformed frames and upgrades."
    )
    parser.add_argument("--frames", type=int, default=1_000_000, help="frames to send")
    parser.add_argument(
        "--connections", type=int, default=200, help="concurrent fuzzing connections"
    )
    parser.add_argument("--innocent", type=int, default=20, help="well-behaved viewers")
    parser.add_argument("--seed", type=int, default=1, help="seed of every script")
    parser.add_argument("--rate", type=float, default=20.0, help="updates published per second")
    parser.add_argument(
        "--upgrade-fuzz", type=float, default=0.05, help="share of connections with a bad upgrade"
    )
    parser.add_argument(
        "--rss-limit-mib", type=float, default=256.0, help="allowed server RSS growth"
    )
    parser.add_argument("--server-cpu", default="0", help="taskset CPU list for the server")
    parser.add_argument("--load-cpu", default="1", help="CPU list for this process")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra `livegate serve` argument, repeatable (--server-arg=--log-level=debug)",
    )
    parser.add_argument("--log", help="keep the server's output in this file")
    parser.add_argument("--json", help="also write the report to this file")
    parser.add_argument(
        "--total-connections",
        type=int,
        help="run exactly connections 0..N-1, each to its end, instead of stopping at --frames",
    )
    parser.add_argument("--only-conn", type=int, help="replay only this connection's script")
    parser.add_argument("--show-conn", type=int, help="print this connection's script and exit")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    if args.show_conn is not None:
        print(
            make_script(args.seed, args.show_conn, 8080, upgrade_fuzz=args.upgrade_fuzz).describe()
        )
        return 0
    raise_nofile_limit()
    with contextlib.suppress(OSError, ValueError):
        os.sched_setaffinity(0, cpu_list(args.load_cpu))
    port = free_port()
    api_key = secrets.token_urlsafe(24)
    env = dict(os.environ, LIVEGATE_API_KEY=api_key, PYTHONUNBUFFERED="1")
    command = ["taskset", "-c", args.server_cpu, *gateway_command(port, *args.server_arg)]
    with contextlib.ExitStack() as stack:
        if args.log:
            log = Path(args.log)
            log.parent.mkdir(parents=True, exist_ok=True)
        else:
            log = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="livegate-fuzz-")))
            log = log / "server.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                command, cwd=ROOT, env=env, stdout=out, stderr=subprocess.STDOUT
            )
        try:
            wait_healthy(proc, port, log)
            cfg = FuzzConfig(
                port=port,
                api_key=api_key,
                server_pid=proc.pid,
                frames=args.frames,
                connections=args.connections,
                innocent=args.innocent,
                seed=args.seed,
                rate=args.rate,
                upgrade_fuzz=args.upgrade_fuzz,
                rss_limit_mib=args.rss_limit_mib,
                only_conn=args.only_conn,
                total_connections=args.total_connections,
                progress=lambda line: print(line, file=sys.stderr, flush=True),
            )
            print(
                f"livegate fuzz: {' '.join(command)} (pid {proc.pid}), "
                f"{args.frames:,} frames over {args.connections} connections, seed {args.seed}",
                file=sys.stderr,
                flush=True,
            )
            t0 = time.monotonic()
            import uvloop

            report = uvloop.run(run_fuzz(cfg))
            wall = time.monotonic() - t0
            if proc.poll() is not None:
                report.fail(f"the server died (exit code {proc.returncode})")
        finally:
            stop(proc)
        if proc.returncode != 0:
            report.fail(f"the server exited {proc.returncode} on SIGTERM (expected 0)")
        output = log.read_bytes()
        report.failures += scan_output(output)
        print(report.summary())
        print(f"server log       {log_levels(output) or 'no WARNING or ERROR records'}")
        print(f"wall time        {wall:.1f} s; server log: {log if args.log else '(temporary)'}")
        if args.json:
            path = Path(args.json)
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(
                json.dumps({"args": vars(args), "wall_s": wall, **asdict(report)}, indent=1)
            )
    return 1 if report.failures else 0


if __name__ == "__main__":
    sys.exit(main())
