"""Every /mj route, end to end over HTTP on the sandbox channel (PROTOCOL §3–§6).

Results are checked as pictures and videos: the upscale is the chosen quadrant, a zoom keeps
the source in the middle of a larger canvas, a pan grows the canvas on the named side, a blend
carries both colours, a video decodes to frames. Rendering is real work, so each test walks
through several routes that share one server and one parent task.
"""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
from pathlib import Path
from typing import Any

import av
from PIL import Image, ImageChops, ImageStat

from support import (
    Gateway,
    ServedApp,
    button_id,
    custom_gateway,
    data_url,
    download,
    download_image,
    make_settings,
    png_bytes,
    png_data_url,
    update_channel,
)

KEYCAPS = [f"{n}\ufe0f\u20e3" for n in range(1, 6)]
RED = (220, 25, 25)
BLUE = (25, 25, 220)
GREEN = (20, 200, 20)
HASH = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
WIDE = "a red fox --ar 4:1"  # a quarter of the pixels of a square: cheaper to render
Colour = tuple[float, float, float]
Task = dict[str, Any]

UPSCALE_BUTTONS = [
    ("Upscale (Subtle)", "", "MJ::JOB::upsample_v7_2x_subtle::1::{h}::SOLO"),
    ("Upscale (Creative)", "", "MJ::JOB::upsample_v7_2x_creative::1::{h}::SOLO"),
    ("Vary (Subtle)", "", "MJ::JOB::low_variation::1::{h}::SOLO"),
    ("Vary (Strong)", "", "MJ::JOB::high_variation::1::{h}::SOLO"),
    ("Vary (Region)", "", "MJ::Inpaint::1::{h}::SOLO"),
    ("Zoom Out 2x", "", "MJ::Outpaint::50::1::{h}::SOLO"),
    ("Zoom Out 1.5x", "", "MJ::Outpaint::75::1::{h}::SOLO"),
    ("Custom Zoom", "", "MJ::CustomZoom::{h}"),
    ("", "⬅️", "MJ::JOB::pan_left::1::{h}::SOLO"),
    ("", "➡️", "MJ::JOB::pan_right::1::{h}::SOLO"),
    ("", "⬆️", "MJ::JOB::pan_up::1::{h}::SOLO"),
    ("", "⬇️", "MJ::JOB::pan_down::1::{h}::SOLO"),
    ("Animate (Low motion)", "", "MJ::JOB::animate_low::1::{h}::SOLO"),
    ("Animate (High motion)", "", "MJ::JOB::animate_high::1::{h}::SOLO"),
]


# ---------------------------------------------------------------- helpers


def mean_colour(image: Image.Image, box: tuple[int, int, int, int] | None = None) -> Colour:
    red, green, blue = ImageStat.Stat(image.crop(box) if box else image).mean
    return red, green, blue


def difference(first: Image.Image, second: Image.Image) -> float:
    """Mean absolute difference per channel, 0..255."""
    assert first.size == second.size, (first.size, second.size)
    return float(sum(ImageStat.Stat(ImageChops.difference(first, second)).mean) / 3)


def quadrant(grid: Image.Image, index: int) -> Image.Image:
    width, height = grid.width // 2, grid.height // 2
    left, top = (index - 1) % 2 * width, (index - 1) // 2 * height
    return grid.crop((left, top, left + width, top + height))


def png_of(image: Image.Image) -> str:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return data_url(buffer.getvalue())


def grid_buttons(message_hash: str) -> list[dict[str, Any]]:
    def button(custom_id: str, label: str, emoji: str = "") -> dict[str, Any]:
        return {"customId": custom_id, "emoji": emoji, "label": label, "type": 2, "style": 2}

    return [
        *(button(f"MJ::JOB::upsample::{n}::{message_hash}", f"U{n}") for n in range(1, 5)),
        button(f"MJ::JOB::reroll::0::{message_hash}::SOLO", "", "🔄"),
        *(button(f"MJ::JOB::variation::{n}::{message_hash}", f"V{n}") for n in range(1, 5)),
    ]


def assert_success(task: Task, action: str) -> None:
    assert task["status"] == "SUCCESS", task
    assert task["action"] == action, task
    assert task["progress"] == "100%"
    assert task["failReason"] is None
    assert task["submitTime"] <= task["startTime"] <= task["finishTime"]


def assert_grid_task(task: Task) -> None:
    """A grid result: the grid, its four images and the U/🔄/V buttons of its own hash."""
    assert task["imageUrl"] and len(task["imageUrls"]) == 4
    message_hash = task["properties"]["messageHash"]
    assert HASH.match(message_hash), message_hash
    assert task["buttons"] == grid_buttons(message_hash)


async def grid_of(task: Task, *, check_images: bool = False) -> Image.Image:
    """Download the grid; with `check_images`, each image URL must be exactly its quadrant."""
    assert_grid_task(task)
    grid = await download_image(task["imageUrl"])
    if check_images:
        for index, entry in enumerate(task["imageUrls"], start=1):
            assert difference(await download_image(entry["url"]), quadrant(grid, index)) == 0
    return grid


