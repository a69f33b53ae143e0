"""A chain: mjgate under test relays to mjgate upstreams that run the sandbox.

A mjgate upstream posts its webhook pushes to our signed callback URL, and we poll as
well; the callback path alone is tested against the scripted upstream
(test_relay_faults.py).
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from mjgate.services.runtime import Runtime
from mjgate.settings import Settings
from relay_support import MjgateUpstream, mjgate_upstream, use_relay
from support import (
    Gateway,
    ServedApp,
    add_user,
    button_id,
    data_url,
    download,
    download_image,
    png_bytes,
    quota,
    task_row,
)


@pytest.fixture
async def upstream(
    settings: Settings, sqlite_template: Path, tmp_path: Path
) -> AsyncIterator[MjgateUpstream]:
    async with mjgate_upstream(settings, sqlite_template, tmp_path / "up1") as up:
        yield up


def assert_nothing_leaks(text: str, upstream: MjgateUpstream) -> None:
    assert upstream.token not in text
    assert upstream.app.base_url not in text
    port = upstream.app.base_url.rsplit(":", 1)[1]
    assert f":{port}" not in text


async def test_imagine_upscale_and_seed_through_the_chain(
    rt: Runtime, served: ServedApp, upstream: MjgateUpstream
) -> None:
    await use_relay(rt, upstream.app.base_url, upstream.token)
    caller, token = await add_user(rt, "buyer", 1000)
    async with Gateway.connect(served.base_url, token) as client:
        answer = await client.submit("imagine", {"prompt": "a red lighthouse", "state": "s1"})
        assert answer["code"] == 1
        task = await client.wait(answer["result"])
        assert task["status"] == "SUCCESS", task
        assert task["imageUrl"].startswith(served.base_url)
        assert len(task["imageUrls"]) == 4
        assert task["state"] == "s1"
        grid = await download_image(task["imageUrl"])
        assert grid.size[0] > 64
        row = await task_row(rt, task["id"])
        assert row.provider_ref and row.provider_ref != task["id"]
        # The upstream's task is the reseller's, and never shows our client's state or id.
        async with Gateway.connect(upstream.app.base_url, upstream.token) as seller:
            theirs = await seller.fetch(row.provider_ref)
        assert theirs["state"] == ""
        assert theirs["id"] != task["id"]
        # The work's times are the upstream's; the submit time is ours (it came first).
        assert (task["startTime"], task["finishTime"]) == (
            theirs["startTime"],
            theirs["finishTime"],
        )
        assert task["submitTime"] <= theirs["submitTime"] <= task["startTime"]
        assert task["startTime"] <= task["finishTime"]

        up = await client.submit(
            "action", {"taskId": task["id"], "customId": button_id(task, "U2")}
        )
        upscaled = await client.wait(up["result"])
        assert upscaled["status"] == "SUCCESS", upscaled
        assert upscaled["action"] == "UPSCALE"
        assert upscaled["imageUrl"].startswith(served.base_url)
        assert {b["label"] for b in upscaled["buttons"]} >= {"Vary (Subtle)"}

        seed = (await client.http.get(f"/mj/task/{task['id']}/image-seed")).json()
        assert seed["code"] == 1 and seed["result"].isdigit()

        everything = (await client.post("/mj/task/list-by-condition", {"ids": [task["id"]]})).text
        everything += json.dumps(task) + json.dumps(upscaled) + json.dumps(seed)
    assert_nothing_leaks(everything, upstream)
    balance, ledger = await quota(rt, caller.user_id)
    assert balance == ledger < 1000


async def test_an_upstream_on_the_operators_network_works_without_flags(
    rt: Runtime, served: ServedApp, settings: Settings, sqlite_template: Path, tmp_path: Path
) -> None:
    # The upstream refuses private hooks (its default) and the channel has no
    # allow_private_media: results come from the channel's own origin, and the refused
    # callback URL makes the relay submit again without one and follow by polling.
    async with mjgate_upstream(
        settings, sqlite_template, tmp_path / "plain", private_hooks=False
    ) as upstream:
        await use_relay(rt, upstream.app.base_url, upstream.token, allow_private_media=False)
        _caller, token = await add_user(rt, "buyer", 1000)
        async with Gateway.connect(served.base_url, token) as client:
            task = await client.finished("imagine", {"prompt": "a lighthouse at home"})
            assert task["imageUrl"].startswith(served.base_url)
            assert (await download_image(task["imageUrl"])).size[0] > 64
            up = await client.finished(
                "action", {"taskId": task["id"], "customId": button_id(task, "U1")}
            )
            assert up["action"] == "UPSCALE"
        row = await task_row(rt, task["id"])
        async with Gateway.connect(upstream.app.base_url, upstream.token) as seller:
            theirs = await seller.fetch(str(row.provider_ref))
        assert theirs["status"] == "SUCCESS"


async def test_a_chain_of_two_relays(
    rt: Runtime,
    served: ServedApp,
    settings: Settings,
    sqlite_template: Path,
    tmp_path: Path,
    upstream: MjgateUpstream,
) -> None:
    """gateway -> middle mjgate (a relay itself) -> upstream mjgate on the sandbox."""
    async with mjgate_upstream(settings, sqlite_template, tmp_path / "mid") as middle:
        await use_relay(middle.app.runtime, upstream.app.base_url, upstream.token, auth="bearer")
        await use_relay(rt, middle.app.base_url, middle.token)
        _, token = await add_user(rt, "buyer", 1000)
        async with Gateway.connect(served.base_url, token) as client:
            task = await client.finished("imagine", {"prompt": "two hops"})
            assert task["imageUrl"].startswith(served.base_url)
            (await download_image(task["imageUrl"])).load()
            text = json.dumps(task)
        assert_nothing_leaks(text, upstream)
        assert_nothing_leaks(text, middle)


async def test_banned_upstream_prompt_answers_24_and_charges_nothing(
    rt: Runtime, served: ServedApp, upstream: MjgateUpstream
) -> None:
    """Our own list may not know the word; the upstream's 24 passes through."""
    await use_relay(rt, upstream.app.base_url, upstream.token)
    upstream.app.runtime.banned_words = type(upstream.app.runtime.banned_words).from_text("zebra\n")
    caller, token = await add_user(rt, "buyer", 1000)
    async with Gateway.connect(served.base_url, token) as client:
        response = await client.post("/mj/submit/imagine", {"prompt": "a zebra"})
    body = response.json()
    assert body["code"] == 24, body
    assert body["properties"]["bannedWord"] == "zebra"
    assert await quota(rt, caller.user_id) == (1000, 1000)
    async with rt.db.read() as uow:
        assert not await uow.newest_tasks(caller.user_id, 10)


