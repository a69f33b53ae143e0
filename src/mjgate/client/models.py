"""The task and the submit answer as typed values (PROTOCOL §4), plain dataclasses.

``Task`` keeps the JSON it was read from in ``raw``, so a field this module does not name
(a newer server's) is still there.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from mjgate.client.errors import ButtonNotFound

FINAL_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCEL"})


class TaskStatus(StrEnum):
    NOT_START = "NOT_START"  # waiting in the server's queue
    SUBMITTED = "SUBMITTED"  # a channel has it
    MODAL = "MODAL"  # waits for submit_modal
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCEL = "CANCEL"

    @property
    def is_final(self) -> bool:
        return self.value in FINAL_STATUSES


@dataclass(frozen=True)
class Button:
    custom_id: str
    label: str = ""
    emoji: str = ""
    style: int = 2
    type: int = 2

    @classmethod
    def from_json(cls, value: dict[str, Any]) -> Button:
        return cls(
            custom_id=str(value.get("customId") or ""),
            label=str(value.get("label") or ""),
            emoji=str(value.get("emoji") or ""),
            style=int(value.get("style") or 2),
            type=int(value.get("type") or 2),
        )

    def matches(self, ref: str) -> bool:
        """Is ``ref`` this button's label (any case), its emoji or its customId?"""
        return ref in (self.custom_id, self.emoji) or (
            bool(self.label) and ref.casefold() == self.label.casefold()
        )


@dataclass(frozen=True)
class SubmitAnswer:
    """A submit's envelope: code 1 (started), 21 (waits in MODAL) or 22 (queued)."""

    code: int
    description: str
    result: Any
    properties: dict[str, Any] = field(default_factory=dict)

    @property
    def task_id(self) -> str:
        return str(self.result)


def _progress(value: Any) -> int:
    text = str(value or "0").strip().rstrip("%") or "0"
    try:
        return max(0, min(100, int(float(text))))
    except ValueError:
        return 0


def _urls(raw: dict[str, Any], single: str, many: str) -> list[str]:
    urls = [str(item["url"]) for item in raw.get(many) or [] if item and item.get("url")]
    if not urls and raw.get(single):
        urls = [str(raw[single])]
    return urls


@dataclass(frozen=True)
class TaskData:
    """A task as the server showed it; ``progress`` is an int 0..100."""

    id: str
    status: TaskStatus
    action: str | None = None
    progress: int = 0
    prompt: str | None = None
    prompt_en: str | None = None
    description: str | None = None
    state: str | None = None
    mode: str | None = None
    bot_type: str | None = None
    custom_id: str | None = None
    submit_time: int | None = None
    start_time: int | None = None
    finish_time: int | None = None
    image_url: str | None = None
    image_urls: list[str] = field(default_factory=list)
    video_url: str | None = None
    video_urls: list[str] = field(default_factory=list)
    fail_reason: str | None = None
    buttons: list[Button] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    raw: dict[str, Any] = field(default_factory=dict, repr=False, compare=False)

    @staticmethod
    def fields_from_json(raw: dict[str, Any]) -> dict[str, Any]:
        """The keyword arguments of a task class, read from the task JSON."""
        return {
            "id": str(raw["id"]),
            "status": TaskStatus(raw.get("status") or "NOT_START"),
            "action": raw.get("action"),
            "progress": _progress(raw.get("progress")),
            "prompt": raw.get("prompt"),
            "prompt_en": raw.get("promptEn"),
            "description": raw.get("description"),
            "state": raw.get("state"),
            "mode": raw.get("mode"),
            "bot_type": raw.get("botType"),
            "custom_id": raw.get("customId"),
            "submit_time": raw.get("submitTime"),
            "start_time": raw.get("startTime"),
            "finish_time": raw.get("finishTime"),
            "image_url": raw.get("imageUrl"),
            "image_urls": [str(i["url"]) for i in raw.get("imageUrls") or [] if i.get("url")],
            "video_url": raw.get("videoUrl"),
            "video_urls": _urls(raw, "videoUrl", "videoUrls"),
            "fail_reason": raw.get("failReason"),
            "buttons": [Button.from_json(b) for b in raw.get("buttons") or []],
            "properties": dict(raw.get("properties") or {}),
            "raw": raw,
        }

    @property
    def is_final(self) -> bool:
        return self.status.is_final

    @property
    def final_prompt(self) -> str | None:
        value = self.properties.get("finalPrompt")
        return None if value is None else str(value)

    def button(self, ref: str) -> Button:
        """The button whose label (``"U1"``, any case), emoji (``"🔄"``) or customId is ``ref``."""
        for candidate in self.buttons:
            if candidate.matches(ref):
                return candidate
        offered = ", ".join(b.label or b.emoji for b in self.buttons) or "none"
        raise ButtonNotFound(f"task {self.id} has no button {ref!r} (it has: {offered})")

    def media_urls(self) -> list[str]:
        """Every result file's URL once: the image, the grid's four images, the videos."""
        urls: list[str] = []
        for url in [self.image_url, *self.image_urls, self.video_url, *self.video_urls]:
            if url and url not in urls:
                urls.append(url)
        return urls