async def imagine(gateway: Gateway, prompt: str = "a red fox") -> Task:
    task = await gateway.finished("imagine", {"prompt": prompt})
    assert_success(task, "IMAGINE")
    return task


async def press(gateway: Gateway, task: Task, label: str, **extra: Any) -> Task:
    """Press a button of `task` and wait for the new task to succeed."""
    body = {"taskId": task["id"], "customId": button_id(task, label), **extra}
    return await gateway.finished("action", body)


async def video_of(task: Task) -> tuple[int, Image.Image]:
    """Download the task's MP4: its number of frames and its first frame."""
    assert_success(task, "VIDEO")
    assert task["videoUrls"] == [{"url": task["videoUrl"]}]
    response = await download(task["videoUrl"])
    assert response.headers["content-type"] == "video/mp4"
    first: Image.Image | None = None
    count = 0
    with av.open(io.BytesIO(response.content), mode="r", format="mp4") as container:
        for frame in container.decode(video=0):
            if first is None:
                image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
                first = image.convert("RGB")
            count += 1
    assert first is not None and count > 1, count
    return count, first


def numbered(text: str, count: int) -> list[str]:
    """`1️⃣ p1\\n\\n2️⃣ p2…` → [p1, p2, …], checking the numbering."""
    parts = text.split("\n\n")
    assert len(parts) == count, text
    prompts = []
    for keycap, part in zip(KEYCAPS, parts, strict=False):
        assert part.startswith(f"{keycap} "), part
        prompts.append(part.removeprefix(f"{keycap} "))
    return prompts


def assert_zoomed(image: Image.Image, source: Image.Image, factor: float) -> None:
    """The source, shrunk by `factor`, sits in the middle; the border around it is new."""
    inner = (round(image.width / factor), round(image.height / factor))
    left, top = (image.width - inner[0]) // 2, (image.height - inner[1]) // 2
    shrunk = source.resize(inner, Image.Resampling.LANCZOS)
    inside = difference(image.crop((left, top, left + inner[0], top + inner[1])), shrunk)
    assert inside < 3, inside
    whole = difference(image, source.resize(image.size, Image.Resampling.LANCZOS))
    assert whole > inside + 10, (whole, inside)


# ---------------------------------------------------------------- imagine


async def test_imagine_reports_progress_then_success(tmp_path: Path, database_url: str) -> None:
    prompt = "a red fox --ar 3:2"
    settings = make_settings(tmp_path, database_url, sandbox_duration=1.5)
    async with custom_gateway(settings) as (gateway, _rt):
        before = time.time_ns() // 1_000_000
        answer = await gateway.submit("imagine", {"prompt": prompt})
        task_id = answer["result"]
        assert answer == {
            "code": 1,
            "description": "Submit success",
            "result": task_id,
            "properties": {"channelId": "sandbox"},
        }
        assert re.fullmatch(r"\d{16}", task_id) and before <= int(task_id[:13])
        seen: list[Task] = []
        deadline = time.monotonic() + 20
        while not seen or seen[-1]["status"] != "SUCCESS":
            assert time.monotonic() < deadline, seen[-1]
            seen.append(await gateway.fetch(task_id))
            await asyncio.sleep(0.05)
        task = seen[-1]
        grid = await grid_of(task, check_images=True)

    running = seen[:-1]
    assert {t["status"] for t in running} <= {"NOT_START", "SUBMITTED", "IN_PROGRESS"}
    assert any(t["status"] == "IN_PROGRESS" for t in running)
    # Statuses only move forward. (SUBMITTED lasts ~150 ms here, too short to be sure a
    # poll sees it; the engine tests check it deterministically with an injected clock.)
    order = {"NOT_START": 0, "SUBMITTED": 1, "IN_PROGRESS": 2, "SUCCESS": 3}
    ranks = [order[t["status"]] for t in seen]
    assert ranks == sorted(ranks), [t["status"] for t in seen]
    numbers = [int(t["progress"].removesuffix("%")) for t in seen]
    assert numbers == sorted(numbers), numbers  # never backwards
    assert len({n for n in numbers if 0 < n < 100}) >= 3, numbers  # rising on the way
    for t in running:
        assert t["imageUrl"] is None and "imageUrls" not in t and t["buttons"] == []
        assert t["finishTime"] is None and t["failReason"] is None
    assert_success(task, "IMAGINE")
    assert task["prompt"] == task["promptEn"] == prompt
    assert task["description"] == f"/imagine {prompt}"
    assert task["properties"]["finalPrompt"] == prompt
    assert task["properties"]["channelId"] == "sandbox"
    assert task["customId"] is None and task["videoUrl"] is None and "videoUrls" not in task
    assert before <= task["submitTime"] <= task["startTime"] < task["finishTime"]
    assert task["finishTime"] - task["startTime"] >= 1000  # it took the configured time
    assert abs(grid.width / grid.height - 1.5) < 0.02  # --ar 3:2
    red, green, blue = mean_colour(grid)
    assert red > green and red > blue  # "a red fox" looks red


