"""Follow-ups on a finished task: buttons (action), change, simple-change, and the modal.

A follow-up runs on its parent's channel and needs the parent to be SUCCESS and to carry
the button (PROTOCOL §3, §5, §6).
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from mjgate.domain.buttons import ButtonCommand, ButtonKind, parse_custom_id
from mjgate.domain.channels import decide_queue
from mjgate.domain.prompts import require_custom_zoom
from mjgate.domain.tasks import ACTIVE_STATUSES, Task, TaskStatus, leave_modal
from mjgate.errors import (
    ActionIsRequired,
    ActionNotAllowed,
    BindRequestBodyFailed,
    ContentIsRequired,
    ContentParseFailed,
    CustomIdIsRequired,
    IndexIsInvalid,
    IndexIsRequired,
    MaskBase64IsRequired,
    QueueFull,
    TaskIdIsRequired,
    TaskNotFound,
    TaskStatusNotModal,
    TaskStatusNotSuccess,
    UnknownAction,
)
from mjgate.services import inputs
from mjgate.services.queries import owned_task, task_id_text
from mjgate.services.runtime import Runtime
from mjgate.services.submit import (
    Caller,
    Draft,
    SubmitAnswer,
    SubmitOptions,
    check_prompt,
    create_task,
    submit_answer,
)
from mjgate.services.webhooks import enqueue_webhook

_CHANGE_BUTTONS = {
    "UPSCALE": "MJ::JOB::upsample::{index}::{hash}",
    "VARIATION": "MJ::JOB::variation::{index}::{hash}",
    "REROLL": "MJ::JOB::reroll::0::{hash}::SOLO",
}
_SIMPLE_CHANGE = re.compile(r"^\s*(\d{1,20})\s+([UV])([1-4])\s*$|^\s*(\d{1,20})\s+(R)\s*$", re.I)


async def submit_action(
    rt: Runtime,
    caller: Caller,
    options: SubmitOptions,
    task_id: object,
    custom_id: object,
    enable_remix: object = False,
) -> SubmitAnswer:
    if not task_id:
        raise TaskIdIsRequired()
    if not custom_id:
        raise CustomIdIsRequired()
    if not isinstance(custom_id, str):
        raise UnknownAction()
    command = parse_custom_id(custom_id)
    parent = await owned_task(rt, caller, task_id)
    if parent.status != TaskStatus.SUCCESS:
        raise TaskStatusNotSuccess()
    if not parent.has_button(custom_id):
        raise ActionNotAllowed()
    draft = _draft_for(parent, command, custom_id)
    draft.modal = command.always_modal or (command.remix_modal and enable_remix is True)
    if not draft.modal:
        check_prompt(rt, draft.prompt)
    return await create_task(rt, caller, options, draft)


async def submit_change(
    rt: Runtime,
    caller: Caller,
    options: SubmitOptions,
    task_id: object,
    action: object,
    index: object,
) -> SubmitAnswer:
    if not task_id:
        raise TaskIdIsRequired()
    if not action:
        raise ActionIsRequired()
    if not isinstance(action, str) or action.upper() not in _CHANGE_BUTTONS:
        raise UnknownAction()
    name = action.upper()
    if name != "REROLL":
        if index is None:
            raise IndexIsRequired()
        if isinstance(index, bool) or not isinstance(index, int) or not 1 <= index <= 4:
            raise IndexIsInvalid()
    parent = await owned_task(rt, caller, task_id)
    if parent.status != TaskStatus.SUCCESS:
        raise TaskStatusNotSuccess()
    message_hash = parent.properties.get("messageHash")
    if not message_hash:
        raise ActionNotAllowed()
    custom_id = _CHANGE_BUTTONS[name].format(index=index, hash=message_hash)
    return await submit_action(rt, caller, options, parent.id, custom_id)


async def submit_simple_change(
    rt: Runtime, caller: Caller, options: SubmitOptions, content: object
) -> SubmitAnswer:
    if content is None or (isinstance(content, str) and not content.strip()):
        raise ContentIsRequired()
    if not isinstance(content, str):
        raise BindRequestBodyFailed("content must be a string.")
    match = _SIMPLE_CHANGE.match(content)
    if match is None:
        raise ContentParseFailed()
    if match.group(1):
        kind = "UPSCALE" if match.group(2).upper() == "U" else "VARIATION"
        return await submit_change(rt, caller, options, match.group(1), kind, int(match.group(3)))
    return await submit_change(rt, caller, options, match.group(4), "REROLL", None)


async def submit_modal(
    rt: Runtime,
    caller: Caller,
    task_id: object,
    prompt: object,
    mask_base64: object,
) -> SubmitAnswer:
    """Continue a task waiting in MODAL: it keeps its id and goes on to the queue."""
    if not task_id:
        raise TaskIdIsRequired()
    if prompt is not None and not isinstance(prompt, str):
        raise BindRequestBodyFailed("prompt must be a string.")
    task = await owned_task(rt, caller, task_id)
    if task.status != TaskStatus.MODAL:
        raise TaskStatusNotModal()
    text = (prompt or "").strip() or task.prompt
    check_prompt(rt, text)
    params = dict(task.params)
    mask_key: str | None = None
    if params.get("op") == "zoom" and params.get("custom_zoom"):
        params["factor"] = require_custom_zoom(text)
    if params.get("op") == "inpaint":
        if not mask_base64:
            raise MaskBase64IsRequired()
        mask = await inputs.decode_off_loop(rt, mask_base64)
        mask_key = await asyncio.to_thread(
            rt.storage.put, rt.storage.new_key(task.id, "mask", mask.extension), mask.data
        )
    now = rt.clock()
    async with rt.db.write() as uow:
        locked = await uow.task(task_id_text(task_id), for_update=True)
        if locked is None:
            raise TaskNotFound()
        if locked.status != TaskStatus.MODAL:
            raise TaskStatusNotModal()
        assert locked.channel_id is not None
        channel = await uow.lock_channel(locked.channel_id)
        assert channel is not None and channel.id is not None
        active = await uow.count_by_status(channel.id, ACTIVE_STATUSES)
        decision = decide_queue(active, channel.core_size, channel.queue_size)
        if decision is None:
            raise QueueFull()  # the task stays in MODAL; the client may try again
        if mask_key is not None:
            params["inputs"] = {**params.get("inputs", {}), "mask": mask_key}
        locked.params = params
        locked.prompt = text
        locked.prompt_en = text
        locked.properties = {**locked.properties, "finalPrompt": text}
        deadline = now + int(rt.settings.queue_timeout * 1000)
        leave_modal(locked, await uow.next_queue_seq(channel.id), deadline, now)
        await uow.announce_work()
        await enqueue_webhook(uow, rt, locked, now)
    rt.wake()
    return submit_answer(locked, decision.code, decision.ahead)


def _draft_for(parent: Task, command: ButtonCommand, custom_id: str) -> Draft:
    """What a button of the parent makes (PROTOCOL §6)."""
    result = parent.result
    label = _button_label(parent, custom_id)
    draft = Draft(
        command.action,
        prompt=parent.prompt,
        description=f"/up {parent.id} {label}",
        parent=parent,
        custom_id=custom_id,
    )
    params: dict[str, Any] = {}
    kind = command.kind
    if kind == ButtonKind.UPSAMPLE:
        params = {"op": "upscale", "index": command.index, "inputs": {"grid": result["image"]}}
    elif kind == ButtonKind.VARIATION:
        params = {
            "op": "vary",
            "index": command.index,
            "strength": 0.5,
            "inputs": {"grid": result["image"]},
        }
    elif kind in (ButtonKind.LOW_VARIATION, ButtonKind.HIGH_VARIATION):
        strength = 0.25 if kind == ButtonKind.LOW_VARIATION else 0.75
        params = {"op": "vary", "strength": strength, "inputs": {"image": result["image"]}}
    elif kind == ButtonKind.REROLL:
        params = {k: v for k, v in parent.params.items() if k != "seed"}
    elif kind == ButtonKind.UPSCALE_HD:
        params = {
            "op": "upscale_hd",
            "factor": 4 if command.upscale_scale == "4x" else 2,
            "creative": command.upscale_flavour == "creative",
            "inputs": {"image": result["image"]},
        }
    elif kind in (ButtonKind.OUTPAINT, ButtonKind.CUSTOM_ZOOM):
        params = {
            "op": "zoom",
            "factor": command.zoom_factor or 2.0,
            "custom_zoom": kind == ButtonKind.CUSTOM_ZOOM,
            "inputs": {"image": result["image"]},
        }
    elif kind == ButtonKind.PAN:
        params = {"op": "pan", "direction": command.direction, "inputs": {"image": result["image"]}}
    elif kind == ButtonKind.INPAINT:
        params = {"op": "inpaint", "inputs": {"image": result["image"]}}
    elif kind == ButtonKind.ANIMATE:
        params = _animate_params(parent, command)
    elif kind in (ButtonKind.PIC_READER, ButtonKind.PROMPT_ANALYZER):
        texts: list[str] = result.get("texts", [])
        if not 1 <= command.index <= len(texts):
            raise ActionNotAllowed()
        draft.prompt = texts[command.index - 1]
        draft.description = f"/imagine {draft.prompt}"
        params = {"op": "imagine"}
    elif kind == ButtonKind.PIC_READ_RETRY:
        params = {k: v for k, v in parent.params.items() if k != "seed"}
        draft.description_for = lambda task_id: f"/describe {task_id}.png"
    draft.params = params
    draft.final_prompt = draft.prompt
    return draft


def _animate_params(parent: Task, command: ButtonCommand) -> dict[str, Any]:
    motion = command.motion or "low"
    if command.extend:
        if "videos" not in parent.result:
            raise ActionNotAllowed()
        return {
            "op": "video_extend",
            "motion": motion,
            "inputs": {"video": parent.result["videos"][0], "image": parent.result["image"]},
        }
    return {"op": "video", "motion": motion, "inputs": {"image": parent.result["image"]}}


def _button_label(parent: Task, custom_id: str) -> str:
    for button in parent.buttons:
        if button.get("customId") == custom_id:
            label = str(button.get("label") or button.get("emoji") or "")
            return "R" if label == "🔄" else label
    return custom_id
