"""What every operator command shares: settings, one run against the database, errors."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, NoReturn, TypeVar

import typer

if TYPE_CHECKING:
    from mjgate.services.runtime import Runtime
    from mjgate.settings import Settings

T = TypeVar("T")


def load() -> Settings:
    from mjgate.settings import load_settings

    return load_settings()


def run(work: Callable[[Runtime], Awaitable[T]]) -> T:
    """Run one operator command against a migrated database, then close it."""
    # Imported here, not at the top: `mjgate --help` never needs the database layer.
    from mjgate.db.migrate import upgrade_database
    from mjgate.errors import RequestRejected
    from mjgate.services.runtime import Runtime

    settings = load()
    upgrade_database(settings.resolved_database_url)

    async def main() -> T:
        rt = Runtime.from_settings(settings)
        try:
            return await work(rt)
        finally:
            await rt.db.dispose()

    try:
        return asyncio.run(main())
    except RequestRejected as exc:
        typer.secho(f"error: {exc.message}", err=True, fg=typer.colors.RED)
        raise typer.Exit(1) from None


def fail(message: str) -> NoReturn:
    typer.secho(f"error: {message}", err=True, fg=typer.colors.RED)
    raise typer.Exit(2)


def when(epoch_ms: int | None) -> str | None:
    """A moment as operators read it (UTC), in tables and JSON alike."""
    if epoch_ms is None:
        return None
    return datetime.fromtimestamp(epoch_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
