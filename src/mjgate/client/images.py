"""Images a client sends: bytes or a file become a data URL; a URL or data URL goes as is."""

from __future__ import annotations

import base64
import os
from pathlib import Path

ImageSource = bytes | str | os.PathLike[str]

_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "png"),
    (b"\xff\xd8\xff", "jpeg"),
    (b"GIF87a", "gif"),
    (b"GIF89a", "gif"),
)


def image_kind(data: bytes) -> str:
    """png, jpeg, gif or webp from the first bytes (the server checks them again)."""
    for magic, kind in _MAGIC:
        if data.startswith(magic):
            return kind
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    raise ValueError("not a PNG, JPEG, GIF or WEBP image")


def data_url(data: bytes) -> str:
    return f"data:image/{image_kind(data)};base64,{base64.b64encode(data).decode()}"


def is_url(value: str) -> bool:
    return value.startswith(("data:", "http://", "https://"))


def to_data_url(source: ImageSource) -> str:
    """A data URL of the image in ``source``: its bytes, a path to it, or already a data URL."""
    if isinstance(source, bytes):
        return data_url(source)
    if isinstance(source, str) and source.startswith("data:"):
        return source
    return data_url(Path(source).read_bytes())


def to_image_field(source: ImageSource) -> str:
    """For fields that take a link too (video ``image``): an http(s) URL goes as is."""
    if isinstance(source, str) and is_url(source):
        return source
    return to_data_url(source)