async def test_imagine_with_reference_images_and_seed(gateway: Gateway) -> None:
    references = [
        png_data_url(GREEN),
        base64.b64encode(png_bytes((250, 250, 250))).decode(),  # raw base64 is taken too
    ]
    plain, tinted = await asyncio.gather(
        imagine(gateway),
        gateway.finished("imagine", {"prompt": "a red fox", "base64Array": references}),
    )
    assert_success(tinted, "IMAGINE")

    def greenness(image: Image.Image) -> float:
        red, green, _ = mean_colour(image)
        return green - red

    # A quarter of the (first) green reference is blended into every picture.
    with_reference = greenness(await grid_of(tinted))
    without = greenness(await grid_of(plain))
    assert with_reference > without + 20, (with_reference, without)

    seeds = []
    for task in (plain, tinted):
        response = await gateway.http.get(f"/mj/task/{task['id']}/image-seed")
        assert response.status_code == 200
        answer = response.json()
        assert answer["code"] == 1 and answer["description"] == "Success", answer
        assert isinstance(answer["result"], str) and answer["result"].isdigit()
        seeds.append(answer["result"])
    assert seeds[0] != seeds[1]


# ---------------------------------------------------------------- grid follow-ups


async def check_upscale(gateway: Gateway, parent: Task, grid: Image.Image) -> None:
    up = await press(gateway, parent, "U3")
    assert_success(up, "UPSCALE")
    assert up["description"] == f"/up {parent['id']} U3"
    assert up["customId"] == f"MJ::JOB::upsample::3::{parent['properties']['messageHash']}"
    assert up["prompt"] == parent["prompt"]
    assert "imageUrls" not in up
    image = await download_image(up["imageUrl"])
    tile = quadrant(grid, 3)
    assert image.size == (tile.width * 2, tile.height * 2)
    shrunk = image.resize(tile.size, Image.Resampling.BOX)
    own = difference(shrunk, tile)
    assert own < 3, own
    for other in (1, 2, 4):
        assert difference(shrunk, quadrant(grid, other)) > own + 5
    new_hash = up["properties"]["messageHash"]
    assert HASH.match(new_hash) and new_hash != parent["properties"]["messageHash"]
    assert [(b["label"], b["emoji"], b["customId"]) for b in up["buttons"]] == [
        (label, emoji, custom_id.format(h=new_hash)) for label, emoji, custom_id in UPSCALE_BUTTONS
    ]
    assert all(b["type"] == 2 and b["style"] in (1, 2) for b in up["buttons"])

    # Upscale (Subtle) / (Creative): UPSCALE_HD, twice the size.
    subtle, creative = await asyncio.gather(
        press(gateway, up, "Upscale (Subtle)"), press(gateway, up, "Upscale (Creative)")
    )
    for hd in (subtle, creative):
        assert_success(hd, "UPSCALE_HD")
        hd_image = await download_image(hd["imageUrl"])
        assert hd_image.size == (2 * image.width, 2 * image.height)
        assert difference(hd_image.resize(image.size, Image.Resampling.BOX), image) < 8

    # Vary (Subtle) / (Strong): a grid of variants, the strong ones further off.
    source = image.resize(tile.size, Image.Resampling.LANCZOS)
    low, high = await asyncio.gather(
        press(gateway, up, "Vary (Subtle)"), press(gateway, up, "Vary (Strong)")
    )
    distances = []
    for task, label in ((low, "Vary (Subtle)"), (high, "Vary (Strong)")):
        assert_success(task, "VARIATION")
        assert task["description"] == f"/up {up['id']} {label}"
        variants = await grid_of(task)
        distances.append(sum(difference(quadrant(variants, n), source) for n in (1, 2, 3, 4)))
    assert 0 < distances[0] < distances[1], distances


async def check_variation_and_reroll(gateway: Gateway, parent: Task, grid: Image.Image) -> None:
    variation, reroll = await asyncio.gather(
        press(gateway, parent, "V1"), press(gateway, parent, "🔄")
    )
    assert_success(variation, "VARIATION")
    assert variation["description"] == f"/up {parent['id']} V1"
    varied = await grid_of(variation)
    assert varied.size == grid.size and difference(varied, grid) > 5

    assert_success(reroll, "REROLL")
    assert reroll["description"] == f"/up {parent['id']} R"
    assert reroll["customId"] == f"MJ::JOB::reroll::0::{parent['properties']['messageHash']}::SOLO"
    assert reroll["prompt"] == parent["prompt"]
    rerolled = await grid_of(reroll)
    assert rerolled.size == grid.size and difference(rerolled, grid) > 5  # a new job
    assert reroll["properties"]["messageHash"] != parent["properties"]["messageHash"]


