"""Client image inputs: data URLs and base64 decoded now, links resolved or fetched later."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

from mjgate.domain.images import ImageData, check_pixels, decode_image, is_http_url
from mjgate.errors import Base64IsInvalid, ImageTooLarge, ProviderRejected
from mjgate.providers.remote import fetch_image
from mjgate.services.runtime import Runtime
from mjgate.storage import StoredFileMissing


def decode(rt: Runtime, value: object) -> ImageData:
    return decode_image(value, rt.settings.max_image_bytes, rt.settings.max_image_pixels)


# Values shorter than this are decoded where they are: a thread hop would cost more.
OFF_LOOP_CHARS = 64 * 1024


async def decode_off_loop(rt: Runtime, value: object) -> ImageData:
    """``decode`` in a worker thread for a large value, so the event loop keeps serving."""
    if isinstance(value, str) and len(value) >= OFF_LOOP_CHARS:
        return await asyncio.to_thread(decode, rt, value)
    return decode(rt, value)


async def image_reference_off_loop(
    rt: Runtime, value: object
) -> tuple[ImageData | None, str | None, str | None]:
    """``image_reference``, in a worker thread for a large value."""
    if isinstance(value, str) and len(value) >= OFF_LOOP_CHARS:
        return await asyncio.to_thread(image_reference, rt, value)
    return image_reference(rt, value)


def image_reference(rt: Runtime, value: object) -> tuple[ImageData | None, str | None, str | None]:
    """An ``image`` field that is a data URL, base64, one of our image URLs, or a link.

    Returns (decoded image, stored key, remote URL): exactly one is set.
    """
    if isinstance(value, str) and is_http_url(value):
        key = own_image_key(rt, value)
        if key is not None:
            return None, key, None
        return None, None, value
    if isinstance(value, str) and value.startswith(("http:", "https:")):
        raise Base64IsInvalid("The image link is not an absolute http(s) URL.")
    return decode(rt, value), None, None


def own_image_key(rt: Runtime, url: str) -> str | None:
    """The storage key behind one of our own signed image URLs, whatever host it names."""
    parts = urlsplit(url)
    prefix = "/mj/image/"
    if prefix not in parts.path:
        return None
    key = unquote(parts.path.split(prefix, 1)[1])
    query = parse_qs(parts.query)
    signature = query.get("sig", [""])[0]
    try:
        expires = int(query.get("exp", ["0"])[0])
    except ValueError:
        return None
    now_seconds = rt.clock() // 1000
    if not rt.storage.verify(key, expires, signature, now_seconds):
        return None
    return key


async def load_inputs(rt: Runtime, params: Mapping[str, Any]) -> dict[str, bytes]:
    """Read a task's stored inputs and download its remote ones, for the executor."""
    loaded: dict[str, bytes] = {}
    for role, key in dict(params.get("inputs", {})).items():
        try:
            loaded[role] = rt.storage.read(str(key))
        except StoredFileMissing:
            raise ProviderRejected(f"the stored input '{role}' is gone") from None
    for role, url in dict(params.get("remote_inputs", {})).items():
        data = await fetch_image(
            rt.outbound,
            str(url),
            max_bytes=rt.settings.max_image_bytes,
            allow_private=rt.settings.allow_private_urls,
        )
        try:
            # A link is the same attack as an inline image: its header is checked before any
            # executor decodes it.
            check_pixels(data, rt.settings.max_image_pixels)
        except ImageTooLarge as exc:
            raise ProviderRejected(f"the linked '{role}' image: {exc.message}") from None
        loaded[role] = data
    return loaded
