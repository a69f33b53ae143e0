"""What the server answers, as models for the OpenAPI document only.

The answers themselves are built elsewhere (``services.views.task_view``, ``errors.envelope``,
the admin routes' ``*_json``) and are never validated against these models at run time: the
fast routes bypass FastAPI, and the task view leaves empty lists out, which a serialising
``response_model`` would turn into ``null``. ``tests/api/test_openapi_truth.py`` and the
OpenAPI fuzz validate real answers against the schemas written from these models, so a
model that drifts from what is sent fails there.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from pydantic.alias_generators import to_camel

from mjgate.domain.accounts import LedgerKind
from mjgate.domain.tasks import BotType, Mode, TaskAction, TaskStatus
from mjgate.domain.webhooks import DeliveryStatus

TASK_ID = "1712158011464906"
HASH = "5f0c3c8e-6d86-4f43-9c59-4bbf2f4c4b7e"
IMAGE = "https://gw.example/mj/image/tasks/1712158011464906/grid.png?exp=0&sig=3b9c"


class Answer(BaseModel):
    model_config = ConfigDict(alias_generator=to_camel, populate_by_name=True)


class Open(Answer):
    """An object that may carry more keys than those named."""

    model_config = ConfigDict(extra="allow")


def left_out_when_absent(*names: str, non_empty: tuple[str, ...] = ()) -> Any:
    """A ``json_schema_extra`` that writes the fields ``names`` (aliases) as optional but
    never ``null``: the answer leaves such a field out rather than send ``null``. Those in
    ``non_empty`` are arrays of at least one item: a list is left out rather than ``[]``."""

    def edit(schema: dict[str, Any]) -> None:
        for name in (*names, *non_empty):
            field = schema["properties"][name]
            kept = next(s for s in field.pop("anyOf") if s.get("type") != "null")
            field.pop("default", None)
            field.update(kept)
            if name in non_empty:
                field["minItems"] = 1

    return edit


class Url(Answer):
    url: str = Field(examples=[IMAGE])


class Button(Answer):
    custom_id: str = Field(examples=[f"MJ::JOB::upsample::1::{HASH}"])
    emoji: str = Field(examples=[""])
    label: str = Field(examples=["U1"])
    type: int = Field(examples=[2], description="2: a button.")
    style: int = Field(examples=[2], description="2 grey, 1 blue (a chosen upscale).")


class TaskProperties(Open):
    model_config = ConfigDict(
        json_schema_extra=left_out_when_absent(
            "finalPrompt", "messageHash", "channelId", "refunded", "refundQuota"
        )
    )

    final_prompt: str | None = Field(
        None, description="The prompt as sent; DESCRIBE: four prompts; SHORTEN: the analysis."
    )
    final_zh_prompt: str = Field(
        description="The prompt as typed when it was translated, else an empty string."
    )
    message_hash: str | None = Field(
        None, description="The result's hash, part of its buttons' customIds."
    )
    channel_id: str | None = Field(None, description="The channel that runs the task.")
    refunded: bool | None = Field(None, description="true once the task's price was refunded.")
    refund_quota: int | None = Field(None, description="The quota given back, with refunded.")


TASK_EXAMPLE: dict[str, Any] = {
    "id": TASK_ID,
    "action": "IMAGINE",
    "status": "SUCCESS",
    "prompt": "Cat --ar 1:1",
    "promptEn": "Cat --ar 1:1",
    "description": "/imagine Cat --ar 1:1",
    "state": "",
    "mode": "FAST",
    "botType": "MID_JOURNEY",
    "customId": None,
    "submitTime": 1712158011464,
    "startTime": 1712158012001,
    "finishTime": 1712158031877,
    "progress": "100%",
    "imageUrl": IMAGE,
    "imageUrls": [{"url": IMAGE.replace("grid", str(n))} for n in range(4)],
    "videoUrl": None,
    "failReason": None,
    "buttons": [
        {
            "customId": f"MJ::JOB::upsample::1::{HASH}",
            "emoji": "",
            "label": "U1",
            "type": 2,
            "style": 2,
        },
        {
            "customId": f"MJ::JOB::reroll::0::{HASH}::SOLO",
            "emoji": "🔄",
            "label": "",
            "type": 2,
            "style": 2,
        },
    ],
    "properties": {
        "finalPrompt": "Cat --ar 1:1",
        "finalZhPrompt": "",
        "messageHash": HASH,
        "channelId": "sandbox",
    },
}


class Task(Answer):
    """The task (PROTOCOL §4): fetch, the lists, and the body POSTed to ``notifyHook``.

    ``imageUrls`` and ``videoUrls`` are left out when empty, never ``[]`` (a chat UI tests
    them for truthiness); the other fields are always present, ``null`` where noted."""

    model_config = ConfigDict(
        json_schema_extra=left_out_when_absent(non_empty=("imageUrls", "videoUrls"))
    )

    id: str = Field(description="16 digits: the submit time in ms and 3 random digits.")
    action: TaskAction
    status: TaskStatus = Field(description="SUCCESS, FAILURE and CANCEL are final.")
    prompt: str
    prompt_en: str
    description: str = Field(examples=["/imagine Cat --ar 1:1"])
    state: str = Field(description="The submit's state, echoed; an empty string if none.")
    mode: Mode
    bot_type: BotType
    custom_id: str | None = Field(description="The button pressed to make this task.")
    submit_time: int = Field(description="Epoch milliseconds.")
    start_time: int | None = Field(description="Epoch milliseconds.")
    finish_time: int | None = Field(description="Epoch milliseconds.")
    progress: str = Field(
        pattern=r"^\d{1,3}%$", description="Never goes back; 100% on every final status."
    )
    image_url: str | None = Field(
        description="The grid, or the single image; loads without a token."
    )
    image_urls: list[Url] | None = Field(
        None, description="The four images of a grid; left out when there are none."
    )
    video_url: str | None = Field(description="The first video of a video task.")
    video_urls: list[Url] | None = Field(
        None, description="The videos of a video task; left out when there are none."
    )
    fail_reason: str | None = Field(description="Set on FAILURE and CANCEL.")
    buttons: list[Button] = Field(description="What may be pressed next; [] unless SUCCESS.")
    properties: TaskProperties


class SubmitProperties(Open):
    model_config = ConfigDict(
        json_schema_extra=left_out_when_absent(
            "finalPrompt", "remix", "numberOfQueues", "promptEn", "bannedWord"
        )
    )

    channel_id: str | None = Field(None, description="Codes 1 and 22: the chosen channel.")
    final_prompt: str | None = Field(None, description="Code 21: the prompt to prefill.")
    remix: bool | None = Field(None, description="Code 21: true.")
    number_of_queues: int | None = Field(None, description="Code 22: tasks ahead.")
    prompt_en: str | None = Field(None, description="Code 24: the prompt that was checked.")
    banned_word: str | None = Field(None, description="Code 24: the word found.")


class SubmitAnswer(Answer):
    """A submit's answer, HTTP 200. Codes 1, 21 and 22 made a task (its id in ``result``)
    and charged for it; 23 (queue full, with ``Retry-After``) and 24 (banned word) made
    nothing and charged nothing (``result`` is ``null``)."""

    code: Literal[1, 21, 22, 23, 24]
    description: str = Field(
        description="'Submit success', 'Waiting for window confirm', 'In queue, there are N"
        " tasks ahead', 'Queue is full, please try again later' or 'May contain sensitive"
        " words'."
    )
    result: str | None = Field(description="The new task's id; null for 23 and 24.")
    properties: SubmitProperties


class UploadAnswer(Answer):
    code: Literal[1]
    description: Literal["Submit success"]
    result: list[str] = Field(description="The stored images' URLs, in the order sent.")
    properties: dict[str, Any]


class ErrorProperties(Open):
    model_config = ConfigDict(json_schema_extra=left_out_when_absent("message", "retryAfter"))

    message: str | None = Field(
        None,
        description="A sentence for people; on every error but code 23 (rate_limited,"
        " server_busy).",
    )
    retry_after: int | None = Field(
        None, description="429 rate_limited: the seconds also in the Retry-After header."
    )


class ErrorEnvelope(Answer):
    """Every error (PROTOCOL §1–2): ``description`` is the error id clients match on."""

    code: Literal[3, 4, 9, 23] = Field(
        description="3 task not found; 4 refused before any work; 9 internal or no channel;"
        " 23 rate limited or busy (with Retry-After)."
    )
    description: str = Field(description="The error id.", examples=["prompt_is_required"])
    result: None
    properties: ErrorProperties


class OpenAIErrorDetail(Answer):
    message: str
    type: str = Field(examples=["invalid_request_error"])
    param: str | None = None
    code: str | None = Field(None, examples=["invalid_api_key"])


class OpenAIError(Answer):
    """Every error under ``/v1``, in OpenAI's shape (its clients read nothing else)."""

    error: OpenAIErrorDetail


