"""An async client for the gateway's HTTP API, for feeds, tools and the demo.

Usage::

    async with ApiClient("http://127.0.0.1:8080", api_key="...") as api:
        await api.put_event("final", sport="football", title="The Final")
        seq = (await api.publish("final", {"minute": 1, "kind": "kick_off", ...}))["seq"]

Every failure raises :class:`ApiClientError`: ``status`` is the HTTP status (0
when the gateway could not be reached), ``code`` the API's machine code, and
``fields`` the offending fields of a 422.
"""

from __future__ import annotations

from types import TracebackType
from typing import Any
from urllib.parse import urlencode

import aiohttp
import orjson

__all__ = ["ApiClient", "ApiClientError"]

LIST_PAGE = 500
"""Events asked for per page of ``GET /api/events`` (the server's maximum)."""


class ApiClientError(Exception):
    """A refused or failed API call."""

    def __init__(
        self, status: int, code: str, message: str, fields: list[dict[str, str]] | None = None
    ) -> None:
        super().__init__(f"{code}: {message}" if status else message)
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields or []

    def describe(self) -> str:
        """The error with every offending field on its own line."""
        lines = [f"HTTP {self.status} {self.code}: {self.message}" if self.status else self.message]
        lines += [f"  {field['path']}: {field['reason']}" for field in self.fields]
        return "\n".join(lines)


class ApiClient:
    """Calls one gateway. Use as an async context manager (it owns an HTTP session)."""

    def __init__(self, url: str, api_key: str | None = None, *, timeout: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self.api_key = api_key
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> ApiClient:
        self._session = aiohttp.ClientSession(timeout=self._timeout)
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _call(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        write: bool = False,
        headers: dict[str, str] | None = None,
    ) -> Any:
        if self._session is None:
            raise RuntimeError("use ApiClient as 'async with ApiClient(...) as api'")
        all_headers = dict(headers or {})
        if write:
            if not self.api_key:
                raise ApiClientError(
                    0, "no_api_key", "no API key: pass --api-key or set LIVEGATE_API_KEY"
                )
            all_headers["Authorization"] = f"Bearer {self.api_key}"
        data = None
        if body is not None:
            data = orjson.dumps(body)
            all_headers["Content-Type"] = "application/json"
        try:
            async with self._session.request(
                method, self.url + path, data=data, headers=all_headers
            ) as resp:
                raw = await resp.read()
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            raise ApiClientError(0, "unreachable", f"cannot reach {self.url}: {exc}") from exc
        try:
            answer = orjson.loads(raw) if raw else None
        except orjson.JSONDecodeError:
            answer = None
        if status >= 400:
            error = answer.get("error") if isinstance(answer, dict) else None
            if isinstance(error, dict):
                raise ApiClientError(
                    status, str(error.get("code")), str(error.get("message")), error.get("fields")
                )
            raise ApiClientError(status, "http_error", raw[:200].decode(errors="replace"))
        return answer

    async def put_event(
        self, event_id: str, *, sport: str | None = None, title: str | None = None, **meta: Any
    ) -> dict[str, Any]:
        body: dict[str, Any] = dict(meta)
        if sport is not None:
            body["sport"] = sport
        if title is not None:
            body["title"] = title
        result: dict[str, Any] = await self._call(
            "PUT", f"/api/events/{event_id}", body, write=True
        )
        return result

    async def publish(
        self, event_id: str, data: dict[str, Any], *, idempotency_key: str | None = None
    ) -> dict[str, Any]:
        """Publish one update; returns ``{"seq", "ts", "duplicate"}``."""
        headers = {"Idempotency-Key": idempotency_key} if idempotency_key else None
        result: dict[str, Any] = await self._call(
            "POST", f"/api/events/{event_id}/updates", data, write=True, headers=headers
        )
        return result

    async def end_event(self, event_id: str, result: str | None = None) -> dict[str, Any]:
        """End the event, with its ``result`` in words if given; returns the event."""
        body = {"result": result} if result else None
        event: dict[str, Any] = await self._call(
            "POST", f"/api/events/{event_id}/end", body, write=True
        )
        return event

    async def delete_event(self, event_id: str) -> None:
        """Forget the event (its viewers get ``ended``)."""
        await self._call("DELETE", f"/api/events/{event_id}", write=True)

    async def get_event(self, event_id: str) -> dict[str, Any]:
        result: dict[str, Any] = await self._call("GET", f"/api/events/{event_id}")
        return result

    async def find_event(self, event_id: str) -> dict[str, Any] | None:
        """The event, or None if the gateway does not know it."""
        try:
            return await self.get_event(event_id)
        except ApiClientError as exc:
            if exc.status == 404:
                return None
            raise

    async def list_events(self, *, status: str | None = None) -> list[dict[str, Any]]:
        """Every event (of ``status``, if given), following the list's pages."""
        events: list[dict[str, Any]] = []
        query = {"limit": str(LIST_PAGE), **({"status": status} if status else {})}
        while True:
            page = await self._call("GET", "/api/events?" + urlencode(query))
            events += page["events"]
            if not page.get("next"):
                return events
            query["cursor"] = page["next"]
