"""Resolve a host once, check every answer with the address policy, and pin the result.

The HTTP client must never look the name up again: a second lookup may answer 127.0.0.1
where the first answered a public address (DNS rebinding). So the request goes to the
very address that passed the check, with the URL's host kept in the Host header and, for
https, in SNI and the certificate check. Webhooks and client-link fetches both come here.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from urllib.parse import urlsplit, urlunsplit

from mjgate.domain.addresses import is_public_text, parse_address

RESOLVE_TIMEOUT_SECONDS = 5.0

# host, port -> the addresses the name has, as text. Injectable so tests can play a DNS
# server that changes its answer between two lookups, without real DNS.
Resolver = Callable[[str, int], Awaitable[list[str]]]


async def system_resolver(host: str, port: int) -> list[str]:
    """The operating system's answer (getaddrinfo runs in the loop's thread pool)."""
    infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    # A scoped IPv6 address ("fe80::1%eth0") names its interface after '%'.
    return [str(info[4][0]).split("%", 1)[0] for info in infos]


class AddressRefused(Exception):
    """The host resolves to an address the policy does not allow."""


class ResolveFailed(OSError):
    """The host could not be resolved."""


async def resolve_checked(
    host: str, port: int, *, allow_private: bool, resolver: Resolver = system_resolver
) -> str:
    """One address of ``host`` that may be reached. Every address must be public unless
    private ones are allowed: a name with one public and one internal address is refused."""
    if not host:
        raise ResolveFailed("the URL names no host")
    literal = parse_address(host)
    try:
        addresses = (
            [str(literal)]  # an address in the URL needs no lookup
            if literal is not None
            else await asyncio.wait_for(resolver(host, port), RESOLVE_TIMEOUT_SECONDS)
        )
    except (OSError, TimeoutError, UnicodeError) as exc:
        raise ResolveFailed(f"cannot resolve {host!r}: {exc}") from exc
    if not addresses:
        raise ResolveFailed(f"{host!r} resolves to no address")
    if not allow_private:
        internal = [a for a in addresses if not is_public_text(a)]
        if internal:
            raise AddressRefused(f"{host!r} resolves to a non-public address ({internal[0]})")
    return addresses[0]


@dataclass(frozen=True)
class PinnedRequest:
    """Where to connect and what to tell the server: the URL with the checked address as
    its host, the Host header the original URL implies, and extensions for TLS."""

    url: str
    host_header: str
    extensions: dict[str, str]


def pin(url: str, address: str) -> PinnedRequest:
    parts = urlsplit(url)
    host = parts.hostname or ""
    literal = f"[{address}]" if ":" in address else address
    netloc = literal if parts.port is None else f"{literal}:{parts.port}"
    userinfo, _, host_header = parts.netloc.rpartition("@")
    if userinfo:  # credentials in the URL still go along (as Basic auth)
        netloc = f"{userinfo}@{netloc}"
    extensions = {"sni_hostname": host} if parts.scheme == "https" else {}
    return PinnedRequest(urlunsplit(parts._replace(netloc=netloc)), host_header, extensions)


def default_port(url: str) -> int:
    parts = urlsplit(url)
    return parts.port or (443 if parts.scheme == "https" else 80)


async def is_public_host(host: str, port: int, resolver: Resolver = system_resolver) -> bool:
    """Whether every address ``host`` resolves to is public (a check made at submit; the
    connection later resolves and checks again, and goes to the address it checked)."""
    try:
        await resolve_checked(host, port, allow_private=False, resolver=resolver)
    except (AddressRefused, ResolveFailed):
        return False
    return True
