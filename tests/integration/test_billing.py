"""The ledger: charge with the submit, never below zero, refund a failed task exactly once."""

from __future__ import annotations

import asyncio

from mjgate.domain.tasks import Mode, TaskAction, TaskStatus
from mjgate.providers.base import ProviderUpdate
from mjgate.services import engine
from mjgate.services.billing import refund_task
from mjgate.services.cancel import cancel_task
from mjgate.services.followups import submit_action
from mjgate.services.queries import fetch_task
from mjgate.services.runtime import Runtime
from mjgate.services.submit import Caller, SubmitOptions
from mjgate.services.updates import apply_update
from mjgate.settings import Settings
from mjgate.workers.runner import Worker
from support import (
    FakeClock,
    Gateway,
    ServedApp,
    add_user,
    button_id,
    imagine,
    ledger_kinds,
    png_data_url,
    quota,
    runtime_with,
    task_row,
    update_channel,
)

LONG = 3600.0


def price(rt: Runtime, action: TaskAction, mode: Mode = Mode.FAST) -> int:
    return rt.prices.price_of(action, mode)


async def assert_refunded_once(rt: Runtime, caller: Caller, task_id: str, balance: int) -> None:
    """One charge, one refund of the same amount, the balance back where it was."""
    task = await task_row(rt, task_id)
    assert task.status in (TaskStatus.FAILURE, TaskStatus.CANCEL), task.status
    assert task.refunded and task.price > 0
    assert await ledger_kinds(rt, task_id) == [("charge", -task.price), ("refund", task.price)]
    assert await quota(rt, caller.user_id) == (balance, balance)
    view = await fetch_task(rt, caller, task_id)
    assert view["properties"]["refunded"] is True
    assert view["properties"]["refundQuota"] == task.price
    assert view["progress"] == "100%" and view["failReason"]


async def test_exact_balance_race_accepts_exactly_n(rt: Runtime, served: ServedApp) -> None:
    n = 4
    cost = price(rt, TaskAction.IMAGINE)
    caller, token = await add_user(rt, "racer", n * cost)
    async with Gateway.connect(served.base_url, token) as client:
        responses = await asyncio.gather(
            *(client.post("/mj/submit/imagine", {"prompt": f"race {i}"}) for i in range(5 * n))
        )
    accepted = [r for r in responses if r.status_code == 200]
    refused = [r for r in responses if r.status_code != 200]
    assert len(accepted) == n, [r.text for r in responses]
    assert all(r.json()["code"] in (1, 22) for r in accepted)
    assert {r.status_code for r in refused} == {402}
    assert {(r.json()["code"], r.json()["description"]) for r in refused} == {
        (4, "quota_not_enough")
    }
    assert await quota(rt, caller.user_id) == (0, 0)
    for response in accepted:
        assert await ledger_kinds(rt, response.json()["result"]) == [("charge", -cost)]


async def test_refused_submits_charge_nothing(rt: Runtime, served: ServedApp) -> None:
    caller, token = await add_user(rt, "careful", 1000)
    await update_channel(rt, core_size=1, queue_size=0, duration=LONG)
    async with Gateway.connect(served.base_url, token) as client:
        banned = await client.post("/mj/submit/imagine", {"prompt": "a nsfw picture"})
        assert banned.status_code == 200
        assert banned.json()["code"] == 24 and banned.json()["properties"]["bannedWord"]
        invalid = [
            ("imagine", {"prompt": "  "}, "prompt_is_required"),
            ("imagine", {"prompt": "x", "mode": "SLOW"}, "mode_is_invalid"),
            ("imagine", {"prompt": "x", "state": "s" * 4097}, "state_too_long"),
            ("imagine", {"prompt": "x", "notifyHook": "ftp://x"}, "notify_hook_is_invalid"),
            ("imagine", {"prompt": 5}, "bind_request_body_failed"),
            ("describe", {}, "base64_is_required"),
            ("blend", {"base64Array": [png_data_url()]}, "base64_array_size_invalid"),
            ("change", {"taskId": "1", "action": "UPSCALE"}, "index_is_required"),
        ]
        for route, body, error_id in invalid:
            response = await client.post(f"/mj/submit/{route}", body)
            assert response.status_code == 400, (route, body, response.text)
            assert response.json()["description"] == error_id
        first = await client.submit("imagine", {"prompt": "the only one"})
        full = await client.post("/mj/submit/imagine", {"prompt": "one too many"})
        assert full.json()["code"] == 23
        mine = (await client.http.get("/mj/task/list")).json()
    cost = price(rt, TaskAction.IMAGINE)
    assert [t["id"] for t in mine] == [first["result"]]
    assert await quota(rt, caller.user_id) == (1000 - cost, 1000 - cost)


