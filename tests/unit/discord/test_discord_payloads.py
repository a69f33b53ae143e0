"""DISCORD.md §2: interaction bodies, the command index, and the modals the bot opens."""

from __future__ import annotations

import random
from typing import Any

import pytest

from mjgate.providers.discord.payloads import (
    DISCORD_EPOCH_MS,
    CommandIndex,
    CommandMissing,
    InteractionContext,
    attachment_option,
    attachment_ref,
    button_click,
    dimensions_option,
    iframe_job,
    iframe_token,
    link_option,
    modal_inputs,
    modal_submit,
    new_nonce,
    prompt_option,
    slash_command,
)

MJ = "936929561302675456"
NIJI = "1022952195194359889"
CTX = InteractionContext(
    guild_id="1180000000000000001",
    channel_id="1180000000000000002",
    application_id=MJ,
    session_id="5f2d0e1c9a8b7c6d5e4f3a2b1c0d9e8f",
)


def _imagine(app: str = MJ, command_id: str = "938956540159881230") -> dict[str, Any]:
    return {
        "id": command_id,
        "type": 1,
        "application_id": app,
        "version": "1237876415471554623",
        "name": "imagine",
        "description": "Create images with Midjourney",
        "options": [
            {"type": 3, "name": "prompt", "description": "The prompt to imagine", "required": True}
        ],
        "dm_permission": True,
        "contexts": [0, 1, 2],
        "integration_types": [0, 1],
        "global_popularity_rank": 1,
    }


INDEX: dict[str, Any] = {
    "applications": [{"id": MJ, "name": "Midjourney Bot"}, {"id": NIJI, "name": "niji・journey"}],
    "application_commands": [
        _imagine(),
        _imagine(NIJI, "1023054140580057099"),
        {
            "id": "1092492867185950852",
            "type": 1,
            "application_id": MJ,
            "version": "1237876415471554625",
            "name": "describe",
            "options": [
                {"type": 11, "name": "image", "description": "The image to describe"},
                {"type": 3, "name": "link", "description": "…"},
            ],
        },
        {"id": "972289487818334209", "application_id": MJ, "version": "1", "name": "fast"},
        {"id": "1111", "type": 3, "application_id": MJ, "version": "2", "name": "imagine"},
        {"id": "2222", "type": 1, "application_id": "555", "version": "3", "name": "play"},
    ],
    "version": "1240000000000000000",
}


def test_nonce_is_a_snowflake_of_now() -> None:
    now_ms = 1_764_863_180_123
    nonce = new_nonce(now_ms, random.Random(7))
    assert nonce.isdigit()
    assert (int(nonce) >> 22) + DISCORD_EPOCH_MS == now_ms
    assert new_nonce(now_ms, random.Random(8)) != nonce


def test_index_reads_this_applications_slash_commands_only() -> None:
    index = CommandIndex.from_json(INDEX, MJ)
    imagine = index.command("imagine")
    assert (imagine.id, imagine.version, imagine.application_id) == (
        "938956540159881230",
        "1237876415471554623",
        MJ,
    )
    assert imagine.options[0]["name"] == "prompt"
    assert index.command("fast").options == ()
    with pytest.raises(CommandMissing) as missing:
        index.command("play")
    assert missing.value.name == "play"
    assert isinstance(missing.value, LookupError)
    assert CommandIndex.from_json(INDEX, NIJI).command("imagine").id == "1023054140580057099"


@pytest.mark.parametrize(
    ("index", "words"),
    [
        ([], "not a JSON object"),
        ({"applications": []}, "application_commands"),
        ({"application_commands": ["x"]}, "application_commands[0] is not an object"),
        ({"application_commands": [{**_imagine(), "id": 938}]}, "application_commands[0].id"),
        ({"application_commands": [{**_imagine(), "version": None}]}, ".version"),
        ({"application_commands": [{**_imagine(), "options": "prompt"}]}, ".options"),
        ({"application_commands": [{**_imagine(), "type": "1"}]}, ".type"),
        ({"application_commands": [{"id": "1", "name": "x"}]}, ".application_id is missing"),
    ],
)
def test_malformed_index_is_refused(index: Any, words: str) -> None:
    with pytest.raises(ValueError, match=words.replace("[", r"\[").replace("]", r"\]")):
        CommandIndex.from_json(index, MJ)


