"""Webhook delivery against a real receiver on loopback (PROTOCOL §8).

The receiver is a small ASGI app under uvicorn that records what it got and answers as
each test scripts it: down for a while, 500 then 200, hanging. Every push must arrive signed,
in order per task, and the final state always.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import pytest
from prometheus_client import REGISTRY

from mjgate.domain.webhooks import DeliveryStatus, WebhookDelivery
from mjgate.services.queries import render
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings
from mjgate.workers.runner import Worker
from support import admin_caller, imagine, runtime_with, task_row
from webhook_receiver import Hit, Receiver

FAST: dict[str, Any] = {
    "webhook_allow_private": True,
    "webhook_poll_interval": 0.05,
    "webhook_retry_base": 0.05,
    "webhook_retry_max_interval": 0.2,
    "webhook_timeout": 2.0,
}
RANK = {"MODAL": 0, "NOT_START": 1, "SUBMITTED": 2, "IN_PROGRESS": 3}
FINAL = {"SUCCESS", "FAILURE", "CANCEL"}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooked = Receiver()
    await hooked.start()
    yield hooked
    await hooked.stop()


@asynccontextmanager
async def running(rt: Runtime, grace: float = 15) -> AsyncIterator[Worker]:
    worker = Worker(rt, poll_interval=0.05, dispatch_interval=0.05, sweep_interval=0.1)
    worker.start()
    try:
        yield worker
    finally:
        await worker.stop(grace)


async def deliveries_of(rt: Runtime, task_id: str) -> list[WebhookDelivery]:
    async with rt.db.read() as uow:
        return list(await uow.deliveries_of(task_id))


async def settled(rt: Runtime, ids: list[str], within: float = 20) -> list[WebhookDelivery]:
    """The tasks' delivery rows once none is owed any more (the worker recorded each answer)."""
    deadline = time.monotonic() + within
    while True:
        rows = [row for task_id in ids for row in await deliveries_of(rt, task_id)]
        if all(row.status != DeliveryStatus.PENDING for row in rows):
            return rows
        assert time.monotonic() < deadline, [(r.id, r.status, r.attempts) for r in rows]
        await asyncio.sleep(0.02)


def assert_forward(pushes: list[dict[str, Any]]) -> None:
    """Never backwards: status rank and progress only grow; the last push is the final one."""
    keys = [(RANK.get(p["status"], 9), int(p["progress"].rstrip("%"))) for p in pushes]
    assert keys == sorted(keys), [p["status"] + " " + p["progress"] for p in pushes]
    assert pushes and pushes[-1]["status"] in FINAL
    assert [p["status"] in FINAL for p in pushes].count(True) == 1


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels or None) or 0.0


async def submit_hooked(
    rt: Runtime, url: str, count: int, prompt: str = "a lighthouse"
) -> list[str]:
    admin = await admin_caller(rt)
    return [
        (await imagine(rt, admin, f"{prompt} {n}", notify_hook=url)).result for n in range(count)
    ]


async def test_pushes_arrive_signed_in_order_and_equal_to_fetch(
    settings: Settings, receiver: Receiver
) -> None:
    delivered_before = sample("mjgate_webhook_deliveries_total", outcome="delivered")
    async with runtime_with(settings, **FAST) as rt, running(rt):
        ids = await submit_hooked(rt, receiver.url(), 3)
        await receiver.wait_for(lambda: set(receiver.finals()) == set(ids))
        fetched = render(rt, [await task_row(rt, task_id) for task_id in ids])
        rows = await settled(rt, ids)
    secret = settings.webhook_secret
    assert secret
    for hit in receiver.hits:
        assert hit.signed_by(secret)
        assert not hit.signed_by(secret + "x")
        assert hit.headers["content-type"] == "application/json"
        assert hit.headers["x-mjgate-task-id"] == hit.task["id"]
        assert abs(int(hit.headers["x-mjgate-timestamp"]) - time.time()) < 60
    assert len({hit.event_id for hit in receiver.hits}) == len(receiver.hits)
    for task_id, view in zip(ids, fetched, strict=True):
        pushes = receiver.pushes_of(task_id)
        assert_forward(pushes)
        assert pushes[-1] == view  # the final body is what fetch shows
    assert {row.status for row in rows} <= {DeliveryStatus.DELIVERED, DeliveryStatus.SUPERSEDED}
    delivered = [row for row in rows if row.status == DeliveryStatus.DELIVERED]
    assert len(delivered) == len(receiver.accepted())
    assert sample("mjgate_webhook_deliveries_total", outcome="delivered") >= (
        delivered_before + len(delivered)
    )
    assert sample("mjgate_webhook_delivery_lag_seconds_count") >= len(delivered)


