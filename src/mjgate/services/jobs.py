"""Turning a task row into the job an executor sees."""

from __future__ import annotations

from collections.abc import Mapping

from mjgate.domain.tasks import Task
from mjgate.providers.base import ProviderJob
from mjgate.services.inputs import load_inputs
from mjgate.services.runtime import Runtime


def job_for(rt: Runtime, task: Task) -> ProviderJob:
    params = dict(task.params)

    async def load() -> Mapping[str, bytes]:
        return await load_inputs(rt, params)

    return ProviderJob(
        task_id=task.id,
        action=task.action,
        mode=task.mode,
        prompt=task.prompt,
        params=params,
        started_at=task.start_time or rt.clock(),
        load_inputs=load,
        provider_ref=task.provider_ref,
    )
