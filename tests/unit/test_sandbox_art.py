"""The sandbox's simulated pictures: sizes, real pixel relationships, determinism, hardening."""

from __future__ import annotations

import struct
import warnings
import zlib
from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageChops, ImageDraw, ImageStat

from mjgate.errors import ProviderRejected
from mjgate.providers import sandbox_drawing
from mjgate.providers.sandbox_art import (
    Grid,
    blend,
    decode_image,
    edit,
    image_size,
    inpaint,
    pan,
    reference_tint,
    render_grid,
    swap_face,
    upscale,
    upscale_more,
    vary,
    zoom_out,
)

BADGE = (180, 20)  # the "simulated" badge fits in this bottom-right box


def encode(image: Image.Image, fmt: str = "PNG") -> bytes:
    buffer = BytesIO()
    image.save(buffer, fmt)
    return buffer.getvalue()


def load(data: bytes) -> Image.Image:
    image = Image.open(BytesIO(data))
    assert image.format == "PNG"
    return image.convert("RGB")


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (512, 512)) -> bytes:
    return encode(Image.new("RGB", size, colour))


def scene(size: tuple[int, int] = (512, 512)) -> Image.Image:
    """A picture with structure, so that crops and moves are detectable."""
    image = Image.linear_gradient("L").resize(size).convert("RGB")
    draw = ImageDraw.Draw(image)
    width, height = size
    draw.ellipse((width * 0.1, height * 0.1, width * 0.5, height * 0.6), fill=(200, 40, 40))
    draw.rectangle((width * 0.55, height * 0.5, width * 0.9, height * 0.9), fill=(30, 60, 200))
    return image


def mean_diff(a: Image.Image, b: Image.Image) -> float:
    return sum(ImageStat.Stat(ImageChops.difference(a, b)).mean) / 3


def changed_fraction(a: Image.Image, b: Image.Image, threshold: int = 8) -> float:
    diff = ImageChops.difference(a, b).convert("L").point(lambda v: 255 if v > threshold else 0)
    return ImageStat.Stat(diff).mean[0] / 255


def without_badge(image: Image.Image) -> Image.Image:
    """A copy with the badge corner blacked out, so comparisons ignore it."""
    copy = image.copy()
    copy.paste((0, 0, 0), (copy.width - BADGE[0], copy.height - BADGE[1], copy.width, copy.height))
    return copy


def assert_grid(grid: Grid, size: tuple[int, int]) -> list[Image.Image]:
    """The grid is the four images, each `size`, laid out 2×2."""
    sheet = load(grid.grid)
    images = [load(data) for data in grid.images]
    assert sheet.size == (size[0] * 2, size[1] * 2)
    for index, image in enumerate(images):
        assert image.size == size
        left, top = index % 2 * size[0], index // 2 * size[1]
        tile = sheet.crop((left, top, left + size[0], top + size[1]))
        assert ImageChops.difference(tile, image).getbbox() is None
    return images


@pytest.fixture(scope="module")
def fox() -> Grid:
    return render_grid("a red fox in the snow --ar 3:2", 42, (3, 2))


# ---------------------------------------------------------------- sizes


@pytest.mark.parametrize(
    ("aspect", "size"),
    [
        ((1, 1), (512, 512)),
        ((16, 9), (512, 288)),
        ((9, 16), (288, 512)),
        ((3, 2), (512, 344)),
        ((2, 3), (344, 512)),
        ((4, 3), (512, 384)),
        ((1, 20), (64, 512)),
    ],
)
def test_image_size_has_long_side_512_and_multiples_of_8(
    aspect: tuple[int, int], size: tuple[int, int]
) -> None:
    assert image_size(aspect) == size
    assert all(side % 8 == 0 for side in size)


@pytest.mark.parametrize("aspect", [(0, 1), (1, 0), (-3, 2)])
def test_image_size_refuses_non_positive_ratios(aspect: tuple[int, int]) -> None:
    with pytest.raises(ProviderRejected):
        image_size(aspect)


