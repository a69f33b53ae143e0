"""Texts for the sandbox channel: simulated /describe and /shorten.

describe reads simple facts off the image (its colours, light, contrast, detail and shape) and
phrases them as Midjourney-style prompts; shorten ranks a prompt's words by a fixed heuristic.
Neither is Midjourney. Both are deterministic and do no I/O.
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction

from PIL import Image, ImageFilter, ImageStat

from mjgate.errors import ProviderRejected
from mjgate.providers.sandbox_art import decode_image, image_dimensions

KEYCAPS = tuple(f"{digit}\ufe0f\u20e3" for digit in "123456789")  # 1️⃣ … 9️⃣

# fmt: off
_COLOUR_NAMES: tuple[tuple[str, tuple[int, int, int]], ...] = (
    ("black", (15, 15, 18)), ("charcoal", (54, 57, 62)), ("slate grey", (105, 112, 125)),
    ("grey", (128, 128, 128)), ("silver", (192, 192, 196)), ("white", (245, 245, 242)),
    ("ivory", (250, 244, 222)), ("beige", (220, 200, 160)), ("tan", (200, 160, 110)),
    ("brown", (120, 72, 36)), ("maroon", (110, 20, 30)), ("crimson", (180, 20, 50)),
    ("red", (210, 35, 35)), ("coral", (245, 120, 95)), ("salmon pink", (240, 150, 140)),
    ("orange", (240, 130, 30)), ("amber", (245, 175, 30)), ("gold", (212, 175, 55)),
    ("yellow", (245, 220, 50)), ("olive", (120, 125, 45)), ("lime green", (150, 215, 60)),
    ("green", (45, 150, 65)), ("forest green", (30, 85, 45)), ("emerald", (20, 150, 100)),
    ("teal", (0, 125, 125)), ("turquoise", (60, 205, 195)), ("sky blue", (120, 185, 235)),
    ("blue", (35, 85, 205)), ("navy", (20, 30, 90)), ("indigo", (70, 40, 140)),
    ("violet", (150, 95, 205)), ("purple", (115, 45, 150)), ("magenta", (205, 40, 165)),
    ("pink", (240, 140, 180)), ("dusty rose", (190, 120, 130)), ("lavender", (190, 170, 225)),
)
_STYLES = (
    "digital painting", "watercolor illustration", "abstract geometric art", "cinematic still",
    "matte painting", "risograph print", "minimalist poster", "oil on canvas",
    "vector illustration", "soft pastel drawing", "35mm film photograph", "3d render",
    "paper cut-out collage", "gouache painting", "bauhaus poster", "ukiyo-e woodblock print",
)
_SUBJECTS = (
    "abstract shapes", "floating forms", "a dreamlike landscape", "a quiet still life",
    "an imagined cityscape", "overlapping geometric figures", "a surreal horizon",
    "a lone figure in open space",
)
# Words that carry almost nothing in a prompt, and boosters that Midjourney mostly ignores.
_STOP_TEXT = """
    a an the of and or but nor in on at to for with without by from into onto over under
    is are was were be been being am this that these those it its as very really just some
    any which who whom whose there here please make create generate draw show showing
    depicting featuring has have having while then so such like also about into upon
    image picture i me my we our you your
"""
_FILLER_TEXT = """
    highly detailed ultra hyper hd 4k 8k 16k uhd masterpiece best quality stunning beautiful
    amazing awesome incredible gorgeous epic trending artstation award winning award-winning
    intricate insanely extremely super professional perfect high resolution sharp focus
    octane unreal engine render rendered realism
