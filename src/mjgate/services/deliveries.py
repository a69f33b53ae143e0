"""Webhook deliveries after they are queued: claim, record the outcome, the operator's view.

A claim leases rows like the engine leases tasks: a worker that dies mid-POST leaves its
lease in the row, and once it runs out another worker sends the row again. Receivers see a
push at least once and can drop repeats by its event id.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from enum import StrEnum

from mjgate.db.repos import UnitOfWork
from mjgate.domain.webhooks import DeliveryStatus, WebhookDelivery, retry_delay_ms
from mjgate.errors import DeliveryNotFound, DeliveryNotRetryable
from mjgate.services.runtime import Runtime

LEASE_MARGIN_MS = 2_000
CANDIDATES_PER_SLOT = 4
MIN_CLAIM_PAGE = 64
MAX_CLAIM_PAGES = 8


class Outcome(StrEnum):
    DELIVERED = "delivered"
    RETRY = "retry"  # will be tried again after a backoff
    SUPERSEDED = "superseded"  # failed, but a later state of the task is queued anyway
    DEAD = "dead"  # out of retry window, or refused by policy
    IGNORED = "ignored"  # another worker holds the row now, or it was settled already


@dataclass(frozen=True)
class Attempt:
    """What one POST came to. ``permanent``: no retry helps (the target is refused)."""

    ok: bool
    error: str | None = None
    permanent: bool = False


def lease_ms(rt: Runtime) -> int:
    """Long enough for one POST to time out; a live worker never loses a row mid-send."""
    return int(rt.settings.webhook_timeout * 1000) + LEASE_MARGIN_MS


@dataclass(frozen=True)
class Settled:
    """What recording one attempt came to; ``row`` is the row as it was left (None: gone)."""

    delivery_id: int
    outcome: Outcome
    row: WebhookDelivery | None


async def settle_and_claim(
    rt: Runtime,
    worker_id: str,
    finished: Sequence[tuple[int, Attempt]],
    limit: int,
    accept: Callable[[WebhookDelivery], bool],
) -> tuple[list[Settled], list[WebhookDelivery]]:
    """Record the attempts that ``finished``, then lease up to ``limit`` due rows that
    ``accept`` takes (the caller's per-host bound), all in one write transaction.

    One transaction for a whole batch, not one per POST: on SQLite every write waits its
    turn for the single writer, behind the producers' own changes, and at a few hundred
    pushes a second those turns were where delivery fell behind. Recording comes first, so
    a task whose push was just delivered has its next push claimable in the same turn.
    """
    if not finished and limit <= 0:
        return [], []
    async with rt.db.write() as uow:
        now = rt.clock()
        rows = await _rows(uow, [row_id for row_id, _ in finished])
        settled: list[Settled] = []
        for (row_id, attempt), row in zip(finished, rows, strict=True):
            settled.append(await _settle(uow, rt, row_id, row, worker_id, attempt, now))
        claimed = await _claim(uow, rt, worker_id, now, limit, accept)
    return settled, claimed


async def _claim(
    uow: UnitOfWork,
    rt: Runtime,
    worker_id: str,
    now: int,
    limit: int,
    accept: Callable[[WebhookDelivery], bool],
) -> list[WebhookDelivery]:
    """Page through the due rows, oldest first, until ``limit`` are taken.

    One page is not enough: the rows of a receiver that is at its bound (hanging, or just
    slow) are refused by ``accept`` but stay due, and once they fill a page the others'
    rows behind them would wait for that receiver. Later pages reach them; the pages are
    bounded, so one turn never scans the whole backlog.
    """
    claimed: list[WebhookDelivery] = []
    after: tuple[int, int] | None = None
    page_size = max(limit * CANDIDATES_PER_SLOT, MIN_CLAIM_PAGE)
    for _ in range(MAX_CLAIM_PAGES if limit > 0 else 0):
        page = await uow.due_deliveries(now, page_size, after)
        for delivery in page:
            if len(claimed) >= limit:
                return claimed
            if not accept(delivery):
                continue
            delivery.worker_id = worker_id
            delivery.lease_until = now + lease_ms(rt)
            claimed.append(delivery)
        if len(page) < page_size:
            break
        last = page[-1]
        after = (last.next_attempt_at, last.id or 0)
    return claimed


async def claim_deliveries(
    rt: Runtime, worker_id: str, limit: int, accept: Callable[[WebhookDelivery], bool]
) -> list[WebhookDelivery]:
    """Lease up to ``limit`` due rows that ``accept`` takes (the caller's per-host bound)."""
    if limit <= 0:
        return []
    _, claimed = await settle_and_claim(rt, worker_id, (), limit, accept)
    return claimed


async def _rows(uow: UnitOfWork, ids: list[int]) -> list[WebhookDelivery | None]:
    """The rows of ``ids``, locked, in the order of ``ids`` (None for a row that is gone)."""
    if not ids:
        return []
    found = {row.id: row for row in await uow.deliveries_by_ids(ids, for_update=True)}
    return [found.get(row_id) for row_id in ids]


def _taken_over(delivery: WebhookDelivery, worker_id: str, now: int) -> bool:
    if delivery.worker_id in (None, worker_id):
        return False
    return delivery.lease_until is not None and delivery.lease_until >= now


async def record_attempt(
    rt: Runtime, delivery_id: int, worker_id: str, attempt: Attempt
) -> tuple[Outcome, WebhookDelivery | None]:
    """Settle one POST: delivered, retried after a backoff, superseded, or dead."""
    [settled], _ = await settle_and_claim(
        rt, worker_id, [(delivery_id, attempt)], 0, lambda _: False
    )
    return settled.outcome, settled.row


async def _settle(
    uow: UnitOfWork,
    rt: Runtime,
    delivery_id: int,
    row: WebhookDelivery | None,
    worker_id: str,
    attempt: Attempt,
    now: int,
) -> Settled:
    if row is None or row.status != DeliveryStatus.PENDING or _taken_over(row, worker_id, now):
        return Settled(delivery_id, Outcome.IGNORED, row)
    row.attempts += 1
    row.last_attempt_at = now
    row.worker_id = None
    row.lease_until = None
    if attempt.ok:
        row.status = DeliveryStatus.DELIVERED
        row.delivered_at = now
        row.last_error = None
        return Settled(delivery_id, Outcome.DELIVERED, row)
    row.last_error = (attempt.error or "failed")[:1000]
    if not row.is_final and await uow.has_later_delivery(row):
        row.status = DeliveryStatus.SUPERSEDED
        return Settled(delivery_id, Outcome.SUPERSEDED, row)
    delay = retry_delay_ms(
        row.attempts,
        int(rt.settings.webhook_retry_base * 1000),
        int(rt.settings.webhook_retry_max_interval * 1000),
        rt.random,
    )
    if attempt.permanent or now + delay > row.expires_at:
        row.status = DeliveryStatus.DEAD
        return Settled(delivery_id, Outcome.DEAD, row)
    row.next_attempt_at = now + delay
    return Settled(delivery_id, Outcome.RETRY, row)


async def list_deliveries(
    rt: Runtime, *, failed_only: bool = False, task_id: str | None = None, limit: int = 50
) -> Sequence[WebhookDelivery]:
    async with rt.db.read() as uow:
        return await uow.deliveries(failed_only=failed_only, task_id=task_id, limit=limit)


async def retry_delivery(rt: Runtime, delivery_id: int) -> WebhookDelivery:
    """Queue a dead (or waiting) delivery again now, with a fresh retry window.

    Refused when a later state of the task was sent or is owed: sending this one again
    would make the receiver's view of the task go backwards.
    """
    async with rt.db.write() as uow:
        now = rt.clock()
        row = await uow.delivery(delivery_id, for_update=True)
        if row is None:
            raise DeliveryNotFound(f"There is no webhook delivery {delivery_id}.")
        if row.status not in (DeliveryStatus.DEAD, DeliveryStatus.PENDING):
            raise DeliveryNotRetryable(
                f"Webhook delivery {delivery_id} is {row.status.value}; "
                "only dead or waiting deliveries can be retried."
            )
        if await uow.newer_deliveries_sent_or_owed(row):
            raise DeliveryNotRetryable(
                f"A later state of task {row.task_id} was sent or is queued; "
                "retrying this one would go backwards."
            )
        row.status = DeliveryStatus.PENDING
        row.next_attempt_at = now
        row.expires_at = now + int(rt.settings.webhook_retry_window * 1000)
        uow.after_commit(rt.wake_webhooks)
    return row
