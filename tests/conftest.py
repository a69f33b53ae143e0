"""Shared fixtures: a real database (SQLite file or PostgreSQL clone), a runtime, a server.

Every integration and API test runs on both databases. Without a reachable PostgreSQL the
PostgreSQL variants skip, unless MJGATE_REQUIRE_POSTGRES=1 (CI) turns the skip into a failure.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]  # no stubs ship with asyncpg
import pytest

from mjgate.db.migrate import upgrade_database
from mjgate.services.accounts import bootstrap
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings
from support import ADMIN_TOKEN, Gateway, ServedApp, make_settings, serve_app

POSTGRES_URL = os.environ.get(
    "MJGATE_TEST_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres"
)
REQUIRE_POSTGRES = os.environ.get("MJGATE_REQUIRE_POSTGRES") == "1"
TEMPLATE_DB = f"mjgate_template_{os.getpid()}"


def _with_database(url: str, name: str) -> str:
    base, _, _ = url.rpartition("/")
    return f"{base}/{name}"


def _asyncpg_dsn(url: str) -> str:
    return url.replace("postgresql+asyncpg://", "postgresql://")


async def _admin(sql: str) -> None:
    connection = await asyncpg.connect(_asyncpg_dsn(POSTGRES_URL), timeout=5)
    try:
        await connection.execute(sql)
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_template() -> Iterator[str | None]:
    """A migrated template database that each test clones (fast: no migrations per test)."""
    try:
        asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}"'))
        asyncio.run(_admin(f'CREATE DATABASE "{TEMPLATE_DB}"'))
    except (OSError, asyncpg.PostgresError) as exc:
        if REQUIRE_POSTGRES:
            pytest.fail(f"PostgreSQL is required (MJGATE_REQUIRE_POSTGRES=1): {exc}")
        yield None
        return
    upgrade_database(_with_database(POSTGRES_URL, TEMPLATE_DB))
    yield TEMPLATE_DB
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{TEMPLATE_DB}" WITH (FORCE)'))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each test copies (a migration per test costs ~0.5 s)."""
    path = tmp_path_factory.mktemp("template") / "mjgate.db"
    upgrade_database(f"sqlite:///{path}")
    return path


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(
    request: pytest.FixtureRequest,
    tmp_path: Path,
    sqlite_template: Path,
    postgres_template: str | None,
) -> Iterator[str]:
    if request.param == "sqlite":
        path = tmp_path / "mjgate.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite:///{path}"
        return
    if postgres_template is None:
        pytest.skip("no PostgreSQL reachable (set MJGATE_TEST_POSTGRES_URL)")
    name = f"mjgate_test_{uuid.uuid4().hex[:12]}"
    asyncio.run(_admin(f'CREATE DATABASE "{name}" TEMPLATE "{postgres_template}"'))
    yield _with_database(POSTGRES_URL, name)
    asyncio.run(_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    return make_settings(tmp_path, database_url)


@pytest.fixture
async def rt(settings: Settings) -> AsyncIterator[Runtime]:
    runtime = Runtime.from_settings(settings)
    await bootstrap(runtime)
    yield runtime
    await runtime.close_providers()
    await runtime.db.dispose()


@pytest.fixture
async def served(rt: Runtime) -> AsyncIterator[ServedApp]:
    async with serve_app(rt) as app:
        yield app


@pytest.fixture
async def gateway(served: ServedApp) -> AsyncIterator[Gateway]:
    async with Gateway.connect(served.base_url, ADMIN_TOKEN) as client:
        yield client
