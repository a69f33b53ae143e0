"""When to try a request again, and after how long.

A request is tried again only when the server certainly did nothing with it: code 23 (a
full queue or a busy server: nothing is created), HTTP 429, or a connection that was never
made. Reads are also tried again after a 5xx or a lost answer; a submit never is, since a
lost answer may hide a task that was made (``SubmitOutcomeUnknown``).
"""

from __future__ import annotations

import email.utils
import random
import time
from dataclasses import dataclass, field
from typing import Any

import httpx


@dataclass
class RetryPolicy:
    """Up to ``attempts`` tries; the n-th wait is a random share (half to all) of
    ``base * 2^(n-1)`` capped at ``max_delay``, or what the server's ``Retry-After`` asks
    (at most ``max_retry_after``). ``rng`` may be seeded for repeatable waits."""

    attempts: int = 5
    base: float = 0.5
    max_delay: float = 30.0
    max_retry_after: float = 120.0
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempt: int) -> float:
        ceiling = min(self.max_delay, self.base * 2 ** min(max(attempt - 1, 0), 30))
        return self.rng.uniform(ceiling / 2, ceiling)

    def delay(self, attempt: int, response: httpx.Response | None = None) -> float:
        """How long to wait before try ``attempt + 1``."""
        asked = retry_after(response) if response is not None else None
        if asked is not None:
            return min(asked, self.max_retry_after)
        return self.backoff(attempt)


NO_RETRY = RetryPolicy(attempts=1)


def retry_after(response: httpx.Response) -> float | None:
    """Seconds from ``Retry-After`` (seconds or an HTTP date) or ``properties.retryAfter``."""
    header = response.headers.get("retry-after")
    if header:
        try:
            return max(0.0, float(header))
        except ValueError:
            parsed = email.utils.parsedate_to_datetime(header) if header else None
            if parsed is not None:
                return max(0.0, parsed.timestamp() - time.time())
    body = envelope_of(response)
    value = (body or {}).get("properties", {}).get("retryAfter") if body else None
    return float(value) if isinstance(value, int | float) else None


def envelope_of(response: httpx.Response) -> dict[str, Any] | None:
    """The body when it is the protocol's envelope (an object with an int ``code``)."""
    try:
        body = response.json()
    except ValueError:
        return None
    if isinstance(body, dict) and isinstance(body.get("code"), int):
        if not isinstance(body.get("properties"), dict):
            body["properties"] = {}
        return body
    return None


def nothing_was_made(response: httpx.Response) -> bool:
    """Is this an answer that certainly made nothing and that a later try may get past?"""
    if response.status_code == 429:
        return True
    body = envelope_of(response)
    return body is not None and body["code"] == 23


def worth_retrying(response: httpx.Response, *, submit: bool) -> bool:
    if nothing_was_made(response):
        return True
    return not submit and response.status_code >= 500


# Failures before a single byte of the request went out: safe to try again, submit or not.
NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
