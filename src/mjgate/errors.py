"""The error tree: every failure a user or an executor can cause, with its wire identity.

Each class names a fact. Its class attributes say how the API answers it (PROTOCOL §1–2):
``mj_code`` (the envelope ``code``), ``http_status`` and ``error_id`` (the envelope
``description``); its docstring is the default human ``message``. Exactly one handler in
``mjgate.api.errors`` turns any of them into the envelope.

    MjgateError                               9 / 500  internal_error
    ├── RequestRejected                       4 / 400  (validation: one subclass per error id)
    │   ├── BindRequestBodyFailed, PromptIsRequired, PromptTooLong, TaskIdIsRequired,
    │   │   ActionIsRequired, CustomIdIsRequired, UnknownAction, IndexIsRequired, IndexIsInvalid,
    │   │   ContentIsRequired, ContentParseFailed, Base64IsRequired, Base64ArraySizeInvalid,
    │   │   Base64IsInvalid, MaskBase64IsRequired, ZoomIsInvalid, SourceAndTargetRequired,
    │   │   DimensionsIsInvalid, ModeIsInvalid, NotifyHookIsInvalid, StateTooLong,
    │   │   TaskStatusNotSuccess, TaskStatusNotModal, ActionNotAllowed, LinkIsInvalid
    │   ├── ImageTooLarge                     4 / 413
    │   ├── Unauthorized                      4 / 401
    │   ├── Forbidden                         4 / 403
    │   ├── QuotaNotEnough                    4 / 402
    │   ├── RouteNotFound                     4 / 404  (unknown path)
    │   ├── MethodNotAllowed                  4 / 405
    │   └── AccountError                      4 / 400  invalid_request (operator commands)
    │       ├── UserNotFound                  4 / 404  user_not_found
    │       ├── PriceKeyInvalid               4 / 400  price_is_invalid
    │       ├── AmountOutOfRange              4 / 400  amount_out_of_range
    │       ├── DeliveryNotFound              4 / 404  webhook_delivery_not_found
    │       └── DeliveryNotRetryable          4 / 400  invalid_request
    ├── TaskNotFound                          3 / 404
    ├── QueueFull                            23 / 200  (refusal, not a failure of ours)
    ├── RateLimited                          23 / 429  rate_limited (with Retry-After)
    ├── BannedPrompt                         24 / 200
    ├── NoAvailableChannel                    9 / 503
    └── ProviderError                         (raised by executors, never sent as an envelope)
        ├── ProviderRetryable                 try again within the deadline
        └── ProviderRejected                  the executor refused the job: FAILURE + refund
            ├── StartRefused                  refused before anything existed: another channel may
            └── ExecutorOutOfService          the channel leaves rotation until a person acts
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar


class MjgateError(Exception):
    """Internal error."""

    mj_code: ClassVar[int] = 9
    http_status: ClassVar[int] = 500
    error_id: ClassVar[str] = "internal_error"

    def __init__(self, message: str | None = None, **properties: Any) -> None:
        self.message = message or (self.__doc__ or self.error_id).strip()
        self.properties: dict[str, Any] = properties
        super().__init__(self.message)


class RequestRejected(MjgateError):
    """The request was refused."""

    mj_code = 4
    http_status = 400
    error_id = "bind_request_body_failed"


class BindRequestBodyFailed(RequestRejected):
    """The body is not a JSON object or a field has the wrong type."""

    error_id = "bind_request_body_failed"


class PromptIsRequired(RequestRejected):
    """A prompt is required."""

    error_id = "prompt_is_required"


class PromptTooLong(RequestRejected):
    """The prompt may be at most 6,000 characters long."""

    error_id = "prompt_too_long"


class TaskIdIsRequired(RequestRejected):
    """A taskId is required."""

    error_id = "task_id_is_required"


class ActionIsRequired(RequestRejected):
    """An action is required."""

    error_id = "action_is_required"


class CustomIdIsRequired(RequestRejected):
    """A customId is required."""

    error_id = "custom_id_is_required"


class UnknownAction(RequestRejected):
    """The action or customId is not one this server knows."""

    error_id = "unknown_action"


class IndexIsRequired(RequestRejected):
    """An index from 1 to 4 is required for this action."""

    error_id = "index_is_required"


class IndexIsInvalid(RequestRejected):
    """The index must be a whole number from 1 to 4."""

    error_id = "index_is_invalid"


class ContentIsRequired(RequestRejected):
    """The content is required."""

    error_id = "content_is_required"


class ContentParseFailed(RequestRejected):
    """The content must read '<taskId> U1..U4', '<taskId> V1..V4' or '<taskId> R'."""

    error_id = "content_parse_failed"


class Base64IsRequired(RequestRejected):
    """An image is required."""

    error_id = "base64_is_required"


class Base64ArraySizeInvalid(RequestRejected):
    """Blend takes from 2 to 5 images."""

    error_id = "base64_array_size_invalid"


class Base64IsInvalid(RequestRejected):
    """The image is not a data URL or base64 of a PNG, JPEG, WEBP or GIF image."""

    error_id = "base64_is_invalid"


class LinkIsInvalid(RequestRejected):
    """The link is not an absolute http(s) URL."""

    error_id = "base64_is_invalid"


class MaskBase64IsRequired(RequestRejected):
    """Vary (Region) needs a maskBase64 image."""

    error_id = "mask_base64_is_required"


class ZoomIsInvalid(RequestRejected):
    """Custom Zoom needs '--zoom' with a value above 1 and at most 2 in the prompt."""

    error_id = "zoom_is_invalid"


class SourceAndTargetRequired(RequestRejected):
    """Both sourceBase64 and targetBase64 are required."""

    error_id = "sour_base64_and_target_base64_is_required"


class DimensionsIsInvalid(RequestRejected):
    """Dimensions must be PORTRAIT, SQUARE or LANDSCAPE."""

    error_id = "dimensions_is_invalid"


class ModeIsInvalid(RequestRejected):
    """Mode must be RELAX, FAST or TURBO."""

    error_id = "mode_is_invalid"


class NotifyHookIsInvalid(RequestRejected):
    """The notifyHook must be an absolute http(s) URL of at most 2000 characters."""

    error_id = "notify_hook_is_invalid"


class StateTooLong(RequestRejected):
    """The state may be at most 4,096 characters long."""

    error_id = "state_too_long"


class TaskStatusNotSuccess(RequestRejected):
    """The parent task has not finished successfully."""

    error_id = "task_status_not_success"


class TaskStatusNotModal(RequestRejected):
    """The task is not waiting for a modal."""

    error_id = "task_status_not_modal"


class ActionNotAllowed(RequestRejected):
    """The parent task does not offer this button."""

    error_id = "action_not_allowed"


class ImageTooLarge(RequestRejected):
    """The image or the request body is larger than this server accepts."""

    http_status = 413
    error_id = "image_too_large"


class Unauthorized(RequestRejected):
    """A valid API token is required (Authorization: Bearer <token> or mj-api-secret)."""

    http_status = 401
    error_id = "unauthorized"


class Forbidden(RequestRejected):
    """This token or its user is disabled, or the route is for administrators."""

    http_status = 403
    error_id = "forbidden"


class QuotaNotEnough(RequestRejected):
    """The balance is below the price of this action."""

    http_status = 402
    error_id = "quota_not_enough"


class RouteNotFound(RequestRejected):
    """There is no such route."""

    http_status = 404
    error_id = "not_found"


class MethodNotAllowed(RequestRejected):
    """This route does not take that method."""

    http_status = 405
    error_id = "method_not_allowed"


class AccountError(RequestRejected):
    """The operator's request cannot be carried out."""

    error_id = "invalid_request"


