"""Everything a use case needs, built once per process by the composition root."""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources
from typing import TYPE_CHECKING

from mjgate.db.session import Database
from mjgate.domain.channels import Channel
from mjgate.domain.pricing import PriceList
from mjgate.domain.prompts import BannedWords
from mjgate.providers.base import Provider
from mjgate.providers.resolution import Resolver, system_resolver
from mjgate.services.views import EncodedViews
from mjgate.settings import Settings
from mjgate.storage import Storage

if TYPE_CHECKING:
    from mjgate.providers.outbound import OutboundFetcher
    from mjgate.providers.translators import Translator


def system_clock_ms() -> int:
    return time.time_ns() // 1_000_000


def load_banned_words(settings: Settings) -> BannedWords:
    if settings.banned_words_file is not None:
        return BannedWords.from_text(settings.banned_words_file.read_text(encoding="utf-8"))
    shipped = resources.files("mjgate") / "data" / "banned_words.txt"
    return BannedWords.from_text(shipped.read_text(encoding="utf-8"))


@dataclass
class Runtime:
    settings: Settings
    db: Database
    storage: Storage
    prices: PriceList
    banned_words: BannedWords
    clock: Callable[[], int] = system_clock_ms
    random: secrets.SystemRandom = field(default_factory=secrets.SystemRandom)
    # Called after a change that may let queued work start (submit, a task finishing).
    wake: Callable[[], None] = lambda: None
    # Called when an executor hears news of a running task (a Discord message): the poller
    # asks it at once instead of at its next tick.
    poll_soon: Callable[[], None] = lambda: None
    # Called after a transaction that queued a webhook delivery (the delivery loop wakes).
    wake_webhooks: Callable[[], None] = lambda: None
    # Encoded views of final tasks, for the polled lists (services.queries).
    views: EncodedViews = field(default_factory=EncodedViews)
    # How host names become addresses for every outbound connection (webhooks, client
    # links, relay results); tests inject one that answers like a rebinding DNS server.
    resolver: Resolver = system_resolver
    _providers: dict[tuple[int, str, int], Provider] = field(default_factory=dict)
    # Per channel, the latest time an operator put it back in service that this process saw.
    _enabled_at: dict[int, int] = field(default_factory=dict)
    _retired: list[Provider] = field(default_factory=list)
    _closing: set[asyncio.Task[None]] = field(default_factory=set)
    _outbound: OutboundFetcher | None = None
    _translator: Translator | None = None

    @property
    def outbound(self) -> OutboundFetcher:
        """The one fetcher for everything mjgate downloads on a client's behalf."""
        if self._outbound is None:
            from mjgate.providers.outbound import OutboundFetcher  # httpx: see _make_provider

            self._outbound = OutboundFetcher(resolver=self.resolver)
        return self._outbound

    @property
    def translator(self) -> Translator | None:
        """The prompt translator the settings name, or None when translation is off."""
        settings = self.settings
        if self._translator is None and settings.translate_provider != "off":
            # httpx: imported when first used, as the executors are (see _make_provider).
            from mjgate.providers.translators import (
                OPENAI_BASE_URL,
                ChatTranslator,
                DeepLTranslator,
            )

            key = settings.translator_key()
            if settings.translate_provider == "deepl":
                self._translator = DeepLTranslator(
                    settings.translate_base_url, key, settings.translate_timeout
                )
            else:
                self._translator = ChatTranslator(
                    settings.translate_base_url or OPENAI_BASE_URL,
                    key,
                    settings.translate_model,
                    settings.translate_timeout,
                )
        return self._translator

    @classmethod
    def from_settings(cls, settings: Settings) -> Runtime:
        assert settings.secret_key, "load_settings() provides the signing key"
        return cls(
            settings=settings,
            db=Database(settings.resolved_database_url),
            storage=Storage(settings.storage_dir, settings.secret_key, settings.image_url_ttl),
            prices=PriceList(settings.prices),
            banned_words=load_banned_words(settings),
        )

    def provider_for(self, channel: Channel) -> Provider:
        """One provider per channel and configuration, made on first use, and made afresh
        once an operator puts the channel back in service.

        A provider may hold a state that only a person's action clears (a Discord account
        session out of service after a dead token or a CAPTCHA: it posts nothing more), and
        ``mjgate channel enable`` may run in another process: the row's ``enabled_at`` says
        so to every process. A row read before the enable never brings the old one back.
        """
        assert channel.id is not None
        seen = self._enabled_at.get(channel.id, 0)
        generation = max(seen, channel.enabled_at or 0)
        if generation > seen:
            self._enabled_at[channel.id] = generation
            self._retire(channel.id, generation)
        key = (channel.id, repr(sorted(channel.config.items())), generation)
        provider = self._providers.get(key)
        if provider is None:
            provider = self._make_provider(channel)
            self._providers[key] = provider
        return provider

    def _retire(self, channel_id: int, generation: int) -> None:
        """Close the channel's providers from before it was put back in service."""
        for key in [k for k in self._providers if k[0] == channel_id and k[2] < generation]:
            provider = self._providers.pop(key)
            try:
                closing = asyncio.get_running_loop().create_task(provider.close())
            except RuntimeError:  # no loop here: closed with the others at shutdown
                self._retired.append(provider)
                continue
            self._closing.add(closing)
            closing.add_done_callback(self._closing.discard)

    async def close_providers(self) -> None:
        """Close the connections providers hold (relay upstreams), at shutdown."""
        providers, self._providers = list(self._providers.values()), {}
        providers += self._retired
        self._retired = []
        for provider in providers:
            await provider.close()
        for closing in list(self._closing):
            with contextlib.suppress(Exception):
                await closing
        if self._outbound is not None:
            outbound, self._outbound = self._outbound, None
            await outbound.close()
        if self._translator is not None:
            translator, self._translator = self._translator, None
            await translator.close()

    def _make_provider(self, channel: Channel) -> Provider:
        # Each executor is imported when a channel of its kind first runs: they bring httpx,
        # Pillow, PyAV and websockets, which an operator command (`mjgate user list`) never
        # needs and which cost it most of its start time (README, "Operator CLI").
        # Their settings classes stay in light modules (providers.kinds checks them).
        if channel.kind == "sandbox":
            from mjgate.providers.sandbox import SandboxProvider

            duration = channel.config.get("duration", self.settings.sandbox_duration)
            return SandboxProvider(float(duration))
        if channel.kind == "relay":
            from mjgate.providers.relay import RelayProvider
            from mjgate.providers.relay_config import RelayConfig

            return RelayProvider(
                RelayConfig.from_mapping(channel.config), self.clock, fetcher=self.outbound
            )
        if channel.kind == "discord":
            from mjgate.providers.discord.config import DiscordConfig
            from mjgate.providers.discord.provider import DiscordProvider

            return DiscordProvider(
                DiscordConfig.from_mapping(channel.config), on_news=lambda: self.poll_soon()
            )
        raise ValueError(f"channel {channel.name!r} has unknown kind {channel.kind!r}")
