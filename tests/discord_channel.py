"""mjgate with discord channels in front of the Discord simulator, over real sockets: the
simulator on a loopback port, mjgate served with fast worker loops, an admin client."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from mjgate.db.migrate import upgrade_database
from mjgate.discord_sim import Simulator
from mjgate.domain.channels import Channel
from mjgate.services import accounts
from mjgate.services.accounts import bootstrap
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings
from support import ADMIN_TOKEN, Gateway, ServedApp, serve_app

SIM_TOKEN = "sim-account-token-0001"


def sqlite_url(tmp_path: Path) -> str:
    """A migrated SQLite database of the test's own."""
    url = f"sqlite+aiosqlite:///{tmp_path}/mjgate.db"
    upgrade_database(url)
    return url


def channel_config(simulator: Simulator, token: str, **extra: Any) -> dict[str, Any]:
    """The config `mjgate channel add --kind discord` makes from the simulator's printed
    options (and the token), without pacing: tests click at machine speed."""
    options = simulator.channel_add_options()
    config: dict[str, Any] = {}
    for flag, value in zip(options[::2], options[1::2], strict=True):
        config[flag.removeprefix("--").replace("-", "_")] = value
    config.update(token=token, pace_min=0.0, pace_max=0.0, reconnect_initial=0.05)
    config.update(modal_wait=5.0, ready_wait=5.0, bots=["MID_JOURNEY", "NIJI_JOURNEY"])
    config.update(extra)
    return config


async def add_discord_channel(
    rt: Runtime, name: str, simulator: Simulator, token: str = SIM_TOKEN, **fields: Any
) -> Channel:
    config = channel_config(simulator, token, **fields.pop("config", {}))
    return await accounts.add_channel(rt, name, "discord", config=config, **fields)


@dataclass
class DiscordScene:
    simulator: Simulator
    rt: Runtime
    served: ServedApp
    admin: Gateway


@asynccontextmanager
async def discord_scene(
    settings: Settings,
    *,
    tokens: Sequence[str] = (SIM_TOKEN,),
    speed: float = 0.05,
    core_size: int = 3,
    **simulator_options: Any,
) -> AsyncIterator[DiscordScene]:
    """One discord channel per token (``acc1``, ``acc2``…), the sandbox channel disabled."""
    simulator = Simulator(tokens[0], speed=speed, **simulator_options)
    infos = [simulator.account] + [simulator.add_account(token) for token in tokens[1:]]
    simulator.start()
    rt = Runtime.from_settings(settings)
    try:
        await bootstrap(rt)
        await accounts.set_channel_enabled(rt, "sandbox", False, "the tests use discord")
        for n, (token, info) in enumerate(zip(tokens, infos, strict=True), 1):
            config = channel_config(simulator, token)
            config.update(guild_id=info.guild_id, channel_id=info.channel_id)
            await accounts.add_channel(
                rt, f"acc{n}", "discord", config=config, core_size=core_size, timeout_seconds=60
            )
        async with serve_app(rt) as served, Gateway.connect(served.base_url, ADMIN_TOKEN) as admin:
            yield DiscordScene(simulator, rt, served, admin)
    finally:
        await rt.close_providers()
        await rt.db.dispose()
        simulator.stop()
