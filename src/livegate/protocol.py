"""Wire protocol v1: the single source of truth for message shapes and codes.

This module is pure: no asyncio, no sockets, no clocks. It turns client text
frames into typed messages (raising :class:`ProtocolError` with a machine code
when a frame is bad) and turns server messages into encoded JSON bytes and
ready-to-write WebSocket frames. The server, the gateway and the Python SDK all
use it, so a message shape is defined here once and nowhere else.

The normative description with an example of every message is
``docs/protocol.md``.

Exception tree::

    ProtocolError          a client frame or field is invalid; ``.code`` is the
                           machine word sent back in an ``error`` message
"""

from __future__ import annotations

import unicodedata
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final

import orjson

__all__ = [
    "CLIENT_CLOSE_CODES_NO_RETRY",
    "MAX_CLIENT_FRAME",
    "MAX_COMMENT_LEN",
    "MAX_DEPTH",
    "MAX_EMOJI_LEN",
    "MAX_EVENT_ID_LEN",
    "MAX_REACTIONS_MESSAGE",
    "MAX_REACTION_KINDS",
    "MAX_USER_ID_LEN",
    "REACTIONS_OTHER",
    "ClientMessage",
    "CloseCode",
    "ErrorCode",
    "Join",
    "Leave",
    "Ping",
    "ProtocolError",
    "Reaction",
    "Refresh",
    "decode_mutes",
    "decode_reaction_partial",
    "encode",
    "encode_client",
    "encode_ended",
    "encode_error",
    "encode_joined",
    "encode_mutes",
    "encode_pong",
    "encode_reaction_partial",
    "encode_reactions",
    "encode_refreshed",
    "encode_score",
    "encode_viewers",
    "frame_close",
    "frame_text",
    "parse_client_frame",
    "valid_event_id",
    "valid_user_id",
]

# -- limits -------------------------------------------------------------------

MAX_CLIENT_FRAME: Final = 4096
"""Largest client text frame in bytes; a bigger one closes with 1009."""
MAX_DEPTH: Final = 4
"""Deepest JSON nesting accepted in a client frame (the object itself is depth 1)."""
MAX_USER_ID_LEN: Final = 128
MAX_EVENT_ID_LEN: Final = 128
MAX_EMOJI_LEN: Final = 16
MAX_COMMENT_LEN: Final = 280
MAX_TOKEN_LEN: Final = 2048
MAX_EPOCH_LEN: Final = 64
MAX_REACTIONS_MESSAGE: Final = 4096
"""Largest encoded ``reactions`` message in bytes, whatever the inbound load."""
MAX_REACTION_KINDS: Final = 16
"""Emoji a ``reactions`` message counts one by one; the rest are summed as ``"other"``."""
REACTIONS_OTHER: Final = "other"


class CloseCode:
    """WebSocket close codes the server uses, and what a client should do."""

    GOING_AWAY: Final = 1001
    """Server going away; reconnect."""
    PROTOCOL_ERROR: Final = 1002
    """A WebSocket protocol violation, such as an unmasked client frame (RFC 6455 5.1)."""
    UNSUPPORTED_DATA: Final = 1003
    """A binary frame was sent; the protocol is text only."""
    INVALID_DATA: Final = 1007
    """A text frame was not valid UTF-8 (RFC 6455 requires failing the connection)."""
    POLICY_VIOLATION: Final = 1008
    """Repeated bad input; do not retry."""
    MESSAGE_TOO_BIG: Final = 1009
    """A client frame exceeded :data:`MAX_CLIENT_FRAME`."""
    INTERNAL_ERROR: Final = 1011
    """The node failed handling this connection's message (a bug; it is logged); reconnect."""
    SERVICE_RESTART: Final = 1012
    """The server is restarting; reconnect (elsewhere) after a short delay."""
    TRY_AGAIN_LATER: Final = 1013
    """The node cannot reach its engine (Redis down); reconnect, with backoff, elsewhere."""
    HEARTBEAT_TIMEOUT: Final = 4000
    """Nothing was heard from the client within the heartbeat timeout."""
    UNAUTHORIZED: Final = 4001
    """The token was refused (bad, expired, missing where required); do not retry with
    the same token. A client that can get a new one may reconnect with it."""
    JOIN_TIMEOUT: Final = 4002
    """No successful join within the join timeout of connecting (or of leaving); reconnect."""
    RATE_LIMIT: Final = 4008
    """Sustained abuse of the rate limit."""
    SLOW_CONSUMER: Final = 4009
    """The client read too slowly and its send buffer passed the limit."""


