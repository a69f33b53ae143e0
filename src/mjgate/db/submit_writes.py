"""The submit's write transaction on the bare driver: lock, count, insert, charge, outbox.

A submit is about ten statements under the per-channel lock. Through the ORM on aiosqlite
each one is several hops to the driver's thread, and on SQLite the whole transaction holds
the file's only write lock: time inside ``BEGIN IMMEDIATE`` is the submit's ceiling, and
most of it was thread hand-overs (the GIL waits out its switch interval under load). Here
the same statements run as plain SQL: on SQLite on the event loop's thread, on a connection
of its own (each statement is tens of microseconds from the page cache); on PostgreSQL on
an asyncpg connection with prepared statements, one round trip per statement and no ORM
flush. The statements and their guards are those of ``UnitOfWork`` (the guarded debit, the
ledger's unique (task_id, kind), the queue place drawn under the channel lock).
"""

from __future__ import annotations

import asyncio
import functools
import re
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from enum import Enum
from typing import Any, Protocol

import asyncpg  # type: ignore[import-untyped]  # no stubs ship with asyncpg
import orjson
from sqlalchemy import JSON

from mjgate.db.tables import channels, tasks, webhook_deliveries
from mjgate.db.wakes import WAKE_CHANNEL
from mjgate.domain.accounts import LedgerEntry
from mjgate.domain.channels import Channel
from mjgate.domain.tasks import Task, TaskStatus
from mjgate.domain.webhooks import DeliveryStatus, WebhookDelivery

Row = Sequence[Any]


class QuotaWork(Protocol):
    """What a charge needs of a transaction (``UnitOfWork`` and ``SubmitWork`` both)."""

    async def debit(self, user_id: int, amount: int) -> bool: ...

    async def charge_token(self, token_id: int, amount: int) -> bool: ...

    async def record_ledger(self, entry: LedgerEntry) -> bool: ...


class PriceWork(Protocol):
    async def price_overrides(self) -> dict[str, int]: ...


class OutboxWork(Protocol):
    """What queueing a webhook needs of a transaction."""

    async def supersede_deliveries(self, task_id: str, now: int) -> None: ...

    def add(self, obj: object) -> None: ...

    def after_commit(self, callback: Callable[[], None]) -> None: ...


_TASK_COLUMNS = [column.name for column in tasks.columns]
_TASK_JSON = {c.name for c in tasks.columns if isinstance(c.type, JSON)}
_CHANNEL_COLUMNS = [column.name for column in channels.columns]
_CHANNEL_JSON = {c.name for c in channels.columns if isinstance(c.type, JSON)}
_DELIVERY_COLUMNS = [c.name for c in webhook_deliveries.columns if c.name != "id"]


def _numbered(count: int, start: int = 1) -> str:
    return ", ".join(f"${n}" for n in range(start, start + count))


def _in(values: Iterable[Enum]) -> str:
    # The members' values are constants of this code base, never client input.
    return ", ".join(f"'{member.value}'" for member in values)


_LOCK_CHANNEL = f"SELECT {', '.join(_CHANNEL_COLUMNS)} FROM channels WHERE id = $1"
ENABLED_CHANNELS = f"SELECT {', '.join(_CHANNEL_COLUMNS)} FROM channels WHERE enabled ORDER BY id"
_NEXT_SEQ = "SELECT coalesce(max(queue_seq), 0) FROM tasks WHERE channel_id = $1"
_INSERT_TASK = (
    f"INSERT INTO tasks ({', '.join(_TASK_COLUMNS)}) VALUES ({_numbered(len(_TASK_COLUMNS))}) "
    "ON CONFLICT (id) DO NOTHING"
)
_PRICES = "SELECT key, price FROM prices"
_DEBIT = "UPDATE users SET balance = balance - $1 WHERE id = $2 AND balance >= $1"
_CHARGE_TOKEN = (
    "UPDATE tokens SET spent = spent + $1 "
    "WHERE id = $2 AND (spend_cap IS NULL OR spent + $1 <= spend_cap)"
)
_LEDGER = (
    "INSERT INTO ledger (user_id, token_id, task_id, amount, kind, reason, created_at) "
    f"VALUES ({_numbered(7)}) ON CONFLICT (task_id, kind) DO NOTHING"
)
_SUPERSEDE = (
    f"UPDATE webhook_deliveries SET status = '{DeliveryStatus.SUPERSEDED.value}', "
    "worker_id = NULL, lease_until = NULL "
    f"WHERE task_id = $1 AND status = '{DeliveryStatus.PENDING.value}' AND NOT is_final "
    "AND (lease_until IS NULL OR lease_until < $2)"
)
_INSERT_DELIVERY = (
    f"INSERT INTO webhook_deliveries ({', '.join(_DELIVERY_COLUMNS)}) "
    f"VALUES ({_numbered(len(_DELIVERY_COLUMNS))})"
)


