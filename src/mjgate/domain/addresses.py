"""The one address policy: which IP addresses mjgate may connect to on a client's behalf.

Webhook deliveries and every fetch of a client's link use it, so an address refused for
one is refused for all. An address is public only when it is global unicast. IPv6 forms
that carry an IPv4 address inside (mapped, compatible, NAT64, 6to4, Teredo) are judged by
that IPv4 address: ``64:ff9b::7f00:1`` is 127.0.0.1 to whatever translates it, and
``ipaddress`` alone calls some of these forms global.
"""

from __future__ import annotations

import ipaddress
from ipaddress import IPv4Address, IPv6Address

_CGNAT = ipaddress.ip_network("100.64.0.0/10")
_NAT64 = ipaddress.ip_network("64:ff9b::/96")  # RFC 6052 well-known prefix
_NAT64_LOCAL = ipaddress.ip_network("64:ff9b:1::/48")  # RFC 8215 local-use prefix
_SIX_TO_FOUR = ipaddress.ip_network("2002::/16")  # RFC 3056
_TEREDO = ipaddress.ip_network("2001::/32")  # RFC 4380
_IPV4_COMPATIBLE = ipaddress.ip_network("::/96")  # deprecated ::a.b.c.d (RFC 4291)


def parse_address(text: str) -> IPv4Address | IPv6Address | None:
    """The address in ``text`` (a scope "%eth0" dropped), or None when it is not one."""
    try:
        return ipaddress.ip_address(text.split("%", 1)[0])
    except ValueError:
        return None


def embedded_ipv4(address: IPv6Address) -> list[IPv4Address]:
    """The IPv4 addresses an IPv6 address carries, by every form that carries one."""
    found: list[IPv4Address] = []
    if address.ipv4_mapped is not None:
        found.append(address.ipv4_mapped)
    packed = address.packed
    if address in _IPV4_COMPATIBLE and address not in (IPv6Address("::"), IPv6Address("::1")):
        found.append(IPv4Address(packed[12:]))
    if address in _NAT64:
        found.append(IPv4Address(packed[12:]))
    if address in _NAT64_LOCAL:
        # RFC 6052 §2.2 for a /48 prefix: 16 bits of IPv4 at bytes 6-7, then bits 64-71
        # are zero, then the other 16 bits at bytes 9-10.
        found.append(IPv4Address(packed[6:8] + packed[9:11]))
        found.append(IPv4Address(packed[12:]))  # a translator using the /96 layout
    if address in _SIX_TO_FOUR:
        found.append(IPv4Address(packed[2:6]))
    if address in _TEREDO:
        found.append(IPv4Address(bytes(b ^ 0xFF for b in packed[12:])))  # the client's IPv4
        found.append(IPv4Address(packed[4:8]))  # the Teredo server's IPv4
    return found


def _public_ipv4(address: IPv4Address) -> bool:
    return address.is_global and not address.is_multicast and address not in _CGNAT


def is_public(address: IPv4Address | IPv6Address) -> bool:
    """Whether mjgate may connect to ``address`` for a client: global unicast only, and
    every IPv4 address hidden inside an IPv6 one public too."""
    if isinstance(address, IPv4Address):
        return _public_ipv4(address)
    if not address.is_global or address.is_multicast:
        return False
    return all(_public_ipv4(inner) for inner in embedded_ipv4(address))


def is_public_text(text: str) -> bool:
    """``is_public`` for an address written as text; anything not an address is refused."""
    address = parse_address(text)
    return address is not None and is_public(address)
