"""Status from executors that answer for many tasks at once or call back (relay channels)."""

from __future__ import annotations

import logging
from typing import Any, cast

from mjgate.domain.channels import Channel
from mjgate.domain.tasks import Task
from mjgate.errors import ProviderError, ProviderRetryable, TaskNotFound
from mjgate.providers.base import BatchPolling, CallingBack
from mjgate.services.channel_health import channel_failed, channel_worked
from mjgate.services.jobs import job_for
from mjgate.services.relay_callbacks import check_signature
from mjgate.services.runtime import Runtime
from mjgate.services.updates import apply_update

log = logging.getLogger(__name__)


async def poll_in_batches(
    rt: Runtime, worker_id: str, channel: Channel, provider: BatchPolling, tasks: list[Task]
) -> None:
    """One channel's running tasks, asked about together; a failed batch counts against the
    channel's health and is simply asked again at the next round."""
    try:
        updates = await provider.poll_many([job_for(rt, t) for t in tasks], rt.clock())
    except ProviderRetryable as exc:
        log.info("channel %s: poll will be retried: %s", channel.name, exc)
        await channel_failed(rt, channel, exc.message)
        return
    await channel_worked(rt, channel)
    for task_id, update in updates.items():
        await apply_update(rt, task_id, update, worker_id)


async def accept_callback(rt: Runtime, task_id: str, signature: str, body: Any) -> None:
    """An upstream's status post for one of our tasks, taken as if we had polled it."""
    check_signature(rt, task_id, signature)
    async with rt.db.read() as uow:
        task = await uow.task(task_id)
        channel = await uow.channel_by_id(task.channel_id) if task and task.channel_id else None
    if task is None or channel is None:
        raise TaskNotFound()
    if task.is_final:
        return
    provider = rt.provider_for(channel)
    if not provider.capabilities.calls_back:
        raise TaskNotFound()
    try:
        update = await cast(CallingBack, provider).update_from_callback(
            job_for(rt, task), body, rt.clock()
        )
    except ProviderError as exc:  # e.g. a result file not downloadable yet: polling goes on
        log.info("task %s: callback not applied: %s", task_id, exc)
        return
    if update is not None:
        await apply_update(rt, task_id, update)