def test_slash_command_body() -> None:
    imagine = CommandIndex.from_json(INDEX, MJ).command("imagine")
    body = slash_command(CTX, "1312345678901234567", imagine, [prompt_option("a red fox --ar 2:3")])
    assert body == {
        "type": 2,
        "application_id": MJ,
        "guild_id": CTX.guild_id,
        "channel_id": CTX.channel_id,
        "session_id": CTX.session_id,
        "nonce": "1312345678901234567",
        "data": {
            "version": "1237876415471554623",
            "id": "938956540159881230",
            "name": "imagine",
            "type": 1,
            "options": [{"type": 3, "name": "prompt", "value": "a red fox --ar 2:3"}],
            "application_command": _imagine(),
            "attachments": [],
        },
    }


def test_describe_with_an_upload_and_blend_options() -> None:
    describe = CommandIndex.from_json(INDEX, MJ).command("describe")
    ref = attachment_ref(0, "fox.png", "a1b2c3/fox.png")
    body = slash_command(CTX, "1", describe, [attachment_option("image", 0)], [ref])
    assert body["data"]["options"] == [{"type": 11, "name": "image", "value": 0}]
    assert body["data"]["attachments"] == [
        {"id": "0", "filename": "fox.png", "uploaded_filename": "a1b2c3/fox.png"}
    ]
    assert link_option("https://x/y.png") == {"type": 3, "name": "link", "value": "https://x/y.png"}
    assert dimensions_option("2:3")["value"] == "--ar 2:3"
    assert dimensions_option("--ar 16:9")["value"] == "--ar 16:9"


def test_button_click_body() -> None:
    body = button_click(CTX, "42", "1312000000000000009", 64, "MJ::JOB::upsample::2::abc")
    assert body["type"] == 3
    assert body["message_id"] == "1312000000000000009"
    assert body["message_flags"] == 64
    assert body["data"] == {"component_type": 2, "custom_id": "MJ::JOB::upsample::2::abc"}
    assert body["nonce"] == "42"


MODAL_EVENT: dict[str, Any] = {
    "id": "1312000000000000077",
    "nonce": "1312000000000000070",
    "channel_id": CTX.channel_id,
    "title": "Remix Prompt",
    "custom_id": "MJ::RemixModal::0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0::1::1",
    "application": {"id": MJ, "name": "Midjourney Bot"},
    "components": [
        {
            "type": 1,
            "components": [
                {
                    "type": 4,
                    "custom_id": "MJ::RemixModal::new_prompt",
                    "style": 2,
                    "label": "Prompt",
                    "value": "a red fox --ar 2:3",
                }
            ],
        },
        {"type": 18, "label": "x", "component": {"type": 4, "custom_id": "MJ::x", "value": "k"}},
    ],
}


def test_modal_is_read_and_filled() -> None:
    form = modal_inputs(MODAL_EVENT)
    assert form.modal_id == "1312000000000000077"
    assert form.custom_id.startswith("MJ::RemixModal::")
    assert form.prompt_input_id == "MJ::RemixModal::new_prompt"
    inputs = form.filled("a blue fox")
    assert inputs == {"MJ::RemixModal::new_prompt": "a blue fox", "MJ::x": "k"}
    body = modal_submit(CTX, "9", form.modal_id, form.custom_id, inputs)
    assert body["type"] == 5
    assert body["data"]["id"] == form.modal_id
    assert body["data"]["components"][0] == {
        "type": 1,
        "components": [
            {"type": 4, "custom_id": "MJ::RemixModal::new_prompt", "value": "a blue fox"}
        ],
    }
    with pytest.raises(ValueError):
        modal_inputs({"custom_id": "x"})


def test_iframe_token_and_job() -> None:
    assert iframe_token({"custom_id": "MJ::iframe::tok-123"}) == "tok-123"
    with pytest.raises(ValueError):
        iframe_token({"custom_id": "MJ::Captcha"})
    assert iframe_job("tok", "data:image/png;base64,iVBOR", "a fox") == {
        "customId": "tok",
        "mask": "iVBOR",
        "prompt": "a fox",
        "userId": "0",
        "username": "0",
    }
    assert iframe_job("tok", "iVBOR", "p")["mask"] == "iVBOR"