async def test_each_action_and_mode_costs_its_own_price(rt: Runtime, served: ServedApp) -> None:
    caller, token = await add_user(rt, "shopper", 10_000)
    imagine_fast = price(rt, TaskAction.IMAGINE)
    relax, turbo = (
        price(rt, TaskAction.IMAGINE, Mode.RELAX),
        price(rt, TaskAction.IMAGINE, Mode.TURBO),
    )
    assert relax < imagine_fast < turbo
    assert price(rt, TaskAction.UPSCALE) == 50
    async with Gateway.connect(served.base_url, token) as client:
        grid = await client.finished("imagine", {"prompt": "a harbour"})
        up = await client.finished(
            "action", {"taskId": grid["id"], "customId": button_id(grid, "U1")}
        )
        slow = await client.submit("imagine", {"prompt": "slow"}, prefix="/mj-relax/mj")
        fast = await client.submit("imagine", {"prompt": "quick", "mode": "turbo"})
        flagged = await client.submit("imagine", {"prompt": "flagged --relax"})
    expected = {
        grid["id"]: imagine_fast,
        up["id"]: 50,
        slow["result"]: relax,
        fast["result"]: turbo,
        flagged["result"]: relax,
    }
    for task_id, cost in expected.items():
        assert await ledger_kinds(rt, task_id) == [("charge", -cost)], task_id
    spent = sum(expected.values())
    assert await quota(rt, caller.user_id) == (10_000 - spent, 10_000 - spent)


async def test_modal_is_charged_once_at_21(rt: Runtime, served: ServedApp) -> None:
    caller, token = await add_user(rt, "zoomer", 10_000)
    async with Gateway.connect(served.base_url, token) as client:
        grid = await client.finished("imagine", {"prompt": "a valley"})
        up = await client.finished(
            "action", {"taskId": grid["id"], "customId": button_id(grid, "U1")}
        )
        balance, _ = await quota(rt, caller.user_id)
        custom = button_id(up, "Custom Zoom")
        waiting = await client.submit("action", {"taskId": up["id"], "customId": custom})
        assert waiting["code"] == 21
        zoom_price = price(rt, TaskAction.ZOOM)
        assert await ledger_kinds(rt, waiting["result"]) == [("charge", -zoom_price)]
        assert await quota(rt, caller.user_id) == (balance - zoom_price,) * 2
        go = await client.submit(
            "modal", {"taskId": waiting["result"], "prompt": "wide --zoom 1.5"}
        )
        assert go["code"] in (1, 22) and go["result"] == waiting["result"]
        done = await client.wait(waiting["result"])
    assert done["status"] == "SUCCESS"
    assert await ledger_kinds(rt, waiting["result"]) == [("charge", -zoom_price)]
    assert await quota(rt, caller.user_id) == (balance - zoom_price,) * 2


async def test_refund_on_provider_failure(rt: Runtime, served: ServedApp) -> None:
    caller, token = await add_user(rt, "linker", 1000)
    async with Gateway.connect(served.base_url, token) as client:
        answer = await client.submit("describe", {"link": "http://127.0.0.1:9/cat.png"})
        assert await quota(rt, caller.user_id) == (1000 - price(rt, TaskAction.DESCRIBE),) * 2
        task = await client.wait(answer["result"])
    assert task["status"] == "FAILURE"
    assert task["failReason"] == "the image link could not be fetched"  # says nothing of the host
    assert task["properties"]["refunded"] is True
    assert task["properties"]["refundQuota"] == price(rt, TaskAction.DESCRIBE)
    await assert_refunded_once(rt, caller, answer["result"], 1000)


async def test_refund_on_running_timeout(settings: Settings) -> None:
    async with runtime_with(settings) as rt:
        rt.clock = clock = FakeClock()
        await update_channel(rt, timeout_seconds=5, duration=LONG)
        caller, _ = await add_user(rt, "patient", 1000)
        answer = await imagine(rt, caller)
        await Worker(rt).dispatch_once()
        assert (await task_row(rt, answer.result)).status == TaskStatus.SUBMITTED
        clock.advance(4_000)
        assert await engine.sweep_overdue(rt) == 0
        clock.advance(2_000)
        assert await engine.sweep_overdue(rt) == 1
        assert await engine.sweep_overdue(rt) == 0
        await assert_refunded_once(rt, caller, answer.result, 1000)


async def test_refund_on_cancel(rt: Runtime, served: ServedApp) -> None:
    await update_channel(rt, duration=LONG)
    caller, token = await add_user(rt, "quitter", 1000)
    async with Gateway.connect(served.base_url, token) as client:
        answer = await client.submit("imagine", {"prompt": "never mind"})
        await client.wait(answer["result"], {"IN_PROGRESS"})
        first = await client.post(f"/mj/task/{answer['result']}/cancel")
        again = await client.post(f"/mj/task/{answer['result']}/cancel")
        task = await client.fetch(answer["result"])
    assert first.json()["description"] == "Success"
    assert again.json()["description"] == "Task already finished"
    assert task["status"] == "CANCEL"
    assert task["properties"]["refunded"] is True
    assert task["properties"]["refundQuota"] == price(rt, TaskAction.IMAGINE)
    await assert_refunded_once(rt, caller, answer["result"], 1000)


