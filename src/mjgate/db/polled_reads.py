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
import orjson

from mjgate.db.submit_writes import ENABLED_CHANNELS, active_counts_sql, channel_from_row
from mjgate.domain.accounts import TokenHolder
from mjgate.domain.channels import Channel
from mjgate.domain.tasks import (
    ACTIVE_STATUSES,
    BotType,
    Mode,
    TaskAction,
    TaskRecord,
    TaskStatus,
    TaskVersion,
)

T = TypeVar("T")
Row = Sequence[Any]

_TOKEN_COLUMNS = "t.id, t.enabled, u.id, u.is_admin, u.enabled, u.name"
_TASK_COLUMNS = ", ".join(f"k.{name}" for name in TaskRecord._fields)
_FROM_TOKEN = "FROM tokens t JOIN users u ON u.id = t.user_id"
# An admin reads every task; anyone else only their own (and never learns which is which).
_OWNED = "(u.is_admin OR k.user_id = u.id)"
_WIDTH = len(_TOKEN_COLUMNS.split(","))

# Enum members by stored value: a dict lookup, cheaper than calling the enum class per row.
_ACTIONS = {member.value: member for member in TaskAction}
_STATUSES = {member.value: member for member in TaskStatus}
_MODES = {member.value: member for member in Mode}
_BOT_TYPES = {member.value: member for member in BotType}


def token_sql(placeholder: Callable[[int], str]) -> str:
    return f"SELECT {_TOKEN_COLUMNS} {_FROM_TOKEN} WHERE t.token_hash = {placeholder(1)}"


def token_and_tasks_sql(
    placeholder: Callable[[int], str], ids_condition: str, columns: str = _TASK_COLUMNS
) -> str:
    """The token's holder, joined to the held tasks among some ids: one row per task found,
    or a single row with NULL task columns when none is (a LEFT JOIN keeps the holder)."""
    return (
        f"SELECT {_TOKEN_COLUMNS}, {columns} {_FROM_TOKEN} "
        f"LEFT JOIN tasks k ON {ids_condition} AND {_OWNED} "
        f"WHERE t.token_hash = {placeholder(1)}"
    )


def token_holder(row: Row) -> TokenHolder:
    return TokenHolder(
        token_id=int(row[0]),
        token_enabled=bool(row[1]),
        user_id=int(row[2]),
        user_is_admin=bool(row[3]),
        user_enabled=bool(row[4]),
        user_name=str(row[5]),
    )


def _json(value: Any) -> Any:
    # SQLite hands JSON columns back as text, asyncpg hands `json` back as text too.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def task_record(row: Row) -> TaskRecord:
    """A ``TaskRecord`` from the task columns of a row, in ``TaskRecord._fields`` order."""
    (
        task_id,
        user_id,
        action,
        status,
        mode,
        bot_type,
        prompt,
        prompt_en,
        description,
        state,
        custom_id,
        public_base,
        submit_time,
        start_time,
        finish_time,
        progress,
        fail_reason,
        buttons,
        properties,
        result,
        price,
        refunded,
    ) = row
    return TaskRecord(
        task_id,
        user_id,
        _ACTIONS[action],
        _STATUSES[status],
        _MODES[mode],
        _BOT_TYPES[bot_type],
        prompt,
        prompt_en,
        description,
        state,
        custom_id,
        public_base,
        submit_time,
        start_time,
        finish_time,
        progress,
        fail_reason,
        _json(buttons),
        _json(properties),
        _json(result),
        price,
        bool(refunded),
    )


def holder_and_tasks(rows: Sequence[Row]) -> tuple[TokenHolder | None, list[TaskRecord]]:
    if not rows:
        return None, []
    records = [task_record(row[_WIDTH:]) for row in rows if row[_WIDTH] is not None]
    return token_holder(rows[0]), records


_VERSION_COLUMNS = "k.id, k.status, k.updated_at, k.refunded"


def holder_and_versions(rows: Sequence[Row]) -> tuple[TokenHolder | None, list[TaskVersion]]:
    if not rows:
        return None, []
    versions = [
        TaskVersion(row[_WIDTH], _STATUSES[row[_WIDTH + 1]], row[_WIDTH + 2], bool(row[_WIDTH + 3]))
        for row in rows
        if row[_WIDTH] is not None
    ]
    return token_holder(rows[0]), versions


def tasks_sql(ids_condition: str) -> str:
    return f"SELECT {_TASK_COLUMNS} FROM tasks k WHERE {ids_condition}"


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


def _sqlite_placeholder(_n: int) -> str:
    return "?"


