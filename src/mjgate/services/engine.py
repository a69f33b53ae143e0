"""The engine's steps over the database: claim queued work, follow running work, sweep overdue.

Workers call these in loops (``mjgate.workers``). Each step is a short transaction; any
process may die between two steps and another takes over when the lease runs out.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from typing import cast

from mjgate.db.repos import UnitOfWork
from mjgate.domain.channels import DAY_MS, Channel, next_utc_midnight, rest_for_the_day
from mjgate.domain.tasks import RUNNING_STATUSES, Task, TaskStatus, start
from mjgate.errors import ExecutorOutOfService, ProviderRejected, ProviderRetryable, StartRefused
from mjgate.providers.base import BatchPolling, ProviderUpdate
from mjgate.services import metrics
from mjgate.services.finish import after_end, end_task
from mjgate.services.jobs import job_for, stop_on_executor
from mjgate.services.relay_status import poll_in_batches
from mjgate.services.reroute import out_of_service, refused_at_start
from mjgate.services.runtime import Runtime
from mjgate.services.updates import apply_update

log = logging.getLogger(__name__)

POLL_BATCH = 100
POLL_CONCURRENCY = 8  # tasks polled at once by one worker


@dataclass(frozen=True)
class Claimed:
    task: Task
    channel: Channel


def lease_ms(rt: Runtime) -> int:
    return int(rt.settings.lease_seconds * 1000)


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
            left_today: int | None = None
            if free > 0 and locked.daily_limit is not None:
                left_today = await _left_today(uow, locked, now)
                free = min(free, left_today)
            if free <= 0:
                continue
            waiting = await uow.waiting_tasks(channel.id, free)
            if left_today is not None and left_today <= len(waiting):
                # Its share for today is taken: new work goes to other channels until
                # midnight (what still waits on it starts then, or times out).
                rest_for_the_day(locked, now)
            for task in waiting:
                deadline = now + locked.timeout_seconds * 1000
                start(task, worker_id, now, now + lease_ms(rt), deadline)
                claimed.append(Claimed(task, locked))
    for each in claimed:
        metrics.observe_start(each.task)
    return claimed


async def _left_today(uow: UnitOfWork, channel: Channel, now: int) -> int:
    """Starts the channel still has in this UTC day."""
    assert channel.id is not None and channel.daily_limit is not None
    day_start = next_utc_midnight(now) - DAY_MS
    return channel.daily_limit - await uow.started_since(channel.id, day_start)


async def start_claimed(rt: Runtime, worker_id: str, claimed: Claimed) -> None:
    """Hand a claimed task to its channel's executor and record the first answer."""
    job = job_for(rt, claimed.task)
    try:
        update = await rt.provider_for(claimed.channel).start(job)
    except StartRefused as exc:  # nothing exists there: another channel may take it
        # A queued relay task the upstream would not take: nothing exists there.
        metrics.count_provider_error(claimed.channel.name, "start", "rejected")
        await refused_at_start(rt, worker_id, claimed.task, claimed.channel, exc)
        return
    except ProviderRetryable as exc:
        # The executor may not have it: the poller asks again until the deadline.
        metrics.count_provider_error(claimed.channel.name, "start", "retryable")
        log.warning("task %s: start will be retried: %s", claimed.task.id, exc)
        return
    except Exception as exc:
        update = _failure(claimed.channel, "start", claimed.task.id, exc)
    await apply_update(rt, claimed.task.id, update, worker_id)


async def renew_leases(rt: Runtime, worker_id: str) -> int:
    """The heartbeat: one statement extends every lease this worker holds, however many."""
    async with rt.db.write() as uow:
        return await uow.renew_leases(worker_id, rt.clock() + lease_ms(rt))


async def release_leases(rt: Runtime, worker_id: str) -> int:
    """A stopping worker hands its running tasks back for a peer to take over at once."""
    async with rt.db.write() as uow:
        released = await uow.release_leases(worker_id)
        if released:
            await uow.announce_work()
    return released