# ---------------------------------------------------------------- imagine


def test_render_grid_is_four_images_in_a_2x2_png(fox: Grid) -> None:
    images = assert_grid(fox, (512, 344))
    assert len({image.tobytes() for image in images}) == 4  # every quadrant differs


def test_render_grid_is_deterministic_and_seeded(fox: Grid) -> None:
    assert render_grid("a red fox in the snow --ar 3:2", 42, (3, 2)) == fox
    assert render_grid("a red fox in the snow --ar 3:2", 43, (3, 2)).grid != fox.grid


@pytest.mark.parametrize(
    ("prompt", "channel"),
    [("a red fox", 0), ("a green forest path", 1), ("a blue whale in the deep", 2)],
)
def test_colour_words_dominate_every_image(prompt: str, channel: int) -> None:
    for data in render_grid(prompt, 7, (1, 1)).images:
        means = ImageStat.Stat(load(data)).mean
        others = [mean for index, mean in enumerate(means) if index != channel]
        assert means[channel] > max(others) + 15, (prompt, means)


def test_each_image_carries_the_simulated_caption_strip(fox: Grid) -> None:
    image = load(fox.images[0])
    strip = image.crop((0, image.height - 30, image.width, image.height))
    assert ImageStat.Stat(strip.convert("L")).mean[0] < 80  # a dark band with light text
    assert sandbox_drawing.LABEL == "mjgate sandbox · simulated"


def test_prompts_in_any_script_render() -> None:
    grid = render_grid("一只红色的狐狸 🦊 " + "x" * 400, 1, (9, 16))
    assert_grid(grid, (288, 512))


# ---------------------------------------------------------------- upscale


@pytest.mark.parametrize("index", [1, 2, 3, 4])
def test_upscale_is_the_quadrant_enlarged_twice(fox: Grid, index: int) -> None:
    result = load(upscale(fox.grid, index))
    assert result.size == (1024, 688)
    quadrant = load(fox.images[index - 1])
    assert mean_diff(result.resize(quadrant.size, Image.Resampling.LANCZOS), quadrant) < 2
    for other in {1, 2, 3, 4} - {index}:  # and not some other quadrant
        assert mean_diff(result.resize(quadrant.size), load(fox.images[other - 1])) > 5


@pytest.mark.parametrize("index", [0, 5, -1])
def test_upscale_refuses_an_index_outside_1_to_4(fox: Grid, index: int) -> None:
    with pytest.raises(ProviderRejected):
        upscale(fox.grid, index)


def test_upscale_more_doubles_and_caps_at_2048(fox: Grid) -> None:
    single = upscale(fox.grid, 1)  # 1024 × 688
    assert load(upscale_more(single, 2, False, 1)).size == (2048, 1376)
    assert load(upscale_more(single, 4, False, 1)).size == (2048, 1376)  # capped
    small = encode(scene((200, 100)))
    assert load(upscale_more(small, 4, False, 1)).size == (800, 400)


def test_upscale_more_creative_adds_detail_subtle_does_not(fox: Grid) -> None:
    source = load(fox.images[0])
    data = fox.images[0]
    subtle = load(upscale_more(data, 2, False, 1))
    creative = load(upscale_more(data, 2, True, 1))
    plain = source.resize(subtle.size, Image.Resampling.BICUBIC)
    assert mean_diff(subtle, plain) < 1
    assert mean_diff(creative, plain) > mean_diff(subtle, plain)
    assert upscale_more(data, 2, True, 1) == upscale_more(data, 2, True, 1)
    assert upscale_more(data, 2, True, 2) != upscale_more(data, 2, True, 1)


def test_upscale_more_refuses_other_factors(fox: Grid) -> None:
    with pytest.raises(ProviderRejected):
        upscale_more(fox.images[0], 3, False, 1)


# ---------------------------------------------------------------- vary


