"""Reading tasks: fetch, lists, the queue, a result's seed. Nobody sees another user's task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from mjgate.domain.tasks import Task, TaskStatus
from mjgate.errors import (
    ActionNotAllowed,
    BindRequestBodyFailed,
    ProviderError,
    TaskNotFound,
    TaskStatusNotSuccess,
)
from mjgate.services.jobs import job_for
from mjgate.services.runtime import Runtime
from mjgate.services.submit import Caller
from mjgate.services.views import task_view

MAX_LIST_LIMIT = 1000
MAX_IDS = 1000


def task_id_text(value: object) -> str:
    """Task ids arrive as strings or, from some clients, as numbers; anything else is no task."""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TaskNotFound()
    text = str(value).strip()
    if not text.isdigit() or len(text) > 20:
        raise TaskNotFound()
    return text


async def owned_task(rt: Runtime, caller: Caller, task_id: object) -> Task:
    """The caller's task (any task for an admin); otherwise ``TaskNotFound``, never which."""
    text = task_id_text(task_id)
    async with rt.db.read() as uow:
        task = await uow.task(text)
    if task is None or not caller.owns(task):
        raise TaskNotFound()
    return task


def render(rt: Runtime, tasks: Sequence[Task]) -> list[dict[str, Any]]:
    now_seconds = rt.clock() // 1000
    return [task_view(t, rt.storage, rt.settings.public_url, now_seconds) for t in tasks]


async def fetch_task(rt: Runtime, caller: Caller, task_id: str) -> dict[str, Any]:
    return render(rt, [await owned_task(rt, caller, task_id)])[0]


async def tasks_by_ids(rt: Runtime, caller: Caller, ids: object) -> list[dict[str, Any]]:
    """The caller's tasks among ``ids``, in the given order; unknown ids are left out."""
    if not isinstance(ids, list):
        raise BindRequestBodyFailed("ids must be an array of task ids.")
    if len(ids) > MAX_IDS:
        raise BindRequestBodyFailed(f"At most {MAX_IDS} ids per request.")
    wanted: list[str] = []
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise BindRequestBodyFailed("Each id must be a string or a number.")
        text = str(value).strip()
        if text.isdigit() and len(text) <= 20 and text not in wanted:
            wanted.append(text)
    if not wanted:
        return []
    owner = None if caller.is_admin else caller.user_id
    async with rt.db.read() as uow:
        found = {task.id: task for task in await uow.tasks_by_ids(wanted, owner)}
    return render(rt, [found[i] for i in wanted if i in found])


async def list_tasks(rt: Runtime, caller: Caller, limit: int) -> list[dict[str, Any]]:
    limit = max(1, min(limit, MAX_LIST_LIMIT))
    owner = None if caller.is_admin else caller.user_id
    async with rt.db.read() as uow:
        return render(rt, await uow.newest_tasks(owner, limit))


async def queued_tasks(rt: Runtime, caller: Caller) -> list[dict[str, Any]]:
    owner = None if caller.is_admin else caller.user_id
    async with rt.db.read() as uow:
        return render(rt, await uow.unfinished_tasks(owner))


async def image_seed(rt: Runtime, caller: Caller, task_id: str) -> str:
    task = await owned_task(rt, caller, task_id)
    if task.status != TaskStatus.SUCCESS:
        raise TaskStatusNotSuccess()
    if "image" not in task.result:
        raise ActionNotAllowed("This task has no image seed.")
    seed = task.result.get("seed") or await _seed_from_executor(rt, task)
    if not seed:
        raise ActionNotAllowed("This task has no image seed.")
    return str(seed)


async def _seed_from_executor(rt: Runtime, task: Task) -> str | None:
    """A relayed task's seed lives upstream: ask the channel that made it."""
    if task.channel_id is None or task.provider_ref is None:
        return None
    async with rt.db.read() as uow:
        channel = await uow.channel_by_id(task.channel_id)
    provider = rt.provider_for(channel) if channel is not None else None
    ask = getattr(provider, "image_seed", None)
    if ask is None:
        return None
    try:
        seed = await ask(job_for(rt, task))
    except ProviderError:
        return None
    return str(seed) if seed else None
