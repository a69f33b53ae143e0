"""The task object as clients see it (PROTOCOL §4): fetch, lists and notifyHook bodies."""

from __future__ import annotations

from typing import Any, Protocol

from mjgate.domain.tasks import BotType, Mode, TaskAction, TaskStatus, format_progress
from mjgate.storage import Storage


class ViewedTask(Protocol):
    """What the view reads of a task: a mapped ``Task`` or a read path's ``TaskRecord``."""

    @property
    def id(self) -> str: ...
    @property
    def action(self) -> TaskAction: ...
    @property
    def status(self) -> TaskStatus: ...
    @property
    def mode(self) -> Mode: ...
    @property
    def bot_type(self) -> BotType: ...
    @property
    def prompt(self) -> str: ...
    @property
    def prompt_en(self) -> str: ...
    @property
    def description(self) -> str: ...
    @property
    def state(self) -> str | None: ...
    @property
    def custom_id(self) -> str | None: ...
    @property
    def public_base(self) -> str | None: ...
    @property
    def submit_time(self) -> int: ...
    @property
    def start_time(self) -> int | None: ...
    @property
    def finish_time(self) -> int | None: ...
    @property
    def progress(self) -> int: ...
    @property
    def fail_reason(self) -> str | None: ...
    @property
    def buttons(self) -> list[dict[str, Any]]: ...
    @property
    def properties(self) -> dict[str, Any]: ...
    @property
    def result(self) -> dict[str, Any]: ...
    @property
    def price(self) -> int: ...
    @property
    def refunded(self) -> bool: ...


def absolute_url(base: str | None, storage: Storage, key: str, now_seconds: int) -> str:
    return f"{(base or '').rstrip('/')}{storage.signed_path(key, now_seconds)}"


def task_view(
    task: ViewedTask, storage: Storage, public_url: str | None, now_seconds: int
) -> dict[str, Any]:
    base = public_url or task.public_base
    result = task.result
    image_key = result.get("image")
    image_keys: list[str] = result.get("images", [])
    video_keys: list[str] = result.get("videos", [])
    properties = dict(task.properties)
    # A chat UI renders finalZhPrompt and crashes when it is missing (PROTOCOL §4).
    properties.setdefault("finalZhPrompt", "")
    if task.refunded:
        properties["refunded"] = True
        properties["refundQuota"] = task.price
    view: dict[str, Any] = {
        "id": task.id,
        "action": task.action.value,
        "status": task.status.value,
        "prompt": task.prompt,
        "promptEn": task.prompt_en,
        "description": task.description,
        "state": task.state or "",
        "mode": task.mode.value,
        "botType": task.bot_type.value,
        "customId": task.custom_id,
        "submitTime": task.submit_time,
        "startTime": task.start_time,
        "finishTime": task.finish_time,
        "progress": format_progress(task.progress),
        "imageUrl": absolute_url(base, storage, image_key, now_seconds) if image_key else None,
        "videoUrl": (
            absolute_url(base, storage, video_keys[0], now_seconds) if video_keys else None
        ),
        "failReason": task.fail_reason,
        "buttons": task.buttons if task.status == TaskStatus.SUCCESS else [],
        "properties": properties,
    }
    # An empty URL list is left out, never [] (PROTOCOL §4): the most-deployed chat UI tests
    # these for truthiness, and [] is truthy in JavaScript.
    if image_keys:
        view["imageUrls"] = [
            {"url": absolute_url(base, storage, k, now_seconds)} for k in image_keys
        ]
    if video_keys:
        view["videoUrls"] = [
            {"url": absolute_url(base, storage, k, now_seconds)} for k in video_keys
        ]
    return view


ViewKey = tuple[str, int, bool, int]


class EncodedViews:
    """Encoded views of final tasks, kept per process for the list polls.

    Relays poll batches of tasks long after they finished, and a final task never changes
    again (PROTOCOL §4), so its view is the same bytes every time. The key holds what could
    still tell two versions apart (the row's ``updated_at`` and refund flag) and the image
    URLs' expiry window, so an entry is never stale and no process has to tell another to
    drop one. Bounded: when full it starts again empty.
    """

    def __init__(self, kept: int = 20_000) -> None:
        self._kept = kept
        self._bodies: dict[ViewKey, bytes] = {}

    def get(self, key: ViewKey) -> bytes | None:
        return self._bodies.get(key)

    def put(self, key: ViewKey, body: bytes) -> None:
        if len(self._bodies) >= self._kept:
            self._bodies.clear()
        self._bodies[key] = body
