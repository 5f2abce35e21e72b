"""The HTTP and WebSocket server: the only module that knows aiohttp.

One port serves the WebSocket at ``/ws``, the JSON API under ``/api``,
``/healthz``, ``/metrics`` and ``/``. Every API error is JSON,
``{"error": {"code", "message"}}``, with a fitting status.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import dataclasses
import hashlib
import logging
import re
import signal
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import aiohttp
import orjson
from aiohttp import web

from livegate import __version__, protocol
from livegate.admission import Admission
from livegate.api_keys import KeyRing, load_key_file
from livegate.clientaddr import ClientAddresses, parse_networks
from livegate.config import Settings
from livegate.engines import EngineUnavailable, EventEnded, EventInfo, EventsFull, UnknownEvent
from livegate.fdlimit import current_fd_limit, default_max_connections, raise_fd_limit
from livegate.gateway import Conflict, Gateway, InvalidUpdate, TooManyMutes
from livegate.metrics import CONTENT_TYPE
from livegate.origins import LOCALHOST_ORIGINS, OriginPolicy
from livegate.ratelimit import KeyedBuckets
from livegate.server_guards import ClientErrorFilter, GuardedSite, take_connection
from livegate.sports import get_sport
from livegate.tasks import cancel_and_wait
from livegate.throttled_log import ThrottledLog
from livegate.viewer_socket import CLOSE_HANDSHAKE_TIMEOUT, ViewerSocket, handshake_response
from livegate.workers import WorkerInfo, gather_metrics, stop_when_orphaned, worker_info

__all__ = ["create_app", "run"]

log = logging.getLogger(__name__)

GATEWAY_KEY = web.AppKey("gateway", Gateway)
WORKERS_KEY = web.AppKey("workers", tuple)
"""With ``--workers``: (this worker's WorkerInfo, a client session for its siblings)."""
MAX_RESULT = 200
"""Characters of an event's result ("CSK won by 5 wickets")."""
MAX_END_BODY = 1024
MAX_SUMMARY = 200
"""Characters of an event's one-line summary in the API."""
LIST_PAGE_DEFAULT = 100
LIST_PAGE_MAX = 500
LIST_CACHE_ENTRIES = 256
EVENT_STATUSES = frozenset({"scheduled", "live", "ended"})
MAX_EVENT_BODY = 8 * 1024
MAX_META = 4 * 1024
"""Largest encoded ``meta`` of an event: a PUT replaces it, so it never grows past this."""
MAX_IDEMPOTENCY_KEY = 256
MAX_TITLE = 200
SPORT_PATTERN = re.compile(r"[a-z][a-z0-9_-]{0,31}")

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


class ApiError(Exception):
    """An API failure with an HTTP status and a machine code (and ``Retry-After``, if set)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        fields: list[dict[str, str]] | None = None,
        *,
        retry_after: int | None = None,
    ) -> None:
        super().__init__(message)
        self.status, self.code, self.message, self.fields = status, code, message, fields
        self.retry_after = retry_after


def _error_response(
    status: int,
    code: str,
    message: str,
    fields: list[dict[str, str]] | None = None,
    retry_after: int | None = None,
) -> web.Response:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields is not None:
        error["fields"] = fields
    headers = {"Retry-After": str(retry_after)} if retry_after is not None else None
    return web.Response(
        status=status,
        body=orjson.dumps({"error": error}),
        content_type="application/json",
        headers=headers,
    )


@dataclass
class _ListCache:
    """Encoded event-list pages, each served for ``ttl`` seconds while the list's shape holds."""

    ttl: float
    pages: dict[tuple[Any, ...], tuple[float, bytes, str]] = field(default_factory=dict)

    def get(self, key: tuple[Any, ...], now: float) -> tuple[bytes, str] | None:
        entry = self.pages.get(key)
        if entry is None or now - entry[0] >= self.ttl:
            return None
        return entry[1], entry[2]

    def put(self, key: tuple[Any, ...], body: bytes, now: float) -> tuple[bytes, str]:
        if len(self.pages) >= LIST_CACHE_ENTRIES:
            self.pages.clear()  # old versions and rare queries: start again
        etag = '"' + hashlib.blake2b(body, digest_size=12).hexdigest() + '"'
        self.pages[key] = (now, body, etag)
        return body, etag


@dataclass
class NodeLimits:
    """What bounds one client's share of the node (built from Settings by ``create_app``)."""

    addresses: ClientAddresses
    admission: Admission
    reads: KeyedBuckets[str]
    auth_failures: KeyedBuckets[str]
    list_cache: _ListCache
    log: ThrottledLog
    origins: OriginPolicy = field(default_factory=OriginPolicy)
    keys: KeyRing = field(default_factory=lambda: KeyRing([]))
    site: GuardedSite | None = None

    @classmethod
    def from_settings(cls, settings: Settings, max_connections: int) -> NodeLimits:
        return cls(
            addresses=ClientAddresses(parse_networks(settings.trusted_proxies.split(","))),
            admission=Admission(
                max_connections,
                max_per_address=settings.max_connections_per_ip,
                rate_per_address=settings.connection_rate_per_ip,
                burst_per_address=settings.connection_burst_per_ip,
            ),
            reads=KeyedBuckets(settings.read_rate, settings.read_burst),
            auth_failures=KeyedBuckets(settings.auth_failure_rate, settings.auth_failure_burst),
            list_cache=_ListCache(settings.list_cache_ttl),
            log=ThrottledLog(log),
            keys=_key_ring(settings),
            origins=OriginPolicy.parse(
                settings.allowed_origins,
                extra=LOCALHOST_ORIGINS if settings.allow_local_origins else (),
            ),
        )


def _key_ring(settings: Settings) -> KeyRing:
    """``--api-key`` (an admin key) and the keys of ``--api-keys-file``."""
    ring = KeyRing.single(settings.api_key)
    if settings.api_keys_file:
        ring = ring + load_key_file(settings.api_keys_file)
    return ring


LIMITS_KEY = web.AppKey("limits", NodeLimits)


def _json(body: Any, status: int = 200) -> web.Response:
    return web.Response(status=status, body=orjson.dumps(body), content_type="application/json")


_STATUS_CODES = {
    404: "not_found",
    405: "method_not_allowed",
    413: "too_large",
    400: "bad_request",
}


def _is_websocket(request: web.Request) -> bool:
    """Whether ``websocket`` handles this request (it answers its own errors)."""
    return request.match_info.handler is websocket


@web.middleware
def _http(request: web.Request, handler: Handler) -> Awaitable[web.StreamResponse]:
    """Tells the site when a connection is in a request (see ``GuardedSite``), and
    answers every API error as ``{"error": {...}}``.

    A plain function, so that a WebSocket, which never returns to HTTP, keeps
    no middleware coroutine alive for its whole life (memory per viewer):
    ``websocket`` answers its own errors.
    """
    site = request.app[LIMITS_KEY].site
    if site is not None:
        site.request_started(request.protocol)
    if _is_websocket(request):
        return handler(request)
    return _serve_http(request, handler, site)


async def _serve_http(
    request: web.Request, handler: Handler, site: GuardedSite | None
) -> web.StreamResponse:
    try:
        return await handler(request)
    except (ApiError, web.HTTPException) as exc:
        if isinstance(exc, web.HTTPNotFound) and _wants_html(request):
            return _not_found_page()
        return _error_as_json(exc)
    except UnknownEvent as exc:  # one answer for every operation on an event
        return _error_response(404, "unknown_event", f"no event {exc.args[0]!r}")
    except EngineUnavailable:
        # Nothing was stored: the publisher retries (with its Idempotency-Key).
        return _error_response(
            503, "engine_unavailable", "the engine cannot be reached; retry", None, 1
        )
    finally:
        if site is not None:
            site.request_finished(request.protocol)


def _error_as_json(exc: ApiError | web.HTTPException) -> web.Response:
    if isinstance(exc, ApiError):
        return _error_response(exc.status, exc.code, exc.message, exc.fields, exc.retry_after)
    if exc.status < 400:
        raise exc
    code = _STATUS_CODES.get(exc.status, "http_error")
    return _error_response(exc.status, code, exc.reason)


def _gateway(request: web.Request) -> Gateway:
    return request.app[GATEWAY_KEY]


def _client_address(request: web.Request) -> str:
    return request.app[LIMITS_KEY].addresses.resolve(
        request.remote, request.headers.get("X-Forwarded-For")
    )


def _require_api_key(request: web.Request, action: str = "admin", event_id: str = "") -> None:
    """401 on a wrong key; 403 for a key whose scopes do not allow ``action`` (``admin``,
    ``publish`` or ``read``) on ``event_id``; 429 for an address that kept getting it wrong.

    Failed checks are counted per client address; once its bucket is empty,
    every write from that address is refused before the key is even compared,
    so guessing is held to ``auth_failure_rate`` tries a second.
    """
    limits = request.app[LIMITS_KEY]
    address = _client_address(request)
    now = time.monotonic()
    failures = limits.auth_failures.find(address)
    if failures is not None and not failures.ready(now):
        limits.log.note(
            "auth-throttled", "refused writes from %s: too many failed API keys", address
        )
        raise ApiError(
            429,
            "rate_limited",
            "too many failed authentications from this address; wait and retry",
            retry_after=failures.retry_after(now),
        )
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    key = limits.keys.find(token.strip()) if scheme.lower() == "bearer" else None
    if key is None:
        limits.auth_failures.get(address, now).take(now)
        limits.log.note("auth-failed", "failed API key from %s", address)
        raise ApiError(
            401, "unauthorized", "missing or wrong API key (Authorization: Bearer <key>)"
        )
    if not key.allows(action, event_id):
        _gateway(request).metrics.api_refusals.labels(key.name).inc()
        raise ApiError(
            403,
            "forbidden",
            f"the API key {key.name!r} may not do this (its scopes: "
            f"{', '.join(key.scopes) or 'none'})",
        )


def _limit_reads(request: web.Request) -> None:
    """Public reads are rate-limited per client address: 429 with ``Retry-After``."""
    limits = request.app[LIMITS_KEY]
    now = time.monotonic()
    bucket = limits.reads.get(_client_address(request), now)
    if not bucket.take(now):
        raise ApiError(
            429, "rate_limited", "too many reads; slow down", retry_after=bucket.retry_after(now)
        )


def _event_id(request: web.Request) -> str:
    event_id = request.match_info["event_id"]
    if not protocol.valid_event_id(event_id):
        raise ApiError(
            400, "bad_event_id", "event id must be 1 to 128 letters, digits or '-', '_', '.', ':'"
        )
    return event_id


async def _read_json_object(request: web.Request, limit: int) -> tuple[dict[str, Any], bytes]:
    """The body as a JSON object and its compact encoding; at most ``limit`` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise ApiError(413, "too_large", f"body is larger than {limit} bytes")
    chunks: list[bytes] = []
    size = 0
    while chunk := await request.content.read(limit + 1 - size):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            raise ApiError(413, "too_large", f"body is larger than {limit} bytes")
    try:
        body = orjson.loads(b"".join(chunks))
    except orjson.JSONDecodeError:
        raise ApiError(400, "bad_json", "body is not valid JSON") from None
    if not isinstance(body, dict):
        raise ApiError(400, "not_an_object", "body must be a JSON object")
    try:
        return body, orjson.dumps(body)
    except orjson.JSONEncodeError:  # orjson encodes less depth than it decodes
        raise ApiError(400, "too_deep", "body nests too deeply") from None


def _is_private(info: EventInfo) -> bool:
    """A private event (``"private": true`` when created) is joined with a token that
    names it; its score is read through the API only with an API key."""
    return info.meta.get("private") is True


def _event_json(info: EventInfo, *, snapshot: bool = True, reveal: bool = True) -> dict[str, Any]:
    """The API's view of an event; ``reveal=False`` leaves out a private event's score."""
    reveal = reveal or not _is_private(info)
    body: dict[str, Any] = {
        "eventId": info.event_id,
        "sport": info.sport,
        "title": info.title,
        "status": info.status,
        "seq": info.seq,
        "viewers": info.viewers,
        "peakViewers": info.peak_viewers,
        "createdAt": info.created_at,
        "updatedAt": info.updated_at,
        "meta": info.meta,
        "summary": _summary(info) if reveal else "",
    }
    if info.result is not None and reveal:
        body["result"] = info.result
    if snapshot and reveal:
        body["snapshot"] = orjson.Fragment(info.snapshot) if info.snapshot else None
        if info.state is not None:
            body["state"] = orjson.Fragment(info.state)
    return body


_SUMMARIES: OrderedDict[tuple[str, str, int, str], str] = OrderedDict()
"""Summaries by (event, epoch, seq, sport), least recently used first: a list page of
500 events is not 500 JSON decodes a second. Keys are small: the snapshot is not kept."""
SUMMARY_CACHE = 20_000


def _summary(info: EventInfo) -> str:
    """The sport's one-line score summary of the latest update ("" before the first)."""
    if not info.snapshot:
        return ""
    key = (info.event_id, info.epoch, info.seq, info.sport)
    summary = _SUMMARIES.get(key)
    if summary is not None:
        _SUMMARIES.move_to_end(key)
        return summary
    try:
        summary = get_sport(info.sport).summary(orjson.loads(info.snapshot))[:MAX_SUMMARY]
    except Exception:  # a sport's summary must never break a read
        log.exception("summary of %r at seq %d failed", info.event_id, info.seq)
        summary = ""
    _SUMMARIES[key] = summary
    if len(_SUMMARIES) > SUMMARY_CACHE:
        _SUMMARIES.popitem(last=False)
    return summary


# -- API handlers ------------------------------------------------------------------


async def put_event(request: web.Request) -> web.Response:
    _require_api_key(request)
    event_id = _event_id(request)
    body, _ = await _read_json_object(request, MAX_EVENT_BODY)
    sport = body.pop("sport", None)
    title = body.pop("title", None)
    if sport is not None and (not isinstance(sport, str) or not SPORT_PATTERN.fullmatch(sport)):
        raise ApiError(400, "bad_field", "'sport' must be a lowercase word such as 'cricket'")
    if title is not None and (not isinstance(title, str) or not 0 < len(title) <= MAX_TITLE):
        raise ApiError(400, "bad_field", f"'title' must be a string of 1 to {MAX_TITLE} characters")
    if not isinstance(body.get("private", False), bool):
        raise ApiError(400, "bad_field", "'private' must be true or false")
    gateway = _gateway(request)
    existing = await gateway.get_event(event_id)
    if existing is None and sport is None:
        raise ApiError(400, "missing_field", "'sport' is required to create an event")
    if existing is not None and _is_private(existing):
        # Viewers were let in (or kept out) by it: it is set at creation, for good.
        if body.get("private", True) is not True:
            raise ApiError(400, "bad_field", "'private' is set when the event is created")
        if body:
            body["private"] = True  # a new meta replaces the old one, but not this
    elif existing is not None and body.get("private") is True:
        raise ApiError(400, "bad_field", "'private' is set when the event is created")
    if len(orjson.dumps(body)) > MAX_META:
        raise ApiError(413, "too_large", f"the event's other fields (meta) exceed {MAX_META} bytes")
    try:
        info, created = await gateway.put_event(event_id, sport, title, body)
    except EventsFull as exc:
        raise ApiError(507, "store_full", str(exc)) from None
    return _json(_event_json(info), status=201 if created else 200)


async def publish_update(request: web.Request) -> web.Response:
    # The key first (a wrong key is 401 whatever else is wrong); the id is checked next.
    _require_api_key(request, "publish", request.match_info["event_id"])
    event_id = _event_id(request)
    gateway = _gateway(request)
    key = request.headers.get("Idempotency-Key")
    if key is not None and not 0 < len(key) <= MAX_IDEMPOTENCY_KEY:
        raise ApiError(
            400,
            "bad_idempotency_key",
            f"Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} characters",
        )
    data, data_json = await _read_json_object(request, gateway.settings.max_update_size)
    try:
        result = await gateway.publish(event_id, data, data_json, key)
    except InvalidUpdate as exc:
        fields = [error.as_json() for error in exc.errors]
        raise ApiError(422, "invalid_update", str(exc)[:1000], fields=fields) from None
    except EventEnded:
        raise ApiError(409, "event_ended", f"event {event_id!r} has ended") from None
    except Conflict as exc:
        raise ApiError(409, "conflict", str(exc), retry_after=1) from None
    return _json({"seq": result.seq, "ts": result.ts, "duplicate": result.duplicate}, status=202)


async def end_event(request: web.Request) -> web.Response:
    """``POST /api/events/{id}/end``, with an optional body ``{"result": "..."}``."""
    _require_api_key(request)
    event_id = _event_id(request)
    result = None
    if request.content_length or request.body_exists:
        body, _ = await _read_json_object(request, MAX_END_BODY)
        result = body.pop("result", None)
        if result is not None and (
            not isinstance(result, str) or not 0 < len(result) <= MAX_RESULT
        ):
            raise ApiError(
                400, "bad_field", f"'result' must be a string of 1 to {MAX_RESULT} characters"
            )
    return _json(_event_json(await _gateway(request).end_event(event_id, result)))


async def delete_event(request: web.Request) -> web.Response:
    """``DELETE /api/events/{id}``: forget the event; its viewers get ``ended``."""
    _require_api_key(request)
    event_id = _event_id(request)
    if not await _gateway(request).delete_event(event_id):
        raise UnknownEvent(event_id)
    return web.Response(status=204)


MAX_MUTE_SECONDS = 7 * 86_400
"""Longest mute: a week (a match is over long before)."""


async def _moderated_event(request: web.Request) -> str:
    """The path's event, for a key that may publish to it (its scorer) or an admin key."""
    _require_api_key(request, "publish", request.match_info["event_id"])
    return _event_id(request)


async def list_mutes(request: web.Request) -> web.Response:
    """``GET /api/events/{id}/mutes``: the viewers muted now and when each mute ends."""
    event_id = await _moderated_event(request)
    gateway = _gateway(request)
    mutes = await gateway.mutes(event_id)
    # `now` is the server's clock: a console computes time left from it, not its own.
    return _json(
        {
            "now": gateway.clock.time_ms(),
            "mutes": [{"id": viewer, "until": until} for viewer, until in mutes.items()],
        }
    )


async def add_mute(request: web.Request) -> web.Response:
    """``POST /api/events/{id}/mutes {"id": viewer, "seconds": N}``: drop the viewer's
    comments on this event, on every node, for N seconds (their emoji still count)."""
    event_id = await _moderated_event(request)
    body, _ = await _read_json_object(request, MAX_END_BODY)
    viewer_id, seconds = body.get("id"), body.get("seconds")
    if not (isinstance(viewer_id, str) and protocol.valid_user_id(viewer_id)):
        raise ApiError(
            400,
            "bad_field",
            f"'id' must be a viewer id: 1 to {protocol.MAX_USER_ID_LEN} characters without "
            "control characters",
        )
    if (
        isinstance(seconds, bool)
        or not isinstance(seconds, int | float)
        or not 1 <= seconds <= MAX_MUTE_SECONDS
    ):
        raise ApiError(400, "bad_field", f"'seconds' must be a number from 1 to {MAX_MUTE_SECONDS}")
    try:
        until = await _gateway(request).mute(event_id, viewer_id, float(seconds))
    except TooManyMutes as exc:
        raise ApiError(507, "too_many_mutes", str(exc)) from None
    return _json({"id": viewer_id, "until": until})


async def remove_mute(request: web.Request) -> web.Response:
    """``DELETE /api/events/{id}/mutes/{viewer}``: lift a mute (204; 404 if none)."""
    event_id = await _moderated_event(request)
    viewer_id = request.match_info["viewer_id"]
    if not await _gateway(request).unmute(event_id, viewer_id):
        raise ApiError(404, "not_muted", f"{viewer_id!r} is not muted on {event_id!r}")
    return web.Response(status=204)


def _list_query(request: web.Request) -> tuple[str | None, int, str | None]:
    query = request.query
    status = query.get("status")
    if status is not None and status not in EVENT_STATUSES:
        raise ApiError(400, "bad_query", "'status' must be scheduled, live or ended")
    raw_limit = query.get("limit", str(LIST_PAGE_DEFAULT))
    if not raw_limit.isdigit() or not 1 <= int(raw_limit) <= LIST_PAGE_MAX:
        raise ApiError(400, "bad_query", f"'limit' must be 1 to {LIST_PAGE_MAX}")
    cursor = query.get("cursor")
    if cursor is not None and not protocol.valid_event_id(cursor):
        raise ApiError(400, "bad_query", "'cursor' must be the 'next' of an earlier page")
    return status, int(raw_limit), cursor


async def _list_page(gateway: Gateway, status: str | None, limit: int, cursor: str | None) -> bytes:
    events = await gateway.list_events()
    if status is not None:
        events = [info for info in events if info.status == status]
    start = 0
    if cursor is not None:
        positions = (i for i, info in enumerate(events) if info.event_id == cursor)
        found = next(positions, None)
        if found is None:
            raise ApiError(400, "bad_query", "'cursor' names no event of this list")
        start = found + 1
    page = events[start : start + limit]
    more = start + limit < len(events)
    return orjson.dumps(
        {
            "events": [_event_json(info, snapshot=False, reveal=False) for info in page],
            "next": page[-1].event_id if more and page else None,
        }
    )


async def list_events(request: web.Request) -> web.Response:
    """One page of events in creation order; each page's encoding is shared for a second.

    Under many readers the list is encoded once per ``list_cache_ttl`` (and at
    once after an event is created, changes status or ends), not per request;
    ``If-None-Match`` with the page's ``ETag`` answers 304 without a body.
    """
    _limit_reads(request)
    status, limit, cursor = _list_query(request)
    gateway = _gateway(request)
    cache = request.app[LIMITS_KEY].list_cache
    key = (gateway.events_version, status, limit, cursor)
    now = time.monotonic()
    cached = cache.get(key, now)
    if cached is None:
        cached = cache.put(key, await _list_page(gateway, status, limit, cursor), now)
    body, etag = cached
    headers = {"ETag": etag, "Cache-Control": f"public, max-age={max(1, round(cache.ttl))}"}
    if request.headers.get("If-None-Match") == etag:
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, content_type="application/json", headers=headers)


