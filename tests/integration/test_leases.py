"""Leases and wake-ups: the heartbeat, handing back on stop, takeovers, wakes across runtimes."""

from __future__ import annotations

import asyncio
import time

import pytest

from mjgate.domain.tasks import TaskStatus
from mjgate.services import engine
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings
from mjgate.workers.runner import Worker
from support import FakeClock, admin_caller, imagine, runtime_with, task_row, update_channel

RUNNING = (TaskStatus.SUBMITTED, TaskStatus.IN_PROGRESS)


async def _claim_and_start(rt: Runtime, worker_id: str) -> list[str]:
    claimed = await engine.claim_tasks(rt, worker_id)
    for each in claimed:
        await engine.start_claimed(rt, worker_id, each)
    return [each.task.id for each in claimed]


async def test_the_heartbeat_and_the_poller_cover_more_than_a_batch(
    settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "POLL_BATCH", 2)
    async with runtime_with(settings, lease_seconds=10) as rt:
        rt.clock = clock = FakeClock(step=0)
        await update_channel(rt, core_size=5, duration=60)
        admin = await admin_caller(rt)
        for n in range(5):
            await imagine(rt, admin, f"held {n}")
        ids = await _claim_and_start(rt, "worker-A")
        assert len(ids) == 5

        clock.advance(8_000)
        assert await engine.renew_leases(rt, "worker-A") == 5
        leases = {(await task_row(rt, i)).lease_until for i in ids}
        assert leases == {clock.now + 10_000}
        clock.advance(8_000)  # 16 s after the claim: alive only thanks to the heartbeat
        assert await engine.poll_running(rt, "worker-B") == 0
        # Pages of two: all five followed in one step, none left to run out.
        assert await engine.poll_running(rt, "worker-A") == 5
        rows = [await task_row(rt, i) for i in ids]
        assert {(t.worker_id, t.status, t.progress) for t in rows} == {
            ("worker-A", TaskStatus.IN_PROGRESS, 26)
        }
        assert all(t.takeovers == 0 and t.start_count == 1 for t in rows)


async def test_a_stopping_worker_hands_back_its_tasks_for_a_peer_at_once(
    settings: Settings,
) -> None:
    async with runtime_with(settings) as rt:
        await update_channel(rt, core_size=2, duration=60)
        admin = await admin_caller(rt)
        ids = [(await imagine(rt, admin, f"handed {n}")).result for n in range(3)]
        worker = Worker(rt, poll_interval=0.05, dispatch_interval=0.05, sweep_interval=0.05)
        worker.start()
        try:
            deadline = time.monotonic() + 10
            while [(await task_row(rt, i)).status for i in ids[:2]] != [TaskStatus.SUBMITTED] * 2:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
        finally:
            await worker.stop()
        held = [await task_row(rt, i) for i in ids[:2]]
        assert all(t.worker_id == worker.worker_id and t.lease_until == 0 for t in held)
        assert (await task_row(rt, ids[2])).status == TaskStatus.NOT_START

        # A peer takes them over on its first poll, not a whole lease later.
        assert await engine.poll_running(rt, "peer") == 2
        taken = [await task_row(rt, i) for i in ids[:2]]
        assert all(t.worker_id == "peer" and t.takeovers == 1 for t in taken)
        assert all(t.start_count == 1 and t.status in RUNNING for t in taken)


async def test_a_taken_over_task_is_started_once_and_finishes(settings: Settings) -> None:
    async with runtime_with(settings, lease_seconds=5) as rt:
        rt.clock = clock = FakeClock(step=0)
        await update_channel(rt, duration=20)
        answer = await imagine(rt, await admin_caller(rt))
        assert await _claim_and_start(rt, "dies") == [answer.result]
        clock.advance(6_000)  # the worker died: no heartbeat, the lease ran out
        assert await engine.poll_running(rt, "survivor") == 1
        clock.advance(15_000)
        assert await engine.poll_running(rt, "survivor") == 1
        done = await task_row(rt, answer.result)
        assert (done.status, done.start_count, done.takeovers) == (TaskStatus.SUCCESS, 1, 1)
        # Nothing claimable is left: a finished task is never started again.
        assert await engine.claim_tasks(rt, "survivor") == []


async def _started_within(rt: Runtime, task_id: str, seconds: float) -> float:
    began = time.monotonic()
    while (await task_row(rt, task_id)).status == TaskStatus.NOT_START:
        assert time.monotonic() - began < seconds, "the task did not start: no wake-up"
        await asyncio.sleep(0.005)
    return time.monotonic() - began


async def test_a_submit_wakes_the_dispatcher_of_its_own_process(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        await update_channel(rt, duration=60)
        # The tick is far away: only the wake-up can start the task in time.
        worker = Worker(rt, poll_interval=30, dispatch_interval=30, sweep_interval=30)
        worker.start()
        try:
            await asyncio.sleep(0.05)  # the dispatcher waits on its signal
            answer = await imagine(rt, await admin_caller(rt))
            assert await _started_within(rt, answer.result, 2.0) < 2.0
        finally:
            await worker.stop()


async def test_a_submit_in_one_runtime_wakes_a_worker_in_another(settings: Settings) -> None:
    if settings.resolved_database_url.startswith("sqlite"):
        pytest.skip("SQLite has no NOTIFY: other processes find work at their tick")
    async with runtime_with(settings) as http, runtime_with(settings) as working:
        await update_channel(http, duration=60)
        worker = Worker(working, poll_interval=30, dispatch_interval=30, sweep_interval=30)
        worker.start()
        try:
            assert worker.listener is not None
            await asyncio.wait_for(worker.listener.listening.wait(), 10)
            await asyncio.sleep(0.05)  # the wake of the listener's first connect is spent
            answer = await imagine(http, await admin_caller(http))
            assert await _started_within(http, answer.result, 2.0) < 2.0
        finally:
            await worker.stop()
