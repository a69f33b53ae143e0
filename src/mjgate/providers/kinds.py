"""The kinds of channel this version has: what each can run and how its settings are checked
and shown. Services ask here instead of knowing any one executor's types."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from mjgate.domain.tasks import TaskAction
from mjgate.providers import relay_config
from mjgate.providers.discord import config as discord_config


@dataclass(frozen=True)
class ChannelKind:
    name: str
    # The actions its executor can run; None means all of them.
    actions: frozenset[TaskAction] | None
    # Raises ValueError naming what is wrong with a channel's stored settings.
    check_config: Callable[[Mapping[str, Any]], None]
    # The settings as an operator may see them printed (secrets masked).
    public_config: Callable[[Mapping[str, Any]], dict[str, Any]]


def _no_check(config: Mapping[str, Any]) -> None:
    return None


def _check_relay(config: Mapping[str, Any]) -> None:
    relay_config.RelayConfig.from_mapping(config)


def _check_discord(config: Mapping[str, Any]) -> None:
    discord_config.DiscordConfig.from_mapping(config)


KINDS: Mapping[str, ChannelKind] = {
    "sandbox": ChannelKind("sandbox", None, _no_check, dict),
    "relay": ChannelKind("relay", None, _check_relay, relay_config.public_config),
    "discord": ChannelKind(
        "discord", discord_config.DISCORD_ACTIONS, _check_discord, discord_config.public_config
    ),
}


def kind_named(name: str) -> ChannelKind | None:
    return KINDS.get(name)
