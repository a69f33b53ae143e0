"""The sandbox channel: an offline simulator of Midjourney (it is not Midjourney).

It does the real lifecycle on a clock: a started job reports rising progress and, once its
duration has passed, renders a real result (grids of four PNGs drawn from the prompt, upscales
cut from the grid, an MP4 for video, describe and shorten texts). The state is a function of
the job's start time, so a restarted process simply picks the job up where the clock says.
"""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import Mapping
from typing import Any

from mjgate.domain import buttons
from mjgate.domain.images import sniff_image_type
from mjgate.domain.prompts import aspect_ratio
from mjgate.domain.tasks import TaskStatus
from mjgate.errors import ProviderRejected
from mjgate.providers import sandbox_art, sandbox_text, sandbox_video
from mjgate.providers.base import Capabilities, ProviderJob, ProviderUpdate, ResultFile

# How long each operation takes, as a share of the configured imagine duration.
_DURATION_SHARE: Mapping[str, float] = {
    "upscale": 0.25,
    "upscale_hd": 0.5,
    "describe": 0.25,
    "shorten": 0.25,
    "swap_face": 0.5,
    "video": 1.5,
    "video_extend": 1.5,
}


# The first tenth of a job's time, a second at most, is spent SUBMITTED, as a real job
# waits to be picked up.
_ACCEPT_SHARE = 0.1
_ACCEPT_MAX_MS = 1000


class SandboxProvider:
    capabilities = Capabilities()  # every action; seeds are in its results already

    def __init__(self, imagine_seconds: float) -> None:
        self._imagine_ms = imagine_seconds * 1000

    def duration_ms(self, op: str) -> float:
        return self._imagine_ms * _DURATION_SHARE.get(op, 1.0)

    async def start(self, job: ProviderJob) -> ProviderUpdate:
        if self.duration_ms(_op(job)) <= 0:
            return await self._finish(job)
        return ProviderUpdate(status=TaskStatus.SUBMITTED, progress=0)

    async def poll(self, job: ProviderJob, now: int) -> ProviderUpdate | None:
        duration = self.duration_ms(_op(job))
        elapsed = now - job.started_at
        if elapsed >= duration:
            return await self._finish(job)
        if elapsed < min(duration * _ACCEPT_SHARE, _ACCEPT_MAX_MS):
            return None  # still SUBMITTED: Midjourney has not picked the job up yet
        return ProviderUpdate(status=TaskStatus.IN_PROGRESS, progress=int(100 * elapsed / duration))

    async def cancel(self, job: ProviderJob) -> None:
        # Nothing runs between polls: a cancelled job is simply never polled again.
        return None

    async def image_seed(self, job: ProviderJob) -> str | None:
        return None  # the seed is in the task's result from the start

    async def close(self) -> None:
        return None  # nothing held between polls

    async def _finish(self, job: ProviderJob) -> ProviderUpdate:
        inputs = await job.load_inputs()
        # Rendering is CPU work: keep it off the event loop so other requests go on.
        return await asyncio.to_thread(render_result, job, inputs)


def _op(job: ProviderJob) -> str:
    return str(job.params.get("op", "imagine"))


def render_result(job: ProviderJob, inputs: Mapping[str, bytes]) -> ProviderUpdate:
    """The finished job's result, computed from its inputs alone (deterministic per seed)."""
    op = _op(job)
    params = job.params
    seed = int(params.get("seed", 0))
    message_hash = str(uuid.UUID(int=random.Random(seed).getrandbits(128), version=4))
    renderer = _RENDERERS.get(op)
    if renderer is None:
        raise ProviderRejected(f"the sandbox cannot do '{op}'")
    update: ProviderUpdate = renderer(job, inputs, params, seed, message_hash)
    return update


def _need(inputs: Mapping[str, bytes], role: str) -> bytes:
    try:
        return inputs[role]
    except KeyError:
        raise ProviderRejected(f"the job has no '{role}' input") from None


def _grid_update(grid: sandbox_art.Grid, seed: int, message_hash: str) -> ProviderUpdate:
    return ProviderUpdate(
        status=TaskStatus.SUCCESS,
        image=ResultFile(grid.grid, "png"),
        images=tuple(ResultFile(image, "png") for image in grid.images),
        buttons=tuple(buttons.grid_buttons(message_hash)),
        message_hash=message_hash,
        seed=str(seed),
    )


def _single_update(image: bytes, seed: int, message_hash: str) -> ProviderUpdate:
    return ProviderUpdate(
        status=TaskStatus.SUCCESS,
        image=ResultFile(image, "png"),
        buttons=tuple(buttons.upscale_buttons(message_hash)),
        message_hash=message_hash,
        seed=str(seed),
    )