class SeedAnswer(Answer):
    code: Literal[1]
    description: Literal["Success"]
    result: str = Field(description="The seed's digits.", examples=["3162934876"])
    properties: dict[str, Any]


class CancelProperties(Answer):
    status: TaskStatus = Field(description="The task's status after the request.")


class CancelAnswer(Answer):
    code: Literal[1]
    description: Literal["Success", "Task already finished"]
    result: str = Field(description="The task's id.", examples=[TASK_ID])
    properties: CancelProperties


class Health(Answer):
    status: Literal["ok"]


class Unready(Answer):
    status: Literal["unavailable"]
    reason: str = Field(description="The kind of failure met reaching the database.")


class User(Answer):
    id: int
    name: str
    is_admin: bool
    enabled: bool
    balance: int


class NewToken(Answer):
    token: str = Field(description="The token itself, shown this once only.")
    prefix: str
    label: str
    spend_cap: int | None


class Balance(Answer):
    name: str
    balance: int


class LedgerEntry(Answer):
    id: int
    task_id: str | None
    amount: int = Field(description="Negative for a charge.")
    kind: LedgerKind
    reason: str
    time: int = Field(description="Epoch milliseconds.")


class QuotaReport(Answer):
    user: User
    balance: int
    spent: int
    ledger_sum: int = Field(description="Equals balance: the ledger is the account.")
    ledger: list[LedgerEntry] = Field(description="The newest rows first.")