async def test_a_modal_follow_up_confirms_the_upstreams_modal(
    rt: Runtime, served: ServedApp, upstream: MjgateUpstream
) -> None:
    """Custom Zoom: our client answers our modal; the relay confirms the upstream's (21)."""
    await use_relay(rt, upstream.app.base_url, upstream.token)
    _, token = await add_user(rt, "buyer", 1000)
    async with Gateway.connect(served.base_url, token) as client:
        grid = await client.finished("imagine", {"prompt": "a harbour"})
        up = await client.submit(
            "action", {"taskId": grid["id"], "customId": button_id(grid, "U1")}
        )
        single = await client.wait(up["result"])
        zoom = await client.submit(
            "action", {"taskId": single["id"], "customId": button_id(single, "Custom Zoom")}
        )
        assert zoom["code"] == 21
        confirmed = await client.submit(
            "modal", {"taskId": zoom["result"], "prompt": "a harbour --zoom 1.5"}
        )
        assert confirmed["code"] in (1, 22)
        done = await client.wait(zoom["result"])
        assert done["status"] == "SUCCESS", done
        assert done["action"] == "ZOOM" and done["imageUrl"].startswith(served.base_url)


KEYCAPS = [f"{n}\ufe0f\u20e3" for n in range(1, 5)]


async def test_describe_and_its_picreader_through_the_chain(
    rt: Runtime, served: ServedApp, upstream: MjgateUpstream
) -> None:
    await use_relay(rt, upstream.app.base_url, upstream.token)
    _, token = await add_user(rt, "buyer", 1000)
    picture = png_bytes((220, 25, 25), (64, 96))
    async with Gateway.connect(served.base_url, token) as client:
        task = await client.finished("describe", {"base64": data_url(picture)})
        assert (task["action"], task["status"]) == ("DESCRIBE", "SUCCESS"), task
        assert task["description"] == f"/describe {task['id']}.png"  # our id, not theirs
        text = task["properties"]["finalPrompt"]
        assert task["prompt"] == task["promptEn"] == text
        parts = text.split("\n\n")
        assert [p[: len(k)] for p, k in zip(parts, KEYCAPS, strict=True)] == KEYCAPS, text
        prompts = [p.removeprefix(k).strip() for p, k in zip(parts, KEYCAPS, strict=True)]
        assert task["imageUrl"].startswith(served.base_url)
        assert (await download(task["imageUrl"])).content == picture
        assert [b["customId"] for b in task["buttons"]] == [
            *(f"MJ::Job::PicReader::{n}" for n in range(1, 5)),
            "MJ::Picread::Retry",
        ]

        # PicReader::2 imagines the second prompt, upstream, on the describe's channel.
        pick = await client.finished(
            "action", {"taskId": task["id"], "customId": button_id(task, KEYCAPS[1])}
        )
        assert (pick["action"], pick["status"]) == ("IMAGINE", "SUCCESS"), pick
        assert pick["prompt"] == prompts[1]
        assert pick["imageUrl"].startswith(served.base_url) and len(pick["imageUrls"]) == 4
        row = await task_row(rt, pick["id"])
        async with Gateway.connect(upstream.app.base_url, upstream.token) as seller:
            theirs = await seller.fetch(row.provider_ref or "")
        assert theirs["action"] == "IMAGINE" and theirs["prompt"] == prompts[1]
        text = json.dumps(task) + json.dumps(pick)
    assert_nothing_leaks(text, upstream)


