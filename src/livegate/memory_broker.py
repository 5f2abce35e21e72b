"""The in-memory broker: delivers within this process, synchronously."""

from __future__ import annotations

from livegate.broker import MessageHandler

__all__ = ["MemoryBroker"]


class MemoryBroker:
    """Implements :class:`livegate.broker.Broker` for a single node.

    ``publish`` calls the handler before it returns, so messages are delivered
    in exactly the order they were published.
    """

    def __init__(self) -> None:
        self._handler: MessageHandler | None = None
        self._channels: set[str] = set()

    async def start(self, on_message: MessageHandler) -> None:
        self._handler = on_message

    async def subscribe(self, channel: str) -> None:
        self._channels.add(channel)

    async def unsubscribe(self, channel: str) -> None:
        self._channels.discard(channel)

    async def publish(self, channel: str, message: bytes) -> None:
        if self._handler is not None and channel in self._channels:
            self._handler(channel, message)

    async def close(self) -> None:
        self._handler = None
        self._channels.clear()
