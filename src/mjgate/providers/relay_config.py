"""A relay channel's settings, read from its stored config with safe defaults."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

AUTH_STYLES = ("mj-api-secret", "bearer")


@dataclass(frozen=True)
class RelayConfig:
    base_url: str
    secret: str
    auth: str = "mj-api-secret"  # or "bearer": Authorization: Bearer <secret>
    connect_timeout: float = 5.0
    submit_timeout: float = 30.0  # seconds to wait for a submit's answer
    poll_timeout: float = 15.0
    # The adaptive poll: often while a task is young or moving, rarely when it sits still,
    # not at all while callbacks keep coming.
    poll_fast_ms: int = 2_000
    poll_slow_ms: int = 15_000
    young_ms: int = 60_000
    callback_fresh_ms: int = 30_000
    vanish_grace_ms: int = 120_000  # a task the upstream stops returning fails after this
    # A submit whose answer was lost may still be named by a callback for this long after
    # the submit timeout; then it fails (it is never sent twice).
    lost_submit_grace_ms: int = 5_000
    # Result files: who may serve them, how large, how long.
    media_hosts: tuple[str, ...] = ()
    allow_private_media: bool = False
    media_max_bytes: int = 50 * 1024 * 1024
    media_timeout: float = 60.0

    @property
    def upstream_host(self) -> str:
        return urlsplit(self.base_url).hostname or ""

    @property
    def allowed_media_hosts(self) -> frozenset[str]:
        """The upstream's own host, plus any the operator named (e.g. its CDN)."""
        return frozenset({self.upstream_host, *self.media_hosts} - {""})

    @classmethod
    def from_mapping(cls, config: Mapping[str, Any]) -> RelayConfig:
        base_url = str(config.get("base_url") or "").rstrip("/")
        if urlsplit(base_url).scheme not in ("http", "https") or not urlsplit(base_url).hostname:
            raise ValueError("a relay channel needs base_url, an absolute http(s) URL")
        secret = config.get("secret")
        if not isinstance(secret, str):
            raise ValueError("a relay channel needs a secret")
        auth = str(config.get("auth") or "mj-api-secret").lower()
        if auth not in AUTH_STYLES:
            raise ValueError(f"auth must be one of {', '.join(AUTH_STYLES)}")
        known = {name for name in cls.__dataclass_fields__ if name not in ("base_url", "secret")}
        extra: dict[str, Any] = {}
        for name in known - {"auth"}:
            if name in config and config[name] is not None:
                default = getattr(cls, name)
                value = config[name]
                extra[name] = tuple(value) if isinstance(default, tuple) else type(default)(value)
        return cls(base_url=base_url, secret=secret, auth=auth, **extra)


def mask_secret(secret: str) -> str:
    """Enough to tell two secrets apart, never enough to use one."""
    if len(secret) <= 8:
        return "****"
    return f"{secret[:3]}…{secret[-2:]}"


def public_config(config: Mapping[str, Any]) -> dict[str, Any]:
    """The config as an operator may see it printed: the secret masked."""
    shown = dict(config)
    if isinstance(shown.get("secret"), str):
        shown["secret"] = mask_secret(shown["secret"])
    return shown
