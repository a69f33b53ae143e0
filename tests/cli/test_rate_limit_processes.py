"""Two real `mjgate serve` processes on one PostgreSQL share one token's read limit."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from mjgate.services.runtime import Runtime
from processes import Proc, process_env, start
from support import ADMIN_TOKEN

# Measures time or latency: runs alone, after the parallel part (scripts/test).
pytestmark = pytest.mark.timing

RATE, BURST, RESERVE = 20.0, 10, 0.2
SECONDS = 2.0
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


async def _hammer(base_url: str, fetch: str, until: float) -> tuple[int, int]:
    """Fetches on 4 connections until ``until``: (admitted, refused)."""
    counts = {200: 0, 429: 0}
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH, timeout=30) as http:

        async def loop() -> None:
            while time.monotonic() < until:
                status = (await http.get(fetch)).status_code
                assert status in counts, status
                counts[status] += 1

        await asyncio.gather(*(loop() for _ in range(4)))
    return counts[200], counts[429]


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_processes_admit_one_budget_between_them(
    rt: Runtime, database_url: str, tmp_path: Path, procs: list[Proc]
) -> None:
    env = process_env(
        tmp_path / "data",
        tmp_path / "pycache",
        MJGATE_DATABASE_URL=database_url,
        MJGATE_ADMIN_TOKEN=ADMIN_TOKEN,
        MJGATE_SECRET_KEY="test-secret",
        MJGATE_RATE_LIMIT_ANONYMOUS_PER_SECOND="0",
        MJGATE_RATE_LIMIT_READ_PER_SECOND=str(RATE),
        MJGATE_RATE_LIMIT_READ_BURST=str(BURST),
        MJGATE_RATE_LIMIT_RESERVE_SECONDS=str(RESERVE),
    )
    procs += [
        start(env, tmp_path / "logs", "http-1", "serve", "--no-workers"),
        start(env, tmp_path / "logs", "http-2", "serve", "--no-workers"),
    ]
    for proc in procs:
        await asyncio.to_thread(proc.wait_ready)
    urls = [str(proc.base_url) for proc in procs]
    async with httpx.AsyncClient(base_url=urls[0], headers=AUTH) as http:
        answer = (await http.post("/mj/submit/imagine", json={"prompt": "a cat"})).json()
    fetch = f"/mj/task/{answer['result']}/fetch"
    # Each process learns the token from one accepted request, counted under the address
    # (unlimited here); from then on every request counts under the token.
    for url in urls:
        async with httpx.AsyncClient(base_url=url, headers=AUTH) as http:
            assert (await http.get(fetch)).status_code == 200
    await asyncio.sleep(BURST / RATE)  # the learning requests' cells come back

    began = time.monotonic()
    results = await asyncio.gather(*(_hammer(url, fetch, began + SECONDS) for url in urls))
    elapsed = time.monotonic() - began
    admitted = sum(a for a, _ in results)
    refused = sum(r for _, r in results)
    bound = BURST + RATE * (elapsed + RESERVE)
    print(f"admitted {admitted} (bound {bound:.0f}), refused {refused}, per process {results}")
    assert admitted <= bound, (admitted, bound, results)
    assert refused > admitted  # the limit was really in force
    assert admitted >= BURST + RATE * SECONDS * 0.6  # and the budget was there to use
    assert all(a > 0 for a, _ in results)  # both processes drew on it
