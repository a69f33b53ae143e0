"""A gateway in front of scripted upstreams that misbehave the ways real ones do."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from mjgate.domain.tasks import TaskStatus
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings
from relay_support import Request, ScriptedUpstream, scripted_upstream, use_relay
from support import Gateway, ServedApp, add_user, ledger_kinds, make_settings, quota, task_row


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as up:
        yield up


@pytest.fixture
async def second() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as up:
        yield up


@pytest.fixture
def settings(tmp_path: Path, database_url: str) -> Settings:
    # The client's notifyHook in these tests is on loopback.
    return make_settings(tmp_path, database_url, webhook_allow_private=True)


@pytest.fixture
async def buyer(rt: Runtime, served: ServedApp) -> AsyncIterator[tuple[Gateway, int]]:
    caller, token = await add_user(rt, "buyer", 1000)
    async with Gateway.connect(served.base_url, token) as client:
        yield client, caller.user_id


def reply(status: int, body: Any) -> Any:
    async def answer(request: Request) -> tuple[int, Any]:
        return status, body

    return answer


def dropped() -> Any:
    async def answer(request: Request) -> None:
        return None

    return answer


def slow(seconds: float) -> Any:
    async def answer(request: Request) -> tuple[int, Any]:
        await asyncio.sleep(seconds)
        return 200, {"code": 1, "description": "late", "result": "9999"}

    return answer


async def test_callbacks_carry_status_and_results_are_rehosted(
    rt: Runtime, served: ServedApp, upstream: ScriptedUpstream, buyer: tuple[Gateway, int]
) -> None:
    client, _ = buyer
    # Polling would take a minute, young or old: whatever moves here moved by callback.
    await use_relay(
        rt, upstream.base_url, "sk-up-secret-1", poll_fast_ms=60_000, poll_slow_ms=60_000
    )
    hook = "http://127.0.0.1:9/client-hook"
    answer = await client.submit("imagine", {"prompt": "a cat", "notifyHook": hook, "state": "x"})
    (submitted,) = upstream.calls("/submit/imagine")
    assert submitted.headers["mj-api-secret"] == "sk-up-secret-1"
    assert submitted.body["prompt"] == "a cat"
    assert "state" not in submitted.body
    ours = submitted.body["notifyHook"]
    assert ours.startswith(served.base_url) and ours != hook and answer["result"] in ours
    upstream_id = next(iter(upstream.tasks))

    upstream.tasks[upstream_id].update({"status": "IN_PROGRESS", "progress": "40%"})
    assert (await upstream.call_back(upstream_id)).status_code == 200
    task = await client.fetch(answer["result"])
    assert (task["status"], task["progress"]) == ("IN_PROGRESS", "40%")

    upstream.finish(upstream_id)
    assert (await upstream.call_back(upstream_id)).status_code == 200
    task = await client.fetch(answer["result"])
    assert task["status"] == "SUCCESS"
    assert task["imageUrl"].startswith(served.base_url)
    assert task["buttons"][0]["customId"] == f"MJ::JOB::upsample::1::{upstream_id}-hash"
    assert upstream.base_url not in json.dumps(task)
    assert not upstream.calls("list-by-condition")

    forged = ours.rsplit("/", 1)[0] + "/" + "0" * 40
    async with Gateway.connect(served.base_url, None) as anyone:
        response = await anyone.post(forged.removeprefix(served.base_url), {"id": upstream_id})
    assert response.status_code == 404


async def test_a_callback_before_the_submit_answer(
    rt: Runtime, served: ServedApp, upstream: ScriptedUpstream, buyer: tuple[Gateway, int]
) -> None:
    client, _ = buyer
    await use_relay(rt, upstream.base_url, "sk")

    async def call_back_first(request: Request) -> tuple[int, Any]:
        task = upstream.new_task("IN_PROGRESS", progress="10%")
        upstream.hooks[task["id"]] = request.body["notifyHook"]
        assert (await upstream.call_back(task["id"])).status_code == 200
        return 200, {"code": 1, "description": "Submit success", "result": task["id"]}

    upstream.submit_script.append(call_back_first)
    answer = await client.submit("imagine", {"prompt": "fast upstream"})
    task = await client.fetch(answer["result"])
    assert task["status"] == "IN_PROGRESS"
    upstream.finish(next(iter(upstream.tasks)))
    done = await client.wait(answer["result"], within=10)
    assert done["status"] == "SUCCESS"


@pytest.mark.parametrize(
    "refusal",
    [
        reply(500, {"error": "boom"}),
        reply(200, b"<html>garbage"),
        reply(200, {"code": 9, "description": "无可用的账号实例"}),
        reply(400, {"description": "bad_request", "type": "mj_error", "code": 4}),
    ],
    ids=["5xx", "garbage", "no-account", "gateway-400"],
)
async def test_refusal_before_acceptance_moves_on_to_the_next_channel(
    rt: Runtime,
    served: ServedApp,
    upstream: ScriptedUpstream,
    second: ScriptedUpstream,
    buyer: tuple[Gateway, int],
    refusal: Any,
) -> None:
    client, user_id = buyer
    await use_relay(rt, upstream.base_url, "sk-1", name="first", priority=1)
    await use_relay(rt, second.base_url, "sk-2", name="second")
    upstream.submit_script.append(refusal)
    answer = await client.submit("imagine", {"prompt": "a dog"})
    assert answer["code"] == 1
    assert len(upstream.calls("/submit/")) == 1 and len(second.calls("/submit/")) == 1
    row = await task_row(rt, answer["result"])
    assert row.properties["channelId"] == "second"
    assert await ledger_kinds(rt, row.id) == [("charge", -row.price)]
    balance, ledger = await quota(rt, user_id)
    assert balance == ledger == 1000 - row.price


async def test_a_full_queue_said_in_words_answers_23_and_charges_nothing(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int]
) -> None:
    client, user_id = buyer
    await use_relay(rt, upstream.base_url, "sk")
    upstream.submit_script.append(reply(200, {"code": 9, "description": "队列已满，请稍后尝试"}))
    response = await client.post("/mj/submit/imagine", {"prompt": "a dog"})
    assert response.json()["code"] == 23
    assert await quota(rt, user_id) == (1000, 1000)
    async with rt.db.read() as uow:
        assert not await uow.newest_tasks(user_id, 5)


async def test_a_failing_upstream_rests_and_its_errors_do_not_leak(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int]
) -> None:
    client, user_id = buyer
    await use_relay(rt, upstream.base_url, "sk-very-secret", health_threshold=2)
    leaky = {"code": 9, "description": f"no available account at {upstream.base_url}/x"}
    upstream.submit_script.extend([reply(200, leaky), reply(503, leaky)])
    for _ in range(2):
        response = await client.post("/mj/submit/imagine", {"prompt": "a dog"})
        assert response.json()["code"] == 9, response.text
        assert upstream.base_url not in response.text and "sk-very-secret" not in response.text
    response = await client.post("/mj/submit/imagine", {"prompt": "a dog"})
    assert response.json()["description"] == "no_available_channel"
    assert len(upstream.calls("/submit/")) == 2  # resting: not asked a third time
    async with rt.db.read() as uow:
        channel = await uow.channel_by_name("up")
    assert channel is not None and channel.resting_until is not None
    assert "no available account" in (channel.health_reason or "")
    assert await quota(rt, user_id) == (1000, 1000)


@pytest.mark.parametrize("fault", [dropped(), slow(2.5)], ids=["dropped", "slow"])
async def test_a_lost_submit_answer_is_never_sent_again_and_is_refunded(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int], fault: Any
) -> None:
    client, user_id = buyer
    await use_relay(rt, upstream.base_url, "sk", submit_timeout=1, lost_submit_grace_ms=300)
    upstream.submit_script.append(fault)
    answer = await client.submit("imagine", {"prompt": "a dog"})
    task = await client.wait(answer["result"], within=10)
    assert task["status"] == "FAILURE"
    assert "not sent again" in task["failReason"]
    assert task["progress"] == "100%"
    assert len(upstream.calls("/submit/")) == 1
    assert await quota(rt, user_id) == (1000, 1000)


async def test_a_vanished_task_fails_after_the_grace_and_is_refunded(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int]
) -> None:
    client, user_id = buyer
    await use_relay(rt, upstream.base_url, "sk", auth="bearer")
    answer = await client.submit("imagine", {"prompt": "a dog"})
    assert upstream.calls("/submit/")[0].headers["authorization"] == "Bearer sk"
    await client.wait(answer["result"], {"SUBMITTED"})
    upstream.tasks.clear()
    task = await client.wait(answer["result"], within=10)
    assert (task["status"], task["failReason"]) == (
        "FAILURE",
        "the upstream no longer knows this task",
    )
    assert await quota(rt, user_id) == (1000, 1000)


async def test_an_upstream_failure_later_is_ours_with_its_reason(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int]
) -> None:
    """Some upstreams report a banned prompt later, as FAILURE, with progress blanked."""
    client, user_id = buyer
    await use_relay(rt, upstream.base_url, "sk")
    answer = await client.submit("imagine", {"prompt": "a dog"})
    upstream_id = next(iter(upstream.tasks))
    upstream.tasks[upstream_id].update(
        {"status": "FAILURE", "progress": "", "failReason": "可能包含敏感词"}
    )
    task = await client.wait(answer["result"], within=10)
    assert (task["status"], task["progress"], task["failReason"]) == (
        "FAILURE",
        "100%",
        "可能包含敏感词",
    )
    assert task["properties"]["refunded"] is True
    assert await quota(rt, user_id) == (1000, 1000)


async def test_results_on_hosts_the_channel_does_not_allow_are_refused(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int]
) -> None:
    client, _ = buyer
    await use_relay(rt, upstream.base_url, "sk")
    answer = await client.submit("imagine", {"prompt": "a dog"})
    upstream_id = next(iter(upstream.tasks))
    upstream.finish(upstream_id, imageUrl="http://localhost:9/elsewhere.png")
    task = await client.wait(answer["result"], within=10)
    assert task["status"] == "FAILURE"
    assert "does not allow" in task["failReason"]
    assert "localhost" not in task["failReason"]


async def _queue_behind(
    client: Gateway, upstream: ScriptedUpstream, refusal: Any
) -> tuple[str, str]:
    """One task runs on the channel's only slot, a second waits (22); the upstream will
    refuse that one when the dispatcher starts it, once the first finishes."""
    first = await client.submit("imagine", {"prompt": "first"})
    assert first["code"] == 1
    queued = await client.submit("imagine", {"prompt": "second"})
    assert queued["code"] == 22, queued
    upstream.submit_script.append(refusal)
    upstream.finish(next(iter(upstream.tasks)))
    return first["result"], queued["result"]


async def test_a_queued_task_refused_at_its_start_moves_to_another_channel(
    rt: Runtime,
    upstream: ScriptedUpstream,
    second: ScriptedUpstream,
    buyer: tuple[Gateway, int],
) -> None:
    client, _ = buyer
    await use_relay(rt, upstream.base_url, "sk-1", name="first", priority=1, core_size=1)
    await use_relay(rt, second.base_url, "sk-2", name="second")
    refusal = reply(200, {"code": 9, "description": "无可用的账号实例"})
    _, queued = await _queue_behind(client, upstream, refusal)
    for _ in range(200):  # until the second upstream has been handed the task
        if second.tasks:
            break
        await asyncio.sleep(0.05)
    row = await task_row(rt, queued)
    assert row.status == TaskStatus.SUBMITTED, row
    assert row.properties["channelId"] == "second" and row.start_count == 1
    assert len(upstream.calls("/submit/")) == 2 and len(second.calls("/submit/")) == 1
    async with rt.db.read() as uow:
        refusing = await uow.channel_by_name("first")
    assert refusing is not None and refusing.failures == 1
    assert "无可用的账号实例" in (refusing.health_reason or "")

    second.finish(next(iter(second.tasks)))
    done = await client.wait(queued, within=10)
    assert done["status"] == "SUCCESS" and done["properties"]["channelId"] == "second"
    assert await ledger_kinds(rt, queued) == [("charge", -row.price)]  # charged once


async def test_a_queued_task_refused_with_nowhere_to_go_fails_refunded(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int]
) -> None:
    client, user_id = buyer
    await use_relay(rt, upstream.base_url, "sk-hidden", core_size=1)
    leaky = {"code": 9, "description": f"no available account at {upstream.base_url}/x"}
    first, queued = await _queue_behind(client, upstream, reply(200, leaky))
    task = await client.wait(queued, within=10)
    assert task["status"] == "FAILURE", task
    assert "no available account" in task["failReason"]
    assert upstream.base_url not in json.dumps(task) and "sk-hidden" not in json.dumps(task)
    assert task["properties"]["refunded"] is True
    async with rt.db.read() as uow:
        channel = await uow.channel_by_name("up")
    assert channel is not None and channel.failures == 1
    done = await client.wait(first, within=10)
    assert done["status"] == "SUCCESS"
    balance, ledger = await quota(rt, user_id)
    assert balance == ledger == 1000 - (await task_row(rt, first)).price


@pytest.mark.parametrize(
    "answer",
    [
        reply(200, {"code": 1, "description": "Success"}),
        reply(500, {"error": "boom"}),
        reply(200, {"code": 4, "description": "task status is not cancellable"}),
        dropped(),
    ],
    ids=["ok", "5xx", "refused", "dropped"],
)
async def test_cancel_calls_the_upstreams_cancel_and_refunds_whatever_it_says(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int], answer: Any
) -> None:
    client, user_id = buyer
    await use_relay(rt, upstream.base_url, "sk-cancel")
    submitted = await client.submit("imagine", {"prompt": "a dog"})
    upstream_id = next(iter(upstream.tasks))
    upstream.tasks[upstream_id].update({"status": "IN_PROGRESS", "progress": "30%"})
    await client.wait(submitted["result"], {"IN_PROGRESS"}, within=10)
    upstream.cancel_script.append(answer)
    response = await client.post(f"/mj/task/{submitted['result']}/cancel")
    assert response.status_code == 200 and response.json()["code"] == 1, response.text
    (call,) = upstream.calls("/cancel")
    assert (call.method, call.path) == ("POST", f"/mj/task/{upstream_id}/cancel")
    assert call.headers["mj-api-secret"] == "sk-cancel"
    task = await client.fetch(submitted["result"])
    assert (task["status"], task["progress"]) == ("CANCEL", "100%")
    assert task["properties"]["refunded"] is True
    assert await quota(rt, user_id) == (1000, 1000)
    # The upstream going on with it changes nothing here: a final task never changes.
    upstream.finish(upstream_id)
    await asyncio.sleep(0.3)
    assert (await client.fetch(submitted["result"]))["status"] == "CANCEL"


@pytest.mark.parametrize(
    ("start", "finish"),
    [(1, 1), (9_000_000_000_000, None), ("garbage", 5)],
    ids=["before-our-submit", "in-the-future", "garbage"],
)
async def test_upstream_times_that_make_no_sense_stay_within_ours(
    rt: Runtime, upstream: ScriptedUpstream, buyer: tuple[Gateway, int], start: Any, finish: Any
) -> None:
    """A skewed or broken upstream clock never puts a start before our submit, a finish
    before the start, or either after our own clock."""
    client, _ = buyer
    await use_relay(rt, upstream.base_url, "sk")
    answer = await client.submit("imagine", {"prompt": "a dog"})
    upstream.finish(next(iter(upstream.tasks)), startTime=start, finishTime=finish)
    task = await client.wait(answer["result"], within=10)
    assert task["status"] == "SUCCESS", task
    row = await task_row(rt, task["id"])
    assert task["submitTime"] <= task["startTime"] <= task["finishTime"] <= row.updated_at
    if start == 1:  # clamped to the bounds, not replaced by our clock
        assert task["startTime"] == task["submitTime"] == task["finishTime"]
