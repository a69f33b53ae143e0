"""The engine's steps over the database: claim queued work, follow running work, sweep overdue.

Workers call these in loops (``mjgate.workers``). Each step is a short transaction; any
process may die between two steps and another takes over when the lease runs out.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mjgate.domain.channels import Channel
from mjgate.domain.tasks import RUNNING_STATUSES, Task, TaskStatus
from mjgate.errors import ProviderRejected, ProviderRetryable
from mjgate.providers.base import ProviderUpdate
from mjgate.services.billing import refund_task
from mjgate.services.jobs import job_for, stop_on_executor
from mjgate.services.relay_status import BatchPolling, poll_in_batches
from mjgate.services.runtime import Runtime
from mjgate.services.updates import apply_update, finish_task

log = logging.getLogger(__name__)

LEASE_MS = 30_000
POLL_BATCH = 100


@dataclass(frozen=True)
class Claimed:
    task: Task
    channel: Channel


async def claim_tasks(rt: Runtime, worker_id: str) -> list[Claimed]:
    """Move queued tasks to SUBMITTED, oldest first, while their channel has free slots."""
    async with rt.db.read() as uow:
        channels = list(await uow.channels(enabled_only=True))
    claimed: list[Claimed] = []
    for channel in channels:
        assert channel.id is not None
        async with rt.db.write() as uow:
            locked = await uow.lock_channel(channel.id)
            if locked is None or not locked.enabled:
                continue
            # Read the clock under the lock: a task committed while we waited for it must
            # not get a start time before its submit time.
            now = rt.clock()
            free = locked.core_size - await uow.running_count(channel.id)
            if free <= 0:
                continue
            for task in await uow.waiting_tasks(channel.id, free):
                task.status = TaskStatus.SUBMITTED
                task.start_time = now
                task.worker_id = worker_id
                task.lease_until = now + LEASE_MS
                task.deadline_at = now + locked.timeout_seconds * 1000
                task.updated_at = now
                claimed.append(Claimed(task, locked))
    return claimed


async def start_claimed(rt: Runtime, worker_id: str, claimed: Claimed) -> None:
    """Hand a claimed task to its channel's executor and record the first answer."""
    job = job_for(rt, claimed.task)
    try:
        update = await rt.provider_for(claimed.channel).start(job)
    except ProviderRetryable as exc:
        # The executor may not have it: the poller asks again until the deadline.
        log.warning("task %s: start will be retried: %s", claimed.task.id, exc)
        return
    except Exception as exc:
        update = _failure(claimed.task.id, exc)
    await apply_update(rt, claimed.task.id, update, worker_id)


async def poll_running(rt: Runtime, worker_id: str) -> int:
    """Ask the executors about running tasks this worker holds or may take over."""
    now = rt.clock()
    async with rt.db.read() as uow:
        channels = {c.id: c for c in await uow.channels()}
    async with rt.db.write() as uow:
        tasks = list(await uow.running_tasks(worker_id, now, POLL_BATCH))
        for task in tasks:
            task.worker_id = worker_id  # renew the lease: this worker is alive
            task.lease_until = now + LEASE_MS
    batched: dict[int, list[Task]] = {}
    for task in tasks:
        channel = channels.get(task.channel_id)
        if channel is None:
            continue
        if isinstance(rt.provider_for(channel), BatchPolling):
            batched.setdefault(channel.id or 0, []).append(task)
            continue
        try:
            update = await rt.provider_for(channel).poll(job_for(rt, task), rt.clock())
        except ProviderRetryable as exc:
            log.info("task %s: poll will be retried: %s", task.id, exc)
            continue
        except Exception as exc:
            update = _failure(task.id, exc)
        if update is not None:
            await apply_update(rt, task.id, update, worker_id)
    for channel_id, group in batched.items():  # executors that answer for many tasks at once
        provider = rt.provider_for(channels[channel_id])
        assert isinstance(provider, BatchPolling)
        await poll_in_batches(rt, worker_id, channels[channel_id], provider, group)
    return len(tasks)


def _failure(task_id: str, exc: Exception) -> ProviderUpdate:
    if isinstance(exc, ProviderRejected):
        reason = exc.message
    else:
        log.exception("task %s: executor failed", task_id, exc_info=exc)
        reason = f"executor error: {type(exc).__name__}"
    return ProviderUpdate(status=TaskStatus.FAILURE, fail_reason=reason)


def overdue_reason(task: Task, rt: Runtime) -> str:
    if task.status == TaskStatus.MODAL:
        return f"modal timeout: no /submit/modal within {rt.settings.modal_timeout:g} s"
    if task.status == TaskStatus.NOT_START:
        return f"queue timeout: waited in the queue more than {rt.settings.queue_timeout:g} s"
    return "timeout: the channel did not finish the task in time"


async def sweep_overdue(rt: Runtime) -> int:
    """Fail every task past its deadline, with a reason naming the deadline, and refund it."""
    now = rt.clock()
    was_running: list[Task] = []
    async with rt.db.write() as uow:
        overdue = list(await uow.overdue_tasks(now, POLL_BATCH))
        for task in overdue:
            if task.status in RUNNING_STATUSES:
                was_running.append(task)
            reason = overdue_reason(task, rt)
            finish_task(task, TaskStatus.FAILURE, reason, now)
            await refund_task(uow, task, reason, now)
        channels = {c.id: c for c in await uow.channels()} if was_running else {}
    if overdue:
        rt.wake()
    for task in was_running:  # a provider that stopped answering must not keep working on it
        channel = channels.get(task.channel_id)
        if channel is not None:
            await stop_on_executor(rt, channel, task)
    return len(overdue)
