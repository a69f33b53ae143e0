"""Queue answers 1 / 22 / 23 under concurrent submits, dispatch order, and channel choice."""

from __future__ import annotations

import asyncio
import secrets
from collections import Counter

from mjgate.domain.tasks import ACTIVE_STATUSES, Mode, TaskAction, TaskStatus
from mjgate.errors import NoAvailableChannel, QueueFull
from mjgate.services import engine
from mjgate.services.accounts import add_channel, set_channel_enabled
from mjgate.services.cancel import cancel_task
from mjgate.services.followups import submit_action
from mjgate.services.runtime import Runtime
from mjgate.services.submit import SubmitAnswer, SubmitOptions
from mjgate.settings import Settings
from mjgate.workers.runner import Worker
from support import (
    FakeClock,
    Gateway,
    ServedApp,
    admin_caller,
    imagine,
    quota,
    runtime_with,
    task_row,
    update_channel,
)

LONG = 3600.0  # sandbox seconds per imagine: nothing finishes during a test
CORE, QUEUE = 3, 10


async def _channel_load(rt: Runtime, name: str) -> int:
    async with rt.db.read() as uow:
        channel = await uow.channel_by_name(name)
        assert channel is not None and channel.id is not None
        return await uow.count_by_status(channel.id, ACTIVE_STATUSES)


async def _charges(rt: Runtime, user_id: int) -> int:
    async with rt.db.read() as uow:
        return sum(1 for e in await uow.ledger_of(user_id, 1000) if e.kind == "charge")


async def test_concurrent_http_submits_fill_slots_then_queue_then_refuse(
    rt: Runtime, served: ServedApp, gateway: Gateway
) -> None:
    await update_channel(rt, core_size=CORE, queue_size=QUEUE, duration=LONG)
    admin = await admin_caller(rt)
    before, _ = await quota(rt, admin.user_id)
    price = rt.prices.price_of(TaskAction.IMAGINE, Mode.FAST)

    responses = await asyncio.gather(
        *(gateway.post("/mj/submit/imagine", {"prompt": f"tower {n}"}) for n in range(20))
    )

    assert all(r.status_code == 200 for r in responses), [r.text for r in responses]
    answers = [r.json() for r in responses]
    codes = Counter(a["code"] for a in answers)
    assert codes == {1: CORE, 22: QUEUE, 23: 20 - CORE - QUEUE}, answers
    queued = sorted(a["properties"]["numberOfQueues"] for a in answers if a["code"] == 22)
    assert queued == list(range(QUEUE))
    for response, answer in zip(responses, answers, strict=True):
        if answer["code"] == 1:
            assert answer["description"] == "Submit success"
            assert answer["properties"]["channelId"] == "sandbox"
        elif answer["code"] == 22:
            ahead = answer["properties"]["numberOfQueues"]
            assert answer["description"] == f"In queue, there are {ahead} tasks ahead"
        else:
            assert answer["description"] == "Queue is full, please try again later"
            assert answer["result"] is None
            assert response.headers["retry-after"]

    accepted = {a["result"] for a in answers if a["code"] in (1, 22)}
    listed = (await gateway.http.get("/mj/task/list")).json()
    assert {t["id"] for t in listed} == accepted
    after, ledger = await quota(rt, admin.user_id)
    assert before - after == len(accepted) * price
    assert after == ledger
    assert await _charges(rt, admin.user_id) == len(accepted)
    assert await _channel_load(rt, "sandbox") == CORE + QUEUE


async def test_concurrent_service_submits_fill_slots_then_queue_then_refuse(rt: Runtime) -> None:
    await update_channel(rt, core_size=CORE, queue_size=QUEUE, duration=LONG)
    admin = await admin_caller(rt)
    before, _ = await quota(rt, admin.user_id)

    results = await asyncio.gather(
        *(imagine(rt, admin, f"bridge {n}") for n in range(20)), return_exceptions=True
    )

    answers = [r for r in results if isinstance(r, SubmitAnswer)]
    refused = [r for r in results if not isinstance(r, SubmitAnswer)]
    assert all(isinstance(r, QueueFull) for r in refused), refused
    assert Counter(a.code for a in answers) == {1: CORE, 22: QUEUE}
    assert len(refused) == 20 - CORE - QUEUE
    assert sorted(a.properties["numberOfQueues"] for a in answers if a.code == 22) == list(
        range(QUEUE)
    )
    async with rt.db.read() as uow:
        tasks = await uow.newest_tasks(None, 100)
    assert {t.id for t in tasks} == {a.result for a in answers}
    assert all(t.status == TaskStatus.NOT_START for t in tasks)
    after, ledger = await quota(rt, admin.user_id)
    assert before - after == sum(t.price for t in tasks) == (CORE + QUEUE) * 100
    assert after == ledger


