"""OpenAI-style images, driven by the official ``openai`` package against a real mjgate on
loopback: the same tokens, prices and quota as /mj, the grid's separate images, OpenAI's
error shape."""

from __future__ import annotations

import base64
import io
from pathlib import Path
from typing import Any

import httpx
import openai
import pytest
from PIL import Image

from mjgate.domain.pricing import PriceList
from mjgate.domain.tasks import Mode, TaskAction
from support import (
    ADMIN_TOKEN,
    Gateway,
    ServedApp,
    add_user,
    download_image,
    ledger_kinds,
    quota,
    serve_with,
    update_channel,
)
from translator_server import translator_server


def client_for(served: ServedApp, key: str = ADMIN_TOKEN, retries: int = 0) -> openai.AsyncOpenAI:
    # max_retries=0 unless asked: a test sees each answer.
    return openai.AsyncOpenAI(base_url=f"{served.base_url}/v1", api_key=key, max_retries=retries)


async def test_urls_of_the_grids_images_charged_as_an_imagine(served: ServedApp) -> None:
    caller, token = await add_user(served.runtime, "painter", balance=1000)
    async with client_for(served, token) as client:
        answer = await client.images.generate(
            model="midjourney-relax", prompt="a red fox", n=2, size="1792x1024"
        )
    assert answer.data is not None and len(answer.data) == 2
    assert answer.created > 0
    sizes = set()
    for image in answer.data:
        assert image.url is not None and image.b64_json is None
        assert image.revised_prompt == "a red fox --ar 7:4"
        picture = await download_image(image.url)
        sizes.add(picture.size)
    [(width, height)] = sizes
    assert abs(width / height - 7 / 4) < 0.05  # the sandbox rounds its tile sizes
    # One IMAGINE in RELAX, charged at its price, by the user whose token it was.
    async with served.runtime.db.read() as uow:
        tasks = await uow.newest_tasks(caller.user_id, 10)
    [task] = tasks
    assert (task.action, task.mode) == (TaskAction.IMAGINE, Mode.RELAX)
    price = PriceList({}).price_of(TaskAction.IMAGINE, Mode.RELAX)
    assert await ledger_kinds(served.runtime, task.id) == [("charge", -price)]
    assert await quota(served.runtime, caller.user_id) == (1000 - price, 1000 - price)


async def test_b64_json_gives_the_four_images(served: ServedApp) -> None:
    async with client_for(served) as client:
        answer = await client.images.generate(
            prompt="a lighthouse", n=4, response_format="b64_json"
        )
    assert answer.data is not None and len(answer.data) == 4
    pictures = []
    for image in answer.data:
        assert image.url is None and image.b64_json is not None
        picture = Image.open(io.BytesIO(base64.b64decode(image.b64_json)))
        assert picture.format == "PNG" and picture.size[0] == picture.size[1]
        pictures.append(picture.tobytes())
    assert len(set(pictures)) == 4


async def test_models_lists_what_is_offered(served: ServedApp) -> None:
    async with client_for(served) as client:
        models = [m.id async for m in client.models.list()]
        one = await client.models.retrieve("midjourney-fast")
        with pytest.raises(openai.NotFoundError):
            await client.models.retrieve("dall-e-9")
    assert {"midjourney", "midjourney-fast", "midjourney-relax", "midjourney-turbo"} <= set(models)
    assert one.id == "midjourney-fast" and one.owned_by == "mjgate"


def _error(exc: openai.APIStatusError) -> dict[str, Any]:
    body = exc.response.json()
    assert set(body["error"]) >= {"message", "type", "param", "code"}, body
    error: dict[str, Any] = body["error"]
    return error


@pytest.mark.parametrize(
    ("fields", "param"),
    [
        ({"n": 5}, "n"),
        ({"n": 0}, "n"),
        ({"size": "4096x512"}, "size"),
        ({"size": "big"}, "size"),
        ({"response_format": "png"}, "response_format"),
        ({"model": "stable-diffusion"}, "model"),
        ({"prompt": "  "}, "prompt"),
    ],
)
async def test_bad_parameters_are_400_naming_the_param(
    served: ServedApp, fields: dict[str, Any], param: str
) -> None:
    request: dict[str, Any] = {"prompt": "a cat", **fields}
    async with client_for(served) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(**request)
    error = _error(caught.value)
    assert error["param"] == param and error["type"] == "invalid_request_error"
    async with Gateway.connect(served.base_url, ADMIN_TOKEN) as gw:
        assert (await gw.http.get("/mj/task/list")).json() == []  # nothing created


