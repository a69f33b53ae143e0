"""Reading what /mj upstreams answer, whatever dialect they speak, into our own terms.

Upstreams differ: some answer a full queue with code 9 and a sentence instead of 23, some
write their descriptions in Chinese, some set progress to "" on failure, some answer an
unknown id with an empty body, ``null`` or HTTP 204, and gateways answer their own errors
as HTTP 400 with ``{"description", "type", "code"}``. Everything here is pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from mjgate.domain.buttons import Button
from mjgate.domain.tasks import TaskStatus
from mjgate.errors import Refusal


@dataclass(frozen=True)
class SubmitReply:
    """An upstream's answer to a submit, normalised."""

    accepted: bool
    upstream_id: str | None = None
    queued: bool = False
    modal: bool = False
    refusal: Refusal | None = None
    reason: str = ""
    properties: dict[str, Any] = field(default_factory=dict)


_QUEUE_FULL = re.compile(r"queue is full|queue full|队列已满|queue_full", re.I)
_BANNED = re.compile(r"sensitive|banned|敏感词|违禁", re.I)
_UNAVAILABLE = re.compile(
    r"no available|无可用|account.*(unavailable|disabled)|no_available|账号.*(不可用|禁用)", re.I
)
_PROGRESS = re.compile(r"(\d{1,3})(?:\.\d+)?\s*%?")
# Words upstreams use for our statuses; anything unknown counts as still running.
_STATUSES = {
    "NOT_START": TaskStatus.SUBMITTED,
    "SUBMITTED": TaskStatus.SUBMITTED,
    "MODAL": TaskStatus.SUBMITTED,
    "IN_PROGRESS": TaskStatus.IN_PROGRESS,
    "SUCCESS": TaskStatus.SUCCESS,
    "FAILURE": TaskStatus.FAILURE,
    "FAILED": TaskStatus.FAILURE,
    "FAIL": TaskStatus.FAILURE,
    "CANCEL": TaskStatus.FAILURE,
    "CANCELED": TaskStatus.FAILURE,
    "CANCELLED": TaskStatus.FAILURE,
}
MAX_REASON = 300


def clean_reason(text: object) -> str:
    """An upstream's sentence, short and on one line, fit for a client's failReason."""
    value = " ".join(str(text or "").split())
    return value[:MAX_REASON]


def classify_refusal(code: object, description: str) -> Refusal:
    if code == 23 or _QUEUE_FULL.search(description):
        return Refusal.QUEUE_FULL
    if code == 24 or _BANNED.search(description):
        return Refusal.BANNED
    if _UNAVAILABLE.search(description):
        return Refusal.UNAVAILABLE
    return Refusal.REFUSED


_CALLBACK_REFUSED = re.compile(r"notify_?hook|callback", re.I)


def refuses_callback(reply: SubmitReply) -> bool:
    """A refusal of our notifyHook rather than of the work (mjgate answers code 4,
    ``notify_hook_is_invalid``, for a hook on a private address): nothing was created, and
    the same submit without a hook may be taken."""
    return (
        not reply.accepted
        and reply.refusal == Refusal.REFUSED
        and bool(_CALLBACK_REFUSED.search(reply.reason))
    )


def read_submit_reply(status_code: int, body: object) -> SubmitReply:
    """The envelope of a submit answer, from any HTTP status, as accepted or a refusal."""
    if not isinstance(body, Mapping):
        refusal = Refusal.UNAVAILABLE if status_code >= 500 else Refusal.REFUSED
        return SubmitReply(False, refusal=refusal, reason=f"upstream answered HTTP {status_code}")
    code = body.get("code")
    description = clean_reason(body.get("description") or body.get("message"))
    raw_properties = body.get("properties")
    properties = dict(raw_properties) if isinstance(raw_properties, Mapping) else {}
    result = body.get("result")
    if status_code == 200 and code in (1, 21, 22) and isinstance(result, str | int) and result:
        return SubmitReply(
            True,
            upstream_id=str(result),
            queued=code == 22,
            modal=code == 21,
            properties=properties,
        )
    refusal = classify_refusal(code, description)
    if refusal == Refusal.REFUSED and status_code >= 500:
        refusal = Refusal.UNAVAILABLE
    reason = description or f"upstream answered code {code} (HTTP {status_code})"
    return SubmitReply(False, refusal=refusal, reason=reason, properties=properties)


