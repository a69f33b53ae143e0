"""A queued task that its executor refuses when the dispatcher starts it later (a relay's
upstream, an account channel out of service).

At submit time a refusal simply tries the next channel while the client waits. A task that
waited in our queue (code 22) was already answered and charged, so when its upstream refuses
it at the start, it moves to another channel that serves the same action and mode and has
room, queued there; with none, it fails with the upstream's reason and is refunded. Either
way the refusal counts against the refusing channel's health, as a submit-time one does.
"""

from __future__ import annotations

import logging

from mjgate.domain.channels import AccountFilter, Channel, decide_queue
from mjgate.domain.tasks import ACTIVE_STATUSES, Task, TaskStatus, requeue
from mjgate.errors import Refusal, StartRefused
from mjgate.providers.base import ProviderUpdate
from mjgate.services.channel_health import channel_failed, channel_out_of_service
from mjgate.services.runtime import Runtime
from mjgate.services.submit import ACCOUNT_FILTER, rank_channels
from mjgate.services.updates import apply_update
from mjgate.services.webhooks import enqueue_webhook, view_now

log = logging.getLogger(__name__)
REFUSED_BY = "refused_by"  # params: the channels that refused this task, never tried again


async def refused_at_start(
    rt: Runtime, worker_id: str, task: Task, channel: Channel, exc: StartRefused
) -> None:
    if exc.refusal in (Refusal.UNAVAILABLE, Refusal.QUEUE_FULL):
        await channel_failed(rt, channel, exc.message)
    elif exc.refusal == Refusal.OUT_OF_SERVICE:
        await out_of_service(rt, channel, exc.message)
    # A banned prompt is banned everywhere; a follow-up only exists on its parent's channel.
    if exc.refusal != Refusal.BANNED and task.parent_id is None:
        moved_to = await reroute(rt, worker_id, task, channel)
        if moved_to is not None:
            log.info("task %s: refused by %s, moved to %s", task.id, channel.name, moved_to)
            return
    update = ProviderUpdate(status=TaskStatus.FAILURE, fail_reason=exc.message)
    await apply_update(rt, task.id, update, worker_id)


async def out_of_service(rt: Runtime, channel: Channel, reason: str) -> None:
    """The channel leaves rotation until a person acts, and the tasks waiting in its queue
    move to other channels: nothing would start them there (they would wait until their
    queue deadline). A follow-up, which only its parent's channel runs, fails with the
    reason and is refunded; so does a task no other channel has room for."""
    assert channel.id is not None
    await channel_out_of_service(rt, channel, reason)
    async with rt.db.write() as uow:
        waiting = list(await uow.waiting_tasks(channel.id, _MOVED_AT_MOST))
    for task in waiting:
        moved_to = None
        if task.parent_id is None:
            moved_to = await _requeue(rt, task, channel, claimed_by=None)
        if moved_to is not None:
            log.info("task %s: %s is out of service, moved to %s", task.id, channel.name, moved_to)
            continue
        update = ProviderUpdate(status=TaskStatus.FAILURE, fail_reason=reason)
        await apply_update(rt, task.id, update)


_MOVED_AT_MOST = 1000  # a channel's queue is far shorter (queue_size)


async def reroute(rt: Runtime, worker_id: str, task: Task, refusing: Channel) -> str | None:
    """Queue the task on the best other channel with room; the channel's name, or None."""
    return await _requeue(rt, task, refusing, claimed_by=worker_id)


async def _requeue(
    rt: Runtime, task: Task, refusing: Channel, *, claimed_by: str | None
) -> str | None:
    """Move a task this worker claimed (``claimed_by``), or one still waiting in the
    refusing channel's queue (None), to the best other channel with room."""
    refused = {*task.params.get(REFUSED_BY, []), refusing.id}
    wanted = AccountFilter.from_params(task.params.get(ACCOUNT_FILTER))  # the client's pin
    async with rt.db.read() as uow:
        channels = [
            c
            for c in await uow.channels(enabled_only=True)
            if c.id not in refused
            and c.serves(task.action, task.mode, task.bot_type)
            and wanted.admits(c)
        ]
        loads = await uow.active_counts()
    for candidate in rank_channels(channels, loads, rt.clock()):
        assert candidate.id is not None
        async with rt.db.write() as uow:
            locked = await uow.lock_channel(candidate.id)
            if locked is None or locked.id is None or not locked.enabled:
                continue
            row = await uow.task(task.id, for_update=True)
            if row is None or not _still_ours(row, refusing, claimed_by):
                return None  # cancelled, started or taken over meanwhile: not ours to move
            active = await uow.count_by_status(locked.id, ACTIVE_STATUSES)
            if decide_queue(active, locked.core_size, locked.queue_size) is None:
                continue
            now = rt.clock()
            before = view_now(rt, row, now)
            row.properties = {**row.properties, "channelId": locked.name}
            row.params = {**row.params, REFUSED_BY: sorted(i for i in refused if i is not None)}
            # The queue deadline still counts from the submit: the client has waited since.
            deadline = row.submit_time + int(rt.settings.queue_timeout * 1000)
            requeue(row, locked.id, await uow.next_queue_seq(locked.id), deadline, now)
            await enqueue_webhook(uow, rt, row, now, before=before)
            await uow.announce_work()
        rt.wake()
        return locked.name
    return None


def _still_ours(row: Task, refusing: Channel, claimed_by: str | None) -> bool:
    if claimed_by is not None:
        return row.status == TaskStatus.SUBMITTED and row.worker_id == claimed_by
    return row.status == TaskStatus.NOT_START and row.channel_id == refusing.id
