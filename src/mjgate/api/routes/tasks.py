"""Reading and cancelling tasks: fetch, lists, queue, image-seed, cancel (PROTOCOL §3–4)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from fastapi.responses import Response

from mjgate.api.answers import EXAMPLES, TASK_EXAMPLE, CancelAnswer, SeedAnswer, Task
from mjgate.api.deps import CallerDep, RuntimeDep, TokenDep
from mjgate.api.errors import envelope
from mjgate.api.openapi import errors, ok
from mjgate.api.schemas import IdsBody
from mjgate.errors import ActionNotAllowed, TaskNotFound, TaskStatusNotSuccess
from mjgate.services import queries
from mjgate.services.cancel import cancel_task

router = APIRouter(tags=["tasks"])
TaskJson = dict[str, Any]
JSON = "application/json"
ONE_TASK = {**ok(Task, "The task", example=TASK_EXAMPLE), **errors(TaskNotFound)}
TASKS = ok(list[Task], "The tasks", example=[TASK_EXAMPLE])


# Fetch and list-by-condition are normally answered by api.front (fast routes) before routing;
# these routes serve what that fast path leaves to FastAPI (bodies it does not parse
# itself) and describe the routes in the OpenAPI schema. Both call the same services.


@router.get("/task/{task_id}/fetch", summary="One task", response_model=None, responses=ONE_TASK)
async def fetch(task_id: str, rt: RuntimeDep, token: TokenDep) -> TaskJson:
    return await queries.fetch_for_token(rt, token, task_id)


# The caller dependency stays on the list routes although the service authenticates again:
# it makes a bad token win over a bad body (401 before 400), as clients have always seen.
@router.post(
    "/task/list-by-condition",
    summary="The caller's tasks among the given ids",
    description="In the order given; unknown ids and others' tasks are left out.",
    responses=TASKS,
)
async def list_by_condition(
    body: IdsBody, rt: RuntimeDep, _who: CallerDep, token: TokenDep
) -> Response:
    return Response(await queries.tasks_by_ids_json(rt, token, body.ids), media_type=JSON)


@router.post("/task/list-by-ids", summary="Same as list-by-condition", responses=TASKS)
async def list_by_ids(body: IdsBody, rt: RuntimeDep, _who: CallerDep, token: TokenDep) -> Response:
    return Response(await queries.tasks_by_ids_json(rt, token, body.ids), media_type=JSON)


@router.get(
    "/task/list", summary="The caller's tasks, newest first", response_model=None, responses=TASKS
)
async def list_tasks(
    rt: RuntimeDep,
    who: CallerDep,
    limit: Annotated[int, Query(ge=1, le=queries.MAX_LIST_LIMIT)] = 100,
) -> list[TaskJson]:
    return await queries.list_tasks(rt, who, limit)


@router.get(
    "/task/queue", summary="The caller's unfinished tasks", response_model=None, responses=TASKS
)
async def queue(rt: RuntimeDep, who: CallerDep) -> list[TaskJson]:
    return await queries.queued_tasks(rt, who)


@router.get(
    "/task/{task_id}/image-seed",
    summary="The seed of a finished image task",
    response_model=None,
    responses={
        **ok(SeedAnswer, "The seed", example=EXAMPLES["seed"]),
        **errors(TaskNotFound, TaskStatusNotSuccess, ActionNotAllowed),
    },
)
async def image_seed(task_id: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    return envelope(1, "Success", await queries.image_seed(rt, who, task_id))


@router.post(
    "/task/{task_id}/cancel",
    summary="Cancel an unfinished task (refunded)",
    response_model=None,
    responses={
        **ok(CancelAnswer, "Cancelled now, or already finished", example=EXAMPLES["cancel"]),
        **errors(TaskNotFound),
    },
)
async def cancel(task_id: str, rt: RuntimeDep, who: CallerDep) -> dict[str, Any]:
    task, cancelled_now = await cancel_task(rt, who, task_id)
    description = "Success" if cancelled_now else "Task already finished"
    return envelope(1, description, task.id, status=task.status.value)
