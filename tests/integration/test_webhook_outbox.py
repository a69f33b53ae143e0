"""The webhook outbox: which changes queue a push, supersede, the retry window, the operator.

These drive the delivery loop one round at a time (``deliver_due``) on an injected clock, so
each step is deterministic; the receiver is still a real one on loopback.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest

from mjgate.domain.tasks import TaskStatus
from mjgate.domain.webhooks import DeliveryStatus, WebhookDelivery
from mjgate.errors import DeliveryNotFound, DeliveryNotRetryable, QuotaNotEnough
from mjgate.providers.base import ProviderUpdate
from mjgate.services import deliveries, engine
from mjgate.services.cancel import cancel_task
from mjgate.services.followups import submit_action, submit_modal
from mjgate.services.queries import render
from mjgate.services.runtime import Runtime
from mjgate.services.submit import SubmitOptions
from mjgate.services.updates import apply_update
from mjgate.settings import Settings
from mjgate.workers.runner import Worker
from support import FakeClock, add_user, admin_caller, imagine, runtime_with, task_row
from webhook_receiver import Hit, Receiver

FAST: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_retry_base": 1.0,
    "webhook_retry_max_interval": 4.0,
    "webhook_retry_window": 60.0,
    "webhook_timeout": 5.0,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooked = Receiver()
    await hooked.start()
    yield hooked
    await hooked.stop()


@asynccontextmanager
async def clocked(settings: Settings, **overrides: Any) -> AsyncIterator[tuple[Runtime, FakeClock]]:
    async with runtime_with(settings, **{**FAST, **overrides}) as rt:
        clock = FakeClock(time.time_ns() // 1_000_000)
        rt.clock = clock
        yield rt, clock


async def deliver(rt: Runtime) -> None:
    """One worker's delivery rounds over what is due now."""
    worker = Worker(rt)
    try:
        await worker.webhooks.deliver_due()
    finally:
        await worker.webhooks.close()


async def rows_of(rt: Runtime, task_id: str) -> list[WebhookDelivery]:
    async with rt.db.read() as uow:
        return list(await uow.deliveries_of(task_id))


def statuses(receiver: Receiver) -> list[str]:
    return [hit.task["status"] for hit in receiver.accepted()]


async def test_the_submit_queues_a_push_equal_to_fetch(
    settings: Settings, receiver: Receiver
) -> None:
    async with clocked(settings) as (rt, _clock):
        admin = await admin_caller(rt)
        task_id = (await imagine(rt, admin, "a red kite", notify_hook=receiver.url())).result
        [row] = await rows_of(rt, task_id)
        assert row.status == DeliveryStatus.PENDING and not row.is_final
        await deliver(rt)
        [view] = render(rt, [await task_row(rt, task_id)])
        [row] = await rows_of(rt, task_id)
    assert statuses(receiver) == ["NOT_START"]
    assert receiver.hits[0].task == view
    assert row.status == DeliveryStatus.DELIVERED and row.attempts == 1


async def test_a_refused_submit_queues_nothing(settings: Settings, receiver: Receiver) -> None:
    async with clocked(settings) as (rt, _clock):
        poor, _token = await add_user(rt, "poor", 0)
        with pytest.raises(QuotaNotEnough):
            await imagine(rt, poor, "too dear", notify_hook=receiver.url())
        assert await deliveries.list_deliveries(rt) == []


async def test_cancel_supersedes_the_unsent_step_and_is_sent(
    settings: Settings, receiver: Receiver
) -> None:
    async with clocked(settings) as (rt, _clock):
        admin = await admin_caller(rt)
        task_id = (await imagine(rt, admin, "a quiet lane", notify_hook=receiver.url())).result
        await cancel_task(rt, admin, task_id)
        await deliver(rt)
        rows = await rows_of(rt, task_id)
    assert [r.status for r in rows] == [DeliveryStatus.SUPERSEDED, DeliveryStatus.DELIVERED]
    assert statuses(receiver) == ["CANCEL"]
    assert receiver.hits[0].task["failReason"] == "Cancelled by the client"


async def test_the_sweeper_pushes_the_timeout(settings: Settings, receiver: Receiver) -> None:
    async with clocked(settings, queue_timeout=5) as (rt, clock):
        admin = await admin_caller(rt)
        task_id = (await imagine(rt, admin, "a long wait", notify_hook=receiver.url())).result
        await deliver(rt)
        clock.advance(6_000)
        assert await engine.sweep_overdue(rt) == 1
        await deliver(rt)
    assert statuses(receiver) == ["NOT_START", "FAILURE"]
    assert {hit.task["id"] for hit in receiver.hits} == {task_id}
    assert receiver.hits[-1].task["failReason"].startswith("queue timeout")
    assert receiver.hits[-1].task["progress"] == "100%"


async def test_the_modal_and_its_continue_are_pushed(
    settings: Settings, receiver: Receiver
) -> None:
    async with clocked(settings) as (rt, _clock):
        admin = await admin_caller(rt)
        parent = (await imagine(rt, admin, "a castle")).result
        await Worker(rt).run_until_idle()
        grid = await task_row(rt, parent)
        vary = next(b["customId"] for b in grid.buttons if b["label"] == "V1")
        options = SubmitOptions(notify_hook=receiver.url())
        modal = await submit_action(rt, admin, options, grid.id, vary, True)
        assert modal.code == 21
        await deliver(rt)
        await submit_modal(rt, admin, modal.result, "a castle at dusk", None)
        await deliver(rt)
        assert await rows_of(rt, parent) == []  # the parent had no hook
    assert statuses(receiver) == ["MODAL", "NOT_START"]
    assert receiver.hits[-1].task["prompt"] == "a castle at dusk"