async def test_a_receiver_down_for_a_while_gets_every_final_state(
    settings: Settings, receiver: Receiver
) -> None:
    await receiver.stop()  # down: connections to its port are refused
    async with runtime_with(settings, **FAST) as rt, running(rt):
        ids = await submit_hooked(rt, receiver.url(), 5)
        deadline = time.monotonic() + 20
        while True:  # every task finished, and its final push failed at least twice
            rows = [r for task_id in ids for r in await deliveries_of(rt, task_id)]
            finals = [r for r in rows if r.is_final]
            if len(finals) == len(ids) and all(r.attempts >= 2 for r in finals):
                break
            assert time.monotonic() < deadline, [(r.status, r.attempts) for r in rows]
            await asyncio.sleep(0.05)
        assert all(r.status == DeliveryStatus.PENDING for r in finals)
        assert all(r.last_error for r in finals)
        await receiver.start()  # back, on the same port
        await receiver.wait_for(lambda: set(receiver.finals()) == set(ids))
        await settled(rt, ids)
        rows_of = {task_id: await deliveries_of(rt, task_id) for task_id in ids}
    for task_id, rows in rows_of.items():
        assert_forward(receiver.pushes_of(task_id))
        # Progress steps queued while it was down were superseded; the final one was sent.
        assert rows[-1].is_final and rows[-1].status == DeliveryStatus.DELIVERED
        assert all(r.status == DeliveryStatus.SUPERSEDED for r in rows[:-1])


async def test_a_receiver_answering_500_then_200(settings: Settings, receiver: Receiver) -> None:
    failures_before = sample("mjgate_webhook_attempts_total", result="http_error")

    async def script(hit: Hit) -> int:
        return 500 if len(receiver.hits) <= 4 else 200

    receiver.script = script
    async with runtime_with(settings, **FAST) as rt, running(rt):
        [task_id] = await submit_hooked(rt, receiver.url(), 1)
        await receiver.wait_for(lambda: task_id in receiver.finals())
        final = (await settled(rt, [task_id]))[-1]
    assert [hit.answered for hit in receiver.hits[:4]] == [500] * 4
    assert_forward(receiver.pushes_of(task_id))
    assert final.status == DeliveryStatus.DELIVERED and final.last_error is None
    assert sample("mjgate_webhook_attempts_total", result="http_error") >= failures_before + 4
    retried = [hit.event_id for hit in receiver.hits]
    assert len(set(retried)) < len(retried)  # a retry is the same event again


async def test_a_hanging_receiver_times_out_and_others_are_still_served(
    settings: Settings, receiver: Receiver
) -> None:
    release = asyncio.Event()

    async def hang(hit: Hit) -> int:
        await release.wait()
        return 200

    hanging = Receiver(script=hang)
    await hanging.start()
    # The timeout is what bounds the "still served" phase: the other receiver's pushes must
    # all arrive before the hanging POSTs give up. Under load (2 cores shared) the served
    # tasks' whole lifecycle took over 3 s, a POST timed out and was counted, and the check
    # failed with no delivery out of order. 10 s leaves room; the claim being tested (the
    # hanging host keeps its two slots and nothing more, the others are served meanwhile)
    # is unchanged.
    overrides = {
        **FAST,
        "webhook_timeout": 10.0,
        "webhook_concurrency": 4,
        "webhook_per_host": 2,
    }
    try:
        async with runtime_with(settings, **overrides) as rt, running(rt, grace=0.5):
            stuck = await submit_hooked(rt, hanging.url(), 4, "stuck")
            await hanging.wait_for(lambda: len(hanging.hits) >= 2)
            served = await submit_hooked(rt, receiver.url(), 4, "served")
            await receiver.wait_for(lambda: set(receiver.finals()) == set(served))
            # Served while the hanging receiver still held its slots: no POST to it has
            # even timed out yet.
            stuck_rows = [r for t in stuck for r in await deliveries_of(rt, t)]
            assert all(r.attempts == 0 for r in stuck_rows)
            assert len(hanging.hits) == 2  # at most webhook_per_host at once
            deadline = time.monotonic() + 30
            while not any(r.last_error and "timeout" in r.last_error for r in stuck_rows):
                assert time.monotonic() < deadline
                await asyncio.sleep(0.1)
                stuck_rows = [r for t in stuck for r in await deliveries_of(rt, t)]
            release.set()
            await hanging.wait_for(lambda: set(hanging.finals()) == set(stuck))
    finally:
        release.set()
        await hanging.stop()
    for task_id in served:
        assert_forward(receiver.pushes_of(task_id))
    for task_id in stuck:
        assert_forward(hanging.pushes_of(task_id))