class UserNotFound(AccountError):
    """There is no such user."""

    http_status = 404
    error_id = "user_not_found"


class PriceKeyInvalid(AccountError):
    """A price key is ACTION or ACTION:MODE, and a price a whole number, 0 or more."""

    error_id = "price_is_invalid"


class AmountOutOfRange(AccountError):
    """Amounts, prices and caps are at most 10^12 quota units, and a balance at most 10^15."""

    error_id = "amount_out_of_range"


class DeliveryNotFound(AccountError):
    """There is no such webhook delivery."""

    http_status = 404
    error_id = "webhook_delivery_not_found"


class DeliveryNotRetryable(AccountError):
    """This webhook delivery cannot be retried."""


class TaskNotFound(MjgateError):
    """The task does not exist."""

    mj_code = 3
    http_status = 404
    error_id = "task_not_found"


class QueueFull(MjgateError):
    """Queue is full, please try again later."""

    mj_code = 23
    http_status = 200
    error_id = "Queue is full, please try again later"


class ServerBusy(MjgateError):
    """The server holds as many request bodies as it can; try again shortly."""

    mj_code = 23
    http_status = 503
    error_id = "server_busy"


class RateLimited(MjgateError):
    """Too many requests; try again after the seconds in Retry-After."""

    mj_code = 23
    http_status = 429
    error_id = "rate_limited"


class BannedPrompt(MjgateError):
    """May contain sensitive words."""

    mj_code = 24
    http_status = 200
    error_id = "May contain sensitive words"


class NoAvailableChannel(MjgateError):
    """No channel can take this work now."""

    mj_code = 9
    http_status = 503
    error_id = "no_available_channel"


class TaskStillRunning(MjgateError):
    """The task did not finish in the time this request waits; it goes on."""

    mj_code = 9
    http_status = 504
    error_id = "task_still_running"


class TaskFailed(MjgateError):
    """The task failed."""

    mj_code = 9
    http_status = 502
    error_id = "task_failed"


class ProviderError(MjgateError):
    """The executor failed."""


class ProviderRetryable(ProviderError):
    """The executor failed in a way worth trying again."""


class ProviderRejected(ProviderError):
    """The executor refused the job."""


class ExecutorOutOfService(ProviderRejected):
    """The executor cannot work until a person acts (a dead token, a CAPTCHA, a ban)."""


class Refusal(StrEnum):
    """Why an executor did not take a job. Each means nothing was created there."""

    QUEUE_FULL = "queue_full"  # try another channel, else answer 23
    BANNED = "banned"  # answer 24 with the executor's properties
    UNAVAILABLE = "unavailable"  # no account or down: counts against the channel's health
    REFUSED = "refused"  # any other refusal of this request
    # The channel cannot work until a person acts (a dead token, a CAPTCHA, a blocked
    # account): it leaves rotation with the reason until `mjgate channel enable`.
    OUT_OF_SERVICE = "out_of_service"
    DAILY_LIMIT = "daily_limit"  # the channel has started its share for today


class StartRefused(ProviderRejected):
    """The executor did not take the job: nothing exists there, so another channel may."""

    def __init__(
        self, refusal: Refusal, message: str, properties: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.refusal = refusal
        self.executor_properties: dict[str, object] = dict(properties or {})
