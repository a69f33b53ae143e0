"""Settings: ``MJGATE_*`` environment variables, then an optional TOML file, then defaults.

Nothing reads the environment at import time; ``load_settings()`` builds one ``Settings``
that the composition root (``mjgate.cli``) hands to everything else.
"""

from __future__ import annotations

import os
import secrets
import time
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, field_validator
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from mjgate.domain.tasks import Mode

MIB = 1024 * 1024


MIN_ADMIN_TOKEN_CHARS = 32


class Settings(BaseSettings):
    """Every knob of a mjgate process. The README's settings table mirrors this class."""

    model_config = SettingsConfigDict(env_prefix="MJGATE_", extra="ignore")

    data_dir: Path = Field(
        Path("data"), description="Where the SQLite file, results and keys live."
    )
    database_url: str | None = Field(
        None,
        description="sqlite:///path or postgresql://user:pass@host:port/db; "
        "default: SQLite file <data_dir>/mjgate.db.",
    )
    public_url: str | None = Field(
        None, description="Base URL clients reach mjgate at, used for image URLs."
    )
    host: str = Field("127.0.0.1", description="Address `mjgate serve` listens on.")
    port: int = Field(8080, description="Port `mjgate serve` listens on.")
    admin_token: str | None = Field(
        None, description="Token for the `admin` user created on first start (else random)."
    )
    admin_initial_quota: int = Field(
        1_000_000, ge=0, description="Quota granted to the `admin` user created on first start."
    )
    new_user_quota: int = Field(0, ge=0, description="Quota granted by `mjgate user create`.")
    sandbox_duration: float = Field(
        8.0, ge=0, description="Seconds an imagine takes on the sandbox channel (0: at once)."
    )
    banned_words_file: Path | None = Field(
        None, description="Banned words, one per line; default: the list shipped with mjgate."
    )
    max_image_bytes: int = Field(10 * MIB, gt=0, description="Largest decoded image accepted.")
    # Midjourney's largest output (a 4× upscale) is 4096×4096 = 16.8 MP and its inputs are photos
    # of a few thousand pixels a side; 25 MP (5000×5000) takes all of them, and decodes to at
    # most 100 MB (RGBA), far below Pillow's 89 MP warning and 179 MP refusal.
    max_image_pixels: int = Field(
        25_000_000, gt=0, description="Most pixels (width × height) an input image may declare."
    )
    max_body_bytes: int = Field(64 * MIB, gt=0, description="Largest request body accepted.")
    max_body_bytes_in_flight: int = Field(
        256 * MIB, gt=0, description="Request body bytes held at once across connections (503)."
    )
    # 8 was measured to cost PostgreSQL a third of its fetch rate under 64 connections, with
    # no submit latency gained (bench/README.md, "Issue 12: front door attacks").
    reads_in_flight: int = Field(
        64, gt=0, description="Polled reads (fetch, lists) run at once; more wait their turn."
    )
    access_log: bool = Field(False, description="Log one line per request (mjgate.access).")
    default_mode: Mode = Field(
        Mode.FAST, description="Mode when no prefix, field or flag sets one."
    )
    cors_origins: str = Field("*", description="Access-Control-Allow-Origin value.")
    trusted_proxies: list[str] = Field(
        default_factory=list,
        description="Client addresses whose X-Forwarded-For/Proto/Host headers are honoured.",
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="Without a public URL, Host header values (name or name:port) that may "
        "become the base of our URLs; any other Host gets the server's own address.",
    )
    secret_key: str | None = Field(
        None, description="Key that signs image URLs; default: generated once into the data dir."
    )
    image_url_ttl: int = Field(
        0, ge=0, description="Seconds an image URL stays valid (0: never expires)."
    )
    modal_timeout: float = Field(3600, gt=0, description="Seconds a MODAL task waits for input.")
    queue_timeout: float = Field(
        3600, gt=0, description="Seconds a task may wait in a channel's queue."
    )
    lease_seconds: float = Field(
        30,
        gt=0,
        description="Seconds a worker's claim on a running task lasts without a heartbeat; "
        "after that another worker takes the task over.",
    )
    allow_private_urls: bool = Field(
        False, description="Allow image links that resolve to private or loopback addresses."
    )
    webhook_allow_private: bool = Field(
        False, description="Allow notifyHook URLs on private, loopback or link-local addresses."
    )
    webhook_secret: str | None = Field(
        None,
        description="Key that signs webhook POSTs (X-Mjgate-Signature); "
        "default: generated once into the data dir.",
    )
    webhook_default_url: str | None = Field(
        None, description="Hook that gets the changes of tasks submitted without a notifyHook."
    )
    webhook_timeout: float = Field(
        10.0, gt=0, description="Seconds a receiver has to answer one webhook POST."
    )
    webhook_retry_window: float = Field(
        86_400.0, gt=0, description="Seconds a failing webhook is retried before it is dead."
    )
    webhook_retry_base: float = Field(
        5.0, gt=0, description="Seconds before the first webhook retry; doubles each time."
    )
    webhook_retry_max_interval: float = Field(
        1800.0, gt=0, description="Longest wait between two webhook retries, in seconds."
    )
    # A fast receiver answers in milliseconds, so the bound in flight is what sets its rate:
    # 4 per receiver held a loopback receiver to well under 100 pushes/s. 16 of 64 leaves
    # three quarters of the slots to the others while one receiver hangs.
    webhook_concurrency: int = Field(
        64, ge=1, description="Webhook POSTs one worker process has in flight at most."
    )
    webhook_per_host: int = Field(
        16, ge=1, description="Of those, at most this many to one receiver host at a time."
    )
    webhook_poll_interval: float = Field(
        1.0, gt=0, description="Seconds between looks for due webhooks from other processes."
    )
    # Rate limits (services.rate_limiter): a rate of 0 turns a limit off.
    rate_limit_read_per_second: float = Field(
        0, ge=0, description="Reads (fetch, lists, ...) a token may make a second (0: no limit)."
    )
    rate_limit_read_burst: int = Field(
        100, ge=1, description="Reads a token may make at once above its rate."
    )
    rate_limit_submit_per_second: float = Field(
        0, ge=0, description="Submits (POST /mj/submit/*) a token may make a second (0: no limit)."
    )
    rate_limit_submit_burst: int = Field(
        20, ge=1, description="Submits a token may make at once above its rate."
    )
    rate_limit_anonymous_per_second: float = Field(
        10,
        ge=0,
        description="Requests a second, reads and submits each, from one client address "
        "without a known-good token (0: no limit).",
    )
    rate_limit_anonymous_burst: int = Field(
        50, ge=1, description="Requests one such address may make at once above its rate."
    )
    rate_limit_reserve_seconds: float = Field(
        0.2,
        gt=0,
        description="On PostgreSQL, seconds of a key's rate a process reserves per statement; "
        "processes together may exceed a rate by this many seconds of it.",
    )
    prices: dict[str, int] = Field(
        default_factory=dict,
        description='Price overrides, e.g. {"IMAGINE": 120, "VIDEO:RELAX": 500}.',
    )
    # Prompt translation (services.translation): off unless a translator is named.
    translate_provider: Literal["off", "openai", "deepl"] = Field(
        "off",
        description="Translate prompts with CJK text before they go to a channel: off, openai "
        "(any OpenAI-compatible chat-completions endpoint) or deepl.",
    )
    translate_base_url: str | None = Field(
        None,
        description="The translator's base URL; default: https://api.openai.com/v1 for openai, "
        "DeepL's free or pro API (by the key: free keys end in :fx) for deepl.",
    )
    translate_key: SecretStr | None = Field(
        None, description="The translator's API key (never logged)."
    )
    translate_key_file: Path | None = Field(
        None, description="A file holding the translator's API key, instead of translate_key."
    )
    translate_model: str = Field(
        "gpt-4o-mini", description="The chat model that translates (provider openai)."
    )
    translate_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds a translation may take; past it the prompt goes as written.",
    )
    # OpenAI-style images (api.routes.openai_images).
    openai_wait_seconds: float = Field(
        300.0,
        gt=0,
        description="Seconds POST /v1/images/generations waits for its task before answering "
        "a timeout (the task goes on).",
    )

    @field_validator("admin_token")
    @classmethod
    def _long_admin_token(cls, value: str | None) -> str | None:
        # The admin token opens every account; a short one chosen by hand is guessable.
        if value is not None and len(value) < MIN_ADMIN_TOKEN_CHARS:
            raise ValueError(
                f"MJGATE_ADMIN_TOKEN must be at least {MIN_ADMIN_TOKEN_CHARS} characters long"
                " (leave it unset and mjgate makes a random one)"
            )
        return value

    @field_validator("trusted_proxies", "allowed_hosts", mode="before")
    @classmethod
    def _split_csv(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip().startswith("["):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        sources: list[PydanticBaseSettingsSource] = [init_settings, env_settings]
        toml_path = os.environ.get("MJGATE_CONFIG_FILE")
        if toml_path:
            sources.append(TomlConfigSettingsSource(settings_cls, toml_file=Path(toml_path)))
        return tuple(sources)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'mjgate.db'}"

    @property
    def storage_dir(self) -> Path:
        return self.data_dir / "files"

    def translator_key(self) -> str:
        """The translator's key: ``translate_key``, else the key file's text, else ''."""
        if self.translate_key is not None:
            return self.translate_key.get_secret_value().strip()
        if self.translate_key_file is not None:
            return self.translate_key_file.read_text(encoding="utf-8").strip()
        return ""


def load_settings(**overrides: Any) -> Settings:
    """Build the settings and make sure the data dir and the signing keys exist."""
    settings = Settings(**overrides)
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not settings.secret_key:
        settings.secret_key = _persistent_secret(settings.data_dir / "secret_key")
    if not settings.webhook_secret:
        settings.webhook_secret = _persistent_secret(settings.data_dir / "webhook_secret")
    return settings


def _persistent_secret(path: Path) -> str:
    """Generate a key once and keep it, so signed URLs survive restarts.

    O_EXCL makes the first of several processes starting at once the one that writes it.
    """
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        for _ in range(50):  # another process is writing it right now
            key = path.read_text().strip()
            if key:
                return key
            time.sleep(0.02)
        raise RuntimeError(f"the key file {path} is empty") from None
    key = secrets.token_urlsafe(32)
    with os.fdopen(fd, "w") as handle:
        handle.write(key + "\n")
    return key
