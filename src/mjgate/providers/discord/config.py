"""A Discord account channel's settings, read from its stored config with safe defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields
from typing import Any
from urllib.parse import urlsplit

from mjgate.domain.tasks import TaskAction

DISCORD_API = "https://discord.com/api/v9"
DISCORD_GATEWAY = "wss://gateway.discord.gg"
# A current desktop Chrome: the gateway's IDENTIFY and every REST call present it.
DEFAULT_USER_AGENT = (
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 "
    "(KHTML, like Gecko) Chrome/131.0.0.0 Safari/537.36"
)
MIDJOURNEY_APP_ID = "936929561302675456"
NIJI_APP_ID = "1022952195194359889"

# Midjourney on Discord has no face swap, no edits and no bare uploads: those go to a
# channel that offers them, or are answered that none does.
DISCORD_ACTIONS = frozenset(TaskAction) - {
    TaskAction.EDITS,
    TaskAction.SWAP_FACE,
    TaskAction.UPLOAD,
}

# Settings an operator gives on `channel add`; the rest have defaults worth keeping.
URL_FIELDS = ("api_url", "gateway_url", "cdn_url", "upload_url", "iframe_url")


@dataclass(frozen=True)
class DiscordConfig:
    guild_id: str
    channel_id: str
    token: str
    user_agent: str = DEFAULT_USER_AGENT
    # Every Discord base is a setting, for operators behind reverse proxies (and for the
    # simulator): REST, gateway, and the hosts that result files, uploads and the Vary
    # (Region) editor live on. None keeps Discord's own.
    api_url: str = DISCORD_API
    gateway_url: str = DISCORD_GATEWAY
    cdn_url: str | None = None
    upload_url: str | None = None
    iframe_url: str | None = None
    niji: bool = False  # the niji・journey bot is in the channel too
    # Seconds between two interactions of this account, drawn between the two bounds:
    # a person does not click at machine speed, and accounts that do get banned.
    pace_min: float = 1.0
    pace_max: float = 3.0
    compress: bool = True  # zlib-stream on the gateway
    modal_wait: float = 15.0  # seconds the bot has to open a modal after a click
    ready_wait: float = 20.0  # seconds to wait for the gateway's READY before a start
    # Seconds before the first reconnect of a dropped gateway, doubling up to the most.
    reconnect_initial: float = 1.0
    reconnect_max: float = 60.0
    download_max_bytes: int = 200 * 1024 * 1024
    recent_messages: int = 50  # how far back a catch-up after a gap reads

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> DiscordConfig:
        guild_id = str(config.get("guild_id") or "")
        channel_id = str(config.get("channel_id") or "")
        for name, snowflake in (("guild_id", guild_id), ("channel_id", channel_id)):
            if not (snowflake.isascii() and snowflake.isdigit() and 0 < len(snowflake) <= 20):
                raise ValueError(f"a discord channel needs {name}, a Discord id (digits)")
        token = config.get("token")
        if not isinstance(token, str) or not token.strip() or not token.isascii():
            raise ValueError("a discord channel needs the account's token")
        values: dict[str, Any] = {}
        for field in fields(cls):
            name = field.name
            if name in ("guild_id", "channel_id", "token") or config.get(name) is None:
                continue
            value: Any = config[name]
            if name in URL_FIELDS:
                value = _base_url(name, str(value))
            elif isinstance(field.default, bool):
                value = value if isinstance(value, bool) else str(value).lower() == "true"
            elif isinstance(field.default, int | float):
                value = type(field.default)(value)
            values[name] = value
        made = cls(guild_id=guild_id, channel_id=channel_id, token=token.strip(), **values)
        if not 0 <= made.pace_min <= made.pace_max:
            raise ValueError("pace_min must be ≥ 0 and ≤ pace_max")
        return made

    def application_ids(self) -> tuple[str, ...]:
        return (MIDJOURNEY_APP_ID, NIJI_APP_ID) if self.niji else (MIDJOURNEY_APP_ID,)


def _base_url(name: str, value: str) -> str:
    value = value.rstrip("/")
    parts = urlsplit(value)
    schemes = ("ws", "wss") if name == "gateway_url" else ("http", "https")
    if parts.scheme not in schemes or not parts.hostname:
        raise ValueError(f"{name} must be an absolute {'/'.join(schemes)} URL")
    if parts.query or parts.fragment:
        raise ValueError(f"{name} must be a base URL, without a query")
    return value


def mask_token(token: str) -> str:
    """Enough to tell two accounts apart, never enough to use one."""
    return "****" if len(token) <= 12 else f"{token[:4]}…{token[-2:]}"


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as an operator may see it printed: the token masked."""
    shown = dict(config)
    if isinstance(shown.get("token"), str):
        shown["token"] = mask_token(shown["token"])
    return shown
