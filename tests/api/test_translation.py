"""Prompt translation against scripted translators on loopback: OpenAI-compatible chat
completions and DeepL, working and failing (500, a hang, garbage). No outside network."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import pytest

from mjgate.services.jobs import job_for
from support import ADMIN_TOKEN, Gateway, ServedApp, serve_with
from translator_server import translator_server

KEY = "sk-test-translator-key-0123456789"


async def _imagine(served: ServedApp, prompt: str) -> dict[str, Any]:
    async with Gateway.connect(served.base_url, ADMIN_TOKEN) as gw:
        answer = await gw.submit("imagine", {"prompt": prompt})
        submitted = await gw.fetch(answer["result"])
        final = await gw.wait(answer["result"])
    assert final["status"] == "SUCCESS", final
    # promptEn is there from the first fetch: the translation happened at submit.
    assert submitted["promptEn"] == final["promptEn"]
    return final


async def test_an_openai_compatible_translator_translates_the_words_only(
    tmp_path: Path, database_url: str
) -> None:
    prompt = "一只猫 --ar 16:9 --v 7"
    async with (
        translator_server() as translator,
        serve_with(
            tmp_path,
            database_url,
            translate_provider="openai",
            translate_base_url=f"{translator.base_url}/v1",
            translate_key=KEY,
            translate_model="a-model",
        ) as served,
    ):
        task = await _imagine(served, prompt)
        async with served.runtime.db.read() as uow:
            row = await uow.task(task["id"])
        assert row is not None
        sent = job_for(served.runtime, row).prompt
    assert task["prompt"] == prompt
    assert task["promptEn"] == "a cat --ar 16:9 --v 7"
    assert task["properties"]["finalZhPrompt"] == prompt
    assert task["properties"]["translation"] == "done"
    assert task["description"] == f"/imagine {prompt}"
    assert sent == "a cat --ar 16:9 --v 7"  # what the channel gets
    [asked] = translator.asked
    assert asked.path == "/v1/chat/completions"
    assert asked.authorization == f"Bearer {KEY}"
    assert asked.body["model"] == "a-model"
    assert asked.body["messages"][-1] == {"role": "user", "content": "一只猫"}


async def test_deepl_translates_runs_between_weights_links_and_parameters(
    tmp_path: Path, database_url: str
) -> None:
    key_file = tmp_path / "deepl.key"
    key_file.write_text("deepl-key:fx\n")
    prompt = "https://example.com/a.png 一只猫::2 狗::1 --no 红色 --ar 3:2"
    async with (
        translator_server() as translator,
        serve_with(
            tmp_path,
            database_url,
            translate_provider="deepl",
            translate_base_url=translator.base_url,
            translate_key_file=key_file,
        ) as served,
    ):
        task = await _imagine(served, prompt)
    assert task["promptEn"] == "https://example.com/a.png a cat::2 dog::1 --no red --ar 3:2"
    assert task["properties"]["finalZhPrompt"] == prompt
    [asked] = translator.asked
    assert asked.path == "/v2/translate"
    assert asked.authorization == "DeepL-Auth-Key deepl-key:fx"
    assert asked.body == {"text": ["一只猫", "狗", "红色"], "target_lang": "EN-US"}


@pytest.mark.parametrize(
    ("behaviour", "reason"),
    [
        ("500", "the translator answered HTTP 500"),
        ("hang", "the translator did not answer in time"),
        ("garbage", "the translator's answer held no translation"),
        ("not_json", "the translator's answer was not JSON"),
    ],
)
async def test_a_failing_translator_fails_nothing(
    tmp_path: Path,
    database_url: str,
    behaviour: str,
    reason: str,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    prompt = "一只猫 --ar 16:9"
    async with (
        translator_server(behaviour) as translator,
        serve_with(
            tmp_path,
            database_url,
            translate_provider="openai",
            translate_base_url=translator.base_url,
            translate_key=KEY,
            translate_timeout=0.5,
        ) as served,
    ):
        started = time.monotonic()
        task = await _imagine(served, prompt)
        took = time.monotonic() - started
    assert task["promptEn"] == prompt  # sent as written
    assert task["properties"]["finalZhPrompt"] == ""
    assert task["properties"]["translation"] == f"failed: {reason}"
    assert took < 10  # bounded by the timeout, not by the translator
    assert KEY not in caplog.text
    assert KEY not in str(task)


async def test_banned_words_are_checked_on_the_translation(
    tmp_path: Path, database_url: str
) -> None:
    banned = tmp_path / "banned.txt"
    banned.write_text("dog\n")
    async with (
        translator_server() as translator,
        serve_with(
            tmp_path,
            database_url,
            translate_provider="deepl",
            translate_base_url=translator.base_url,
            translate_key="k",
            banned_words_file=banned,
        ) as served,
        Gateway.connect(served.base_url, ADMIN_TOKEN) as gw,
    ):
        response = await gw.post("/mj/submit/imagine", {"prompt": "狗 --ar 1:1"})
        listed = await gw.post("/mj/task/list-by-condition", {"ids": []})
    answer = response.json()
    assert answer["code"] == 24, answer
    assert answer["properties"] == {"promptEn": "dog --ar 1:1", "bannedWord": "dog"}
    assert listed.json() == []  # nothing created


async def test_off_by_default_and_english_is_never_sent(tmp_path: Path, database_url: str) -> None:
    async with serve_with(tmp_path / "off", database_url) as served:
        task = await _imagine(served, "一只猫")
    assert task["promptEn"] == "一只猫"
    assert task["properties"]["finalZhPrompt"] == ""
    assert "translation" not in task["properties"]
    async with (
        translator_server() as translator,
        serve_with(
            tmp_path / "on",
            database_url,
            translate_provider="openai",
            translate_base_url=translator.base_url,
        ) as served,
    ):
        task = await _imagine(served, "a cat --ar 16:9")
    assert translator.asked == []
    assert "translation" not in task["properties"]
