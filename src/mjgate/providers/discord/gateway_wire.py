"""What goes over the gateway websocket, without the socket: URLs, payloads, close codes
and the zlib-stream decoder. Pure, so each piece is tested on its own."""

from __future__ import annotations

import re
import zlib
from typing import Any

import orjson

DEFAULT_GATEWAY_URL = "wss://gateway.discord.gg"
CAPABILITIES = 16381  # what Discord's web client announces
CLIENT_BUILD_NUMBER = 350_000  # the web client's build number; a setting, this is a default
ZLIB_SUFFIX = b"\x00\x00\xff\xff"  # every zlib-stream message ends with a sync flush
# Our own close when we mean to come back. Not 1000/1001: those end the session on Discord's
# side, so a RESUME after them would fail.
RECONNECT_CLOSE = 4000

# Close codes after which reconnecting cannot help: the account leaves service.
FATAL_CLOSES = {
    4004: "Discord refused the token (gateway close 4004: authentication failed)",
    4010: "the gateway refused the session (close 4010: invalid shard)",
    4011: "the gateway refused the session (close 4011: sharding required)",
    4012: "the gateway refused the session (close 4012: invalid API version)",
    4013: "the gateway refused the session (close 4013: invalid intents)",
    4014: "the gateway refused the session (close 4014: disallowed intents)",
}
NOT_AUTHENTICATED = 4003  # once: start a fresh session; twice in a row: the token is bad
FRESH_SESSION_CLOSES = {4007, 4009}  # invalid seq, session timed out: identify again


def gateway_url(base: str, *, compress: bool) -> str:
    query = "/?encoding=json&v=9" + ("&compress=zlib-stream" if compress else "")
    return base.rstrip("/") + query


def frame(op: int, data: Any) -> str:
    return orjson.dumps({"op": op, "d": data}).decode()


def identify(token: str, user_agent: str, client_build_number: int) -> dict[str, Any]:
    """IDENTIFY's ``d`` as Discord's web client in Chrome on Windows sends it."""
    chrome = re.search(r"Chrome/([\d.]+)", user_agent)
    return {
        "token": token,
        "capabilities": CAPABILITIES,
        "properties": {
            "os": "Windows",
            "browser": "Chrome",
            "device": "",
            "system_locale": "en-US",
            "browser_user_agent": user_agent,
            "browser_version": chrome.group(1) if chrome else "",
            "os_version": "10",
            "referrer": "",
            "referring_domain": "",
            "referrer_current": "",
            "referring_domain_current": "",
            "release_channel": "stable",
            "client_build_number": client_build_number,
            "client_event_source": None,
        },
        "presence": {"status": "online", "since": 0, "activities": [], "afk": False},
        "compress": False,  # per-message compression off: the stream is compressed instead
        "client_state": {"guild_versions": {}},
    }


def resume(token: str, session_id: str, seq: int | None) -> dict[str, Any]:
    return {"token": token, "session_id": session_id, "seq": seq}


class GatewayProtocolError(ValueError):
    """The gateway sent something that is not a gateway payload."""


class FrameDecoder:
    """Whole payloads out of one connection's frames.

    With zlib-stream, one inflate context lives as long as the connection, and a message may
    span frames: bytes are buffered until they end with the sync-flush suffix.
    """

    def __init__(self, *, compress: bool, max_size: int) -> None:
        self._compress = compress
        self._max_size = max_size
        self._inflate = zlib.decompressobj()
        self._buffer = bytearray()

    def feed(self, data: str | bytes) -> dict[str, Any] | None:
        """The payload this frame completes, or None while a message is still partial."""
        if isinstance(data, str):
            text: str | bytes = data
        else:
            self._buffer.extend(data)
            if len(self._buffer) > self._max_size:
                raise GatewayProtocolError("a zlib-stream message without its end")
            if self._compress and not self._buffer.endswith(ZLIB_SUFFIX):
                return None
            raw = bytes(self._buffer)
            self._buffer.clear()
            text = self._inflated(raw) if self._compress else raw
        try:
            payload = orjson.loads(text)
        except orjson.JSONDecodeError as exc:
            raise GatewayProtocolError("a gateway message that is not JSON") from exc
        if not isinstance(payload, dict):
            raise GatewayProtocolError("a gateway payload that is not an object")
        return payload

    def _inflated(self, raw: bytes) -> bytes:
        try:
            text = self._inflate.decompress(raw, self._max_size)
        except zlib.error as exc:
            raise GatewayProtocolError("a zlib-stream message that does not inflate") from exc
        if self._inflate.unconsumed_tail:
            raise GatewayProtocolError("an inflated gateway message too large")
        return text
