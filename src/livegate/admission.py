"""Who may open a WebSocket: the node's connection capacity and per-address limits. Pure.

The node caps its WebSocket connections below the process's file-descriptor
limit, so a crowd (or one client) can never take the descriptors the HTTP API
and ``/healthz`` need. Per-address caps are optional: a campus behind one NAT is
a real audience.
"""

from __future__ import annotations

from dataclasses import dataclass

from livegate.ratelimit import KeyedBuckets

__all__ = ["Admission", "Refusal"]


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why an upgrade was refused: ``reason`` is a machine word, ``status`` the HTTP status."""

    reason: str
    status: int
    retry_after: int
    message: str


class Admission:
    """Counts WebSocket connections, in all and per client address.

    ``admit`` either counts the connection in (the caller must ``release`` it
    exactly once when it ends) or answers a :class:`Refusal`. ``max_per_address``
    and ``rate_per_address`` of 0 mean no per-address limit.
    """

    __slots__ = ("_per_address", "_rates", "active", "max_connections", "max_per_address")

    def __init__(
        self,
        max_connections: int,
        *,
        max_per_address: int = 0,
        rate_per_address: float = 0.0,
        burst_per_address: int = 1,
    ) -> None:
        self.max_connections = max_connections
        self.max_per_address = max_per_address
        self.active = 0
        self._per_address: dict[str, int] = {}
        self._rates: KeyedBuckets[str] | None = (
            KeyedBuckets(rate_per_address, max(1, burst_per_address))
            if rate_per_address > 0
            else None
        )

    def admit(self, address: str, now: float) -> Refusal | None:
        if self.active >= self.max_connections:
            return Refusal(
                "over_capacity",
                503,
                5,
                f"this node holds its maximum of {self.max_connections} connections; "
                "retry later or elsewhere",
            )
        held = self._per_address.get(address, 0)
        if self.max_per_address and held >= self.max_per_address:
            return Refusal(
                "too_many_connections",
                429,
                5,
                f"at most {self.max_per_address} connections per client address",
            )
        if self._rates is not None:
            bucket = self._rates.get(address, now)
            if not bucket.take(now):
                return Refusal(
                    "rate_limited",
                    429,
                    bucket.retry_after(now),
                    "too many new connections from this address; slow down",
                )
        self.active += 1
        self._per_address[address] = held + 1
        return None

    def release(self, address: str) -> None:
        self.active -= 1
        held = self._per_address.get(address, 0) - 1
        if held > 0:
            self._per_address[address] = held
        else:
            self._per_address.pop(address, None)
