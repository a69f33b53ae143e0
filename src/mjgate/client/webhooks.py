"""Checking a webhook POST (``notifyHook``) as a receiver: the signature and its age.

mjgate signs each POST with ``X-Mjgate-Signature: sha256=<hex>``, the HMAC-SHA256 of
``"<X-Mjgate-Timestamp>.<raw body>"`` under the server's webhook secret (``mjgate webhooks
secret`` shows it); the timestamp is epoch seconds. Check the raw body as received, before
any JSON parsing, and drop repeats by ``X-Mjgate-Event-Id`` (delivery is at least once).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from collections.abc import Mapping
from email.message import Message
from typing import Any

from mjgate.client.errors import WebhookSignatureInvalid, WebhookTooOld

SIGNATURE_HEADER = "X-Mjgate-Signature"
TIMESTAMP_HEADER = "X-Mjgate-Timestamp"
EVENT_ID_HEADER = "X-Mjgate-Event-Id"
TASK_ID_HEADER = "X-Mjgate-Task-Id"


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>``: what the server sends for this timestamp and body."""
    message = str(timestamp).encode() + b"." + body
    return "sha256=" + hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


Headers = Mapping[str, str] | Message  # a dict, httpx/starlette headers, http.server's


def _header(headers: Headers, name: str) -> str | None:
    wanted = name.lower()
    for key, value in headers.items():
        if key.lower() == wanted:
            return str(value)
    return None


def verify_webhook(
    body: bytes,
    headers: Headers,
    secret: str,
    *,
    max_age: float = 300,
    now: float | None = None,
) -> dict[str, Any]:
    """The task JSON of a webhook POST whose signature is right and whose timestamp is within
    ``max_age`` seconds of ``now``; raises ``WebhookSignatureInvalid`` or ``WebhookTooOld``.
    ``headers`` may be any mapping (case does not matter)."""
    signature = _header(headers, SIGNATURE_HEADER)
    stamp = _header(headers, TIMESTAMP_HEADER)
    if not signature or not stamp:
        raise WebhookSignatureInvalid(f"{SIGNATURE_HEADER} or {TIMESTAMP_HEADER} is missing")
    try:
        timestamp = int(stamp.strip())
    except ValueError:
        raise WebhookSignatureInvalid(f"{TIMESTAMP_HEADER} is not epoch seconds") from None
    expected = webhook_signature(secret, timestamp, body)
    if not hmac.compare_digest(signature.strip().encode(), expected.encode()):
        raise WebhookSignatureInvalid("the signature does not match this body and secret")
    age = (time.time() if now is None else now) - timestamp
    if abs(age) > max_age:
        raise WebhookTooOld(f"signed {age:.0f} s from now; at most {max_age:g} s is allowed")
    task: dict[str, Any] = json.loads(body)
    return task
