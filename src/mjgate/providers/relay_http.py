"""The HTTP side of a relay channel: one upstream that speaks /mj, behind one client.

Errors never carry the upstream's URL or secret: they reach clients as failReasons, so
they name what went wrong ("the upstream did not answer in time"), never where.
"""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import urlsplit

import httpx

from mjgate.errors import ProviderRejected, ProviderRetryable, Refusal
from mjgate.providers.outbound import (
    OutboundError,
    OutboundFetcher,
    OutboundRefused,
    OutboundTooLarge,
    origin_of,
)
from mjgate.providers.relay_config import RelayConfig
from mjgate.providers.relay_wire import SubmitReply, read_submit_reply

LIST_BATCH = 100  # list-by-condition takes at most this many ids per call
_MEDIA_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp", "image/gif": "gif"}
_VIDEO_TYPES = {"video/mp4": "mp4", "video/webm": "webm", "video/quicktime": "mov"}


class SubmitLost(ProviderRetryable):
    """The submit was sent but no answer came: the upstream may or may not have the task."""


class UpstreamDown(ProviderRetryable):
    """The upstream could not be reached, or answered with a server error."""


def _body(response: httpx.Response) -> object:
    if response.status_code == 204 or not response.content.strip():
        return None
    try:
        return json.loads(response.content)
    except ValueError:
        return None


class RelayClient:
    def __init__(
        self,
        config: RelayConfig,
        transport: httpx.AsyncBaseTransport | None = None,
        fetcher: OutboundFetcher | None = None,
    ):
        self.config = config
        headers = (
            {"Authorization": f"Bearer {config.secret}"}
            if config.auth == "bearer"
            else {"mj-api-secret": config.secret}
        )
        self._http = httpx.AsyncClient(
            base_url=config.base_url,
            headers=headers,
            timeout=httpx.Timeout(config.poll_timeout, connect=config.connect_timeout),
            follow_redirects=False,
            transport=transport,
        )
        # Result files come through the one outbound fetcher (pinned, checked, capped):
        # they carry no credentials, since result URLs are meant to be public.
        self._owns_fetcher = fetcher is None
        self._fetcher = fetcher or OutboundFetcher(connect_timeout=config.connect_timeout)
        self.requests = 0  # every call made upstream, for the bench and tests

    async def close(self) -> None:
        await self._http.aclose()
        if self._owns_fetcher:
            await self._fetcher.close()

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        self.requests += 1
        try:
            return await self._http.request(method, path, **kwargs)
        except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
            raise UpstreamDown("the upstream could not be reached") from exc
        except httpx.TimeoutException as exc:
            raise SubmitLost("the upstream did not answer in time") from exc
        except httpx.HTTPError as exc:
            raise SubmitLost(f"the upstream connection failed ({type(exc).__name__})") from exc

    async def submit(self, route: str, body: dict[str, Any]) -> SubmitReply:
        """POST a submit. Before the request was sent, failures say UNAVAILABLE."""
        try:
            path = f"/mj/{route}" if "/" in route else f"/mj/submit/{route}"
            response = await self._call("POST", path, json=body, timeout=self.config.submit_timeout)
        except UpstreamDown as exc:
            return SubmitReply(False, refusal=Refusal.UNAVAILABLE, reason=exc.message)
        return read_submit_reply(response.status_code, _body(response))

    async def list_tasks(self, ids: list[str]) -> object:
        """The upstream's tasks among ``ids`` (at most ``LIST_BATCH``), as it sent them."""
        assert len(ids) <= LIST_BATCH
        response = await self._call("POST", "/mj/task/list-by-condition", json={"ids": ids})
        return self._read(response)

    async def fetch(self, upstream_id: str) -> object:
        response = await self._call("GET", f"/mj/task/{upstream_id}/fetch")
        if response.status_code == 404:
            return None
        return self._read(response)

    async def image_seed(self, upstream_id: str) -> str:
        response = await self._call("GET", f"/mj/task/{upstream_id}/image-seed")
        body = _body(response)
        if isinstance(body, dict) and body.get("code") == 1 and body.get("result"):
            return str(body["result"])
        raise ProviderRejected("the upstream has no seed for this task")

    async def cancel(self, upstream_id: str) -> None:
        await self._call("POST", f"/mj/task/{upstream_id}/cancel")

    def _read(self, response: httpx.Response) -> object:
        if response.status_code >= 500:
            raise UpstreamDown(f"the upstream answered HTTP {response.status_code}")
        if response.status_code in (401, 403):
            raise UpstreamDown("the upstream refused our credentials")
        return _body(response)

    async def download(self, url: str, *, video: bool) -> tuple[bytes, str]:
        """A result file from a host the channel allows: its bytes and extension."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        if parts.scheme not in ("http", "https") or host not in self.config.allowed_media_hosts:
            raise ProviderRejected("the upstream's result is on a host this channel does not allow")
        kinds = _VIDEO_TYPES if video else _MEDIA_TYPES
        self.requests += 1
        try:
            fetched = await self._fetcher.fetch(
                url,
                max_bytes=self.config.media_max_bytes,
                time_limit=self.config.media_timeout,
                allow_private=self.config.allow_private_media,
                # The upstream's own scheme, host and port: the operator named it, so it
                # may be on their own network; every other private host stays refused.
                trusted_origin=origin_of(self.config.base_url),
            )
        except OutboundRefused as exc:
            raise ProviderRejected("the upstream's result is on a private address") from exc
        except OutboundTooLarge as exc:
            raise ProviderRejected("a result file is larger than this channel allows") from exc
        except OutboundError as exc:
            raise ProviderRetryable("a result file could not be downloaded") from exc
        if fetched.content_type not in kinds:
            raise ProviderRejected(f"a result file has an unexpected type {fetched.content_type!r}")
        return fetched.data, kinds[fetched.content_type]
