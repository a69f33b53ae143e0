"""The simulator's REST side: auth, the command index, interaction validation (stale
versions, channels, sessions), 429 scripting, uploads, recent messages and the CDN."""

from __future__ import annotations

import asyncio
import io
import json
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from discord_sim_support import (
    MJ_APP,
    RawDiscord,
    local_url,
    raw_discord,
    running_simulator,
)
from mjgate.discord_sim import Simulator

NAMES = {"imagine", "describe", "blend", "shorten", "show", "info", "settings", "fast", "relax"}


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running_simulator() as simulator:
        yield simulator


async def test_unknown_token_and_missing_user_agent_are_refused(sim: Simulator) -> None:
    index = f"{sim.base_url}/api/v9/guilds/{sim.account.guild_id}/application-command-index"
    async with httpx.AsyncClient() as http:
        wrong = await http.get(index, headers={"Authorization": "Bearer sim-token"})
        assert wrong.status_code == 401
        assert wrong.json() == {"message": "401: Unauthorized", "code": 0}
        bare = await http.get(index, headers={"Authorization": "sim-token", "User-Agent": ""})
        assert bare.status_code == 400


async def test_command_index_lists_both_applications(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        answer = await discord.http.get(f"/guilds/{discord.guild_id}/application-command-index")
        body = answer.json()
    apps = {app["id"] for app in body["applications"]}
    assert apps == {MJ_APP, "1022952195194359889"}
    for app in apps:
        names = {c["name"] for c in body["application_commands"] if c["application_id"] == app}
        assert names >= NAMES
    imagine = next(c for c in body["application_commands"] if c["name"] == "imagine")
    assert isinstance(imagine["id"], str) and isinstance(imagine["version"], str)
    assert imagine["options"][0]["name"] == "prompt" and imagine["options"][0]["type"] == 3


async def test_a_stale_command_version_answers_50035(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        old = (await discord.commands())["imagine"]
        sim.republish_commands()
        payload = discord.base(2, discord.nonce())
        payload["data"] = {
            "id": old["id"],
            "version": old["version"],
            "name": "imagine",
            "type": 1,
            "options": [{"type": 3, "name": "prompt", "value": "a cat"}],
        }
        answer = await discord.http.post("/interactions", json=payload)
        assert answer.status_code == 400
        body = answer.json()
        assert body["code"] == 50035
        errors = body["errors"]["data"]["_errors"]
        assert errors[0]["code"] == "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION"
        assert (await discord.commands())["imagine"]["id"] != old["id"]
        await discord.imagine("a cat")  # the new index works


async def test_interactions_are_validated_like_discord(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        cmd = (await discord.commands())["imagine"]
        data = {"id": cmd["id"], "version": cmd["version"], "name": "imagine", "type": 1}
        data["options"] = [{"type": 3, "name": "prompt", "value": "x"}]
        wrong_channel = {**discord.base(2, "1"), "channel_id": "42", "data": data}
        answer = await discord.http.post("/interactions", json=wrong_channel)
        assert (answer.status_code, answer.json()["code"]) == (404, 10003)
        no_session = {**discord.base(2, "2"), "session_id": "dead", "data": data}
        answer = await discord.http.post("/interactions", json=no_session)
        assert answer.status_code == 400 and "session_id" in answer.json()["errors"]
        no_nonce = {**discord.base(2, ""), "data": data}
        assert (await discord.http.post("/interactions", json=no_nonce)).status_code == 400
        unknown_message = {**discord.base(3, "3"), "message_id": "1", "message_flags": 0}
        unknown_message["data"] = {"component_type": 2, "custom_id": "MJ::JOB::upsample::1::x"}
        answer = await discord.http.post("/interactions", json=unknown_message)
        assert (answer.status_code, answer.json()["code"]) == (404, 10008)
        unknown_modal = {**discord.base(5, "4"), "data": {"id": "1", "custom_id": "x"}}
        answer = await discord.http.post("/interactions", json=unknown_modal)
        assert answer.status_code == 400 and answer.json()["code"] == 10062
    assert sim.counters["interactions"] == 5


async def test_rate_limit_is_scripted(sim: Simulator) -> None:
    sim.rate_limit_next(retry_after=0.05, count=2)
    async with raw_discord(sim) as discord:
        answers = [(await discord.command("info", []))[0] for _ in range(3)]
    assert [a.status_code for a in answers] == [429, 429, 204]
    assert answers[0].json() == {
        "message": "You are being rate limited.",
        "retry_after": 0.05,
        "global": False,
    }


async def test_multipart_payload_json_is_accepted(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        cmd = (await discord.commands())["info"]
        payload = discord.base(2, discord.nonce())
        payload["data"] = {"id": cmd["id"], "version": cmd["version"], "name": "info", "type": 1}
        answer = await discord.http.post(
            "/interactions", files={"payload_json": (None, json.dumps(payload))}
        )
        assert answer.status_code == 204, answer.text


async def wait_for_final(discord: RawDiscord, within: float = 5.0) -> dict[str, object]:
    """Poll recent messages (no gateway) until a message with buttons shows."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        answer = await discord.http.get(f"/channels/{discord.channel_id}/messages?limit=5")
        for message in answer.json():
            if message["components"]:
                return dict(message)
        await asyncio.sleep(0.05)
    raise AssertionError("no final message")


async def test_messages_hold_the_result_while_dispatches_are_held(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        sim.hold_dispatches()
        await discord.imagine("a quiet harbour")
        final = await wait_for_final(discord)
        assert "a quiet harbour" in str(final["content"])
        with pytest.raises(TimeoutError):
            await discord.gateway.dispatch(within=0.2)
        sim.release_dispatches()
        created = await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: d["id"] == final["id"])
        assert created["d"]["components"] == final["components"]
        answer = await discord.http.get(f"/channels/{discord.channel_id}/messages?limit=50")
        listed = answer.json()
        assert [m["id"] for m in listed] == sorted((m["id"] for m in listed), reverse=True)
        assert listed[0]["id"] == final["id"]  # the deleted progress message is gone


async def test_upload_then_describe(sim: Simulator) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (32, 32), (200, 10, 10)).save(picture, "PNG")
    async with raw_discord(sim) as discord:
        uploaded = await discord.upload("red square.png", picture.getvalue())
        answer, nonce = await discord.command(
            "describe",
            [{"type": 11, "name": "image", "value": 0}],
            [{"id": "0", "filename": "red square.png", "uploaded_filename": uploaded}],
        )
        assert answer.status_code == 204, answer.text
        loading = await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: d["nonce"] == nonce)
        assert loading["d"]["flags"] == 128
        assert loading["d"]["interaction_metadata"]["name"] == "describe"
        done = await discord.gateway.dispatch("MESSAGE_UPDATE")
        embed = done["d"]["embeds"][0]
        assert embed["description"].startswith("1️⃣ ")
        assert embed["description"].count("\n\n") == 3
        customs = [b["custom_id"] for row in done["d"]["components"] for b in row["components"]]
        assert customs == [f"MJ::Job::PicReader::{n}" for n in range(1, 5)] + ["MJ::Picread::Retry"]
        async with httpx.AsyncClient() as http:
            image = await http.get(local_url(sim, embed["image"]["url"]))
        assert image.content == picture.getvalue()
        assert image.headers["content-type"] == "image/png"
    assert sim.counters["uploads"] == 1


async def test_describe_with_an_unknown_upload_is_refused(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        answer, _ = await discord.command(
            "describe",
            [{"type": 11, "name": "image", "value": 0}],
            [{"id": "0", "filename": "a.png", "uploaded_filename": "nothing/a.png"}],
        )
        assert answer.status_code == 400 and answer.json()["code"] == 50035
