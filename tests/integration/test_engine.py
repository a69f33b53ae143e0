"""The engine over the database: restarts, leases, deadlines, final states, progress."""

from __future__ import annotations

import asyncio
import time

import pytest

from mjgate.domain.tasks import TaskStatus
from mjgate.errors import TaskStatusNotModal
from mjgate.providers.base import ProviderUpdate, ResultFile
from mjgate.services import engine
from mjgate.services.cancel import cancel_task
from mjgate.services.followups import submit_action, submit_modal
from mjgate.services.runtime import Runtime
from mjgate.services.submit import SubmitOptions
from mjgate.services.updates import apply_update
from mjgate.settings import Settings
from mjgate.workers.runner import Worker
from support import (
    FakeClock,
    admin_caller,
    imagine,
    png_bytes,
    runtime_with,
    task_row,
    update_channel,
)

LONG = 3600.0
RUNNING = (TaskStatus.SUBMITTED, TaskStatus.IN_PROGRESS)


async def _statuses(rt: Runtime, ids: list[str]) -> list[TaskStatus]:
    return [(await task_row(rt, i)).status for i in ids]


async def test_a_new_runtime_finishes_what_a_stopped_one_left(settings: Settings) -> None:
    start = time.time_ns() // 1_000_000
    async with runtime_with(settings, sandbox_duration=5) as first:
        first.clock = FakeClock(start, step=1)
        admin = await admin_caller(first)
        ids = [(await imagine(first, admin, f"relay {n}")).result for n in range(5)]
        worker = Worker(first, poll_interval=0.05, dispatch_interval=0.05, sweep_interval=0.05)
        worker.start()
        try:
            deadline = time.monotonic() + 20
            while (await _statuses(first, ids)).count(TaskStatus.IN_PROGRESS) < 3:
                assert time.monotonic() < deadline, await _statuses(first, ids)
                await asyncio.sleep(0.02)
        finally:
            await worker.stop()
        held = [await task_row(first, i) for i in ids[:3]]
        assert all(t.status == TaskStatus.IN_PROGRESS for t in held)
        assert {t.worker_id for t in held} == {worker.worker_id}
        assert await _statuses(first, ids[3:]) == [TaskStatus.NOT_START] * 2
    # The first process is gone (its runtime disposed, its leases still in the rows).

    async with runtime_with(settings, sandbox_duration=5) as second:
        second.clock = FakeClock(start + engine.lease_ms(first) + 1_000, step=500)
        successor = Worker(second)
        await successor.run_until_idle()
        done = [await task_row(second, i) for i in ids]
    assert [t.status for t in done] == [TaskStatus.SUCCESS] * 5
    assert all(t.progress == 100 and t.worker_id is None and t.result.get("image") for t in done)


