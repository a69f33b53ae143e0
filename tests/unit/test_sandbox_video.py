"""The sandbox's simulated videos: real, playable MP4s of the right length, deterministic."""

from __future__ import annotations

import subprocess
import sys
from io import BytesIO

import av
import pytest
from PIL import Image, ImageChops, ImageDraw, ImageStat

from mjgate.errors import ProviderRejected
from mjgate.providers import sandbox_video
from mjgate.providers.sandbox_video import animate, extend


def scene(size: tuple[int, int] = (768, 512)) -> bytes:
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.ellipse((width * 0.2, height * 0.2, width * 0.5, height * 0.7), fill=(220, 50, 40))
    draw.rectangle((width * 0.6, height * 0.1, width * 0.9, height * 0.5), fill=(30, 80, 210))
    buffer = BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def frames_of(data: bytes) -> tuple[list[Image.Image], float, str, str]:
    """The decoded frames, the duration in seconds, the codec and the pixel format."""
    with av.open(BytesIO(data), mode="r") as container:
        stream = container.streams.video[0]
        images = [frame.to_image() for frame in container.decode(stream)]  # type: ignore[no-untyped-call]
        assert stream.duration is not None and stream.time_base is not None
        duration = float(stream.duration * stream.time_base)
        return images, duration, stream.codec_context.name, stream.codec_context.pix_fmt or ""


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


@pytest.fixture(scope="module")
def low() -> bytes:
    return animate(scene(), "low", seconds=2.0, fps=12, seed=1)


def test_animate_makes_a_playable_mp4_of_the_right_length(low: bytes) -> None:
    images, duration, codec, pix_fmt = frames_of(low)
    assert abs(len(images) - 24) <= 1
    assert duration == pytest.approx(2.0, abs=0.1)
    assert codec in ("h264", "mpeg4")
    assert pix_fmt == "yuv420p"
    assert images[0].size == (512, 340)  # long side 512, both sides even


def test_animate_moves_the_camera(low: bytes) -> None:
    images, *_ = frames_of(low)
    assert mean_diff(images[0], images[-1]) > 3  # the picture has moved
    assert mean_diff(images[0], images[1]) < mean_diff(images[0], images[-1])  # gradually


def test_high_motion_moves_more_than_low(low: bytes) -> None:
    high = animate(scene(), "high", seconds=2.0, fps=12, seed=1)
    low_frames, *_ = frames_of(low)
    high_frames, *_ = frames_of(high)
    assert mean_diff(high_frames[0], high_frames[-1]) > mean_diff(low_frames[0], low_frames[-1])


def test_animate_is_deterministic(low: bytes) -> None:
    assert animate(scene(), "low", seconds=2.0, fps=12, seed=1) == low
    assert animate(scene(), "high", seed=5) != animate(scene(), "high", seed=6)


@pytest.mark.parametrize(("seconds", "fps", "frames"), [(1.0, 24, 24), (0.5, 10, 5), (3.0, 8, 24)])
def test_animate_honours_seconds_and_fps(seconds: float, fps: int, frames: int) -> None:
    images, duration, *_ = frames_of(animate(scene((300, 200)), "low", seconds, fps))
    assert abs(len(images) - frames) <= 1
    assert duration == pytest.approx(seconds, abs=1 / fps + 0.01)


def test_odd_sized_images_give_even_frames() -> None:
    images, *_ = frames_of(animate(scene((301, 199)), "high", seconds=0.5))
    width, height = images[0].size
    assert width % 2 == 0 and height % 2 == 0 and max(width, height) <= 512


def test_extend_appends_a_move_that_starts_from_the_last_frame(low: bytes) -> None:
    original, *_ = frames_of(low)
    longer = extend(low, "high", seconds=2.0, seed=3)
    images, duration, _, pix_fmt = frames_of(longer)
    assert abs(len(images) - 48) <= 1
    assert duration == pytest.approx(4.0, abs=0.1)
    assert pix_fmt == "yuv420p"
    for before, after in zip(original, images, strict=False):  # the original plays first
        assert mean_diff(before, after) < 3
    seam = len(original)
    assert mean_diff(images[seam - 1], images[seam]) < 6  # no jump where the new part starts
    assert extend(low, "high", seconds=2.0, seed=3) == longer


@pytest.mark.parametrize(
    "call",
    [
        lambda: animate(scene(), "medium"),
        lambda: animate(scene(), "low", seconds=0),
        lambda: animate(scene(), "low", seconds=31),
        lambda: animate(scene(), "low", fps=0),
        lambda: animate(b"not an image", "low"),
        lambda: extend(b"not a video", "low"),
        lambda: extend(scene(), "low"),  # a PNG is not an MP4
    ],
    ids=["motion", "zero-seconds", "too-long", "zero-fps", "bad-image", "bad-video", "png"],
)
def test_bad_input_is_rejected(call: object) -> None:
    with pytest.raises(ProviderRejected):
        call()  # type: ignore[operator]


def test_the_mpeg4_fallback_makes_a_playable_mp4() -> None:
    frames = [Image.new("RGB", (64, 48), (index * 20, 0, 0)) for index in range(10)]
    images, duration, codec, pix_fmt = frames_of(
        sandbox_video._encode(frames, (64, 48), 10, codec="mpeg4")
    )
    assert (len(images), codec, pix_fmt) == (10, "mpeg4", "yuv420p")
    assert duration == pytest.approx(1.0, abs=0.11)


def test_video_works_without_numpy() -> None:
    script = (
        "import sys; sys.modules['numpy'] = None\n"  # any import of numpy now fails
        "from mjgate.providers.sandbox_video import animate, extend\n"
        "from PIL import Image; from io import BytesIO\n"
        "b = BytesIO(); Image.new('RGB', (64, 64), (9, 99, 199)).save(b, 'PNG')\n"
        "assert extend(animate(b.getvalue(), 'low', 0.5), 'high', 0.5)\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, timeout=60)
