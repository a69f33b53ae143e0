"""The webhook outbox (PROTOCOL §8): queue a push in the transaction that makes the change.

Every place that changes what a client's fetch shows (submit, apply_update, the sweeper,
cancel, the modal continue) calls ``enqueue_webhook`` inside its own transaction. The row
and the change commit together, so a saved change is always owed to the receiver and a
crash after the commit loses nothing; the delivery loop (``mjgate.workers.webhooks``) sends it.
"""

from __future__ import annotations

from typing import Any

import orjson

from mjgate.domain.tasks import Task
from mjgate.domain.webhooks import WebhookDelivery
from mjgate.services.ports import OutboxWork
from mjgate.services.runtime import Runtime
from mjgate.services.views import task_view

ViewSnapshot = dict[str, Any]


def hook_url(rt: Runtime, task: Task) -> str | None:
    """Where the task's changes go: its own notifyHook, else the server's default hook."""
    return task.notify_hook or rt.settings.webhook_default_url or None


def view_now(rt: Runtime, task: Task, now: int) -> ViewSnapshot | None:
    """The task as fetch shows it, when someone is owed its changes (else None: no work)."""
    if hook_url(rt, task) is None:
        return None
    return task_view(task, rt.storage, rt.settings.public_url, now // 1000)


def new_event_id(rt: Runtime) -> str:
    return f"{rt.random.getrandbits(128):032x}"


async def enqueue_webhook(
    uow: OutboxWork,
    rt: Runtime,
    task: Task,
    now: int,
    *,
    before: ViewSnapshot | None = None,
) -> WebhookDelivery | None:
    """Queue a push of the task as it is now, unless nobody is owed it or (given the view
    ``before`` the change) nothing a client sees has changed.

    A newer state supersedes the task's progress steps still waiting to be sent; a final
    state is never superseded (and a final task never changes again).
    """
    url = hook_url(rt, task)
    if url is None:
        return None
    view = task_view(task, rt.storage, rt.settings.public_url, now // 1000)
    if before is not None and before == view:
        return None
    await uow.supersede_deliveries(task.id, now)
    delivery = WebhookDelivery(
        task_id=task.id,
        url=url,
        event_id=new_event_id(rt),
        body=orjson.dumps(view).decode(),
        is_final=task.is_final,
        created_at=now,
        next_attempt_at=now,
        expires_at=now + int(rt.settings.webhook_retry_window * 1000),
    )
    uow.add(delivery)
    uow.after_commit(rt.wake_webhooks)
    return delivery
