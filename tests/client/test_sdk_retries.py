"""Retries: a request is tried again only when nothing was made, and a submit is never sent
twice. Faults come from a scripted server on loopback (23, 429, 5xx, a lost answer, a refused
connection); a real full queue comes from mjgate itself. The clients' sleep is injected, so
the waits they chose are seen, and no test sleeps them.
"""

from __future__ import annotations

import asyncio
import inspect
import random
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from mjgate.client import (
    AsyncClient,
    Client,
    QueueFull,
    RateLimited,
    RetryPolicy,
    ServerFailed,
    ServerUnreachable,
    SubmitOutcomeUnknown,
    TaskNotFound,
    TaskStatus,
)
from mjgate.services import accounts
from processes import free_port
from scripted_server import Reply, ScriptedServer, envelope, task_json
from support import ADMIN_TOKEN, ServedApp

TASK_ID = "1764700000123456"
IMAGINE = "/mj/submit/imagine"
FETCH = f"/mj/task/{TASK_ID}/fetch"
ACCEPTED = envelope(1, "Submit success", TASK_ID)
FETCHED = Reply(200, task_json(TASK_ID))
QUEUE_FULL = Reply(
    200,
    {
        "code": 23,
        "description": "Queue is full, please try again later",
        "result": None,
        "properties": {},
    },
    {"Retry-After": "5"},
)
LIMITED = Reply(
    429, {"code": 23, "description": "rate_limited", "properties": {}}, {"Retry-After": "2"}
)
OOPS = Reply(500, {"code": 9, "description": "internal_error", "properties": {}})
BAD_GATEWAY = Reply(502, raw=b"<html>Bad Gateway</html>")
LOST = Reply(200, {"code": 1, "description": "Submit success", "result": TASK_ID}, delay=2.0)

KINDS = ["sync", "async"]


@pytest.fixture
async def scripted() -> AsyncIterator[ScriptedServer]:
    server = ScriptedServer()
    await server.start()
    yield server
    await server.stop()


async def run(
    kind: str, base_url: str, op: Callable[[Any], Any], sleeps: list[float], attempts: int = 4
) -> Any:
    """``op(client)`` with a sync or an async client whose sleeps are recorded, not slept."""
    policy = RetryPolicy(attempts=attempts, base=0.5, max_delay=4, rng=random.Random(7))
    if kind == "sync":

        def go() -> Any:
            with Client(base_url, "tok", retry=policy, sleep=sleeps.append, timeout=0.5) as mj:
                return op(mj)

        return await asyncio.to_thread(go)

    async def record(seconds: float) -> None:
        sleeps.append(seconds)

    async with AsyncClient(base_url, "tok", retry=policy, sleep=record, timeout=0.5) as mj:
        result = op(mj)
        return await result if inspect.isawaitable(result) else result


@pytest.mark.parametrize("kind", KINDS)
async def test_a_full_queue_and_a_rate_limit_are_tried_again(
    kind: str, scripted: ScriptedServer
) -> None:
    scripted.script = {IMAGINE: [QUEUE_FULL, LIMITED, ACCEPTED], FETCH: [FETCHED]}
    sleeps: list[float] = []
    task = await run(kind, scripted.url, lambda mj: mj.imagine("a cat"), sleeps)
    assert task.id == TASK_ID and task.status is TaskStatus.SUCCESS
    assert scripted.hits[IMAGINE] == 3  # two refusals that made nothing, then the one task
    assert sleeps == [5.0, 2.0]  # Retry-After honoured


