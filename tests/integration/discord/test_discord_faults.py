"""A discord channel when Discord and the Midjourney bot misbehave, over real sockets: a
republished command, rewritten and truncated prompts, a dropped websocket (resumed, and a
gap caught up over REST), every error embed, dead and challenged accounts leaving the pool
and coming back, two accounts sharing load within their core sizes, the bot's own queue,
and a rate limit."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import pytest

from discord_channel import DiscordScene, discord_scene, sqlite_url
from mjgate.services import accounts
from support import make_settings

Task = dict[str, Any]
TOKENS = ("sim-account-token-0001", "sim-account-token-0002")


@pytest.fixture
def settings(tmp_path: Path) -> Any:
    # SQLite only: these tests are about Discord; the engine's databases are tested elsewhere.
    return make_settings(tmp_path, sqlite_url(tmp_path))


@pytest.fixture
async def scene(settings: Any) -> Any:
    async with discord_scene(settings) as made:
        yield made


@pytest.fixture
async def pool(settings: Any) -> Any:
    """Two accounts, ``acc1`` and ``acc2``; idle, new work tries ``acc1`` first."""
    async with discord_scene(settings, tokens=TOKENS) as made:
        yield made


async def _until(check: Callable[[], Awaitable[bool]], within: float = 10.0) -> None:
    deadline = time.monotonic() + within
    while not await check():
        assert time.monotonic() < deadline, "the condition never held"
        await asyncio.sleep(0.02)


async def _counter(scene: DiscordScene, name: str) -> int:
    return (await asyncio.to_thread(lambda: scene.simulator.counters)).get(name, 0)


def _assert_refunded(task: Task, reason: str) -> None:
    assert task["status"] == "FAILURE", task
    assert task["failReason"] == reason, task["failReason"]
    assert task["properties"]["refunded"] is True, task["properties"]
    assert task["properties"]["refundQuota"] > 0


async def _channel(scene: DiscordScene, name: str) -> Any:
    for channel, _load in await accounts.list_channels(scene.rt):
        if channel.name == name:
            return channel
    raise AssertionError(f"no channel {name}")


def _imagines(scene: DiscordScene) -> list[dict[str, Any]]:
    return [i for i in scene.simulator.interactions if i.get("data", {}).get("name") == "imagine"]


# -- 1. commands ---------------------------------------------------------------------------


async def test_a_republished_command_is_discovered_again_and_retried(scene: DiscordScene) -> None:
    admin, simulator = scene.admin, scene.simulator
    await admin.finished("imagine", {"prompt": "a first light"})
    reads = await _counter(scene, "command_index_reads")
    old = _imagines(scene)[-1]["data"]
    simulator.republish_commands()

    task = await admin.finished("imagine", {"prompt": "a second light"})
    assert task["properties"]["channelId"] == "acc1"
    refused, retried = _imagines(scene)[-2:]
    # The stale one was refused (50035), then the same interaction with the new command.
    assert refused["data"]["id"] == old["id"] and refused["data"]["version"] == old["version"]
    assert (retried["data"]["id"], retried["data"]["version"]) != (old["id"], old["version"])
    assert retried["nonce"] == refused["nonce"]
    assert retried["data"]["options"][0]["value"].startswith("a second light")
    assert await _counter(scene, "command_index_reads") == reads + 1


# -- 2. prompts ----------------------------------------------------------------------------


async def test_rewritten_and_truncated_prompts_still_find_their_tasks(
    scene: DiscordScene,
) -> None:
    simulator, admin = scene.simulator, scene.admin
    simulator.rewrite_prompts(True)
    simulator.strip_metadata(True)  # the completions carry no interaction metadata
    simulator.set_job_duration(6.0)  # long enough for the jobs to overlap
    common = "an endless library of glass shelves, " * 6  # past the bot's 180 characters
    prompts = [
        "a cat   on https://example.com/cat.png  --q 1",
        "a dog   on https://example.com/dog.png  --q 1",
        common + "with a red door",
        common + "with a blue door",
    ]
    answers = await asyncio.gather(*(admin.submit("imagine", {"prompt": p}) for p in prompts))
    tasks = await asyncio.gather(*(admin.wait(a["result"]) for a in answers))

    jobs = simulator._call(lambda: dict(simulator.world.jobs))
    shown = set()
    for prompt, task in zip(prompts, tasks, strict=True):
        assert task["status"] == "SUCCESS", task["failReason"]
        assert task["prompt"] == prompt
        # The right job: the one the bot ran for this task's prompt.
        job = jobs[task["properties"]["messageHash"]]
        assert job.prompt.startswith(prompt), (job.prompt, prompt)
        shown.add(job.shown)
    assert any("s.mj.run" in s and "--q" not in s for s in shown), shown
    assert sum(s.endswith("…") for s in shown) == 1 and len(shown) == 3, shown  # cut alike


# -- 3. the websocket ----------------------------------------------------------------------


async def test_a_dropped_websocket_is_resumed_mid_job(scene: DiscordScene) -> None:
    simulator, admin = scene.simulator, scene.admin
    simulator.set_job_duration(20.0)  # a second at the scene's speed
    answer = await admin.submit("imagine", {"prompt": "a storm over the sea"})
    await admin.wait(answer["result"], {"IN_PROGRESS"})
    resumes = await _counter(scene, "resumes")
    simulator.drop_connections()
    task = await admin.wait(answer["result"])
    assert task["status"] == "SUCCESS", task
    assert await _counter(scene, "resumes") > resumes


async def test_a_job_finished_during_a_gap_is_caught_up_over_rest(scene: DiscordScene) -> None:
    simulator, admin = scene.simulator, scene.admin
    simulator.set_job_duration(10.0)
    answer = await admin.submit("imagine", {"prompt": "a lantern in fog"})
    await admin.wait(answer["result"], {"IN_PROGRESS"})
    finished = await _counter(scene, "jobs_finished")
    fetches = await _counter(scene, "message_fetches")
    invalid = await _counter(scene, "invalid_sessions")
    # Nothing reaches mjgate while the job finishes; then the session is lost for good (no
    # RESUME can replay it), so the final message exists only in the channel's history.
    simulator.hold_dispatches()
    await _until(lambda: _more(scene, "jobs_finished", finished))
    simulator.drop_connections()
    simulator.expire_sessions()
    assert (await admin.fetch(answer["result"]))["status"] == "IN_PROGRESS"
    simulator.release_dispatches()
    task = await admin.wait(answer["result"])
    assert task["status"] == "SUCCESS", task
    assert len(task["imageUrls"]) == 4
    assert await _counter(scene, "invalid_sessions") > invalid  # a fresh identify, no resume
    assert await _counter(scene, "message_fetches") > fetches  # found by the catch-up


async def _more(scene: DiscordScene, name: str, than: int) -> bool:
    return await _counter(scene, name) > than


# -- 4. error embeds -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "title", "description"),
    [
        ("a cat", "Invalid prompt", "Your prompt could not be parsed."),
        ("a cat simfail", "Invalid parameter", "Unrecognized parameter(s): `simfail`"),
        ("a cat simban", "Banned prompt detected", None),
        ("a cat", "Invalid link", "The link https://x.test/a.png is not an image."),
        ("a cat", "Request cancelled due to output filters", "The result was filtered."),
        ("a cat", "Queue full", "Your queue is full. Wait for a job to finish."),
    ],
)
async def test_each_error_embed_fails_the_task_with_its_reason_and_a_refund(
    scene: DiscordScene, prompt: str, title: str, description: str | None
) -> None:
    if description is not None and "sim" not in prompt:
        scene.simulator.fail_next(title, description)
    answer = await scene.admin.submit("imagine", {"prompt": prompt})
    task = await scene.admin.wait(answer["result"])
    if description is None:  # the bot's own words for a banned prompt
        description = (
            "Sorry! Our AI moderators feel your prompt might be against our community standards."
        )
    _assert_refunded(task, f"{title}: {description}")
    assert task["properties"]["channelId"] == "acc1"
    assert (await _channel(scene, "acc1")).enabled  # the task's fault, not the account's


# -- 5. accounts out of service and back ---------------------------------------------------


async def _back_in_service(pool: DiscordScene) -> None:
    """The fault cleared and the operator's ``mjgate channel enable``: acc1 works again."""
    pool.simulator.account_problem(None)
    await accounts.set_channel_enabled(pool.rt, "acc1", True, None)
    task = await pool.admin.finished(
        "imagine", {"prompt": "back at work", "accountFilter": {"instanceId": "acc1"}}
    )
    assert task["properties"]["channelId"] == "acc1"
    assert (await _channel(pool, "acc1")).enabled