async def check_change_and_simple_change(gateway: Gateway, served: ServedApp, parent: Task) -> None:
    """The tasks that change and simple-change make; left unrendered (a slow channel)."""
    await update_channel(served.runtime, duration=600, core_size=10)
    pid, message_hash = parent["id"], parent["properties"]["messageHash"]
    bodies: list[tuple[str, dict[str, Any], str, str]] = [
        ("change", {"taskId": pid, "action": "UPSCALE", "index": 2}, "UPSCALE", "U2"),
        ("change", {"taskId": pid, "action": "VARIATION", "index": 3}, "VARIATION", "V3"),
        ("change", {"taskId": pid, "action": "REROLL"}, "REROLL", "R"),
        ("change", {"taskId": int(pid), "action": "upscale", "index": 4}, "UPSCALE", "U4"),
        ("simple-change", {"content": f"{pid} U2"}, "UPSCALE", "U2"),
        ("simple-change", {"content": f"{pid} v3"}, "VARIATION", "V3"),
        ("simple-change", {"content": f" {pid}  r "}, "REROLL", "R"),
    ]
    custom_ids = {
        "U2": f"MJ::JOB::upsample::2::{message_hash}",
        "U4": f"MJ::JOB::upsample::4::{message_hash}",
        "V3": f"MJ::JOB::variation::3::{message_hash}",
        "R": f"MJ::JOB::reroll::0::{message_hash}::SOLO",
    }
    for route, body, action, label in bodies:
        answer = await gateway.submit(route, body)
        assert answer["code"] == 1, answer
        task = await gateway.fetch(answer["result"])
        assert task["action"] == action and task["status"] != "FAILURE", task
        assert task["description"] == f"/up {pid} {label}"
        assert task["customId"] == custom_ids[label]
        assert task["prompt"] == parent["prompt"]
        await gateway.post(f"/mj/task/{task['id']}/cancel")


async def test_grid_follow_ups(gateway: Gateway, served: ServedApp) -> None:
    parent = await imagine(gateway, WIDE)
    grid = await grid_of(parent)
    await check_upscale(gateway, parent, grid)
    await check_variation_and_reroll(gateway, parent, grid)
    await check_change_and_simple_change(gateway, served, parent)


# ---------------------------------------------------------------- blend


async def test_blend(gateway: Gateway) -> None:
    colours = [RED, BLUE, GREEN, (240, 220, 30), (250, 250, 250)]
    square, portrait, landscape = await asyncio.gather(
        gateway.finished("blend", {"base64Array": [png_data_url(RED), png_data_url(BLUE)]}),
        gateway.finished(
            "blend",
            {"base64Array": [png_data_url(c) for c in colours], "dimensions": "PORTRAIT"},
        ),
        gateway.finished(
            "blend",
            {"base64Array": [png_data_url(RED), png_data_url(BLUE)], "dimensions": "landscape"},
        ),
    )
    for task in (square, portrait, landscape):
        assert_success(task, "BLEND")
    assert square["description"] == f"/blend {square['id']} 2"
    assert portrait["description"] == f"/blend {portrait['id']} 5"
    grid = await grid_of(square, check_images=True)
    assert grid.width == grid.height  # SQUARE by default
    for index in range(1, 5):  # every picture carries both colours
        red, _, blue = mean_colour(quadrant(grid, index))
        assert red > 60 and blue > 60, (index, red, blue)
    tall = await grid_of(portrait)
    assert abs(tall.height / tall.width - 1.5) < 0.03  # 2:3
    wide = await grid_of(landscape)
    assert abs(wide.width / wide.height - 1.5) < 0.03  # 3:2


# ---------------------------------------------------------------- describe and shorten


async def test_describe_and_shorten(gateway: Gateway) -> None:
    red_tall = png_bytes(RED, (64, 96))
    task = await gateway.finished("describe", {"base64": data_url(red_tall)})
    assert_success(task, "DESCRIBE")
    assert task["description"] == f"/describe {task['id']}.png"
    text = task["properties"]["finalPrompt"]
    assert task["prompt"] == task["promptEn"] == text
    prompts = numbered(text, 4)
    assert all(p.endswith("--ar 2:3") for p in prompts), prompts
    assert "red" in text
    assert (await download(task["imageUrl"])).content == red_tall
    assert [(b["customId"], b["emoji"]) for b in task["buttons"]] == [
        *((f"MJ::Job::PicReader::{n}", KEYCAPS[n - 1]) for n in range(1, 5)),
        ("MJ::Picread::Retry", "🔄"),
    ]

    # base64Array: the first image is described; link: one of mjgate's own image URLs.
    shorten_prompt = (
        "a very beautiful highly detailed portrait of an old fisherman, golden hour light, "
        "stormy sea in the background, 8k masterpiece --ar 2:3"
    )
    array_task, link_task, pick, retry, shorten = await asyncio.gather(
        gateway.finished(
            "describe", {"base64Array": [png_data_url(BLUE, (96, 64)), data_url(red_tall)]}
        ),
        gateway.finished("describe", {"link": task["imageUrl"]}),
        press(gateway, task, KEYCAPS[1]),
        press(gateway, task, "🔄"),
        gateway.finished("shorten", {"prompt": shorten_prompt}),
    )
    assert_success(array_task, "DESCRIBE")
    array_prompts = numbered(array_task["properties"]["finalPrompt"], 4)
    assert all(p.endswith("--ar 3:2") for p in array_prompts)
    assert "blue" in array_task["prompt"]
    assert_success(link_task, "DESCRIBE")
    assert link_task["prompt"] == text  # the same picture reads the same

    # PicReader::2 imagines the second prompt; Retry describes again.
    assert_success(pick, "IMAGINE")
    assert pick["prompt"] == prompts[1]
    assert pick["description"] == f"/imagine {prompts[1]}"
    picked = await grid_of(pick)
    assert abs(picked.height / picked.width - 1.5) < 0.03  # its --ar 2:3
    assert_success(retry, "DESCRIBE")
    assert retry["description"] == f"/describe {retry['id']}.png"
    assert retry["prompt"] == text

    # Shorten: the analysis, five shorter prompts, and PromptAnalyzer::3 imagines the third.
    assert_success(shorten, "SHORTEN")
    assert shorten["prompt"] == shorten_prompt
    assert shorten["description"] == f"/shorten {shorten_prompt}"
    head, _, tail = shorten["properties"]["finalPrompt"].partition("\n\nSHORTENED PROMPTS\n")
    assert head.startswith("IMPORTANT TOKENS\n") and "fisherman" in head
    shortened = numbered(tail, 5)
    assert all(p.endswith("--ar 2:3") for p in shortened)
    lengths = [len(p) for p in shortened]
    assert lengths == sorted(lengths, reverse=True) and lengths[0] < len(shorten_prompt)
    assert [(b["customId"], b["emoji"]) for b in shorten["buttons"]] == [
        (f"MJ::Job::PromptAnalyzer::{n}", KEYCAPS[n - 1]) for n in range(1, 6)
    ]
    third = await press(gateway, shorten, KEYCAPS[2])
    assert_success(third, "IMAGINE")
    assert third["prompt"] == shortened[2]
    assert third["description"] == f"/imagine {shortened[2]}"
    assert_grid_task(third)


