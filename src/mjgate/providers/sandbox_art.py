"""Pictures for the sandbox channel: simulated Midjourney results drawn with Pillow.

Nothing here is Midjourney. Every function takes encoded images (bytes), returns PNG bytes,
is deterministic for its inputs and seed, and does no I/O beyond in-memory buffers. Grids are
four images of the same size laid out 2×2 without gutters, so an upscale is an exact crop.
Pictures made from a prompt carry a caption strip naming the prompt and saying "simulated";
pictures derived from other images carry a small "simulated" badge.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageDraw, ImageEnhance, ImageFile, ImageFilter, ImageOps

from mjgate.errors import ProviderRejected
from mjgate.providers.sandbox_drawing import (
    Palette,
    badge,
    blotches,
    caption,
    colours_of,
    fit_long_side,
    gradient,
    mirror_tile,
    palette_of,
    render_art,
    scaled_size,
    seeded_random,
    shade_of,
    shift_hue,
    turned,
    weighted_mean,
)

RGB = tuple[int, int, int]
Size = tuple[int, int]

SINGLE_SIDE = 512  # long side of one grid image, so a grid is about 1024 px
CANVAS_SIDE = 1024  # zoom and pan keep a real larger canvas, up to this long side
HD_SIDE = 2048  # the largest upscale
_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # what the API accepts; fewer decoders, less risk
_BLEND_ASPECTS = {"PORTRAIT": (2, 3), "SQUARE": (1, 1), "LANDSCAPE": (3, 2)}
_PAN_DIRECTIONS = ("left", "right", "up", "down")


@dataclass(frozen=True)
class Grid:
    """A 2×2 grid (PNG) and its four images (PNG), from top-left to bottom-right."""

    grid: bytes
    images: tuple[bytes, bytes, bytes, bytes]


# ---------------------------------------------------------------- public functions


def image_size(aspect: tuple[int, int]) -> Size:
    """One grid image's size: long side 512, the other side a multiple of 8 (at least 64)."""
    width, height = aspect
    if width <= 0 or height <= 0:
        raise ProviderRejected(f"the aspect ratio {width}:{height} is not positive")
    short = max(64, round(SINGLE_SIDE * min(width, height) / max(width, height) / 8) * 8)
    return (SINGLE_SIDE, short) if width >= height else (short, SINGLE_SIDE)


def render_grid(prompt: str, seed: int, aspect: tuple[int, int]) -> Grid:
    """Four pictures drawn from the prompt's words, each with a captioned "simulated" strip."""
    size = image_size(aspect)
    palette = palette_of(prompt)
    images = []
    for index in range(4):
        image = render_art(size, palette, seeded_random("imagine", seed, index, prompt))
        images.append(caption(image, prompt))
    return _grid(images)


def upscale(grid_png: bytes, index: int) -> bytes:
    """Quadrant `index` (1 top-left … 4 bottom-right) of a grid, enlarged 2×."""
    if index not in (1, 2, 3, 4):
        raise ProviderRejected(f"upscale index must be 1 to 4, not {index}")
    grid = decode_image(grid_png, "grid", limit=None)
    width, height = grid.width // 2, grid.height // 2
    if not width or not height:
        raise ProviderRejected(f"a {grid.width}×{grid.height} image is too small to be a grid")
    left, top = (index - 1) % 2 * width, (index - 1) // 2 * height
    tile = grid.crop((left, top, left + width, top + height))
    return _png(tile.resize((width * 2, height * 2), Image.Resampling.LANCZOS))


def upscale_more(image_png: bytes, factor: int, creative: bool, seed: int) -> bytes:
    """A 2× or 4× upscale (long side capped at 2048); creative adds sharpening and fine detail."""
    if factor not in (2, 4):
        raise ProviderRejected(f"upscale factor must be 2 or 4, not {factor}")
    image = decode_image(image_png, "image", limit=HD_SIDE)
    scale = min(float(factor), HD_SIDE / max(image.size))
    if creative:
        # Sharpened before enlarging: much the same look, at a fraction of the work.
        image = image.filter(ImageFilter.SHARPEN)
    image = image.resize(scaled_size(image.size, scale), Image.Resampling.BICUBIC)
    if creative:
        # Low-frequency "detail" rather than per-pixel grain: grain would bloat the PNG.
        image = Image.blend(image, blotches(image.size, seeded_random("creative", seed)), 0.06)
    return _png(image)