async def _assert_out(pool: DiscordScene, words: str) -> None:
    channel = await _channel(pool, "acc1")
    assert channel.enabled is False
    assert words in (channel.disabled_reason or ""), channel.disabled_reason
    assert channel.disabled_at is not None and channel.disabled_at > 0


async def test_a_bad_token_takes_the_account_out_while_the_pool_moves_on(
    pool: DiscordScene,
) -> None:
    admin = pool.admin
    first = await admin.finished("imagine", {"prompt": "a calm lake"})
    assert first["properties"]["channelId"] == "acc1"
    pool.simulator.account_problem("bad_token")  # the live socket closes with 4004

    # New work tries the idle acc1 first, which refuses it: it moves to acc2 and succeeds.
    answers = [await admin.submit("imagine", {"prompt": f"a calm lake {n}"}) for n in range(3)]
    tasks = [await admin.wait(a["result"]) for a in answers]
    for task in tasks:
        assert task["status"] == "SUCCESS", task["failReason"]
        assert task["properties"]["channelId"] == "acc2"
    await _assert_out(pool, "4004")
    await _back_in_service(pool)


async def test_work_waiting_on_an_account_that_dies_moves_to_another(settings: Any) -> None:
    async with discord_scene(settings, tokens=TOKENS, core_size=1) as pool:
        admin = pool.admin
        pool.simulator.set_job_duration(30.0)  # 1.5 s: the token dies mid-job
        running = await admin.submit("imagine", {"prompt": "a first boat"})
        other = await admin.submit("imagine", {"prompt": "a second boat"})
        waiting = await admin.submit("imagine", {"prompt": "a third boat"})
        assert waiting["code"] == 22  # no free slot anywhere: it waits in acc1's queue
        assert (await admin.fetch(waiting["result"]))["properties"]["channelId"] == "acc1"
        pinned = await admin.submit(
            "imagine", {"prompt": "a pinned boat", "accountFilter": {"instanceId": "acc1"}}
        )
        assert pinned["code"] == 22
        await admin.wait(running["result"], {"IN_PROGRESS"})
        pool.simulator.account_problem("bad_token")

        # The job on the dead account cannot be followed: it fails, refunded.
        lost = await admin.wait(running["result"])
        _assert_refunded(lost, lost["failReason"])
        assert "4004" in lost["failReason"]
        await _assert_out(pool, "4004")
        # What waited for it does not wait for its queue deadline: it runs on acc2.
        moved = await admin.wait(waiting["result"], within=15)
        assert moved["status"] == "SUCCESS", moved["failReason"]
        assert moved["properties"]["channelId"] == "acc2"
        assert (await admin.wait(other["result"]))["status"] == "SUCCESS"
        # A task the client pinned to acc1 goes nowhere else: it fails, refunded.
        kept = await admin.wait(pinned["result"], within=15)
        assert kept["properties"]["channelId"] == "acc1"
        _assert_refunded(kept, kept["failReason"])


