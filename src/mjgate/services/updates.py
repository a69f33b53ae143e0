"""``apply_update``: what an executor reports becomes the task's state (DESIGN §Engine); a
final report ends the task through ``services.finish``, like every other end."""

from __future__ import annotations

import asyncio
import logging

from mjgate.domain.tasks import (
    FINAL_STATUSES,
    RUNNING_STATUSES,
    Task,
    TaskAction,
    TaskStatus,
    can_transition,
    move,
    next_progress,
)
from mjgate.providers.base import ProviderUpdate, ResultFile
from mjgate.services.finish import after_end, end_task
from mjgate.services.runtime import Runtime
from mjgate.services.webhooks import enqueue_webhook, view_now
from mjgate.storage import Storage

log = logging.getLogger(__name__)


async def apply_update(
    rt: Runtime, task_id: str, update: ProviderUpdate, worker_id: str | None = None
) -> Task | None:
    """Apply what an executor reported. Returns the task as saved, or None when ignored.

    Progress never goes backwards, a final task never changes, and a failure is refunded in
    the same transaction that records it.
    """
    stored = await asyncio.to_thread(_store_files, rt.storage, task_id, update)
    now = rt.clock()
    async with rt.db.write() as uow:
        task = await uow.task(task_id, for_update=True)
        if task is None or task.is_final:
            return None
        if _held_by_other(task, worker_id, now):
            return None
        new_status = update.status or task.status
        if not can_transition(task.status, new_status):
            log.warning("task %s: ignored %s -> %s", task.id, task.status, new_status)
            return None
        before = view_now(rt, task, now)
        _apply(task, update, new_status, stored, now)
        if new_status in FINAL_STATUSES:
            await end_task(
                uow,
                rt,
                task,
                new_status,
                update.fail_reason,
                now,
                finished_at=update.finish_time,
                before=before,
            )
        else:
            # Polls repeat what the task shows already: only a visible change is pushed.
            await enqueue_webhook(uow, rt, task, now, before=before)
    if new_status in FINAL_STATUSES:
        after_end(rt, task, was_running=True)
    return task


def _held_by_other(task: Task, worker_id: str | None, now: int) -> bool:
    """Another live worker took this task over: its word counts, not ours."""
    if worker_id is None or task.worker_id in (None, worker_id):
        return False
    return task.lease_until is not None and task.lease_until >= now


def _apply(
    task: Task, update: ProviderUpdate, status: TaskStatus, stored: dict[str, object], now: int
) -> None:
    task.progress = next_progress(task.progress, update.progress, status)
    if status in RUNNING_STATUSES and task.start_time is None:
        task.start_time = now
    if update.start_time is not None and (status in RUNNING_STATUSES or status.is_final):
        # The executor knows when the work really began (an upstream may have queued it);
        # its clock may be skewed, so the time stays between our submit and our now.
        task.start_time = min(max(update.start_time, task.submit_time), now)
    if update.provider_ref:
        task.provider_ref = update.provider_ref
    if update.prompt_en:
        task.prompt_en = update.prompt_en
        if task.action == TaskAction.DESCRIBE:
            task.prompt = update.prompt_en  # PROTOCOL §4: prompt and promptEn hold the text
    properties = dict(task.properties)
    if update.final_prompt is not None:
        properties["finalPrompt"] = update.final_prompt
    if update.message_hash:
        properties["messageHash"] = update.message_hash
    task.properties = properties
    if stored or update.seed or update.texts:
        result = dict(task.result)
        result.update(stored)
        if update.seed:
            result["seed"] = update.seed
        if update.texts is not None:
            result["texts"] = list(update.texts)
        if update.message_hash:
            result["hash"] = update.message_hash
        task.result = result
    if update.buttons is not None:
        task.buttons = [button.to_wire() for button in update.buttons]
    task.updated_at = now
    if status != task.status and not status.is_final:
        move(task, status)  # a final status is set by end_task, with all it brings


def _store_files(storage: Storage, task_id: str, update: ProviderUpdate) -> dict[str, object]:
    """Write result files before the transaction; the task row then points at them."""
    stored: dict[str, object] = {}

    def put(name: str, file: ResultFile) -> str:
        return storage.put(storage.new_key(task_id, name, file.extension), file.data)

    if update.image is not None:
        stored["image"] = put("image", update.image)
    if update.images:
        stored["images"] = [put(f"image{n}", f) for n, f in enumerate(update.images, 1)]
    if update.video is not None:
        stored["videos"] = [put("video", update.video)]
    return stored
