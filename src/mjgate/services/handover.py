"""Handing a relay task to its upstream while the client waits for the submit's answer.

The task was reserved first (inserted SUBMITTED and charged, in one transaction under the
channel lock), then the upstream is called with no transaction open. Its answer decides:

- accepted: the task goes on; the client hears code 1;
- refused before acceptance (queue full, no account, 5xx, unreachable): the reservation is
  voided in one transaction (task row and its charge deleted, balance and token spend given
  back) as if it never was, and the submit tries the next channel;
- banned prompt: voided, and the client hears 24 with the upstream's properties;
- no answer (timeout after sending): the upstream may hold the task, so it is never sent
  again; a callback may still name it, otherwise it fails and is refunded after a grace.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from mjgate.domain.channels import Channel
from mjgate.domain.tasks import Task, TaskStatus
from mjgate.errors import ProviderRejected, ProviderRetryable, Refusal, StartRefused
from mjgate.providers.base import ProviderUpdate
from mjgate.services.channel_health import channel_failed, channel_worked
from mjgate.services.jobs import job_for
from mjgate.services.runtime import Runtime
from mjgate.services.updates import apply_update

log = logging.getLogger(__name__)
SUBMIT_HOLDER = "submit"  # the lease holder while the submit path waits for the upstream


@dataclass(frozen=True)
class HandOver:
    """How the hand-over went; ``refusal`` set means the task no longer exists."""

    refusal: Refusal | None = None
    reason: str = ""
    properties: dict[str, object] | None = None


async def hand_over(rt: Runtime, task: Task, channel: Channel) -> HandOver:
    provider = rt.provider_for(channel)
    try:
        update = await provider.start(job_for(rt, task))
    except StartRefused as exc:
        await void_task(rt, task.id)
        if exc.refusal in (Refusal.UNAVAILABLE, Refusal.QUEUE_FULL):
            await channel_failed(rt, channel, exc.message)
        return HandOver(exc.refusal, exc.message, dict(exc.executor_properties))
    except ProviderRetryable as exc:
        log.warning("task %s: no answer from the upstream: %s", task.id, exc)
        await channel_failed(rt, channel, exc.message)
        await release(rt, task.id)
        return HandOver()
    except ProviderRejected as exc:
        update = ProviderUpdate(status=TaskStatus.FAILURE, fail_reason=exc.message)
    except Exception as exc:
        log.exception("task %s: executor failed", task.id, exc_info=exc)
        update = ProviderUpdate(
            status=TaskStatus.FAILURE, fail_reason=f"executor error: {type(exc).__name__}"
        )
    else:
        await channel_worked(rt, channel)
    await apply_update(rt, task.id, update, SUBMIT_HOLDER)
    await release(rt, task.id)
    return HandOver()


async def release(rt: Runtime, task_id: str) -> None:
    """Let any worker's poller follow the task from now on."""
    async with rt.db.write() as uow:
        task = await uow.task(task_id, for_update=True)
        if task is not None and task.worker_id == SUBMIT_HOLDER:
            task.worker_id = None
            task.lease_until = 0


async def void_task(rt: Runtime, task_id: str) -> None:
    """Undo a reservation the upstream refused: no task, no charge (PROTOCOL §1)."""
    async with rt.db.write() as uow:
        task = await uow.task(task_id, for_update=True)
        if task is None:
            return
        charged = not task.refunded and task.price > 0
        await uow.delete_task_entries(task.id)
        if charged:
            await uow.credit(task.user_id, task.price)
            if task.token_id is not None:
                await uow.uncharge_token(task.token_id, task.price)
        await uow.delete_task(task)