async def test_refund_on_modal_expiry(settings: Settings) -> None:
    async with runtime_with(settings, modal_timeout=60) as rt:
        rt.clock = clock = FakeClock()
        caller, _ = await add_user(rt, "undecided", 1000)
        parent = await imagine(rt, caller)
        await Worker(rt).run_until_idle()
        grid = await task_row(rt, parent.result)
        vary = next(b["customId"] for b in grid.buttons if b["label"] == "V2")
        modal = await submit_action(rt, caller, SubmitOptions(), grid.id, vary, True)
        assert modal.code == 21
        balance, _ = await quota(rt, caller.user_id)
        clock.advance(61_000)
        assert await engine.sweep_overdue(rt) == 1
        task = await task_row(rt, modal.result)
        assert task.fail_reason is not None and task.fail_reason.startswith("modal timeout")
        await assert_refunded_once(
            rt, caller, modal.result, balance + price(rt, TaskAction.VARIATION)
        )


async def test_two_concurrent_refunds_credit_once(rt: Runtime) -> None:
    caller, _ = await add_user(rt, "double", 1000)
    await update_channel(rt, duration=LONG)
    answer = await imagine(rt, caller)
    stale = await task_row(rt, answer.result)
    # On PostgreSQL both transactions read the unrefunded task before either writes;
    # SQLite serialises writers, so there the second one starts after the first commits.
    barrier = None if rt.db.is_sqlite else asyncio.Barrier(2)

    async def refund_in_own_transaction() -> bool:
        async with rt.db.write() as uow:
            task = await uow.task(answer.result)
            assert task is not None
            if barrier is not None:
                await barrier.wait()
            return await refund_task(uow, task, "test refund", rt.clock())

    results = await asyncio.gather(refund_in_own_transaction(), refund_in_own_transaction())
    assert sorted(results) == [False, True]
    # A stale copy that still says "not refunded" is stopped by the ledger itself.
    async with rt.db.write() as uow:
        assert not await refund_task(uow, stale, "stale refund", rt.clock())
    charged = price(rt, TaskAction.IMAGINE)
    assert await ledger_kinds(rt, answer.result) == [("charge", -charged), ("refund", charged)]
    assert await quota(rt, caller.user_id) == (1000, 1000)
    assert (await task_row(rt, answer.result)).refunded


async def test_cancel_racing_the_sweeper_refunds_once(settings: Settings) -> None:
    async with runtime_with(settings, queue_timeout=10) as rt:
        rt.clock = clock = FakeClock()
        await update_channel(rt, core_size=1, queue_size=10, duration=LONG)
        caller, _ = await add_user(rt, "racer", 10_000)
        answers = [await imagine(rt, caller, f"queued {n}") for n in range(6)]
        clock.advance(11_000)  # every queued task is past its queue deadline now
        await asyncio.gather(
            engine.sweep_overdue(rt), *(cancel_task(rt, caller, a.result) for a in answers)
        )
        ends = {(await task_row(rt, a.result)).status for a in answers}
        assert ends <= {TaskStatus.CANCEL, TaskStatus.FAILURE}
        for answer in answers:
            cost = (await task_row(rt, answer.result)).price
            assert await ledger_kinds(rt, answer.result) == [("charge", -cost), ("refund", cost)]
        assert await quota(rt, caller.user_id) == (10_000, 10_000)


async def test_a_task_never_charged_is_never_refunded(settings: Settings) -> None:
    async with runtime_with(settings, prices={"IMAGINE": 0}) as rt:
        rt.clock = clock = FakeClock()
        await update_channel(rt, timeout_seconds=5, duration=LONG)
        caller, _ = await add_user(rt, "freeloader", 100)
        cancelled = await imagine(rt, caller, "free one")
        timed_out = await imagine(rt, caller, "free two")
        await Worker(rt).dispatch_once()
        await cancel_task(rt, caller, cancelled.result)
        clock.advance(6_000)
        assert await engine.sweep_overdue(rt) == 1
        for answer in (cancelled, timed_out):
            task = await task_row(rt, answer.result)
            assert task.is_final and task.price == 0 and not task.refunded
            assert await ledger_kinds(rt, answer.result) == []
            view = await fetch_task(rt, caller, answer.result)
            assert "refunded" not in view["properties"]
            assert "refundQuota" not in view["properties"]
        assert await quota(rt, caller.user_id) == (100, 100)


async def test_refund_when_the_executor_reports_cancel(settings: Settings) -> None:
    """An executor may end a task itself (a relay whose upstream cancelled): refunded too."""
    async with runtime_with(settings) as rt:
        await update_channel(rt, duration=LONG)
        caller, _ = await add_user(rt, "relayed", 1000)
        answer = await imagine(rt, caller)
        worker = Worker(rt)
        await worker.dispatch_once()
        ended = ProviderUpdate(status=TaskStatus.CANCEL, fail_reason="cancelled upstream")
        assert await apply_update(rt, answer.result, ended, worker.worker_id) is not None
        assert await apply_update(rt, answer.result, ended, worker.worker_id) is None
        assert (await task_row(rt, answer.result)).fail_reason == "cancelled upstream"
        await assert_refunded_once(rt, caller, answer.result, 1000)
