"""Reading tasks: fetch, lists, the queue, a result's seed. Nobody sees another user's task."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import orjson

from mjgate.domain.tasks import Task, TaskStatus
from mjgate.errors import (
    ActionNotAllowed,
    BindRequestBodyFailed,
    ProviderError,
    TaskNotFound,
    TaskStatusNotSuccess,
)
from mjgate.services.auth import caller_of, token_hash
from mjgate.services.jobs import job_for
from mjgate.services.runtime import Runtime
from mjgate.services.submit import Caller
from mjgate.services.views import ViewedTask, ViewKey, task_view

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


def render(rt: Runtime, tasks: Sequence[ViewedTask]) -> list[dict[str, Any]]:
    now_seconds = rt.clock() // 1000
    return [task_view(t, rt.storage, rt.settings.public_url, now_seconds) for t in tasks]


async def fetch_task(rt: Runtime, caller: Caller, task_id: str) -> dict[str, Any]:
    return render(rt, [await owned_task(rt, caller, task_id)])[0]


def wanted_ids(ids: object) -> list[str]:
    """The distinct well-formed ids among ``ids``, in their order; malformed ones name no task."""
    if not isinstance(ids, list):
        raise BindRequestBodyFailed("ids must be an array of task ids.")
    if len(ids) > MAX_IDS:
        raise BindRequestBodyFailed(f"At most {MAX_IDS} ids per request.")
    wanted: dict[str, None] = {}
    for value in ids:
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise BindRequestBodyFailed("Each id must be a string or a number.")
        text = str(value).strip()
        if text.isdigit() and len(text) <= 20:
            wanted[text] = None
    return list(wanted)


async def fetch_for_token(rt: Runtime, token: str | None, task_id: object) -> dict[str, Any]:
    """GET fetch: the token's holder and the task read in one statement (PROTOCOL §3)."""
    hashed = token_hash(token)
    try:
        text = task_id_text(task_id)
    except TaskNotFound:
        caller_of(await rt.db.reads.token_holder(hashed))  # who asks is answered first
        raise
    holder, found = await rt.db.reads.holder_and_tasks(hashed, [text])
    caller_of(holder)
    if not found:
        raise TaskNotFound()
    return render(rt, found)[0]


async def tasks_by_ids_json(rt: Runtime, token: str | None, ids: object) -> bytes:
    """The holder's tasks among ``ids`` as a JSON array, in the given order; unknown ids
    are left out. Final tasks' views come encoded from ``rt.views`` when they are there:
    a first statement reads only the tasks' versions, a second the rest in full."""
    hashed = token_hash(token)
    try:
        wanted = wanted_ids(ids)
    except BindRequestBodyFailed:
        caller_of(await rt.db.reads.token_holder(hashed))  # who asks is answered first
        raise
    if not wanted:
        caller_of(await rt.db.reads.token_holder(hashed))
        return b"[]"
    holder, versions = await rt.db.reads.holder_and_versions(hashed, wanted)
    caller_of(holder)
    now_seconds = rt.clock() // 1000
    window = now_seconds if rt.settings.image_url_ttl else 0
    encoded: dict[str, bytes] = {}
    final: dict[str, ViewKey] = {}
    for version in versions:
        if version.status.is_final:
            key = (version.id, version.updated_at, version.refunded, window)
            body = rt.views.get(key)
            if body is not None:
                encoded[version.id] = body
                continue
            final[version.id] = key
    missing = [v.id for v in versions if v.id not in encoded]
    if missing:
        for record in await rt.db.reads.task_records(missing):
            body = orjson.dumps(task_view(record, rt.storage, rt.settings.public_url, now_seconds))
            encoded[record.id] = body
            seen = final.get(record.id)
            # Kept only when both reads saw it final (and alike): then it cannot change.
            if seen is not None and record.status.is_final and record.refunded == seen[2]:
                rt.views.put(seen, body)
    return b"[" + b",".join(encoded[i] for i in wanted if i in encoded) + b"]"


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
    """A seed that lives with the executor (a relay's upstream, Discord): ask the channel."""
    if task.channel_id is None or task.provider_ref is None:
        return None
    async with rt.db.read() as uow:
        channel = await uow.channel_by_id(task.channel_id)
    if channel is None:
        return None
    provider = rt.provider_for(channel)
    if not provider.capabilities.image_seed:
        return None
    try:
        seed = await provider.image_seed(job_for(rt, task))
    except ProviderError:
        return None
    return str(seed) if seed else None