_SQLITE_TOKEN = token_sql(_sqlite_placeholder)
# Read connections never write; the others are sized for reads of a large tasks table.
_SQLITE_READ_PRAGMAS = (
    "PRAGMA query_only=ON",
    "PRAGMA cache_size=-16384",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
)
SQLITE_FALLBACK_THREADS = 2


def _sqlite_ids(count: int) -> str:
    return "k.id = ?" if count == 1 else f"k.id IN ({', '.join('?' * count)})"


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
        connection = sqlite3.connect(
            self._path,
            timeout=busy_timeout_ms / 1000,
            isolation_level=None,
            check_same_thread=False,
        )
        for pragma in _SQLITE_READ_PRAGMAS:
            connection.execute(pragma)
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
            connection = self._local.connection = self._connect(busy_timeout_ms=30_000)
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

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        def read(connection: sqlite3.Connection) -> TokenHolder | None:
            row = connection.execute(_SQLITE_TOKEN, (token_hash,)).fetchone()
            return None if row is None else token_holder(row)

        return await self._read(read)

    async def holder_and_tasks(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskRecord]]:
        ids = list(task_ids)
        sql = token_and_tasks_sql(_sqlite_placeholder, _sqlite_ids(len(ids)))

        def read(connection: sqlite3.Connection) -> tuple[TokenHolder | None, list[TaskRecord]]:
            return holder_and_tasks(connection.execute(sql, (*ids, token_hash)).fetchall())

        return await self._read(read)

    async def holder_and_versions(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskVersion]]:
        ids = list(task_ids)
        sql = token_and_tasks_sql(_sqlite_placeholder, _sqlite_ids(len(ids)), _VERSION_COLUMNS)

        def read(connection: sqlite3.Connection) -> tuple[TokenHolder | None, list[TaskVersion]]:
            return holder_and_versions(connection.execute(sql, (*ids, token_hash)).fetchall())

        return await self._read(read)

    async def task_records(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        ids = list(task_ids)
        sql = tasks_sql(_sqlite_ids(len(ids)))

        def read(connection: sqlite3.Connection) -> list[TaskRecord]:
            return [task_record(row) for row in connection.execute(sql, ids).fetchall()]

        return await self._read(read)

    async def enabled_channels(self) -> list[Channel]:
        def read(connection: sqlite3.Connection) -> list[Channel]:
            return [channel_from_row(row) for row in connection.execute(ENABLED_CHANNELS)]

        return await self._read(read)

    async def active_counts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        ids = list(channel_ids)
        sql = active_counts_sql(ACTIVE_STATUSES, f"channel_id IN ({', '.join('?' * len(ids))})")

        def read(connection: sqlite3.Connection) -> dict[int, int]:
            return _counts(connection.execute(sql, ids).fetchall())

        return await self._read(read)

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


def _pg_placeholder(n: int) -> str:
    return f"${n}"


_PG_TOKEN = token_sql(_pg_placeholder)
# One statement text whatever the number of ids, so asyncpg's prepared-statement cache holds.
_PG_TASKS = token_and_tasks_sql(_pg_placeholder, "k.id = ANY($2::text[])")
_PG_VERSIONS = token_and_tasks_sql(_pg_placeholder, "k.id = ANY($2::text[])", _VERSION_COLUMNS)
_PG_RECORDS = tasks_sql("k.id = ANY($1::text[])")
_PG_COUNTS = active_counts_sql(ACTIVE_STATUSES, "channel_id = ANY($1::int[])")
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

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        pool = await self._ready_pool()
        row = await pool.fetchrow(_PG_TOKEN, token_hash)
        return None if row is None else token_holder(row)

    async def holder_and_tasks(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskRecord]]:
        pool = await self._ready_pool()
        rows = await pool.fetch(_PG_TASKS, token_hash, list(task_ids))
        return holder_and_tasks([tuple(row) for row in rows])

    async def holder_and_versions(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskVersion]]:
        pool = await self._ready_pool()
        rows = await pool.fetch(_PG_VERSIONS, token_hash, list(task_ids))
        return holder_and_versions([tuple(row) for row in rows])

    async def task_records(self, task_ids: Sequence[str]) -> list[TaskRecord]:
        pool = await self._ready_pool()
        return [task_record(tuple(row)) for row in await pool.fetch(_PG_RECORDS, list(task_ids))]

    async def enabled_channels(self) -> list[Channel]:
        pool = await self._ready_pool()
        return [channel_from_row(tuple(row)) for row in await pool.fetch(ENABLED_CHANNELS)]

    async def active_counts(self, channel_ids: Sequence[int]) -> dict[int, int]:
        pool = await self._ready_pool()
        return _counts([tuple(row) for row in await pool.fetch(_PG_COUNTS, list(channel_ids))])

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
