"""OpenAI-style image sizes (``1024x1024``, ``1792x1024``) as Midjourney aspect ratios.

Midjourney takes any whole-number ratio, so a size is its ratio reduced: ``1024x1024`` is
1:1, ``1792x1024`` 7:4, ``1024x1792`` 4:7, ``1536x1024`` 3:2. A size whose reduced ratio has
terms above ``MAX_TERM`` (``1000x999``) takes the nearest common ratio instead, which is what
its author meant. Ratios beyond 1:4 or 4:1 are refused, as our renderers and the prompt rules
(``prompts.aspect_ratio``) stop there. ``auto`` (or no size) adds nothing.
"""

from __future__ import annotations

import math
import re

from mjgate.domain.prompts import prompt_flags

_SIZE = re.compile(r"([0-9]{1,5})[xX×]([0-9]{1,5})", re.ASCII)
MAX_TERM = 32
MAX_ELONGATION = 4
COMMON_RATIOS = (
    (1, 1), (4, 5), (5, 4), (2, 3), (3, 2), (3, 4), (4, 3), (9, 16), (16, 9),
    (7, 4), (4, 7), (1, 2), (2, 1), (21, 9), (9, 21), (5, 7), (7, 5),
)  # fmt: skip


class SizeInvalid(ValueError):
    """The size is not ``WIDTHxHEIGHT`` within 1:4 to 4:1, nor ``auto``."""


def aspect_of_size(size: str | None) -> tuple[int, int] | None:
    """The aspect ratio a size asks for, or None for ``auto`` / no size."""
    if size is None or size.strip().lower() in ("", "auto"):
        return None
    match = _SIZE.fullmatch(size.strip())
    if match is None:
        raise SizeInvalid(size)
    width, height = int(match[1]), int(match[2])
    if width == 0 or height == 0:
        raise SizeInvalid(size)
    if width > MAX_ELONGATION * height or height > MAX_ELONGATION * width:
        raise SizeInvalid(size)
    divisor = math.gcd(width, height)
    ratio = (width // divisor, height // divisor)
    if max(ratio) <= MAX_TERM:
        return ratio
    wanted = math.log(width / height)
    return min(COMMON_RATIOS, key=lambda r: abs(math.log(r[0] / r[1]) - wanted))


def with_aspect(prompt: str, ratio: tuple[int, int] | None) -> str:
    """The prompt with ``--ar W:H`` added, unless it names its own ratio (which then wins)."""
    if ratio is None or any(flag.name in ("ar", "aspect") for flag in prompt_flags(prompt)):
        return prompt
    return f"{prompt} --ar {ratio[0]}:{ratio[1]}"