# ---------------------------------------------------------------- the modal flow


async def check_custom_zoom(gateway: Gateway, up: Task, source: Image.Image) -> None:
    custom_id = f"MJ::CustomZoom::{up['properties']['messageHash']}"
    answer = await gateway.submit("action", {"taskId": up["id"], "customId": custom_id})
    task_id = answer["result"]
    assert answer == {
        "code": 21,
        "description": "Waiting for window confirm",
        "result": task_id,
        "properties": {"finalPrompt": up["prompt"], "remix": True},
    }
    waiting = await gateway.fetch(task_id)
    assert waiting["status"] == "MODAL" and waiting["action"] == "ZOOM"
    assert waiting["customId"] == custom_id
    assert waiting["imageUrl"] is None and waiting["buttons"] == []

    prompt = f"{up['prompt']} --zoom 1.5"
    answer = await gateway.submit("modal", {"taskId": task_id, "prompt": prompt})
    assert answer["code"] == 1 and answer["result"] == task_id, answer
    assert answer["description"] == "Submit success"
    task = await gateway.wait(task_id)
    assert_success(task, "ZOOM")
    assert task["prompt"] == task["properties"]["finalPrompt"] == prompt
    assert_grid_task(task)
    assert_zoomed(await download_image(task["imageUrls"][0]["url"]), source, 1.5)


async def check_vary_region(gateway: Gateway, up: Task, source: Image.Image) -> None:
    answer = await gateway.submit(
        "action", {"taskId": up["id"], "customId": button_id(up, "Vary (Region)")}
    )
    assert answer["code"] == 21
    assert answer["properties"] == {"finalPrompt": up["prompt"], "remix": True}
    waiting = await gateway.fetch(answer["result"])
    assert waiting["status"] == "MODAL" and waiting["action"] == "INPAINT"

    mask = Image.new("RGB", (64, 64), (0, 0, 0))
    mask.paste((255, 255, 255), (0, 0, 32, 64))  # repaint the left half
    answer = await gateway.submit(
        "modal", {"taskId": answer["result"], "prompt": "", "maskBase64": png_of(mask)}
    )
    assert answer["code"] == 1
    task = await gateway.wait(answer["result"])
    assert_success(task, "INPAINT")
    assert task["prompt"] == up["prompt"]  # an empty modal prompt keeps the parent's
    assert task["description"] == f"/up {up['id']} Vary (Region)"
    assert_grid_task(task)
    image = await download_image(task["imageUrls"][1]["url"])
    shrunk = source.resize(image.size, Image.Resampling.LANCZOS)
    half, low = image.width // 2, image.height - 24  # leave out the seam and the badge
    right, left = (half + 8, 0, image.width, low), (0, 0, half - 8, low)
    kept = difference(image.crop(right), shrunk.crop(right))
    painted = difference(image.crop(left), shrunk.crop(left))
    assert kept < 1 and painted > 10, (kept, painted)


async def check_remix(gateway: Gateway, parent: Task, up: Task) -> None:
    pressed = [
        (parent, "V2", "VARIATION", "a blue whale"),
        (parent, "🔄", "REROLL", ""),
        (up, "➡️", "PAN", "a red fox on a beach --ar 2:1"),
        (up, "Vary (Strong)", "VARIATION", ""),
    ]
    answers = [
        await gateway.submit(
            "action",
            {"taskId": task["id"], "customId": button_id(task, label), "enableRemix": True},
        )
        for task, label, _, _ in pressed
    ]
    for answer, (task, _, action, _) in zip(answers, pressed, strict=True):
        assert answer["code"] == 21, answer
        assert answer["properties"] == {"finalPrompt": task["prompt"], "remix": True}
        waiting = await gateway.fetch(answer["result"])
        assert waiting["status"] == "MODAL" and waiting["action"] == action
    for answer, (_, _, _, prompt) in zip(answers, pressed, strict=True):
        continued = await gateway.submit("modal", {"taskId": answer["result"], "prompt": prompt})
        assert continued["code"] in (1, 22) and continued["result"] == answer["result"]
    finished = await asyncio.gather(*(gateway.wait(a["result"]) for a in answers))
    for task, (parent_task, label, action, prompt) in zip(finished, pressed, strict=True):
        assert_success(task, action)
        assert task["prompt"] == (prompt or parent_task["prompt"])
        assert task["properties"]["finalPrompt"] == task["prompt"]
        shown = "R" if label == "🔄" else label
        assert task["description"] == f"/up {parent_task['id']} {shown}"
    # Without enableRemix the same button starts at once.
    now = await gateway.submit(
        "action", {"taskId": parent["id"], "customId": button_id(parent, "V2")}
    )
    assert now["code"] == 1