async def test_an_expired_lease_is_taken_over_a_live_one_is_not(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        rt.clock = clock = FakeClock(step=0)
        await update_channel(rt, duration=60)
        answer = await imagine(rt, await admin_caller(rt))
        for claimed in await engine.claim_tasks(rt, "worker-A"):
            await engine.start_claimed(rt, "worker-A", claimed)
        task = await task_row(rt, answer.result)
        # Handed over, not picked up yet: the sandbox answers its start with SUBMITTED.
        assert (task.status, task.worker_id) == (TaskStatus.SUBMITTED, "worker-A")

        clock.advance(15_000)  # A's lease runs until +30 s: B keeps off
        assert await engine.poll_running(rt, "worker-B") == 0
        assert (await task_row(rt, answer.result)).worker_id == "worker-A"
        assert await engine.poll_running(rt, "worker-A") == 1  # A renews to +45 s
        assert (await task_row(rt, answer.result)).progress == 25

        clock.advance(31_000)  # +46 s: A has gone quiet, its lease ran out
        assert await engine.poll_running(rt, "worker-B") == 1
        task = await task_row(rt, answer.result)
        assert (task.worker_id, task.status, task.progress) == (
            "worker-B",
            TaskStatus.IN_PROGRESS,
            76,
        )
        # A wakes up late: its word no longer counts while B holds a live lease.
        late = ProviderUpdate(status=TaskStatus.IN_PROGRESS, progress=95)
        assert await apply_update(rt, answer.result, late, "worker-A") is None
        assert await engine.poll_running(rt, "worker-A") == 0
        assert (await task_row(rt, answer.result)).progress == 76

        clock.advance(15_000)  # +61 s: the sandbox is done
        assert await engine.poll_running(rt, "worker-B") == 1
        task = await task_row(rt, answer.result)
        assert (task.status, task.progress, task.worker_id) == (TaskStatus.SUCCESS, 100, None)


async def test_queue_wait_deadline(settings: Settings) -> None:
    async with runtime_with(settings, queue_timeout=10) as rt:
        rt.clock = clock = FakeClock()
        await update_channel(rt, core_size=1, queue_size=2, duration=LONG)
        admin = await admin_caller(rt)
        ids = [(await imagine(rt, admin, f"wait {n}")).result for n in range(3)]
        await Worker(rt).dispatch_once()
        clock.advance(11_000)
        assert await engine.sweep_overdue(rt) == 2
        running, *waited = [await task_row(rt, i) for i in ids]
        assert running.status == TaskStatus.SUBMITTED  # claimed and started, never polled
        for task in waited:
            assert task.status == TaskStatus.FAILURE and task.progress == 100
            assert task.fail_reason is not None
            assert task.fail_reason.startswith("queue timeout") and "10 s" in task.fail_reason
        # Their places in the queue are free again.
        again = await imagine(rt, admin, "next")
        assert (again.code, again.properties["numberOfQueues"]) == (22, 0)


async def test_running_deadline_fails_the_task_and_frees_its_slot(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        rt.clock = clock = FakeClock()
        await update_channel(rt, core_size=1, timeout_seconds=5, duration=LONG)
        admin = await admin_caller(rt)
        first, second = [(await imagine(rt, admin, f"slow {n}")).result for n in range(2)]
        worker = Worker(rt)
        await worker.dispatch_once()
        assert await _statuses(rt, [first, second]) == [
            TaskStatus.SUBMITTED,
            TaskStatus.NOT_START,
        ]
        clock.advance(4_000)
        assert await engine.sweep_overdue(rt) == 0
        clock.advance(2_000)
        assert await engine.sweep_overdue(rt) == 1
        failed = await task_row(rt, first)
        assert failed.status == TaskStatus.FAILURE
        assert failed.fail_reason is not None and failed.fail_reason.startswith("timeout")
        await worker.dispatch_once()
        assert (await task_row(rt, second)).status in RUNNING
        # The executor answering late changes nothing.
        assert await apply_update(rt, first, ProviderUpdate(status=TaskStatus.SUCCESS)) is None
        assert (await task_row(rt, first)).status == TaskStatus.FAILURE


async def test_modal_wait_deadline(settings: Settings) -> None:
    async with runtime_with(settings, modal_timeout=30) as rt:
        rt.clock = clock = FakeClock()
        admin = await admin_caller(rt)
        parent = await imagine(rt, admin, "a castle")
        await Worker(rt).run_until_idle()  # sandbox duration 0: SUCCESS at once
        grid = await task_row(rt, parent.result)
        vary = next(b["customId"] for b in grid.buttons if b["label"] == "V1")
        modal = await submit_action(rt, admin, SubmitOptions(), grid.id, vary, True)
        assert modal.code == 21
        clock.advance(29_000)
        assert await engine.sweep_overdue(rt) == 0
        clock.advance(2_000)
        assert await engine.sweep_overdue(rt) == 1
        task = await task_row(rt, modal.result)
        assert task.status == TaskStatus.FAILURE
        assert task.fail_reason is not None
        assert task.fail_reason.startswith("modal timeout") and "30 s" in task.fail_reason
        with pytest.raises(TaskStatusNotModal):
            await submit_modal(rt, admin, modal.result, "too late", None)


async def test_a_final_task_never_changes(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        await update_channel(rt, duration=LONG)
        admin = await admin_caller(rt)
        answer = await imagine(rt, admin)
        await Worker(rt).dispatch_once()
        await cancel_task(rt, admin, answer.result)
        before = await task_row(rt, answer.result)
        assert before.status == TaskStatus.CANCEL
        late_updates = [
            ProviderUpdate(status=TaskStatus.IN_PROGRESS, progress=50),
            ProviderUpdate(
                status=TaskStatus.SUCCESS,
                image=ResultFile(png_bytes(), "png"),
                message_hash="late",
                seed="1",
            ),
            ProviderUpdate(status=TaskStatus.FAILURE, fail_reason="late failure"),
            ProviderUpdate(progress=70),
        ]
        for update in late_updates:
            assert await apply_update(rt, answer.result, update) is None
            assert await apply_update(rt, answer.result, update, "some-worker") is None
        after = await task_row(rt, answer.result)
        assert (after.status, after.progress, after.fail_reason, after.finish_time) == (
            before.status,
            100,
            before.fail_reason,
            before.finish_time,
        )
        assert after.result == {} and after.buttons == [] and after.refunded
        assert await engine.poll_running(rt, "w") == 0


async def test_progress_never_goes_backwards(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        rt.clock = clock = FakeClock(step=0)
        await update_channel(rt, duration=10)
        answer = await imagine(rt, await admin_caller(rt))
        worker = Worker(rt)
        await worker.dispatch_once()
        seen = []
        for reported in (10, 40, 20, 0, None, 150):
            update = ProviderUpdate(status=TaskStatus.IN_PROGRESS, progress=reported)
            await apply_update(rt, answer.result, update)
            seen.append((await task_row(rt, answer.result)).progress)
        assert seen == [10, 40, 40, 40, 40, 99]
        # A status going back is refused as well.
        back = ProviderUpdate(status=TaskStatus.SUBMITTED, progress=1)
        assert await apply_update(rt, answer.result, back) is None
        assert (await task_row(rt, answer.result)).status == TaskStatus.IN_PROGRESS

        # The sandbox with a clock that jumps back (an NTP step) reports less: ignored.
        clock.advance(6_000)
        await engine.poll_running(rt, worker.worker_id)
        assert (await task_row(rt, answer.result)).progress == 99
        clock.advance(5_000)
        await engine.poll_running(rt, worker.worker_id)
        done = await task_row(rt, answer.result)
        assert (done.status, done.progress) == (TaskStatus.SUCCESS, 100)


async def test_sandbox_progress_rises_with_the_clock(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        rt.clock = clock = FakeClock(step=0)
        await update_channel(rt, duration=10)
        answer = await imagine(rt, await admin_caller(rt))
        worker = Worker(rt)
        await worker.dispatch_once()
        seen = []
        for step in (3_000, 3_000, -4_000, 1_000):
            clock.advance(step)
            await engine.poll_running(rt, worker.worker_id)
            seen.append((await task_row(rt, answer.result)).progress)
        assert seen == [30, 60, 60, 60]