async def test_a_captcha_takes_the_account_out_while_the_pool_moves_on(
    pool: DiscordScene,
) -> None:
    admin = pool.admin
    pool.simulator.account_problem("captcha")
    challenged = await admin.wait((await admin.submit("imagine", {"prompt": "a fox"}))["result"])
    # The bot asked a person to act: the job cannot go on there; the charge goes back.
    assert challenged["properties"]["channelId"] == "acc1"
    _assert_refunded(challenged, challenged["failReason"])
    assert "Action required" in challenged["failReason"]
    await _assert_out(pool, "Action required")
    for n in range(2):
        task = await admin.finished("imagine", {"prompt": f"a fox {n}"})
        assert task["properties"]["channelId"] == "acc2"
    await _back_in_service(pool)


async def test_credits_exhausted_on_fast_takes_the_account_out(pool: DiscordScene) -> None:
    admin = pool.admin
    pool.simulator.account_problem("credits_exhausted")
    answer = await admin.submit("imagine", {"prompt": "a hill --fast"})
    task = await admin.wait(answer["result"])
    assert task["properties"]["channelId"] == "acc1"
    _assert_refunded(task, task["failReason"])
    assert "Credits exhausted" in task["failReason"]
    await _assert_out(pool, "Credits exhausted")
    moved = await admin.finished("imagine", {"prompt": "a hill again --fast"})
    assert moved["properties"]["channelId"] == "acc2"
    await _back_in_service(pool)


