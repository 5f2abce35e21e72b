"""Engines: where events live and how messages cross nodes (see :mod:`.base`).

``open_engine(url, options)`` picks one by URL scheme; each engine's module is
imported only when used, so a node on SQLite never imports the Redis client.
"""

from __future__ import annotations

from livegate.engines.base import (
    AppendResult,
    Engine,
    EngineError,
    EngineOptions,
    EngineUnavailable,
    EventEnded,
    EventInfo,
    EventsFull,
    Resume,
    SeqConflict,
    UnknownEvent,
)

__all__ = [
    "SCHEMES",
    "AppendResult",
    "Engine",
    "EngineError",
    "EngineOptions",
    "EngineUnavailable",
    "EventEnded",
    "EventInfo",
    "EventsFull",
    "Resume",
    "SeqConflict",
    "UnknownEvent",
    "check_engine_url",
    "open_engine",
]

SCHEMES = ("memory", "sqlite", "redis", "rediss")


def check_engine_url(url: str) -> None:
    """Raise ValueError, naming the problem, unless ``url`` names an engine."""
    scheme, sep, _ = url.partition("://")
    if not sep or scheme not in SCHEMES:
        raise ValueError(
            f"unsupported engine URL {url!r} (use memory://, sqlite://PATH or redis://HOST:PORT/DB)"
        )
    if scheme == "sqlite":
        from livegate.engines.sqlite import parse_sqlite_url

        parse_sqlite_url(url)
    elif scheme in ("redis", "rediss"):
        from livegate.engines.redis import parse_redis_url

        parse_redis_url(url)


def open_engine(url: str, options: EngineOptions) -> Engine:
    """The engine for ``url`` (not yet started). Raises ValueError for a bad URL."""
    check_engine_url(url)
    scheme = url.split("://", 1)[0]
    if scheme == "sqlite":
        from livegate.engines.sqlite import SqliteEngine

        return SqliteEngine(url, options)
    if scheme in ("redis", "rediss"):
        from livegate.engines.redis import RedisEngine

        return RedisEngine(url, options)
    from livegate.engines.memory import MemoryEngine

    return MemoryEngine(options)
