"""Engines and units of work for SQLite (embedded) and PostgreSQL (at scale)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

from sqlalchemy import event
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    async_sessionmaker,
    create_async_engine,
)

from mjgate.db.compiled import DialectName
from mjgate.db.polled_reads import PolledReads, PostgresPolledReads, SqlitePolledReads
from mjgate.db.rate_buckets import RateBuckets
from mjgate.db.repos import UnitOfWork
from mjgate.db.sqlite_files import SQLITE_BUSY_TIMEOUT_MS, apply_pragmas
from mjgate.db.submit_writes import PostgresSubmitWrites, SqliteSubmitWrites, SubmitWork
from mjgate.db.wakes import WakeListener

SQLITE_POOL_SIZE = 16


def async_url(url: str) -> str:
    """Accept plain ``sqlite:///path`` and ``postgresql://...`` URLs; pick the async driver."""
    parsed = make_url(url)
    backend = parsed.get_backend_name()
    if backend == "sqlite":
        parsed = parsed.set(drivername="sqlite+aiosqlite")
    elif backend in ("postgresql", "postgres"):
        parsed = parsed.set(drivername="postgresql+asyncpg")
    else:
        raise ValueError(f"unsupported database URL {parsed.render_as_string(hide_password=True)}")
    return parsed.render_as_string(hide_password=False)


def _sqlite_engine(url: str, *, immediate: bool) -> AsyncEngine:
    # A fixed pool: overflow connections would be opened and closed per request, and opening
    # one (a thread, PRAGMAs) costs more than the query it serves.
    engine = create_async_engine(
        url,
        connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        pool_size=SQLITE_POOL_SIZE,
        max_overflow=0,
    )

    @event.listens_for(engine.sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take over transaction control from the driver so that BEGIN is ours to issue.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        apply_pragmas(cursor, writes=True, busy_timeout_ms=SQLITE_BUSY_TIMEOUT_MS)
        cursor.close()

    @event.listens_for(engine.sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        # Writers take the database lock up front: two submits can never both read a
        # channel's load and both take its last slot, and no upgrade deadlock can occur.
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


def _polled_reads(url: str) -> PolledReads:
    parsed = make_url(url)
    if parsed.get_backend_name() == "sqlite":
        return SqlitePolledReads(parsed.database or "")
    return PostgresPolledReads(
        parsed.set(drivername="postgresql").render_as_string(hide_password=False)
    )


class Database:
    """One per process. ``write()`` and ``read()`` each yield a unit of work in a transaction."""

    def __init__(self, url: str) -> None:
        self.url = async_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        self.dialect: DialectName = "sqlite" if self.is_sqlite else "postgresql"
        if self.is_sqlite:
            self._write_engine = _sqlite_engine(self.url, immediate=True)
            self._read_engine = _sqlite_engine(self.url, immediate=False)
        else:
            self._write_engine = create_async_engine(self.url, pool_size=10, max_overflow=20)
            self._read_engine = self._write_engine
        self.reads = _polled_reads(self.url)
        self._write_turn = asyncio.Lock() if self.is_sqlite else None
        self._submit_writes: SqliteSubmitWrites | PostgresSubmitWrites
        self._submit_pool: PostgresPolledReads | None = None
        if self._write_turn is not None:
            self._submit_writes = SqliteSubmitWrites(make_url(url).database or "", self._write_turn)
        else:
            # A pool of its own: a submit waiting on a channel's lock holds its connection,
            # and must not take one that a polled read needs.
            self._submit_pool = PostgresPolledReads(
                make_url(self.url)
                .set(drivername="postgresql")
                .render_as_string(hide_password=False)
            )
            self._submit_writes = PostgresSubmitWrites(self._submit_pool.connection)
        self._write_sessions = async_sessionmaker(self._write_engine, expire_on_commit=False)
        self._read_sessions = async_sessionmaker(self._read_engine, expire_on_commit=False)
        # Rate limits shared across processes (services.rate_limiter; PostgreSQL only).
        self.rate_buckets = RateBuckets(self.url)

    @asynccontextmanager
    async def write(self) -> AsyncIterator[UnitOfWork]:
        # SQLite has one writer at a time. This process's writers take turns here, so that
        # at most one of them waits for the file lock: there SQLite's busy handler sleeps
        # in steps of up to 100 ms, long after the lock is free again.
        async with contextlib.AsyncExitStack() as stack:
            if self._write_turn is not None:
                await stack.enter_async_context(self._write_turn)
            session = await stack.enter_async_context(self._write_sessions())
            async with session.begin():
                uow = UnitOfWork(session, dialect=self.dialect)
                yield uow
        # Only now is the change visible to other connections (a woken loop finds it).
        for callback in uow.committed_callbacks:
            callback()

    def submit_write(self) -> contextlib.AbstractAsyncContextManager[SubmitWork]:
        """The submit's transaction on the bare driver (``db/submit_writes.py``): the same
        guarantees as ``write()`` for the statements a submit makes, and far fewer hops."""
        return self._submit_writes.transaction()

    @asynccontextmanager
    async def read(self) -> AsyncIterator[UnitOfWork]:
        async with self._read_sessions() as session, session.begin():
            yield UnitOfWork(session, dialect=self.dialect)

    def listen_for_work(self, on_wake: Callable[[], None]) -> WakeListener | None:
        """Call ``on_wake`` whenever another process announces work (PostgreSQL only; on
        SQLite the process is alone and its in-memory signal suffices). Not started yet."""
        if self.is_sqlite:
            return None
        return WakeListener(self.url, on_wake)

    async def ping(self) -> None:
        async with self.read() as uow:
            await uow.ping()

    async def dispose(self) -> None:
        await self.rate_buckets.close()
        await self.reads.close()
        await self._submit_writes.close()
        if self._submit_pool is not None:
            await self._submit_pool.close()
        await self._write_engine.dispose()
        if self._read_engine is not self._write_engine:
            await self._read_engine.dispose()
