"""Running the simulator: ``Simulator`` serves it with uvicorn on a thread of its own (tests,
embedding) and offers the scripted faults as methods; ``main`` serves it in the foreground
for operators and prints the options ``mjgate channel add`` needs."""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import threading
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import uvicorn

from mjgate.discord_sim.app import Routes, build_app
from mjgate.discord_sim.bot import Bot
from mjgate.discord_sim.commands import publish_commands
from mjgate.discord_sim.controls import Controls
from mjgate.discord_sim.gateway import Gateway
from mjgate.discord_sim.scripts import Script
from mjgate.discord_sim.state import Account, Json, World

DEFAULT_GUILD_ID = "1180000000000000001"
DEFAULT_CHANNEL_ID = "1180000000000000002"
REAL_HEARTBEAT_MS = 41250


@dataclass(frozen=True)
class AccountInfo:
    token: str
    user_id: str
    username: str
    guild_id: str
    channel_id: str
    dm_channel_id: str

    @classmethod
    def of(cls, account: Account) -> AccountInfo:
        return cls(
            account.token,
            account.user_id,
            account.username,
            account.guild_id,
            account.channel_id,
            account.dm_channel_id,
        )


class Simulator:
    """Discord and the Midjourney bot on one loopback port, with scripted faults."""

    def __init__(
        self,
        token: str = "sim-token",
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        speed: float = 1.0,
        guild_id: str = DEFAULT_GUILD_ID,
        channel_id: str = DEFAULT_CHANNEL_ID,
        heartbeat_interval_ms: int | None = None,
        job_duration: float = 3.0,
        max_concurrent: int = 3,
    ) -> None:
        self.host = host
        self.port = port
        # Short for tests, but not so short that a busy loop makes a client miss an ACK.
        heartbeat = heartbeat_interval_ms or max(500, int(2000 * speed))
        self.script = Script(
            speed=speed,
            heartbeat_interval_ms=heartbeat,
            job_duration=job_duration,
            max_concurrent=max_concurrent,
        )
        self.world = World()
        publish_commands(self.world)
        self.account = AccountInfo.of(self.world.add_account(token, guild_id, channel_id))
        self.gateway = Gateway(self.world, self.script)
        self.bot = Bot(self.world, self.gateway, self.script)
        self.controls = Controls(self.world, self.gateway, self.script, self.bot)
        self.app = build_app(Routes(self.world, self.gateway, self.script, self.bot, self.controls))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._server: uvicorn.Server | None = None
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._error: BaseException | None = None

    # -- life -------------------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def gateway_url(self) -> str:
        return f"ws://{self.host}:{self.port}/gateway"

    def start(self) -> Simulator:
        """Serve on a background thread; returns once the port listens."""
        self._thread = threading.Thread(target=self._run, name="discord-sim", daemon=True)
        self._thread.start()
        if not self._started.wait(30):
            raise RuntimeError("the Discord simulator did not start")
        if self._error is not None:
            raise self._error
        return self

    def stop(self) -> None:
        if self._loop is not None and self._server is not None:
            self._loop.call_soon_threadsafe(setattr, self._server, "should_exit", True)
        if self._thread is not None:
            self._thread.join(30)
            self._thread = None

    def __enter__(self) -> Simulator:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def _run(self) -> None:
        try:
            asyncio.run(self.serve())
        except BaseException as exc:  # handed to start()
            self._error = exc
        finally:
            self._started.set()

    async def serve(self, on_started: Callable[[], None] | None = None) -> None:
        """Serve on the running loop until told to exit (SIGINT/SIGTERM in the main thread)."""
        self._loop = asyncio.get_running_loop()
        config = uvicorn.Config(
            self.app,
            host=self.host,
            port=self.port,
            log_level="warning",
            lifespan="off",
            timeout_graceful_shutdown=1,
        )
        self._server = uvicorn.Server(config)
        serving = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if serving.done():
                serving.result()
                return
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]
        self._started.set()
        if on_started is not None:
            on_started()
        await serving

    def channel_add_options(self, account: AccountInfo | None = None) -> list[str]:
        """What ``mjgate channel add`` needs to drive this account against the simulator."""
        who = account or self.account
        base = self.base_url
        return [
            "--guild-id", who.guild_id, "--channel-id", who.channel_id,
            "--api-url", f"{base}/api/v9", "--gateway-url", self.gateway_url,
            "--cdn-url", f"{base}/cdn", "--upload-url", f"{base}/upload",
            "--iframe-url", f"{base}/iframe",
        ]  # fmt: skip

    # -- accounts ---------------------------------------------------------------------------

    def add_account(
        self, token: str, guild_id: str | None = None, channel_id: str | None = None
    ) -> AccountInfo:
        """Another Discord account (its own guild and channel unless given)."""
        account = self._call(self.world.add_account, token, guild_id, channel_id)
        assert isinstance(account, Account)
        return AccountInfo.of(account)

    # -- scripted faults (see Controls for what each does) ----------------------------------

    def _call(self, method: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        async def on_loop() -> Any:
            result = method(*args, **kwargs)
            return await result if inspect.isawaitable(result) else result

        if self._loop is None or not self._loop.is_running():
            # Not serving yet: nothing else touches the state, so act right here.
            result = method(*args, **kwargs)
            if inspect.isawaitable(result):
                if inspect.iscoroutine(result):
                    result.close()
                raise RuntimeError("start the simulator before scripting its sockets")
            return result
        return asyncio.run_coroutine_threadsafe(on_loop(), self._loop).result(30)

    def drop_connections(self, code: int | None = None) -> None:
        self._call(self.controls.drop_connections, code)

    def fail_next(self, title: str, description: str, color: int = 16711680) -> None:
        self._call(self.controls.fail_next, title, description, color)

    def account_problem(self, kind: str | None, token: str | None = None) -> None:
        self._call(self.controls.account_problem, kind, token)

    def republish_commands(self) -> None:
        self._call(self.controls.republish_commands)

    def rewrite_prompts(self, on: bool = True) -> None:
        self._call(self.controls.rewrite_prompts, on)

    def prompt_limit(self, limit: int | None = 180) -> None:
        self._call(self.controls.prompt_limit, limit)

    def hold_dispatches(self) -> None:
        self._call(self.controls.hold_dispatches)

    def release_dispatches(self) -> None:
        self._call(self.controls.release_dispatches)

    def set_job_duration(self, seconds: float) -> None:
        self._call(self.controls.set_job_duration, seconds)

    def job_queued(self, on: bool = True) -> None:
        self._call(self.controls.job_queued, on)

    def remix(self, on: bool = True) -> None:
        self._call(self.controls.remix, on)

    def strip_metadata(self, on: bool = True) -> None:
        self._call(self.controls.strip_metadata, on)

    def stop_acks(self, on: bool = True) -> None:
        self._call(self.controls.stop_acks, on)

    def split_frames(self, on: bool = True) -> None:
        self._call(self.controls.split_frames, on)

    def ask_reconnect(self) -> None:
        self._call(self.controls.ask_reconnect)

    def rate_limit_next(self, retry_after: float = 0.2, count: int = 1) -> None:
        self._call(self.controls.rate_limit_next, retry_after, count)

    def expire_sessions(self) -> None:
        self._call(self.controls.expire_sessions)

    def max_concurrent(self, jobs: int = 3) -> None:
        self._call(self.controls.max_concurrent, jobs)

    # -- what happened ----------------------------------------------------------------------

    def state(self) -> Json:
        result = self._call(self.controls.state)
        assert isinstance(result, dict)
        return result

    # Read on the loop: the bot changes these while a test reads them.

    @property
    def counters(self) -> dict[str, int]:
        """interactions, interactions:typeN, heartbeats, identifies, resumes, connections,
        uploads, iframe_submits, rate_limited, jobs_started, jobs_finished, failed_jobs,
        invalid_sessions, message_fetches, command_index_reads, dispatch:<EVENT>…"""
        result: dict[str, int] = self._call(lambda: dict(self.world.counters))
        return result

    @property
    def interactions(self) -> list[Json]:
        """Every payload POST /interactions received, oldest first."""
        result: list[Json] = self._call(lambda: list(self.world.interactions))
        return result

    @property
    def timed_interactions(self) -> list[tuple[float, Json]]:
        """As ``interactions``, each with the ``time.monotonic()`` of its receipt."""
        result: list[tuple[float, Json]] = self._call(lambda: list(self.world.interaction_times))
        return result

    @property
    def final_dispatches(self) -> dict[str, float]:
        """By the prompt as the account sent it: the ``time.monotonic()`` at which the bot
        dispatched the job's final message (the last job of that prompt wins)."""

        def read() -> dict[str, float]:
            jobs = self.world.jobs
            times = self.world.final_times
            return {jobs[h].prompt: t for h, t in times.items() if h in jobs}

        result: dict[str, float] = self._call(read)
        return result

    def channel_messages(self, channel_id: str | None = None) -> list[Json]:
        """The channel's visible messages, newest first (as REST answers them)."""
        channel = channel_id or self.account.channel_id
        result: list[Json] = self._call(self.world.recent_messages, channel, 10_000)
        return result


def main(
    host: str = "127.0.0.1",
    port: int = 0,
    token: str = "sim-token",
    speed: float = 1.0,
) -> None:
    """Serve in the foreground until SIGINT/SIGTERM; print the channel options once."""
    simulator = Simulator(token, host=host, port=port, speed=speed)
    simulator.script.heartbeat_interval_ms = REAL_HEARTBEAT_MS

    def announce() -> None:
        print("channel add options: " + " ".join(simulator.channel_add_options()), flush=True)

    with contextlib.suppress(KeyboardInterrupt):  # uvicorn re-raises the SIGINT it handled
        asyncio.run(simulator.serve(on_started=announce))


run_simulator = main  # the name the plan gives the foreground entry point
