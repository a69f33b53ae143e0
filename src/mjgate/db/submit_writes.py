"""The submit's write transaction on the bare driver: lock, count, insert, charge, outbox.

A submit is about ten statements under the per-channel lock. Through the ORM on aiosqlite
each one is several hops to the driver's thread, and on SQLite the whole transaction holds
the file's only write lock: time inside ``BEGIN IMMEDIATE`` is the submit's ceiling, and
most of it was thread hand-overs (the GIL waits out its switch interval under load). Here
the same statements run as plain SQL: on SQLite on the event loop's thread, on a connection
of its own (each statement is tens of microseconds from the page cache); on PostgreSQL on
an asyncpg connection with prepared statements, one round trip per statement and no ORM
flush. The statements are ``UnitOfWork``'s own, written once in ``db/statements.py`` (the
guarded debit, the ledger's unique (task_id, kind), the queue place drawn under the channel
lock) and compiled once per dialect for the driver (``db/compiled.py``).
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg  # type: ignore[import-untyped]  # no stubs ship with asyncpg

from mjgate.db.compiled import DialectName, Statement
from mjgate.db.sqlite_files import connect_sqlite
from mjgate.db.statements import (
    ANNOUNCE_WORK,
    CHARGE_TOKEN,
    DEBIT,
    DELIVERY_COLUMNS,
    INSERT_DELIVERY,
    INSERT_TASK,
    LEDGER_COLUMNS,
    LOAD_AND_NEXT_SEQ,
    LOCK_CHANNEL,
    PRICE_OVERRIDES,
    RECORD_LEDGER,
    SUPERSEDE_DELIVERIES,
    TASK_COLUMNS,
    channel_from_row,
)
from mjgate.db.wakes import WAKE_CHANNEL
from mjgate.domain.accounts import LedgerEntry
from mjgate.domain.channels import Channel
from mjgate.domain.tasks import Task, TaskStatus
from mjgate.domain.webhooks import WebhookDelivery

Row = Sequence[Any]


class SubmitWork:
    """One submit's transaction: the subset of ``UnitOfWork`` that ``create_task`` uses,
    running the same statements (``db/statements.py``) on the bare driver. It serves the
    services' ports ``QuotaWork``, ``PriceWork`` and ``OutboxWork`` (``services/ports.py``).

    Subclasses supply ``_execute`` (the number of rows changed), ``_one`` and ``_all``,
    each given the SQL text and positional parameters compiled for their driver.
    """

    dialect: DialectName

    def __init__(self) -> None:
        self.committed_callbacks: list[Callable[[], None]] = []
        self._pending: list[WebhookDelivery] = []

    async def _execute(self, sql: str, args: tuple[Any, ...]) -> int:
        raise NotImplementedError

    async def _one(self, sql: str, args: tuple[Any, ...]) -> Row | None:
        raise NotImplementedError

    async def _all(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        raise NotImplementedError

    async def _run(self, statement: Statement, **params: Any) -> int:
        return await self._execute(*statement.bare(self.dialect, params))

    def after_commit(self, callback: Callable[[], None]) -> None:
        if callback not in self.committed_callbacks:
            self.committed_callbacks.append(callback)

    async def announce_work(self) -> None:
        """See ``UnitOfWork.announce_work``: a no-op on SQLite."""

    async def lock_channel(self, channel_id: int) -> Channel | None:
        row = await self._one(*LOCK_CHANNEL.bare(self.dialect, {"channel_id": channel_id}))
        return None if row is None else channel_from_row(row)

    async def load_and_next_seq(
        self, channel_id: int, statuses: Iterable[TaskStatus]
    ) -> tuple[int, int]:
        """The channel's tasks in ``statuses`` and its next queue place, in one statement:
        call it under the channel lock (as ``count_by_status`` and ``next_queue_seq``)."""
        params = {"channel_id": channel_id, "statuses": list(statuses)}
        row = await self._one(*LOAD_AND_NEXT_SEQ.bare(self.dialect, params))
        assert row is not None
        return int(row[0]), int(row[1])

    async def insert_task(self, task: Task) -> bool:
        """Insert a new task; False (and nothing inserted) when its id is taken already."""
        values = {name: getattr(task, name) for name in TASK_COLUMNS}
        return await self._execute(*INSERT_TASK.bare(self.dialect, values)) == 1

    async def price_overrides(self) -> dict[str, int]:
        rows = await self._all(*PRICE_OVERRIDES.bare(self.dialect, {}))
        return {str(key): int(price) for key, price in rows}

    async def debit(self, user_id: int, amount: int) -> bool:
        return await self._run(DEBIT, user_id=user_id, amount=amount) == 1

    async def charge_token(self, token_id: int, amount: int) -> bool:
        return await self._run(CHARGE_TOKEN, token_id=token_id, amount=amount) == 1

    async def record_ledger(self, entry: LedgerEntry) -> bool:
        values = {name: getattr(entry, name) for name in LEDGER_COLUMNS}
        return await self._execute(*RECORD_LEDGER.bare(self.dialect, values)) == 1

    async def supersede_deliveries(self, task_id: str, now: int) -> None:
        await self._run(SUPERSEDE_DELIVERIES, of_task=task_id, now=now)

    def add(self, obj: object) -> None:
        """Queue an outbox row; it is inserted before the commit, in this transaction."""
        if not isinstance(obj, WebhookDelivery):
            raise TypeError(f"a submit transaction adds webhook deliveries only, not {obj!r}")
        self._pending.append(obj)

    async def flush(self) -> None:
        pending, self._pending = self._pending, []
        for delivery in pending:
            values = {name: getattr(delivery, name) for name in DELIVERY_COLUMNS}
            await self._execute(*INSERT_DELIVERY.bare(self.dialect, values))


class _SqliteWork(SubmitWork):
    dialect: DialectName = "sqlite"

    def __init__(self, connection: sqlite3.Connection) -> None:
        super().__init__()
        self._connection = connection

    async def _execute(self, sql: str, args: tuple[Any, ...]) -> int:
        return int(self._connection.execute(sql, args).rowcount)

    async def _one(self, sql: str, args: tuple[Any, ...]) -> Row | None:
        row: Row | None = self._connection.execute(sql, args).fetchone()
        return row

    async def _all(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        return list(self._connection.execute(sql, args).fetchall())


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
            self._connection = connect_sqlite(self._path, writes=True, busy_timeout_ms=0)
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
    dialect: DialectName = "postgresql"

    def __init__(self, connection: asyncpg.Connection) -> None:
        super().__init__()
        self._connection = connection

    async def _execute(self, sql: str, args: tuple[Any, ...]) -> int:
        return _changed(await self._connection.execute(sql, *args))

    async def _one(self, sql: str, args: tuple[Any, ...]) -> Row | None:
        row = await self._connection.fetchrow(sql, *args)
        return None if row is None else tuple(row)

    async def _all(self, sql: str, args: tuple[Any, ...]) -> list[Row]:
        return [tuple(row) for row in await self._connection.fetch(sql, *args)]

    async def announce_work(self) -> None:
        # Delivered when this transaction commits, and not at all if it rolls back.
        await self._run(ANNOUNCE_WORK, channel=WAKE_CHANNEL)


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