async def _read_event(request: web.Request) -> EventInfo:
    """The path's event for a public read (rate-limited); 404 if there is none."""
    _limit_reads(request)
    event_id = _event_id(request)
    info = await _gateway(request).get_event(event_id)
    if info is None:
        raise UnknownEvent(event_id)
    return info


def _may_read_private(request: web.Request) -> bool:
    """Whether a read may see a private event's score: it carries a valid API key
    (any scope). A wrong key is a 401 and counts as a failed guess, as on writes."""
    if "Authorization" not in request.headers:
        return False
    _require_api_key(request, "read")
    return True


async def get_event(request: web.Request) -> web.Response:
    info = await _read_event(request)
    return _json(_event_json(info, reveal=not _is_private(info) or _may_read_private(request)))


async def event_pgn(request: web.Request) -> web.Response:
    """``GET /api/events/{id}/pgn``: a chess event's game so far, as PGN."""
    info = await _read_event(request)
    event_id = info.event_id
    if _is_private(info) and not _may_read_private(request):
        raise ApiError(403, "forbidden", f"event {event_id!r} is private: read it with an API key")
    export = getattr(get_sport(info.sport), "pgn", None)
    if export is None:
        raise ApiError(404, "no_pgn", f"event {event_id!r} is not a chess game")
    state = orjson.loads(info.state) if info.state else {}
    return web.Response(
        text=export(state, info.title),
        content_type="application/x-chess-pgn",
        headers={"Content-Disposition": f'inline; filename="{event_id}.pgn"'},
    )


