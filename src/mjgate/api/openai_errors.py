"""Errors under ``/v1`` in the OpenAI shape: ``{"error": {"message", "type", "param", "code"}}``.

The same ``MjgateError``s the ``/mj`` envelope carries, with the statuses OpenAI clients act
on: 401 a bad key, 400 bad parameters (and a banned word, as OpenAI's content policy), 429
an exhausted quota (``insufficient_quota``, as OpenAI says it), a full queue or a rate limit
(with ``Retry-After``), 503 no channel, 504 a task still running, 502 a task that failed.
Once a task exists, ``x-should-retry: false`` tells the official clients not to retry: a
retry would imagine (and charge) a second time.
"""

from __future__ import annotations

from typing import Any

from mjgate.api.responses import JsonResponse
from mjgate.errors import (
    BannedPrompt,
    MjgateError,
    NoAvailableChannel,
    QueueFull,
    QuotaNotEnough,
    RateLimited,
    RequestRejected,
    RouteNotFound,
    ServerBusy,
    TaskFailed,
    TaskStillRunning,
    Unauthorized,
)

OPENAI_PREFIX = "/v1/"
INVALID = "invalid_request_error"
RETRY_AFTER_SECONDS = "5"


def is_openai_path(path: str) -> bool:
    return path.startswith(OPENAI_PREFIX) or path == "/v1"


def openai_error_body(
    message: str, kind: str, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": kind, "param": param, "code": code}}


def _shape(error: MjgateError) -> tuple[int, str, str | None]:
    """Status, type and code for an error."""
    if isinstance(error, Unauthorized):
        return 401, INVALID, "invalid_api_key"
    if isinstance(error, QuotaNotEnough):
        return 429, "insufficient_quota", "insufficient_quota"
    if isinstance(error, QueueFull):
        return 429, "requests", "queue_full"
    if isinstance(error, RateLimited):
        return 429, "requests", "rate_limit_exceeded"
    if isinstance(error, BannedPrompt):
        return 400, INVALID, "content_policy_violation"
    if isinstance(error, RouteNotFound):
        return 404, INVALID, "unknown_url"
    if isinstance(error, RequestRejected):
        return error.http_status, INVALID, error.error_id
    if isinstance(error, NoAvailableChannel | ServerBusy):
        return 503, "server_error", error.error_id
    if isinstance(error, TaskStillRunning):
        return 504, "server_error", "timeout"
    if isinstance(error, TaskFailed):
        return 502, "server_error", "generation_failed"
    return 500, "server_error", None


def openai_error_response(error: MjgateError) -> JsonResponse:
    status, kind, code = _shape(error)
    message = error.message
    if isinstance(error, BannedPrompt):
        word = error.properties.get("bannedWord")
        message = f"The prompt contains a banned word: {word}." if word else message
    param = error.properties.get("param")
    body = openai_error_body(message, kind, param if isinstance(param, str) else None, code)
    task_id = error.properties.get("taskId")
    if task_id:
        body["error"]["task_id"] = task_id
    headers: dict[str, str] = {}
    if isinstance(error, QueueFull | ServerBusy):
        headers["Retry-After"] = RETRY_AFTER_SECONDS
    elif isinstance(error, RateLimited):
        headers["Retry-After"] = str(error.properties.get("retryAfter", RETRY_AFTER_SECONDS))
    if isinstance(error, TaskStillRunning | TaskFailed | QuotaNotEnough | BannedPrompt):
        headers["x-should-retry"] = "false"
    return JsonResponse(body, status_code=status, headers=headers or None)
