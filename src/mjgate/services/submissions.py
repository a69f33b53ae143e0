"""New work from a client: imagine, blend, describe, shorten, edits, video, face swap, upload."""

from __future__ import annotations

import asyncio

from mjgate.domain.images import is_http_url
from mjgate.domain.tasks import TaskAction, TaskStatus
from mjgate.errors import (
    ActionNotAllowed,
    Base64ArraySizeInvalid,
    Base64IsRequired,
    BindRequestBodyFailed,
    DimensionsIsInvalid,
    IndexIsInvalid,
    LinkIsInvalid,
    PromptIsRequired,
    SourceAndTargetRequired,
    TaskIdIsRequired,
    TaskStatusNotSuccess,
)
from mjgate.services import inputs
from mjgate.services.queries import owned_task
from mjgate.services.runtime import Runtime
from mjgate.services.submit import (
    Caller,
    Draft,
    SubmitAnswer,
    SubmitOptions,
    check_prompt,
    create_task,
)
from mjgate.services.translation import translate_draft
from mjgate.services.views import absolute_url

DIMENSIONS = ("PORTRAIT", "SQUARE", "LANDSCAPE")
BLEND_MIN, BLEND_MAX = 2, 5


def _prompt(value: object, *, required: bool = True) -> str:
    if value is None:
        value = ""
    if not isinstance(value, str):
        raise BindRequestBodyFailed("prompt must be a string.")
    value = value.strip()
    if required and not value:
        raise PromptIsRequired()
    return value


async def _create(
    rt: Runtime, caller: Caller, options: SubmitOptions, draft: Draft
) -> SubmitAnswer:
    """New work's prompt is translated when it needs it (a follow-up keeps its parent's)."""
    if draft.parent is None:
        await translate_draft(rt, draft)
    return await create_task(rt, caller, options, draft)


def _image_list(value: object) -> list[object]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise BindRequestBodyFailed("base64Array must be an array of strings.")
    return value


async def submit_imagine(
    rt: Runtime, caller: Caller, options: SubmitOptions, prompt: object, base64_array: object
) -> SubmitAnswer:
    text = _prompt(prompt)
    check_prompt(rt, text)
    references = _image_list(base64_array)
    draft = Draft(TaskAction.IMAGINE, prompt=text, description=f"/imagine {text}")
    draft.params["op"] = "imagine"
    for n, item in enumerate(references[:5]):
        draft.new_inputs[f"ref{n}"] = await inputs.decode_off_loop(rt, item)
    return await _create(rt, caller, options, draft)


async def submit_blend(
    rt: Runtime,
    caller: Caller,
    options: SubmitOptions,
    base64_array: object,
    dimensions: object,
    prompt: object = None,
) -> SubmitAnswer:
    images = _image_list(base64_array)
    if not images:
        raise Base64IsRequired()
    if not BLEND_MIN <= len(images) <= BLEND_MAX:
        raise Base64ArraySizeInvalid()
    shape = "SQUARE" if dimensions in (None, "") else dimensions
    if not isinstance(shape, str) or shape.upper() not in DIMENSIONS:
        raise DimensionsIsInvalid()
    text = _prompt(prompt, required=False)
    if text:
        check_prompt(rt, text)
    decoded = await asyncio.to_thread(lambda: [inputs.decode(rt, item) for item in images])
    draft = Draft(
        TaskAction.BLEND, prompt=text, params={"op": "blend", "dimensions": shape.upper()}
    )
    for n, image in enumerate(decoded):
        draft.new_inputs[f"image{n}"] = image
    count = len(images)
    draft.description_for = lambda task_id: f"/blend {task_id} {count}"
    return await _create(rt, caller, options, draft)


async def submit_describe(
    rt: Runtime,
    caller: Caller,
    options: SubmitOptions,
    base64: object,
    base64_array: object,
    link: object,
) -> SubmitAnswer:
    draft = Draft(TaskAction.DESCRIBE, params={"op": "describe"})
    first = base64 or (_image_list(base64_array) or [None])[0]
    if first:
        image = await inputs.decode_off_loop(rt, first)
        draft.new_inputs["image"] = image
    elif link:
        if not is_http_url(link):
            raise LinkIsInvalid()
        # One of our own image URLs is read from storage, not fetched (it may be private).
        key = inputs.own_image_key(rt, str(link))
        if key is not None:
            draft.params["inputs"] = {"image": key}
        else:
            draft.params["remote_inputs"] = {"image": link}
    else:
        raise Base64IsRequired()
    draft.description_for = lambda task_id: f"/describe {task_id}.png"
    return await _create(rt, caller, options, draft)


async def submit_shorten(
    rt: Runtime, caller: Caller, options: SubmitOptions, prompt: object
) -> SubmitAnswer:
    text = _prompt(prompt)
    check_prompt(rt, text)
    draft = Draft(TaskAction.SHORTEN, prompt=text, description=f"/shorten {text}")
    draft.params["op"] = "shorten"
    return await _create(rt, caller, options, draft)


