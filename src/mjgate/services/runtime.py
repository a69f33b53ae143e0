"""Everything a use case needs, built once per process by the composition root."""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from importlib import resources

from mjgate.db.session import Database
from mjgate.domain.channels import Channel
from mjgate.domain.pricing import PriceList
from mjgate.domain.prompts import BannedWords
from mjgate.providers.base import Provider
from mjgate.providers.discord.config import DiscordConfig
from mjgate.providers.discord.provider import DiscordProvider
from mjgate.providers.outbound import OutboundFetcher
from mjgate.providers.relay import RelayProvider
from mjgate.providers.relay_config import RelayConfig
from mjgate.providers.resolution import Resolver, system_resolver
from mjgate.providers.sandbox import SandboxProvider
from mjgate.providers.translators import (
    OPENAI_BASE_URL,
    ChatTranslator,
    DeepLTranslator,
    Translator,
)
from mjgate.services.views import EncodedViews
from mjgate.settings import Settings
from mjgate.storage import Storage


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
    _providers: dict[tuple[int, str], Provider] = field(default_factory=dict)
    _outbound: OutboundFetcher | None = None
    _translator: Translator | None = None

    @property
    def outbound(self) -> OutboundFetcher:
        """The one fetcher for everything mjgate downloads on a client's behalf."""
        if self._outbound is None:
            self._outbound = OutboundFetcher(resolver=self.resolver)
        return self._outbound

    @property
    def translator(self) -> Translator | None:
        """The prompt translator the settings name, or None when translation is off."""
        settings = self.settings
        if self._translator is None and settings.translate_provider != "off":
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
        """One provider per channel and configuration, made on first use."""
        assert channel.id is not None
        key = (channel.id, repr(sorted(channel.config.items())))
        provider = self._providers.get(key)
        if provider is None:
            provider = self._make_provider(channel)
            self._providers[key] = provider
        return provider

    async def close_providers(self) -> None:
        """Close the connections providers hold (relay upstreams), at shutdown."""
        providers, self._providers = list(self._providers.values()), {}
        for provider in providers:
            await provider.close()
        if self._outbound is not None:
            outbound, self._outbound = self._outbound, None
            await outbound.close()
        if self._translator is not None:
            translator, self._translator = self._translator, None
            await translator.close()

    def _make_provider(self, channel: Channel) -> Provider:
        if channel.kind == "sandbox":
            duration = channel.config.get("duration", self.settings.sandbox_duration)
            return SandboxProvider(float(duration))
        if channel.kind == "relay":
            return RelayProvider(
                RelayConfig.from_mapping(channel.config), self.clock, fetcher=self.outbound
            )
        if channel.kind == "discord":
            return DiscordProvider(
                DiscordConfig.from_mapping(channel.config), on_news=lambda: self.poll_soon()
            )
        raise ValueError(f"channel {channel.name!r} has unknown kind {channel.kind!r}")
