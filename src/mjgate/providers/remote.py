"""Downloading an image a client named by URL, with the limits an open fetcher needs."""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from urllib.parse import urlsplit

import httpx

from mjgate.domain.images import sniff_image_type
from mjgate.errors import ProviderRejected

FETCH_TIMEOUT_SECONDS = 20.0
RESOLVE_TIMEOUT_SECONDS = 5.0


async def is_public_host(host: str) -> bool:
    """Whether every address the host resolves to is a public one (no SSRF into our network)."""
    try:
        infos = await asyncio.wait_for(
            asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM),
            RESOLVE_TIMEOUT_SECONDS,
        )
    except (OSError, TimeoutError, UnicodeError):
        return False
    # A scoped IPv6 address ("fe80::1%eth0") names its interface after '%'.
    addresses = {str(info[4][0]).split("%", 1)[0] for info in infos}
    return bool(addresses) and all(ipaddress.ip_address(a).is_global for a in addresses)


async def fetch_image(url: str, *, max_bytes: int, allow_private: bool) -> bytes:
    host = urlsplit(url).hostname or ""
    if not allow_private and not await is_public_host(host):
        raise ProviderRejected(f"the image host {host!r} is not a public address")
    try:
        async with (
            httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS, follow_redirects=False) as client,
            client.stream("GET", url) as response,
        ):
            if response.status_code != 200:
                raise ProviderRejected(f"the image URL answered HTTP {response.status_code}")
            data = bytearray()
            async for chunk in response.aiter_bytes():
                data.extend(chunk)
                if len(data) > max_bytes:
                    raise ProviderRejected("the image at the URL is larger than allowed")
    except httpx.HTTPError as exc:
        raise ProviderRejected(f"the image URL could not be downloaded: {exc}") from exc
    if sniff_image_type(bytes(data)) is None:
        raise ProviderRejected("the URL did not return a PNG, JPEG, WEBP or GIF image")
    return bytes(data)
