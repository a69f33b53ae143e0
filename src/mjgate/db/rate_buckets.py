"""``rate_buckets``: one GCRA theoretical arrival time per key, shared by every process.

One statement reserves up to ``wanted`` cells for a key: the same arithmetic as
``mjgate.domain.rate_limits.grant``, run in the database so that concurrent processes see
each other's reservations (the row lock of the UPSERT orders them). Times come from the
database's clock, so processes on hosts with skewed clocks still share one timeline.

These statements run on an engine of their own with two connections: a reservation must
never wait for a connection behind submits that hold channel locks.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine

_NOW_US = {
    "postgresql": "CAST(EXTRACT(EPOCH FROM now()) * 1000000 AS BIGINT)",
    # julianday('now') is fixed for the duration of one statement, as now() is.
    "sqlite": "CAST((julianday('now') - 2440587.5) * 86400000000.0 AS INTEGER)",
}
_GREATEST = {"postgresql": "GREATEST", "sqlite": "MAX"}
_LEAST = {"postgresql": "LEAST", "sqlite": "MIN"}


def reserve_sql(dialect: str) -> str:
    now, greatest, least = _NOW_US[dialect], _GREATEST[dialect], _LEAST[dialect]
    interval = "CAST(:interval AS BIGINT)"
    base = f"{greatest}(rate_buckets.tat, {now})"
    room = f"({now} + CAST(:window AS BIGINT) - {base}) / {interval}"
    cells = f"{least}(CAST(:wanted AS BIGINT), {greatest}(0, {room}))"
    first = f"{least}(CAST(:wanted AS BIGINT), CAST(:burst AS BIGINT))"
    return (
        "INSERT INTO rate_buckets (key, tat, granted) "
        f"VALUES (:key, {now} + {first} * {interval}, {first}) "
        "ON CONFLICT (key) DO UPDATE SET "
        f"granted = {cells}, tat = {base} + {cells} * {interval} "
        f"RETURNING tat, granted, {now}"
    )


def prune_sql(dialect: str) -> str:
    return f"DELETE FROM rate_buckets WHERE tat < {_NOW_US[dialect]} - CAST(:age AS BIGINT)"


@dataclass(frozen=True)
class Reserved:
    """What a reservation got: ``granted`` cells, the key's TAT after it, and the
    database's now (both in µs, on the database's clock)."""

    granted: int
    tat_us: int
    now_us: int


class RateBuckets:
    """The shared buckets of one process. Its engine opens on first use."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._dialect = "sqlite" if url.startswith("sqlite") else "postgresql"
        self._engine: AsyncEngine | None = None

    def _ready(self) -> AsyncEngine:
        if self._engine is None:
            self._engine = create_async_engine(self._url, pool_size=2, max_overflow=0)
        return self._engine

    async def reserve(self, key: str, wanted: int, *, interval_us: int, burst: int) -> Reserved:
        """Take up to ``wanted`` cells of ``key``'s budget (``burst`` intervals deep)."""
        params = {
            "key": key,
            "wanted": wanted,
            "interval": interval_us,
            "window": burst * interval_us,
            "burst": burst,
        }
        async with self._ready().begin() as connection:
            row = (await connection.execute(text(reserve_sql(self._dialect)), params)).one()
        return Reserved(granted=int(row[1]), tat_us=int(row[0]), now_us=int(row[2]))

    async def prune(self, older_than_us: int) -> int:
        """Delete keys whose budget has been full again for ``older_than_us``: such a row
        means nothing more than a missing one."""
        async with self._ready().begin() as connection:
            result = await connection.execute(
                text(prune_sql(self._dialect)), {"age": older_than_us}
            )
        return int(getattr(result, "rowcount", 0) or 0)

    async def close(self) -> None:
        if self._engine is not None:
            engine, self._engine = self._engine, None
            await engine.dispose()