"""
# fmt: on
_STOP_WORDS = frozenset(_STOP_TEXT.split())
_FILLER_WORDS = frozenset(_FILLER_TEXT.split())


# ---------------------------------------------------------------- describe


@dataclass(frozen=True)
class _Looks:
    """What describe can tell from an image."""

    colours: tuple[str, ...]  # dominant first, at least two
    light: str
    contrast: str
    colourfulness: str
    temperature: str
    detail: str
    composition: str
    ratio: str
    digest: bytes  # picks styles and subjects, so different images read differently


def describe(image: bytes) -> tuple[str, str, str, str]:
    """Four Midjourney-style prompts read off the image, each ending in `--ar W:H`."""
    looks = _look_at(image)
    first, second = looks.colours[:2]
    third = looks.colours[-1]  # the second again when there are only two

    def pick(options: Sequence[str], slot: int) -> str:
        return options[looks.digest[slot] % len(options)]

    ar = f"--ar {looks.ratio}"
    return (
        f"{pick(_SUBJECTS, 0)} in {first} and {second}, {looks.light}, {looks.contrast}, "
        f"{pick(_STYLES, 1)} {ar}",
        f"{pick(_STYLES, 2)} of {pick(_SUBJECTS, 3)}, {first} tones with {third} accents, "
        f"{looks.composition}, {looks.temperature} {ar}",
        f"{looks.light} scene washed in {first}, {looks.detail}, {looks.colourfulness}, "
        f"{pick(_STYLES, 4)} {ar}",
        f"minimal {first} and {second} {pick(_STYLES, 5)}, {looks.colourfulness}, "
        f"{looks.composition}, {looks.detail} {ar}",
    )


def format_describe(prompts: Sequence[str]) -> str:
    """Numbered prompts as Midjourney writes them: `1️⃣ p1`, blank line, `2️⃣ p2`, …"""
    if len(prompts) > len(KEYCAPS):
        raise ValueError(f"at most {len(KEYCAPS)} prompts can be numbered")
    return "\n\n".join(f"{key} {prompt}" for key, prompt in zip(KEYCAPS, prompts, strict=False))


def _look_at(data: bytes) -> _Looks:
    width, height = image_dimensions(data, "image")
    small = decode_image(data, "image", limit=96)  # statistics need few pixels
    grey = small.convert("L")
    light = ImageStat.Stat(grey)
    edges = grey.filter(ImageFilter.FIND_EDGES)
    # Pillow's filters copy the border pixels unfiltered; they are not edges.
    edges = edges.crop((1, 1, edges.width - 1, edges.height - 1)) if min(edges.size) > 2 else edges
    detail = ImageStat.Stat(edges).mean[0]
    saturation = ImageStat.Stat(small.convert("HSV").getchannel("S")).mean[0] / 255
    red, _, blue = ImageStat.Stat(small).mean
    return _Looks(
        colours=_dominant_colours(small),
        light=_grade(light.mean[0], (60, "dark and moody"), (110, "dim low-key lighting"),
                     (170, "soft natural light"), (215, "bright and airy"),
                     (256, "high-key light")),
        contrast=_grade(light.stddev[0], (25, "low contrast"), (60, "balanced contrast"),
                        (256, "dramatic contrast")),
        colourfulness=_grade(saturation, (0.15, "nearly monochrome"), (0.35, "muted colours"),
                             (0.6, "rich colour"), (2, "vivid saturated colour")),
        temperature=_grade(red - blue, (-25, "cool palette"), (25, "neutral palette"),
                           (256, "warm palette")),
        detail=_grade(detail, (6, "smooth gradients"), (14, "soft shapes"),
                      (256, "intricate detail")),
        composition=_grade(width / height, (0.87, "tall portrait composition"),
                           (1.15, "centered square composition"),
                           (2, "wide landscape composition"),
                           (math.inf, "sweeping panoramic composition")),
        ratio=_aspect_ratio(width, height),
        digest=hashlib.sha256(small.tobytes()).digest(),
    )  # fmt: skip


def _grade(value: float, *steps: tuple[float, str]) -> str:
    """The words of the first step whose bound `value` is below."""
    for bound, words in steps:
        if value < bound:
            return words
    return steps[-1][1]


def _dominant_colours(image: Image.Image) -> tuple[str, ...]:
    """Names of the image's main colours, most covering first (at least two)."""
    quantized = image.quantize(colors=6, method=Image.Quantize.MEDIANCUT)
    palette = quantized.getpalette() or []
    pixels = quantized.histogram()  # pixel count per palette index
    names: list[str] = []
    for index in sorted((i for i, n in enumerate(pixels) if n), key=lambda i: -pixels[i]):
        name = _colour_name(tuple(palette[index * 3 : index * 3 + 3]))
        if name not in names:
            names.append(name)
    while len(names) < 2:  # a flat image: pair its colour with a neighbour tone
        names.append("charcoal" if names and names[0] != "charcoal" else "ivory")
    return tuple(names[:3])


def _colour_name(rgb: tuple[int, ...]) -> str:
    def distance(reference: tuple[int, int, int]) -> float:
        # "Redmean" distance: a cheap approximation of how different colours look.
        mean_red = (rgb[0] + reference[0]) / 2
        dr, dg, db = (a - b for a, b in zip(rgb, reference, strict=True))
        return (2 + mean_red / 256) * dr * dr + 4 * dg * dg + (2 + (255 - mean_red) / 256) * db * db

    return min(_COLOUR_NAMES, key=lambda named: distance(named[1]))[0]


