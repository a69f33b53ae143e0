"""Which address a request without a known token counts under."""

from __future__ import annotations

from typing import Any

from mjgate.api.client_address import client_address
from mjgate.api.rate_limit_step import READ, SUBMIT, proves_token, request_kind

PROXY = frozenset({"10.0.0.1", "10.0.0.2"})


def scope(peer: str | None, forwarded: str | None = None, **extra: Any) -> dict[str, Any]:
    headers = [(b"x-forwarded-for", forwarded.encode())] if forwarded is not None else []
    return {"client": (peer, 1234) if peer else None, "headers": headers, **extra}


def test_the_peer_counts_unless_it_is_a_trusted_proxy() -> None:
    assert client_address(scope("203.0.113.5", "198.51.100.7"), frozenset()) == "203.0.113.5"
    assert client_address(scope("10.0.0.1", "198.51.100.7"), PROXY) == "198.51.100.7"


def test_only_the_hops_the_proxies_added_are_believed() -> None:
    # The client wrote "1.2.3.4"; our two proxies appended the real client, then each other.
    forwarded = "1.2.3.4, 198.51.100.7, 10.0.0.2"
    assert client_address(scope("10.0.0.1", forwarded), PROXY) == "198.51.100.7"
    assert client_address(scope("10.0.0.1", "10.0.0.2"), PROXY) == "10.0.0.1"  # all trusted
    assert client_address(scope("10.0.0.1"), PROXY) == "10.0.0.1"  # no header


def test_ipv6_counts_per_64_and_mapped_ipv4_as_ipv4() -> None:
    assert client_address(scope("2001:db8:1:2::5"), frozenset()) == "2001:db8:1:2::/64"
    assert client_address(scope("2001:db8:1:2:ffff::9"), frozenset()) == "2001:db8:1:2::/64"
    assert client_address(scope("::ffff:203.0.113.5"), frozenset()) == "203.0.113.5"
    assert client_address(scope(None), frozenset()) == "local"


def test_requests_are_reads_submits_or_unlimited() -> None:
    def kind(method: str, path: str) -> str | None:
        return request_kind({"method": method, "path": path})

    assert kind("GET", "/mj/task/1/fetch") == READ
    assert kind("POST", "/mj/task/list-by-condition") == READ
    assert kind("POST", "/mj/submit/imagine") == SUBMIT
    assert kind("POST", "/mj-turbo/mj/submit/blend") == SUBMIT
    assert kind("POST", "/mj/insight-face/swap") == SUBMIT
    assert kind("GET", "/mj/submit/imagine") == READ  # a 405, a read's cost
    assert kind("GET", "/healthz") is None
    assert kind("POST", "/mj/relay/callback/1/sig") is None
    assert proves_token({"method": "GET", "path": "/mj-fast/mj/task/1/fetch"})
    assert not proves_token({"method": "GET", "path": "/mj/image/abc"})
    assert not proves_token({"method": "OPTIONS", "path": "/mj/task/1/fetch"})
    assert not proves_token({"method": "GET", "path": "/docs"})
