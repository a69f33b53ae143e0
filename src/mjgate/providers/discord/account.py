"""One Discord account as this process drives it: its gateway session, its REST client, the
command indexes of its bots, the pace of its interactions, and the tracker of its jobs.

The gateway connects on first use (a process that never starts or follows a task of the
account never connects). Every dispatch goes through the tracker; a task a dispatch moved
is signalled, so a start waiting for the bot's modal wakes at once. After any gap in the
connection the channel's recent messages are read, so a job that finished meanwhile still
ends. A dead token, a CAPTCHA or a blocked account puts the account out of service with
the reason; nothing is posted for it after that.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Callable, Mapping
from typing import Any

from mjgate.errors import ExecutorOutOfService
from mjgate.providers.discord.config import DiscordConfig
from mjgate.providers.discord.errors import AccountRefused, CommandVersionStale
from mjgate.providers.discord.gateway import GatewaySession
from mjgate.providers.discord.matching import JobState, JobTracker
from mjgate.providers.discord.payloads import (
    Command,
    CommandIndex,
    InteractionContext,
    new_nonce,
)
from mjgate.providers.discord.rest import DiscordRest

log = logging.getLogger(__name__)

# A catch-up reads the channel over REST: at most this often per account when many polls
# of adopted tasks ask for one at once.
CATCH_UP_EVERY_SECONDS = 2.0

_LOGGED_KEPT = 500

PayloadBuilder = Callable[[InteractionContext, str, Command | None], Mapping[str, Any]]


class AccountSession:
    def __init__(
        self,
        config: DiscordConfig,
        *,
        rng: random.Random | None = None,
        gateway_options: Mapping[str, Any] | None = None,
        on_news: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        # Told when a dispatch moved one of our tasks: the engine polls at once, so the
        # bot's final message reaches the client in milliseconds, not at the next tick.
        self._on_news = on_news
        self._rng = rng or random.Random()
        self.rest = DiscordRest(
            api_url=config.api_url,
            token=config.token,
            user_agent=config.user_agent,
            cdn_url=config.cdn_url,
            upload_url=config.upload_url,
            iframe_url=config.iframe_url,
        )
        self.tracker = JobTracker(config.channel_id, time.monotonic)
        self._gateway_options = dict(gateway_options or {})
        self._gateway: GatewaySession | None = None
        self._indexes: dict[str, CommandIndex] = {}
        self._pace = asyncio.Lock()
        self._last_post = 0.0
        self._signals: dict[str, asyncio.Event] = {}
        self._last_catch_up = 0.0
        self._catch_up_lock = asyncio.Lock()
        self._logged: dict[str, None] = {}  # unclaimed message ids already logged, in order
        self.out_of_service: str | None = None

    def __repr__(self) -> str:
        return f"AccountSession(channel_id={self.config.channel_id!r})"

    # -- being there -----------------------------------------------------------------------

    def check_in_service(self) -> None:
        if self.out_of_service is not None:
            raise ExecutorOutOfService(self.out_of_service)

    def connect(self) -> None:
        """Open the gateway session if this process has none yet (it reconnects by itself)."""
        if self._gateway is None:
            self._gateway = GatewaySession(
                url=self.config.gateway_url,
                token=self.config.token,
                user_agent=self.config.user_agent,
                on_dispatch=self._on_dispatch,
                on_gap=self.catch_up,
                on_fatal=self._on_fatal,
                compress=self.config.compress,
                backoff_initial=self.config.reconnect_initial,
                backoff_max=self.config.reconnect_max,
                **self._gateway_options,
            )
            self._gateway.start()

    async def session_id(self) -> str:
        """The live gateway session's id (interactions name it); waits for READY."""
        self.check_in_service()
        self.connect()
        assert self._gateway is not None
        try:
            return await self._gateway.wait_ready(self.config.ready_wait)
        except AccountRefused as exc:
            self._take_out(exc.reason)
            raise ExecutorOutOfService(exc.reason) from None

    async def close(self) -> None:
        gateway, self._gateway = self._gateway, None
        if gateway is not None:
            await gateway.close()
        await self.rest.close()

    # -- commands --------------------------------------------------------------------------

    async def command(self, application_id: str, name: str, *, fresh: bool = False) -> Command:
        """The command as the guild's index lists it now: ids and versions are discovered,
        never written into this code (Midjourney republishes them every few months)."""
        index = self._indexes.get(application_id)
        if index is None or fresh:
            listing = await self.rest.command_index(self.config.guild_id)
            index = CommandIndex.from_json(listing, application_id)
            self._indexes[application_id] = index
        return index.command(name)

    # -- posting ---------------------------------------------------------------------------

    def nonce(self) -> str:
        return new_nonce(int(time.time() * 1000), self._rng)

    async def post(
        self,
        application_id: str,
        nonce: str,
        build: PayloadBuilder,
        command_name: str | None = None,
    ) -> None:
        """Post one interaction at the account's pace. A stale command version is looked up
        again and the interaction posted once more."""
        session_id = await self.session_id()
        context = InteractionContext(
            self.config.guild_id, self.config.channel_id, application_id, session_id
        )
        command = await self.command(application_id, command_name) if command_name else None
        try:
            await self._paced(build(context, nonce, command))
        except CommandVersionStale:
            if command_name is None:
                raise
            log.info("account %s: /%s was republished; reading the index again", self, command_name)
            command = await self.command(application_id, command_name, fresh=True)
            await self._paced(build(context, nonce, command))

    async def _paced(self, payload: Mapping[str, Any]) -> None:
        # One interaction at a time per account, a person's pause apart.
        async with self._pace:
            pause = self._rng.uniform(self.config.pace_min, self.config.pace_max)
            wait = self._last_post + pause - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            try:
                await self.rest.post_interaction(payload)
            except AccountRefused as exc:
                self._take_out(exc.reason)
                raise ExecutorOutOfService(exc.reason) from None
            finally:
                self._last_post = time.monotonic()

    # -- following -------------------------------------------------------------------------

    async def wait_for(
        self, task_id: str, done: Callable[[JobState], bool], within: float
    ) -> JobState | None:
        """The task's state once ``done`` holds for it, or None after ``within`` seconds."""
        deadline = time.monotonic() + within
        while True:
            state = self.tracker.state(task_id)
            if state is not None and done(state):
                return state
            left = deadline - time.monotonic()
            if left <= 0 or self.out_of_service is not None:
                return state if state is not None and done(state) else None
            signal = self._signals.setdefault(task_id, asyncio.Event())
            signal.clear()
            try:
                await asyncio.wait_for(signal.wait(), left)
            except TimeoutError:
                continue

    def forget(self, task_id: str) -> None:
        self.tracker.forget(task_id)
        self._signals.pop(task_id, None)

    async def catch_up(self, *, adopted: bool = False) -> None:
        """Read the channel's recent messages through the tracker (after a gap, or to find
        the jobs of tasks another process started: ``adopted``, never skipped, since an
        earlier read could not match a task the tracker did not know then)."""
        async with self._catch_up_lock:
            recent = time.monotonic() - self._last_catch_up < CATCH_UP_EVERY_SECONDS
            if recent and not adopted:
                return
            messages = await self.rest.recent_messages(
                self.config.channel_id, self.config.recent_messages
            )
            self._last_catch_up = time.monotonic()
        for task_id in self.tracker.catch_up(messages):
            self._signal(task_id)
        self._after_dispatch()

    async def _on_dispatch(self, name: str, data: Mapping[str, Any]) -> None:
        if name == "READY":
            # The bot answers seed requests by direct message: those channels count too.
            private = data.get("private_channels")
            if isinstance(private, list):
                for channel in private:
                    if isinstance(channel, Mapping) and channel.get("id"):
                        self.tracker.watch_dm_channel(str(channel["id"]))
            return
        task_id = self.tracker.on_dispatch(name, data)
        if task_id is not None:
            self._signal(task_id)
        self._after_dispatch()

    def _after_dispatch(self) -> None:
        problem = self.tracker.account_problem
        if problem is not None and self.out_of_service is None:
            self._take_out(problem.reason)
        # A message nobody claims is logged (once), never dropped in silence.
        for message_id, content in list(self.tracker.unclaimed):
            if message_id not in self._logged:
                self._logged[message_id] = None
                log.info("account %s: no task claims message %s: %s", self, message_id, content)
        while len(self._logged) > _LOGGED_KEPT:
            del self._logged[next(iter(self._logged))]

    async def _on_fatal(self, reason: str) -> None:
        self._take_out(reason)

    def _take_out(self, reason: str) -> None:
        if self.out_of_service is None:
            self.out_of_service = reason
            log.warning("account %s is out of service: %s", self, reason)
        for signal in self._signals.values():
            signal.set()  # whoever waits on the bot learns it at once

    def _signal(self, task_id: str) -> None:
        signal = self._signals.get(task_id)
        if signal is not None:
            signal.set()
        self._on_news()
