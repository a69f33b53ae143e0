"""Videos for the sandbox channel: a simulated "animate", a slow or lively camera move over an
image, encoded in memory as an MP4 (H.264 when the bundled FFmpeg has libx264, else MPEG-4
Part 2). Deterministic for its inputs and seed; bytes in, bytes out, no files.
"""

from __future__ import annotations

import functools
import math
import random
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from fractions import Fraction
from io import BytesIO
from typing import Literal

import av
from PIL import Image

from mjgate.errors import ProviderRejected
from mjgate.providers.sandbox_art import decode_image

MAX_SIDE = 512  # long side of the video frames
MAX_SECONDS = 30.0  # longest animation or extension we will render at once
MAX_INPUT_FRAMES = 1800  # extend: a minute at 30 fps is the most we re-encode
MAX_INPUT_PIXELS = 2048 * 2048  # extend: refuse larger frames before decoding any

_Codec = Literal["libx264", "mpeg4"]


@dataclass(frozen=True)
class _Motion:
    zoom: float  # how far the camera pushes in over the clip (0.1 = 10 %)
    drift: float  # how far it travels, as a share of the frame
    shake: float  # hand-held jitter per frame, as a share of the frame


_MOTIONS = {
    "low": _Motion(zoom=0.10, drift=0.04, shake=0.0),
    "high": _Motion(zoom=0.30, drift=0.12, shake=0.008),
}


def animate(image: bytes, motion: str, seconds: float = 2.0, fps: int = 12, seed: int = 0) -> bytes:
    """An MP4 of a camera move over `image`: "low" slow and smooth, "high" faster and shakier."""
    move = _motion(motion)
    count = _frame_count(seconds, fps)
    # Decoded just large enough that the closest crop still has a source pixel per output
    # pixel: sharper than enlarging, cheaper per frame than a larger source.
    source = decode_image(image, "image", limit=math.ceil(MAX_SIDE * (1 + move.zoom)))
    size = _even_fit(source.size, MAX_SIDE)
    frames = _camera(source, size, count, move, random.Random(f"animate:{seed}:{motion}"))
    return _encode(frames, size, fps)


def extend(video_mp4: bytes, motion: str, seconds: float = 2.0, seed: int = 0) -> bytes:
    """The video followed by a new camera move that starts from its last frame."""
    move = _motion(motion)
    fps, size = _probe(video_mp4)
    count = _frame_count(seconds, fps)
    # Frames stream from decoder to encoder; only the last one is kept, to animate on from.
    with _Mp4Writer(size, fps) as writer:
        last = None
        for frame in _frames(video_mp4, size):
            writer.add(frame)
            last = frame
        if last is None:
            raise ProviderRejected("the video has no frames")
        rng = random.Random(f"extend:{seed}:{motion}:{writer.count}")
        onward = _camera(_to_image(last), size, count + 1, move, rng)
        next(onward)  # the move's first frame is the last frame itself: no frame twice
        for image in onward:
            writer.add(_from_image(image))
        return writer.result()


# ---------------------------------------------------------------- motion


def _motion(motion: str) -> _Motion:
    try:
        return _MOTIONS[motion]
    except KeyError:
        raise ProviderRejected(f"motion must be low or high, not {motion}") from None


def _frame_count(seconds: float, fps: int) -> int:
    if not 0 < seconds <= MAX_SECONDS:
        raise ProviderRejected(f"video length must be above 0 and at most {MAX_SECONDS:g} s")
    if not 1 <= fps <= 60:
        raise ProviderRejected(f"frame rate must be 1 to 60, not {fps}")
    return max(1, round(seconds * fps))