class PriceRow(Answer):
    action: TaskAction
    mode: Mode
    price: int


class PriceSet(Answer):
    key: str = Field(examples=["IMAGINE:RELAX"])
    price: int | None = Field(description="null: back to the default.")


class WebhookDelivery(Answer):
    id: int
    task_id: str
    url: str
    event_id: str
    status: DeliveryStatus
    final: bool
    attempts: int
    created_at: int
    next_attempt_at: int
    last_attempt_at: int | None
    delivered_at: int | None
    expires_at: int
    last_error: str | None


# Examples of the other answers, shown by /docs and checked against the schemas by the tests.
USER_EXAMPLE = {"id": 2, "name": "alice", "isAdmin": False, "enabled": True, "balance": 900}
LEDGER_EXAMPLE = {
    "id": 7,
    "taskId": TASK_ID,
    "amount": -100,
    "kind": "charge",
    "reason": "IMAGINE FAST",
    "time": 1712158011464,
}
EXAMPLES: dict[str, Any] = {
    "upload": {
        "code": 1,
        "description": "Submit success",
        "result": [IMAGE.replace("tasks/1712158011464906/grid", "uploads/alice/9f2c")],
        "properties": {},
    },
    "seed": {"code": 1, "description": "Success", "result": "3162934876", "properties": {}},
    "cancel": {
        "code": 1,
        "description": "Success",
        "result": TASK_ID,
        "properties": {"status": "CANCEL"},
    },
    "health": {"status": "ok"},
    "unready": {"status": "unavailable", "reason": "OperationalError"},
    "user": USER_EXAMPLE,
    "users": [USER_EXAMPLE],
    "token": {"token": "mjg_4kq...", "prefix": "mjg_4kq", "label": "bot", "spendCap": None},
    "balance": {"name": "alice", "balance": 1900},
    "quota": {
        "user": USER_EXAMPLE,
        "balance": 900,
        "spent": 100,
        "ledgerSum": 900,
        "ledger": [LEDGER_EXAMPLE],
    },
    "prices": [{"action": "IMAGINE", "mode": "FAST", "price": 100}],
    "price": {"key": "IMAGINE:RELAX", "price": 50},
    "delivery": {
        "id": 3,
        "taskId": TASK_ID,
        "url": "https://hooks.example/mj",
        "eventId": "0b6f3c1e9a",
        "status": "dead",
        "final": True,
        "attempts": 12,
        "createdAt": 1712158031877,
        "nextAttemptAt": 1712244431877,
        "lastAttemptAt": 1712244431000,
        "deliveredAt": None,
        "expiresAt": 1712244431877,
        "lastError": "HTTP 502",
    },
}