def _json(value: Any) -> Any:
    # SQLite hands JSON columns back as text, asyncpg hands `json` back as text too.
    return orjson.loads(value) if isinstance(value, str | bytes) else value


def channel_from_row(row: Row) -> Channel:
    """A ``Channel`` (not attached to any session) from the columns in ``channels`` order."""
    values = {
        name: (_json(value) if name in _CHANNEL_JSON else value)
        for name, value in zip(_CHANNEL_COLUMNS, row, strict=False)
    }
    values["enabled"] = bool(values["enabled"])
    return Channel(**values)


def _plain(value: Any) -> Any:
    return value.value if isinstance(value, Enum) else value


def _task_values(task: Task) -> list[Any]:
    return [
        orjson.dumps(getattr(task, name)).decode()
        if name in _TASK_JSON
        else _plain(getattr(task, name))
        for name in _TASK_COLUMNS
    ]


def _delivery_values(delivery: WebhookDelivery) -> list[Any]:
    return [_plain(getattr(delivery, name)) for name in _DELIVERY_COLUMNS]


class SubmitWork:
    """One submit's transaction: the subset of ``UnitOfWork`` that ``create_task`` uses.

    Subclasses supply ``_execute`` (the number of rows changed), ``_one`` and ``_all``.
    """

    def __init__(self) -> None:
        self.committed_callbacks: list[Callable[[], None]] = []
        self._pending: list[WebhookDelivery] = []

    async def _execute(self, sql: str, *args: Any) -> int:
        raise NotImplementedError

    async def _one(self, sql: str, *args: Any) -> Row | None:
        raise NotImplementedError

    async def _all(self, sql: str, *args: Any) -> list[Row]:
        raise NotImplementedError

    def after_commit(self, callback: Callable[[], None]) -> None:
        if callback not in self.committed_callbacks:
            self.committed_callbacks.append(callback)

    async def announce_work(self) -> None:
        """See ``UnitOfWork.announce_work``: a no-op on SQLite."""

    async def lock_channel(self, channel_id: int) -> Channel | None:
        row = await self._one(self._lock_channel_sql, channel_id)
        return None if row is None else channel_from_row(row)

    _lock_channel_sql = _LOCK_CHANNEL

    async def load_and_next_seq(
        self, channel_id: int, statuses: Iterable[TaskStatus]
    ) -> tuple[int, int]:
        """The channel's tasks in ``statuses`` and its next queue place, in one statement:
        call it under the channel lock (as ``count_by_status`` and ``next_queue_seq``)."""
        sql = (
            "SELECT (SELECT count(*) FROM tasks WHERE channel_id = $1 "
            f"AND status IN ({_in(statuses)})), ({_NEXT_SEQ})"
        )
        row = await self._one(sql, channel_id)
        assert row is not None
        return int(row[0]), int(row[1]) + 1

    async def insert_task(self, task: Task) -> bool:
        """Insert a new task; False (and nothing inserted) when its id is taken already."""
        return await self._execute(_INSERT_TASK, *_task_values(task)) == 1

    async def price_overrides(self) -> dict[str, int]:
        return {str(key): int(price) for key, price in await self._all(_PRICES)}

    async def debit(self, user_id: int, amount: int) -> bool:
        return await self._execute(_DEBIT, amount, user_id) == 1

    async def charge_token(self, token_id: int, amount: int) -> bool:
        return await self._execute(_CHARGE_TOKEN, amount, token_id) == 1

    async def record_ledger(self, entry: LedgerEntry) -> bool:
        changed = await self._execute(
            _LEDGER,
            entry.user_id,
            entry.token_id,
            entry.task_id,
            entry.amount,
            _plain(entry.kind),
            entry.reason,
            entry.created_at,
        )
        return changed == 1

    async def supersede_deliveries(self, task_id: str, now: int) -> None:
        await self._execute(_SUPERSEDE, task_id, now)

    def add(self, obj: object) -> None:
        """Queue an outbox row; it is inserted before the commit, in this transaction."""
        if not isinstance(obj, WebhookDelivery):
            raise TypeError(f"a submit transaction adds webhook deliveries only, not {obj!r}")
        self._pending.append(obj)

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for delivery in pending:
            await self._execute(_INSERT_DELIVERY, *_delivery_values(delivery))


_NUMBERED = re.compile(r"\$(\d+)")