async def _attach_image(rt: Runtime, draft: Draft, role: str, value: object) -> None:
    image, key, url = await inputs.image_reference_off_loop(rt, value)
    if image is not None:
        draft.new_inputs[role] = image
    elif key is not None:
        draft.params.setdefault("inputs", {})[role] = key
    else:
        draft.params.setdefault("remote_inputs", {})[role] = url


async def submit_edits(
    rt: Runtime,
    caller: Caller,
    options: SubmitOptions,
    prompt: object,
    image: object,
    mask_base64: object,
) -> SubmitAnswer:
    text = _prompt(prompt)
    check_prompt(rt, text)
    if not image:
        raise Base64IsRequired("edits needs an image (a URL or a data URL).")
    draft = Draft(TaskAction.EDITS, prompt=text, description=f"/edits {text}")
    draft.params["op"] = "edits"
    await _attach_image(rt, draft, "image", image)
    if mask_base64:
        draft.new_inputs["mask"] = await inputs.decode_off_loop(rt, mask_base64)
    return await _create(rt, caller, options, draft)


async def submit_swap_face(
    rt: Runtime, caller: Caller, options: SubmitOptions, source: object, target: object
) -> SubmitAnswer:
    if not source or not target:
        raise SourceAndTargetRequired()
    draft = Draft(TaskAction.SWAP_FACE, description="/swap_face", params={"op": "swap_face"})
    draft.new_inputs["source"] = await inputs.decode_off_loop(rt, source)
    draft.new_inputs["target"] = await inputs.decode_off_loop(rt, target)
    return await _create(rt, caller, options, draft)


async def submit_video(
    rt: Runtime,
    caller: Caller,
    options: SubmitOptions,
    *,
    prompt: object,
    image: object,
    task_id: object,
    index: object,
    motion: object,
    action: object,
) -> SubmitAnswer:
    text = _prompt(prompt, required=False)
    motion_name = "high" if isinstance(motion, str) and motion.lower() == "high" else "low"
    extend = isinstance(action, str) and action.lower() == "extend"
    if text:
        check_prompt(rt, text)
    draft = Draft(TaskAction.VIDEO, prompt=text, params={"op": "video", "motion": motion_name})
    if extend:
        if not task_id:
            raise TaskIdIsRequired()
        parent = await owned_task(rt, caller, task_id)
        if parent.status != TaskStatus.SUCCESS:
            raise TaskStatusNotSuccess()
        if parent.action != TaskAction.VIDEO:
            raise ActionNotAllowed("Only a video task can be extended.")
        draft.parent = parent
        draft.prompt = text or parent.prompt
        draft.params = {
            "op": "video_extend",
            "motion": motion_name,
            "inputs": {"video": parent.result["videos"][0], "image": parent.result["image"]},
        }
        draft.description = f"/video {parent.id} extend"
    elif task_id:
        parent = await owned_task(rt, caller, task_id)
        if parent.status != TaskStatus.SUCCESS:
            raise TaskStatusNotSuccess()
        if "image" not in parent.result:
            raise ActionNotAllowed("The parent task has no image to animate.")
        draft.parent = parent
        draft.prompt = text or parent.prompt
        chosen = _video_index(index)
        draft.params["index"] = chosen
        if parent.result.get("images"):
            draft.params["inputs"] = {"image": parent.result["images"][chosen - 1]}
        else:
            draft.params["inputs"] = {"image": parent.result["image"]}
        draft.description = f"/video {parent.id} {chosen}"
    elif image:
        await _attach_image(rt, draft, "image", image)
        draft.description = f"/video {text}".rstrip()
    elif text:
        draft.description = f"/video {text}"
    else:
        raise PromptIsRequired("video needs a prompt, an image or a taskId.")
    return await _create(rt, caller, options, draft)


def _video_index(value: object) -> int:
    if value is None:
        return 1
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= 4:
        raise IndexIsInvalid()
    return value


async def upload_images(
    rt: Runtime, caller: Caller, base64_array: object, base: str | None
) -> list[str]:
    """Store reference images and return their URLs; no task is created."""
    images = _image_list(base64_array)
    if not images:
        raise Base64IsRequired()
    decoded = await asyncio.to_thread(lambda: [inputs.decode(rt, item) for item in images])
    owner = f"upload{caller.user_id}"
    keys = await asyncio.to_thread(
        lambda: [
            rt.storage.put(rt.storage.new_key(owner, "upload", image.extension), image.data)
            for image in decoded
        ]
    )
    now_seconds = rt.clock() // 1000
    public = rt.settings.public_url or base
    return [absolute_url(public, rt.storage, key, now_seconds) for key in keys]
