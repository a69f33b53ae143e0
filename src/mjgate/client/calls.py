"""The protocol, transport aside: each operation as a request, each answer read or raised.

The sync and the async client send the same ``Call``s and read answers with the same
functions, so the two cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import httpx

from mjgate.client.errors import (
    ApiError,
    BannedPrompt,
    Forbidden,
    QueueFull,
    RateLimited,
    RequestRefused,
    ServerFailed,
    SubmitOutcomeUnknown,
    TaskNotFound,
    Unauthorized,
)
from mjgate.client.images import ImageSource, to_data_url, to_image_field
from mjgate.client.models import SubmitAnswer
from mjgate.client.retry import envelope_of

ACCEPTED = (1, 21, 22)  # codes that made a task (PROTOCOL §1)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    body: Any = None
    params: dict[str, Any] | None = None
    submit: bool = False  # makes a task: never sent twice unless nothing was made


def _common(
    mode: str | None, notify_hook: str | None, state: str | None, bot_type: str | None
) -> dict[str, Any]:
    body: dict[str, Any] = {}
    for key, value in (
        ("mode", mode),
        ("notifyHook", notify_hook),
        ("state", state),
        ("botType", bot_type),
    ):
        if value is not None:
            body[key] = value
    return body


def submit(route: str, body: dict[str, Any]) -> Call:
    return Call("POST", f"/mj/submit/{route}", body, submit=True)


def imagine(
    prompt: str,
    images: Iterable[ImageSource] = (),
    mode: str | None = None,
    notify_hook: str | None = None,
    state: str | None = None,
    bot_type: str | None = None,
) -> Call:
    body = {"prompt": prompt, **_common(mode, notify_hook, state, bot_type)}
    references = [to_data_url(image) for image in images]
    if references:
        body["base64Array"] = references
    return submit("imagine", body)


def blend(
    images: Sequence[ImageSource],
    dimensions: str | None = None,
    mode: str | None = None,
    notify_hook: str | None = None,
    state: str | None = None,
) -> Call:
    body = {
        "base64Array": [to_data_url(i) for i in images],
        **_common(mode, notify_hook, state, None),
    }
    if dimensions is not None:
        body["dimensions"] = dimensions
    return submit("blend", body)


def describe(
    file: ImageSource | None = None,
    link: str | None = None,
    mode: str | None = None,
    notify_hook: str | None = None,
    state: str | None = None,
) -> Call:
    if (file is None) == (link is None):
        raise ValueError("describe takes a file or a link, one of the two")
    body = _common(mode, notify_hook, state, None)
    if link is not None:
        body["link"] = link
    else:
        assert file is not None
        body["base64"] = to_data_url(file)
    return submit("describe", body)


def shorten(
    prompt: str,
    mode: str | None = None,
    notify_hook: str | None = None,
    state: str | None = None,
) -> Call:
    return submit("shorten", {"prompt": prompt, **_common(mode, notify_hook, state, None)})


def video(
    prompt: str | None = None,
    image: ImageSource | None = None,
    task_id: str | None = None,
    index: int | None = None,
    motion: str | None = None,
    loop: bool | None = None,
    batch_size: int | None = None,
    mode: str | None = None,
    notify_hook: str | None = None,
    state: str | None = None,
) -> Call:
    body = _common(mode, notify_hook, state, None)
    for key, value in (
        ("prompt", prompt),
        ("taskId", task_id),
        ("index", index),
        ("motion", motion),
        ("loop", loop),
        ("batchSize", batch_size),
    ):
        if value is not None:
            body[key] = value
    if image is not None:
        body["image"] = to_image_field(image)
    return submit("video", body)


def action(
    task_id: str,
    custom_id: str,
    enable_remix: bool = False,
    notify_hook: str | None = None,
    state: str | None = None,
) -> Call:
    body = {"taskId": task_id, "customId": custom_id, **_common(None, notify_hook, state, None)}
    if enable_remix:
        body["enableRemix"] = True
    return submit("action", body)


def modal(task_id: str, prompt: str | None = None, mask: ImageSource | None = None) -> Call:
    body: dict[str, Any] = {"taskId": task_id}
    if prompt is not None:
        body["prompt"] = prompt
    if mask is not None:
        body["maskBase64"] = to_data_url(mask)
    return submit("modal", body)


def fetch(task_id: str) -> Call:
    return Call("GET", f"/mj/task/{task_id}/fetch")


def list_by_ids(ids: Iterable[str]) -> Call:
    return Call("POST", "/mj/task/list-by-condition", {"ids": [str(i) for i in ids]})


def list_tasks(limit: int | None = None) -> Call:
    return Call("GET", "/mj/task/list", params=None if limit is None else {"limit": limit})


def queue() -> Call:
    return Call("GET", "/mj/task/queue")


def cancel(task_id: str) -> Call:
    return Call("POST", f"/mj/task/{task_id}/cancel")


def image_seed(task_id: str) -> Call:
    return Call("GET", f"/mj/task/{task_id}/image-seed")


# --------------------------------------------------------------------- answers


def refusal(response: httpx.Response) -> ApiError:
    """The error a refusing answer stands for."""
    body = envelope_of(response) or {}
    code = int(body.get("code", 9 if response.status_code >= 500 else 4))
    description = str(body.get("description") or response.reason_phrase or "error")
    properties = dict(body.get("properties") or {})
    if "message" not in properties and not body:
        properties["message"] = response.text[:200]
    status = response.status_code
    kind: type[ApiError]
    if status == 401:
        kind = Unauthorized
    elif status == 403:
        kind = Forbidden
    elif status == 429:
        kind = RateLimited
    elif code == 3 or status == 404:
        kind = TaskNotFound if code == 3 else RequestRefused
    elif code == 23:
        kind = QueueFull
    elif code == 24:
        kind = BannedPrompt
    elif code == 9 or status >= 500:
        kind = ServerFailed
    else:
        kind = RequestRefused
    return kind(code, description, status, properties)


def read_submit(call: Call, response: httpx.Response) -> SubmitAnswer:
    """The accepted answer of a submit, or the error it stands for. A 5xx that is not the
    protocol's own refusal (code 9 or 23) may hide a task that was made."""
    body = envelope_of(response)
    if response.status_code >= 500 and (body is None or body["code"] not in (9, 23)):
        raise SubmitOutcomeUnknown(call.path, f"HTTP {response.status_code}")
    if response.status_code == 500 and body is not None and body["code"] == 9:
        # an internal failure: the server's transaction should have rolled back, but a
        # server that is not mjgate may have made the task first
        raise SubmitOutcomeUnknown(call.path, f"HTTP 500 {body.get('description')}")
    if response.status_code == 200 and body is not None and body["code"] in ACCEPTED:
        return SubmitAnswer(
            body["code"], str(body["description"]), body.get("result"), body["properties"]
        )
    raise refusal(response)


def placeholder(answer: SubmitAnswer) -> dict[str, Any]:
    """The task as its submit's answer tells it, for when it could not be fetched."""
    status = "MODAL" if answer.code == 21 else "NOT_START"
    return {
        "id": answer.task_id,
        "status": status,
        "progress": "0%",
        "properties": answer.properties,
    }


def read_json(response: httpx.Response) -> Any:
    """The body of a successful read, or the error the answer stands for."""
    if response.status_code != 200:
        raise refusal(response)
    if response.content.strip() in (b"", b"null"):
        # midjourney-proxy's way to say "no such task": 200 with no body, or null
        raise TaskNotFound(3, "task_not_found", 200, {"message": "the server has no such task"})
    try:
        body = response.json()
    except ValueError:
        raise ServerFailed(9, "not_json", 200, {"message": response.text[:200]}) from None
    envelope = isinstance(body, dict) and isinstance(body.get("code"), int) and "status" not in body
    if envelope and body["code"] != 1:
        raise refusal(response)
    return body
