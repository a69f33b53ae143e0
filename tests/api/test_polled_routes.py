"""Fetch and list-by-condition served before FastAPI's routing (api.polled_routes).

The fast path must answer exactly what the FastAPI routes answer, under every mode prefix,
and authenticate on every read: a token revoked by another process fails at once.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from mjgate.api.polled_routes import fetched_task_id, plain_ids, unprefixed
from mjgate.services import accounts
from mjgate.services.runtime import Runtime
from support import Gateway, ServedApp, runtime_with

PREFIXES = ("/mj", "/mj-fast/mj", "/mj-relax/mj", "/mj-turbo/mj")


@pytest.mark.parametrize(
    ("path", "expected"),
    [
        ("/mj-fast/mj/task/1/fetch", "/mj/task/1/fetch"),
        ("/mj-turbo/mj/task/list-by-condition", "/mj/task/list-by-condition"),
        ("/mj-fastmj/task/1/fetch", "/mj-fastmj/task/1/fetch"),
        ("/mj-slow/mj/task/1/fetch", "/mj-slow/mj/task/1/fetch"),
        ("/mj/task/1/fetch", "/mj/task/1/fetch"),
    ],
)
def test_unprefixed_strips_only_the_mode_prefixes(path: str, expected: str) -> None:
    assert unprefixed(path) == expected


@pytest.mark.parametrize(
    ("path", "task_id"),
    [
        ("/mj/task/1712158011464906/fetch", "1712158011464906"),
        ("/mj/task/abc/fetch", "abc"),
        ("/mj/task//fetch", None),
        ("/mj/task/fetch", None),
        ("/mj/task/a/b/fetch", None),
        ("/mj/task/1/fetch/", None),
        ("/mj/tasks/1/fetch", None),
    ],
)
def test_fetched_task_id_matches_one_segment(path: str, task_id: str | None) -> None:
    assert fetched_task_id(path) == task_id


@pytest.mark.parametrize(
    ("body", "ids"),
    [
        (b'{"ids": ["1", 2]}', ["1", 2]),
        (b"{}", []),
        (b'{"ids": [], "other": 1}', []),
        (b'{"ids": [true]}', None),
        (b'{"ids": [1.5]}', None),
        (b'{"ids": "1"}', None),
        (b'{"ids": null}', None),
        (b"[]", None),
        (b"", None),
        (b"{'ids': []}", None),
    ],
)
def test_plain_ids_leaves_anything_unusual_to_fastapi(
    body: bytes, ids: list[str | int] | None
) -> None:
    assert plain_ids(body) == ids


async def _finished(gateway: Gateway, prompt: str) -> dict[str, Any]:
    return await gateway.finished("imagine", {"prompt": prompt})


async def test_every_prefix_answers_the_same_bytes(gateway: Gateway) -> None:
    task = await _finished(gateway, "a fox under every prefix")
    fetched = {p: await gateway.http.get(f"{p}/task/{task['id']}/fetch") for p in PREFIXES}
    listed = {
        p: await gateway.post(f"{p}/task/list-by-condition", {"ids": [task["id"]]})
        for p in PREFIXES
    }
    assert {r.status_code for r in [*fetched.values(), *listed.values()]} == {200}
    assert len({r.content for r in fetched.values()}) == 1
    assert len({r.content for r in listed.values()}) == 1
    assert listed["/mj"].content == b"[" + fetched["/mj"].content + b"]"
    assert fetched["/mj"].headers["content-type"] == "application/json"
    assert orjson.loads(fetched["/mj"].content) == task


async def test_a_browser_is_answered_by_the_routes_with_cors_and_the_same_bytes(
    gateway: Gateway,
) -> None:
    task = await _finished(gateway, "a fox seen from a browser")
    browser = {"Origin": "https://app.example"}
    answers = {}
    for who, headers in (("fast", {}), ("browser", browser)):
        answers[who] = (
            await gateway.http.get(f"/mj/task/{task['id']}/fetch", headers=headers),
            await gateway.http.post(
                "/mj/task/list-by-condition", json={"ids": [task["id"]]}, headers=headers
            ),
        )
    for fast, seen_by_browser in zip(answers["fast"], answers["browser"], strict=True):
        assert fast.status_code == seen_by_browser.status_code == 200
        assert orjson.loads(fast.content) == orjson.loads(seen_by_browser.content)
        assert "access-control-allow-origin" not in fast.headers
        assert seen_by_browser.headers["access-control-allow-origin"] == "*"


async def test_an_unexpected_failure_of_a_polled_read_is_the_500_envelope(
    gateway: Gateway, served: ServedApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(*_args: object) -> None:
        raise RuntimeError("the disk caught fire")

    monkeypatch.setattr(served.runtime.db.reads, "holder_and_tasks", broken)
    monkeypatch.setattr(served.runtime.db.reads, "holder_and_versions", broken)
    for answer in (
        await gateway.http.get("/mj/task/1712158011464906/fetch"),
        await gateway.post("/mj/task/list-by-condition", {"ids": ["1712158011464906"]}),
    ):
        assert answer.status_code == 500, answer.text
        assert answer.json() == {
            "code": 9,
            "description": "internal_error",
            "result": None,
            "properties": {"message": "The server failed; the error was logged."},
        }


async def test_fastapi_answers_the_bodies_the_fast_path_leaves(gateway: Gateway) -> None:
    task = await _finished(gateway, "a fox read twice")
    fast = await gateway.post("/mj/task/list-by-ids", {"ids": [task["id"], "404"]})
    # A form Content-Type and a float id: the fast path hands this to FastAPI.
    slow = await gateway.http.post(
        "/mj/task/list-by-ids",
        content=orjson.dumps({"ids": [task["id"], 404.0]}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert fast.status_code == slow.status_code == 200, slow.text
    assert orjson.loads(fast.content) == orjson.loads(slow.content) == [task]


async def test_a_bad_token_wins_over_a_bad_body(served: ServedApp) -> None:
    async with Gateway.connect(served.base_url, "mjg_not-a-token") as stranger:
        for body in ({"ids": "not a list"}, {"ids": [1.5]}, {"ids": list(range(2000))}):
            answer = await stranger.post("/mj/task/list-by-condition", body)
            assert answer.status_code == 401, (body, answer.text)
            assert answer.json()["description"] == "unauthorized"
        fetched = await stranger.http.get("/mj/task/not-digits/fetch")
        assert fetched.status_code == 401


async def test_a_token_revoked_in_another_process_fails_at_once(served: ServedApp) -> None:
    rt = served.runtime
    await accounts.create_user(rt, "dora")
    _, token = await accounts.create_token(rt, "dora")
    async with Gateway.connect(served.base_url, token) as dora:
        assert (await dora.post("/mj/task/list-by-condition", {"ids": ["1"]})).json() == []
        assert (await dora.http.get("/mj/task/1/fetch")).status_code == 404
        # Another runtime on the same database stands for `mjgate token revoke`.
        async with runtime_with(rt.settings) as cli:
            await accounts.revoke_token(cli, token)
        for answer in (
            await dora.post("/mj/task/list-by-condition", {"ids": ["1"]}),
            await dora.http.get("/mj/task/1/fetch"),
        ):
            # Revoked reads as unknown: the same 401 a guessed token gets.
            assert answer.status_code == 401, answer.text
            assert answer.json()["description"] == "unauthorized"


async def _set_prompt(rt: Runtime, task_id: str, prompt: str, updated_at: int) -> None:
    async with rt.db.write() as uow:
        task = await uow.task(task_id)
        assert task is not None
        task.prompt = prompt
        task.updated_at = updated_at


async def test_a_listed_final_view_is_kept_only_while_its_row_is_unchanged(
    gateway: Gateway, served: ServedApp
) -> None:
    rt = served.runtime
    task = await _finished(gateway, "a fox kept")
    first = await gateway.post("/mj/task/list-by-condition", {"ids": [task["id"]]})
    async with rt.db.read() as uow:
        row = await uow.task(task["id"])
        assert row is not None
        kept_at = row.updated_at
    # Changed behind the cache's back (same updated_at): the kept view is what answers,
    # which shows the list came from the cache and not from the row.
    await _set_prompt(rt, task["id"], "a fox unseen", kept_at)
    again = await gateway.post("/mj/task/list-by-condition", {"ids": [task["id"]]})
    assert first.content == again.content
    assert again.json()[0]["prompt"] == "a fox kept"
    # No writer changes a final task; if one ever does, it moves updated_at with it.
    await _set_prompt(rt, task["id"], "a fox changed", rt.clock() + 1000)
    changed = await gateway.post("/mj/task/list-by-condition", {"ids": [task["id"]]})
    assert changed.json()[0]["prompt"] == "a fox changed"


async def test_lists_keep_the_order_asked_and_drop_others_tasks(
    gateway: Gateway, served: ServedApp
) -> None:
    first = await _finished(gateway, "a fox first")
    second = await _finished(gateway, "a fox second")
    rt = served.runtime
    await accounts.create_user(rt, "erin")
    _, token = await accounts.create_token(rt, "erin")
    ids = [second["id"], "12", first["id"], int(second["id"])]
    listed = await gateway.post("/mj/task/list-by-condition", {"ids": ids})
    assert [t["id"] for t in listed.json()] == [second["id"], first["id"]]
    async with Gateway.connect(served.base_url, token) as erin:
        assert (await erin.post("/mj/task/list-by-condition", {"ids": ids})).json() == []
        assert (await erin.http.get(f"/mj/task/{first['id']}/fetch")).status_code == 404
