"""OpenAI-style image generation: one IMAGINE task, waited for, answered as separate images.

``POST /v1/images/generations`` is an imagine like any other (same tokens, prices, quota,
banned words, translation); the request then waits for the task within
``MJGATE_OPENAI_WAIT_SECONDS`` and answers the first ``n`` of the grid's four images. The
wait holds no database connection: it reads the task row in its own short read, first after
0.1 s and then every ``POLL_SECONDS`` at most. Past the wait the task goes on, and the error
names its id so the client can fetch it from ``/mj``.
"""

from __future__ import annotations

import asyncio
import base64
from dataclasses import dataclass

from mjgate.domain.image_sizes import with_aspect
from mjgate.domain.tasks import BotType, Mode, Task, TaskAction, TaskStatus
from mjgate.errors import TaskFailed, TaskStillRunning
from mjgate.services.runtime import Runtime
from mjgate.services.submissions import submit_imagine
from mjgate.services.submit import Caller, SubmitOptions
from mjgate.services.views import absolute_url

POLL_SECONDS = 0.5
FIRST_POLL_SECONDS = 0.1
OWNER = "mjgate"


@dataclass(frozen=True)
class ImageModel:
    """A model name an OpenAI client sends, and the mode and bot it stands for."""

    name: str
    mode: Mode | None  # None: the prompt's flag or the server's default mode
    bot_type: BotType


MODELS: dict[str, ImageModel] = {
    m.name: m
    for bot, stem in ((BotType.MID_JOURNEY, "midjourney"), (BotType.NIJI_JOURNEY, "niji"))
    for m in (
        ImageModel(stem, None, bot),
        ImageModel(f"{stem}-fast", Mode.FAST, bot),
        ImageModel(f"{stem}-relax", Mode.RELAX, bot),
        ImageModel(f"{stem}-turbo", Mode.TURBO, bot),
    )
}
# Apps that let no one choose the model send OpenAI's names: they get Midjourney.
ALIASES = {"dall-e-2": "midjourney", "dall-e-3": "midjourney", "gpt-image-1": "midjourney"}
DEFAULT_MODEL = "midjourney"


def model_named(name: str | None) -> ImageModel | None:
    key = (name or DEFAULT_MODEL).strip().lower()
    return MODELS.get(ALIASES.get(key, key))


async def offered_models(rt: Runtime) -> list[ImageModel]:
    """The models some enabled channel can imagine with now."""
    channels = await rt.db.reads.enabled_channels()
    default = rt.settings.default_mode

    def served(model: ImageModel) -> bool:
        mode = model.mode or default
        return any(c.serves(TaskAction.IMAGINE, mode, model.bot_type) for c in channels)

    return [model for model in MODELS.values() if served(model)]


@dataclass(frozen=True)
class ImageRequest:
    prompt: str
    n: int
    ratio: tuple[int, int] | None
    b64_json: bool
    model: ImageModel


@dataclass(frozen=True)
class GeneratedImage:
    url: str | None
    b64_json: str | None
    revised_prompt: str


@dataclass(frozen=True)
class Generated:
    created: int  # epoch seconds
    images: list[GeneratedImage]
    task_id: str


async def generate_images(
    rt: Runtime, caller: Caller, request: ImageRequest, public_base: str
) -> Generated:
    """Imagine, wait, answer the images; ``TaskStillRunning`` / ``TaskFailed`` otherwise."""
    options = SubmitOptions(
        path_mode=request.model.mode,
        bot_type=request.model.bot_type.value,
        public_base=public_base,
    )
    prompt = with_aspect(request.prompt.strip(), request.ratio)
    answer = await submit_imagine(rt, caller, options, prompt, None)
    wait = rt.settings.openai_wait_seconds
    task = await wait_for_end(rt, answer.result, wait)
    if task is None:
        raise TaskStillRunning(
            f"Task {answer.result} did not finish within {wait:g} seconds; it goes on: "
            f"GET /mj/task/{answer.result}/fetch follows it.",
            taskId=answer.result,
        )
    if task.status != TaskStatus.SUCCESS:
        raise TaskFailed(
            f"Task {task.id} ended {task.status.value}: {task.fail_reason or 'no reason given'}",
            taskId=task.id,
        )
    return Generated(
        created=(task.finish_time or rt.clock()) // 1000,
        images=await _images(rt, task, request),
        task_id=task.id,
    )


async def wait_for_end(rt: Runtime, task_id: str, seconds: float) -> Task | None:
    """The task once final, or None when ``seconds`` pass first. Each look is its own read."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    pause = FIRST_POLL_SECONDS
    while True:
        async with rt.db.read() as uow:
            task = await uow.task(task_id)
        if task is not None and task.status.is_final:
            return task
        left = deadline - loop.time()
        if left <= 0:
            return None
        await asyncio.sleep(min(pause, left))
        pause = POLL_SECONDS


async def _images(rt: Runtime, task: Task, request: ImageRequest) -> list[GeneratedImage]:
    keys: list[str] = list(task.result.get("images") or [])[: request.n]
    if not keys and task.result.get("image"):
        keys = [task.result["image"]]  # an executor that gave only the grid
    revised = task.prompt_en or task.prompt
    if request.b64_json:
        encoded = await asyncio.to_thread(
            lambda: [base64.b64encode(rt.storage.read(k)).decode("ascii") for k in keys]
        )
        return [GeneratedImage(None, data, revised) for data in encoded]
    base = rt.settings.public_url or task.public_base
    now_seconds = rt.clock() // 1000
    return [
        GeneratedImage(absolute_url(base, rt.storage, k, now_seconds), None, revised) for k in keys
    ]
