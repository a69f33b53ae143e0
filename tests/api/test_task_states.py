"""Every task status is reachable over HTTP and shows the right fields (PROTOCOL §4, §5).

NOT_START (queued here), SUBMITTED / IN_PROGRESS (on the channel), MODAL (waits for
/submit/modal), and the final SUCCESS, FAILURE and CANCEL, which never change again. Most tasks
here are shorten jobs or run on a slowed sandbox channel: no pictures need rendering.
"""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path
from typing import Any

from mjgate.services.runtime import Runtime
from support import (
    Gateway,
    ServedApp,
    button_id,
    custom_gateway,
    make_settings,
    png_data_url,
    update_channel,
)

STATUSES = {"NOT_START", "SUBMITTED", "MODAL", "IN_PROGRESS", "SUCCESS", "FAILURE", "CANCEL"}
RUNNING = {"SUBMITTED", "IN_PROGRESS"}
Task = dict[str, Any]


async def shorten(gateway: Gateway, n: int) -> dict[str, Any]:
    return await gateway.submit("shorten", {"prompt": f"a lighthouse on a cliff number {n}"})


async def ledger(rt: Runtime, task_id: str) -> list[int]:
    """The task's quota movements: the charge, then the refund if there was one."""
    async with rt.db.read() as uow:
        return [entry.amount for entry in await uow.ledger_for_task(task_id)]


async def upscale_for_modal(gateway: Gateway) -> Task:
    """A small finished upscale, whose Custom Zoom button opens a modal."""
    grid = await gateway.finished("imagine", {"prompt": "a red fox --ar 4:1"})
    custom_id = button_id(grid, "U1")
    return await gateway.finished("action", {"taskId": grid["id"], "customId": custom_id})


async def open_modal(gateway: Gateway, up: Task) -> str:
    custom_id = f"MJ::CustomZoom::{up['properties']['messageHash']}"
    answer = await gateway.submit("action", {"taskId": up["id"], "customId": custom_id})
    assert answer["code"] == 21, answer
    task_id: str = answer["result"]
    return task_id


def assert_unfinished(task: Task, status: str) -> None:
    assert task["status"] == status, task
    assert task["progress"] != "100%" and task["progress"].endswith("%")
    assert task["finishTime"] is None and task["failReason"] is None
    assert task["imageUrl"] is None and task["buttons"] == []
    assert isinstance(task["submitTime"], int)


async def assert_failed(rt: Runtime, task: Task, reason_start: str) -> None:
    """FAILURE: 100 %, a reason, finished, and the charge given back."""
    assert task["status"] == "FAILURE", task
    assert task["progress"] == "100%"
    assert task["failReason"].startswith(reason_start), task["failReason"]
    assert task["finishTime"] is not None and task["finishTime"] >= task["submitTime"]
    assert task["buttons"] == [] and task["imageUrl"] is None
    assert task["properties"]["refunded"] is True
    price = task["properties"]["refundQuota"]
    assert price > 0 and await ledger(rt, task["id"]) == [-price, price]


async def test_queued_tasks_are_not_start_and_start_in_submit_order(
    gateway: Gateway, served: ServedApp
) -> None:
    await update_channel(served.runtime, duration=600, core_size=1)
    answers = [await shorten(gateway, n) for n in range(4)]
    assert [a["code"] for a in answers] == [1, 22, 22, 22]
    ids = [a["result"] for a in answers]
    for ahead, answer in enumerate(answers[1:]):
        assert answer["description"] == f"In queue, there are {ahead} tasks ahead"
        assert answer["properties"]["numberOfQueues"] == ahead

    running = await gateway.wait(ids[0], RUNNING)
    assert_unfinished(running, running["status"])
    assert running["startTime"] >= running["submitTime"]
    for task_id in ids[1:]:
        queued = await gateway.fetch(task_id)
        assert_unfinished(queued, "NOT_START")
        assert queued["progress"] == "0%" and queued["startTime"] is None
    queue = (await gateway.http.get("/mj/task/queue")).json()
    assert [t["id"] for t in queue] == ids

    # A faster channel frees the slot: the queued tasks start one at a time, in submit order.
    await update_channel(served.runtime, duration=0.4)
    done = await asyncio.gather(*(gateway.wait(task_id) for task_id in ids))
    assert [t["status"] for t in done] == ["SUCCESS"] * 4
    for earlier, later in itertools.pairwise(done):
        assert earlier["startTime"] < later["startTime"]
        assert earlier["finishTime"] <= later["startTime"]  # one slot: never two at once
    for task in done:
        assert task["progress"] == "100%" and task["failReason"] is None
        assert task["submitTime"] <= task["startTime"] <= task["finishTime"]
        assert len(task["buttons"]) == 5
    assert (await gateway.http.get("/mj/task/queue")).json() == []


