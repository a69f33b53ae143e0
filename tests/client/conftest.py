"""Fixtures of the SDK's tests. The database does not matter to a client, so these run on
SQLite only (the server's own tests cover both databases)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture
def database_url(tmp_path: Path, sqlite_template: Path) -> Iterator[str]:
    path = tmp_path / "mjgate.db"
    shutil.copyfile(sqlite_template, path)
    yield f"sqlite:///{path}"
