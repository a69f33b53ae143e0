"""The scripted faults and test counters, one method each, shared by the ``Simulator``
object (called from tests' threads) and the HTTP control endpoints under ``/_sim/``. Every
method runs on the simulator's event loop."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from mjgate.discord_sim.bot import Bot
from mjgate.discord_sim.commands import publish_commands
from mjgate.discord_sim.gateway import Gateway
from mjgate.discord_sim.scripts import ACCOUNT_PROBLEMS, Failure, Script
from mjgate.discord_sim.state import Json, World


class Controls:
    def __init__(self, world: World, gateway: Gateway, script: Script, bot: Bot) -> None:
        self.world = world
        self.gateway = gateway
        self.script = script
        self.bot = bot

    def table(self) -> dict[str, Callable[..., Any]]:
        """The methods the ``/_sim/<name>`` endpoints expose, by name."""
        names = [
            "drop_connections", "fail_next", "account_problem", "republish_commands",
            "rewrite_prompts", "prompt_limit", "hold_dispatches", "release_dispatches",
            "set_job_duration", "job_queued", "remix", "strip_metadata", "stop_acks",
            "split_frames", "ask_reconnect", "rate_limit_next", "expire_sessions",
            "max_concurrent", "state",
        ]  # fmt: skip
        return {name: getattr(self, name) for name in names}

    async def drop_connections(self, code: int | None = None) -> None:
        """Close every gateway socket now (4000 unless a code is given)."""
        await self.gateway.drop_all(code)

    def fail_next(self, title: str, description: str, color: int = 16711680) -> None:
        """The next job answers this error embed instead of running."""
        self.script.fail_next.append(Failure(title, description, color))

    async def account_problem(self, kind: str | None, token: str | None = None) -> None:
        """Give an account (the first one unless named) a problem; None or "none" clears it."""
        account = self.world.accounts[token] if token else next(iter(self.world.accounts.values()))
        if kind in (None, "none"):
            account.problem, account.captcha_next, account.token_valid = None, False, True
        elif kind == "bad_token":
            account.token_valid = False
            await self.gateway.close_account(account.token, 4004, "Authentication failed.")
        elif kind == "captcha":
            account.captcha_next = True
        elif kind in ACCOUNT_PROBLEMS:
            account.problem = kind
        else:
            raise ValueError(f"unknown account problem {kind!r}; known: {ACCOUNT_PROBLEMS}")

    def republish_commands(self) -> None:
        """New command ids and versions; clients holding the old ones get 50035."""
        publish_commands(self.world)

    def rewrite_prompts(self, on: bool = True) -> None:
        """Drop default params, shorten links to s.mj.run, normalise spaces in shown prompts."""
        self.script.rewrite_prompts = on

    def prompt_limit(self, limit: int | None = 180) -> None:
        """Shown prompts longer than this are cut with "…" (None: never)."""
        self.script.prompt_limit = limit

    def hold_dispatches(self) -> None:
        """Keep recording dispatches (and messages) but send nothing to live sockets."""
        self.script.held = True

    def release_dispatches(self) -> None:
        """Send what was held, in order, to the sockets still attached."""
        self.script.held = False
        self.gateway.release()

    def set_job_duration(self, seconds: float) -> None:
        self.script.job_duration = seconds

    def job_queued(self, on: bool = True) -> None:
        self.script.job_queued = on

    def remix(self, on: bool = True) -> None:
        self.script.remix = on

    def strip_metadata(self, on: bool = True) -> None:
        self.script.strip_metadata = on

    def stop_acks(self, on: bool = True) -> None:
        self.script.acks_stopped = on

    def split_frames(self, on: bool = True) -> None:
        self.script.split_frames = on

    async def ask_reconnect(self) -> None:
        """Send op 7 RECONNECT on every socket."""
        await self.gateway.ask_reconnect()

    def rate_limit_next(self, retry_after: float = 0.2, count: int = 1) -> None:
        """The next ``count`` POST /interactions answer 429 with this retry_after."""
        self.script.rate_limits.extend([retry_after] * count)

    def expire_sessions(self) -> None:
        self.gateway.expire_sessions()

    def max_concurrent(self, jobs: int = 3) -> None:
        self.script.max_concurrent = jobs

    def state(self) -> Json:
        """Counters and the sessions, for tests and the curious."""
        return {
            "counters": dict(self.world.counters),
            "interactions": len(self.world.interactions),
            "sessions": [
                {"id": s.id, "seq": s.seq, "live": s.connection is not None}
                for s in self.gateway.sessions.values()
            ],
            "live_connections": len(self.gateway.connections),
            "jobs": len(self.world.jobs),
        }


Control = Callable[..., Awaitable[Any] | Any]
