"""The webhook delivery loop: claim due outbox rows, POST them, record what came of it.

Deliveries run concurrently up to ``webhook_concurrency``, at most ``webhook_per_host`` to
one receiver host, so a slow or dead receiver holds a few slots and never the others'
deliveries. The claim query only hands out the oldest row still owed of each task, so the
pushes of one task go one after another, in order.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from urllib.parse import urlsplit

from mjgate.domain.webhooks import (
    ATTEMPT_HEADER,
    EVENT_ID_HEADER,
    SIGNATURE_HEADER,
    TASK_ID_HEADER,
    TIMESTAMP_HEADER,
    WebhookDelivery,
    sign,
)
from mjgate.providers.webhook_sender import SendResult, WebhookSender
from mjgate.services.deliveries import Attempt, Outcome, claim_deliveries, record_attempt
from mjgate.services.runtime import Runtime
from mjgate.workers import webhook_metrics as metrics

log = logging.getLogger(__name__)


def receiver_host(url: str) -> str:
    """The receiver a URL names, for the per-receiver bound: host and port."""
    parts = urlsplit(url)
    return f"{(parts.hostname or '').lower()}:{parts.port or parts.scheme}"


class WebhookDeliverer:
    def __init__(self, rt: Runtime, worker_id: str) -> None:
        settings = rt.settings
        assert settings.webhook_secret, "load_settings() provides the webhook secret"
        self.rt = rt
        self.worker_id = worker_id
        self._secret = settings.webhook_secret
        self._sender: WebhookSender | None = None
        self._wake = asyncio.Event()
        self._in_flight: dict[int, asyncio.Task[None]] = {}
        self._per_host: Tally[str] = Tally()

    @property
    def sender(self) -> WebhookSender:
        if self._sender is None:
            settings = self.rt.settings
            self._sender = WebhookSender(
                timeout=settings.webhook_timeout,
                allow_private=settings.webhook_allow_private,
                max_connections=settings.webhook_concurrency,
            )
        return self._sender

    def wake(self) -> None:
        self._wake.set()

    async def run(self, stopping: asyncio.Event) -> None:
        """Deliver until ``stopping`` is set, then let the POSTs in flight finish."""
        interval = self.rt.settings.webhook_poll_interval
        try:
            while not stopping.is_set():
                self._wake.clear()
                try:
                    await self.start_due()
                except Exception:
                    log.exception("webhook claim failed; retrying")
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), interval)
            await self.drain()
        finally:
            # Stopped past its grace: POSTs still hanging are dropped with their leases in
            # the rows, so another worker sends them again once the leases run out.
            for sending in list(self._in_flight.values()):
                sending.cancel()
            for sending in list(self._in_flight.values()):
                with contextlib.suppress(asyncio.CancelledError):
                    await sending
            await self.close()

    async def start_due(self) -> int:
        """Claim what is due and free to send, and start sending it in the background."""
        settings = self.rt.settings
        free = settings.webhook_concurrency - len(self._in_flight)
        claimed_hosts: Tally[str] = Tally()

        def accept(delivery: WebhookDelivery) -> bool:
            host = receiver_host(delivery.url)
            if self._per_host[host] + claimed_hosts[host] >= settings.webhook_per_host:
                return False
            claimed_hosts[host] += 1
            return True

        claimed = await claim_deliveries(self.rt, self.worker_id, free, accept)
        for delivery in claimed:
            assert delivery.id is not None
            self._per_host[receiver_host(delivery.url)] += 1
            sending = asyncio.create_task(self._deliver(delivery), name="mjgate-webhook")
            self._in_flight[delivery.id] = sending
        return len(claimed)

    async def drain(self) -> None:
        """Wait for every POST in flight (each ends within the timeout)."""
        while self._in_flight:
            await asyncio.wait(list(self._in_flight.values()))

    async def deliver_due(self, max_rounds: int = 1000) -> None:
        """For tests: send everything due now, round after round, until nothing is left."""
        for _ in range(max_rounds):
            if not await self.start_due() and not self._in_flight:
                return
            await asyncio.wait(list(self._in_flight.values()))
        raise RuntimeError("webhook deliveries did not drain")

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()
            self._sender = None

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        assert delivery.id is not None
        try:
            result = await self._post(delivery)
            attempt = Attempt(ok=result.ok, error=result.error, permanent=result.refused)
            outcome, row = await record_attempt(self.rt, delivery.id, self.worker_id, attempt)
            self._count(delivery, result, outcome)
            if outcome == Outcome.DEAD and row is not None:
                log.warning(
                    "webhook %s for task %s is dead after %d attempts: %s",
                    delivery.id,
                    delivery.task_id,
                    row.attempts,
                    row.last_error,
                )
        except Exception:
            # The lease stays in the row; it runs out and the row is sent again.
            log.exception("webhook %s for task %s failed", delivery.id, delivery.task_id)
        finally:
            self._in_flight.pop(delivery.id, None)
            self._per_host[receiver_host(delivery.url)] -= 1
            self._wake.set()  # the task's next push, or a freed host slot, may be due now

    async def _post(self, delivery: WebhookDelivery) -> SendResult:
        body = delivery.body.encode()
        timestamp = self.rt.clock() // 1000
        headers = {
            EVENT_ID_HEADER: delivery.event_id,
            TIMESTAMP_HEADER: str(timestamp),
            SIGNATURE_HEADER: sign(self._secret, timestamp, body),
            TASK_ID_HEADER: delivery.task_id,
            ATTEMPT_HEADER: str(delivery.attempts + 1),
        }
        started = time.perf_counter()
        result = await self.sender.post(delivery.url, body, headers)
        metrics.ATTEMPT_SECONDS.observe(time.perf_counter() - started)
        return result

    def _count(self, delivery: WebhookDelivery, result: SendResult, outcome: Outcome) -> None:
        if result.ok:
            kind = "ok"
        elif result.refused:
            kind = "refused"
        else:
            kind = "http_error" if result.status is not None else "network_error"
        metrics.ATTEMPTS.labels(kind).inc()
        if outcome != Outcome.IGNORED:
            metrics.OUTCOMES.labels(outcome.value).inc()
        if outcome == Outcome.DELIVERED:
            metrics.LAG.observe(max(0, self.rt.clock() - delivery.created_at) / 1000)