def vary(image_png: bytes, seed: int, strength: float) -> Grid:
    """Four variants: hue shift, colour wash, new shapes and a small turn, scaled by strength."""
    strength = min(1.0, max(0.0, strength))
    source = fit_long_side(decode_image(image_png, "image"), SINGLE_SIDE)
    palette = Palette(colours_of(source), ())
    images = []
    for index in range(4):
        rng = seeded_random("vary", seed, index)
        image = turned(source, rng.uniform(-8, 8) * strength, 1 + 0.1 * strength * rng.random())
        image = shift_hue(image, rng.uniform(-60, 60) * strength)
        image = ImageEnhance.Color(image).enhance(1 + rng.uniform(-0.3, 0.3) * strength)
        image = Image.blend(image, render_art(image.size, palette, rng), 0.4 * strength)
        image = Image.blend(image, blotches(image.size, rng), 0.15 * strength)
        images.append(badge(image))
    return _grid(images)


def blend(images: Sequence[bytes], dimensions: str, seed: int) -> Grid:
    """A weighted mix of 2–5 images; each quadrant favours a different one."""
    if not 2 <= len(images) <= 5:
        raise ProviderRejected(f"blend takes 2 to 5 images, not {len(images)}")
    aspect = _BLEND_ASPECTS.get(dimensions.upper())
    if aspect is None:
        raise ProviderRejected(
            f"dimensions must be PORTRAIT, SQUARE or LANDSCAPE, not {dimensions}"
        )
    size = image_size(aspect)
    sources = [
        ImageOps.fit(decode_image(data, f"blend image {n}"), size, Image.Resampling.LANCZOS)
        for n, data in enumerate(images, start=1)
    ]
    results = []
    for index in range(4):
        rng = seeded_random("blend", seed, index)
        favourite = index % len(sources)
        # The favourite leads but never drowns the others: every input stays visible.
        weights = [
            1 + rng.random() / 2 + (0.8 if n == favourite else 0) for n in range(len(sources))
        ]
        mixed = weighted_mean(sources, weights)
        # A soft sweep of the favourite over the mean, so quadrants differ in layout too.
        sweep = gradient(size, rng.uniform(0, 360)).point(lambda v: v * 35 // 100)
        results.append(badge(Image.composite(sources[favourite], mixed, sweep)))
    return _grid(results)


def zoom_out(image_png: bytes, factor: float, prompt: str, seed: int) -> Grid:
    """The image at the centre of a canvas `factor` times larger, the border generated."""
    if not 1 < factor <= 2:
        raise ProviderRejected(f"zoom factor must be above 1 and at most 2, not {factor}")
    source = decode_image(image_png, "image", limit=CANVAS_SIDE)
    source = fit_long_side(source, min(max(source.size), CANVAS_SIDE / factor), grow=False)
    canvas = scaled_size(source.size, factor)
    offset = ((canvas[0] - source.width) // 2, (canvas[1] - source.height) // 2)
    return _outpaint(source, canvas, offset, prompt, seed, "zoom")


def pan(image_png: bytes, direction: str, prompt: str, seed: int) -> Grid:
    """The canvas extended by half the image in `direction`, the new area generated."""
    if direction not in _PAN_DIRECTIONS:
        raise ProviderRejected(f"pan direction must be left, right, up or down, not {direction}")
    source = decode_image(image_png, "image", limit=CANVAS_SIDE)
    sideways = direction in ("left", "right")
    grown = (source.width * 1.5, source.height) if sideways else (source.width, source.height * 1.5)
    source = fit_long_side(
        source, max(source.size) * min(1.0, CANVAS_SIDE / max(grown)), grow=False
    )
    width, height = source.size
    canvas = (round(width * 1.5), height) if sideways else (width, round(height * 1.5))
    offset = {
        "left": (canvas[0] - width, 0),
        "right": (0, 0),
        "up": (0, canvas[1] - height),
        "down": (0, 0),
    }[direction]
    return _outpaint(source, canvas, offset, prompt, seed, f"pan-{direction}")


def inpaint(image_png: bytes, mask_png: bytes, prompt: str, seed: int) -> Grid:
    """Four repaints of the area the mask marks white; the rest stays as it was."""
    source = fit_long_side(decode_image(image_png, "image"), SINGLE_SIDE)
    mask = _mask(mask_png, source.size)
    palette = palette_of(prompt)
    softened = source.filter(ImageFilter.GaussianBlur(8))
    images = []
    for index in range(4):
        art = render_art(source.size, palette, seeded_random("inpaint", seed, index, prompt))
        paint = Image.blend(softened, art, 0.75)  # keep a hint of what was there
        images.append(badge(Image.composite(paint, source, mask)))
    return _grid(images)


def edit(image_png: bytes, mask_png: bytes | None, prompt: str, seed: int) -> Grid:
    """With a mask: inpaint. Without: the whole image restyled towards the prompt's palette."""
    if mask_png is not None:
        return inpaint(image_png, mask_png, prompt, seed)
    source = fit_long_side(decode_image(image_png, "image"), SINGLE_SIDE)
    palette = palette_of(prompt)
    grey = source.convert("L")
    images = []
    for index in range(4):
        rng = seeded_random("edit", seed, index, prompt)
        dark, mid, light = (shade_of(rng.choice(palette.primary), rng, s) for s in (-0.6, 0, 0.5))
        toned = ImageOps.colorize(grey, black=dark, white=light, mid=mid)
        image = Image.blend(source, toned, rng.uniform(0.55, 0.75))
        image = Image.blend(image, render_art(source.size, palette, rng), 0.2)
        images.append(badge(image))
    return _grid(images)


def swap_face(source: bytes, target: bytes, seed: int) -> bytes:
    """The target with an ellipse from the centre of the source blended softly into its centre."""
    base = decode_image(target, "target", limit=CANVAS_SIDE)
    face = decode_image(source, "source", limit=CANVAS_SIDE)
    rng = seeded_random("swap", seed)
    # At least 4 px, so that even a tiny target has room for a feathered ellipse.
    box_w = max(4, round(base.width * rng.uniform(0.36, 0.42)))
    box_h = max(4, round(base.height * rng.uniform(0.46, 0.52)))
    patch = ImageOps.fit(face, (box_w, box_h), Image.Resampling.LANCZOS)
    mask = Image.new("L", (box_w, box_h), 0)
    inset = max(1, min(box_w, box_h) // 10)  # room for the feather inside the box
    ImageDraw.Draw(mask).ellipse((inset, inset, box_w - inset, box_h - inset), fill=255)
    mask = mask.filter(ImageFilter.GaussianBlur(inset / 2))
    result = base.copy()
    result.paste(patch, ((base.width - box_w) // 2, (base.height - box_h) // 2), mask)
    return _png(badge(result))


def reference_tint(grid: Grid, references: Sequence[bytes]) -> Grid:
    """The grid with a little of the first reference image blended into each picture."""
    if not references:
        return grid
    reference = decode_image(references[0], "reference image")
    tinted = []
    for data in grid.images:
        image = decode_image(data, "grid image", limit=None)
        fitted = ImageOps.fit(reference, image.size, Image.Resampling.LANCZOS)
        tinted.append(Image.blend(image, fitted, 0.25))
    return _grid(tinted)


# ---------------------------------------------------------------- decoding and encoding


# Full-size decodes at once, across every rendering thread. An input within the pixel budget
# (25 MP by default) still decodes to up to 100 MB before it is reduced; two at a time bound
# that memory whatever the number of workers, and the rest wait for a slot.
_DECODE_SLOTS = threading.BoundedSemaphore(2)


def decode_image(
    data: bytes, what: str, limit: int | None = SINGLE_SIDE * 2, background: RGB = (255, 255, 255)
) -> Image.Image:
    """An RGB image, at most `limit` px on its long side, or ProviderRejected if unreadable.

    The one decoder of untrusted images for the sandbox modules (art, video, text).
    Transparency is laid over `background`.
    """
    with _DECODE_SLOTS, _opened(data, what) as opened:
        if limit is not None:
            opened.draft("RGB", (limit, limit))  # JPEG decodes at a reduced scale
        image = _flatten(opened, background)
        if limit is not None:
            # Within the slot: only the reduced copy leaves it.
            image.thumbnail((limit, limit), Image.Resampling.LANCZOS)
    return image


def image_dimensions(data: bytes, what: str) -> Size:
    """The width and height of an encoded image, read from its header only."""
    with _opened(data, what) as opened:
        return opened.size


@contextlib.contextmanager
def _opened(data: bytes, what: str) -> Iterator[ImageFile.ImageFile]:
    """The opened (not yet decoded) image; any failure inside becomes ProviderRejected.

    Pillow refuses images of more than twice MAX_IMAGE_PIXELS (DecompressionBombError) and
    only warns between once and twice; that range is refused here too, before decoding.
    """
    try:
        with Image.open(BytesIO(data), formats=_FORMATS) as opened:
            cap = Image.MAX_IMAGE_PIXELS
            if cap is not None and opened.width * opened.height > cap:
                raise ProviderRejected(f"the {what} has too many pixels to process")
            yield opened
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        # The warning arrives as an exception where warnings are errors (python -W error).
        raise ProviderRejected(f"the {what} has too many pixels to process") from exc
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        # UnidentifiedImageError and truncated data are OSErrors; broken chunks raise the others.
        message = f"the {what} is not a readable PNG, JPEG, WEBP or GIF image"
        raise ProviderRejected(message) from exc


def _flatten(image: Image.Image, background: RGB) -> Image.Image:
    """RGB, with any transparency laid over `background` (converting P+tRNS straight warns)."""
    if image.mode in ("RGBA", "LA", "PA", "La", "RGBa") or "transparency" in image.info:
        rgba = image.convert("RGBA")
        under = Image.new("RGBA", rgba.size, (*background, 255))
        return Image.alpha_composite(under, rgba).convert("RGB")
    return image.convert("RGB")


def _mask(mask_png: bytes, size: Size) -> Image.Image:
    """The mask as a feathered L image of `size`: 255 where the mask is white."""
    grey = decode_image(mask_png, "mask", background=(0, 0, 0)).convert("L")  # transparent = keep
    binary = grey.resize(size, Image.Resampling.BILINEAR).point(lambda v: 255 if v > 127 else 0)
    if binary.getbbox() is None:
        raise ProviderRejected("the mask marks no area to repaint (paint that area white)")
    return binary.filter(ImageFilter.GaussianBlur(2))


def _png(image: Image.Image) -> bytes:
    # zlib's Z_RLE strategy (compress_type 3) is about twice as fast as the default on these
    # smooth pictures, and its files are smaller. Same pixels, same bytes.
    buffer = BytesIO()
    image.save(buffer, "PNG", compress_level=6, compress_type=3)
    return buffer.getvalue()


def _grid(images: Sequence[Image.Image]) -> Grid:
    """The four images (of one size) and the 2×2 sheet of them, as PNGs."""
    width, height = images[0].size
    sheet = Image.new("RGB", (width * 2, height * 2))
    for index, image in enumerate(images):
        sheet.paste(image, (index % 2 * width, index // 2 * height))
    # PNG encoding is most of the time of a large grid, and Pillow releases the GIL while it
    # compresses: two threads encode the sheet and the four images about a third faster.
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="sandbox-png") as pool:
        sheet_png, first, second, third, fourth = pool.map(_png, [sheet, *images])
    return Grid(sheet_png, (first, second, third, fourth))


def _outpaint(
    source: Image.Image, canvas: Size, offset: Size, prompt: str, seed: int, tag: str
) -> Grid:
    """Four canvases with `source` pasted at `offset` and the rest generated around it.

    The generated part is made at half size and enlarged once: it is soft background, and
    working on a quarter of the pixels keeps a 1024 px zoom well inside its time budget.
    """
    half = scaled_size(canvas, 1 / 2)
    mirrored = mirror_tile(source, canvas, offset, half)
    palette = palette_of(prompt)
    # Generated colour grows with the distance from the source, so the seam stays soft.
    far = Image.new("L", canvas, 255)
    far.paste(0, (*offset, offset[0] + source.width, offset[1] + source.height))
    far = far.resize(scaled_size(canvas, 1 / 8)).filter(ImageFilter.GaussianBlur(6))
    far = far.resize(half, Image.Resampling.BILINEAR).point(lambda v: v * 3 // 4)
    images = []
    for index in range(4):
        art = render_art(half, palette, seeded_random(tag, seed, index, prompt))
        image = Image.composite(art, mirrored, far).resize(canvas, Image.Resampling.BILINEAR)
        image.paste(source, offset)
        images.append(badge(image))
    return _grid(images)