def test_vary_changes_in_proportion_to_strength() -> None:
    source = scene()
    data = encode(source)
    subtle = [load(d) for d in vary(data, 5, 0.0).images]
    strong = assert_grid(vary(data, 5, 1.0), (512, 512))
    for image in subtle:
        assert mean_diff(without_badge(image), without_badge(source)) < 1
    assert all(mean_diff(image, source) > 10 for image in strong)
    assert len({image.tobytes() for image in strong}) == 4
    assert vary(data, 5, 0.6) == vary(data, 5, 0.6)


def test_vary_brings_a_large_upscale_back_to_grid_size(fox: Grid) -> None:
    assert_grid(vary(upscale(fox.grid, 2), 1, 0.5), (512, 344))


# ---------------------------------------------------------------- blend


def test_blend_of_red_and_blue_has_both_in_every_quadrant() -> None:
    grid = blend([solid((255, 0, 0)), solid((0, 0, 255), (300, 700))], "SQUARE", 3)
    images = assert_grid(grid, (512, 512))
    for image in images:
        red, green, blue = ImageStat.Stat(without_badge(image)).mean
        assert red > 50 and blue > 50 and green < 10
    assert len({image.tobytes() for image in images}) > 1  # quadrants weigh differently
    assert blend([solid((255, 0, 0)), solid((0, 0, 255))], "SQUARE", 3) == grid


@pytest.mark.parametrize(
    ("dimensions", "size"),
    [("PORTRAIT", (344, 512)), ("SQUARE", (512, 512)), ("LANDSCAPE", (512, 344))],
)
def test_blend_dimensions(dimensions: str, size: tuple[int, int]) -> None:
    images = [encode(scene((300, 200))), solid((0, 200, 0)), solid((250, 250, 0), (64, 64))]
    assert_grid(blend(images, dimensions, 1), size)


@pytest.mark.parametrize("count", [0, 1, 6])
def test_blend_takes_two_to_five_images(count: int) -> None:
    with pytest.raises(ProviderRejected):
        blend([solid((1, 2, 3))] * count, "SQUARE", 1)


def test_blend_refuses_unknown_dimensions() -> None:
    with pytest.raises(ProviderRejected):
        blend([solid((1, 2, 3))] * 2, "WIDE", 1)


# ---------------------------------------------------------------- zoom and pan


@pytest.mark.parametrize(("factor", "side"), [(2.0, 1024), (1.5, 768), (1.25, 640)])
def test_zoom_out_puts_the_source_at_the_centre_of_a_larger_canvas(
    factor: float, side: int
) -> None:
    source = scene()
    images = assert_grid(zoom_out(encode(source), factor, "golden hour", 9), (side, side))
    offset = (side - 512) // 2
    for image in images:
        centre = image.crop((offset, offset, offset + 512, offset + 512))
        assert ImageChops.difference(centre, source).getbbox() is None
    assert len({image.tobytes() for image in images}) == 4  # four different borders


def test_zoom_out_keeps_the_canvas_within_1024() -> None:
    source = scene((1024, 1024))
    images = assert_grid(zoom_out(encode(source), 2.0, "sea", 1), (1024, 1024))
    centre = images[0].crop((256, 256, 768, 768))
    assert mean_diff(centre, source.resize((512, 512), Image.Resampling.LANCZOS)) < 1


@pytest.mark.parametrize("factor", [1.0, 0.5, 2.01, 3.0])
def test_zoom_out_refuses_factors_outside_1_to_2(factor: float) -> None:
    with pytest.raises(ProviderRejected):
        zoom_out(solid((1, 2, 3)), factor, "x", 1)


@pytest.mark.parametrize(
    ("direction", "size", "at"),
    [
        ("left", (768, 512), (256, 0)),
        ("right", (768, 512), (0, 0)),
        ("up", (512, 768), (0, 256)),
        ("down", (512, 768), (0, 0)),
    ],
)
def test_pan_extends_the_canvas_by_half_in_the_direction(
    direction: str, size: tuple[int, int], at: tuple[int, int]
) -> None:
    source = scene()
    images = assert_grid(pan(encode(source), direction, "a red fox", 4), size)
    for image in images:
        kept = image.crop((at[0], at[1], at[0] + 512, at[1] + 512))
        assert mean_diff(without_badge(kept), without_badge(source)) < 0.5
    assert len({image.tobytes() for image in images}) == 4


