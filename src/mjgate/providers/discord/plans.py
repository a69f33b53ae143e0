"""What a task asks of Discord: which slash command or which button, with what, and what the
bot should answer. Pure: the provider turns a plan into requests.

New work is a slash command (imagine, blend, describe, shorten); a follow-up presses the
parent's button on the parent's result message, named by the reference the parent's
success left in its row (``ResultRef``). Some presses open a form first: Custom Zoom and,
when the account has remix on, variations, pans, rerolls and animate open a modal that is
submitted with the task's prompt; Vary (Region) opens the editor that takes the mask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mjgate.domain.buttons import ButtonKind, parse_custom_id
from mjgate.domain.tasks import Mode, TaskAction
from mjgate.errors import ProviderRejected, UnknownAction
from mjgate.providers.base import ProviderJob
from mjgate.providers.discord.matching import ExpectKind

# Blend's shapes (PROTOCOL §3) as Midjourney's dimensions option names them.
_BLEND_RATIOS = {"PORTRAIT": "2:3", "SQUARE": "1:1", "LANDSCAPE": "3:2"}
_MODE_FLAGS = {Mode.FAST: "--fast", Mode.RELAX: "--relax", Mode.TURBO: "--turbo"}
_HAS_MODE_FLAG = re.compile(r"(?:^|\s)--(?:fast|relax|turbo)\b", re.I)
_REF_MAX_CHARS = 400


class Then(StrEnum):
    """What follows a button press before the job runs."""

    NOTHING = "nothing"
    MAYBE_MODAL = "maybe_modal"  # a remix modal opens if the account has remix on
    MODAL = "modal"  # Custom Zoom always asks for the prompt
    IFRAME = "iframe"  # Vary (Region): the editor takes the mask


@dataclass(frozen=True)
class Upload:
    """A file to upload first; ``option`` is the command option that names it, or None for
    a reference image whose URL goes in front of the prompt."""

    role: str  # the job's input it comes from
    filename: str
    option: str | None


@dataclass(frozen=True)
class SlashPlan:
    command: str
    expect: ExpectKind
    prompt: str  # the prompt option's text, and what the bot's answer is matched by
    uploads: tuple[Upload, ...] = ()
    link: str | None = None  # describe by link
    dimensions: str | None = None  # blend


@dataclass(frozen=True)
class ClickPlan:
    message_id: str
    message_flags: int
    custom_id: str
    expect: ExpectKind
    prompt: str
    then: Then = Then.NOTHING
    parent_hash: str | None = None
    index: int | None = None


Plan = SlashPlan | ClickPlan


@dataclass(frozen=True)
class ResultRef:
    """Where a finished task's result is on Discord: the message that carries its buttons.

    Kept in the task row (``provider_ref``) so a follow-up presses the right button in any
    process, long after the job.
    """

    message_id: str
    flags: int
    job_hash: str | None

    def to_text(self) -> str:
        values: dict[str, Any] = {"r": self.message_id, "f": self.flags}
        if self.job_hash:
            values["h"] = self.job_hash
        return json.dumps(values, separators=(",", ":"))

    @classmethod
    def from_text(cls, text: str) -> ResultRef:
        """``ValueError`` for anything ``to_text`` did not write."""
        if len(text) > _REF_MAX_CHARS:
            raise ValueError("a result reference is at most 400 characters")
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError("a result reference is a JSON object") from exc
        if not isinstance(data, dict) or not isinstance(data.get("r"), str):
            raise ValueError("a result reference names its message")
        flags = data.get("f", 0)
        job_hash = data.get("h")
        if not isinstance(flags, int) or not (job_hash is None or isinstance(job_hash, str)):
            raise ValueError("a result reference has integer flags and a text hash")
        return cls(data["r"], flags, job_hash)


def with_mode(prompt: str, mode: Mode) -> str:
    """The prompt with the task's mode as a parameter, unless the client wrote one."""
    if _HAS_MODE_FLAG.search(prompt):
        return prompt
    return f"{prompt} {_MODE_FLAGS[mode]}".strip()


def plan_for(job: ProviderJob) -> Plan:
    """The interaction a task needs; ``ProviderRejected`` for what Discord cannot do."""
    params = job.params
    custom_id = params.get("custom_id")
    if params.get("parent_id") and custom_id and _is_button(custom_id):
        return _press(job, str(custom_id))
    if job.action == TaskAction.VIDEO and params.get("parent_id"):
        return _animate(job)
    return _slash(job)


def _is_button(custom_id: object) -> bool:
    try:
        command = parse_custom_id(custom_id)
    except UnknownAction:
        return False
    # The describe and shorten buttons become a plain /imagine of the chosen prompt.
    return command.kind not in (ButtonKind.PIC_READER, ButtonKind.PROMPT_ANALYZER)


