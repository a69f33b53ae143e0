"""Downloading an image a client named by URL, through the one outbound fetcher."""

from __future__ import annotations

import logging

from mjgate.domain.images import sniff_image_type
from mjgate.errors import ProviderRejected
from mjgate.providers.outbound import OutboundError, OutboundFetcher, OutboundTooLarge

FETCH_TIMEOUT_SECONDS = 20.0
# One sentence for every way a link can fail: which way it failed (refused address, closed
# port, HTTP 404, a slow answer) would tell a client what lives behind a name.
LINK_NOT_FETCHED = "the image link could not be fetched"

log = logging.getLogger(__name__)


async def fetch_image(
    fetcher: OutboundFetcher, url: str, *, max_bytes: int, allow_private: bool
) -> bytes:
    try:
        fetched = await fetcher.fetch(
            url, max_bytes=max_bytes, time_limit=FETCH_TIMEOUT_SECONDS, allow_private=allow_private
        )
    except OutboundTooLarge as exc:
        log.info("image link refused: %s", exc.detail)
        raise ProviderRejected("the image at the link is larger than allowed") from exc
    except OutboundError as exc:
        log.info("image link not fetched: %s", exc.detail)
        raise ProviderRejected(LINK_NOT_FETCHED) from exc
    if sniff_image_type(fetched.data) is None:
        raise ProviderRejected("the link did not return a PNG, JPEG, WEBP or GIF image")
    return fetched.data
