"""The REST side of one Discord account: interactions, commands, uploads, messages, files.

Every base URL is the operator's choice (Discord itself, a reverse proxy, the simulator), so
loopback bases are fine here. The well-known Discord origins found inside Discord's answers
(upload URLs, CDN links, the Vary (Region) host) are rewritten to the configured bases.

The token goes only to the API base, raw in ``Authorization`` (no ``Bearer``): never to the
upload storage, the CDN or the iframe host, and never into an error message.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from typing import Any
from urllib.parse import quote

import httpx
import orjson

from mjgate.providers.discord.errors import (
    AccountRefused,
    CommandVersionStale,
    DiscordFailed,
    DiscordUnavailable,
)

DEFAULT_API_URL = "https://discord.com/api/v9"
UPLOAD_ORIGIN = "https://discord-attachments-uploads-prd.storage.googleapis.com"
CDN_ORIGINS = ("https://cdn.discordapp.com", "https://media.discordapp.net")
IFRAME_ORIGIN = "https://936929561302675456.discordsays.com"
STALE_VERSION = "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION"
_MESSAGE_LIMIT = 300  # Discord's text in an error, at most this many characters


def rewrite_origin(url: str, origins: tuple[str, ...], base: str | None) -> str:
    """``url`` with a leading well-known origin replaced by ``base`` (when one is set)."""
    if base is None:
        return url
    for origin in origins:
        if url == origin or url.startswith(origin + "/"):
            return base.rstrip("/") + url[len(origin) :]
    return url


def _json(response: httpx.Response) -> Any:
    try:
        return orjson.loads(response.content) if response.content else None
    except orjson.JSONDecodeError:
        return None


def _mentions(value: Any, code: str) -> bool:
    """Whether ``code`` appears anywhere in Discord's nested ``errors`` object."""
    if isinstance(value, Mapping):
        return any(_mentions(item, code) for item in value.values())
    if isinstance(value, list):
        return any(_mentions(item, code) for item in value)
    return isinstance(value, str) and value == code