CLIENT_CLOSE_CODES_NO_RETRY: Final = frozenset({CloseCode.UNAUTHORIZED, CloseCode.POLICY_VIOLATION})
"""Close codes after which a client must not reconnect."""


class ErrorCode:
    """Machine words carried by ``error`` messages (the connection stays open)."""

    BAD_JSON: Final = "bad_json"
    """The frame is not a JSON document."""
    NOT_AN_OBJECT: Final = "not_an_object"
    """The frame is JSON but not an object."""
    TOO_DEEP: Final = "too_deep"
    """The frame nests deeper than :data:`MAX_DEPTH`."""
    UNKNOWN_TYPE: Final = "unknown_type"
    """``type`` names no client message (or the untyped shape fits none)."""
    MISSING_FIELD: Final = "missing_field"
    BAD_FIELD: Final = "bad_field"
    """A field has the wrong type, length or content."""
    NOT_JOINED: Final = "not_joined"
    """The message needs a joined event (a reaction or leave before join)."""
    UNKNOWN_EVENT: Final = "unknown_event"
    """The join named an event that does not exist."""
    ID_MISMATCH: Final = "id_mismatch"
    """A reaction's ``id`` differs from the joined ``id``."""
    RATE_LIMITED: Final = "rate_limited"
    """Too many messages; this one was dropped and not processed."""
    EVENT_ENDED: Final = "event_ended"
    """Reactions to an ended event are refused."""
    COMMENT_REFUSED: Final = "comment_refused"
    """A reaction's comment had a blocked word or a link: the emoji counted, the comment
    was not shown."""
    MUTED: Final = "muted"
    """The viewer is muted on this event: the emoji counted, the comment was not shown."""
    FORBIDDEN: Final = "forbidden"
    """The viewer's token does not allow the join (an event outside its ``events``, a
    private event without a token naming it), or after a ``refresh`` no longer allows
    the joined event, which the viewer then leaves; the connection stays open."""
    BAD_TOKEN: Final = "bad_token"
    """The token is not valid (signature, audience, issuer, claims, ``sub`` differs from
    the ``id``); the connection is then closed with 4001."""
    TOKEN_EXPIRED: Final = "token_expired"
    """The token has expired (or expired before a ``refresh`` replaced it); closed with 4001."""
    TOKEN_REQUIRED: Final = "token_required"
    """The server needs a token to join (``--viewer-auth required``); closed with 4001."""


class ProtocolError(Exception):
    """A client frame or field is invalid.

    ``code`` is one of :class:`ErrorCode`; ``message`` is for people.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


# -- client messages ------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Join:
    """Join (or switch to) an event.

    ``since`` asks to resume after that seq; ``epoch`` is the ``joined.epoch``
    the client last saw, so a resume across a reset history is never mistaken
    for a recovery.
    """

    id: str | None
    """None only with a ``token``: the viewer id is then the token's ``sub``."""
    event_id: str
    since: int | None = None
    token: str | None = None
    epoch: str | None = None


@dataclass(frozen=True, slots=True)
class Reaction:
    """An emoji with an optional comment. ``id``, if given, must equal the joined id."""

    emoji: str
    comment: str | None = None
    id: str | None = None


@dataclass(frozen=True, slots=True)
class Ping:
    """Keep-alive; ``t`` is echoed in the ``pong``."""

    t: Any = None


@dataclass(frozen=True, slots=True)
class Leave:
    """Leave the joined event and stay connected."""


@dataclass(frozen=True, slots=True)
class Refresh:
    """A new token for the connection, sent before the current one expires."""

    token: str


ClientMessage = Join | Reaction | Ping | Leave | Refresh


