"""POSTing one webhook: resolve, check the addresses, then connect to the address checked.

The host is resolved here, at delivery, even though submit checked it: DNS can change
between the two. The request then goes to the very address that passed the check (the
URL's host kept in the Host header and, for https, in SNI and certificate checks), so a
second lookup by the HTTP client cannot be answered with an internal address (DNS rebinding).

An address that passed the check is remembered for a few seconds (``RESOLVE_TTL_SECONDS``),
so a burst of pushes to one receiver costs one lookup, not one per POST, and the pooled
keep-alive connection to that address is reused. The check keeps its meaning: every POST
still goes to an address that was checked, at most that many seconds ago; a refusal or a
failed lookup is never remembered, so the next POST asks DNS again.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

import httpx

from mjgate.providers.resolution import (
    AddressRefused,
    Resolver,
    pin,
    resolve_checked,
    system_resolver,
)

RESOLVE_TTL_SECONDS = 5.0
MAX_REMEMBERED_HOSTS = 4096


@dataclass(frozen=True)
class SendResult:
    ok: bool
    status: int | None = None
    error: str | None = None
    refused: bool = False  # the target is not allowed: no retry will help


class WebhookSender:
    """One HTTP client per worker process; connections to a receiver are reused."""

    def __init__(
        self,
        *,
        timeout: float,
        allow_private: bool,
        max_connections: int,
        resolve_ttl: float = RESOLVE_TTL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._allow_private = allow_private
        self._resolver = resolver
        self._resolve_ttl = resolve_ttl
        self._clock = clock
        # (host, port) -> (checked address, until when it may be used without a new lookup)
        self._resolved: dict[tuple[str, int], tuple[str, float]] = {}
        self._client = httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,  # a redirect could point anywhere, past the check
            limits=httpx.Limits(max_connections=max_connections),
            trust_env=False,
        )

    async def post(self, url: str, body: bytes, headers: dict[str, str]) -> SendResult:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
        try:
            address = await self._address(parts.hostname or "", port)
        except AddressRefused as exc:
            return SendResult(ok=False, error=f"refused: {exc}", refused=True)
        except OSError as exc:
            return SendResult(ok=False, error=str(exc))
        pinned = pin(url, address)
        try:
            response = await self._client.post(
                pinned.url,
                content=body,
                headers={**headers, "Host": pinned.host_header, "Content-Type": "application/json"},
                extensions=pinned.extensions,
            )
        except httpx.TimeoutException as exc:
            return SendResult(ok=False, error=f"timeout: {type(exc).__name__}")
        except httpx.HTTPError as exc:
            return SendResult(ok=False, error=f"{type(exc).__name__}: {exc}"[:500])
        if 200 <= response.status_code < 300:
            return SendResult(ok=True, status=response.status_code)
        return SendResult(
            ok=False, status=response.status_code, error=f"HTTP {response.status_code}"
        )

    async def _address(self, host: str, port: int) -> str:
        now = self._clock()
        known = self._resolved.get((host, port))
        if known is not None and known[1] > now:
            return known[0]
        address = await resolve_checked(
            host, port, allow_private=self._allow_private, resolver=self._resolver
        )
        if len(self._resolved) >= MAX_REMEMBERED_HOSTS:
            # Many distinct hooks: forget the lapsed entries rather than grow without end.
            self._resolved = {k: v for k, v in self._resolved.items() if v[1] > now}
            if len(self._resolved) >= MAX_REMEMBERED_HOSTS:
                self._resolved.clear()
        self._resolved[(host, port)] = (address, now + self._resolve_ttl)
        return address

    async def close(self) -> None:
        await self._client.aclose()