def _parent(job: ProviderJob) -> ResultRef:
    text = job.params.get("parent_ref")
    if not isinstance(text, str):
        raise ProviderRejected("the parent task has no Discord message to press a button on")
    try:
        return ResultRef.from_text(text)
    except ValueError:
        raise ProviderRejected("the parent task was not made on a Discord channel") from None


_EXPECT_BY_KIND: Mapping[ButtonKind, ExpectKind] = {
    ButtonKind.UPSAMPLE: ExpectKind.UPSCALE,
    ButtonKind.VARIATION: ExpectKind.VARIATION,
    ButtonKind.LOW_VARIATION: ExpectKind.VARIATION,
    ButtonKind.HIGH_VARIATION: ExpectKind.VARIATION,
    ButtonKind.REROLL: ExpectKind.GRID,
    ButtonKind.UPSCALE_HD: ExpectKind.HD_UPSCALE,
    ButtonKind.OUTPAINT: ExpectKind.ZOOM,
    ButtonKind.CUSTOM_ZOOM: ExpectKind.ZOOM,
    ButtonKind.PAN: ExpectKind.PAN,
    ButtonKind.INPAINT: ExpectKind.VARIATION,
    ButtonKind.ANIMATE: ExpectKind.VIDEO,
    ButtonKind.PIC_READ_RETRY: ExpectKind.DESCRIBE,
}


def _press(job: ProviderJob, custom_id: str) -> ClickPlan:
    parent = _parent(job)
    command = parse_custom_id(custom_id)
    if command.kind == ButtonKind.CUSTOM_ZOOM:
        then = Then.MODAL
    elif command.kind == ButtonKind.INPAINT:
        then = Then.IFRAME
    elif command.remix_modal:
        then = Then.MAYBE_MODAL
    else:
        then = Then.NOTHING
    return ClickPlan(
        message_id=parent.message_id,
        message_flags=parent.flags,
        custom_id=custom_id,
        expect=_EXPECT_BY_KIND[command.kind],
        prompt=job.prompt,
        then=then,
        parent_hash=command.message_hash or parent.job_hash,
        index=command.index if command.kind == ButtonKind.UPSAMPLE else None,
    )


def _animate(job: ProviderJob) -> ClickPlan:
    """``/submit/video`` on a finished task: its animate (or extend) button."""
    parent = _parent(job)
    if parent.job_hash is None:
        raise ProviderRejected("the parent task has no Midjourney job to animate")
    motion = "high" if job.params.get("motion") == "high" else "low"
    if job.params.get("op") == "video_extend":
        custom_id = f"MJ::JOB::animate_{motion}_extend::1::{parent.job_hash}::SOLO"
    else:
        index = int(job.params.get("index", 1))
        custom_id = f"MJ::JOB::animate_{motion}::{index}::{parent.job_hash}::SOLO"
    return ClickPlan(
        message_id=parent.message_id,
        message_flags=parent.flags,
        custom_id=custom_id,
        expect=ExpectKind.VIDEO,
        prompt=job.prompt,
        then=Then.MAYBE_MODAL,
        parent_hash=parent.job_hash,
    )


def _slash(job: ProviderJob) -> SlashPlan:
    params = job.params
    inputs: Mapping[str, Any] = params.get("inputs", {})
    if job.action == TaskAction.IMAGINE:
        refs = tuple(
            Upload(role, f"{role}.png", None) for role in sorted(inputs) if role.startswith("ref")
        )
        return SlashPlan("imagine", ExpectKind.GRID, with_mode(job.prompt, job.mode), refs)
    if job.action == TaskAction.BLEND:
        images = sorted(role for role in inputs if role.startswith("image"))
        uploads = tuple(
            Upload(role, f"{role}.png", f"image{n}") for n, role in enumerate(images, 1)
        )
        ratio = _BLEND_RATIOS.get(str(params.get("dimensions", "SQUARE")), "1:1")
        return SlashPlan("blend", ExpectKind.BLEND, job.prompt, uploads, dimensions=ratio)
    if job.action == TaskAction.DESCRIBE:
        link = dict(params.get("remote_inputs", {})).get("image")
        if link is not None:
            return SlashPlan("describe", ExpectKind.DESCRIBE, "", link=str(link))
        return SlashPlan(
            "describe", ExpectKind.DESCRIBE, "", (Upload("image", "image.png", "image"),)
        )
    if job.action == TaskAction.SHORTEN:
        return SlashPlan("shorten", ExpectKind.SHORTEN, job.prompt)
    if job.action == TaskAction.VIDEO:
        # A video from an image (or from words alone) is an imagine with --video: the image's
        # URL goes in front of the prompt, as Midjourney's own site does it.
        prompt = f"{job.prompt} --video 1".strip()
        refs = (Upload("image", "image.png", None),) if "image" in inputs else ()
        return SlashPlan("imagine", ExpectKind.VIDEO, with_mode(prompt, job.mode), refs)
    raise ProviderRejected(f"a discord channel cannot run {job.action.value}")
