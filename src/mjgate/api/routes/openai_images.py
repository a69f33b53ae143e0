"""OpenAI's Images API for apps that speak it: ``POST /v1/images/generations``, ``/v1/models``.

A base URL (``http://host:port/v1``) and a key (a mjgate token, ``Authorization: Bearer``)
are all such an app needs. Errors come in OpenAI's shape (``api.openai_errors``).
"""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field

from mjgate.api.deps import CallerDep, RuntimeDep, public_base_for
from mjgate.api.schemas import Body
from mjgate.domain.image_sizes import SizeInvalid, aspect_of_size
from mjgate.errors import BindRequestBodyFailed, RouteNotFound
from mjgate.services.openai_images import (
    OWNER,
    ImageModel,
    ImageRequest,
    generate_images,
    model_named,
    offered_models,
)

router = APIRouter(prefix="/v1", tags=["openai"])
MAX_IMAGES = 4


class ImageGenerationRequest(Body):
    """OpenAI's request; ``quality``, ``style``, ``user`` and the like are accepted and unused.
    Field names as OpenAI spells them (no camelCase aliases); lone surrogates refused."""

    model_config = ConfigDict(alias_generator=None, extra="ignore")

    prompt: str = Field(description="The prompt; Midjourney parameters (--ar, --v ...) work.")
    n: int | None = Field(1, description="How many of the grid's four images to return (1-4).")
    size: str | None = Field(
        None,
        description="WIDTHxHEIGHT, used as the aspect ratio (1792x1024 is --ar 7:4), or auto. "
        "A --ar in the prompt wins.",
    )
    response_format: str | None = Field("url", description="url or b64_json.")
    model: str | None = Field(
        None,
        description="midjourney[-fast|-relax|-turbo] or niji[-fast|-relax|-turbo]; "
        "dall-e-2, dall-e-3 and gpt-image-1 mean midjourney.",
    )


class GeneratedImageOut(BaseModel):
    url: str | None = None
    b64_json: str | None = None
    revised_prompt: str


class ImagesResponse(BaseModel):
    created: int
    data: list[GeneratedImageOut]


class ModelOut(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int = 0
    owned_by: str = OWNER


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelOut]


def _invalid(message: str, param: str) -> BindRequestBodyFailed:
    return BindRequestBodyFailed(message, param=param)


def read_request(body: ImageGenerationRequest) -> ImageRequest:
    n = 1 if body.n is None else body.n
    if not 1 <= n <= MAX_IMAGES:
        raise _invalid(f"n must be between 1 and {MAX_IMAGES} (one grid).", "n")
    fmt = (body.response_format or "url").lower()
    if fmt not in ("url", "b64_json"):
        raise _invalid("response_format must be url or b64_json.", "response_format")
    model = model_named(body.model)
    if model is None:
        raise _invalid(f"No model {body.model!r} here; GET /v1/models lists them.", "model")
    try:
        ratio = aspect_of_size(body.size)
    except SizeInvalid:
        raise _invalid(
            "size must be WIDTHxHEIGHT within 1:4 to 4:1 (e.g. 1024x1024) or auto.", "size"
        ) from None
    if not body.prompt.strip():
        raise _invalid("prompt must not be empty.", "prompt")
    return ImageRequest(body.prompt, n, ratio, fmt == "b64_json", model)


@router.post(
    "/images/generations",
    response_model=ImagesResponse,
    response_model_exclude_none=True,
    summary="Create images (OpenAI's Images API): one imagine, its grid's separate images",
)
async def create_images(
    body: ImageGenerationRequest, request: Request, rt: RuntimeDep, who: CallerDep
) -> ImagesResponse:
    wanted = read_request(body)
    generated = await generate_images(rt, who, wanted, public_base_for(rt, request))
    return ImagesResponse(
        created=generated.created,
        data=[
            GeneratedImageOut(url=i.url, b64_json=i.b64_json, revised_prompt=i.revised_prompt)
            for i in generated.images
        ],
    )


def _model_out(model: ImageModel) -> ModelOut:
    return ModelOut(id=model.name)


@router.get("/models", response_model=ModelList, summary="The image models offered now")
async def list_models(rt: RuntimeDep, _who: CallerDep) -> ModelList:
    return ModelList(data=[_model_out(m) for m in await offered_models(rt)])


@router.get("/models/{model}", response_model=ModelOut, summary="One model offered now")
async def get_model(model: str, rt: RuntimeDep, _who: CallerDep) -> ModelOut:
    for offered in await offered_models(rt):
        if offered.name == model:
            return _model_out(offered)
    raise RouteNotFound(f"The model {model!r} does not exist here.", param="model")