def parse_client_frame(text: str | bytes) -> ClientMessage:
    """Parse one client text frame into a typed message.

    The caller must have enforced :data:`MAX_CLIENT_FRAME` already (the server
    closes with 1009 before calling this). Raises :class:`ProtocolError` for
    every bad frame; never raises anything else.
    """
    try:
        obj = orjson.loads(text)
    except orjson.JSONDecodeError as exc:
        if "depth limit" in str(exc) or "recursion" in str(exc):
            raise ProtocolError(ErrorCode.TOO_DEEP, "JSON nests too deeply") from None
        raise ProtocolError(ErrorCode.BAD_JSON, "frame is not valid JSON") from None
    if not isinstance(obj, dict):
        raise ProtocolError(ErrorCode.NOT_AN_OBJECT, "frame must be a JSON object")
    # Most frames are flat (a reaction, a join): no walk for those.
    nested = any(isinstance(value, dict | list) for value in obj.values())
    if nested and _depth(obj) > MAX_DEPTH:
        raise ProtocolError(ErrorCode.TOO_DEEP, f"JSON nests deeper than {MAX_DEPTH} levels")
    kind = obj.get("type")
    if kind is None:
        # The original spec's untyped shapes: {"id","eventId"} is a join,
        # {"id","emoji","comment"} is a reaction.
        if "eventId" in obj:
            kind = "join"
        elif "emoji" in obj:
            kind = "reaction"
        else:
            raise ProtocolError(
                ErrorCode.UNKNOWN_TYPE,
                "frame has no 'type' and is neither a join nor a reaction",
            )
    if not isinstance(kind, str):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'type' must be a string")
    parser = _PARSERS.get(kind)
    if parser is None:
        raise ProtocolError(ErrorCode.UNKNOWN_TYPE, f"unknown message type {kind[:32]!r}")
    return parser(obj)


def _depth(value: Any) -> int:
    """Nesting depth of a parsed JSON value, iteratively (no recursion limit)."""
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item.values())
        elif isinstance(item, list):
            deepest = max(deepest, level)
            stack.extend((child, level + 1) for child in item)
        if deepest > MAX_DEPTH:
            break
    return deepest


def _parse_join(obj: Mapping[str, Any]) -> Join:
    token = _optional_token(obj)
    user_id = (
        None
        if token is not None and obj.get("id") is None
        else _required_identifier(obj, "id", MAX_USER_ID_LEN)
    )
    event_id = _required_identifier(obj, "eventId", MAX_EVENT_ID_LEN)
    if not valid_event_id(event_id):
        raise ProtocolError(
            ErrorCode.BAD_FIELD, "'eventId' may hold only letters, digits and '-', '_', '.', ':'"
        )
    since = obj.get("since")
    if since is not None and (
        not isinstance(since, int) or isinstance(since, bool) or since < 0 or since >= 2**53
    ):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'since' must be a non-negative integer")
    epoch = obj.get("epoch")
    if epoch is not None and (not isinstance(epoch, str) or not 0 < len(epoch) <= MAX_EPOCH_LEN):
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"'epoch' must be a string of 1 to {MAX_EPOCH_LEN} characters"
        )
    return Join(id=user_id, event_id=event_id, since=since, token=token, epoch=epoch)


def _optional_token(obj: Mapping[str, Any]) -> str | None:
    token = obj.get("token")
    if token is not None and (
        not isinstance(token, str) or not 0 < len(token) <= MAX_TOKEN_LEN or not token.isascii()
    ):
        raise ProtocolError(
            ErrorCode.BAD_FIELD, f"'token' must be an ASCII string of 1 to {MAX_TOKEN_LEN}"
        )
    return token


def _parse_refresh(obj: Mapping[str, Any]) -> Refresh:
    token = _optional_token(obj)
    if token is None:
        raise ProtocolError(ErrorCode.MISSING_FIELD, "'token' is required")
    return Refresh(token=token)


