"""Turning a task row into the job an executor sees."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from mjgate.domain.channels import Channel
from mjgate.domain.tasks import Task
from mjgate.errors import ProviderError, ProviderRetryable
from mjgate.providers.base import ProviderJob
from mjgate.services import metrics
from mjgate.services.inputs import load_inputs
from mjgate.services.relay_callbacks import callback_url
from mjgate.services.runtime import Runtime

log = logging.getLogger(__name__)


def job_for(rt: Runtime, task: Task) -> ProviderJob:
    params = dict(task.params)

    async def load() -> Mapping[str, bytes]:
        return await load_inputs(rt, params)

    return ProviderJob(
        task_id=task.id,
        action=task.action,
        mode=task.mode,
        # A translated prompt goes in English (services.translation).
        prompt=task.prompt_en if task.properties.get("finalZhPrompt") else task.prompt,
        params=params,
        started_at=task.start_time or rt.clock(),
        load_inputs=load,
        provider_ref=task.provider_ref,
        bot_type=task.bot_type,
        callback_url=callback_url(rt, task),
    )


async def stop_on_executor(rt: Runtime, channel: Channel, task: Task) -> None:
    """Tell the executor to stop a task that has ended here, as far as it can.

    Best effort: the task is already final in the database whatever the executor says.
    """
    try:
        await rt.provider_for(channel).cancel(job_for(rt, task))
    except ProviderError as exc:
        kind = "retryable" if isinstance(exc, ProviderRetryable) else "rejected"
        metrics.count_provider_error(channel.name, "cancel", kind)
        log.warning("task %s: the executor did not take the cancel: %s", task.id, exc)
