"""What real clients need of the task object and of submits (PROTOCOL §2, §4).

- A WeChat chat-bot plugin puts a JSON object of the chat and the user in ``state``.
- The most-deployed chat UI tests ``imageUrls`` / ``videoUrls`` for truthiness (``[]`` is
  truthy in JavaScript) and renders ``properties.finalZhPrompt`` (crashing when it is missing).
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from support import Gateway, button_id, png_data_url

# What the plugin sends from a group chat: 368 characters.
GROUP_STATE = json.dumps(
    {
        "chat": {"type": "group", "id": "@@9f3c" + "0" * 58, "name": "设计讨论组 Design Crew"},
        "user": {"id": "@b1a2" + "1" * 59, "nickname": "小明 Xiao Ming", "isAdmin": False},
        "reply": {"quote": True, "lang": "zh-CN"},
        "ts": 1764700000,
    },
    ensure_ascii=False,
)


def assert_no_empty_list(task: dict[str, Any]) -> None:
    for field in ("imageUrls", "videoUrls"):
        assert task.get(field) != [], (field, task)
        if field in task:
            assert all(entry["url"] for entry in task[field]), task
    assert isinstance(task["properties"]["finalZhPrompt"], str), task


async def test_a_group_chat_state_is_accepted_and_echoed(gateway: Gateway) -> None:
    assert len(GROUP_STATE) >= 300
    # Fast path (plain imagine) and FastAPI path (describe) take the same limit.
    imagine = await gateway.submit("imagine", {"prompt": "a fox", "state": GROUP_STATE})
    describe = await gateway.submit("describe", {"base64": png_data_url(), "state": GROUP_STATE})
    for answer in (imagine, describe):
        task = await gateway.wait(answer["result"])
        assert task["state"] == GROUP_STATE
        assert json.loads(task["state"])["user"]["nickname"] == "小明 Xiao Ming"


@pytest.mark.parametrize("route", ["imagine", "describe"])
async def test_state_of_exactly_4096_characters_is_accepted(gateway: Gateway, route: str) -> None:
    body: dict[str, Any] = {"state": "状" * 4096}
    body |= {"prompt": "a fox"} if route == "imagine" else {"base64": png_data_url()}
    answer = await gateway.submit(route, body)
    assert (await gateway.fetch(answer["result"]))["state"] == "状" * 4096


async def test_no_task_answer_carries_an_empty_url_list(gateway: Gateway) -> None:
    grid = await gateway.finished("imagine", {"prompt": "a lighthouse at dusk"})
    assert len(grid["imageUrls"]) == 4 and "videoUrls" not in grid
    upscale = await gateway.finished(
        "action", {"taskId": grid["id"], "customId": button_id(grid, "U1")}
    )
    # An upscale is one image: no grid list at all, the image in imageUrl.
    assert "imageUrls" not in upscale and upscale["imageUrl"]
    video = await gateway.finished(
        "action", {"taskId": upscale["id"], "customId": button_id(upscale, "Animate (Low motion)")}
    )
    assert video["videoUrls"] == [{"url": video["videoUrl"]}]
    describe = await gateway.finished("describe", {"base64": png_data_url()})
    failed = await gateway.submit("imagine", {"prompt": "cancel me"})
    await gateway.post(f"/mj/task/{failed['result']}/cancel")
    cancelled = await gateway.wait(failed["result"])
    assert cancelled["status"] == "CANCEL"
    ids = [grid["id"], upscale["id"], video["id"], describe["id"], cancelled["id"]]
    # Every read path the clients use: fetch, list-by-condition, list.
    listed = (await gateway.post("/mj/task/list-by-condition", {"ids": ids})).json()
    newest = (await gateway.http.get("/mj/task/list")).json()
    assert len(listed) == 5 and len(newest) >= 5
    for task in [*[await gateway.fetch(i) for i in ids], *listed, *newest]:
        assert_no_empty_list(task)


async def test_final_zh_prompt_is_a_string_on_every_task(gateway: Gateway) -> None:
    for route, body in [
        ("imagine", {"prompt": "a red fox"}),
        ("shorten", {"prompt": "a very very detailed red fox in the snow"}),
        ("describe", {"base64": png_data_url()}),
    ]:
        answer = await gateway.submit(route, body)
        waiting = await gateway.fetch(answer["result"])  # also before it finishes
        assert waiting["properties"]["finalZhPrompt"] == "", waiting
        done = await gateway.wait(answer["result"])
        assert done["properties"]["finalZhPrompt"] == "", done