def _parse_reaction(obj: Mapping[str, Any]) -> Reaction:
    emoji = obj.get("emoji")
    if emoji is None:
        raise ProtocolError(ErrorCode.MISSING_FIELD, "'emoji' is required")
    if not isinstance(emoji, str):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'emoji' must be a string")
    emoji = emoji.strip()
    if not emoji or len(emoji) > MAX_EMOJI_LEN or any(c.isspace() for c in emoji):
        raise ProtocolError(
            ErrorCode.BAD_FIELD,
            f"'emoji' must be one emoji or a short emoticon (1 to {MAX_EMOJI_LEN} characters)",
        )
    if _has_control(emoji, allow_emoji_joiners=True):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'emoji' must not contain control characters")
    comment = obj.get("comment")
    if comment is not None:
        if not isinstance(comment, str):
            raise ProtocolError(ErrorCode.BAD_FIELD, "'comment' must be a string")
        comment = comment.strip()
        if len(comment) > MAX_COMMENT_LEN:
            raise ProtocolError(
                ErrorCode.BAD_FIELD, f"'comment' must be at most {MAX_COMMENT_LEN} characters"
            )
        if _has_control(comment, allow_emoji_joiners=True):
            raise ProtocolError(
                ErrorCode.BAD_FIELD, "'comment' must not contain control characters"
            )
        comment = comment or None
    user_id = obj.get("id")
    if user_id is not None and (not isinstance(user_id, str) or len(user_id) > MAX_USER_ID_LEN):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'id' must be a string")
    return Reaction(emoji=emoji, comment=comment, id=user_id)


def _parse_ping(obj: Mapping[str, Any]) -> Ping:
    t = obj.get("t")
    if t is not None and not isinstance(t, int | float | str):
        raise ProtocolError(ErrorCode.BAD_FIELD, "'t' must be a number or a string")
    if isinstance(t, str) and len(t) > 64:
        raise ProtocolError(ErrorCode.BAD_FIELD, "'t' must be at most 64 characters")
    return Ping(t=t)


def _parse_leave(obj: Mapping[str, Any]) -> Leave:
    return Leave()


_PARSERS: Final[dict[str, Callable[[Mapping[str, Any]], ClientMessage]]] = {
    "join": _parse_join,
    "reaction": _parse_reaction,
    "ping": _parse_ping,
    "leave": _parse_leave,
    "refresh": _parse_refresh,
}


def _required_identifier(obj: Mapping[str, Any], name: str, max_len: int) -> str:
    value = obj.get(name)
    if value is None:
        raise ProtocolError(ErrorCode.MISSING_FIELD, f"'{name}' is required")
    if not isinstance(value, str):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{name}' must be a string")
    if not value or len(value) > max_len:
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{name}' must be 1 to {max_len} characters")
    if _has_control(value, allow_emoji_joiners=False):
        raise ProtocolError(ErrorCode.BAD_FIELD, f"'{name}' must not contain control characters")
    return value


# Zero-width joiner and variation selectors are format characters (Cf) that
# real emoji sequences need (family, flags, skin tones); other Cc/Cf are refused.
_EMOJI_FORMAT_CHARS: Final = frozenset("\u200d\ufe0e\ufe0f")


def _has_control(text: str, *, allow_emoji_joiners: bool) -> bool:
    for char in text:
        category = unicodedata.category(char)
        if category == "Cc" or (
            category in ("Cf", "Cs", "Zl", "Zp")
            and not (allow_emoji_joiners and (char in _EMOJI_FORMAT_CHARS or _is_tag(char)))
        ):
            return True
    return False


def _is_tag(char: str) -> bool:
    # Tag characters build subdivision flags such as England's.
    return 0xE0020 <= ord(char) <= 0xE007F


def valid_user_id(user_id: str) -> bool:
    """True if ``user_id`` is a viewer id a join accepts: 1 to 128 characters without
    control or format characters."""
    return 0 < len(user_id) <= MAX_USER_ID_LEN and not _has_control(
        user_id, allow_emoji_joiners=False
    )


_EVENT_ID_EXTRA: Final = frozenset("-_.:")


def valid_event_id(event_id: str) -> bool:
    """True if ``event_id`` is 1 to 128 ASCII letters, digits or ``-_.:``."""
    return (
        0 < len(event_id) <= MAX_EVENT_ID_LEN
        and event_id.isascii()
        and all(c.isalnum() or c in _EVENT_ID_EXTRA for c in event_id)
    )


# -- server messages -----------------------------------------------------------


def encode(message: Mapping[str, Any]) -> bytes:
    """Encode one server message to JSON bytes (UTF-8, compact)."""
    return orjson.dumps(message)


