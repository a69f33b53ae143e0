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
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Protocol, TypeVar

import asyncpg  # type: ignore[import-untyped]  # no stubs ship with asyncpg
import orjson

from mjgate.domain.accounts import TokenHolder
from mjgate.domain.tasks import BotType, Mode, TaskAction, TaskRecord, TaskStatus

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


def token_and_tasks_sql(placeholder: Callable[[int], str], ids_condition: str) -> str:
    """The token's holder, joined to the held tasks among some ids: one row per task found,
    or a single row with NULL task columns when none is (a LEFT JOIN keeps the holder)."""
    return (
        f"SELECT {_TOKEN_COLUMNS}, {_TASK_COLUMNS} {_FROM_TOKEN} "
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


class PolledReads(Protocol):
    async def token_holder(self, token_hash: str) -> TokenHolder | None: ...

    async def holder_and_tasks(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskRecord]]:
        """The token's holder and those of ``task_ids`` it may read, in no set order."""
        ...

    async def close(self) -> None: ...


def _sqlite_placeholder(_n: int) -> str:
    return "?"


_SQLITE_TOKEN = token_sql(_sqlite_placeholder)
# Read connections never write; the others are sized for reads of a large tasks table.
_SQLITE_READ_PRAGMAS = (
    "PRAGMA query_only=ON",
    "PRAGMA busy_timeout=30000",
    "PRAGMA cache_size=-16384",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
)
SQLITE_READ_THREADS = 4


class SqlitePolledReads:
    """Each read runs whole on one of a few threads, each with its own ``sqlite3`` connection:
    one hop off the event loop per request, and the query itself runs without the GIL."""

    def __init__(self, path: str, threads: int = SQLITE_READ_THREADS) -> None:
        self._path = path
        self._threads = threads
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._opened_lock = threading.Lock()
        self._executor: ThreadPoolExecutor | None = None

    def _connection(self) -> sqlite3.Connection:
        connection: sqlite3.Connection | None = getattr(self._local, "connection", None)
        if connection is None:
            connection = sqlite3.connect(
                self._path, timeout=30, isolation_level=None, check_same_thread=False
            )
            for pragma in _SQLITE_READ_PRAGMAS:
                connection.execute(pragma)
            self._local.connection = connection
            with self._opened_lock:
                self._opened.append(connection)
        return connection

    def _in_thread(self, work: Callable[[], T]) -> Awaitable[T]:
        if self._executor is None:
            self._executor = ThreadPoolExecutor(self._threads, thread_name_prefix="mjgate-read")
        return asyncio.get_running_loop().run_in_executor(self._executor, work)

    async def token_holder(self, token_hash: str) -> TokenHolder | None:
        def read() -> TokenHolder | None:
            row = self._connection().execute(_SQLITE_TOKEN, (token_hash,)).fetchone()
            return None if row is None else token_holder(row)

        return await self._in_thread(read)

    async def holder_and_tasks(
        self, token_hash: str, task_ids: Sequence[str]
    ) -> tuple[TokenHolder | None, list[TaskRecord]]:
        ids = list(task_ids)
        condition = "k.id = ?" if len(ids) == 1 else f"k.id IN ({', '.join('?' * len(ids))})"
        sql = token_and_tasks_sql(_sqlite_placeholder, condition)

        def read() -> tuple[TokenHolder | None, list[TaskRecord]]:
            return holder_and_tasks(self._connection().execute(sql, (*ids, token_hash)).fetchall())

        return await self._in_thread(read)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is not None:
            executor.shutdown(wait=True)
        with self._opened_lock:
            opened, self._opened = self._opened, []
        for connection in opened:
            connection.close()
        self._local = threading.local()


def _pg_placeholder(n: int) -> str:
    return f"${n}"


_PG_TOKEN = token_sql(_pg_placeholder)
# One statement text whatever the number of ids, so asyncpg's prepared-statement cache holds.
_PG_TASKS = token_and_tasks_sql(_pg_placeholder, "k.id = ANY($2::text[])")
PG_READ_POOL_SIZE = 10


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
        pool = await asyncpg.create_pool(self._dsn, min_size=1, max_size=self._max_size)
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

    async def close(self) -> None:
        pool, self._pool, self._opening = self._pool, None, None
        if pool is not None and self._pool_loop is asyncio.get_running_loop():
            await pool.close()
        elif pool is not None:
            pool.terminate()
