"""POST /mj/submit/* and /mj/insight-face/swap: new work and follow-ups (PROTOCOL §3).

Routes that may carry images read their body with ``api.bodies`` (parsed off the event
loop), parsed before authentication and checked against the model after it, the order
FastAPI keeps for the bodies it reads itself.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from mjgate.api.answers import EXAMPLES, UploadAnswer
from mjgate.api.bodies import JsonBody, documented, validated
from mjgate.api.deps import CallerDep, RuntimeDep, public_base, submit_options
from mjgate.api.errors import envelope
from mjgate.api.openapi import SUBMITTED, errors, ok
from mjgate.api.schemas import (
    ActionBody,
    BlendBody,
    ChangeBody,
    DescribeBody,
    EditsBody,
    ImagineBody,
    ModalBody,
    ShortenBody,
    SimpleChangeBody,
    SwapFaceBody,
    UploadBody,
    VideoBody,
)
from mjgate.errors import (
    ActionIsRequired,
    ActionNotAllowed,
    Base64ArraySizeInvalid,
    Base64IsInvalid,
    Base64IsRequired,
    ContentIsRequired,
    ContentParseFailed,
    CustomIdIsRequired,
    DimensionsIsInvalid,
    IndexIsInvalid,
    IndexIsRequired,
    MaskBase64IsRequired,
    MjgateError,
    ModeIsInvalid,
    NoAvailableChannel,
    NotifyHookIsInvalid,
    PromptIsRequired,
    PromptTooLong,
    QuotaNotEnough,
    SourceAndTargetRequired,
    StateTooLong,
    TaskIdIsRequired,
    TaskNotFound,
    TaskStatusNotModal,
    TaskStatusNotSuccess,
    UnknownAction,
    ZoomIsInvalid,
)
from mjgate.services import followups, submissions
from mjgate.services.submit import SubmitAnswer

router = APIRouter(tags=["submit"])
Envelope = dict[str, Any]
# What every new task may meet: its common fields, its price, no channel for it.
NEW_TASK = (
    ModeIsInvalid,
    NotifyHookIsInvalid,
    StateTooLong,
    QuotaNotEnough,
    NoAvailableChannel,
)
FOLLOW_UP = (*NEW_TASK, TaskIdIsRequired, TaskNotFound, TaskStatusNotSuccess, ActionNotAllowed)
IMAGES = (Base64IsRequired, Base64IsInvalid)


def submits(*kinds: type[MjgateError]) -> dict[int | str, dict[str, Any]]:
    return {**SUBMITTED, **errors(*kinds)}


def answer(result: SubmitAnswer) -> Envelope:
    return envelope(result.code, result.description, result.result, **result.properties)


@router.post(
    "/submit/imagine",
    summary="Imagine: a grid of four images from a prompt",
    openapi_extra=documented(ImagineBody),
    response_model=None,
    responses=submits(PromptIsRequired, PromptTooLong, Base64IsInvalid, *NEW_TASK),
)
async def imagine(raw: JsonBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    body = validated(ImagineBody, raw)
    options = submit_options(request, body)
    return answer(
        await submissions.submit_imagine(rt, who, options, body.prompt, body.base64_array)
    )


@router.post(
    "/submit/blend",
    summary="Blend 2 to 5 images",
    openapi_extra=documented(BlendBody),
    response_model=None,
    responses=submits(Base64ArraySizeInvalid, *IMAGES, DimensionsIsInvalid, *NEW_TASK),
)
async def blend(raw: JsonBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    body = validated(BlendBody, raw)
    options = submit_options(request, body)
    return answer(
        await submissions.submit_blend(rt, who, options, body.base64_array, body.dimensions)
    )


@router.post(
    "/submit/describe",
    summary="Describe: four prompts for an image",
    openapi_extra=documented(DescribeBody),
    response_model=None,
    responses=submits(*IMAGES, *NEW_TASK),
)
async def describe(raw: JsonBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    body = validated(DescribeBody, raw)
    options = submit_options(request, body)
    return answer(
        await submissions.submit_describe(
            rt, who, options, body.base64, body.base64_array, body.link
        )
    )


@router.post(
    "/submit/shorten",
    summary="Shorten: analyse a prompt, offer five shorter ones",
    response_model=None,
    responses=submits(PromptIsRequired, PromptTooLong, *NEW_TASK),
)
async def shorten(body: ShortenBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    options = submit_options(request, body)
    return answer(await submissions.submit_shorten(rt, who, options, body.prompt))


@router.post(
    "/submit/action",
    summary="Press a button (customId) of a finished task",
    response_model=None,
    responses=submits(CustomIdIsRequired, UnknownAction, *FOLLOW_UP),
)
async def action(body: ActionBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    options = submit_options(request, body)
    return answer(
        await followups.submit_action(
            rt, who, options, body.task_id, body.custom_id, body.enable_remix
        )
    )


@router.post(
    "/submit/modal",
    summary="Continue a task that waits in MODAL",
    openapi_extra=documented(ModalBody),
    response_model=None,
    responses=submits(
        TaskIdIsRequired,
        TaskNotFound,
        TaskStatusNotModal,
        MaskBase64IsRequired,
        ZoomIsInvalid,
        Base64IsInvalid,
        PromptTooLong,
        QuotaNotEnough,
        NoAvailableChannel,
    ),
)
async def modal(raw: JsonBody, rt: RuntimeDep, who: CallerDep) -> Envelope:
    body = validated(ModalBody, raw)
    return answer(
        await followups.submit_modal(rt, who, body.task_id, body.prompt, body.mask_base64)
    )


@router.post(
    "/submit/change",
    summary="Upscale, vary or reroll a grid by index",
    response_model=None,
    responses=submits(ActionIsRequired, UnknownAction, IndexIsRequired, IndexIsInvalid, *FOLLOW_UP),
)
async def change(body: ChangeBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    options = submit_options(request, body)
    return answer(
        await followups.submit_change(rt, who, options, body.task_id, body.action, body.index)
    )


@router.post(
    "/submit/simple-change",
    summary="Change by text: '<taskId> U2'",
    response_model=None,
    responses=submits(ContentIsRequired, ContentParseFailed, *FOLLOW_UP),
)
async def simple_change(
    body: SimpleChangeBody, request: Request, rt: RuntimeDep, who: CallerDep
) -> Envelope:
    options = submit_options(request, body)
    return answer(await followups.submit_simple_change(rt, who, options, body.content))


@router.post(
    "/submit/video",
    summary="A video from a prompt, an image or a finished task",
    openapi_extra=documented(VideoBody),
    response_model=None,
    responses=submits(
        PromptIsRequired, PromptTooLong, *IMAGES, IndexIsInvalid, UnknownAction, *FOLLOW_UP
    ),
)
async def video(raw: JsonBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    body = validated(VideoBody, raw)
    options = submit_options(request, body)
    return answer(
        await submissions.submit_video(
            rt,
            who,
            options,
            prompt=body.prompt,
            image=body.image,
            task_id=body.task_id,
            index=body.index,
            motion=body.motion,
            action=body.action,
        )
    )


@router.post(
    "/submit/edits",
    summary="Edit an image towards a prompt",
    openapi_extra=documented(EditsBody),
    response_model=None,
    responses=submits(PromptIsRequired, PromptTooLong, *IMAGES, MaskBase64IsRequired, *NEW_TASK),
)
async def edits(raw: JsonBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    body = validated(EditsBody, raw)
    options = submit_options(request, body)
    return answer(
        await submissions.submit_edits(rt, who, options, body.prompt, body.image, body.mask_base64)
    )


@router.post(
    "/submit/upload-discord-images",
    summary="Store images; answers their URLs",
    openapi_extra=documented(UploadBody),
    response_model=None,
    responses={
        **ok(UploadAnswer, "The stored images' URLs", example=EXAMPLES["upload"]),
        **errors(*IMAGES),
    },
)
async def upload(raw: JsonBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    body = validated(UploadBody, raw)
    urls = await submissions.upload_images(rt, who, body.base64_array, public_base(request))
    return envelope(1, "Submit success", urls)


@router.post(
    "/insight-face/swap",
    summary="Swap the face of the source onto the target",
    openapi_extra=documented(SwapFaceBody),
    response_model=None,
    responses=submits(SourceAndTargetRequired, *IMAGES, *NEW_TASK),
)
async def swap_face(raw: JsonBody, request: Request, rt: RuntimeDep, who: CallerDep) -> Envelope:
    body = validated(SwapFaceBody, raw)
    options = submit_options(request, body)
    return answer(
        await submissions.submit_swap_face(rt, who, options, body.source_base64, body.target_base64)
    )