def read_progress(value: object) -> int | None:
    """ "45%", "45", 45, 45.5 or "" (some upstreams blank it on failure): None when unknown."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return max(0, min(100, int(value)))
    if isinstance(value, str):
        match = _PROGRESS.fullmatch(value.strip())
        if match:
            return max(0, min(100, int(match.group(1))))
    return None


@dataclass(frozen=True)
class UpstreamTask:
    """One task as the upstream shows it, before its files are fetched."""

    upstream_id: str
    status: TaskStatus
    progress: int | None
    fail_reason: str | None
    image_url: str | None
    image_urls: tuple[str, ...]
    video_urls: tuple[str, ...]
    buttons: tuple[Button, ...] | None
    final_prompt: str | None
    prompt_en: str | None
    message_hash: str | None
    start_time: int | None = None
    finish_time: int | None = None

    @property
    def fingerprint(self) -> tuple[object, ...]:
        """What a client could see change: a poll that sees a new one saw movement."""
        return (
            self.status,
            self.progress,
            self.image_url,
            len(self.buttons or ()),
            self.start_time,
        )


def read_time(value: object) -> int | None:
    """Epoch ms as a number or digits; None for anything else (null, 0, garbage)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, str) and value.strip().isdigit():
        value = int(value.strip())
    if isinstance(value, int | float) and value > 0:
        return int(value)
    return None


def _text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _urls(items: object) -> tuple[str, ...]:
    found: list[str] = []
    for item in items if isinstance(items, list) else []:
        url = item.get("url") if isinstance(item, Mapping) else item
        if isinstance(url, str) and url:
            found.append(url)
    return tuple(found)


def _buttons(items: object) -> tuple[Button, ...] | None:
    if not isinstance(items, list):
        return None
    buttons: list[Button] = []
    for item in items:
        if isinstance(item, Mapping):
            try:
                buttons.append(Button.from_wire(item))
            except ValueError:
                continue
    return tuple(buttons)


def read_task(body: object) -> UpstreamTask | None:
    """A task object (PROTOCOL §4) from an upstream, or None for "no such task"."""
    if not isinstance(body, Mapping):
        return None
    upstream_id = body.get("id")
    if not isinstance(upstream_id, str | int) or isinstance(upstream_id, bool) or not upstream_id:
        return None
    raw_status = str(body.get("status") or "").upper()
    status = _STATUSES.get(raw_status, TaskStatus.IN_PROGRESS)
    raw_properties = body.get("properties")
    properties = raw_properties if isinstance(raw_properties, Mapping) else {}
    videos = _urls(body.get("videoUrls"))
    if not videos and _text(body.get("videoUrl")):
        videos = (str(body["videoUrl"]),)
    reason = clean_reason(body.get("failReason")) or None
    if status == TaskStatus.FAILURE and reason is None:
        reason = "the upstream reported a failure without a reason"
    if raw_status.startswith("CANCEL"):
        reason = f"cancelled upstream: {reason}" if reason else "cancelled upstream"
    return UpstreamTask(
        upstream_id=str(upstream_id),
        status=status,
        progress=read_progress(body.get("progress")),
        fail_reason=reason,
        image_url=_text(body.get("imageUrl")),
        image_urls=_urls(body.get("imageUrls")),
        video_urls=videos,
        buttons=_buttons(body.get("buttons")),
        final_prompt=_text(properties.get("finalPrompt")) or _text(body.get("finalPrompt")),
        prompt_en=_text(body.get("promptEn")),
        message_hash=_text(properties.get("messageHash")),
        start_time=read_time(body.get("startTime")),
        finish_time=read_time(body.get("finishTime")),
    )


def read_task_list(body: object) -> dict[str, UpstreamTask]:
    """list-by-condition's bare array (unknown ids left out), keyed by upstream id."""
    found: dict[str, UpstreamTask] = {}
    for item in body if isinstance(body, list) else []:
        task = read_task(item)
        if task is not None:
            found[task.upstream_id] = task
    return found