async def test_modal_flow(gateway: Gateway) -> None:
    parent = await imagine(gateway, WIDE)
    up = await press(gateway, parent, "U1")
    source = await download_image(up["imageUrl"])
    await check_custom_zoom(gateway, up, source)
    await check_vary_region(gateway, up, source)
    await check_remix(gateway, parent, up)


# ---------------------------------------------------------------- pan and zoom


async def test_pan_and_zoom_out(gateway: Gateway) -> None:
    up = await press(gateway, await imagine(gateway, WIDE), "U2")
    source = await download_image(up["imageUrl"])
    arrows = {"left": "⬅️", "right": "➡️", "up": "⬆️", "down": "⬇️"}
    zooms = {"Zoom Out 2x": 2.0, "Zoom Out 1.5x": 1.5}
    tasks = await asyncio.gather(
        *(press(gateway, up, label) for label in [*arrows.values(), *zooms])
    )
    pans, zoomed = tasks[:4], tasks[4:]

    for (direction, arrow), task in zip(arrows.items(), pans, strict=True):
        assert_success(task, "PAN")
        assert task["description"] == f"/up {up['id']} {arrow}"
        assert_grid_task(task)
        image = await download_image(task["imageUrls"][0]["url"])
        sideways = direction in ("left", "right")
        # The canvas grows by half along the pan; the source, shrunk to fit, keeps its shape.
        if sideways:
            inner = (round(image.width / 1.5), image.height)
        else:
            inner = (image.width, round(image.height / 1.5))
        assert abs(inner[0] / inner[1] - source.width / source.height) < 0.02, image.size
        near = (image.width - inner[0], image.height - inner[1])  # the source's far corner
        left = near[0] if direction == "left" else 0
        top = near[1] if direction == "up" else 0
        other_left = 0 if direction == "left" else near[0]
        other_top = 0 if direction == "up" else near[1]
        shrunk = source.resize(inner, Image.Resampling.LANCZOS)
        box = (0, 0, inner[0], inner[1] - 24)  # leave out the bottom edge: the badge
        placed = image.crop((left, top, left + inner[0], top + inner[1])).crop(box)
        inside = difference(placed, shrunk.crop(box))
        assert inside < 3, (direction, inside)
        # The new area is on the named side: the opposite placement does not match.
        elsewhere = image.crop((other_left, other_top, other_left + inner[0], other_top + inner[1]))
        assert difference(elsewhere.crop(box), shrunk.crop(box)) > inside + 10, direction

    for (label, factor), task in zip(zooms.items(), zoomed, strict=True):
        assert_success(task, "ZOOM")
        assert task["description"] == f"/up {up['id']} {label}"
        grid = await grid_of(task)
        for index in range(1, 5):
            assert_zoomed(quadrant(grid, index), source, factor)


# ---------------------------------------------------------------- video


async def test_video(gateway: Gateway) -> None:
    parent = await imagine(gateway, WIDE)
    from_prompt, from_image, from_task, up = await asyncio.gather(
        gateway.finished("video", {"prompt": "a red fox running"}),
        gateway.finished("video", {"image": png_data_url(RED, (96, 64)), "motion": "high"}),
        gateway.finished("video", {"taskId": parent["id"], "index": 3}),
        press(gateway, parent, "U2"),
    )
    _, first = await video_of(from_prompt)
    assert from_prompt["description"] == "/video a red fox running"
    red, green, blue = mean_colour(first)
    assert red > green and red > blue

    _, first = await video_of(from_image)
    assert first.size == (96, 64)
    red, green, blue = mean_colour(first)
    assert red > 150 and green < 80 and blue < 80

    count, first = await video_of(from_task)
    assert from_task["description"] == f"/video {parent['id']} 3"
    assert from_task["prompt"] == parent["prompt"]
    chosen = (await download_image(parent["imageUrls"][2]["url"])).resize(first.size)
    other = (await download_image(parent["imageUrls"][0]["url"])).resize(first.size)
    assert difference(first, chosen) + 5 < difference(first, other)

    # action extend: the same video and more after it; the animate buttons of an upscale.
    extended, low, high = await asyncio.gather(
        gateway.finished("video", {"taskId": from_task["id"], "action": "extend"}),
        press(gateway, up, "Animate (Low motion)"),
        press(gateway, up, "Animate (High motion)"),
    )
    longer, extended_first = await video_of(extended)
    assert longer > count
    assert extended["description"] == f"/video {from_task['id']} extend"
    assert difference(extended_first, first) < 3
    upscale = await download_image(up["imageUrl"])
    for task, label in ((low, "Animate (Low motion)"), (high, "Animate (High motion)")):
        _, first = await video_of(task)
        assert task["description"] == f"/up {up['id']} {label}"
        assert difference(first, upscale.resize(first.size)) < 5
    assert [b["label"] for b in low["buttons"]] == ["Extend (Low motion)", "Extend (High motion)"]


