"""The gateway websocket of one Discord account: stay connected, hand every dispatch on.

One ``GatewaySession`` keeps one session alive: HELLO → heartbeats (a missing ACK means a dead
link) → IDENTIFY or RESUME → dispatches. Drops are resumed; op 9 and close codes 4007/4009
start a fresh session; 4004 and 4010–4014 (and a repeated 4003) end it for good through
``on_fatal``, as does a gateway that keeps failing. After every reconnection ``on_gap`` tells
the account that dispatches may have been missed, so it can catch up over REST.

The token goes into IDENTIFY and RESUME only: never into a log line, a reason or a repr.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random as random_module
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake

from mjgate.providers.discord import gateway_wire as wire
from mjgate.providers.discord.errors import AccountRefused, DiscordUnavailable

log = logging.getLogger(__name__)
# websockets logs every frame at DEBUG, IDENTIFY and RESUME (with the token) included: its
# logger for these connections never goes below INFO, whatever the root level says.
_socket_log = logging.getLogger(__name__ + ".socket")
_socket_log.setLevel(logging.INFO)

DEFAULT_GATEWAY_URL = wire.DEFAULT_GATEWAY_URL

Dispatch = Callable[[str, Mapping[str, Any]], Awaitable[None]]


@dataclass
class _Link:
    """One websocket connection and what belongs to it alone."""

    ws: ClientConnection
    decoder: wire.FrameDecoder
    acked: bool = True
    zombie: bool = False


@dataclass
class _Next:
    """What the run loop does after a connection ended."""

    failure: bool = True  # counts toward backoff and "keeps failing"
    fresh: bool = False  # forget the session: IDENTIFY next time
    delay: float = 0.0  # wait this long first (op 9)


class _Reconnect(Exception):
    """Raised inside a connection to leave it and go on as ``plan`` says."""

    def __init__(self, plan: _Next) -> None:
        super().__init__()
        self.plan = plan


class GatewaySession:
    """The gateway session of one account; ``start()`` it, ``close()`` it."""

    def __init__(
        self,
        *,
        url: str = DEFAULT_GATEWAY_URL,
        token: str,
        user_agent: str,
        on_dispatch: Dispatch,
        on_ready: Callable[[str], Awaitable[None]] | None = None,
        on_gap: Callable[[], Awaitable[None]] | None = None,
        on_fatal: Callable[[str], Awaitable[None]] | None = None,
        compress: bool = True,
        resume_url_allowed: bool | None = None,
        backoff_initial: float = 1.0,
        backoff_max: float = 60.0,
        backoff_jitter: float = 0.5,
        max_failures: int = 10,
        failure_window: float = 600.0,
        invalid_session_delay: tuple[float, float] = (1.0, 5.0),
        open_timeout: float = 20.0,
        close_timeout: float = 5.0,
        max_size: int = 16 * 1024 * 1024,
        client_build_number: int = wire.CLIENT_BUILD_NUMBER,
        random: random_module.Random | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._base = url.rstrip("/")
        self._token = token
        self._user_agent = user_agent
        self._on_dispatch = on_dispatch
        self._on_ready = on_ready
        self._on_gap = on_gap
        self._on_fatal = on_fatal
        self._compress = compress
        # READY's resume_gateway_url is Discord's own host: behind a reverse proxy or in the
        # simulator it would bypass the operator's base, so it is used with the default only.
        self._resume_url_allowed = (
            self._base == DEFAULT_GATEWAY_URL if resume_url_allowed is None else resume_url_allowed
        )
        self._backoff_initial = backoff_initial
        self._backoff_max = backoff_max
        self._backoff_jitter = backoff_jitter
        self._max_failures = max_failures
        self._failure_window = failure_window
        self._invalid_session_delay = invalid_session_delay
        self._open_timeout = open_timeout
        self._close_timeout = close_timeout
        self._max_size = max_size
        self._client_build_number = client_build_number
        self._random = random or random_module.Random()
        self._clock = clock

        self._session_id: str | None = None
        self._seq: int | None = None
        self._resume_url: str | None = None
        self._link: _Link | None = None
        self._task: asyncio.Task[None] | None = None
        self._gap_tasks: set[asyncio.Task[None]] = set()
        self._closing = False
        self._stopped = asyncio.Event()  # set by close(): ends any wait at once
        self._live = asyncio.Event()  # READY or RESUMED on the current connection
        self._ended = asyncio.Event()  # fatal or closed: nobody should wait for READY
        self._fatal_reason: str | None = None
        self._failures: list[float] = []
        self._backoff_step = 0
        self._not_authenticated = 0
        self._was_ready = False
        # Counters, for tests and metrics.
        self.identifies = 0
        self.resumes = 0
        self.reconnects = 0
        self.heartbeats = 0

    def __repr__(self) -> str:
        return f"GatewaySession(url={self._base!r}, session_id={self._session_id!r})"

    # -- the outside -------------------------------------------------------------------------

    @property
    def session_id(self) -> str | None:
        return self._session_id

    @property
    def connected(self) -> bool:
        """Whether the current connection is READY or RESUMED."""
        return self._live.is_set()

    @property
    def is_fatal(self) -> bool:
        return self._fatal_reason is not None

    @property
    def fatal_reason(self) -> str | None:
        return self._fatal_reason

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self._run(), name="discord-gateway")

    async def wait_ready(self, timeout: float | None = None) -> str:  # noqa: ASYNC109
        """The session id once READY (or RESUMED); raises if the session ended or timed out.

        Takes a timeout (rather than asking for ``asyncio.timeout``) so that running out of
        time is a ``DiscordUnavailable`` like every other reason the session is not there.
        """
        live = asyncio.ensure_future(self._live.wait())
        ended = asyncio.ensure_future(self._ended.wait())
        try:
            await asyncio.wait({live, ended}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
        finally:
            live.cancel()
            ended.cancel()
        if self._live.is_set() and self._session_id is not None:
            return self._session_id
        if self._fatal_reason is not None:
            raise AccountRefused(self._fatal_reason)
        if self._ended.is_set():
            raise DiscordUnavailable("the Discord gateway session is closed")
        raise DiscordUnavailable("the Discord gateway did not become ready in time")

    async def close(self) -> None:
        """Stop for good: close the websocket, no reconnect."""
        self._closing = True
        self._stopped.set()
        self._ended.set()
        link = self._link
        if link is not None:
            with contextlib.suppress(Exception):
                await link.ws.close(1000, "closing")
        for gap in list(self._gap_tasks):
            gap.cancel()
        task = self._task
        # A callback may call close() from inside the run loop: it then ends on its own.
        if task is not None and task is not asyncio.current_task():
            with contextlib.suppress(asyncio.CancelledError):
                await task

    # -- the run loop ------------------------------------------------------------------------

    async def _run(self) -> None:
        try:
            while not self._closing and self._fatal_reason is None:
                plan = await self._connection()
                if self._closing or self._fatal_reason is not None:
                    break
                if plan.fresh:
                    self._session_id = self._seq = self._resume_url = None
                delay = plan.delay
                if plan.failure:
                    delay = max(delay, self._note_failure())
                    if self._fatal_reason is not None:
                        break
                if delay > 0:
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(self._stopped.wait(), delay)
                if not self._closing:
                    self.reconnects += 1
        except Exception:
            # A bug of ours must not leave an account silently deaf: it leaves service instead.
            log.exception("Discord gateway: the session loop failed")
            self._set_fatal("the Discord gateway client failed unexpectedly")
        finally:
            self._live.clear()
            self._ended.set()
        if self._fatal_reason is not None:
            await self._call("on_fatal", self._on_fatal, self._fatal_reason)

    def _note_failure(self) -> float:
        """Record a failed connection; the backoff before the next (or fatal)."""
        now = self._clock()
        self._failures = [at for at in self._failures if now - at < self._failure_window]
        self._failures.append(now)
        if len(self._failures) >= self._max_failures:
            self._set_fatal(
                f"the Discord gateway keeps failing ({len(self._failures)} failures"
                f" within {self._failure_window:g} s)"
            )
            return 0.0
        self._backoff_step += 1
        delay = min(self._backoff_max, self._backoff_initial * 2.0 ** (self._backoff_step - 1))
        delay *= 1 - self._backoff_jitter * self._random.random()
        log.warning("Discord gateway: reconnecting in %.2f s", delay)
        return delay

    def _set_fatal(self, reason: str) -> None:
        if self._fatal_reason is None:
            self._fatal_reason = reason
            log.error("Discord gateway: giving up: %s", reason)
            self._ended.set()

    def _connect_url(self) -> str:
        base = self._base
        if self._session_id is not None and self._resume_url and self._resume_url_allowed:
            base = self._resume_url
        return wire.gateway_url(base, compress=self._compress)

    async def _connection(self) -> _Next:
        """One websocket from connect to close; what to do next."""
        try:
            ws = await connect(
                self._connect_url(),
                user_agent_header=self._user_agent,
                additional_headers={"Origin": "https://discord.com"},
                compression=None,  # Discord's own zlib-stream instead
                max_size=self._max_size,
                open_timeout=self._open_timeout,
                close_timeout=self._close_timeout,
                ping_interval=None,  # Discord's heartbeats keep the link checked
                proxy=None,  # bases are explicit settings, as for REST (trust_env=False)
                logger=_socket_log,
            )
        except (OSError, TimeoutError, InvalidHandshake) as exc:
            log.warning("Discord gateway: could not connect (%s)", type(exc).__name__)
            return _Next()
        link = self._link = _Link(
            ws, wire.FrameDecoder(compress=self._compress, max_size=self._max_size)
        )
        beating: asyncio.Task[None] | None = None
        try:
            if self._closing:  # close() came while connecting
                return _Next(failure=False)
            hello = await asyncio.wait_for(self._receive(link), self._open_timeout)
            if hello.get("op") != 10:
                log.warning("Discord gateway: no HELLO first (op %r)", hello.get("op"))
                await ws.close(wire.RECONNECT_CLOSE, "expected HELLO")
                return _Next()
            interval = float(hello["d"]["heartbeat_interval"]) / 1000
            beating = asyncio.create_task(self._heartbeat(link, interval))
            await (self._resume(link) if self._session_id is not None else self._identify(link))
            while True:
                await self._handle(link, await self._receive(link))
        except _Reconnect as reconnect:
            return reconnect.plan
        except ConnectionClosed as closed:
            return self._after_close(link, closed)
        except (TimeoutError, OSError, KeyError, TypeError, ValueError) as exc:
            log.warning("Discord gateway: connection failed (%s)", type(exc).__name__)
            return _Next()
        finally:
            self._live.clear()
            self._link = None
            if beating is not None:
                beating.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await beating
            # Any code but 1000/1001 keeps the session resumable; a no-op when already closed.
            with contextlib.suppress(Exception):
                await ws.close(wire.RECONNECT_CLOSE, "reconnecting")

    def _after_close(self, link: _Link, closed: ConnectionClosed) -> _Next:
        if self._closing:
            return _Next(failure=False)
        if link.zombie:
            log.warning("Discord gateway: no heartbeat ACK; reconnecting to resume")
            return _Next()
        code = closed.rcvd.code if closed.rcvd is not None else None
        log.warning("Discord gateway: closed by the server (code %s)", code)
        if code in wire.FATAL_CLOSES:
            self._set_fatal(wire.FATAL_CLOSES[code])
            return _Next(failure=False)
        if code == wire.NOT_AUTHENTICATED:
            self._not_authenticated += 1
            if self._not_authenticated > 1:
                self._set_fatal("Discord refused the token (gateway close 4003, twice)")
            return _Next(fresh=True)
        if code in wire.FRESH_SESSION_CLOSES:
            return _Next(fresh=True)
        return _Next()

    # -- one connection ----------------------------------------------------------------------

    async def _receive(self, link: _Link) -> dict[str, Any]:
        """The next whole gateway payload."""
        while (payload := link.decoder.feed(await link.ws.recv())) is None:
            pass
        return payload

    async def _send(self, link: _Link, op: int, data: Any) -> None:
        await link.ws.send(wire.frame(op, data))

    async def _heartbeat(self, link: _Link, interval: float) -> None:
        # The first beat at a random point of the interval spreads many clients out.
        await asyncio.sleep(interval * self._random.random())
        while True:
            if not link.acked:
                link.zombie = True
                with contextlib.suppress(Exception):
                    await link.ws.close(wire.RECONNECT_CLOSE, "heartbeat ACK missing")
                return
            link.acked = False
            self.heartbeats += 1
            with contextlib.suppress(ConnectionClosed):
                await self._send(link, 1, self._seq)
            await asyncio.sleep(interval)

    async def _identify(self, link: _Link) -> None:
        self.identifies += 1
        payload = wire.identify(self._token, self._user_agent, self._client_build_number)
        await self._send(link, 2, payload)

    async def _resume(self, link: _Link) -> None:
        assert self._session_id is not None
        self.resumes += 1
        await self._send(link, 6, wire.resume(self._token, self._session_id, self._seq))

    async def _handle(self, link: _Link, payload: Mapping[str, Any]) -> None:
        op = payload.get("op")
        if op == 0:
            await self._dispatch(payload)
        elif op == 11:
            link.acked = True
        elif op == 1:  # the server asks for a beat now
            await self._send(link, 1, self._seq)
        elif op == 7:
            log.info("Discord gateway: asked to reconnect (op 7)")
            raise _Reconnect(_Next(failure=False))
        elif op == 9:
            resumable = payload.get("d") is True
            log.info("Discord gateway: session invalidated (op 9, resumable=%s)", resumable)
            if resumable:
                raise _Reconnect(_Next(failure=False))
            low, high = self._invalid_session_delay
            raise _Reconnect(
                _Next(failure=False, fresh=True, delay=self._random.uniform(low, high))
            )

    async def _dispatch(self, payload: Mapping[str, Any]) -> None:
        if isinstance(payload.get("s"), int):
            self._seq = payload["s"]
        name = str(payload.get("t"))
        data = payload.get("d")
        data = data if isinstance(data, Mapping) else {}
        gap = False
        if name == "READY":
            self._session_id = str(data["session_id"])
            resume_url = data.get("resume_gateway_url")
            self._resume_url = str(resume_url) if resume_url else None
            gap = self._was_ready
            self._settle()
            log.info("Discord gateway: READY")
            await self._call("on_ready", self._on_ready, self._session_id)
        elif name == "RESUMED":
            gap = True
            self._settle()
            log.info("Discord gateway: RESUMED")
        await self._call("on_dispatch", self._on_dispatch, name, data)
        if gap and self._on_gap is not None:
            # In a task of its own: catching up over REST may take longer than a heartbeat.
            task = asyncio.create_task(self._call("on_gap", self._on_gap))
            self._gap_tasks.add(task)
            task.add_done_callback(self._gap_tasks.discard)

    def _settle(self) -> None:
        """A session is up: the failure streak is over."""
        self._was_ready = True
        self._backoff_step = 0
        self._not_authenticated = 0
        self._live.set()

    async def _call(
        self, what: str, callback: Callable[..., Awaitable[None]] | None, *args: Any
    ) -> None:
        """Run a callback; its failure is logged and never ends the session."""
        if callback is None:
            return
        try:
            await callback(*args)
        except Exception:
            log.exception("Discord gateway: the %s callback failed", what)
