"""Pictures for the sandbox channel: simulated Midjourney results drawn with Pillow.

Nothing here is Midjourney. Every function takes encoded images (bytes), returns PNG bytes,
is deterministic for its inputs and seed, and does no I/O beyond in-memory buffers. Grids are
four images of the same size laid out 2×2 without gutters, so an upscale is an exact crop.
Pictures made from a prompt carry a caption strip naming the prompt and saying "simulated";
pictures derived from other images carry a small "simulated" badge.
"""

from __future__ import annotations

import colorsys
import contextlib
import functools
import hashlib
import math
import random
import re
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from io import BytesIO

from PIL import Image, ImageDraw, ImageEnhance, ImageFile, ImageFilter, ImageFont, ImageOps

from mjgate.errors import ProviderRejected

RGB = tuple[int, int, int]
Size = tuple[int, int]

SINGLE_SIDE = 512  # long side of one grid image, so a grid is about 1024 px
CANVAS_SIDE = 1024  # zoom and pan keep a real larger canvas, up to this long side
HD_SIDE = 2048  # the largest upscale
LABEL = "mjgate sandbox · simulated"
_FORMATS = ("PNG", "JPEG", "WEBP", "GIF")  # what the API accepts; fewer decoders, less risk
_BLEND_ASPECTS = {"PORTRAIT": (2, 3), "SQUARE": (1, 1), "LANDSCAPE": (3, 2)}
_PAN_DIRECTIONS = ("left", "right", "up", "down")

# Colour words win: "a red fox" must look red. Theme words nudge the palette the same way.
# fmt: off
_COLOUR_WORDS: dict[str, RGB] = {
    "red": (205, 32, 38), "crimson": (170, 20, 50), "scarlet": (220, 36, 30),
    "ruby": (180, 16, 60), "orange": (240, 130, 30), "amber": (250, 170, 20),
    "gold": (214, 172, 48), "golden": (218, 165, 40), "yellow": (240, 210, 40),
    "lime": (160, 220, 50), "green": (46, 150, 64), "emerald": (20, 150, 100),
    "olive": (120, 128, 40), "teal": (0, 128, 128), "cyan": (30, 200, 220),
    "turquoise": (50, 210, 195), "blue": (36, 84, 205), "azure": (60, 150, 240),
    "navy": (20, 32, 100), "indigo": (70, 40, 150), "purple": (124, 50, 166),
    "violet": (150, 90, 210), "magenta": (210, 40, 170), "pink": (240, 130, 175),
    "rose": (230, 100, 130), "brown": (122, 76, 40), "beige": (222, 205, 170),
    "white": (242, 242, 236), "ivory": (250, 246, 225), "black": (20, 20, 24),
    "grey": (128, 128, 132), "gray": (128, 128, 132), "silver": (190, 193, 200),
}
_THEME_WORDS: dict[str, tuple[RGB, ...]] = {
    "sunset": ((250, 120, 50), (130, 40, 110)), "sunrise": ((250, 170, 80), (240, 110, 120)),
    "ocean": ((20, 90, 160), (30, 160, 170)), "sea": ((20, 90, 160), (40, 140, 180)),
    "sky": ((90, 160, 235), (200, 225, 250)), "forest": ((30, 100, 45), (90, 140, 60)),
    "fire": ((230, 70, 20), (250, 170, 30)), "night": ((15, 20, 60), (50, 40, 100)),
    "snow": ((235, 240, 248), (170, 200, 230)), "ice": ((190, 225, 245), (120, 180, 220)),
    "desert": ((220, 170, 100), (190, 120, 60)), "autumn": ((210, 110, 30), (140, 60, 30)),
    "neon": ((250, 40, 200), (40, 230, 250)), "fox": ((215, 100, 35),),
}
# fmt: on


@dataclass(frozen=True)
class Grid:
    """A 2×2 grid (PNG) and its four images (PNG), from top-left to bottom-right."""

    grid: bytes
    images: tuple[bytes, bytes, bytes, bytes]


@dataclass(frozen=True)
class _Palette:
    primary: tuple[RGB, ...]  # the colours that should dominate
    accent: tuple[RGB, ...]  # small touches


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
    palette = _palette(prompt)
    images = []
    for index in range(4):
        image = _render_art(size, palette, _rng("imagine", seed, index, prompt))
        images.append(_caption(image, prompt))
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
    image = image.resize(_scaled(image.size, scale), Image.Resampling.BICUBIC)
    if creative:
        # Low-frequency "detail" rather than per-pixel grain: grain would bloat the PNG.
        image = Image.blend(image, _blotches(image.size, _rng("creative", seed)), 0.06)
    return _png(image)