def test_pan_keeps_the_canvas_within_1024() -> None:
    images = assert_grid(pan(encode(scene((1024, 1024))), "right", "x", 1), (1024, 683))
    assert images[0].width / images[0].height == pytest.approx(1.5, rel=0.01)


def test_pan_refuses_unknown_directions() -> None:
    with pytest.raises(ProviderRejected):
        pan(solid((1, 2, 3)), "sideways", "x", 1)


# ---------------------------------------------------------------- inpaint and edit


def centre_mask(size: tuple[int, int] = (512, 512)) -> Image.Image:
    mask = Image.new("L", size, 0)
    width, height = size
    mask.paste(255, (width // 4, height // 4, width * 3 // 4, height * 3 // 4))
    return mask


def test_inpaint_changes_pixels_under_the_mask_only() -> None:
    source = scene()
    images = assert_grid(
        inpaint(encode(source), encode(centre_mask()), "blue flowers", 2), (512, 512)
    )
    margin = 8  # the mask's feather
    outside = Image.new("L", (512, 512), 255)
    outside.paste(0, (128 - margin, 128 - margin, 384 + margin, 384 + margin))
    for image in images:
        inner_box = (128 + margin, 128 + margin, 384 - margin, 384 - margin)
        assert changed_fraction(image.crop(inner_box), source.crop(inner_box)) > 0.6
        kept = Image.composite(image, Image.new("RGB", image.size), outside)
        original = Image.composite(source, Image.new("RGB", image.size), outside)
        assert changed_fraction(kept, original) < 0.02  # the badge, nothing else
    assert len({image.tobytes() for image in images}) == 4


def test_inpaint_resizes_the_mask_and_reads_transparency_as_keep() -> None:
    mask = Image.new("RGBA", (100, 100), (0, 0, 0, 0))  # transparent: keep
    ImageDraw.Draw(mask).rectangle((25, 25, 75, 75), fill=(255, 255, 255, 255))
    source = scene()
    image = load(inpaint(encode(source), encode(mask), "gold", 1).images[0])
    assert mean_diff(image.crop((0, 0, 100, 100)), source.crop((0, 0, 100, 100))) < 0.5
    assert mean_diff(image.crop((200, 200, 300, 300)), source.crop((200, 200, 300, 300))) > 10


def test_inpaint_refuses_an_empty_mask() -> None:
    with pytest.raises(ProviderRejected, match="mask"):
        inpaint(encode(scene()), encode(Image.new("L", (512, 512), 0)), "x", 1)


def test_edit_with_a_mask_is_inpaint() -> None:
    image, mask = encode(scene()), encode(centre_mask())
    assert edit(image, mask, "a cat", 3) == inpaint(image, mask, "a cat", 3)


def test_edit_without_a_mask_restyles_towards_the_prompt() -> None:
    source = scene((640, 480))  # larger than a grid image: brought to 512
    images = assert_grid(edit(encode(source), None, "golden yellow sunset", 3), (512, 384))
    before = ImageStat.Stat(source.resize((512, 384))).mean
    for image in images:
        red, green, blue = ImageStat.Stat(image).mean
        assert red + green - 2 * blue > before[0] + before[1] - 2 * before[2]  # more yellow


# ---------------------------------------------------------------- face swap and references


def test_swap_face_composites_the_source_centre_into_the_target_centre() -> None:
    target = Image.new("RGB", (400, 600), (0, 200, 0))
    result = load(swap_face(solid((220, 30, 30), (300, 300)), encode(target), 1))
    assert result.size == (400, 600)
    red, green, _ = result.getpixel((200, 300))  # type: ignore[misc]
    assert red > 200 and green < 50
    assert result.getpixel((10, 10)) == (0, 200, 0)
    assert swap_face(solid((1, 2, 3)), encode(target), 1) == swap_face(
        solid((1, 2, 3)), encode(target), 1
    )


def test_reference_tint_moves_the_images_towards_the_reference(fox: Grid) -> None:
    reference = solid((0, 0, 255), (64, 64))
    tinted = reference_tint(fox, [reference])
    images = assert_grid(tinted, (512, 344))
    for before, after in zip(fox.images, images, strict=True):
        assert ImageStat.Stat(after).mean[2] > ImageStat.Stat(load(before)).mean[2] + 20
    assert reference_tint(fox, []) is fox


# ---------------------------------------------------------------- decoding untrusted images


def png_header_only(width: int, height: int) -> bytes:
    """A PNG whose header claims `width`×`height` and whose data is a few bytes."""

    def chunk(kind: bytes, body: bytes) -> bytes:
        crc = zlib.crc32(kind + body)
        return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", crc)

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(b"\0"))


@pytest.mark.parametrize(
    "data",
    [
        b"",
        b"not an image",
        encode(scene((64, 64)))[:200],  # truncated
        encode(scene((64, 64)), "BMP"),  # a format the API does not take
        png_header_only(20_000, 20_000),  # 400 Mpx: Pillow's DecompressionBombError
        png_header_only(10_000, 10_000),  # 100 Mpx: only a warning in Pillow
    ],
    ids=["empty", "text", "truncated", "bmp", "bomb", "near-bomb"],
)
def test_unreadable_or_oversized_images_are_rejected(data: bytes) -> None:
    with pytest.raises(ProviderRejected):
        vary(data, 1, 0.5)


def test_the_near_bomb_is_rejected_where_pillow_only_warns() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with pytest.raises(ProviderRejected, match="too many pixels"):
            decode_image(png_header_only(10_000, 10_000), "image")


@pytest.mark.parametrize(
    "image",
    [
        Image.new("P", (32, 32), 1),
        Image.new("RGBA", (32, 32), (255, 0, 0, 0)),
        Image.new("LA", (32, 32), (100, 50)),
        Image.new("I;16", (32, 32), 40000),
        Image.new("CMYK", (32, 32), (0, 255, 255, 0)),
        Image.new("1", (32, 32), 1),
    ],
    ids=lambda image: image.mode,
)
def test_every_common_mode_decodes_to_rgb_without_warnings(image: Image.Image) -> None:
    if image.mode == "P":
        image.putpalette([0, 0, 0, 255, 0, 0, 0, 255, 0])
        image.info["transparency"] = bytes([0, 128, 255])  # bytes: a plain RGB convert warns
    fmt = "JPEG" if image.mode == "CMYK" else "PNG"
    decoded = decode_image(encode(image, fmt), "image")
    assert decoded.mode == "RGB" and decoded.size == (32, 32)


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP", "GIF"])
def test_jpeg_webp_and_gif_are_accepted(fmt: str) -> None:
    images = assert_grid(vary(encode(scene((300, 200)), fmt), 1, 0.1), (512, 341))
    assert images[0].size == (512, 341)


def test_large_jpegs_are_decoded_at_a_reduced_size() -> None:
    decoded = decode_image(encode(scene((4000, 3000)), "JPEG"), "image", limit=512)
    assert decoded.size == (512, 384)


@settings(max_examples=60, deadline=None, database=None)
@given(cut=st.integers(min_value=0, max_value=2000), flip=st.integers(min_value=0, max_value=2000))
def test_damaged_pngs_decode_or_are_rejected(cut: int, flip: int) -> None:
    data = bytearray(encode(scene((48, 48))))
    data[flip % len(data)] ^= 0x55
    try:
        image = decode_image(bytes(data[: len(data) - cut]), "image")
    except ProviderRejected:
        return
    assert image.mode == "RGB"
