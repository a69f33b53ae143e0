"""The whole /mj protocol with a discord channel in front of the Discord simulator: every
submit route, every button of PROTOCOL §6, the modal flows (Custom Zoom, remix, Vary
(Region) with its mask), describe and blend uploads, video, image seed; clients press the
same customIds as on any channel, and see only mjgate's own file URLs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from discord_channel import DiscordScene, discord_scene, sqlite_url
from mjgate.services import accounts
from support import Gateway, make_settings, png_bytes, png_data_url

Task = dict[str, Any]


@pytest.fixture
async def scene(tmp_path: Path) -> Any:
    # SQLite only: the walk is about Discord; the engine's databases are tested elsewhere.
    settings = make_settings(tmp_path, sqlite_url(tmp_path))
    async with discord_scene(settings) as made:
        yield made


def _button(task: Task, label: str = "", emoji: str = "") -> str:
    for button in task["buttons"]:
        if (label and button["label"] == label) or (emoji and button["emoji"] == emoji):
            return str(button["customId"])
    raise AssertionError(f"no button {label or emoji} on {task['buttons']}")


async def _own_file(base_url: str, url: str) -> bytes:
    """Every URL a client sees is mjgate's, never Discord's CDN (its links expire)."""
    assert url.startswith(base_url + "/"), url
    async with httpx.AsyncClient() as anonymous:
        response = await anonymous.get(url)
    assert response.status_code == 200, url
    return response.content


async def _check_grid(scene: DiscordScene, task: Task, action: str) -> None:
    assert task["status"] == "SUCCESS" and task["action"] == action, task
    assert task["progress"] == "100%"
    assert len(task["imageUrls"]) == 4
    for item in [{"url": task["imageUrl"]}, *task["imageUrls"]]:
        await _own_file(scene.served.base_url, item["url"])
    labels = [b["label"] or b["emoji"] for b in task["buttons"]]
    assert labels == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"], labels
    assert task["properties"]["messageHash"] in task["buttons"][0]["customId"]


async def test_imagine_then_every_grid_button(scene: DiscordScene) -> None:
    admin = scene.admin
    grid = await admin.finished("imagine", {"prompt": "a lighthouse at dusk"})
    await _check_grid(scene, grid, "IMAGINE")
    assert grid["properties"]["channelId"] == "acc1"
    assert grid["prompt"] == "a lighthouse at dusk"

    upscale = await admin.finished(
        "action", {"taskId": grid["id"], "customId": _button(grid, "U2")}
    )
    assert upscale["action"] == "UPSCALE" and "imageUrls" not in upscale
    await _own_file(scene.served.base_url, upscale["imageUrl"])
    assert any(b["label"] == "Vary (Region)" for b in upscale["buttons"])

    variation = await admin.finished(
        "action", {"taskId": grid["id"], "customId": _button(grid, "V3")}
    )
    await _check_grid(scene, variation, "VARIATION")
    reroll = await admin.finished(
        "action", {"taskId": grid["id"], "customId": _button(grid, emoji="🔄")}
    )
    await _check_grid(scene, reroll, "REROLL")
    # /submit/change names the same buttons by action and index.
    change = await admin.finished("change", {"taskId": grid["id"], "action": "UPSCALE", "index": 4})
    assert change["action"] == "UPSCALE"


async def test_every_upscale_button_and_the_modal_flows(scene: DiscordScene) -> None:
    admin = scene.admin
    grid = await admin.finished("imagine", {"prompt": "a red fox in snow"})
    up = await admin.finished("action", {"taskId": grid["id"], "customId": _button(grid, "U1")})
    for label, action in (
        ("Upscale (Subtle)", "UPSCALE_HD"),
        ("Upscale (Creative)", "UPSCALE_HD"),
        ("Vary (Subtle)", "VARIATION"),
        ("Vary (Strong)", "VARIATION"),
        ("Zoom Out 2x", "ZOOM"),
        ("Zoom Out 1.5x", "ZOOM"),
    ):
        task = await admin.finished("action", {"taskId": up["id"], "customId": _button(up, label)})
        assert task["action"] == action, (label, task)
        await _own_file(scene.served.base_url, task["imageUrl"])
    for emoji in ("⬅️", "➡️", "⬆️", "⬇️"):
        pan = await admin.finished(
            "action", {"taskId": up["id"], "customId": _button(up, "", emoji)}
        )
        assert pan["action"] == "PAN", pan

    # Custom Zoom: MODAL, then the prompt through /submit/modal, then the bot's modal.
    modal = await admin.submit(
        "action", {"taskId": up["id"], "customId": _button(up, "Custom Zoom")}
    )
    assert modal["code"] == 21
    answer = await admin.submit(
        "modal", {"taskId": modal["result"], "prompt": "a red fox in snow --zoom 1.8"}
    )
    zoomed = await admin.wait(answer["result"])
    assert zoomed["status"] == "SUCCESS" and zoomed["action"] == "ZOOM", zoomed
    submitted = [i for i in scene.simulator.interactions if i.get("type") == 5]
    assert submitted, "the Custom Zoom form was submitted as a type-5 interaction"
    values = [c["value"] for row in submitted[-1]["data"]["components"] for c in row["components"]]
    assert "a red fox in snow --zoom 1.8" in values

    # Vary (Region): the mask goes to the editor's host with the prompt.
    region = await admin.submit(
        "action", {"taskId": up["id"], "customId": _button(up, "Vary (Region)")}
    )
    assert region["code"] == 21
    mask = png_data_url((255, 255, 255), (64, 64))
    answer = await admin.submit(
        "modal", {"taskId": region["result"], "prompt": "a fox with a hat", "maskBase64": mask}
    )
    varied = await admin.wait(answer["result"])
    assert varied["status"] == "SUCCESS" and varied["action"] == "INPAINT", varied


async def test_remix_modals_take_the_new_prompt(scene: DiscordScene) -> None:
    scene.simulator.remix(True)
    admin = scene.admin
    grid = await admin.finished("imagine", {"prompt": "a quiet harbour"})
    answer = await admin.submit(
        "action", {"taskId": grid["id"], "customId": _button(grid, "V1"), "enableRemix": True}
    )
    assert answer["code"] == 21
    done = await admin.submit("modal", {"taskId": answer["result"], "prompt": "a busy harbour"})
    task = await admin.wait(done["result"])
    assert task["status"] == "SUCCESS" and task["action"] == "VARIATION", task
    # Without enableRemix the bot's remix form is answered with the parent's prompt.
    plain = await admin.finished("action", {"taskId": grid["id"], "customId": _button(grid, "V2")})
    assert plain["status"] == "SUCCESS"


async def test_blend_describe_shorten_and_their_buttons(scene: DiscordScene) -> None:
    admin = scene.admin
    blend = await admin.finished(
        "blend",
        {
            "base64Array": [png_data_url((200, 0, 0)), png_data_url((0, 0, 200))],
            "dimensions": "PORTRAIT",
        },
    )
    await _check_grid(scene, blend, "BLEND")
    uploads_before = scene.simulator.counters.get("uploads", 0)
    described = await admin.finished("describe", {"base64": png_data_url((10, 120, 10))})
    assert described["action"] == "DESCRIBE"
    assert scene.simulator.counters.get("uploads", 0) == uploads_before + 1
    prompts = described["properties"]["finalPrompt"]
    assert prompts and len(described["buttons"]) == 5
    imagined = await admin.finished(
        "action", {"taskId": described["id"], "customId": "MJ::Job::PicReader::2"}
    )
    assert imagined["action"] == "IMAGINE" and len(imagined["imageUrls"]) == 4
    shortened = await admin.finished("shorten", {"prompt": "a very very long and wordy prompt"})
    assert shortened["action"] == "SHORTEN" and len(shortened["buttons"]) == 5
    picked = await admin.finished(
        "action", {"taskId": shortened["id"], "customId": "MJ::Job::PromptAnalyzer::1"}
    )
    assert picked["action"] == "IMAGINE"


async def test_reference_images_video_and_seed(scene: DiscordScene) -> None:
    admin = scene.admin
    tinted = await admin.finished(
        "imagine", {"prompt": "a green meadow", "base64Array": [png_data_url((20, 200, 20))]}
    )
    assert tinted["prompt"] == "a green meadow"
    sent = [i for i in scene.simulator.interactions if i.get("data", {}).get("name") == "imagine"]
    prompt_sent = sent[-1]["data"]["options"][0]["value"]
    assert prompt_sent.startswith("https://cdn.discordapp.com/"), prompt_sent  # a CDN link
    up = await admin.finished("action", {"taskId": tinted["id"], "customId": _button(tinted, "U1")})
    video = await admin.finished(
        "action", {"taskId": up["id"], "customId": _button(up, "Animate (Low motion)")}
    )
    assert video["action"] == "VIDEO"
    data = await _own_file(scene.served.base_url, video["videoUrl"])
    assert data[4:8] == b"ftyp"
    seed = await admin.http.get(f"/mj/task/{tinted['id']}/image-seed")
    assert seed.status_code == 200, seed.text
    assert seed.json()["code"] == 1 and seed.json()["result"].isdigit()
    from_image = await admin.finished("video", {"prompt": "waves", "image": png_data_url()})
    assert from_image["action"] == "VIDEO"


async def test_what_discord_cannot_do_goes_elsewhere_or_is_refused(scene: DiscordScene) -> None:
    admin = scene.admin
    response = await admin.post(
        "/mj/submit/edits", {"prompt": "x", "image": png_data_url(), "maskBase64": png_data_url()}
    )
    assert response.status_code == 503, response.text
    assert response.json()["description"] == "no_available_channel"
    # With a channel that offers edits, the pool sends them there, not to the account.
    await accounts.set_channel_enabled(scene.rt, "sandbox", True, None)
    answer = await admin.submit(
        "edits", {"prompt": "x", "image": png_data_url(), "maskBase64": png_data_url()}
    )
    edited = await admin.fetch(answer["result"])
    assert edited["properties"]["channelId"] == "sandbox"
    assert png_bytes()  # kept: the helper the edits images come from still makes a PNG


async def test_a_client_gateway_helper_sees_every_status(scene: DiscordScene) -> None:
    admin: Gateway = scene.admin
    answer = await admin.submit("imagine", {"prompt": "a slow river"})
    seen = set()
    while True:
        task = await admin.fetch(answer["result"])
        seen.add(task["status"])
        if task["status"] in ("SUCCESS", "FAILURE"):
            break
    assert task["status"] == "SUCCESS"
    assert "IN_PROGRESS" in seen