async def test_video_through_the_chain_is_rehosted(
    rt: Runtime, served: ServedApp, upstream: MjgateUpstream
) -> None:
    await use_relay(rt, upstream.app.base_url, upstream.token)
    _, token = await add_user(rt, "buyer", 5000)
    async with Gateway.connect(served.base_url, token) as client:
        task = await client.finished(
            "video", {"prompt": "waves", "image": data_url(png_bytes((25, 25, 220), (64, 64)))}
        )
        assert (task["action"], task["status"]) == ("VIDEO", "SUCCESS"), task
        assert task["videoUrl"].startswith(served.base_url)
        assert task["videoUrls"] == [{"url": task["videoUrl"]}]
        response = await download(task["videoUrl"])
        assert response.headers["content-type"] == "video/mp4"
        assert response.content[4:8] == b"ftyp"  # an MP4's first box
        text = json.dumps(task)
    assert_nothing_leaks(text, upstream)


async def test_blend_through_the_chain(
    rt: Runtime, served: ServedApp, upstream: MjgateUpstream
) -> None:
    await use_relay(rt, upstream.app.base_url, upstream.token)
    _, token = await add_user(rt, "buyer", 1000)
    images = [data_url(png_bytes(colour, (48, 48))) for colour in ((220, 25, 25), (25, 220, 25))]
    async with Gateway.connect(served.base_url, token) as client:
        task = await client.finished("blend", {"base64Array": images, "dimensions": "LANDSCAPE"})
        assert (task["action"], task["status"]) == ("BLEND", "SUCCESS"), task
        assert task["description"].startswith(f"/blend {task['id']} ")
        assert task["imageUrl"].startswith(served.base_url) and len(task["imageUrls"]) == 4
        grid = await download_image(task["imageUrl"])
        assert abs(grid.width / grid.height - 1.5) < 0.03  # LANDSCAPE went upstream: 3:2
        assert {b["label"] for b in task["buttons"]} >= {"U1", "V4"}
        text = json.dumps(task)
    assert_nothing_leaks(text, upstream)


async def test_cancel_through_the_chain_cancels_upstream_and_refunds_both(
    rt: Runtime, served: ServedApp, settings: Settings, sqlite_template: Path, tmp_path: Path
) -> None:
    """Our cancel reaches the mjgate upstream: its task ends CANCEL and the reseller is
    refunded there, as our client is here."""
    slow = settings.model_copy(update={"sandbox_duration": 60.0})  # still running at cancel
    async with mjgate_upstream(slow, sqlite_template, tmp_path / "slow") as upstream:
        await use_relay(rt, upstream.app.base_url, upstream.token)
        caller, token = await add_user(rt, "buyer", 1000)
        async with Gateway.connect(served.base_url, token) as client:
            answer = await client.submit("imagine", {"prompt": "a slow lighthouse"})
            assert answer["code"] == 1
            response = await client.post(f"/mj/task/{answer['result']}/cancel")
            assert response.json()["code"] == 1, response.text
            task = await client.fetch(answer["result"])
        assert (task["status"], task["properties"]["refunded"]) == ("CANCEL", True)
        assert await quota(rt, caller.user_id) == (1000, 1000)
        row = await task_row(rt, task["id"])
        async with Gateway.connect(upstream.app.base_url, upstream.token) as seller:
            theirs = await seller.fetch(row.provider_ref or "")
        assert theirs["status"] == "CANCEL", theirs
        assert await quota(upstream.app.runtime, upstream.user_id) == (1000, 1000)