def encode_client(message: ClientMessage) -> bytes:
    """Encode a client message (for SDKs and tests); the inverse of the parser.

    It does not validate: pass the result to :func:`parse_client_frame` to
    check it as the server will.
    """
    obj: dict[str, Any]
    match message:
        case Join():
            obj = {"type": "join", "eventId": message.event_id}
            for key, value in (
                ("id", message.id),
                ("since", message.since),
                ("token", message.token),
                ("epoch", message.epoch),
            ):
                if value is not None:
                    obj[key] = value
        case Reaction():
            obj = {"type": "reaction", "emoji": message.emoji}
            if message.comment is not None:
                obj["comment"] = message.comment
            if message.id is not None:
                obj["id"] = message.id
        case Ping():
            obj = {"type": "ping"} if message.t is None else {"type": "ping", "t": message.t}
        case Leave():
            obj = {"type": "leave"}
        case Refresh():
            obj = {"type": "refresh", "token": message.token}
    return orjson.dumps(obj)


def encode_score(event_id: str, seq: int, ts: int, data_json: bytes) -> bytes:
    """A ``score`` message. ``data_json`` is the publisher's payload, already JSON.

    The payload is spliced in verbatim so a large update is never re-encoded.
    """
    head = orjson.dumps({"type": "score", "eventId": event_id, "seq": seq, "ts": ts})
    return head[:-1] + b',"data":' + data_json + b"}"


def encode_joined(
    *,
    event_id: str,
    epoch: str,
    sport: str,
    title: str,
    status: str,
    seq: int,
    viewers: int,
    snapshot_json: bytes | None,
    heartbeat_interval_ms: int,
    heartbeat_timeout_ms: int,
    recovered: bool | None = None,
    missed: Sequence[bytes] = (),
    state_json: bytes | None = None,
    viewer: Mapping[str, Any] | None = None,
) -> bytes:
    """A ``joined`` message.

    ``epoch`` names the event's seq history: it changes when the history is
    reset (the event recreated, a memory store restarted), so seqs are only
    comparable within one epoch. ``snapshot_json`` is the latest update's
    payload as JSON (None before the first update). ``recovered`` is given
    only when the join carried ``since``; ``missed`` is then the encoded
    ``score`` messages after that seq, in order. ``state_json`` is the sport's
    match state (the whole game so far) when the sport keeps one. ``viewer`` is
    who the server takes the viewer to be (``id``, and from a token ``name`` and
    ``expiresIn``, the token's seconds left), given when the join carried a token.
    """
    head: dict[str, Any] = {
        "type": "joined",
        "eventId": event_id,
        "epoch": epoch,
        "sport": sport,
        "title": title,
        "status": status,
        "seq": seq,
        "viewers": viewers,
        "heartbeat": {"intervalMs": heartbeat_interval_ms, "timeoutMs": heartbeat_timeout_ms},
    }
    if recovered is not None:
        head["recovered"] = recovered
    if viewer is not None:
        head["viewer"] = viewer
    parts = [orjson.dumps(head)[:-1], b',"snapshot":', snapshot_json or b"null"]
    if state_json is not None:
        parts += [b',"state":', state_json]
    if recovered is not None:
        parts += [b',"missed":[', b",".join(missed), b"]"]
    parts.append(b"}")
    return b"".join(parts)


def encode_reactions(
    event_id: str, window_ms: int, counts: Mapping[str, int], comments: Sequence[Mapping[str, str]]
) -> bytes:
    """A ``reactions`` aggregate: counts per emoji and a sample of comments.

    Bounded whatever it is given: the ``MAX_REACTION_KINDS`` most counted emoji
    (ties in the mapping's order), the rest summed as ``"other"``; then comments
    from the front of ``comments`` while the message stays within
    ``MAX_REACTIONS_MESSAGE`` bytes. Without comments it always fits: emoji,
    event ids and counts are bounded far below it.
    """
    if len(counts) > MAX_REACTION_KINDS:
        ranked = sorted(counts.items(), key=lambda item: -item[1])
        kept = dict(ranked[: MAX_REACTION_KINDS - 1])
        rest = sum(count for _, count in ranked[MAX_REACTION_KINDS - 1 :])
        kept[REACTIONS_OTHER] = kept.get(REACTIONS_OTHER, 0) + rest
        counts = kept
    message = {
        "type": "reactions",
        "eventId": event_id,
        "windowMs": window_ms,
        "counts": counts,
        "comments": comments,
    }
    encoded = orjson.dumps(message)
    if len(encoded) <= MAX_REACTIONS_MESSAGE:
        return encoded
    message["comments"] = []
    room = MAX_REACTIONS_MESSAGE - len(orjson.dumps(message))
    kept_comments = []
    for comment in comments:
        size = len(orjson.dumps(comment)) + 1  # its comma
        if size > room:
            break
        room -= size
        kept_comments.append(comment)
    message["comments"] = kept_comments
    return orjson.dumps(message)


