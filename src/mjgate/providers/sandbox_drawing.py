"""Drawing for the sandbox's pictures: palettes from prompts, shapes, labels, geometry.

Everything here works on Pillow images in memory; ``sandbox_art`` turns them into results.
"""

from __future__ import annotations

import colorsys
import functools
import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFilter, ImageFont, ImageOps

RGB = tuple[int, int, int]
Size = tuple[int, int]
LABEL = "mjgate sandbox · simulated"

# Colour words win: "a red fox" must look red. Theme words nudge the palette the same way.
# fmt: off
COLOUR_WORDS: dict[str, RGB] = {
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
THEME_WORDS: dict[str, tuple[RGB, ...]] = {
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
class Palette:
    primary: tuple[RGB, ...]  # the colours that should dominate
    accent: tuple[RGB, ...]  # small touches


# ---------------------------------------------------------------- palettes and drawing


def seeded_random(*parts: object) -> random.Random:
    # A str seed goes through SHA-512, so this is stable across processes (unlike hash()).
    return random.Random(":".join(map(str, parts)))


def palette_of(prompt: str) -> Palette:
    """Colours from the prompt's words (flags ignored): colour and theme words first."""
    body = re.split(r"(?:^|\s)--[a-zA-Z]", prompt, maxsplit=1)[0]
    words = re.findall(r"[a-z]+", body.lower())
    named = [COLOUR_WORDS[w] for w in words if w in COLOUR_WORDS]
    themed = [c for w in words if w in THEME_WORDS for c in THEME_WORDS[w]]
    hashed = [word_colour(w) for w in words if len(w) > 2 and w not in COLOUR_WORDS]
    if named:
        return Palette(tuple(named), tuple(themed + hashed)[:6])
    if themed:
        return Palette(tuple(themed), tuple(hashed)[:6])
    if hashed:
        return Palette(tuple(hashed[:3]), tuple(hashed[3:9]))
    return Palette(((70, 90, 160), (200, 120, 90)), ((230, 220, 200),))


def word_colour(word: str) -> RGB:
    digest = hashlib.sha256(word.encode()).digest()
    hue, sat, val = digest[0] / 255, 0.45 + digest[1] / 255 * 0.4, 0.55 + digest[2] / 255 * 0.35
    red, green, blue = colorsys.hsv_to_rgb(hue, sat, val)
    return round(red * 255), round(green * 255), round(blue * 255)


def shade_of(colour: RGB, rng: random.Random, bias: float = 0.0) -> RGB:
    """The colour made lighter (towards white) or darker, by bias plus a little chance."""
    amount = max(-0.85, min(0.85, bias + rng.uniform(-0.25, 0.25)))
    target = 255 if amount > 0 else 0
    red, green, blue = (round(c + (target - c) * abs(amount)) for c in colour)
    return red, green, blue


def colours_of(image: Image.Image) -> tuple[RGB, ...]:
    raw = image.resize((3, 3), Image.Resampling.BOX).tobytes()
    return tuple((raw[i], raw[i + 1], raw[i + 2]) for i in range(0, len(raw), 3))


def gradient(size: Size, angle: float) -> Image.Image:
    """A linear 0→255 ramp across `size` at `angle` degrees."""
    ramp = Image.linear_gradient("L").rotate(angle, Image.Resampling.BILINEAR, expand=True)
    side = ramp.width / 2 - 91  # the centre 182 px square is inside the turned ramp
    box = (side, side, ramp.width - side, ramp.height - side)
    return ramp.resize(size, Image.Resampling.BILINEAR, box=box)


def blotches(size: Size, rng: random.Random) -> Image.Image:
    """Smooth colourful noise: a few random pixels stretched over the whole size."""
    tiny = Image.frombytes("RGB", (6, 6), rng.randbytes(6 * 6 * 3))
    # Bicubic to a small size, then bilinear: as smooth as bicubic all the way, and faster.
    return tiny.resize((64, 64), Image.Resampling.BICUBIC).resize(size, Image.Resampling.BILINEAR)


def render_art(size: Size, palette: Palette, rng: random.Random) -> Image.Image:
    """A gradient in the primary colours, a glow, a central form and scattered shapes."""
    width, height = size
    long_side = max(size)
    first, second = (shade_of(rng.choice(palette.primary), rng, b) for b in (-0.3, 0.2))
    ramp = gradient(size, rng.uniform(0, 360))
    image = Image.composite(Image.new("RGB", size, first), Image.new("RGB", size, second), ramp)
    draw = ImageDraw.Draw(image, "RGBA")
    glow_x, glow_y = rng.uniform(0.2, 0.8) * width, rng.uniform(0.15, 0.6) * height
    for step in range(6, 0, -1):  # concentric translucent discs make a soft light
        radius = long_side * 0.06 * step
        light = shade_of(rng.choice(palette.primary), rng, 0.6)
        draw.ellipse(
            (glow_x - radius, glow_y - radius, glow_x + radius, glow_y + radius), fill=(*light, 28)
        )
    centre = (width * rng.uniform(0.35, 0.65), height * rng.uniform(0.4, 0.65))
    shape(draw, centre, long_side * rng.uniform(0.18, 0.3), shade_of(palette.primary[0], rng), rng)
    for _ in range(rng.randint(6, 12)):
        colours = palette.primary if not palette.accent or rng.random() < 0.7 else palette.accent
        point = (rng.uniform(0, width), rng.uniform(0, height))
        shape(
            draw,
            point,
            long_side * rng.uniform(0.03, 0.14),
            shade_of(rng.choice(colours), rng),
            rng,
            alpha=rng.randint(110, 210),
        )
    return image.filter(ImageFilter.GaussianBlur(1.2))  # painterly edges; compresses better


def shape(
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
def label_font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    try:
        return ImageFont.load_default(size)
    except (ImportError, OSError):  # a Pillow without FreeType: the small bitmap font
        return ImageFont.load_default()


def fit_text(text: str, font: ImageFont.FreeTypeFont | ImageFont.ImageFont, width: float) -> str:
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


def caption(image: Image.Image, prompt: str) -> Image.Image:
    """A two-line strip at the bottom: the prompt, then the "simulated" label."""
    font = label_font(12)
    width, height = image.size
    strip = 34
    draw = ImageDraw.Draw(image, "RGBA")
    draw.rectangle((0, height - strip, width, height), fill=(16, 16, 20, 215))
    text = " ".join(prompt.split())[:300]
    draw.text(
        (6, height - strip + 3), fit_text(text, font, width - 12), font=font, fill=(240, 240, 240)
    )
    draw.text(
        (6, height - strip + 18), fit_text(LABEL, font, width - 12), font=font, fill=(255, 196, 64)
    )
    return image


def badge(image: Image.Image) -> Image.Image:
    """An opaque "simulated" badge in the bottom-right corner (opaque, so repeats are stable)."""
    font = label_font(11)
    text = fit_text(LABEL, font, image.width - 8)
    text_w = math.ceil(font.getlength(text))
    left, top = max(0, image.width - text_w - 8), max(0, image.height - 17)
    draw = ImageDraw.Draw(image)
    draw.rectangle((left, top, image.width, image.height), fill=(16, 16, 20))
    draw.text((left + 4, top + 2), text, font=font, fill=(255, 196, 64))
    return image


# ---------------------------------------------------------------- geometry and colour


def scaled_size(size: Size, scale: float) -> Size:
    return max(1, round(size[0] * scale)), max(1, round(size[1] * scale))


def fit_long_side(image: Image.Image, long_side: float, grow: bool = True) -> Image.Image:
    """The image scaled so its long side is `long_side` (only ever down unless `grow`)."""
    scale = long_side / max(image.size)
    if scale == 1 or (scale > 1 and not grow):
        return image
    return image.resize(scaled_size(image.size, scale), Image.Resampling.LANCZOS)


def turned(image: Image.Image, degrees: float, zoom: float) -> Image.Image:
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


def shift_hue(image: Image.Image, degrees: float) -> Image.Image:
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


def weighted_mean(images: Sequence[Image.Image], weights: Sequence[float]) -> Image.Image:
    # A running blend is an exact weighted mean: each step gives the newcomer its share.
    mixed, total = images[0], weights[0]
    for image, weight in zip(images[1:], weights[1:], strict=True):
        total += weight
        mixed = Image.blend(mixed, image, weight / total)
    return mixed


def mirror_tile(source: Image.Image, canvas: Size, offset: Size, size: Size) -> Image.Image:
    """The canvas tiled with mirror images of the source around `offset`, blurred (cheaply,
    at a quarter of the size) and returned at `size`."""
    quarter = scaled_size(source.size, 1 / 4)
    plain = source.resize(quarter, Image.Resampling.BOX)
    mirrored = ImageOps.mirror(plain)
    tiles = {
        (0, 0): plain,
        (1, 0): mirrored,
        (0, 1): ImageOps.flip(plain),
        (1, 1): ImageOps.flip(mirrored),
    }
    small = Image.new("RGB", scaled_size(canvas, 1 / 4))
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
