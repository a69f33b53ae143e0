"""Where a task's result files go when downloaded: names, extensions, partial files."""

from __future__ import annotations

import mimetypes
import os
import re
from pathlib import Path
from urllib.parse import urlsplit

from mjgate.client.models import TaskData

EXTENSIONS = {"image/png": ".png", "image/jpeg": ".jpg", "image/webp": ".webp", "video/mp4": ".mp4"}


def targets(task: TaskData) -> list[tuple[str, str]]:
    """(url, file stem) for each result file: ``<id>`` the image, ``<id>-1..4`` the grid's
    images, ``<id>-video`` / ``<id>-video-N`` the videos."""
    named: list[tuple[str, str]] = []
    seen: set[str] = set()
    base = safe_name(task.id)

    def add(url: str | None, stem: str) -> None:
        if url and url not in seen:
            seen.add(url)
            named.append((url, stem))

    add(task.image_url, base)
    for n, url in enumerate(task.image_urls, 1):
        add(url, f"{base}-{n}")
    videos = task.video_urls or ([task.video_url] if task.video_url else [])
    for n, url in enumerate(videos, 1):
        add(url, f"{base}-video" if len(videos) == 1 else f"{base}-video-{n}")
    return named


def safe_name(task_id: str) -> str:
    """The id as a file name: a server's id never names a path (``../x`` stays in the folder)."""
    return re.sub(r"[^A-Za-z0-9_-]", "_", task_id)[:64] or "task"


def extension(url: str, content_type: str | None) -> str:
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind in EXTENSIONS:
        return EXTENSIONS[kind]
    suffix = Path(urlsplit(url).path).suffix
    if not re.fullmatch(r"\.[A-Za-z0-9]{1,8}", suffix):
        suffix = ""
    return suffix or mimetypes.guess_extension(kind) or ".bin"


def partial_path(directory: Path, stem: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    return directory / f".{stem}.part"


def finish(partial: Path, directory: Path, stem: str, suffix: str) -> Path:
    final = directory / f"{stem}{suffix}"
    os.replace(partial, final)
    return final