def _aspect_ratio(width: int, height: int) -> str:
    """`W:H` in lowest terms; where those are large (1023:767), the nearest ratio with terms up
    to 16 on the short side (4:3), since such terms come from pixel counts, not intent."""
    exact = Fraction(width, height)
    if max(exact.numerator, exact.denominator) <= 32:
        return f"{exact.numerator}:{exact.denominator}"
    wide = exact >= 1
    simple = (exact if wide else 1 / exact).limit_denominator(16)  # ≥ 1, never 0
    long, short = simple.numerator, simple.denominator
    return f"{long}:{short}" if wide else f"{short}:{long}"


# ---------------------------------------------------------------- shorten


@dataclass(frozen=True)
class _Token:
    text: str
    segment: int  # which comma-separated phrase it belongs to
    score: float  # 0 for words that are always dropped


def shorten(prompt: str) -> tuple[str, tuple[str, str, str, str, str]]:
    """The analysis text and five ever shorter prompts (flags kept at the end)."""
    if not prompt.strip():
        raise ProviderRejected("shorten needs a prompt")
    original = " ".join(prompt.split())
    links, tokens, flags = _parse(prompt)
    # Positions of the words worth keeping, strongest first (ties keep prompt order).
    ranked = sorted(
        (i for i, t in enumerate(tokens) if t.score > 0), key=lambda i: -tokens[i].score
    )
    prompts = []
    for count in _keep_counts(len(ranked)):
        kept = sorted(ranked[:count])
        body = _join([tokens[i] for i in kept])
        # Nothing worth keeping (only stop words or links): the prompt as it was.
        prompts.append(" ".join(p for p in (links, body, flags) if p) if body else original)
    five = (prompts[0], prompts[1], prompts[2], prompts[3], prompts[4])
    analysis = (
        f"IMPORTANT TOKENS\n{_emphasis(tokens, ranked) or original}\n\n"
        f"SHORTENED PROMPTS\n{format_describe(five)}"
    )
    return analysis, five


def _parse(prompt: str) -> tuple[str, list[_Token], str]:
    """Leading image links, the scored words, and the `--flags` tail."""
    flag = re.search(r"(?:^|\s)--[a-zA-Z]", prompt)
    body, flags = (prompt[: flag.start()], prompt[flag.start() :]) if flag else (prompt, "")
    words = body.split()
    links = []
    while words and re.match(r"https?://", words[0]):
        links.append(words.pop(0))
    tokens: list[_Token] = []
    segment = 0
    for word in words:
        text = word.strip(".,;!?\"'()[]{}")
        if text and any(ch.isalnum() for ch in text):
            tokens.append(_Token(text, segment, _score(text, len(tokens))))
        if word.endswith((",", ";", ".")):  # a comma closes a phrase
            segment += 1
    return " ".join(links), tokens, " ".join(flags.split())


def _score(text: str, position: int) -> float:
    """A word's importance: content words first, early and longer words a little more."""
    key = text.lower().split("::")[0]
    if key in _STOP_WORDS:
        return 0.0
    if key in _FILLER_WORDS:
        return 0.25 + 0.1 / (1 + position)
    explicit = 0.5 if "::" in text else 0.0  # a multi-prompt weight the user set
    return 1.0 + 0.3 * min(len(key), 10) / 10 + 0.6 / (1 + 0.25 * position) + explicit


def _keep_counts(available: int) -> list[int]:
    """How many ranked words each of the five prompts keeps: fewer and fewer, while there
    are words to drop."""
    counts = [max(1, round(available * share)) for share in (1.0, 0.75, 0.55, 0.4, 0.25)]
    for index in range(1, 5):
        counts[index] = max(1, min(counts[index], counts[index - 1] - 1))
    return counts


def _join(tokens: Sequence[_Token]) -> str:
    """Words in prompt order, phrases separated by commas as the user wrote them."""
    phrases: dict[int, list[str]] = {}
    for token in tokens:
        phrases.setdefault(token.segment, []).append(token.text)
    return ", ".join(" ".join(words) for words in phrases.values())


def _emphasis(tokens: Sequence[_Token], ranked: Sequence[int]) -> str:
    """The prompt with its strongest third in bold and its dropped words struck through."""
    strong = set(ranked[: max(1, math.ceil(len(ranked) / 3))])
    marked = []
    for index, token in enumerate(tokens):
        if index in strong:
            marked.append(f"**{token.text}**")
        elif token.score == 0:
            marked.append(f"~~{token.text}~~")
        else:
            marked.append(token.text)
    return " ".join(marked)