async def test_a_missing_prompt_is_400(served: ServedApp) -> None:
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.post(
            "/v1/images/generations",
            json={"n": 1},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert response.status_code == 400
    assert response.json()["error"]["param"] == "prompt"


async def test_a_bad_key_is_401(served: ServedApp) -> None:
    async with client_for(served, "mjg_not-a-token") as client:
        with pytest.raises(openai.AuthenticationError) as caught:
            await client.images.generate(prompt="a cat")
        with pytest.raises(openai.AuthenticationError):
            await client.models.list()
    assert _error(caught.value)["code"] == "invalid_api_key"
    # No key at all, with a large body declared: refused before a byte of it is read.
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.post(
            "/v1/images/generations",
            content=b"{}",
            headers={"Content-Type": "application/json", "Content-Length": "2"},
        )
        too_big = await http.post(
            "/v1/images/generations",
            content=b"x" * (65 * 1024),
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
        )
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "invalid_api_key"
    assert too_big.status_code == 413
    assert too_big.json()["error"]["type"] == "invalid_request_error"


async def test_no_quota_is_429_insufficient_quota_and_never_retried(served: ServedApp) -> None:
    _caller, token = await add_user(served.runtime, "broke", balance=0)
    async with client_for(served, token) as client:
        with pytest.raises(openai.RateLimitError) as caught:
            await client.images.generate(prompt="a cat")
    assert _error(caught.value)["code"] == "insufficient_quota"
    assert caught.value.response.headers["x-should-retry"] == "false"


async def test_a_banned_word_is_a_content_policy_400(served: ServedApp) -> None:
    word = served.runtime.banned_words.words[0]
    async with client_for(served) as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(prompt=f"a {word} cat")
    assert _error(caught.value)["code"] == "content_policy_violation"


async def test_no_channel_is_503(served: ServedApp) -> None:
    await update_channel(served.runtime, enabled=False)
    async with client_for(served) as client:
        with pytest.raises(openai.InternalServerError) as caught:
            await client.images.generate(prompt="a cat")
        assert [m async for m in client.models.list()] == []
    assert caught.value.status_code == 503
    assert _error(caught.value)["code"] == "no_available_channel"


async def test_a_slow_task_times_out_naming_it_and_goes_on(
    tmp_path: Path, database_url: str
) -> None:
    async with serve_with(tmp_path, database_url, openai_wait_seconds=0.5) as served:
        await update_channel(served.runtime, duration=30)
        # The client's own retries stay on: x-should-retry: false keeps it from a second task.
        async with client_for(served, retries=2) as client:
            with pytest.raises(openai.APIStatusError) as caught:
                await client.images.generate(prompt="a slow cat")
        error = _error(caught.value)
        assert caught.value.status_code == 504 and error["code"] == "timeout"
        assert caught.value.response.headers["x-should-retry"] == "false"
        async with Gateway.connect(served.base_url, ADMIN_TOKEN) as gw:
            task = await gw.fetch(error["task_id"])
            listed = (await gw.http.get("/mj/task/list")).json()
    assert task["id"] in error["message"]
    assert task["status"] in ("SUBMITTED", "IN_PROGRESS")  # still running
    assert len(listed) == 1


async def test_unknown_v1_paths_answer_in_the_openai_shape(served: ServedApp) -> None:
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.get(
            "/v1/chat/completions", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"}
        )
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "unknown_url"


async def test_a_nul_in_the_prompt_is_400_on_both_apis(served: ServedApp) -> None:
    # Found by the OpenAPI fuzz: PostgreSQL refuses NUL in text, which was a 500 on /mj too.
    async with Gateway.connect(served.base_url, ADMIN_TOKEN) as gw:
        mj = await gw.post("/mj/submit/imagine", {"prompt": "a\u0000b"})
        v1 = await gw.post("/v1/images/generations", {"prompt": "a\u0000b"})
    assert mj.status_code == 400 and mj.json()["code"] == 4
    assert v1.status_code == 400 and v1.json()["error"]["type"] == "invalid_request_error"


async def test_a_chinese_prompt_is_translated_and_revised_prompt_says_so(
    tmp_path: Path, database_url: str
) -> None:
    async with (
        translator_server() as translator,
        serve_with(
            tmp_path,
            database_url,
            translate_provider="openai",
            translate_base_url=translator.base_url,
        ) as served,
        client_for(served) as client,
    ):
        answer = await client.images.generate(prompt="一只猫", size="1024x1536")
    assert answer.data is not None
    assert [i.revised_prompt for i in answer.data] == ["a cat --ar 2:3"]
