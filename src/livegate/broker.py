"""The broker seam: carries already-encoded messages between nodes by channel.

A broker is chosen by URL (``memory://`` is the default and serves one node).
A channel is an event id. The payload crossing the broker is the encoded server
message, so no receiving node re-encodes it.

Guarantees every implementation must give:

- After ``subscribe(channel)`` returns, every message later published on that
  channel reaches ``on_message`` once, in publish order per publisher, until
  ``unsubscribe(channel)``.
- ``on_message`` is called from the event loop and must not block.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

__all__ = ["Broker", "MessageHandler", "open_broker"]

MessageHandler = Callable[[str, bytes], None]
"""Called with (channel, encoded message) for each message of a subscribed channel."""


class Broker(Protocol):
    async def start(self, on_message: MessageHandler) -> None:
        """Connect; deliver messages of subscribed channels to ``on_message``."""
        ...

    async def subscribe(self, channel: str) -> None: ...

    async def unsubscribe(self, channel: str) -> None: ...

    async def publish(self, channel: str, message: bytes) -> None:
        """Send ``message`` to every node subscribed to ``channel`` (this one included)."""
        ...

    async def close(self) -> None: ...


def open_broker(url: str) -> Broker:
    """The broker for ``url``. Raises ValueError for an unknown scheme."""
    scheme = url.split("://", 1)[0]
    if scheme == "memory":
        from livegate.memory_broker import MemoryBroker

        return MemoryBroker()
    raise ValueError(f"unsupported broker URL {url!r} (this build supports memory://)")