@functools.cache  # a handful of statement texts, rewritten once each, not per statement
def _sqlite_sql(sql: str) -> str:
    # SQLite numbers its parameters ``?N``: the same statement texts serve both databases.
    return _NUMBERED.sub(r"?\1", sql)


class _SqliteWork(SubmitWork):
    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._connection = connection

    async def _execute(self, sql: str, *args: Any) -> int:
        return int(self._connection.execute(_sqlite_sql(sql), args).rowcount)

    async def _one(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = self._connection.execute(_sqlite_sql(sql), args).fetchone()
        return row

    async def _all(self, sql: str, *args: Any) -> list[Row]:
        return list(self._connection.execute(_sqlite_sql(sql), args).fetchall())


_SQLITE_WRITE_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
    "PRAGMA cache_size=-16384",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
)
BUSY_WAIT_SECONDS = 30.0


class SqliteSubmitWrites:
    """Submit transactions on the event loop's thread, one at a time.

    The connection has no busy timeout (waiting would stall the loop): this process's
    writers already take turns (``turn``), so ``BEGIN IMMEDIATE`` is refused only while
    another process (a CLI command) writes, and then the loop sleeps and tries again.
    Once the write lock is held, nothing inside the transaction waits for a lock.
    """

    def __init__(self, path: str, turn: asyncio.Lock) -> None:
        self._path = path
        self._turn = turn
        self._connection: sqlite3.Connection | None = None

    def _ready(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(
                self._path, timeout=0, isolation_level=None, check_same_thread=False
            )
            for pragma in _SQLITE_WRITE_PRAGMAS:
                connection.execute(pragma)
            self._connection = connection
        return self._connection

    async def _begin(self, connection: sqlite3.Connection) -> None:
        deadline = time.monotonic() + BUSY_WAIT_SECONDS
        pause = 0.001
        while True:
            try:
                connection.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as error:
                message = str(error)
                busy = "locked" in message or "busy" in message
                if not busy or time.monotonic() > deadline:
                    raise
            await asyncio.sleep(pause)
            pause = min(pause * 2, 0.05)

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SubmitWork]:
        async with self._turn:
            connection = self._ready()
            await self._begin(connection)
            work = _SqliteWork(connection)
            try:
                yield work
                await work.flush()
                connection.execute("COMMIT")
            except BaseException:
                if connection.in_transaction:
                    connection.execute("ROLLBACK")
                raise
        # After the turn is given back, as ``Database.write`` does.
        for callback in work.committed_callbacks:
            callback()

    async def close(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            connection.close()


def _changed(status: str) -> int:
    """Rows changed, from asyncpg's command tag (``INSERT 0 1``, ``UPDATE 1``)."""
    return int(status.rsplit(" ", 1)[-1])


class _PostgresWork(SubmitWork):
    def __init__(self, connection: asyncpg.Connection) -> None:
        super().__init__()
        self._connection = connection

    # NO KEY UPDATE: inserting a task that references the channel takes KEY SHARE on it,
    # which this lock leaves free, so foreign-key checks never wait on the lock.
    _lock_channel_sql = _LOCK_CHANNEL + " FOR NO KEY UPDATE"

    async def _execute(self, sql: str, *args: Any) -> int:
        return _changed(await self._connection.execute(sql, *args))

    async def _one(self, sql: str, *args: Any) -> Row | None:
        row = await self._connection.fetchrow(sql, *args)
        return None if row is None else tuple(row)

    async def _all(self, sql: str, *args: Any) -> list[Row]:
        return [tuple(row) for row in await self._connection.fetch(sql, *args)]

    async def announce_work(self) -> None:
        # Delivered when this transaction commits, and not at all if it rolls back.
        await self._connection.execute("SELECT pg_notify($1, '')", WAKE_CHANNEL)


class PostgresSubmitWrites:
    """Submit transactions on connections of the polled reads' asyncpg pool."""

    def __init__(self, acquire: Callable[[], Any]) -> None:
        self._acquire = acquire

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[SubmitWork]:
        async with self._acquire() as connection, connection.transaction():
            work = _PostgresWork(connection)
            yield work
            await work.flush()
        for callback in work.committed_callbacks:
            callback()

    async def close(self) -> None:
        """The pool is the polled reads'; they close it."""


def active_counts_sql(statuses: Iterable[TaskStatus], channels_condition: str) -> str:
    """Tasks per channel among some channels, on the (channel_id, status) index: never a
    scan of finished tasks."""
    return (
        f"SELECT channel_id, count(*) FROM tasks WHERE {channels_condition} "
        f"AND status IN ({_in(statuses)}) GROUP BY channel_id"
    )