async def test_a_worker_killed_mid_delivery_leaves_it_to_the_next_one(
    settings: Settings, receiver: Receiver
) -> None:
    first_hit = asyncio.Event()
    release = asyncio.Event()

    async def hang_first(hit: Hit) -> int:
        if len(receiver.hits) == 1:
            first_hit.set()
            await release.wait()  # the sender is gone before this answer
        return 200

    receiver.script = hang_first
    async with runtime_with(settings, **{**FAST, "webhook_timeout": 1.0}) as rt:
        async with running(rt, grace=0.1) as first:
            [task_id] = await submit_hooked(rt, receiver.url(), 1)
            await asyncio.wait_for(first_hit.wait(), 20)
            deadline = time.monotonic() + 20
            while not (await task_row(rt, task_id)).is_final:
                assert time.monotonic() < deadline
                await asyncio.sleep(0.02)
        # Stopped past its grace while the POST hung: the row keeps the dead worker's lease.
        [in_flight] = [
            r for r in await deliveries_of(rt, task_id) if r.attempts == 0 and r.worker_id
        ]
        assert in_flight.worker_id == first.worker_id
        assert in_flight.status == DeliveryStatus.PENDING and in_flight.lease_until
        assert in_flight.event_id == receiver.hits[0].event_id
        release.set()
        async with running(rt) as second:
            assert second.worker_id != first.worker_id
            await receiver.wait_for(lambda: task_id in receiver.finals())
            await settled(rt, [task_id])
    resent = [hit for hit in receiver.hits if hit.event_id == in_flight.event_id]
    assert len(resent) == 2  # at least once: the receiver dedupes by event id
    assert resent[1].at_ms >= (in_flight.lease_until or 0) - 1000
    assert_forward(receiver.pushes_of(task_id))


def _resolves_to_loopback(name: str) -> bool:
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    return bool(infos) and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos)


def _internal_hosts() -> list[str]:
    hosts = ["127.0.0.1", "10.1.2.3", "169.254.169.254", "localhost"]
    # A plain name that resolves to loopback here (the machine's own name, in /etc/hosts).
    hosts += [
        name for name in (socket.gethostname(), "ip6-localhost") if _resolves_to_loopback(name)
    ][:1]
    return hosts


@pytest.mark.parametrize("host", _internal_hosts())
async def test_delivery_refuses_internal_targets(
    settings: Settings, receiver: Receiver, host: str
) -> None:
    """The server's default hook is not checked at submit; delivery checks every target."""
    refused_before = sample("mjgate_webhook_attempts_total", result="refused")
    hook = receiver.url(host=host)
    overrides = {**FAST, "webhook_allow_private": False, "webhook_default_url": hook}
    async with runtime_with(settings, **overrides) as rt:
        admin = await admin_caller(rt)
        task_id = (await imagine(rt, admin, "a quiet harbour")).result
        worker = Worker(rt)
        await worker.webhooks.deliver_due()
        await worker.webhooks.close()
        [row] = await deliveries_of(rt, task_id)
    assert row.url == hook
    assert row.status == DeliveryStatus.DEAD and row.attempts == 1
    assert row.last_error and row.last_error.startswith("refused:")
    assert receiver.hits == []  # nothing ever connected
    assert sample("mjgate_webhook_attempts_total", result="refused") == refused_before + 1


async def test_the_default_hook_serves_tasks_without_their_own(
    settings: Settings, receiver: Receiver
) -> None:
    own = Receiver()
    await own.start()
    try:
        overrides = {**FAST, "webhook_default_url": receiver.url("/default")}
        async with runtime_with(settings, **overrides) as rt, running(rt):
            admin = await admin_caller(rt)
            plain = (await imagine(rt, admin, "plain")).result
            [hooked] = await submit_hooked(rt, own.url("/own"), 1)
            await receiver.wait_for(lambda: plain in receiver.finals())
            await own.wait_for(lambda: hooked in own.finals())
            await settled(rt, [plain, hooked])
    finally:
        await own.stop()
    assert {hit.task["id"] for hit in receiver.hits} == {plain}
    assert {hit.path for hit in receiver.hits} == {"/default"}
    assert {hit.task["id"] for hit in own.hits} == {hooked}