async def poll_running(rt: Runtime, worker_id: str) -> int:
    """Ask the executors about running tasks this worker holds or may take over.

    Pages through all of them, a batch per transaction, so a worker holding more than a
    batch still follows every task it holds.
    """
    async with rt.db.read() as uow:
        channels = {c.id: c for c in await uow.channels()}
    polled = 0
    after = ""
    while True:
        batch = await _take_batch(rt, worker_id, after)
        batched: dict[int, list[Task]] = {}
        singles: list[tuple[Channel, Task]] = []
        for task in batch:
            channel = channels.get(task.channel_id)
            if channel is None:
                continue
            if rt.provider_for(channel).capabilities.polls_in_batches:
                batched.setdefault(task.channel_id or 0, []).append(task)
            else:
                singles.append((channel, task))
        await _poll_each(rt, worker_id, singles)
        for channel_id, group in batched.items():  # executors that answer for many at once
            provider = cast(BatchPolling, rt.provider_for(channels[channel_id]))
            await poll_in_batches(rt, worker_id, channels[channel_id], provider, group)
        polled += len(batch)
        if len(batch) < POLL_BATCH:
            return polled
        after = batch[-1].id


async def _poll_each(rt: Runtime, worker_id: str, singles: list[tuple[Channel, Task]]) -> None:
    """A few at a time: a finished task's poll downloads and stores its files, and tasks
    that finish together must not wait for each other's (bench/discord_latency.py)."""
    room = asyncio.Semaphore(POLL_CONCURRENCY)

    async def one(channel: Channel, task: Task) -> None:
        async with room:
            await _poll_one(rt, worker_id, channel, task)

    await asyncio.gather(*(one(channel, task) for channel, task in singles))


async def _take_batch(rt: Runtime, worker_id: str, after: str) -> list[Task]:
    now = rt.clock()
    async with rt.db.write() as uow:
        batch = list(await uow.running_tasks(worker_id, now, POLL_BATCH, after))
        for task in batch:
            if task.worker_id != worker_id:
                task.takeovers += 1
                metrics.LEASE_TAKEOVERS.labels(metrics.channel_label(task)).inc()
                log.info("task %s: taken over from %s", task.id, task.worker_id)
            task.worker_id = worker_id  # renew the lease: this worker is alive
            task.lease_until = now + lease_ms(rt)
    return batch


async def _poll_one(rt: Runtime, worker_id: str, channel: Channel, task: Task) -> None:
    try:
        update = await rt.provider_for(channel).poll(job_for(rt, task), rt.clock())
    except ExecutorOutOfService as exc:
        # The job may even finish there, but nothing can see it now: the task fails with
        # the reason (and its refund), the channel leaves rotation until a person acts.
        await out_of_service(rt, channel, exc.message)
        update = _failure(channel, "poll", task.id, exc)
    except ProviderRetryable as exc:
        metrics.count_provider_error(channel.name, "poll", "retryable")
        log.info("task %s: poll will be retried: %s", task.id, exc)
        return
    except Exception as exc:
        update = _failure(channel, "poll", task.id, exc)
    if update is not None:
        await apply_update(rt, task.id, update, worker_id)


def _failure(channel: Channel, stage: str, task_id: str, exc: Exception) -> ProviderUpdate:
    if isinstance(exc, ProviderRejected):
        metrics.count_provider_error(channel.name, stage, "rejected")
        reason = exc.message
    else:
        metrics.count_provider_error(channel.name, stage, "error")
        log.exception("task %s: executor failed", task_id, exc_info=exc)
        reason = f"executor error: {type(exc).__name__}"
    return ProviderUpdate(status=TaskStatus.FAILURE, fail_reason=reason)


def overdue_reason(task: Task, rt: Runtime, channel: Channel | None) -> str:
    if task.status == TaskStatus.MODAL:
        return f"modal timeout: no /submit/modal within {rt.settings.modal_timeout:g} s"
    if task.status == TaskStatus.NOT_START:
        return f"queue timeout: waited in the queue more than {rt.settings.queue_timeout:g} s"
    limit = f" within {channel.timeout_seconds} s" if channel is not None else " in time"
    return f"timeout: the channel did not finish the task{limit}"


async def sweep_overdue(rt: Runtime) -> int:
    """Fail every task past its deadline, with a reason naming the deadline, and refund it."""
    now = rt.clock()
    was_running: list[Task] = []
    async with rt.db.write() as uow:
        overdue = list(await uow.overdue_tasks(now, POLL_BATCH))
        channels = {c.id: c for c in await uow.channels()} if overdue else {}
        for task in overdue:
            if task.status in RUNNING_STATUSES:
                was_running.append(task)
            reason = overdue_reason(task, rt, channels.get(task.channel_id))
            await end_task(uow, rt, task, TaskStatus.FAILURE, reason, now)
    for task in overdue:
        after_end(rt, task, was_running=task in was_running)
    for task in was_running:  # a provider that stopped answering must not keep working on it
        channel = channels.get(task.channel_id)
        if channel is not None:
            await stop_on_executor(rt, channel, task)
    return len(overdue)