def _even_fit(size: tuple[int, int], long_side: int) -> tuple[int, int]:
    """`size` scaled down to `long_side` at most, both sides even (yuv420p needs that)."""
    scale = min(1.0, long_side / max(size))
    width, height = (max(2, round(side * scale) // 2 * 2) for side in size)
    return width, height


def _camera(
    source: Image.Image, size: tuple[int, int], count: int, move: _Motion, rng: random.Random
) -> Iterator[Image.Image]:
    """`count` frames of `size`: a crop box that pushes in, drifts and maybe shakes."""
    width, height = source.size
    heading = rng.uniform(0, 2 * math.pi)
    for index in range(count):
        progress = index / (count - 1) if count > 1 else 0.0
        eased = progress * progress * (3 - 2 * progress)  # starts and ends gently
        zoom = 1 + move.zoom * eased
        box_w, box_h = width / zoom, height / zoom
        centre_x = width / 2 + math.cos(heading) * move.drift * width * eased
        centre_y = height / 2 + math.sin(heading) * move.drift * height * eased
        if move.shake and index:  # the first frame stays put, so an extension joins cleanly
            centre_x += rng.gauss(0, move.shake * width)
            centre_y += rng.gauss(0, move.shake * height)
        # Keep the box inside the picture: drift and shake give way at the edges.
        left = min(max(centre_x - box_w / 2, 0.0), width - box_w)
        top = min(max(centre_y - box_h / 2, 0.0), height - box_h)
        box = (left, top, left + box_w, top + box_h)
        yield source.resize(size, Image.Resampling.BILINEAR, box=box)


# ---------------------------------------------------------------- encoding and decoding


@functools.cache
def _codec() -> _Codec:
    """libx264 where the bundled FFmpeg has it, else mpeg4 (checked once per process)."""
    names: tuple[_Codec, ...] = ("libx264", "mpeg4")
    for name in names:
        try:
            av.codec.Codec(name, "w")
        except ValueError:  # UnknownCodecError
            continue
        return name
    raise ProviderRejected("this FFmpeg build has neither a libx264 nor an mpeg4 encoder")


class _Mp4Writer:
    """An in-memory MP4 encoder: yuv420p frames of one size at a constant frame rate."""

    def __init__(self, size: tuple[int, int], fps: int, codec: _Codec | None = None) -> None:
        self.codec = codec or _codec()
        self.count = 0
        self._open = True
        self._fps = fps
        self._buffer = BytesIO()
        # No "+faststart": it reopens the output by name for a second pass, which an in-memory
        # buffer cannot do. The clips are small, so the index at the end costs little.
        self._output = av.open(self._buffer, mode="w", format="mp4")
        self._stream = self._output.add_stream(self.codec, rate=fps)
        self._stream.width, self._stream.height = size
        self._stream.pix_fmt = "yuv420p"
        if self.codec == "libx264":
            self._stream.options = {"preset": "veryfast", "crf": "23"}
        else:
            self._stream.bit_rate = 2_000_000
        # One thread: the bytes then do not depend on how many cores the machine has.
        self._stream.codec_context.thread_count = 1

    def __enter__(self) -> _Mp4Writer:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._close()  # on success result() has closed it already

    def _close(self) -> None:
        if self._open:  # PyAV may crash on a use after close, so guard every use
            self._open = False
            self._output.close()

    def add(self, frame: av.VideoFrame) -> None:
        if not self._open:
            raise RuntimeError("the MP4 writer is closed")
        frame.pts, frame.time_base = self.count, Fraction(1, self._fps)
        self._output.mux(self._stream.encode(frame))
        self.count += 1

    def result(self) -> bytes:
        """Flush the encoder, finish the file and return its bytes."""
        if not self._open:
            raise RuntimeError("the MP4 writer is closed")
        self._output.mux(self._stream.encode(None))
        self._close()
        return self._buffer.getvalue()


def _encode(
    images: Iterable[Image.Image], size: tuple[int, int], fps: int, codec: _Codec | None = None
) -> bytes:
    with _Mp4Writer(size, fps, codec) as writer:
        for image in images:
            writer.add(_from_image(image))
        return writer.result()


def _probe(data: bytes) -> tuple[int, tuple[int, int]]:
    """The frame rate and the (even, bounded) output frame size of an MP4."""
    try:
        with av.open(BytesIO(data), mode="r", format="mp4") as container:
            if not container.streams.video:
                raise ProviderRejected("the video has no video stream")
            stream = container.streams.video[0]
            width, height = stream.codec_context.width, stream.codec_context.height
            rate = stream.average_rate or stream.guessed_rate or Fraction(12)
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProviderRejected("the video is not a readable MP4") from exc
    if width <= 0 or height <= 0:
        raise ProviderRejected("the video's frames have no size")
    if width * height > MAX_INPUT_PIXELS:
        raise ProviderRejected(f"the video's frames ({width}×{height}) are too large to extend")
    return min(60, max(1, round(rate))), _even_fit((width, height), MAX_SIDE)


def _frames(data: bytes, size: tuple[int, int]) -> Iterator[av.VideoFrame]:
    """The MP4's frames, scaled to `size` in yuv420p, or ProviderRejected."""
    try:
        with av.open(BytesIO(data), mode="r", format="mp4") as container:
            for index, frame in enumerate(container.decode(video=0)):
                if index == MAX_INPUT_FRAMES:
                    raise ProviderRejected("the video is too long to extend")
                yield frame.reformat(width=size[0], height=size[1], format="yuv420p")
    except (av.FFmpegError, OSError, ValueError) as exc:
        raise ProviderRejected("the video is not a readable MP4") from exc


# PyAV's stubs leave these two untyped; both work without numpy.
def _to_image(frame: av.VideoFrame) -> Image.Image:
    image: Image.Image = frame.to_image()  # type: ignore[no-untyped-call]
    return image


def _from_image(image: Image.Image) -> av.VideoFrame:
    frame: av.VideoFrame = av.VideoFrame.from_image(image)  # type: ignore[no-untyped-call]
    return frame
