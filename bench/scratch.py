"""What every bench needs and leaves behind it: a free loopback port, a throwaway database.

The bench scripts run as ``.venv/bin/python bench/NAME.py``, so this sits beside them and is
imported by its bare name.
"""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from uuid import uuid4

import asyncpg


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


async def _pg(url: str, sql: str) -> None:
    connection = await asyncpg.connect(url)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@contextmanager
def database(postgres: str | None, data_dir: Path) -> Iterator[str]:
    """An SQLite file in ``data_dir``, or a new database on the PostgreSQL server at
    ``postgres`` (its /postgres URL), dropped again however the bench ends."""
    if postgres is None:
        yield f"sqlite:///{data_dir / 'mjgate.db'}"
        return
    name = f"mjgate_bench_{uuid4().hex[:12]}"
    asyncio.run(_pg(postgres, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{postgres.rsplit('/', 1)[0]}/{name}"
    finally:
        asyncio.run(_pg(postgres, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
