"""A Python client of the midjourney-proxy ``/mj`` protocol, for mjgate or any server that
speaks it. Needs only httpx: it imports nothing else of mjgate.

    from mjgate.client import Client

    with Client("http://127.0.0.1:8080", token) as mj:
        task = mj.imagine("a red fox in the snow --ar 3:2").wait(progress=True)
        task.download("out")
        task.press("U2").wait().download("out")
"""

from mjgate.client.async_client import AsyncClient, AsyncTask
from mjgate.client.errors import (
    ApiError,
    BannedPrompt,
    ButtonNotFound,
    ClientError,
    Forbidden,
    QueueFull,
    RateLimited,
    RequestRefused,
    ServerFailed,
    ServerUnreachable,
    SubmitOutcomeUnknown,
    TaskNotFound,
    Unauthorized,
    WaitTimedOut,
    WebhookRejected,
    WebhookSignatureInvalid,
    WebhookTooOld,
)
from mjgate.client.models import Button, SubmitAnswer, TaskData, TaskStatus
from mjgate.client.progress import ProgressBar
from mjgate.client.retry import RetryPolicy
from mjgate.client.sync_client import Client, Task
from mjgate.client.webhooks import verify_webhook, webhook_signature

__all__ = [
    "ApiError",
    "AsyncClient",
    "AsyncTask",
    "BannedPrompt",
    "Button",
    "ButtonNotFound",
    "Client",
    "ClientError",
    "Forbidden",
    "ProgressBar",
    "QueueFull",
    "RateLimited",
    "RequestRefused",
    "RetryPolicy",
    "ServerFailed",
    "ServerUnreachable",
    "SubmitAnswer",
    "SubmitOutcomeUnknown",
    "Task",
    "TaskData",
    "TaskNotFound",
    "TaskStatus",
    "Unauthorized",
    "WaitTimedOut",
    "WebhookRejected",
    "WebhookSignatureInvalid",
    "WebhookTooOld",
    "verify_webhook",
    "webhook_signature",
]
