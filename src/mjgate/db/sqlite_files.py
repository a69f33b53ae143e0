"""How every SQLite connection of the process is opened: the PRAGMAs, written once.

Three kinds of connection use the file: the ORM's engines (``db/session.py``), the submit's
writer on the event loop (``db/submit_writes.py``) and the polled reads' connections
(``db/polled_reads.py``). They differ only in whether they write and how long they may
wait for a lock.
"""

from __future__ import annotations

import sqlite3
from typing import Protocol

# Pages in memory and mapped: reads of a large tasks table touch few syscalls.
_SIZING = (
    "PRAGMA cache_size=-16384",
    "PRAGMA mmap_size=268435456",
    "PRAGMA temp_store=MEMORY",
)
# A writer keeps the file in WAL mode (readers never wait for writers) and checks foreign
# keys; a reader is held to reading.
_WRITES = ("PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON")
_READS = ("PRAGMA query_only=ON",)
# How long a connection off the event loop waits for another's lock before it gives up.
SQLITE_BUSY_TIMEOUT_MS = 30_000


def sqlite_pragmas(*, writes: bool, busy_timeout_ms: int) -> tuple[str, ...]:
    """The PRAGMAs a connection runs once, when it is opened.

    ``busy_timeout_ms``: how long a statement waits for another connection's lock; 0 for
    the connections on the event loop, which must never block it (they retry instead).
    """
    return (
        *(_WRITES if writes else _READS),
        f"PRAGMA busy_timeout={int(busy_timeout_ms)}",
        *_SIZING,
    )


class _Executes(Protocol):
    def execute(self, sql: str, /) -> object: ...


def apply_pragmas(connection: _Executes, *, writes: bool, busy_timeout_ms: int) -> None:
    """Run the PRAGMAs on a DB-API connection or cursor (sqlite3's, or aiosqlite's adapter)."""
    for pragma in sqlite_pragmas(writes=writes, busy_timeout_ms=busy_timeout_ms):
        connection.execute(pragma)


def connect_sqlite(path: str, *, writes: bool, busy_timeout_ms: int) -> sqlite3.Connection:
    """A connection whose transactions are ours to begin (``isolation_level=None``), usable
    from the loop and from a thread (each is used by one at a time)."""
    connection = sqlite3.connect(
        path,
        timeout=busy_timeout_ms / 1000,
        isolation_level=None,
        check_same_thread=False,
    )
    apply_pragmas(connection, writes=writes, busy_timeout_ms=busy_timeout_ms)
    return connection
