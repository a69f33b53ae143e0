"""Webhook deliveries (PROTOCOL §8): the outbox row, its signature and its retry schedule.

A delivery is written in the same transaction as the task change it reports, so a change
that is saved is always owed to the receiver, and a crash between "saved" and "sent" loses
nothing: the row is still there for the next worker.
"""

from __future__ import annotations

import hashlib
import hmac
import random
from dataclasses import dataclass
from enum import StrEnum

SIGNATURE_HEADER = "X-Mjgate-Signature"
EVENT_ID_HEADER = "X-Mjgate-Event-Id"
TIMESTAMP_HEADER = "X-Mjgate-Timestamp"
TASK_ID_HEADER = "X-Mjgate-Task-Id"
ATTEMPT_HEADER = "X-Mjgate-Attempt"


class DeliveryStatus(StrEnum):
    PENDING = "pending"  # owed: due now or after a backoff
    DELIVERED = "delivered"  # the receiver answered 2xx
    SUPERSEDED = "superseded"  # a later state of the task replaced this progress step unsent
    DEAD = "dead"  # retried for the whole window without success; the operator may retry


@dataclass(eq=False)
class WebhookDelivery:
    """One POST owed to a receiver: the task JSON as fetch showed it at the change."""

    task_id: str
    url: str
    event_id: str
    body: str
    is_final: bool
    created_at: int
    next_attempt_at: int
    expires_at: int
    status: DeliveryStatus = DeliveryStatus.PENDING
    attempts: int = 0
    last_error: str | None = None
    last_attempt_at: int | None = None
    delivered_at: int | None = None
    worker_id: str | None = None
    lease_until: int | None = None
    id: int | None = None


def sign(secret: str, timestamp: int, body: bytes) -> str:
    """``sha256=<hex>`` of HMAC-SHA256 over ``"<timestamp>.<body>"``: what receivers check."""
    message = str(timestamp).encode() + b"." + body
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"sha256={digest}"


def retry_delay_ms(attempts: int, base_ms: int, cap_ms: int, rng: random.Random) -> int:
    """Exponential backoff with jitter: the n-th retry waits between half and all of
    ``base * 2^(n-1)``, at most ``cap``. Jitter spreads the retries of many deliveries
    that failed together (a receiver that was down), so its return is not a stampede."""
    ceiling = min(cap_ms, base_ms * 2 ** min(max(attempts - 1, 0), 40))
    return int(rng.uniform(ceiling / 2, ceiling))
