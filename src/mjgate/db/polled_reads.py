"""The polled reads: authenticate, fetch, list-by-ids. One statement each, on the bare driver.

Clients poll these a hundred times for every submit, so they skip the ORM session: on SQLite
every session step is a hop to aiosqlite's thread (about 18 per fetch), on PostgreSQL BEGIN
and COMMIT are round trips of their own, and row loading builds instrumented objects that
cost more than the read. Here a read is one SELECT in autocommit (a single statement is its
own consistent snapshot on both databases) answered as plain tuples. Authentication joins
the task read, so there is no token cache to invalidate: a revoked token fails at once, in
every process.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]  # no stubs ship with asyncpg

from mjgate.db.compiled import Statement
from mjgate.db.sqlite_files import SQLITE_BUSY_TIMEOUT_MS, connect_sqlite
from mjgate.db.statements import (
    ACTIVE_COUNTS_AMONG,
    ENABLED_CHANNELS,
    HOLDER_AND_TASKS,
    HOLDER_AND_VERSIONS,
    TASK_RECORDS,
    TOKEN_HOLDER,
    channel_from_row,
    holder_and_tasks,
    holder_and_versions,
    task_record,
    token_holder,
)
from mjgate.domain.accounts import TokenHolder
from mjgate.domain.channels import Channel
from mjgate.domain.tasks import ACTIVE_STATUSES, TaskRecord, TaskVersion

T = TypeVar("T")
Row = Sequence[Any]
# ``ACTIVE_STATUSES`` in one fixed order: one compiled shape of the counts.
_ACTIVE = sorted(ACTIVE_STATUSES)


class PolledReads(Protocol):
    async def token_holder(self, token_hash: str) -> TokenHolder | None: ...

    async def holder_and_tasks(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskRecord]]:
        """The token's holder and those of ``task_ids`` it may read, in no set order."""
        ...

    async def holder_and_versions(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskVersion]]:
        """As ``holder_and_tasks``, but only what tells a task's version."""
        ...

    async def task_records(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        """The tasks among ``task_ids``, whoever holds them: for ids already checked."""
        ...

    async def enabled_channels(self) -> list[Channel]: ...

    async def active_counts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        """Each of these channels' tasks that hold or wait for a slot."""
        ...

    async def close(self) -> None: ...


def _counts(rows: Sequence[Row]) -> dict[int, int]:
    return {int(channel_id): int(count) for channel_id, count in rows}


SQLITE_FALLBACK_THREADS = 2


def _is_busy(error: sqlite3.OperationalError) -> bool:
    message = str(error)
    return "locked" in message or "busy" in message


class SqlitePolledReads:
    """Reads run on the event loop's thread, on a connection of their own.

    A polled read is one indexed SELECT of at most a thousand rows: tens of microseconds
    from SQLite's page cache, less than a hop to another thread costs (a queue, a wake-up,
    and the GIL handed back and forth, which under load waits out the 5 ms switch interval).
    In WAL mode a reader never waits for writers, so the loop connection has no busy
    timeout; in the rare moment it is refused (a checkpoint resetting the log), the read is
    repeated on a thread whose connection may wait, and the loop goes on serving.
    """

    def __init__(self, path: str) -> None:
        self._path = path
        self._loop_connection: sqlite3.Connection | None = None
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _connect(self, busy_timeout_ms: int) -> sqlite3.Connection:
        connection = connect_sqlite(self._path, writes=False, busy_timeout_ms=busy_timeout_ms)
        with self._opened_lock:
            self._opened.append(connection)
        return connection

    def _on_loop(self) -> sqlite3.Connection:
        if self._loop_connection is None:
            self._loop_connection = self._connect(busy_timeout_ms=0)
        return self._loop_connection

    def _on_thread(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = self._connect(busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
            self._local.connection = connection
        return connection

    async def _read(self, work: Callable[[sqlite3.Connection], T]) -> T:
        try:
            return work(self._on_loop())
        except sqlite3.OperationalError as error:
            if not _is_busy(error):
                raise
        if self._executor is None:
            self._executor = ThreadPoolExecutor(
                SQLITE_FALLBACK_THREADS, thread_name_prefix="mjgate-read"
            )
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, lambda: work(self._on_thread()))

    async def _rows(self, statement: Statement, params: dict[str, Any]) -> list[Row]:
        sql, args = statement.bare("sqlite", params)
        return await self._read(lambda connection: connection.execute(sql, args).fetchall())

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        rows = await self._rows(TOKEN_HOLDER, {"token_hash": token_hash})
        return token_holder(rows[0]) if rows else None

    async def holder_and_tasks(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskRecord]]:
        params = {"token_hash": token_hash, "task_ids": list(task_ids)}
        return holder_and_tasks(await self._rows(HOLDER_AND_TASKS, params))

    async def holder_and_versions(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskVersion]]:
        params = {"token_hash": token_hash, "task_ids": list(task_ids)}
        return holder_and_versions(await self._rows(HOLDER_AND_VERSIONS, params))

    async def task_records(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        rows = await self._rows(TASK_RECORDS, {"task_ids": list(task_ids)})
        return [task_record(row) for row in rows]

    async def enabled_channels(self) -> list[Channel]:
        return [channel_from_row(row) for row in await self._rows(ENABLED_CHANNELS, {})]

    async def active_counts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        params = {"channel_ids": list(channel_ids), "statuses": _ACTIVE}
        return _counts(await self._rows(ACTIVE_COUNTS_AMONG, params))

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        self._loop_connection = None
        self._local = threading.local()


PG_READ_POOL_SIZE = 10


async def _keep_session(_connection: asyncpg.Connection) -> None:
    """These connections only ever run single SELECTs in autocommit: no session state to
    reset. asyncpg's default reset is a second round trip (RESET ALL, UNLISTEN, ...) after
    every read, a third of a fetch's time under load."""


class PostgresPolledReads:
    """An asyncpg pool of its own: no SQLAlchemy layers, prepared statements cached per
    connection. Made on first use, in the event loop that uses it."""

    def __init__(self, dsn: str, max_size: int = PG_READ_POOL_SIZE) -> None:
        self._dsn = dsn
        self._max_size = max_size
        self._pool: asyncpg.Pool | None = None
        self._pool_loop: asyncio.AbstractEventLoop | None = None
        self._opening: asyncio.Task[asyncpg.Pool] | None = None

    async def _open(self) -> asyncpg.Pool:
        pool = await asyncpg.create_pool(
            self._dsn, min_size=1, max_size=self._max_size, reset=_keep_session
        )
        assert pool is not None
        return pool

    async def _ready_pool(self) -> asyncpg.Pool:
        loop = asyncio.get_running_loop()
        if self._pool is not None and self._pool_loop is loop:
            return self._pool
        if self._opening is None or self._pool_loop is not loop:
            # A pool belongs to one event loop; a new loop (a test, a CLI run) opens its own.
            self._pool, self._pool_loop = None, loop
            self._opening = loop.create_task(self._open())
        self._pool = await asyncio.shield(self._opening)
        return self._pool

    async def _rows(self, statement: Statement, params: dict[str, Any]) -> list[Row]:
        pool = await self._ready_pool()
        sql, args = statement.bare("postgresql", params)
        return [tuple(row) for row in await pool.fetch(sql, *args)]

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        rows = await self._rows(TOKEN_HOLDER, {"token_hash": token_hash})
        return token_holder(rows[0]) if rows else None

    async def holder_and_tasks(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskRecord]]:
        params = {"token_hash": token_hash, "task_ids": list(task_ids)}
        return holder_and_tasks(await self._rows(HOLDER_AND_TASKS, params))

    async def holder_and_versions(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskVersion]]:
        params = {"token_hash": token_hash, "task_ids": list(task_ids)}
        return holder_and_versions(await self._rows(HOLDER_AND_VERSIONS, params))

    async def task_records(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        rows = await self._rows(TASK_RECORDS, {"task_ids": list(task_ids)})
        return [task_record(row) for row in rows]

    async def enabled_channels(self) -> list[Channel]:
        return [channel_from_row(row) for row in await self._rows(ENABLED_CHANNELS, {})]

    async def active_counts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        params = {"channel_ids": list(channel_ids), "statuses": _ACTIVE}
        return _counts(await self._rows(ACTIVE_COUNTS_AMONG, params))

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        """A connection of the pool, for a caller's own transaction."""
        pool = await self._ready_pool()
        async with pool.acquire() as connection:
            yield connection

    async def close(self) -> None:
        pool, self._pool, self._opening = self._pool, None, None
        if pool is not None and self._pool_loop is asyncio.get_running_loop():
            await pool.close()
        elif pool is not None:
            pool.terminate()