async def test_queued_tasks_start_in_submit_order_as_slots_free(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        rt.clock = clock = FakeClock()
        await update_channel(rt, core_size=CORE, queue_size=QUEUE, duration=10)
        admin = await admin_caller(rt)
        ids = [(await imagine(rt, admin, f"ship {n}")).result for n in range(8)]
        worker = Worker(rt)

        async def running() -> list[str]:
            async with rt.db.read() as uow:
                return [
                    t.id
                    for t in await uow.unfinished_tasks(None)
                    if t.status in (TaskStatus.SUBMITTED, TaskStatus.IN_PROGRESS)
                ]

        await worker.dispatch_once()
        assert sorted(await running()) == sorted(ids[:3])
        await worker.dispatch_once()  # no free slot: nothing more starts
        assert sorted(await running()) == sorted(ids[:3])

        # One slot frees: exactly the oldest queued task takes it.
        await cancel_task(rt, admin, ids[1])
        await worker.dispatch_once()
        assert sorted(await running()) == sorted([ids[0], ids[2], ids[3]])

        # The sandbox finishes all three: the next three in submit order start.
        clock.advance(11_000)
        assert await engine.poll_running(rt, worker.worker_id) == 3
        await worker.dispatch_once()
        assert sorted(await running()) == sorted(ids[4:7])

        clock.step = 500  # time runs: drain everything
        await worker.run_until_idle()
        done = [await task_row(rt, i) for i in ids]
        assert [t.status for t in done] == [
            TaskStatus.CANCEL if i == ids[1] else TaskStatus.SUCCESS for i in ids
        ]
        started = [t.start_time or 0 for t in done if t.id != ids[1]]
        assert started == sorted(started), "a later submit started before an earlier one"


async def test_load_goes_to_the_least_loaded_channel(rt: Runtime) -> None:
    await update_channel(rt, duration=LONG)
    await add_channel(rt, "second", "sandbox", config={"duration": LONG})
    admin = await admin_caller(rt)
    picked = [(await imagine(rt, admin, f"cat {n}")).properties["channelId"] for n in range(6)]
    assert picked == ["sandbox", "second"] * 3
    assert await _channel_load(rt, "sandbox") == await _channel_load(rt, "second") == 3


async def test_concurrent_submits_spill_over_to_the_other_channel(rt: Runtime) -> None:
    await update_channel(rt, core_size=CORE, queue_size=QUEUE, duration=LONG)
    await add_channel(
        rt, "second", "sandbox", config={"duration": LONG}, core_size=CORE, queue_size=QUEUE
    )
    admin = await admin_caller(rt)
    results = await asyncio.gather(
        *(imagine(rt, admin, f"dog {n}") for n in range(30)), return_exceptions=True
    )
    answers = [r for r in results if isinstance(r, SubmitAnswer)]
    assert all(isinstance(r, QueueFull) for r in results if not isinstance(r, SubmitAnswer)), [
        repr(r) for r in results if not isinstance(r, SubmitAnswer | QueueFull)
    ]
    assert Counter(a.code for a in answers) == {1: 2 * CORE, 22: 2 * QUEUE}
    per_channel = Counter(a.properties["channelId"] for a in answers)
    assert per_channel == {"sandbox": CORE + QUEUE, "second": CORE + QUEUE}


async def test_follow_up_stays_on_its_parents_channel(rt: Runtime) -> None:
    admin = await admin_caller(rt)
    parent = await imagine(rt, admin, "a red fox")
    await Worker(rt).run_until_idle()  # sandbox duration 0: SUCCESS at once
    parent_task = await task_row(rt, parent.result)
    assert parent_task.status == TaskStatus.SUCCESS
    # The parent's channel gets busy (tasks queued, no worker), another one stands idle.
    await add_channel(rt, "idle", "sandbox", enabled=False)
    for n in range(CORE):
        assert (await imagine(rt, admin, f"busy {n}")).properties["channelId"] == "sandbox"
    await set_channel_enabled(rt, "idle", True, None)

    upscale = next(b["customId"] for b in parent_task.buttons if b["label"] == "U1")
    follow = await submit_action(rt, admin, SubmitOptions(), parent.result, upscale)
    assert follow.code == 22 and follow.properties["channelId"] == "sandbox"
    assert (await task_row(rt, follow.result)).channel_id == parent_task.channel_id
    fresh = await imagine(rt, admin, "new work")
    assert fresh.code == 1 and fresh.properties["channelId"] == "idle"

    # When the parent's channel is disabled, the follow-up is refused rather than moved.
    await set_channel_enabled(rt, "sandbox", False, "maintenance")
    try:
        await submit_action(rt, admin, SubmitOptions(), parent.result, upscale)
    except NoAvailableChannel:
        pass
    else:
        raise AssertionError("a follow-up moved off its parent's disabled channel")


async def test_disabled_channel_gets_nothing(rt: Runtime) -> None:
    await update_channel(rt, core_size=CORE, queue_size=QUEUE, duration=LONG)
    await add_channel(rt, "off", "sandbox", config={"duration": LONG})
    await set_channel_enabled(rt, "off", False, "maintenance")
    admin = await admin_caller(rt)
    results = await asyncio.gather(
        *(imagine(rt, admin, f"owl {n}") for n in range(15)), return_exceptions=True
    )
    answers = [r for r in results if isinstance(r, SubmitAnswer)]
    assert {a.properties["channelId"] for a in answers} == {"sandbox"}
    assert len(answers) == CORE + QUEUE
    assert await _channel_load(rt, "off") == 0
    # The dispatcher does not start work on it either.
    assert {c.channel.name for c in await engine.claim_tasks(rt, "w")} == {"sandbox"}


async def test_no_enabled_channel_answers_503(rt: Runtime, gateway: Gateway) -> None:
    await set_channel_enabled(rt, "sandbox", False, None)
    admin = await admin_caller(rt)
    before, _ = await quota(rt, admin.user_id)
    response = await gateway.post("/mj/submit/imagine", {"prompt": "anything"})
    assert response.status_code == 503
    body = response.json()
    assert body["code"] == 9 and body["description"] == "no_available_channel"
    assert body["properties"]["message"]
    assert await quota(rt, admin.user_id) == (before, before)
    assert (await gateway.http.get("/mj/task/list")).json() == []


class ScriptedRandom(secrets.SystemRandom):
    """Task-id suffixes (``randrange(1000)``) from a script; every other draw stays random."""

    def __init__(self, suffixes: list[int]) -> None:
        super().__init__()
        self.suffixes = suffixes

    def randrange(self, start: int, stop: int | None = None, step: int = 1) -> int:
        if stop is None and start == 1000 and self.suffixes:
            return self.suffixes.pop(0)
        return super().randrange(start, stop, step)


async def test_same_millisecond_id_collision_draws_a_new_id(rt: Runtime) -> None:
    await update_channel(rt, duration=LONG, modes=["FAST"])
    await add_channel(rt, "second", "sandbox", config={"duration": LONG}, modes=["RELAX"])
    rt.clock = FakeClock(step=0)  # every submit in the same millisecond
    rt.random = ScriptedRandom([5, 5, 6, 5, 5, 5, 7])
    admin = await admin_caller(rt)
    # Two at once on different channels (no shared channel lock), then one after.
    first, second = await asyncio.gather(
        imagine(rt, admin, "a"), imagine(rt, admin, "b", mode="RELAX")
    )
    third = await imagine(rt, admin, "c")
    ids = [first.result, second.result, third.result]
    assert len(set(ids)) == 3
    assert {i[-3:] for i in ids} == {"005", "006", "007"}
    assert {first.properties["channelId"], second.properties["channelId"]} == {
        "sandbox",
        "second",
    }
    admin_balance, ledger = await quota(rt, admin.user_id)
    assert admin_balance == ledger
    assert await _charges(rt, admin.user_id) == 3


async def test_concurrent_queued_tasks_start_in_the_order_they_were_told(rt: Runtime) -> None:
    """The task told "N tasks ahead" starts after exactly those N, whatever the clock says."""
    await update_channel(rt, core_size=1, queue_size=QUEUE, duration=LONG)
    admin = await admin_caller(rt)
    answers = await asyncio.gather(*(imagine(rt, admin, f"ferry {n}") for n in range(9)))
    # The one answered 1 is not claimed yet (no worker runs): it leads the queue.
    told = {a.result: a.properties.get("numberOfQueues", -1) for a in answers}
    assert sorted(told.values()) == list(range(-1, 8))
    async with rt.db.read() as uow:
        channel = await uow.channel_by_name("sandbox")
        assert channel is not None and channel.id is not None
        dispatch_order = [t.id for t in await uow.waiting_tasks(channel.id, 100)]
    assert [told[task_id] for task_id in dispatch_order] == list(range(-1, 8))