# ---------------------------------------------------------------- edits, face swap, upload


async def test_edits_swap_face_and_upload(gateway: Gateway) -> None:
    source = png_bytes(RED, (128, 128))
    jpeg_buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 100, 0)).save(jpeg_buffer, format="JPEG")
    jpeg = jpeg_buffer.getvalue()
    response = await gateway.post(
        "/mj/submit/upload-discord-images",
        {"base64Array": [data_url(source), data_url(jpeg, "jpeg")]},
    )
    assert response.status_code == 200
    answer = response.json()
    assert answer["code"] == 1 and answer["description"] == "Submit success", answer
    urls = answer["result"]
    assert isinstance(urls, list) and len(urls) == 2
    for url, data, kind in zip(urls, (source, jpeg), ("image/png", "image/jpeg"), strict=True):
        assert url.startswith(f"{gateway.http.base_url}".rstrip("/") + "/mj/image/")
        fetched = await download(url)
        assert fetched.content == data
        assert fetched.headers["content-type"] == kind
    assert (await gateway.http.get("/mj/task/list")).json() == []  # an upload makes no task

    mask = Image.new("RGB", (128, 128), (0, 0, 0))
    mask.paste((255, 255, 255), (0, 0, 128, 64))  # repaint the top half
    prompt = "a blue ocean"
    restyled, masked, by_url, swapped = await asyncio.gather(
        gateway.finished("edits", {"prompt": prompt, "image": data_url(source)}),
        gateway.finished(
            "edits", {"prompt": prompt, "image": data_url(source), "maskBase64": png_of(mask)}
        ),
        gateway.finished("edits", {"prompt": prompt, "image": urls[0]}),
        swap_face(gateway, png_data_url(GREEN), png_data_url(RED, (128, 160))),
    )
    for task in (restyled, masked, by_url):
        assert_success(task, "EDITS")
        assert task["prompt"] == prompt and task["description"] == f"/edits {prompt}"
        assert_grid_task(task)
    for task in (restyled, by_url):  # the whole picture turns towards the prompt
        red, _, blue = mean_colour(await download_image(task["imageUrls"][0]["url"]))
        assert blue > 60 and red < 160, (red, blue)
    image = await download_image(masked["imageUrls"][0]["url"])
    kept = mean_colour(image, (0, image.height // 2 + 12, image.width // 2, image.height))
    painted = mean_colour(image, (0, 0, image.width, image.height // 2 - 12))
    assert abs(kept[0] - RED[0]) < 4 and abs(kept[2] - RED[2]) < 4, kept
    assert abs(painted[0] - RED[0]) + abs(painted[2] - RED[2]) > 40, painted

    # Face swap: the source's face in the middle of the target.
    assert_success(swapped, "SWAP_FACE")
    face = await download_image(swapped["imageUrl"])
    assert face.size == (128, 160)
    centre, corner = mean_colour(face, (54, 70, 74, 90)), mean_colour(face, (0, 0, 16, 16))
    assert centre[1] > 150 and centre[0] < 80, centre
    assert corner[0] > 180 and corner[1] < 60, corner


async def swap_face(gateway: Gateway, source: str, target: str) -> Task:
    response = await gateway.post(
        "/mj/insight-face/swap", {"sourceBase64": source, "targetBase64": target}
    )
    answer = response.json()
    assert response.status_code == 200 and answer["code"] in (1, 22), answer
    return await gateway.wait(answer["result"])


# ---------------------------------------------------------------- reading and cancelling


async def test_lists_queue_and_cancel(gateway: Gateway, served: ServedApp) -> None:
    done = await gateway.finished("shorten", {"prompt": "a red fox in the snow"})
    await update_channel(served.runtime, duration=600, core_size=2)
    first = (await gateway.submit("imagine", {"prompt": "a green frog"}))["result"]
    second = (await gateway.submit("imagine", {"prompt": "a blue bird"}))["result"]
    third = await gateway.submit("imagine", {"prompt": "a patient heron"})
    assert third["code"] == 22
    queued = third["result"]
    unknown = "1000000000000123"

    async def listed(ids: list[Any], path: str = "/mj/task/list-by-condition") -> list[str]:
        response = await gateway.post(path, {"ids": ids})
        assert response.status_code == 200, response.text
        return [t["id"] for t in response.json()]

    assert await listed([second, done["id"], unknown, first]) == [second, done["id"], first]
    assert await listed([int(first), int(second)]) == [first, second]
    assert await listed([unknown, "not-an-id"]) == []
    assert await listed([]) == []
    assert await listed([first, done["id"]], "/mj/task/list-by-ids") == [first, done["id"]]
    full = (await gateway.post("/mj/task/list-by-condition", {"ids": [done["id"]]})).json()
    assert full == [await gateway.fetch(done["id"])]  # the whole task object

    newest = (await gateway.http.get("/mj/task/list")).json()
    assert [t["id"] for t in newest] == [queued, second, first, done["id"]]
    limited = (await gateway.http.get("/mj/task/list", params={"limit": 2})).json()
    assert [t["id"] for t in limited] == [queued, second]
    queue = (await gateway.http.get("/mj/task/queue")).json()
    assert [t["id"] for t in queue] == [first, second, queued]
    assert [t["status"] for t in queue][2] == "NOT_START"
    assert {t["status"] for t in queue[:2]} <= {"SUBMITTED", "IN_PROGRESS"}

    # Cancel a queued and a running task: CANCEL, 100 %, a reason, refunded.
    await gateway.wait(first, {"IN_PROGRESS"})
    for task_id, was in ((queued, "NOT_START"), (first, "IN_PROGRESS")):
        assert (await gateway.fetch(task_id))["status"] == was
        response = await gateway.post(f"/mj/task/{task_id}/cancel")
        assert response.status_code == 200
        assert response.json() == {
            "code": 1,
            "description": "Success",
            "result": task_id,
            "properties": {"status": "CANCEL"},
        }
        task = await gateway.fetch(task_id)
        assert task["status"] == "CANCEL" and task["progress"] == "100%"
        assert task["failReason"] and task["finishTime"] is not None
        assert task["properties"]["refunded"] is True and task["properties"]["refundQuota"] > 0
        assert task["imageUrl"] is None and task["buttons"] == []
    queue = (await gateway.http.get("/mj/task/queue")).json()
    assert [t["id"] for t in queue] == [second]

    # Cancelling a finished task changes nothing.
    before = await gateway.fetch(done["id"])
    response = await gateway.post(f"/mj/task/{done['id']}/cancel")
    assert response.status_code == 200
    assert response.json()["properties"] == {"status": "SUCCESS"}
    assert await gateway.fetch(done["id"]) == before


# ---------------------------------------------------------------- modes and common fields


async def test_modes_bot_type_and_state(gateway: Gateway, served: ServedApp) -> None:
    parent = await gateway.finished("shorten", {"prompt": "a cat in a hat, watercolor"})
    assert parent["mode"] == "FAST"
    await update_channel(served.runtime, duration=600, core_size=30)
    # Follow-ups take their mode like new work: the path prefix, then the body's mode.
    by_prefix = await gateway.submit(
        "action",
        {"taskId": parent["id"], "customId": "MJ::Job::PromptAnalyzer::1", "state": "s1"},
        prefix="/mj-turbo/mj",
    )
    by_body = await gateway.submit(
        "action",
        {"taskId": parent["id"], "customId": "MJ::Job::PromptAnalyzer::2", "mode": "relax"},
    )
    for answer, mode, state in ((by_prefix, "TURBO", "s1"), (by_body, "RELAX", "")):
        task = await gateway.fetch(answer["result"])
        assert (task["mode"], task["state"]) == (mode, state)

    cases: list[tuple[str, dict[str, Any], str]] = [
        ("/mj", {"prompt": "a cat"}, "FAST"),
        ("/mj-fast/mj", {"prompt": "a cat --relax"}, "FAST"),  # prefix > flag
        ("/mj-relax/mj", {"prompt": "a cat"}, "RELAX"),
        ("/mj-turbo/mj", {"prompt": "a cat", "mode": "relax"}, "TURBO"),  # prefix > body
        ("/mj-relax/mj", {"prompt": "a cat --turbo", "mode": "FAST"}, "RELAX"),
        ("/mj", {"prompt": "a cat --relax", "mode": "Turbo"}, "TURBO"),  # body > flag
        ("/mj", {"prompt": "a cat --relax"}, "RELAX"),  # flag > default
        ("/mj", {"prompt": "a cat --TURBO"}, "TURBO"),
        ("/mj", {"prompt": "a cat", "mode": "rElAx"}, "RELAX"),
        ("/mj", {"prompt": "a cat", "mode": ""}, "FAST"),
    ]
    for prefix, body, mode in cases:
        answer = await gateway.submit("imagine", body, prefix=prefix)
        task = await gateway.fetch(answer["result"])
        assert task["mode"] == mode, (prefix, body, task["mode"])
        assert task["botType"] == "MID_JOURNEY" and task["state"] == ""

    bot_types = [("niji", "NIJI_JOURNEY"), ("NIJI_JOURNEY", "NIJI_JOURNEY"), ("mj", "MID_JOURNEY")]
    for bot_type, shown in bot_types:
        answer = await gateway.submit(
            "imagine", {"prompt": "a cat", "botType": bot_type, "state": f"state-{bot_type}"}
        )
        task = await gateway.fetch(answer["result"])
        assert task["botType"] == shown and task["state"] == f"state-{bot_type}"

    # The prefixed paths serve the reading routes too.
    response = await gateway.http.get(f"/mj-relax/mj/task/{answer['result']}/fetch")
    assert response.status_code == 200 and response.json()["id"] == answer["result"]
