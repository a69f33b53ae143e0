"""Cancelling a task that has not finished: status CANCEL and a refund, in one transaction."""

from __future__ import annotations

import logging

from mjgate.domain.tasks import RUNNING_STATUSES, Task, TaskStatus
from mjgate.errors import TaskNotFound
from mjgate.services import metrics
from mjgate.services.billing import refund_task
from mjgate.services.jobs import stop_on_executor
from mjgate.services.queries import task_id_text
from mjgate.services.runtime import Runtime
from mjgate.services.submit import Caller
from mjgate.services.updates import finish_task
from mjgate.services.webhooks import enqueue_webhook

log = logging.getLogger(__name__)
CANCELLED_BY_CLIENT = "Cancelled by the client"


async def cancel_task(rt: Runtime, caller: Caller, task_id: str) -> tuple[Task, bool]:
    """Cancel the caller's task; answers the task and whether this call cancelled it.

    A task that is already final is returned unchanged (cancel is idempotent).
    """
    now = rt.clock()
    async with rt.db.write() as uow:
        task = await uow.task(task_id_text(task_id), for_update=True)
        if task is None or not caller.owns(task):
            raise TaskNotFound()
        if task.is_final:
            return task, False
        was_running = task.status in RUNNING_STATUSES
        finish_task(task, TaskStatus.CANCEL, CANCELLED_BY_CLIENT, now)
        await refund_task(uow, task, CANCELLED_BY_CLIENT, now)
        await enqueue_webhook(uow, rt, task, now)
        if was_running:
            await uow.announce_work()  # its slot is free
        channel = await uow.channel_by_id(task.channel_id) if task.channel_id else None
    rt.wake()
    if was_running:
        metrics.observe_finish(task)
    if was_running and channel is not None:
        await stop_on_executor(rt, channel, task)
    return task, True
