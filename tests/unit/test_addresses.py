"""The one address policy: pure classification, no network."""

from __future__ import annotations

import pytest

from mjgate.domain.addresses import is_public_text

REFUSED = [
    "127.0.0.1",  # loopback
    "10.1.2.3",  # private
    "172.16.0.1",
    "192.168.1.1",
    "169.254.169.254",  # link-local (cloud metadata)
    "100.64.0.1",  # CGNAT
    "100.127.255.254",
    "224.0.0.1",  # multicast
    "239.255.255.250",
    "0.0.0.0",  # unspecified
    "240.0.0.1",  # reserved
    "255.255.255.255",
    "192.0.2.1",  # documentation
    "::1",
    "::",
    "fe80::1",
    "fe80::1%eth0",
    "fc00::1",  # unique local
    "ff02::1",  # multicast
    "ff0e::1",
    "2001:db8::1",  # documentation
    "::ffff:127.0.0.1",  # IPv4-mapped
    "::ffff:10.0.0.1",
    "::127.0.0.1",  # IPv4-compatible
    "::10.0.0.1",
    "64:ff9b::7f00:1",  # NAT64 of 127.0.0.1
    "64:ff9b::a00:1",  # NAT64 of 10.0.0.1
    "64:ff9b::e000:1",  # NAT64 of 224.0.0.1
    "64:ff9b:1::7f00:1",  # local-use NAT64
    "2002:7f00:1::1",  # 6to4 of 127.0.0.1
    "2002:a9fe:a9fe::1",  # 6to4 of 169.254.169.254
    "2002:6440:1::1",  # 6to4 of 100.64.0.1
    "2001:0:4136:e378:8000:63bf:80ff:fffe",  # Teredo, client 127.0.0.1
    "not an address",
    "",
]

PUBLIC = ["8.8.8.8", "1.1.1.1", "93.184.216.34", "2606:4700::1111", "2a00:1450:4001::200e"]


@pytest.mark.parametrize("address", REFUSED)
def test_non_public_addresses_and_hidden_ipv4_are_refused(address: str) -> None:
    assert not is_public_text(address)


@pytest.mark.parametrize("address", PUBLIC)
def test_global_unicast_addresses_are_public(address: str) -> None:
    assert is_public_text(address)


@pytest.mark.parametrize("address", ["::ffff:8.8.8.8", "2002:808:808::1"])
def test_an_ipv6_form_of_a_public_ipv4_is_judged_by_that_ipv4(address: str) -> None:
    assert is_public_text(address)