@pytest.mark.parametrize("kind", KINDS)
async def test_without_retry_after_the_waits_grow_with_jitter(
    kind: str, scripted: ScriptedServer
) -> None:
    scripted.script = {IMAGINE: [envelope(23, "Queue is full, please try again later")]}
    sleeps: list[float] = []
    with pytest.raises(QueueFull) as full:
        await run(kind, scripted.url, lambda mj: mj.imagine("a cat"), sleeps, attempts=5)
    assert full.value.code == 23
    assert scripted.hits[IMAGINE] == 5 and len(sleeps) == 4
    for n, waited in enumerate(sleeps, 1):
        ceiling = min(4, 0.5 * 2 ** (n - 1))
        assert ceiling / 2 <= waited <= ceiling
    assert len(set(sleeps)) == 4


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize(
    "reply", [OOPS, BAD_GATEWAY, LOST], ids=["500 internal_error", "502 html", "answer lost"]
)
async def test_a_submit_whose_answer_was_lost_is_never_sent_again(
    kind: str, reply: Reply, scripted: ScriptedServer
) -> None:
    scripted.script = {IMAGINE: [reply, ACCEPTED], FETCH: [FETCHED]}
    sleeps: list[float] = []
    with pytest.raises(SubmitOutcomeUnknown, match="may exist") as unknown:
        await run(kind, scripted.url, lambda mj: mj.imagine("a cat"), sleeps)
    assert unknown.value.route == IMAGINE
    assert scripted.hits[IMAGINE] == 1 and sleeps == []


@pytest.mark.parametrize("kind", KINDS)
async def test_a_refusal_is_not_a_lost_answer(kind: str, scripted: ScriptedServer) -> None:
    """503 no_available_channel made nothing, but it will not pass by itself: raised at once."""
    scripted.script = {
        IMAGINE: [Reply(503, {"code": 9, "description": "no_available_channel", "properties": {}})]
    }
    sleeps: list[float] = []
    with pytest.raises(ServerFailed) as failed:
        await run(kind, scripted.url, lambda mj: mj.imagine("a cat"), sleeps)
    assert failed.value.description == "no_available_channel"
    assert scripted.hits[IMAGINE] == 1 and sleeps == []


@pytest.mark.parametrize("kind", KINDS)
async def test_reads_are_tried_again_after_5xx_and_lost_answers(
    kind: str, scripted: ScriptedServer
) -> None:
    scripted.script = {FETCH: [OOPS, BAD_GATEWAY, Reply(200, task_json(TASK_ID), delay=2), FETCHED]}
    sleeps: list[float] = []
    task = await run(kind, scripted.url, lambda mj: mj.fetch(TASK_ID), sleeps)
    assert task.status is TaskStatus.SUCCESS
    assert scripted.hits[FETCH] == 4 and len(sleeps) == 3


@pytest.mark.parametrize("kind", KINDS)
async def test_reads_give_up_after_the_attempts(kind: str, scripted: ScriptedServer) -> None:
    scripted.script = {FETCH: [OOPS], "/mj/task/list": [LIMITED]}
    sleeps: list[float] = []
    with pytest.raises(ServerFailed):
        await run(kind, scripted.url, lambda mj: mj.fetch(TASK_ID), sleeps, attempts=3)
    assert scripted.hits[FETCH] == 3
    with pytest.raises(RateLimited):
        await run(kind, scripted.url, lambda mj: mj.list_tasks(), sleeps, attempts=2)
    assert scripted.hits["/mj/task/list"] == 2


@pytest.mark.parametrize("kind", KINDS)
async def test_a_connection_never_made_is_tried_again(kind: str) -> None:
    sleeps: list[float] = []
    closed = f"http://127.0.0.1:{free_port()}"
    with pytest.raises(ServerUnreachable):
        await run(kind, closed, lambda mj: mj.imagine("a cat"), sleeps, attempts=3)
    assert len(sleeps) == 2


