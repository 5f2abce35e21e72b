"""Which web pages may open a WebSocket to this node (pure, no I/O).

A browser sends ``Origin`` with every WebSocket upgrade and, unlike for
``fetch``, enforces nothing itself: without a check, any page a fan visits
could open a socket to the gateway in the fan's name. Clients that are not
browsers (the SDKs in Node or Python, feeds) send no ``Origin`` and are not
concerned.

A page may connect when its origin is the server's own (the ``Host`` the
upgrade was sent to, scheme aside), or matches ``--allowed-origins``: exact
origins (``https://app.example.com``), a wildcard for subdomains
(``https://*.example.com``, which does not match ``example.com`` itself), or
``*`` (any page; for public demos).
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlsplit

__all__ = ["LOCALHOST_ORIGINS", "OriginPolicy"]

LOCALHOST_ORIGINS = ("http://localhost:*", "http://127.0.0.1:*", "http://[::1]:*")
"""What ``livegate demo`` allows besides its own origin: pages on this machine."""


def _split(origin: str) -> tuple[str, str, str] | None:
    """(scheme, host, port) of an origin, lower-case; None if it is not one."""
    try:
        parts = urlsplit(origin.strip())
        port = parts.port
    except ValueError:
        return None
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        return None
    default = "443" if parts.scheme == "https" else "80"
    return parts.scheme, parts.hostname.lower(), str(port) if port is not None else default


@dataclass(frozen=True, slots=True)
class _Pattern:
    """One ``--allowed-origins`` entry, parsed once."""

    scheme: str
    host: str
    """The host, or for ``*.example.com`` the suffix ``.example.com``."""
    port: str | None
    """None for ``:*`` (any port)."""
    subdomains: bool

    @classmethod
    def parse(cls, entry: str) -> _Pattern:
        any_port = entry.endswith(":*")
        base = entry[:-2] if any_port else entry
        subdomains = "://*." in base
        parts = _split(base.replace("://*.", "://x.", 1) if subdomains else base)
        if parts is None:
            raise ValueError(
                f"allowed origin {entry!r} is not like https://app.example.com, "
                "https://*.example.com, http://localhost:* or *"
            )
        scheme, host, port = parts
        return cls(scheme, host[1:] if subdomains else host, None if any_port else port, subdomains)

    def matches(self, page: tuple[str, str, str]) -> bool:
        scheme, host, port = page
        if scheme != self.scheme or (self.port is not None and port != self.port):
            return False
        if self.subdomains:
            return host.endswith(self.host) and len(host) > len(self.host)
        return host == self.host


@dataclass(frozen=True, slots=True)
class OriginPolicy:
    """Built from ``--allowed-origins`` (comma-separated). Raises ValueError for a bad entry."""

    patterns: tuple[_Pattern, ...] = ()
    any_origin: bool = False

    @classmethod
    def parse(cls, text: str, *, extra: tuple[str, ...] = ()) -> OriginPolicy:
        entries = tuple(e.strip() for e in text.split(",") if e.strip()) + extra
        patterns = tuple(_Pattern.parse(e) for e in entries if e != "*")
        return cls(patterns, any_origin="*" in entries)

    def allows(self, origin: str | None, host: str | None) -> bool:
        """Whether a page of ``origin`` may connect to a server reached as ``host``.

        No ``Origin`` header (not a browser): allowed.
        """
        if origin is None:
            return True
        page = _split(origin)
        if page is None:
            return False  # "null" (a sandboxed or file page) or garbage
        if self.any_origin or (host and _same_host(page, host)):
            return True
        return any(pattern.matches(page) for pattern in self.patterns)


def _same_host(page: tuple[str, str, str], host: str) -> bool:
    server = _split(f"{page[0]}://{host}")
    return server is not None and server[1:] == page[1:]
