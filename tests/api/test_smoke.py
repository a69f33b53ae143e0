"""The Quickstart walk-through: imagine, fetch until SUCCESS, upscale a quadrant."""

from __future__ import annotations

import io

import httpx
from PIL import Image

from support import Gateway


async def test_imagine_then_upscale(gateway: Gateway) -> None:
    answer = await gateway.submit("imagine", {"prompt": "a red fox"})
    assert answer["description"] == "Submit success"
    assert len(answer["result"]) == 16 and answer["result"].isdigit()
    task = await gateway.wait(answer["result"])
    assert task["status"] == "SUCCESS", task
    assert task["progress"] == "100%"
    assert len(task["imageUrls"]) == 4
    async with httpx.AsyncClient() as anonymous:
        image = await anonymous.get(task["imageUrl"])
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/png"
    grid = Image.open(io.BytesIO(image.content))
    async with httpx.AsyncClient() as anonymous:
        second = await anonymous.get(task["imageUrls"][1]["url"])
    # imageUrls are the grid's four cells: each is half the grid's width and height.
    cell = Image.open(io.BytesIO(second.content))
    assert cell.size == (grid.size[0] // 2, grid.size[1] // 2)
    assert cell.tobytes() == grid.crop((cell.size[0], 0, grid.size[0], cell.size[1])).tobytes()
    upscale_id = next(b["customId"] for b in task["buttons"] if b["label"] == "U2")
    up = await gateway.finished("action", {"taskId": task["id"], "customId": upscale_id})
    assert up["action"] == "UPSCALE"
    assert up["description"] == f"/up {task['id']} U2"
    assert any(b["label"] == "Vary (Region)" for b in up["buttons"])
