"""Two HTTP processes and two worker processes on one PostgreSQL, one worker killed midway.

Every task must end SUCCESS, none may be started twice (each row counts its starts), and no
channel may ever run more than its core_size at once: checked live by sampling the database
and exactly afterwards from the tasks' start and finish times (a slot is freed by a commit
whose clock reading precedes that of the claim that reuses it).
"""

from __future__ import annotations

import asyncio
import time
from collections import defaultdict
from pathlib import Path

import httpx
import pytest

from mjgate.domain.tasks import Task, TaskStatus
from mjgate.services.accounts import add_channel, set_channel_enabled
from mjgate.services.metrics import channel_loads
from mjgate.services.runtime import Runtime
from processes import Proc, process_env, start
from support import ADMIN_TOKEN

CORE_SIZES = {"alpha": 3, "beta": 4}
TASKS = 200
WIDE_IMAGINE_EVERY = 12  # most tasks are shortens (cheap text); some draw real grids


async def _all_tasks(rt: Runtime, ids: list[str]) -> list[Task]:
    async with rt.db.read() as uow:
        return list(await uow.tasks_by_ids(ids, None))


async def _submit_all(servers: list[Proc]) -> list[str]:
    limit = asyncio.Semaphore(12)
    clients = [
        httpx.AsyncClient(
            base_url=str(s.base_url), headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}, timeout=60
        )
        for s in servers
    ]

    async def one(n: int) -> str:
        route, prompt = "shorten", f"task {n}: a lighthouse on a cliff at dusk, oil painting"
        if n % WIDE_IMAGINE_EVERY == 0:
            route, prompt = "imagine", f"task {n}: a lighthouse --ar 4:1"
        async with limit:
            response = await clients[n % len(clients)].post(
                f"/mj/submit/{route}", json={"prompt": prompt}
            )
        answer = response.json()
        assert answer["code"] in (1, 22), answer
        return str(answer["result"])

    try:
        return list(await asyncio.gather(*(one(n) for n in range(TASKS))))
    finally:
        for client in clients:
            await client.aclose()


def _peak_from_intervals(tasks: list[Task]) -> dict[int, int]:
    """The most tasks of each channel between start and finish at any one instant."""
    events: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for task in tasks:
        assert task.channel_id is not None and task.start_time and task.finish_time
        events[task.channel_id] += [(task.start_time, 1), (task.finish_time, -1)]
    peaks = {}
    for channel_id, marks in events.items():
        running = peak = 0
        for _, delta in sorted(marks):  # at equal times the finish (-1) sorts first
            running += delta
            peak = max(peak, running)
        peaks[channel_id] = peak
    return peaks


@pytest.mark.parametrize("database_url", ["postgres"], indirect=True)
async def test_two_http_and_two_worker_processes_survive_a_killed_worker(
    rt: Runtime, database_url: str, tmp_path: Path, pycache: Path, procs: list[Proc]
) -> None:
    began = time.monotonic()
    channel_ids = {}
    for name, core in CORE_SIZES.items():
        channel = await add_channel(
            rt, name, "sandbox", core_size=core, queue_size=TASKS, config={"duration": 0.5}
        )
        channel_ids[name] = channel.id
    await set_channel_enabled(rt, "sandbox", False, "not part of this test")
    env = process_env(
        tmp_path / "data",
        pycache,
        MJGATE_DATABASE_URL=database_url,
        MJGATE_ADMIN_TOKEN=ADMIN_TOKEN,
        MJGATE_SECRET_KEY="test-secret",
        MJGATE_LEASE_SECONDS="3",
    )
    logs = tmp_path / "logs"
    procs += [
        start(env, logs, "http-1", "serve", "--no-workers"),
        start(env, logs, "http-2", "serve", "--no-workers"),
        start(env, logs, "worker-1", "worker"),
        start(env, logs, "worker-2", "worker"),
    ]
    for proc in procs:
        await asyncio.to_thread(proc.wait_ready)
    http_1, http_2, victim, survivor = procs
    ready = time.monotonic()

    peaks_seen: dict[str, int] = defaultdict(int)
    sampling = True

    async def sample() -> None:
        while sampling:
            for load in await channel_loads(rt):
                peaks_seen[load.name] = max(peaks_seen[load.name], load.running)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    try:
        ids = await _submit_all([http_1, http_2])
        submitted = time.monotonic()

        # Midway: a fair share done, and the victim holding running tasks right now. The victim
        # is frozen before its holdings are read: a task it finished between the read and the
        # kill would otherwise count as orphaned without ever being taken over.
        marker = f":{victim.pid}:"
        deadline = time.monotonic() + 60
        while True:
            tasks = await _all_tasks(rt, ids)
            done = sum(t.status == TaskStatus.SUCCESS for t in tasks)
            if done >= TASKS // 4:
                victim.freeze()
                await asyncio.sleep(0.2)  # let a commit already on the wire land
                tasks = await _all_tasks(rt, ids)
                held = [
                    t for t in tasks if t.worker_id and marker in t.worker_id and not t.is_final
                ]
                if held:
                    break
                victim.thaw()
            assert time.monotonic() < deadline, f"{done} done, victim holds nothing"
            await asyncio.sleep(0.02)
        victim.kill()
        killed = time.monotonic()
        orphaned = {t.id for t in held}

        deadline = time.monotonic() + 90
        while any(not t.is_final for t in await _all_tasks(rt, ids)):
            assert time.monotonic() < deadline, "tasks left unfinished"
            await asyncio.sleep(0.1)
    finally:
        sampling = False
        await sampler

    tasks = await _all_tasks(rt, ids)
    assert len(tasks) == TASKS
    assert {t.status for t in tasks} == {TaskStatus.SUCCESS}, [
        (t.id, t.status, t.fail_reason) for t in tasks if t.status != TaskStatus.SUCCESS
    ]
    assert {t.start_count for t in tasks} == {1}  # none started twice
    taken_over = {t.id for t in tasks if t.takeovers}
    assert orphaned <= taken_over  # what the victim held, the survivor finished
    assert all(t.takeovers == 1 for t in tasks if t.takeovers)

    by_name = {channel_ids[name]: name for name in CORE_SIZES}
    exact = {by_name[cid]: peak for cid, peak in _peak_from_intervals(tasks).items()}
    assert exact == CORE_SIZES  # each channel filled, and never past its core_size
    assert all(peaks_seen[name] <= core for name, core in CORE_SIZES.items()), peaks_seen

    for proc in (http_1, http_2, survivor):
        assert proc.terminate() == 0, proc.stderr()
        assert "Traceback" not in proc.stderr(), proc.stderr()
    assert "handed back" not in victim.stderr()  # it died, it did not stop
    print(
        f"{TASKS} tasks, {len(taken_over)} taken over; started {ready - began:.1f} s, "
        f"submitted +{submitted - ready:.1f} s, killed +{killed - submitted:.1f} s, "
        f"all done +{time.monotonic() - killed:.1f} s"
    )
