"""Cancelling a task that has not finished: status CANCEL and a refund, in one transaction."""

from __future__ import annotations

import logging

from mjgate.domain.tasks import RUNNING_STATUSES, Task, TaskStatus
from mjgate.errors import TaskNotFound
from mjgate.services.finish import after_end, end_task
from mjgate.services.jobs import stop_on_executor
from mjgate.services.queries import task_id_text
from mjgate.services.runtime import Runtime
from mjgate.services.submit import Caller

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
        await end_task(uow, rt, task, TaskStatus.CANCEL, CANCELLED_BY_CLIENT, now)
        channel = await uow.channel_by_id(task.channel_id) if task.channel_id else None
    after_end(rt, task, was_running=was_running)
    if was_running and channel is not None:
        await stop_on_executor(rt, channel, task)
    return task, True