async def healthz(request: web.Request) -> web.Response:
    gateway = _gateway(request)
    if gateway.draining:
        return _json({"status": "draining", "node": gateway.node_id}, status=503)
    if not gateway.engine.available:
        return _json({"status": "engine_unavailable", "node": gateway.node_id}, status=503)
    return _json({"status": "ok", "version": __version__, "node": gateway.node_id})


async def metrics(request: web.Request) -> web.Response:
    """This node's metrics; with ``--workers``, every worker's, labelled ``worker``."""
    workers = request.app.get(WORKERS_KEY)
    if workers is None:
        return await local_metrics(request)
    info, session = workers
    own = _gateway(request).metrics.render()
    return web.Response(
        body=await gather_metrics(info, session, own), headers={"Content-Type": CONTENT_TYPE}
    )


async def local_metrics(request: web.Request) -> web.Response:
    """This node's own metrics (a worker's, on its private port, for the worker that
    takes a scrape)."""
    return web.Response(
        body=_gateway(request).metrics.render(), headers={"Content-Type": CONTENT_TYPE}
    )


async def _start_worker_metrics(gateway: Gateway, info: WorkerInfo) -> web.AppRunner:
    """Serve this worker's metrics on a private 127.0.0.1 port and publish the port."""
    private = web.Application()
    private[GATEWAY_KEY] = gateway
    private.router.add_get("/metrics", local_metrics)
    runner = web.AppRunner(private, handle_signals=False, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = runner.addresses[0][1]
    written = info.port_file().with_suffix(".tmp")
    written.write_text(str(port))
    written.replace(info.port_file())  # siblings never read half a port
    return runner


async def api_index(request: web.Request) -> web.Response:
    """Where things are, and what the web app needs to know to get a viewer token."""
    gateway = _gateway(request)
    return _json(
        {
            "service": "livegate",
            "version": __version__,
            "websocket": "/ws",
            "events": "/api/events",
            "app": "/",
            "scorer": "/scorer",
            "viewerAuth": "off" if gateway.tokens is None else gateway.settings.viewer_auth,
            "tokenUrl": gateway.settings.web_token_url or None,
        }
    )


WEB_ROOT = Path(__file__).resolve().parent / "web"
_PAGE_HEADERS = {
    "Cache-Control": "no-cache",
    # The app is all same-origin: no CDN, no inline script.
    "Content-Security-Policy": (
        "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; "
        # The SDK's heartbeat runs in a blob: worker, which hidden tabs do not throttle.
        "worker-src 'self' blob:; "
        "style-src 'self'; script-src 'self'; base-uri 'none'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
}


def _page(name: str) -> Handler:
    async def handler(request: web.Request) -> web.StreamResponse:
        return web.FileResponse(WEB_ROOT / name, headers=_PAGE_HEADERS)

    return handler


async def event_page(request: web.Request) -> web.StreamResponse:
    """``GET /events/{id}``: the match page, or the not-found page for no such event."""
    event_id = request.match_info["event_id"]
    if not protocol.valid_event_id(event_id) or await _gateway(request).get_event(event_id) is None:
        return _not_found_page()
    return web.FileResponse(WEB_ROOT / "event.html", headers=_PAGE_HEADERS)


def _not_found_page() -> web.StreamResponse:
    return web.FileResponse(WEB_ROOT / "notfound.html", status=404, headers=_PAGE_HEADERS)


def _wants_html(request: web.Request) -> bool:
    """A browser navigating (not the API, not a client asking for JSON)."""
    if request.path.startswith("/api") or request.path == "/ws":
        return False
    accept = request.headers.get("Accept", "")
    return "text/html" in accept and "application/json" not in accept


# -- WebSocket ---------------------------------------------------------------------


async def websocket(request: web.Request) -> web.StreamResponse:
    """``GET /ws``: admit, check the handshake, then hand the connection to a ViewerSocket.

    aiohttp parsed and routed the request; from the 101 on, the connection is a
    :class:`~livegate.viewer_socket.ViewerSocket`'s and aiohttp forgets it, so a viewer
    keeps no request, task or coroutine alive (the middleware steps aside for this
    path, so it answers its own errors as JSON).
    """
    gateway = _gateway(request)
    try:
        address = _admit(request, gateway)
    except ApiError as exc:
        return _error_as_json(exc)
    admission = request.app[LIMITS_KEY].admission
    try:
        key = _handshake_key(request)
    except ApiError as exc:
        admission.release(address)
        return _error_as_json(exc)
    taken = take_connection(request)
    if taken is None:  # the client left mid-handshake; nobody reads an answer
        admission.release(address)
        return web.Response(status=400)
    transport, early = taken
    transport.write(handshake_response(key))
    viewer = ViewerSocket(gateway, transport, partial(admission.release, address))
    transport.set_protocol(viewer)
    if early:
        viewer.data_received(early)
    return web.Response(status=101)  # not written: aiohttp no longer has the connection


def _handshake_key(request: web.Request) -> str:
    """The client's ``Sec-WebSocket-Key`` of a valid upgrade (RFC 6455 4.2.1), else 400."""
    headers = request.headers
    if headers.get("Upgrade", "").lower() != "websocket":
        raise ApiError(400, "bad_request", "a WebSocket upgrade needs 'Upgrade: websocket'")
    if "upgrade" not in headers.get("Connection", "").lower():
        raise ApiError(400, "bad_request", "a WebSocket upgrade needs 'Connection: Upgrade'")
    if headers.get("Sec-WebSocket-Version") != "13":
        raise ApiError(400, "bad_request", "only WebSocket version 13 is supported")
    key = headers.get("Sec-WebSocket-Key", "")
    try:
        valid = len(base64.b64decode(key, validate=True)) == 16
    except (ValueError, binascii.Error):
        valid = False
    if not valid:
        raise ApiError(400, "bad_request", "Sec-WebSocket-Key must be 16 bytes in base64")
    return key


def _admit(request: web.Request, gateway: Gateway) -> str:
    """Count the upgrade in (the caller releases it) and return the client address.

    Raises ApiError 503 while draining or past the node's capacity, 429 past a
    per-address limit, each with ``Retry-After``; 403 for a page of an origin that
    may not connect (see :mod:`livegate.origins`).
    """
    if gateway.draining:
        raise ApiError(503, "draining", "server is restarting; reconnect elsewhere", retry_after=1)
    limits = request.app[LIMITS_KEY]
    address = _client_address(request)
    origin = request.headers.get("Origin")
    if not limits.origins.allows(origin, request.headers.get("Host")):
        gateway.metrics.refused_upgrades.labels("forbidden_origin").inc()
        limits.log.note("refused-origin", "refused a WebSocket upgrade from origin %r", origin)
        raise ApiError(
            403, "forbidden_origin", "pages of this origin may not connect (--allowed-origins)"
        )
    refusal = limits.admission.admit(address, time.monotonic())
    if refusal is not None:
        gateway.metrics.refused_upgrades.labels(refusal.reason).inc()
        limits.log.note(
            f"refused-{refusal.reason}",
            "refused a WebSocket upgrade from %s: %s",
            address,
            refusal.message,
        )
        raise ApiError(
            refusal.status, refusal.reason, refusal.message, retry_after=refusal.retry_after
        )
    return address


# -- app and process -----------------------------------------------------------------


def _capacity(settings: Settings, fd_limit: int | None = None) -> int:
    """WebSocket connections to accept: the setting, else the fd limit less a reserve."""
    if settings.max_connections:
        return settings.max_connections
    return default_max_connections(current_fd_limit() if fd_limit is None else fd_limit)


def create_app(gateway: Gateway, limits: NodeLimits | None = None) -> web.Application:
    """The aiohttp application for ``gateway`` (which the caller starts and closes).

    ``limits`` defaults to the gateway's settings with a capacity from the
    current fd limit; ``run`` passes its own, with the site that enforces the
    header timeout.
    """
    settings = gateway.settings
    app = web.Application(
        middlewares=[_http],
        client_max_size=settings.max_update_size + 1024,
    )
    app[GATEWAY_KEY] = gateway
    app[LIMITS_KEY] = limits or NodeLimits.from_settings(settings, _capacity(settings))
    app.router.add_get("/ws", websocket)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/metrics", metrics)
    app.router.add_get("/", _page("index.html"))
    app.router.add_get("/events/{event_id}", event_page)
    app.router.add_get("/scorer", _page("scorer.html"))
    app.router.add_static("/static/", WEB_ROOT / "static", follow_symlinks=True)
    app.router.add_get("/api", api_index)
    app.router.add_get("/api/events", list_events)
    app.router.add_get("/api/events/{event_id}", get_event)
    app.router.add_get("/api/events/{event_id}/pgn", event_pgn)
    app.router.add_put("/api/events/{event_id}", put_event)
    app.router.add_post("/api/events/{event_id}/updates", publish_update)
    app.router.add_post("/api/events/{event_id}/end", end_event)
    app.router.add_delete("/api/events/{event_id}", delete_event)
    app.router.add_get("/api/events/{event_id}/mutes", list_mutes)
    app.router.add_post("/api/events/{event_id}/mutes", add_mute)
    app.router.add_delete("/api/events/{event_id}/mutes/{viewer_id}", remove_mute)
    return app


async def run(
    settings: Settings,
    *,
    announce: Callable[[str], None] = print,
    while_serving: Callable[[str], Coroutine[Any, Any, None]] | None = None,
) -> None:
    """Serve until SIGTERM or SIGINT, then drain and return.

    ``while_serving(base_url)``, if given, runs as a task once the server
    listens (the demo's simulated matches) and is cancelled at shutdown.
    On a signal: stop accepting, close every viewer with 1012 spread over
    ``settings.drain_window``, wait briefly for the closes, and clean up.
    """
    worker = worker_info()
    if worker is not None and settings.node_id:
        settings = dataclasses.replace(settings, node_id=f"{settings.node_id}-w{worker.index}")
    fd_limit = raise_fd_limit()
    capacity = _capacity(settings, fd_limit)
    limits = NodeLimits.from_settings(settings, capacity)
    logging.getLogger("aiohttp.server").addFilter(ClientErrorFilter(limits.log))
    gateway = Gateway(settings)
    await gateway.start()
    app = create_app(gateway, limits)
    if worker is not None:
        app[WORKERS_KEY] = (worker, aiohttp.ClientSession())
    runner = web.AppRunner(
        app,
        handle_signals=False,
        access_log=None,
        shutdown_timeout=1.0,
        keepalive_timeout=settings.keepalive_timeout,
    )
    await runner.setup()

    def aborted(reason: str) -> None:
        gateway.metrics.aborted_connections.labels(reason).inc()
        # A browser's speculative preconnect never sends a request: routine, so INFO,
        # unless silent sockets come faster than they time out.
        level = logging.INFO if reason == "header_timeout" else logging.WARNING
        limits.log.note(
            f"aborted-{reason}",
            "aborted a connection that sent no request in time (%s)",
            reason,
            level=level,
        )

    site = GuardedSite(
        runner,
        settings.host,
        settings.port,
        backlog=4096,
        reuse_address=True,
        reuse_port=worker is not None,  # the kernel spreads connections over the workers
        header_timeout=settings.header_timeout,
        # Half the descriptors the WebSocket cap leaves over may be outside a request,
        # and so may as many as there are WebSocket slots free (a reconnect storm).
        max_waiting=max(16, (fd_limit - capacity) // 2),
        spare=lambda: limits.admission.max_connections - limits.admission.active,
        on_abort=aborted,
    )
    limits.site = site
    await site.start()
    private = await _start_worker_metrics(gateway, worker) if worker is not None else None
    prefix = "" if worker is None else f"worker {worker.index}: "
    announce(f"{prefix}livegate {__version__} listening on http://{settings.host}:{settings.port}")
    log.info("capacity: %d WebSocket connections (file descriptor limit %d)", capacity, fd_limit)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)

    def reload_files() -> None:
        """SIGHUP: the API keys, blocked words and token keys again; a broken file keeps
        the old."""
        try:
            limits.keys = _key_ring(settings)
            log.warning("SIGHUP: reloaded %d API keys", len(limits.keys.keys))
        except ValueError as exc:
            log.error("SIGHUP: kept the old API keys: %s", exc)
        try:
            gateway.reload_comment_filter()
            log.warning("SIGHUP: reloaded %d blocked words", len(gateway.comments.words))
        except ValueError as exc:
            log.error("SIGHUP: kept the old blocked words: %s", exc)
        try:
            gateway.reload_token_keys()
            log.warning("SIGHUP: reloaded the viewer token keys")
        except ValueError as exc:
            log.error("SIGHUP: kept the old viewer token keys: %s", exc)

    loop.add_signal_handler(signal.SIGHUP, reload_files)
    side_tasks: list[asyncio.Task[None]] = []
    if worker is not None:
        side_tasks.append(asyncio.create_task(stop_when_orphaned(worker, stop.set)))
    if while_serving is not None:
        host = "127.0.0.1" if settings.host in ("0.0.0.0", "::", "") else settings.host
        side_tasks.append(asyncio.create_task(while_serving(f"http://{host}:{settings.port}")))
    try:
        await stop.wait()
        announce("livegate: shutting down, draining viewers")
        await cancel_and_wait(side_tasks)
        gateway.draining = True
        await site.stop()
        await gateway.drain(settings.drain_window)
        await gateway.wait_disconnected(CLOSE_HANDSHAKE_TIMEOUT + 0.5)
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            loop.remove_signal_handler(sig)
        if private is not None and worker is not None:
            worker.port_file().unlink(missing_ok=True)
            _info, session = app[WORKERS_KEY]
            await session.close()
            await private.cleanup()
        await runner.cleanup()
        await gateway.close()
    announce("livegate: stopped")
