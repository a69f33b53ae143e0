"""The address a request counts under when it carries no known-good token.

The socket's peer, unless that peer is a proxy the operator listed
(``MJGATE_TRUSTED_PROXIES``): then the ``X-Forwarded-For`` entry that proxy added, read from
the right past any further trusted proxies. Entries further left are whatever the client
wrote, so they are never believed. uvicorn runs with its own proxy-header handling off
(``mjgate.cli``), so the peer in the scope is the real socket.

IPv6 clients count per /64: one host is commonly handed a whole /64, and per-address keys
would give it 2^64 budgets.
"""

from __future__ import annotations

import ipaddress

from starlette.types import Scope


def client_address(scope: Scope, trusted_proxies: frozenset[str]) -> str:
    client = scope.get("client")
    peer = client[0] if client else "local"
    if peer in trusted_proxies:
        peer = _forwarded_for(scope, peer, trusted_proxies)
    return _budget_key(peer)


def _forwarded_for(scope: Scope, peer: str, trusted_proxies: frozenset[str]) -> str:
    hops: list[str] = []
    for name, value in scope["headers"]:
        if name == b"x-forwarded-for":
            hops.extend(h.strip() for h in value.decode("latin-1").split(","))
    for hop in reversed(hops):
        if hop and hop not in trusted_proxies:
            return hop
    return peer


def _budget_key(address: str) -> str:
    try:
        parsed = ipaddress.ip_address(address)
    except ValueError:
        return address[:64]
    if isinstance(parsed, ipaddress.IPv6Address):
        if parsed.ipv4_mapped is not None:
            return str(parsed.ipv4_mapped)
        return str(ipaddress.IPv6Network((parsed, 64), strict=False))
    return str(parsed)
