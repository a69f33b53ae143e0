"""Ending a task: the one path every way a task can end takes (an executor's result, a
client's cancel, a deadline, a reroute that found no channel, an upstream's refusal).

Within the caller's transaction: the final status by the table of transitions, the refund
when one is owed (every end but SUCCESS; the ledger's unique refund row keeps it to one),
the webhook outbox row, and the slot announced free. After the commit, ``after_end`` wakes
the dispatcher and counts the finish.
"""

from __future__ import annotations

from mjgate.db.repos import UnitOfWork
from mjgate.domain.tasks import ACTIVE_STATUSES, Task, TaskStatus, finish
from mjgate.services import metrics
from mjgate.services.billing import refund_task
from mjgate.services.runtime import Runtime
from mjgate.services.webhooks import ViewSnapshot, enqueue_webhook


async def end_task(
    uow: UnitOfWork,
    rt: Runtime,
    task: Task,
    status: TaskStatus,
    reason: str | None,
    now: int,
    *,
    finished_at: int | None = None,
    before: ViewSnapshot | None = None,
) -> None:
    held_slot = task.status in ACTIVE_STATUSES
    finish(task, status, reason, now, finished_at=finished_at)
    if status != TaskStatus.SUCCESS:
        await refund_task(uow, task, task.fail_reason or status.value.lower(), now)
    await enqueue_webhook(uow, rt, task, now, before=before)
    if held_slot:
        await uow.announce_work()  # its slot or queue place is free


def after_end(rt: Runtime, task: Task, *, was_running: bool) -> None:
    """After the commit: queued work may start now; a run that ended is counted."""
    rt.wake()
    if was_running:
        metrics.observe_finish(task)
