"""Fixtures of the tests that run real ``mjgate`` processes: one place for all of them."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from processes import Proc


@pytest.fixture(scope="session")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Compiled modules shared by this session's ``mjgate`` processes (outside the venv):
    with PYTHONDONTWRITEBYTECODE each process would compile every import again."""
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def procs() -> Iterator[list[Proc]]:
    """Processes a test starts; each is reaped (stopped by its pid) when the test ends."""
    started: list[Proc] = []
    yield started
    for proc in started:
        proc.reap()