# -- 6. two accounts share the load --------------------------------------------------------


async def test_two_accounts_share_load_within_their_core_sizes(settings: Any) -> None:
    async with discord_scene(settings, tokens=TOKENS, core_size=2) as pool:
        admin = pool.admin
        pool.simulator.set_job_duration(10.0)  # half a second each: they overlap
        answers = await asyncio.gather(
            *(admin.submit("imagine", {"prompt": f"a tower {n}"}) for n in range(6))
        )
        ids = [a["result"] for a in answers]
        most: dict[str, int] = {}
        while True:
            response = await admin.post("/mj/task/list-by-condition", {"ids": ids})
            assert response.status_code == 200, response.text
            tasks = response.json()
            running: dict[str, int] = {}
            for task in tasks:
                if task["status"] in ("SUBMITTED", "IN_PROGRESS"):
                    name = task["properties"]["channelId"]
                    running[name] = running.get(name, 0) + 1
            for name, count in running.items():
                assert count <= 2, (name, running)
                most[name] = max(most.get(name, 0), count)
            if all(t["status"] in ("SUCCESS", "FAILURE") for t in tasks):
                break
            await asyncio.sleep(0.02)
        assert all(t["status"] == "SUCCESS" for t in tasks), tasks
        assert most == {"acc1": 2, "acc2": 2}, most  # both full, neither past its size
        # The first four started at once, two on each (the last two waited in a queue);
        # never more at once than the bot's own slots: it queued none.
        started = sorted(tasks, key=lambda t: t["startTime"])[:4]
        assert sorted(t["properties"]["channelId"] for t in started) == ["acc1"] * 2 + ["acc2"] * 2
        assert not [
            m
            for m in pool.simulator.channel_messages()
            if any(e.get("title") == "Job queued" for e in m.get("embeds", []))
        ]


# -- 7. and 8. the bot's queue and Discord's rate limit ------------------------------------


async def test_the_bots_job_queued_is_not_a_failure(scene: DiscordScene) -> None:
    scene.simulator.job_queued(True)
    task = await scene.admin.finished("imagine", {"prompt": "a queue of boats"})
    assert len(task["imageUrls"]) == 4
    queued = [
        m
        for m in scene.simulator.channel_messages()
        if any(e.get("title") == "Job queued" for e in m.get("embeds", []))
    ]
    assert queued, "the bot did answer Job queued first"


async def test_a_rate_limited_interaction_is_waited_out(scene: DiscordScene) -> None:
    scene.simulator.rate_limit_next(0.3)
    began = time.monotonic()
    task = await scene.admin.finished("imagine", {"prompt": "a patient heron"})
    assert time.monotonic() - began >= 0.3
    assert await _counter(scene, "rate_limited") == 1
    posted = _imagines(scene)
    assert len(posted) == 2 and posted[0]["nonce"] == posted[1]["nonce"]  # the same, again
    assert task["properties"]["channelId"] == "acc1"