class DiscordRest:
    """One account's HTTP client over one pooled ``httpx.AsyncClient``."""

    def __init__(
        self,
        *,
        api_url: str = DEFAULT_API_URL,
        token: str,
        user_agent: str,
        cdn_url: str | None = None,
        upload_url: str | None = None,
        iframe_url: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 30.0,
        max_retries_429: int = 3,
        max_retry_after: float = 10.0,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self._api_url = api_url.rstrip("/")
        self._token = token
        self._cdn_url = cdn_url
        self._upload_url = upload_url
        self._iframe_url = (iframe_url or IFRAME_ORIGIN).rstrip("/")
        self._owns_client = client is None
        # No Authorization among the client's defaults: it is added per API call only, so
        # it cannot leak to the storage, CDN or iframe hosts.
        self._http = client or httpx.AsyncClient(
            timeout=httpx.Timeout(timeout),
            follow_redirects=False,
            trust_env=False,
        )
        self._user_agent = user_agent
        self._max_retries_429 = max_retries_429
        self._max_retry_after = max_retry_after
        self._sleep = sleep
        self.requests = 0  # every HTTP request made, for tests

    def __repr__(self) -> str:
        return f"DiscordRest(api_url={self._api_url!r})"

    async def close(self) -> None:
        if self._owns_client:
            await self._http.aclose()

    # -- the API, with the token ------------------------------------------------------------

    async def post_interaction(self, payload: Mapping[str, Any]) -> None:
        """Post a slash command, button click or modal submit (Discord answers 204)."""
        await self._api("POST", "/interactions", json=payload)

    async def command_index(self, guild_id: str) -> Mapping[str, Any]:
        """Every application's commands in the guild, with their current ids and versions."""
        body = _json(await self._api("GET", f"/guilds/{guild_id}/application-command-index"))
        if not isinstance(body, Mapping):
            raise DiscordUnavailable("Discord answered the command index with no JSON object")
        return body

    async def recent_messages(self, channel_id: str, limit: int = 50) -> list[Mapping[str, Any]]:
        """The channel's latest messages, newest first (to catch up after a gap)."""
        response = await self._api("GET", f"/channels/{channel_id}/messages?limit={limit}")
        body = _json(response)
        if not isinstance(body, list):
            raise DiscordUnavailable("Discord answered the message list with no JSON list")
        return [message for message in body if isinstance(message, Mapping)]

    async def post_message(self, channel_id: str, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """Post a message (reference images: their CDN links go into a prompt); the message."""
        body = _json(await self._api("POST", f"/channels/{channel_id}/messages", json=payload))
        if not isinstance(body, Mapping):
            raise DiscordUnavailable("Discord answered the message post with no JSON object")
        return body

    async def add_reaction(self, channel_id: str, message_id: str, emoji: str) -> None:
        """React to a message (✉️ on a result asks the bot for its seed by direct message)."""
        path = f"/channels/{channel_id}/messages/{message_id}/reactions/{quote(emoji)}/@me"
        await self._api("PUT", path)

    async def upload(self, channel_id: str, filename: str, data: bytes) -> str:
        """Upload a file for an interaction; the ``uploaded_filename`` to reference it by."""
        files = {"files": [{"filename": filename, "file_size": len(data), "id": "0"}]}
        body = _json(await self._api("POST", f"/channels/{channel_id}/attachments", json=files))
        try:
            slot = body["attachments"][0]
            put_url, uploaded = str(slot["upload_url"]), str(slot["upload_filename"])
        except (KeyError, IndexError, TypeError) as exc:
            raise DiscordUnavailable("Discord answered the upload request without a slot") from exc
        target = rewrite_origin(put_url, (UPLOAD_ORIGIN,), self._upload_url)
        response = await self._send(
            "PUT",
            target,
            content=data,
            headers={"Content-Type": "application/octet-stream"},
            what="the upload storage",
        )
        if response.status_code not in (200, 201, 204):
            raise self._other_host_error(response, "the upload storage")
        return uploaded

    # -- other hosts, without the token -----------------------------------------------------

    async def download(self, url: str, max_bytes: int) -> tuple[bytes, str | None]:
        """A file from Discord's CDN (rewritten to ``cdn_url``): its bytes and content type."""
        target = rewrite_origin(url, CDN_ORIGINS, self._cdn_url)
        allowed = (*CDN_ORIGINS, *([self._cdn_url.rstrip("/")] if self._cdn_url else []))
        if not any(target.startswith(origin + "/") for origin in allowed):
            raise DiscordFailed("the result file is not on Discord's CDN")
        self.requests += 1
        try:
            async with self._http.stream(
                "GET", target, headers={"User-Agent": self._user_agent}
            ) as response:
                if response.status_code == 404:
                    raise DiscordFailed("the result file is gone")
                if response.status_code != 200:
                    raise self._other_host_error(response, "Discord's CDN")
                declared = response.headers.get("content-length", "")
                if declared.isdigit() and int(declared) > max_bytes:
                    raise DiscordFailed(f"the result file is larger than {max_bytes} bytes")
                data = bytearray()
                async for chunk in response.aiter_bytes():
                    data.extend(chunk)
                    if len(data) > max_bytes:
                        raise DiscordFailed(f"the result file is larger than {max_bytes} bytes")
                kind = response.headers.get("content-type")
                return bytes(data), kind.split(";")[0].strip().lower() if kind else None
        except httpx.HTTPError as exc:
            raise DiscordUnavailable(
                f"Discord's CDN could not be reached ({type(exc).__name__})"
            ) from exc

    async def submit_iframe_job(self, payload: Mapping[str, Any]) -> None:
        """Submit a Vary (Region) job to Midjourney's editor host (HTTP 200 means accepted)."""
        response = await self._send(
            "POST",
            f"{self._iframe_url}/inpaint/api/submit-job",
            content=orjson.dumps(payload),
            headers={"Content-Type": "application/json"},
            what="the Vary (Region) host",
        )
        if response.status_code != 200:
            raise self._other_host_error(response, "the Vary (Region) host")

    # -- plumbing ---------------------------------------------------------------------------

    async def _send(self, method: str, url: str, *, what: str, **kwargs: Any) -> httpx.Response:
        headers = {"User-Agent": self._user_agent, **kwargs.pop("headers", {})}
        self.requests += 1
        try:
            return await self._http.request(method, url, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise DiscordUnavailable(f"{what} could not be reached ({type(exc).__name__})") from exc

    async def _api(
        self, method: str, path: str, *, json: Mapping[str, Any] | None = None
    ) -> httpx.Response:
        """One API call with the token, waiting out a few 429s; raises on any refusal."""
        headers = {"Authorization": self._token}
        content = None
        if json is not None:
            headers["Content-Type"] = "application/json"
            content = orjson.dumps(json)
        for attempt in range(self._max_retries_429 + 1):
            response = await self._send(
                method, self._api_url + path, content=content, headers=headers, what="Discord"
            )
            if response.status_code in (200, 201, 204):
                return response
            if response.status_code != 429:
                raise self._api_error(response)
            if attempt < self._max_retries_429:
                await self._sleep(self._retry_after(response))
        raise DiscordUnavailable(f"Discord kept rate-limiting (429 {self._max_retries_429 + 1}x)")

    def _retry_after(self, response: httpx.Response) -> float:
        body = _json(response)
        wait: Any = body.get("retry_after") if isinstance(body, Mapping) else None
        if wait is None:
            wait = response.headers.get("retry-after")
        try:
            seconds = float(wait)
        except (TypeError, ValueError):
            seconds = 1.0
        return min(max(seconds, 0.0), self._max_retry_after)

    def _clean(self, text: str) -> str:
        # Discord's own words go into failReasons: make sure the token can never ride along.
        cleaned = text.replace(self._token, "[token]") if self._token else text
        return cleaned[:_MESSAGE_LIMIT]

    def _api_error(self, response: httpx.Response) -> Exception:
        status = response.status_code
        body = _json(response)
        body = body if isinstance(body, Mapping) else {}
        message = self._clean(str(body.get("message") or f"HTTP {status}"))
        code = body.get("code")
        said = f"{message} (code {code})" if code is not None else message
        if status == 400 and _mentions(body.get("errors"), STALE_VERSION):
            return CommandVersionStale("the Midjourney command id or version is stale")
        if status == 401:
            return AccountRefused("Discord refused the token (401)")
        if status == 403:
            return AccountRefused(f"Discord refused the account: {said} (403)")
        if status >= 500:
            return DiscordUnavailable(f"Discord answered HTTP {status}")
        return DiscordFailed(said)

    def _other_host_error(self, response: httpx.Response, what: str) -> Exception:
        status = response.status_code
        if status >= 500 or status == 429:
            return DiscordUnavailable(f"{what} answered HTTP {status}")
        body = _json(response)
        message = body.get("message") if isinstance(body, Mapping) else None
        detail = f": {self._clean(str(message))}" if message else ""
        return DiscordFailed(f"{what} refused the request (HTTP {status}){detail}")
