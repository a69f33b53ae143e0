"""The pictures the simulated bot posts: grids of four tiles, single images cut from them,
blurred previews and one tiny MP4. Drawn with Pillow from the prompt, small and fast, and
plainly marked as simulated."""

from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from typing import Any

from PIL import Image, ImageDraw, ImageFilter

TILE = 256


def _colour(seed: str) -> tuple[int, int, int]:
    digest = hashlib.sha256(seed.encode()).digest()
    return digest[0], digest[1], digest[2]


def _png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG", compress_level=1)
    return out.getvalue()


def draw_tile(prompt: str, job_hash: str, index: int) -> bytes:
    """One image of a job: a colour field from the prompt and job, a shape, a label."""
    base = _colour(f"{prompt}|{job_hash}|{index}")
    image = Image.new("RGB", (TILE, TILE), base)
    draw = ImageDraw.Draw(image)
    accent = tuple(255 - c for c in base)
    inset = 30 + 10 * index
    draw.ellipse((inset, inset, TILE - inset, TILE - inset), fill=accent)
    draw.text((8, 8), f"SIMULATED #{index}", fill=(255, 255, 255))
    draw.text((8, TILE - 20), prompt[:36], fill=(255, 255, 255))
    return _png(image)


def draw_grid(tiles: list[bytes]) -> bytes:
    """Four tiles as one 2x2 grid PNG."""
    grid = Image.new("RGB", (TILE * 2, TILE * 2))
    for n, tile in enumerate(tiles[:4]):
        grid.paste(Image.open(io.BytesIO(tile)), ((n % 2) * TILE, (n // 2) * TILE))
    return _png(grid)


def draw_preview(prompt: str, job_hash: str, percent: int) -> tuple[bytes, str]:
    """A small blurred preview (WebP when Pillow has it, else PNG) and its content type."""
    image = Image.new("RGB", (64, 64), _colour(f"{prompt}|{job_hash}|0"))
    ImageDraw.Draw(image).text((4, 26), f"{percent}%", fill=(255, 255, 255))
    image = image.filter(ImageFilter.GaussianBlur(2))
    out = io.BytesIO()
    try:
        image.save(out, "WEBP", quality=30)
        return out.getvalue(), "image/webp"
    except (KeyError, OSError):
        out = io.BytesIO()
        image.save(out, "PNG")
        return out.getvalue(), "image/png"


def image_size(data: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(data)) as image:
        return image.size


@lru_cache(maxsize=1)
def tiny_mp4() -> bytes:
    """A one-second 64x64 H.264 (or MPEG-4) clip, made once per process."""
    try:
        import av  # imported late: only video jobs pay for it

        out = io.BytesIO()
        container = av.open(out, "w", format="mp4")
        codec = "libx264" if "libx264" in av.codecs_available else "mpeg4"
        stream: Any = container.add_stream(codec, rate=8)
        stream.width, stream.height, stream.pix_fmt = 64, 64, "yuv420p"
        for n in range(8):
            frame = av.VideoFrame.from_image(  # type: ignore[no-untyped-call]
                Image.new("RGB", (64, 64), (n * 30, 40, 90))
            )
            for packet in stream.encode(frame):
                container.mux(packet)
        for packet in stream.encode():
            container.mux(packet)
        container.close()
        return out.getvalue()
    except Exception:  # no encoder here: any bytes labelled video/mp4 will do for a simulator
        return b"\x00\x00\x00\x18ftypmp42\x00\x00\x00\x00mp42isomSIMULATED"