def vary(image_png: bytes, seed: int, strength: float) -> Grid:
    """Four variants: hue shift, colour wash, new shapes and a small turn, scaled by strength."""
    strength = min(1.0, max(0.0, strength))
    source = _fit(decode_image(image_png, "image"), SINGLE_SIDE)
    palette = _Palette(_colours_of(source), ())
    images = []
    for index in range(4):
        rng = _rng("vary", seed, index)
        image = _turn(source, rng.uniform(-8, 8) * strength, 1 + 0.1 * strength * rng.random())
        image = _shift_hue(image, rng.uniform(-60, 60) * strength)
        image = ImageEnhance.Color(image).enhance(1 + rng.uniform(-0.3, 0.3) * strength)
        image = Image.blend(image, _render_art(image.size, palette, rng), 0.4 * strength)
        image = Image.blend(image, _blotches(image.size, rng), 0.15 * strength)
        images.append(_badge(image))
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
        rng = _rng("blend", seed, index)
        favourite = index % len(sources)
        # The favourite leads but never drowns the others: every input stays visible.
        weights = [
            1 + rng.random() / 2 + (0.8 if n == favourite else 0) for n in range(len(sources))
        ]
        mixed = _weighted_mean(sources, weights)
        # A soft sweep of the favourite over the mean, so quadrants differ in layout too.
        sweep = _gradient(size, rng.uniform(0, 360)).point(lambda v: v * 35 // 100)
        results.append(_badge(Image.composite(sources[favourite], mixed, sweep)))
    return _grid(results)


def zoom_out(image_png: bytes, factor: float, prompt: str, seed: int) -> Grid:
    """The image at the centre of a canvas `factor` times larger, the border generated."""
    if not 1 < factor <= 2:
        raise ProviderRejected(f"zoom factor must be above 1 and at most 2, not {factor}")
    source = decode_image(image_png, "image", limit=CANVAS_SIDE)
    source = _fit(source, min(max(source.size), CANVAS_SIDE / factor), grow=False)
    canvas = _scaled(source.size, factor)
    offset = ((canvas[0] - source.width) // 2, (canvas[1] - source.height) // 2)
    return _outpaint(source, canvas, offset, prompt, seed, "zoom")


def pan(image_png: bytes, direction: str, prompt: str, seed: int) -> Grid:
    """The canvas extended by half the image in `direction`, the new area generated."""
    if direction not in _PAN_DIRECTIONS:
        raise ProviderRejected(f"pan direction must be left, right, up or down, not {direction}")
    source = decode_image(image_png, "image", limit=CANVAS_SIDE)
    sideways = direction in ("left", "right")
    grown = (source.width * 1.5, source.height) if sideways else (source.width, source.height * 1.5)
    source = _fit(source, max(source.size) * min(1.0, CANVAS_SIDE / max(grown)), grow=False)
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
    source = _fit(decode_image(image_png, "image"), SINGLE_SIDE)
    mask = _mask(mask_png, source.size)
    palette = _palette(prompt)
    softened = source.filter(ImageFilter.GaussianBlur(8))
    images = []
    for index in range(4):
        art = _render_art(source.size, palette, _rng("inpaint", seed, index, prompt))
        paint = Image.blend(softened, art, 0.75)  # keep a hint of what was there
        images.append(_badge(Image.composite(paint, source, mask)))
    return _grid(images)


def edit(image_png: bytes, mask_png: bytes | None, prompt: str, seed: int) -> Grid:
    """With a mask: inpaint. Without: the whole image restyled towards the prompt's palette."""
    if mask_png is not None:
        return inpaint(image_png, mask_png, prompt, seed)
    source = _fit(decode_image(image_png, "image"), SINGLE_SIDE)
    palette = _palette(prompt)
    grey = source.convert("L")
    images = []
    for index in range(4):
        rng = _rng("edit", seed, index, prompt)
        dark, mid, light = (_shade(rng.choice(palette.primary), rng, s) for s in (-0.6, 0, 0.5))
        toned = ImageOps.colorize(grey, black=dark, white=light, mid=mid)
        image = Image.blend(source, toned, rng.uniform(0.55, 0.75))
        image = Image.blend(image, _render_art(source.size, palette, rng), 0.2)
        images.append(_badge(image))
    return _grid(images)


def swap_face(source: bytes, target: bytes, seed: int) -> bytes:
    """The target with an ellipse from the centre of the source blended softly into its centre."""
    base = decode_image(target, "target", limit=CANVAS_SIDE)
    face = decode_image(source, "source", limit=CANVAS_SIDE)
    rng = _rng("swap", seed)
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
    return _png(_badge(result))


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


def decode_image(
    data: bytes, what: str, limit: int | None = SINGLE_SIDE * 2, background: RGB = (255, 255, 255)
) -> Image.Image:
    """An RGB image, at most `limit` px on its long side, or ProviderRejected if unreadable.

    The one decoder of untrusted images for the sandbox modules (art, video, text).
    Transparency is laid over `background`.
    """
    with _opened(data, what) as opened:
        if limit is not None:
            opened.draft("RGB", (limit, limit))  # JPEG decodes at a reduced scale
        image = _flatten(opened, background)
    if limit is not None:
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


# ---------------------------------------------------------------- palettes and drawing


def _rng(*parts: object) -> random.Random:
    # A str seed goes through SHA-512, so this is stable across processes (unlike hash()).
    return random.Random(":".join(map(str, parts)))


def _palette(prompt: str) -> _Palette:
    """Colours from the prompt's words (flags ignored): colour and theme words first."""
    body = re.split(r"(?:^|\s)--[a-zA-Z]", prompt, maxsplit=1)[0]
    words = re.findall(r"[a-z]+", body.lower())
    named = [_COLOUR_WORDS[w] for w in words if w in _COLOUR_WORDS]
    themed = [c for w in words if w in _THEME_WORDS for c in _THEME_WORDS[w]]
    hashed = [_word_colour(w) for w in words if len(w) > 2 and w not in _COLOUR_WORDS]
    if named:
        return _Palette(tuple(named), tuple(themed + hashed)[:6])
    if themed:
        return _Palette(tuple(themed), tuple(hashed)[:6])
    if hashed:
        return _Palette(tuple(hashed[:3]), tuple(hashed[3:9]))
    return _Palette(((70, 90, 160), (200, 120, 90)), ((230, 220, 200),))


def _word_colour(word: str) -> RGB:
    digest = hashlib.sha256(word.encode()).digest()
    hue, sat, val = digest[0] / 255, 0.45 + digest[1] / 255 * 0.4, 0.55 + digest[2] / 255 * 0.35
    red, green, blue = colorsys.hsv_to_rgb(hue, sat, val)
    return round(red * 255), round(green * 255), round(blue * 255)


def _shade(colour: RGB, rng: random.Random, bias: float = 0.0) -> RGB:
    """The colour made lighter (towards white) or darker, by bias plus a little chance."""
    amount = max(-0.85, min(0.85, bias + rng.uniform(-0.25, 0.25)))
    target = 255 if amount > 0 else 0
    red, green, blue = (round(c + (target - c) * abs(amount)) for c in colour)
    return red, green, blue


def _colours_of(image: Image.Image) -> tuple[RGB, ...]:
    raw = image.resize((3, 3), Image.Resampling.BOX).tobytes()
    return tuple((raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3))


def _gradient(size: Size, angle: float) -> Image.Image:
    """A linear 0→255 ramp across `size` at `angle` degrees."""
    ramp = Image.linear_gradient("L").rotate(angle, Image.Resampling.BILINEAR, expand=True)
    side = ramp.width / 2 - 91  # the centre 182 px square is inside the turned ramp
    box = (side, side, ramp.width - side, ramp.height - side)
    return ramp.resize(size, Image.Resampling.BILINEAR, box=box)


def _blotches(size: Size, rng: random.Random) -> Image.Image:
    """Smooth colourful noise: a few random pixels stretched over the whole size."""
    tiny = Image.frombytes("RGB", (6, 6), rng.randbytes(6 * 6 * 3))
    # Bicubic to a small size, then bilinear: as smooth as bicubic all the way, and faster.
    return tiny.resize((64, 64), Image.Resampling.BICUBIC).resize(size, Image.Resampling.BILINEAR)


def _render_art(size: Size, palette: _Palette, rng: random.Random) -> Image.Image:
    """A gradient in the primary colours, a glow, a central form and scattered shapes."""
    width, height = size
    long_side = max(size)
    first, second = (_shade(rng.choice(palette.primary), rng, b) for b in (-0.3, 0.2))
    ramp = _gradient(size, rng.uniform(0, 360))
    image = Image.composite(Image.new("RGB", size, first), Image.new("RGB", size, second), ramp)
    draw = ImageDraw.Draw(image, "RGBA")
    glow_x, glow_y = rng.uniform(0.2, 0.8) * width, rng.uniform(0.15, 0.6) * height
    for step in range(6, 0, -1):  # concentric translucent discs make a soft light
        radius = long_side * 0.06 * step
        light = _shade(rng.choice(palette.primary), rng, 0.6)
        draw.ellipse(
            (glow_x - radius, glow_y - radius, glow_x + radius, glow_y + radius), fill=(*light, 28)
        )
    centre = (width * rng.uniform(0.35, 0.65), height * rng.uniform(0.4, 0.65))
    _shape(draw, centre, long_side * rng.uniform(0.18, 0.3), _shade(palette.primary[0], rng), rng)
    for _ in range(rng.randint(6, 12)):
        colours = palette.primary if not palette.accent or rng.random() < 0.7 else palette.accent
        point = (rng.uniform(0, width), rng.uniform(0, height))
        _shape(
            draw,
            point,
            long_side * rng.uniform(0.03, 0.14),
            _shade(rng.choice(colours), rng),
            rng,
            alpha=rng.randint(110, 210),
        )
    return image.filter(ImageFilter.GaussianBlur(1.2))  # painterly edges; compresses better


def _shape(
    draw: ImageDraw.ImageDraw,
    centre: tuple[float, float],
    radius: float,
    colour: RGB,
    rng: random.Random,
    alpha: int = 235,
) -> None:
    x, y = centre
    fill = (*colour, alpha)
    kind = rng.randrange(3)
    if kind == 0:
        squash = rng.uniform(0.6, 1.0)
        draw.ellipse((x - radius, y - radius * squash, x + radius, y + radius * squash), fill=fill)
    elif kind == 1:
        draw.regular_polygon((x, y, radius), rng.randint(3, 7), rng.uniform(0, 360), fill=fill)
    else:
        points = [
            (
                x + radius * rng.uniform(0.5, 1.2) * math.cos(a),
                y + radius * rng.uniform(0.5, 1.2) * math.sin(a),
            )
            for a in sorted(rng.uniform(0, 2 * math.pi) for _ in range(rng.randint(4, 8)))
        ]
        draw.polygon(points, fill=fill)


# ---------------------------------------------------------------- labels


@functools.cache
def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size)
    except (ImportError, OSError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def _fit_text(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> str:
    """`text` cut with an ellipsis so that it is at most `width` px wide."""
    if not isinstance(font, ImageFont.FreeTypeFont):
        text = text.encode("latin-1", "replace").decode("latin-1")  # the bitmap font is Latin-1
    if font.getlength(text) <= width:
        return text
    low, high = 0, len(text)
    while low < high:  # the longest prefix that fits with its ellipsis
        middle = (low + high + 1) // 2
        if font.getlength(text[:middle] + "…") <= width:
            low = middle
        else:
            high = middle - 1
    return text[:low].rstrip() + "…"


def _caption(image: Image.Image, prompt: str) -> Image.Image:
    """A two-line strip at the bottom: the prompt, then the "simulated" label."""
    font = _font(12)
    width, height = image.size
    strip = 34
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rectangle((0, height - strip, width, height), fill=(16, 16, 20, 215))
    text = " ".join(prompt.split())[:300]
    draw.text(
        (6, height - strip + 3), _fit_text(text, font, width - 12), font=font, fill=(240, 240, 240)
    )
    draw.text(
        (6, height - strip + 18), _fit_text(LABEL, font, width - 12), font=font, fill=(255, 196, 64)
    )
    return image


def _badge(image: Image.Image) -> Image.Image:
    """An opaque "simulated" badge in the bottom-right corner (opaque, so repeats are stable)."""
    font = _font(11)
    text = _fit_text(LABEL, font, image.width - 8)
    text_w = math.ceil(font.getlength(text))
    left, top = max(0, image.width - text_w - 8), max(0, image.height - 17)
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, image.width, image.height), fill=(16, 16, 20))
    draw.text((left + 4, top + 2), text, font=font, fill=(255, 196, 64))
    return image


# ---------------------------------------------------------------- geometry and colour


def _scaled(size: Size, scale: float) -> Size:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def _fit(image: Image.Image, long_side: float, grow: bool = True) -> Image.Image:
    """The image scaled so its long side is `long_side` (only ever down unless `grow`)."""
    scale = long_side / max(image.size)
    if scale == 1 or (scale > 1 and not grow):
        return image
    return image.resize(_scaled(image.size, scale), Image.Resampling.LANCZOS)


def _turn(image: Image.Image, degrees: float, zoom: float) -> Image.Image:
    """Rotated about the centre and zoomed in just enough that no empty corner shows."""
    width, height = image.size
    radians = math.radians(degrees)
    cover = math.cos(radians) + abs(math.sin(radians)) * max(width / height, height / width)
    scale = 1 / (zoom * cover)
    # One affine pass (output → input coordinates) is far cheaper than rotate + resize.
    a, b = math.cos(radians) * scale, math.sin(radians) * scale
    cx, cy = width / 2, height / 2
    data = (a, b, cx - a * cx - b * cy, -b, a, cy + b * cx - a * cy)
    return image.transform(image.size, Image.Transform.AFFINE, data, Image.Resampling.BILINEAR)


def _shift_hue(image: Image.Image, degrees: float) -> Image.Image:
    """Hue rotated by `degrees` with the luminance-preserving matrix of SVG's hueRotate
    (one cheap pass, unlike a round trip through HSV)."""
    cos, sin = math.cos(math.radians(degrees)), math.sin(math.radians(degrees))
    matrix = (
        0.213 + cos * 0.787 - sin * 0.213, 0.715 - cos * 0.715 - sin * 0.715,
        0.072 - cos * 0.072 + sin * 0.928, 0.0,
        0.213 - cos * 0.213 + sin * 0.143, 0.715 + cos * 0.285 + sin * 0.140,
        0.072 - cos * 0.072 - sin * 0.283, 0.0,
        0.213 - cos * 0.213 - sin * 0.787, 0.715 - cos * 0.715 + sin * 0.715,
        0.072 + cos * 0.928 + sin * 0.072, 0.0,
    )  # fmt: skip
    return image.convert("RGB", matrix)


def _weighted_mean(images: Sequence[Image.Image], weights: Sequence[float]) -> Image.Image:
    # A running blend is an exact weighted mean: each step gives the newcomer its share.
    mixed, total = images[0], weights[0]
    for image, weight in zip(images[1:], weights[1:], strict=True):
        total += weight
        mixed = Image.blend(mixed, image, weight / total)
    return mixed


def _outpaint(
    source: Image.Image, canvas: Size, offset: Size, prompt: str, seed: int, tag: str
) -> Grid:
    """Four canvases with `source` pasted at `offset` and the rest generated around it.

    The generated part is made at half size and enlarged once: it is soft background, and
    working on a quarter of the pixels keeps a 1024 px zoom well inside its time budget.
    """
    half = _scaled(canvas, 1 / 2)
    mirrored = _mirror_tile(source, canvas, offset, half)
    palette = _palette(prompt)
    # Generated colour grows with the distance from the source, so the seam stays soft.
    far = Image.new("L", canvas, 255)
    far.paste(0, (*offset, offset[0] + source.width, offset[1] + source.height))
    far = far.resize(_scaled(canvas, 1 / 8)).filter(ImageFilter.GaussianBlur(6))
    far = far.resize(half, Image.Resampling.BILINEAR).point(lambda v: v * 3 // 4)
    images = []
    for index in range(4):
        art = _render_art(half, palette, _rng(tag, seed, index, prompt))
        image = Image.composite(art, mirrored, far).resize(canvas, Image.Resampling.BILINEAR)
        image.paste(source, offset)
        images.append(_badge(image))
    return _grid(images)


def _mirror_tile(source: Image.Image, canvas: Size, offset: Size, size: Size) -> Image.Image:
    """The canvas tiled with mirror images of the source around `offset`, blurred (cheaply,
    at a quarter of the size) and returned at `size`."""
    quarter = _scaled(source.size, 1 / 4)
    plain = source.resize(quarter, Image.Resampling.BOX)
    mirrored = ImageOps.mirror(plain)
    tiles = {
        (0, 0): plain,
        (1, 0): mirrored,
        (0, 1): ImageOps.flip(plain),
        (1, 1): ImageOps.flip(mirrored),
    }
    small = Image.new("RGB", _scaled(canvas, 1 / 4))
    origin_x, origin_y = offset[0] / 4, offset[1] / 4
    reach_x = math.ceil(small.width / quarter[0]) + 1
    reach_y = math.ceil(small.height / quarter[1]) + 1
    for row in range(-reach_y, reach_y + 1):
        for column in range(-reach_x, reach_x + 1):
            tile = tiles[(column % 2, row % 2)]
            small.paste(
                tile, (round(origin_x + column * quarter[0]), round(origin_y + row * quarter[1]))
            )
    small = small.filter(ImageFilter.GaussianBlur(3))
    return small.resize(size, Image.Resampling.BILINEAR)