async def test_a_real_full_queue_is_waited_out(served: ServedApp) -> None:
    """mjgate with one slot and no queue: the second imagine is answered 23 with Retry-After;
    the client waits (here: cancels the first task instead of sleeping) and gets in, and
    exactly two tasks exist."""
    rt = served.runtime
    await accounts.set_channel_enabled(rt, "sandbox", False, "test")
    await accounts.add_channel(
        rt, "tiny", "sandbox", core_size=1, queue_size=0, config={"duration": 30}
    )
    sleeps: list[float] = []

    def scenario() -> tuple[str, str, list[str]]:
        with Client(served.base_url, ADMIN_TOKEN) as first:
            taker = first.imagine("the slot taker")

        def wait_it_out(seconds: float) -> None:
            sleeps.append(seconds)
            first_client.cancel(taker)

        with (
            Client(served.base_url, ADMIN_TOKEN) as first_client,
            Client(served.base_url, ADMIN_TOKEN, sleep=wait_it_out) as mj,
        ):
            second = mj.imagine("the one that waits")
            return taker.id, second.id, [t.id for t in mj.list_tasks()]

    taker, second, listed = await asyncio.to_thread(scenario)
    assert sleeps == [5.0]
    assert sorted(listed) == sorted([taker, second])


@pytest.mark.parametrize("kind", KINDS)
async def test_a_made_task_keeps_its_id_when_the_read_after_fails(
    kind: str, scripted: ScriptedServer
) -> None:
    scripted.script = {
        IMAGINE: [ACCEPTED],
        "/mj/submit/action": [envelope(21, "Waiting for window confirm", TASK_ID)],
        FETCH: [OOPS],
    }
    sleeps: list[float] = []
    task = await run(kind, scripted.url, lambda mj: mj.imagine("a cat"), sleeps, attempts=2)
    assert (task.id, task.status, task.answer.code) == (TASK_ID, TaskStatus.NOT_START, 1)
    modal = await run(kind, scripted.url, lambda mj: mj.action("1", "MJ::CustomZoom::h"), sleeps)
    assert (modal.id, modal.status) == (TASK_ID, TaskStatus.MODAL)
    assert scripted.hits[IMAGINE] == 1 and scripted.hits["/mj/submit/action"] == 1


def files_under(root: Path) -> list[str]:
    return sorted(path.name for path in root.rglob("*") if path.is_file())


async def test_a_hostile_task_id_cannot_steer_a_download(
    scripted: ScriptedServer, tmp_path: Path
) -> None:
    evil = "../../escaped"
    shown = {**task_json(evil), "imageUrl": f"{scripted.url}/img.png", "videoUrl": None}
    scripted.script = {
        "/mj/task/x/fetch": [Reply(200, shown)],
        "/img.png": [
            Reply(200, raw=b"\x89PNG\r\n\x1a\nfake", headers={"Content-Type": "image/png"})
        ],
    }
    sleeps: list[float] = []
    folder = tmp_path / "a" / "b"
    files = await run("sync", scripted.url, lambda mj: mj.fetch("x").download(folder), sleeps)
    assert [f.parent for f in files] == [folder] and files[0].name == "______escaped.png"
    assert files_under(tmp_path) == ["______escaped.png"]


@pytest.mark.parametrize("kind", KINDS)
async def test_other_servers_ways_of_saying_no_such_task(
    kind: str, scripted: ScriptedServer
) -> None:
    """midjourney-proxy answers an unknown task with 200 and no body, or null."""
    scripted.script = {
        "/mj/task/a/fetch": [Reply(200, raw=b"")],
        "/mj/task/b/fetch": [Reply(200, raw=b"null")],
        "/mj/task/c/fetch": [Reply(200, raw=b"<html>oops</html>")],
    }
    sleeps: list[float] = []
    with pytest.raises(TaskNotFound):
        await run(kind, scripted.url, lambda mj: mj.fetch("a"), sleeps)
    with pytest.raises(TaskNotFound):
        await run(kind, scripted.url, lambda mj: mj.fetch("b"), sleeps)
    with pytest.raises(ServerFailed, match="oops"):
        await run(kind, scripted.url, lambda mj: mj.fetch("c"), sleeps)