def encode_reaction_partial(
    event_id: str, node_id: str, counts: Mapping[str, int], comments: Sequence[Mapping[str, str]]
) -> bytes:
    """One node's reactions of one window, for the other nodes (never sent to a client).

    Each node merges the partials of the others into its next ``reactions``
    message, so every viewer sees the counts of the whole audience.
    """
    return orjson.dumps(
        {
            "type": "partial",
            "eventId": event_id,
            "node": node_id,
            "counts": counts,
            "comments": comments,
        }
    )


def decode_reaction_partial(
    payload: bytes,
) -> tuple[str, dict[str, int], list[dict[str, str]]]:
    """(node id, counts, comments) of an :func:`encode_reaction_partial` message.

    Raises ValueError if it is not one.
    """
    message = orjson.loads(payload)
    node, counts, comments = message.get("node"), message.get("counts"), message.get("comments")
    if not (isinstance(node, str) and isinstance(counts, dict) and isinstance(comments, list)):
        raise ValueError("not a reaction partial")
    return node, counts, comments


def encode_mutes(event_id: str, mutes: Mapping[str, int]) -> bytes:
    """Every mute in force on an event (viewer id to when it ends, ms), for the nodes
    (never sent to a client): each change of the mutes is sent whole."""
    return orjson.dumps({"type": "mutes", "eventId": event_id, "mutes": mutes})


def decode_mutes(payload: bytes) -> dict[str, int]:
    """The mutes of an :func:`encode_mutes` message. Raises ValueError if it is not one."""
    mutes = orjson.loads(payload).get("mutes")
    if not isinstance(mutes, dict) or not all(isinstance(until, int) for until in mutes.values()):
        raise ValueError("not a mutes message")
    return mutes


def encode_viewers(event_id: str, count: int) -> bytes:
    """A ``viewers`` message: the live viewer count of the event."""
    return orjson.dumps({"type": "viewers", "eventId": event_id, "count": count})


def encode_refreshed(expires_in: int | None) -> bytes:
    """A ``refreshed`` message: the ``refresh`` token was accepted; ``expiresIn`` is its
    seconds left (null: it does not expire)."""
    return orjson.dumps({"type": "refreshed", "expiresIn": expires_in})


def encode_pong(t: Any, ts: int) -> bytes:
    """A ``pong`` answering a ``ping``; ``t`` is the ping's value echoed."""
    return orjson.dumps({"type": "pong", "t": t, "ts": ts})


def encode_error(code: str, message: str) -> bytes:
    """An ``error`` message; the connection stays open."""
    return orjson.dumps({"type": "error", "code": code, "message": message})


def encode_ended(event_id: str, result: str | None = None) -> bytes:
    """An ``ended`` message: the event is over and will get no more updates.

    ``result`` (the outcome, e.g. "CSK won by 5 wickets") is included when known.
    """
    message: dict[str, str] = {"type": "ended", "eventId": event_id}
    if result:
        message["result"] = result
    return orjson.dumps(message)


def frame_text(payload: bytes) -> bytes:
    """A complete server-to-client WebSocket text frame (FIN, unmasked) for ``payload``.

    Built once per message and written as is to every viewer's transport.
    The caller guarantees ``payload`` is valid UTF-8 (orjson output is).
    """
    length = len(payload)
    if length < 126:
        header = bytes((0x81, length))
    elif length < 65536:
        header = bytes((0x81, 126)) + length.to_bytes(2, "big")
    else:
        header = bytes((0x81, 127)) + length.to_bytes(8, "big")
    return header + payload


def frame_close(code: int, reason: str) -> bytes:
    """A complete server-to-client WebSocket close frame with ``code`` and ``reason``.

    The reason is cut to fit the 125-byte control frame limit.
    """
    body = code.to_bytes(2, "big") + reason.encode()[:123].decode(errors="ignore").encode()
    return bytes((0x88, len(body))) + body
