"""What can go wrong for a client of an /mj server, each class naming a fact.

ClientError
├── ApiError                 the server answered a refusal (its envelope's code and id)
│   ├── RequestRefused       code 4: refused before any work (400, 402, 413, ...)
│   │   ├── Unauthorized     401: no token, or an unknown or revoked one
│   │   └── Forbidden        403: a disabled token or user
│   ├── TaskNotFound         code 3 / 404
│   ├── QueueFull            code 23: still full after the retries (nothing was created)
│   ├── RateLimited          429: still limited after the retries (nothing was created)
│   ├── BannedPrompt         code 24 (nothing was created)
│   └── ServerFailed         code 9 or a 5xx (on a read, after the retries)
├── SubmitOutcomeUnknown     a submit was sent and its answer lost: the task may exist
├── ServerUnreachable        no connection could be made (nothing was sent)
├── WaitTimedOut             the task was not final within the time given
├── ButtonNotFound           the task has no such button
└── WebhookRejected          a webhook POST failed the signature check
    ├── WebhookSignatureInvalid
    └── WebhookTooOld
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from mjgate.client.models import TaskData


class ClientError(Exception):
    """Something went wrong talking to an /mj server."""


class ApiError(ClientError):
    """The server refused the request; ``code``, ``description`` and ``http_status`` say how."""

    def __init__(
        self,
        code: int,
        description: str,
        http_status: int,
        properties: dict[str, Any] | None = None,
    ) -> None:
        self.code = code
        self.description = description
        self.http_status = http_status
        self.properties: dict[str, Any] = properties or {}
        message = self.properties.get("message")
        text = f"{description} (code {code}, HTTP {http_status})"
        super().__init__(f"{text}: {message}" if message else text)


class RequestRefused(ApiError):
    """Code 4: the request was refused before any work; ``description`` is the error id."""


class Unauthorized(RequestRefused):
    """HTTP 401: the token is missing, unknown or revoked."""


class Forbidden(RequestRefused):
    """HTTP 403: the token or its user is disabled."""


class TaskNotFound(ApiError):
    """Code 3: the task is unknown or not the caller's."""


class QueueFull(ApiError):
    """Code 23: the queue stayed full through every retry; no task was created."""


class RateLimited(ApiError):
    """HTTP 429: over a rate limit through every retry; nothing was created."""


class BannedPrompt(ApiError):
    """Code 24: the prompt has a banned word (``properties['bannedWord']``); nothing created."""


class ServerFailed(ApiError):
    """Code 9 or an HTTP 5xx: an internal failure, or no channel could take the work."""


class SubmitOutcomeUnknown(ClientError):
    """A submit reached the server but its answer was lost (a timeout, a dropped connection,
    a 5xx): the task may exist and may be charged. It is never sent again on its own, since
    that could make the task twice; look for it with ``list_tasks`` before submitting again."""

    def __init__(self, route: str, reason: str) -> None:
        self.route = route
        self.reason = reason
        super().__init__(
            f"the answer to {route} was lost ({reason}): the task may exist; it was not sent "
            "again, so check the task list before submitting it again"
        )


class ServerUnreachable(ClientError):
    """No connection to the server could be made, through every retry; nothing was sent."""


class WaitTimedOut(ClientError):
    """The task did not finish in time; ``task`` is how it was last seen."""

    def __init__(self, task: TaskData, timeout: float) -> None:
        self.task = task
        super().__init__(
            f"task {task.id} is still {task.status} at {task.progress}% after {timeout:g} s"
        )


class ButtonNotFound(ClientError):
    """The task carries no button with that label, emoji or customId."""


class WebhookRejected(ClientError):
    """A webhook POST did not pass the check; do not act on its body."""


class WebhookSignatureInvalid(WebhookRejected):
    """The signature is missing, malformed, or not the secret's over this timestamp and body."""


class WebhookTooOld(WebhookRejected):
    """The timestamp is further from now than allowed: a replay, or a badly set clock."""
