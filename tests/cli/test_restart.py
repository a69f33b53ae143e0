"""Restart recovery with real processes: ``mjgate serve`` stopped mid-flight by SIGTERM, then
killed mid-flight by SIGKILL, then started again; every task ends, each started once."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
import pytest

from mjgate.domain.tasks import RUNNING_STATUSES, Task, TaskStatus
from mjgate.services.runtime import Runtime
from processes import Proc, process_env, start
from support import ADMIN_TOKEN, update_channel

TASKS = 24


async def _tasks(rt: Runtime, ids: list[str]) -> list[Task]:
    async with rt.db.read() as uow:
        return list(await uow.tasks_by_ids(ids, None))


async def _until(rt: Runtime, ids: list[str], done_at_least: int) -> list[Task]:
    """Wait until that many tasks succeeded while others still run."""
    deadline = time.monotonic() + 60
    while True:
        tasks = await _tasks(rt, ids)
        done = sum(t.status == TaskStatus.SUCCESS for t in tasks)
        running = sum(t.status in RUNNING_STATUSES for t in tasks)
        if done >= done_at_least and running:
            return tasks
        assert time.monotonic() < deadline, f"{done} done, {running} running"
        await asyncio.sleep(0.05)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_serve_resumes_every_task_after_a_stop_and_after_a_crash(
    rt: Runtime, database_url: str, tmp_path: Path, pycache: Path, procs: list[Proc]
) -> None:
    await update_channel(rt, core_size=3, queue_size=TASKS, duration=4)  # a shorten: 1 s
    env = process_env(
        tmp_path / "data",
        pycache,
        MJGATE_DATABASE_URL=database_url,
        MJGATE_ADMIN_TOKEN=ADMIN_TOKEN,
        MJGATE_SECRET_KEY="test-secret",
        MJGATE_LEASE_SECONDS="2",
    )
    logs = tmp_path / "logs"
    first = start(env, logs, "serve-1", "serve")
    procs.append(first)
    await asyncio.to_thread(first.wait_ready)
    headers = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
    async with httpx.AsyncClient(base_url=str(first.base_url), headers=headers) as client:
        ids = []
        for n in range(TASKS):
            answer = (await client.post("/mj/submit/shorten", json={"prompt": f"boat {n}"})).json()
            assert answer["code"] in (1, 22), answer
            ids.append(answer["result"])

    # A graceful stop mid-flight: exit 0, and what it held is handed back, not stranded.
    await _until(rt, ids, 3)
    assert first.terminate() == 0, first.stderr()
    assert "Traceback" not in first.stderr() and "handed back" in first.stderr()
    stopped = await _tasks(rt, ids)
    held = [t for t in stopped if t.status in RUNNING_STATUSES]
    assert held and all(t.lease_until == 0 for t in held)
    assert any(t.status == TaskStatus.NOT_START for t in stopped)

    # A crash mid-flight: no chance to tidy up; the leases it held run out.
    second = start(env, logs, "serve-2", "serve")
    procs.append(second)
    await asyncio.to_thread(second.wait_ready)
    before_crash = await _until(rt, ids, sum(t.status == TaskStatus.SUCCESS for t in stopped) + 3)
    second.kill()
    assert any(t.status == TaskStatus.NOT_START for t in before_crash)

    third = start(env, logs, "serve-3", "serve")
    procs.append(third)
    await asyncio.to_thread(third.wait_ready)
    deadline = time.monotonic() + 60
    while any(not t.is_final for t in await _tasks(rt, ids)):
        assert time.monotonic() < deadline, "tasks left unfinished after the restart"
        await asyncio.sleep(0.1)
    assert third.terminate() == 0, third.stderr()

    tasks = await _tasks(rt, ids)
    assert [t.status for t in tasks] == [TaskStatus.SUCCESS] * TASKS
    assert {t.start_count for t in tasks} == {1}
    held_ids = {t.id for t in held}
    assert held_ids <= {t.id for t in tasks if t.takeovers}  # resumed, not restarted
