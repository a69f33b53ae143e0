"""The webhook delivery loop: claim due outbox rows, POST them, record what came of it.

Deliveries run concurrently up to ``webhook_concurrency``, at most ``webhook_per_host`` to
one receiver host, so a slow or dead receiver holds a few slots and never the others'
deliveries. The claim query only hands out the oldest row still owed of each task, so the
pushes of one task go one after another, in order.

A finished POST does not write its outcome itself: it is queued, and the loop records every
outcome queued since its last turn and claims the next rows in one write transaction. A row
whose outcome is not recorded yet keeps its lease, so it is neither claimed again nor lets
its task's next push go first; if the process dies first, the lease runs out and the row is
sent again (at least once).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter as Tally
from collections.abc import Callable
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
from mjgate.services.deliveries import Attempt, Outcome, Settled, settle_and_claim
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
        # POSTs answered (or failed) whose outcome the next turn records.
        self._finished: list[tuple[WebhookDelivery, SendResult]] = []

    @property
    def sender(self) -> WebhookSender:
        if self._sender is None:
            settings = self.rt.settings
            self._sender = WebhookSender(
                timeout=settings.webhook_timeout,
                allow_private=settings.webhook_allow_private,
                max_connections=settings.webhook_concurrency,
                resolver=self.rt.resolver,
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
        """Record the outcomes of the POSTs that finished, claim what is due and free to
        send, and start sending it in the background; the number of rows claimed."""
        settings = self.rt.settings
        free = settings.webhook_concurrency - len(self._in_flight)
        claimed_hosts: Tally[str] = Tally()

        def accept(delivery: WebhookDelivery) -> bool:
            host = receiver_host(delivery.url)
            if self._per_host[host] + claimed_hosts[host] >= settings.webhook_per_host:
                return False
            claimed_hosts[host] += 1
            return True

        claimed = await self._turn(free, accept)
        for delivery in claimed:
            self._per_host[receiver_host(delivery.url)] += 1
            sending = asyncio.create_task(self._deliver(delivery), name="mjgate-webhook")
            self._in_flight[_id(delivery)] = sending
        return len(claimed)

    async def drain(self) -> None:
        """Wait for every POST in flight (each ends within the timeout), and record them."""
        while self._in_flight:
            await asyncio.wait(list(self._in_flight.values()))
        if self._finished:
            await self.record_finished()

    async def record_finished(self) -> None:
        """Record the outcomes queued so far, claiming nothing."""
        await self._turn(0, lambda _: False)

    async def _turn(
        self, free: int, accept: Callable[[WebhookDelivery], bool]
    ) -> list[WebhookDelivery]:
        finished, self._finished = self._finished, []
        attempts = [
            (_id(delivery), Attempt(ok=result.ok, error=result.error, permanent=result.refused))
            for delivery, result in finished
        ]
        try:
            settled, claimed = await settle_and_claim(
                self.rt, self.worker_id, attempts, free, accept
            )
        except BaseException:
            # Not recorded: try again next turn (the leases still hold the rows meanwhile).
            self._finished[:0] = finished
            raise
        for (delivery, result), outcome in zip(finished, settled, strict=True):
            self._settled(delivery, result, outcome)
        return claimed

    async def deliver_due(self, max_rounds: int = 1000) -> None:
        """For tests: send everything due now, round after round, until nothing is left."""
        for _ in range(max_rounds):
            if not await self.start_due() and not self._in_flight and not self._finished:
                return
            if self._in_flight:
                await asyncio.wait(list(self._in_flight.values()))
        raise RuntimeError("webhook deliveries did not drain")

    async def close(self) -> None:
        if self._sender is not None:
            await self._sender.close()
            self._sender = None

    async def _deliver(self, delivery: WebhookDelivery) -> None:
        try:
            result = await self._post(delivery)
            # Only now look up the queue: the loop swaps in a new list at each turn.
            self._finished.append((delivery, result))
        except Exception:
            # The lease stays in the row; it runs out and the row is sent again.
            log.exception("webhook %s for task %s failed", delivery.id, delivery.task_id)
        finally:
            self._in_flight.pop(_id(delivery), None)
            self._per_host[receiver_host(delivery.url)] -= 1
            self._wake.set()  # an outcome to record, a freed slot, the task's next push

    def _settled(self, delivery: WebhookDelivery, result: SendResult, settled: Settled) -> None:
        self._count(delivery, result, settled.outcome)
        row = settled.row
        if settled.outcome == Outcome.DEAD and row is not None:
            log.warning(
                "webhook %s for task %s is dead after %d attempts: %s",
                delivery.id,
                delivery.task_id,
                row.attempts,
                row.last_error,
            )

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


def _id(delivery: WebhookDelivery) -> int:
    assert delivery.id is not None, "rows from the outbox have ids"
    return delivery.id
