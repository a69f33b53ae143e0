"""Request bodies as clients send them (PROTOCOL §3). Unknown fields are ignored.

Types here are only the JSON shape: a wrong type is ``bind_request_body_failed``. What the
values mean (blank prompts, bad modes, images) the services check, with their own error ids.
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, model_validator
from pydantic.alias_generators import to_camel

# A lone surrogate ("\ud800" in JSON) is legal JSON but not text: no database, encoder or
# terminal takes it, so a body holding one is refused here instead of failing deep inside.
_SURROGATE = re.compile("[\ud800-\udfff]")


def holds_lone_surrogate(value: object) -> bool:
    """Whether any string in a parsed JSON value (keys included) holds a surrogate."""
    if isinstance(value, str):
        # isascii() is O(1) for ASCII strings (base64 images): only others are scanned.
        return not value.isascii() and _SURROGATE.search(value) is not None
    if isinstance(value, list):
        return any(holds_lone_surrogate(item) for item in value)
    if isinstance(value, dict):
        return any(holds_lone_surrogate(k) or holds_lone_surrogate(v) for k, v in value.items())
    return False


class Body(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True, extra="ignore")

    @model_validator(mode="before")
    @classmethod
    def _no_lone_surrogates(cls, data: object) -> object:
        if holds_lone_surrogate(data):
            raise ValueError("a string holds a lone surrogate, which is not text")
        return data


class CommonFields(Body):
    mode: str | None = Field(None, description="RELAX, FAST or TURBO (a path prefix wins).")
    state: str | None = Field(
        None, description="Echoed back on the task; at most 4,096 characters."
    )
    notify_hook: str | None = Field(None, description="URL that receives the task on changes.")
    bot_type: str | None = Field(
        None, description="mj / MID_JOURNEY (default), niji / NIJI_JOURNEY."
    )
    account_filter: dict[str, object] | None = Field(
        None,
        description=(
            "Narrows the channels a new task may use: instanceId (or channelId) names a"
            " channel by name or Discord channel id; modes lists modes it must serve."
        ),
    )


class ImagineBody(CommonFields):
    prompt: str | None = None
    base64_array: list[str] | None = Field(None, description="Reference images (data URLs).")


class BlendBody(CommonFields):
    base64_array: list[str] | None = Field(None, description="2 to 5 images (data URLs).")
    dimensions: str | None = Field(None, description="PORTRAIT, SQUARE (default) or LANDSCAPE.")


class DescribeBody(CommonFields):
    base64: str | None = None
    base64_array: list[str] | None = None
    link: str | None = None


class ShortenBody(CommonFields):
    prompt: str | None = None


class ActionBody(CommonFields):
    task_id: str | int | None = None
    custom_id: str | None = None
    enable_remix: bool | None = None
    choose_same_channel: bool | None = None


class ModalBody(CommonFields):
    task_id: str | int | None = None
    prompt: str | None = None
    mask_base64: str | None = None


class ChangeBody(CommonFields):
    task_id: str | int | None = None
    action: str | None = Field(None, description="UPSCALE, VARIATION or REROLL.")
    index: int | None = Field(None, description="1 to 4 for UPSCALE and VARIATION.")


class SimpleChangeBody(CommonFields):
    content: str | None = Field(None, description="'<taskId> U1..U4', 'V1..V4' or 'R'.")


class VideoBody(CommonFields):
    prompt: str | None = None
    image: str | None = Field(None, description="An image URL or data URL to animate.")
    task_id: str | int | None = None
    index: int | None = None
    motion: str | None = Field(None, description="low (default) or high.")
    action: str | None = Field(None, description="extend: continue the video of taskId.")
    loop: bool | None = None
    batch_size: int | None = None


class EditsBody(CommonFields):
    prompt: str | None = None
    image: str | None = None
    mask_base64: str | None = None


class UploadBody(CommonFields):
    base64_array: list[str] | None = None


class SwapFaceBody(CommonFields):
    source_base64: str | None = None
    target_base64: str | None = None


class IdsBody(Body):
    ids: list[str | int] = Field(default_factory=list)
