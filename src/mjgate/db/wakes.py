"""Wake-ups between processes on PostgreSQL: NOTIFY on commit, LISTEN in the workers.

A submit in one process must start a task in another within milliseconds, without every
worker polling the tasks table. The writer sends ``pg_notify`` inside its transaction (PG
delivers it on commit, never for a rollback); each worker process keeps one connection
LISTENing and turns every notification into its in-memory wake signal. The dispatcher's own
tick stays as the fallback, so a lost listener only costs latency, never work.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # ships no type information
from sqlalchemy.engine import make_url

log = logging.getLogger(__name__)

WAKE_CHANNEL = "mjgate_work"
# How often the listener proves its connection alive: a silently dropped connection would
# otherwise deliver nothing and say nothing.
KEEPALIVE_SECONDS = 15.0
RECONNECT_SECONDS = 1.0


def asyncpg_dsn(url: str) -> str:
    """The plain ``postgresql://`` form asyncpg connects with."""
    return make_url(url).set(drivername="postgresql").render_as_string(hide_password=False)


class WakeListener:
    """One LISTEN connection, kept open and reopened, calling ``on_wake`` per notification."""

    def __init__(self, url: str, on_wake: Callable[[], None]) -> None:
        self._dsn = asyncpg_dsn(url)
        self._on_wake = on_wake
        self._closing = asyncio.Event()
        self.listening = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="mjgate-listen")

    async def close(self) -> None:
        self._closing.set()
        if self._task is not None:
            await self._task
            self._task = None

    async def _run(self) -> None:
        while not self._closing.is_set():
            try:
                await self._listen_once()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
                log.warning("wake listener lost its connection, reconnecting: %s", exc)
            self.listening.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._closing.wait(), RECONNECT_SECONDS)

    async def _listen_once(self) -> None:
        connection: Any = await asyncpg.connect(self._dsn, timeout=10)
        lost = asyncio.Event()
        try:
            connection.add_termination_listener(lambda _connection: lost.set())
            await connection.add_listener(WAKE_CHANNEL, self._notified)
            self.listening.set()
            self._on_wake()  # whatever was announced while nobody listened
            while not (self._closing.is_set() or lost.is_set()):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), KEEPALIVE_SECONDS)
                if not self._closing.is_set() and not lost.is_set():
                    await connection.fetchval("SELECT 1", timeout=10)
        finally:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(connection.close(), 5)

    def _notified(self, *_args: object) -> None:
        self._on_wake()