async def test_modal_state_and_timeouts(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, modal_timeout=0.5, queue_timeout=1.0)
    async with custom_gateway(settings) as (gateway, rt):
        up = await upscale_for_modal(gateway)
        modal_id = await open_modal(gateway, up)
        waiting = await gateway.fetch(modal_id)
        assert_unfinished(waiting, "MODAL")
        assert waiting["progress"] == "0%" and waiting["startTime"] is None
        assert waiting["action"] == "ZOOM" and waiting["properties"]["finalPrompt"] == up["prompt"]
        assert modal_id in [t["id"] for t in (await gateway.http.get("/mj/task/queue")).json()]

        # Nobody continues it: FAILURE when modal_timeout has passed, refunded.
        expired = await gateway.wait(modal_id, within=10)
        await assert_failed(rt, expired, "modal timeout")
        late = await gateway.post("/mj/submit/modal", {"taskId": modal_id, "prompt": "x --zoom 2"})
        assert late.status_code == 400
        assert late.json()["description"] == "task_status_not_modal"

        # Waiting in the queue longer than queue_timeout: FAILURE, refunded.
        await update_channel(rt, duration=600, core_size=1)
        first, second = await shorten(gateway, 1), await shorten(gateway, 2)
        assert (first["code"], second["code"]) == (1, 22)
        assert (await gateway.fetch(second["result"]))["status"] == "NOT_START"
        timed_out = await gateway.wait(second["result"], within=10)
        await assert_failed(rt, timed_out, "queue timeout")
        assert (await gateway.fetch(first["result"]))["status"] in RUNNING

        # Running longer than the channel's timeout: FAILURE, refunded.
        await update_channel(rt, core_size=2, timeout_seconds=1)
        slow = await shorten(gateway, 3)
        assert slow["code"] == 1
        assert (await gateway.wait(slow["result"], RUNNING))["status"] in RUNNING
        overdue = await gateway.wait(slow["result"], within=10)
        await assert_failed(rt, overdue, "timeout: the channel did not finish")


async def test_executor_failures_are_final_and_refunded(
    gateway: Gateway, served: ServedApp
) -> None:
    # A describe link that the SSRF policy refuses, and an edit whose mask marks nothing.
    blocked = await gateway.submit("describe", {"link": "http://127.0.0.1:9/nothing.png"})
    black = png_data_url((0, 0, 0))
    empty_mask = await gateway.submit(
        "edits", {"prompt": "a cat", "image": png_data_url(), "maskBase64": black}
    )
    assert blocked["code"] == empty_mask["code"] == 1
    failed = [await gateway.wait(a["result"]) for a in (blocked, empty_mask)]
    await assert_failed(served.runtime, failed[0], "the image link could not be fetched")
    await assert_failed(served.runtime, failed[1], "the mask marks no area")
    for task in failed:
        assert task["startTime"] is not None


async def test_cancel_from_every_unfinished_status_and_final_never_changes(
    gateway: Gateway, served: ServedApp
) -> None:
    rt = served.runtime
    up = await upscale_for_modal(gateway)
    succeeded = (await shorten(gateway, 0))["result"]
    await gateway.wait(succeeded)
    failed = (await gateway.submit("describe", {"link": "http://127.0.0.1:9/x.png"}))["result"]
    await gateway.wait(failed)

    # One task in each unfinished status, on a channel slow enough to keep them there.
    await update_channel(rt, duration=4, core_size=1)
    running = (await shorten(gateway, 1))["result"]  # a shorten takes a quarter: 1 s
    queued = (await shorten(gateway, 2))["result"]
    modal = await open_modal(gateway, up)
    await gateway.wait(running, RUNNING)
    assert (await gateway.fetch(queued))["status"] == "NOT_START"
    assert (await gateway.fetch(modal))["status"] == "MODAL"
    # The queued one first: cancelling the running one frees the slot it waits for.
    for task_id in (queued, modal, running):
        response = await gateway.post(f"/mj/task/{task_id}/cancel")
        assert response.status_code == 200
        assert response.json()["properties"] == {"status": "CANCEL"}
        task = await gateway.fetch(task_id)
        assert task["status"] == "CANCEL" and task["progress"] == "100%"
        assert task["failReason"] == "Cancelled by the client"
        assert task["finishTime"] is not None and task["buttons"] == []
        assert task["properties"]["refunded"] is True
        price = task["properties"]["refundQuota"]
        assert price > 0 and await ledger(rt, task_id) == [-price, price]
    assert (await gateway.fetch(queued))["startTime"] is None  # it never started
    assert (await gateway.fetch(modal))["startTime"] is None

    # Final tasks never change: not after the sandbox's time for the cancelled job has passed
    # (it would have finished it), not when cancelled or continued again.
    finals = [succeeded, failed, running, queued, modal]
    before = [await gateway.fetch(task_id) for task_id in finals]
    assert [t["status"] for t in before] == ["SUCCESS", "FAILURE", "CANCEL", "CANCEL", "CANCEL"]
    await asyncio.sleep(1.2)
    for task_id in finals:
        response = await gateway.post(f"/mj/task/{task_id}/cancel")
        assert response.json()["description"] == "Task already finished"
        response = await gateway.post("/mj/submit/modal", {"taskId": task_id, "prompt": "x"})
        assert response.json()["description"] == "task_status_not_modal"
    for task_id in finals[1:]:
        response = await gateway.post(
            "/mj/submit/action", {"taskId": task_id, "customId": "MJ::Picread::Retry"}
        )
        assert response.json()["description"] == "task_status_not_success"
    after = [await gateway.fetch(task_id) for task_id in finals]
    assert after == before
    listed = (await gateway.post("/mj/task/list-by-condition", {"ids": finals})).json()
    assert listed == before
    assert {t["status"] for t in listed} <= STATUSES
    charged = await ledger(rt, succeeded)  # a success keeps its charge
    assert len(charged) == 1 and charged[0] < 0 and "refunded" not in before[0]["properties"]
