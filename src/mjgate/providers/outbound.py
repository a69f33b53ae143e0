"""The one outbound HTTP component for every fetch mjgate makes on a client's behalf.

A client's image link (describe ``link``, edits and video ``image``) and a relay's result
files all come through ``OutboundFetcher.fetch``:

- the host is resolved once, every answer checked by the address policy, and the request
  goes to exactly the address checked (TLS still verifies the name; SNI carries it);
- redirects are followed at most ``MAX_REDIRECTS`` times, each target checked afresh;
- the body is streamed and the fetch stops at the byte cap; the whole fetch has a time cap;
- a compressed body is refused (a few kilobytes of gzip can inflate to gigabytes);
- errors carry the detail for the operator's log only: what clients see must not tell
  what answered (a status, "connection refused"), or the fetcher becomes a port scanner.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import httpx

from mjgate.providers.resolution import (
    AddressRefused,
    ResolveFailed,
    Resolver,
    default_port,
    pin,
    resolve_checked,
    system_resolver,
)

MAX_REDIRECTS = 3
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
Origin = tuple[str, str, int]  # scheme, host, port


def origin_of(url: str) -> Origin:
    parts = urlsplit(url)
    return parts.scheme.lower(), (parts.hostname or "").lower(), default_port(url)


class OutboundError(Exception):
    """A fetch that did not bring a body. ``detail`` is for logs, never for clients."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class OutboundRefused(OutboundError):
    """The URL (or a redirect) leads to an address or scheme the policy does not allow."""


class OutboundTooLarge(OutboundError):
    """The body outgrew the byte cap."""


class OutboundFailed(OutboundError):
    """Anything else: no answer, not 200, too slow, an encoding we do not accept."""


@dataclass(frozen=True)
class Fetched:
    data: bytes
    content_type: str  # the media type alone, lower case ("image/png")


class OutboundFetcher:
    """One pooled HTTP client per process; every connection goes to a checked address."""

    def __init__(self, *, resolver: Resolver = system_resolver, connect_timeout: float = 5.0):
        self._resolver = resolver
        self._client = httpx.AsyncClient(
            follow_redirects=False,  # each hop is checked here instead
            trust_env=False,  # a proxy from the environment would do its own lookup
            timeout=httpx.Timeout(30.0, connect=connect_timeout),
            headers={"Accept-Encoding": "identity"},
            # The pool keys connections by the address we pin to, not by the name: a kept
            # https connection, verified for one name, would be reused for another name on
            # that address without its certificate being checked. So: one connection a fetch.
            limits=httpx.Limits(max_keepalive_connections=0),
        )

    async def close(self) -> None:
        await self._client.aclose()

    async def fetch(
        self,
        url: str,
        *,
        max_bytes: int,
        time_limit: float,
        allow_private: bool = False,
        trusted_origin: Origin | None = None,
    ) -> Fetched:
        """GET ``url``'s body, at most ``max_bytes`` within ``time_limit`` seconds.

        ``allow_private`` lifts the address policy (the operator's setting);
        ``trusted_origin`` lifts it for that one scheme, host and port only (a relay's
        own upstream, which the operator named).
        """
        try:
            async with asyncio.timeout(time_limit):
                return await self._follow(url, max_bytes, allow_private, trusted_origin)
        except TimeoutError as exc:
            raise OutboundFailed(f"no complete answer within {time_limit:g}s") from exc

    async def _follow(
        self, url: str, max_bytes: int, allow_private: bool, trusted_origin: Origin | None
    ) -> Fetched:
        for _hop in range(MAX_REDIRECTS + 1):
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise OutboundRefused(f"not an absolute http(s) URL: {url[:200]!r}")
            private_ok = allow_private or origin_of(url) == trusted_origin
            try:
                address = await resolve_checked(
                    parts.hostname,
                    default_port(url),
                    allow_private=private_ok,
                    resolver=self._resolver,
                )
            except AddressRefused as exc:
                raise OutboundRefused(str(exc)) from exc
            except ResolveFailed as exc:
                raise OutboundFailed(str(exc)) from exc
            location = await self._get(url, address, max_bytes)
            if isinstance(location, Fetched):
                return location
            url = urljoin(url, location)
        raise OutboundFailed(f"more than {MAX_REDIRECTS} redirects")

    async def _get(self, url: str, address: str, max_bytes: int) -> Fetched | str:
        """The body, or where a redirect points."""
        pinned = pin(url, address)
        try:
            async with self._client.stream(
                "GET",
                pinned.url,
                headers={"Host": pinned.host_header},
                extensions=pinned.extensions,
            ) as response:
                if response.status_code in _REDIRECTS and response.headers.get("location"):
                    return response.headers["location"]
                if response.status_code != 200:
                    raise OutboundFailed(f"HTTP {response.status_code}")
                encoding = response.headers.get("content-encoding", "identity").strip().lower()
                if encoding not in ("", "identity"):
                    raise OutboundFailed(f"a compressed body ({encoding})")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise OutboundTooLarge(f"declared {declared} bytes")
                data = bytearray()
                async for chunk in response.aiter_raw():
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise OutboundTooLarge(f"more than {max_bytes} bytes")
                kind = response.headers.get("content-type", "").split(";")[0].strip().lower()
                return Fetched(bytes(data), kind)
        except httpx.HTTPError as exc:
            raise OutboundFailed(f"{type(exc).__name__}: {exc}"[:300]) from exc
