"""Result files from Discord's CDN made ours: links there expire (``ex``/``is``/``hm``), so
every file is downloaded once into our storage, and a grid is also cut into its four images
so that ``imageUrls`` lists them as for every other channel."""

from __future__ import annotations

import asyncio
import io

from PIL import Image

from mjgate.providers.base import ResultFile

# Pillow's own bomb guard stays on; a Midjourney grid is at most 4096 × 4096 (16.8 MP).
_GRID_CELLS = 2


def extension_of(data: bytes, content_type: str | None, fallback: str = "png") -> str:
    """The file's kind from its first bytes (the CDN's header can say octet-stream)."""
    if data.startswith(b"\x89PNG"):
        return "png"
    if data.startswith(b"\xff\xd8"):
        return "jpg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    if data[4:8] == b"ftyp":
        return "mp4"
    if data.startswith(b"GIF8"):
        return "gif"
    if content_type:
        kind = content_type.split(";")[0].strip().lower()
        return {"image/png": "png", "image/jpeg": "jpg", "image/webp": "webp"}.get(
            kind, "mp4" if kind == "video/mp4" else fallback
        )
    return fallback


def _cut(grid: bytes) -> tuple[bytes, ...]:
    with Image.open(io.BytesIO(grid)) as image:
        image.load()
        width, height = image.size
        cell_w, cell_h = width // _GRID_CELLS, height // _GRID_CELLS
        cells: list[bytes] = []
        for row in range(_GRID_CELLS):
            for column in range(_GRID_CELLS):
                box = (column * cell_w, row * cell_h, (column + 1) * cell_w, (row + 1) * cell_h)
                out = io.BytesIO()
                image.crop(box).save(out, format="PNG")
                cells.append(out.getvalue())
    return tuple(cells)


async def cut_grid(grid: bytes) -> tuple[ResultFile, ...]:
    """The four images of a 2 × 2 grid, left to right, top to bottom (U1..U4's order).

    Decoding and encoding are CPU work: off the event loop.
    """
    cells = await asyncio.to_thread(_cut, grid)
    return tuple(ResultFile(cell, "png") for cell in cells)