async def test_only_visible_changes_are_pushed(settings: Settings, receiver: Receiver) -> None:
    async with clocked(settings) as (rt, _clock):
        admin = await admin_caller(rt)
        task_id = (await imagine(rt, admin, "a slow tide", notify_hook=receiver.url())).result
        step = ProviderUpdate(status=TaskStatus.IN_PROGRESS, progress=40)
        assert await apply_update(rt, task_id, step) is not None
        assert await apply_update(rt, task_id, step) is not None  # a poll saying the same
        rows = await rows_of(rt, task_id)
        assert len(rows) == 2  # the submit and one progress step
        assert rows[0].status == DeliveryStatus.SUPERSEDED  # never sent, now out of date
        await deliver(rt)
    assert [(t["status"], t["progress"]) for t in (h.task for h in receiver.hits)] == [
        ("IN_PROGRESS", "40%")
    ]


async def test_a_failing_receiver_is_retried_until_the_window_closes(
    settings: Settings, receiver: Receiver
) -> None:
    async def fail(_hit: Hit) -> int:
        return 503

    receiver.script = fail
    async with clocked(settings, webhook_retry_window=10.0) as (rt, clock):
        admin = await admin_caller(rt)
        task_id = (await imagine(rt, admin, "an unlucky gull", notify_hook=receiver.url())).result
        await cancel_task(rt, admin, task_id)
        gaps = []
        for _ in range(20):
            await deliver(rt)
            [_, row] = await rows_of(rt, task_id)
            if row.status == DeliveryStatus.DEAD:
                break
            assert row.status == DeliveryStatus.PENDING and row.last_error == "HTTP 503"
            gaps.append(row.next_attempt_at - clock.now)
            clock.advance(row.next_attempt_at - clock.now)
        assert row.status == DeliveryStatus.DEAD
        # Backoff doubles (with jitter: half to all of 1 s, 2 s, 4 s, then capped at 4 s).
        assert 500 <= gaps[0] <= 1000 and 1000 <= gaps[1] <= 2000 and 2000 <= gaps[2] <= 4000
        assert row.attempts == len(gaps) + 1
        assert row.attempts == len(receiver.hits)
        failed = await deliveries.list_deliveries(rt, failed_only=True)
        assert [r.id for r in failed] == [row.id]

        assert row.id is not None
        receiver.script = Receiver().script  # back to answering 200
        retried = await deliveries.retry_delivery(rt, row.id)
        assert retried.status == DeliveryStatus.PENDING
        await deliver(rt)
        [_, row] = await rows_of(rt, task_id)
        assert row.status == DeliveryStatus.DELIVERED
        assert await deliveries.list_deliveries(rt, failed_only=True) == []
        assert row.id is not None
        with pytest.raises(DeliveryNotRetryable):
            await deliveries.retry_delivery(rt, row.id)
        with pytest.raises(DeliveryNotFound):
            await deliveries.retry_delivery(rt, 999_999)
    assert statuses(receiver) == ["CANCEL"]


async def test_a_dead_step_is_not_retried_over_a_later_state(
    settings: Settings, receiver: Receiver
) -> None:
    async with clocked(settings, webhook_allow_private=False) as (rt, _clock):
        admin = await admin_caller(rt)
        task_id = (await imagine(rt, admin, "a heron")).result
        async with rt.db.write() as uow:  # as if the hook's name had moved into our network
            task = await uow.task(task_id)
            assert task is not None
            task.notify_hook = receiver.url()
        await apply_update(rt, task_id, ProviderUpdate(status=TaskStatus.IN_PROGRESS, progress=10))
        await deliver(rt)
        [step] = await rows_of(rt, task_id)
        assert step.status == DeliveryStatus.DEAD and step.id is not None
        await cancel_task(rt, admin, task_id)
        with pytest.raises(DeliveryNotRetryable, match="go backwards"):
            await deliveries.retry_delivery(rt, step.id)
    assert receiver.hits == []


async def test_a_receiver_at_its_bound_does_not_hide_the_others_due_rows(
    settings: Settings,
) -> None:
    """Hundreds of due rows of a receiver the caller refuses (it is at its per-host bound)
    sit ahead of another receiver's row in claim order; the claim still reaches that row."""
    async with clocked(settings) as (rt, clock):
        now = clock()
        busy = [
            WebhookDelivery(
                task_id=f"busy{n}",
                url="http://busy.example/hook",
                event_id=f"busy-{n}",
                body="{}",
                is_final=True,
                created_at=now - 1000,
                next_attempt_at=now - 1000,
                expires_at=now + 60_000,
            )
            for n in range(300)
        ]
        other = WebhookDelivery(
            task_id="other",
            url="http://other.example/hook",
            event_id="other-0",
            body="{}",
            is_final=True,
            created_at=now,
            next_attempt_at=now,
            expires_at=now + 60_000,
        )
        async with rt.db.write() as uow:
            for row in [*busy, other]:
                uow.add(row)

        def accept(row: WebhookDelivery) -> bool:
            return "busy.example" not in row.url

        claimed = await deliveries.claim_deliveries(rt, "w1", 2, accept)
        assert [row.event_id for row in claimed] == ["other-0"]
        [leased] = await _rows_of(rt, "other")
        assert leased.worker_id == "w1" and leased.lease_until
        assert all(r.worker_id is None for r in await _rows_of(rt, "busy0"))


async def _rows_of(rt: Runtime, task_id: str) -> list[WebhookDelivery]:
    async with rt.db.read() as uow:
        return list(await uow.deliveries_of(task_id))
