"""Which address a request comes from, behind trusted proxies or not. Pure."""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable

__all__ = ["ClientAddresses", "parse_networks"]

Network = ipaddress.IPv4Network | ipaddress.IPv6Network


def parse_networks(specs: Iterable[str]) -> list[Network]:
    """Parse addresses or CIDR blocks (``10.0.0.0/8``, ``127.0.0.1``, ``::1``).

    Raises ValueError naming the first one that is not an address or a block.
    """
    networks: list[Network] = []
    for spec in specs:
        spec = spec.strip()
        if not spec:
            continue
        try:
            networks.append(ipaddress.ip_network(spec, strict=False))
        except ValueError:
            raise ValueError(f"{spec!r} is not an IP address or CIDR block") from None
    return networks


class ClientAddresses:
    """Resolves a request's client address.

    The peer address is the client, unless the peer is one of ``trusted``
    proxies: then ``X-Forwarded-For`` is read from the right (the hop nearest to
    us) and the first address that is not a trusted proxy is the client. A
    header from an untrusted peer is ignored, so nobody can pick their own
    address by sending one.
    """

    __slots__ = ("_trusted",)

    def __init__(self, trusted: Iterable[Network] = ()) -> None:
        self._trusted = tuple(trusted)

    def _is_trusted(self, address: str) -> bool:
        if not self._trusted:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in network for network in self._trusted)

    def resolve(self, peer: str | None, forwarded_for: str | None) -> str:
        """The client's address ("unknown" when the transport has none)."""
        client = peer or "unknown"
        if forwarded_for is None or not self._is_trusted(client):
            return client
        for hop in reversed(forwarded_for.split(",")):
            hop = hop.strip()
            try:
                ipaddress.ip_address(hop)
            except ValueError:
                break  # garbage past the trusted hops: keep the last good one
            client = hop
            if not self._is_trusted(hop):
                break
        return client