def _imagine(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    grid = sandbox_art.render_grid(job.prompt, seed, aspect_ratio(job.prompt))
    references = [inputs[key] for key in sorted(inputs) if key.startswith("ref")]
    if references:
        grid = sandbox_art.reference_tint(grid, references)
    return _grid_update(grid, seed, h)


def _blend(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    images = [inputs[key] for key in sorted(inputs) if key.startswith("image")]
    grid = sandbox_art.blend(images, str(params.get("dimensions", "SQUARE")), seed)
    return _grid_update(grid, seed, h)


def _upscale(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    image = sandbox_art.upscale(_need(inputs, "grid"), int(params["index"]))
    return _single_update(image, seed, h)


def _upscale_hd(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    image = sandbox_art.upscale_more(
        _need(inputs, "image"), int(params.get("factor", 2)), bool(params.get("creative")), seed
    )
    return _single_update(image, seed, h)


def _source_image(inputs: Mapping[str, bytes], params: Mapping[str, Any]) -> bytes:
    """The image a follow-up works on: a chosen quadrant of a grid, or a single image."""
    if "grid" in inputs:
        return sandbox_art.upscale(inputs["grid"], int(params.get("index", 1)))
    return _need(inputs, "image")


def _vary(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    strength = float(params.get("strength", 0.5))
    return _grid_update(sandbox_art.vary(_source_image(inputs, params), seed, strength), seed, h)


def _zoom(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    factor = float(params.get("factor", 2.0))
    grid = sandbox_art.zoom_out(_need(inputs, "image"), factor, job.prompt, seed)
    return _grid_update(grid, seed, h)


def _pan(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    grid = sandbox_art.pan(_need(inputs, "image"), str(params["direction"]), job.prompt, seed)
    return _grid_update(grid, seed, h)


def _inpaint(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    grid = sandbox_art.inpaint(_need(inputs, "image"), _need(inputs, "mask"), job.prompt, seed)
    return _grid_update(grid, seed, h)


def _edits(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    grid = sandbox_art.edit(_need(inputs, "image"), inputs.get("mask"), job.prompt, seed)
    return _grid_update(grid, seed, h)


def _swap_face(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    image = sandbox_art.swap_face(_need(inputs, "source"), _need(inputs, "target"), seed)
    return ProviderUpdate(
        status=TaskStatus.SUCCESS, image=ResultFile(image, "png"), message_hash=h, seed=str(seed)
    )


def _video_update(video: bytes, cover: bytes, motion: str, seed: int, h: str) -> ProviderUpdate:
    return ProviderUpdate(
        status=TaskStatus.SUCCESS,
        image=ResultFile(cover, "png"),
        video=ResultFile(video, "mp4"),
        buttons=tuple(buttons.video_buttons(h)),
        message_hash=h,
        seed=str(seed),
    )


def _video(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    motion = str(params.get("motion", "low"))
    if "image" in inputs or "grid" in inputs:
        cover = _source_image(inputs, params)
    else:
        cover = sandbox_art.render_grid(job.prompt, seed, aspect_ratio(job.prompt)).images[0]
    video = sandbox_video.animate(cover, motion, seed=seed)
    return _video_update(video, cover, motion, seed, h)


def _video_extend(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    motion = str(params.get("motion", "low"))
    video = sandbox_video.extend(_need(inputs, "video"), motion, seed=seed)
    return _video_update(video, _need(inputs, "image"), motion, seed, h)


def _describe(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    image = _need(inputs, "image")
    prompts = sandbox_text.describe(image)
    text = sandbox_text.format_describe(prompts)
    return ProviderUpdate(
        status=TaskStatus.SUCCESS,
        image=ResultFile(image, _extension_of(image)),
        buttons=tuple(buttons.describe_buttons()),
        final_prompt=text,
        prompt_en=text,
        texts=prompts,
        message_hash=h,
    )


def _extension_of(image: bytes) -> str:
    """The stored file's extension from its bytes, so it is served with the right type."""
    sniffed = sniff_image_type(image)
    return sniffed[1] if sniffed else "png"


def _shorten(
    job: ProviderJob, inputs: Mapping[str, bytes], params: Mapping[str, Any], seed: int, h: str
) -> ProviderUpdate:
    analysis, prompts = sandbox_text.shorten(job.prompt)
    return ProviderUpdate(
        status=TaskStatus.SUCCESS,
        buttons=tuple(buttons.shorten_buttons()),
        final_prompt=analysis,
        texts=prompts,
        message_hash=h,
    )


_RENDERERS = {
    "imagine": _imagine,
    "blend": _blend,
    "upscale": _upscale,
    "upscale_hd": _upscale_hd,
    "vary": _vary,
    "zoom": _zoom,
    "pan": _pan,
    "inpaint": _inpaint,
    "edits": _edits,
    "swap_face": _swap_face,
    "video": _video,
    "video_extend": _video_extend,
    "describe": _describe,
    "shorten": _shorten,
}
