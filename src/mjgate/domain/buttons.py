"""Buttons and their ``customId``s (PROTOCOL §6): the sets a result offers, and the parser.

A ``customId`` is untrusted client input, so ``parse_custom_id`` matches it against an exact
table of shapes and raises ``UnknownAction`` for everything else: it never crashes.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from types import MappingProxyType

from mjgate.domain.tasks import TaskAction
from mjgate.errors import UnknownAction

REROLL_EMOJI = "🔄"
# Keycap digits 1️⃣..5️⃣: the digit, VARIATION SELECTOR-16, COMBINING ENCLOSING KEYCAP.
KEYCAP_EMOJIS = tuple(f"{n}\ufe0f\u20e3" for n in range(1, 6))
PAN_EMOJIS: Mapping[str, str] = MappingProxyType(
    {"left": "⬅️", "right": "➡️", "up": "⬆️", "down": "⬇️"}
)

BUTTON_TYPE = 2  # a Discord "button" component
STYLE_SECONDARY = 2  # grey; Midjourney draws every action button this way until chosen


@dataclass(frozen=True)
class Button:
    custom_id: str
    label: str
    emoji: str = ""
    style: int = STYLE_SECONDARY
    type: int = BUTTON_TYPE

    def to_wire(self) -> dict[str, object]:
        return {
            "customId": self.custom_id,
            "emoji": self.emoji,
            "label": self.label,
            "type": self.type,
            "style": self.style,
        }

    @classmethod
    def from_wire(cls, data: Mapping[str, object]) -> Button:
        """Read a button as an upstream sends it, filling in what is missing or mistyped.

        Only the ``customId`` is essential: without a non-empty one it is not a button and
        this raises ``ValueError``. Discord-style emoji objects (``{"name": "🔄"}``) are read.
        """
        custom_id = data.get("customId", data.get("custom_id"))
        if not isinstance(custom_id, str) or not custom_id:
            raise ValueError("a button needs a non-empty string customId")
        return cls(
            custom_id=custom_id,
            label=_text_or_empty(data.get("label")),
            emoji=_emoji_text(data.get("emoji")),
            style=_int_or(data.get("style"), STYLE_SECONDARY),
            type=_int_or(data.get("type"), BUTTON_TYPE),
        )


def _text_or_empty(value: object) -> str:
    return value if isinstance(value, str) else ""


def _emoji_text(value: object) -> str:
    if isinstance(value, Mapping):
        return _text_or_empty(value.get("name"))
    return _text_or_empty(value)


def _int_or(value: object, default: int) -> int:
    # bool is an int subclass; True is not a style.
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return default


# --- the button sets a result offers -----------------------------------------------------------


def grid_buttons(message_hash: str) -> list[Button]:
    """After IMAGINE, VARIATION, REROLL, BLEND: U1..U4, 🔄, V1..V4."""
    upscales = [Button(f"MJ::JOB::upsample::{n}::{message_hash}", f"U{n}") for n in range(1, 5)]
    reroll = Button(f"MJ::JOB::reroll::0::{message_hash}::SOLO", "", emoji=REROLL_EMOJI)
    variations = [Button(f"MJ::JOB::variation::{n}::{message_hash}", f"V{n}") for n in range(1, 5)]
    return [*upscales, reroll, *variations]


def upscale_buttons(message_hash: str) -> list[Button]:
    """After UPSCALE (one image), in the order Midjourney shows them."""

    def solo(job: str, label: str, emoji: str = "") -> Button:
        return Button(f"MJ::JOB::{job}::1::{message_hash}::SOLO", label, emoji=emoji)

    return [
        solo("upsample_v7_2x_subtle", "Upscale (Subtle)"),
        solo("upsample_v7_2x_creative", "Upscale (Creative)"),
        solo("low_variation", "Vary (Subtle)"),
        solo("high_variation", "Vary (Strong)"),
        Button(f"MJ::Inpaint::1::{message_hash}::SOLO", "Vary (Region)"),
        Button(f"MJ::Outpaint::50::1::{message_hash}::SOLO", "Zoom Out 2x"),
        Button(f"MJ::Outpaint::75::1::{message_hash}::SOLO", "Zoom Out 1.5x"),
        Button(f"MJ::CustomZoom::{message_hash}", "Custom Zoom"),
        *(solo(f"pan_{direction}", "", emoji) for direction, emoji in PAN_EMOJIS.items()),
        solo("animate_low", "Animate (Low motion)"),
        solo("animate_high", "Animate (High motion)"),
    ]


def describe_buttons() -> list[Button]:
    """After DESCRIBE: imagine one of the four prompts, or describe again."""
    pick = [Button(f"MJ::Job::PicReader::{n}", "", emoji=KEYCAP_EMOJIS[n - 1]) for n in range(1, 5)]
    return [*pick, Button("MJ::Picread::Retry", "", emoji=REROLL_EMOJI)]


def video_buttons(message_hash: str) -> list[Button]:
    """After VIDEO: extend the clip with low or high motion."""
    return [
        Button(f"MJ::JOB::animate_low_extend::1::{message_hash}::SOLO", "Extend (Low motion)"),
        Button(f"MJ::JOB::animate_high_extend::1::{message_hash}::SOLO", "Extend (High motion)"),
    ]


def shorten_buttons() -> list[Button]:
    """After SHORTEN: imagine one of the five shortened prompts."""
    return [
        Button(f"MJ::Job::PromptAnalyzer::{n}", "", emoji=KEYCAP_EMOJIS[n - 1]) for n in range(1, 6)
    ]


# --- parsing a customId ------------------------------------------------------------------------


class ButtonKind(StrEnum):
    UPSAMPLE = "UPSAMPLE"
    VARIATION = "VARIATION"
    LOW_VARIATION = "LOW_VARIATION"
    HIGH_VARIATION = "HIGH_VARIATION"
    REROLL = "REROLL"
    UPSCALE_HD = "UPSCALE_HD"
    OUTPAINT = "OUTPAINT"
    CUSTOM_ZOOM = "CUSTOM_ZOOM"
    PAN = "PAN"
    INPAINT = "INPAINT"
    ANIMATE = "ANIMATE"
    PIC_READER = "PIC_READER"
    PIC_READ_RETRY = "PIC_READ_RETRY"
    PROMPT_ANALYZER = "PROMPT_ANALYZER"


@dataclass(frozen=True)
class ButtonCommand:
    """What pressing a button asks for: the new task's action and the details it needs."""

    action: TaskAction
    kind: ButtonKind
    # U/V: the image 1-4; describe prompt 1-4; shorten prompt 1-5; animate: the image it moves;
    # 1 for the other buttons on a single image; 0 for buttons that redo a whole job.
    index: int
    # The parent result's hash; None for the describe/shorten buttons, which carry none.
    message_hash: str | None
    always_modal: bool = False  # needs client input in every case (Custom Zoom, Vary Region)
    remix_modal: bool = False  # needs client input when the client asked for remix
    direction: str | None = None
    zoom_factor: float | None = None
    motion: str | None = None
    extend: bool = False
    upscale_version: str | None = None
    upscale_scale: str | None = None
    upscale_flavour: str | None = None

    def needs_modal(self, enable_remix: bool) -> bool:
        """Whether the new task waits in MODAL for ``/submit/modal`` (PROTOCOL §5)."""
        return self.always_modal or (self.remix_modal and enable_remix)


# Building blocks of the shapes below. Explicit ASCII classes: \d and \w would also take
# non-ASCII digits and letters.
_HASH = r"(?P<hash>[A-Za-z0-9_-]+)"
# Outpaint names the share of the new frame the old image keeps: 50% is a 2x zoom out.
_OUTPAINT_FACTORS: Mapping[str, float] = MappingProxyType({"50": 2.0, "75": 1.5})

_Builder = Callable[[re.Match[str]], ButtonCommand]


def _upsample(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(TaskAction.UPSCALE, ButtonKind.UPSAMPLE, int(m["n"]), m["hash"])


def _variation(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(
        TaskAction.VARIATION, ButtonKind.VARIATION, int(m["n"]), m["hash"], remix_modal=True
    )


def _strength_variation(m: re.Match[str]) -> ButtonCommand:
    kind = ButtonKind.LOW_VARIATION if m["strength"] == "low" else ButtonKind.HIGH_VARIATION
    return ButtonCommand(TaskAction.VARIATION, kind, 1, m["hash"], remix_modal=True)


def _reroll(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(TaskAction.REROLL, ButtonKind.REROLL, 0, m["hash"], remix_modal=True)


def _upscale_hd(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(
        TaskAction.UPSCALE_HD,
        ButtonKind.UPSCALE_HD,
        1,
        m["hash"],
        upscale_version=m["version"],
        upscale_scale=m["scale"],
        upscale_flavour=m["flavour"],
    )


def _outpaint(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(
        TaskAction.ZOOM,
        ButtonKind.OUTPAINT,
        1,
        m["hash"],
        zoom_factor=_OUTPAINT_FACTORS[m["percent"]],
    )


def _custom_zoom(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(TaskAction.ZOOM, ButtonKind.CUSTOM_ZOOM, 1, m["hash"], always_modal=True)


def _pan(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(
        TaskAction.PAN, ButtonKind.PAN, 1, m["hash"], remix_modal=True, direction=m["direction"]
    )


def _inpaint(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(TaskAction.INPAINT, ButtonKind.INPAINT, 1, m["hash"], always_modal=True)


def _animate(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(
        TaskAction.VIDEO,
        ButtonKind.ANIMATE,
        int(m["n"]),
        m["hash"],
        remix_modal=True,
        motion=m["motion"],
        extend=m["extend"] is not None,
    )


def _pic_reader(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(TaskAction.IMAGINE, ButtonKind.PIC_READER, int(m["n"]), None)


def _pic_read_retry(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(TaskAction.DESCRIBE, ButtonKind.PIC_READ_RETRY, 0, None)


def _prompt_analyzer(m: re.Match[str]) -> ButtonCommand:
    return ButtonCommand(TaskAction.IMAGINE, ButtonKind.PROMPT_ANALYZER, int(m["n"]), None)


# The §6 table, one full-match pattern per row. Nothing is matched loosely: case, separators,
# index ranges and the trailing ::SOLO are all exact.
_SHAPES: tuple[tuple[re.Pattern[str], _Builder], ...] = tuple(
    (re.compile(pattern, re.ASCII), build)
    for pattern, build in (
        (rf"MJ::JOB::upsample::(?P<n>[1-4])::{_HASH}", _upsample),
        (rf"MJ::JOB::variation::(?P<n>[1-4])::{_HASH}", _variation),
        (rf"MJ::JOB::(?P<strength>low|high)_variation::1::{_HASH}::SOLO", _strength_variation),
        (rf"MJ::JOB::reroll::0::{_HASH}::SOLO", _reroll),
        (
            # Versions as Midjourney names them: v5, v6, v6r1 (6.1), v7.
            r"MJ::JOB::upsample_(?P<version>v[0-9]+(?:r[0-9]+)?)_(?P<scale>[24]x)"
            rf"(?:_(?P<flavour>subtle|creative))?::1::{_HASH}::SOLO",
            _upscale_hd,
        ),
        (rf"MJ::Outpaint::(?P<percent>50|75)::1::{_HASH}::SOLO", _outpaint),
        (rf"MJ::CustomZoom::{_HASH}", _custom_zoom),
        (rf"MJ::JOB::pan_(?P<direction>left|right|up|down)::1::{_HASH}::SOLO", _pan),
        (rf"MJ::Inpaint::1::{_HASH}::SOLO", _inpaint),
        (
            # Animate from a grid names one of its four images; a video batch has at most four.
            r"MJ::JOB::animate_(?P<motion>low|high)(?P<extend>_extend)?"
            rf"::(?P<n>[1-4])::{_HASH}::SOLO",
            _animate,
        ),
        (r"MJ::Job::PicReader::(?P<n>[1-4])", _pic_reader),
        (r"MJ::Picread::Retry", _pic_read_retry),
        (r"MJ::Job::PromptAnalyzer::(?P<n>[1-5])", _prompt_analyzer),
    )
)

# Longer than any real customId by far; stops us echoing a megabyte back in the error.
_SHOWN_CHARS = 120


def parse_custom_id(custom_id: object) -> ButtonCommand:
    """Read a ``customId`` of the §6 table; anything else raises ``UnknownAction``."""
    if isinstance(custom_id, str):
        for pattern, build in _SHAPES:
            match = pattern.fullmatch(custom_id)
            if match is not None:
                return build(match)
        shown = custom_id if len(custom_id) <= _SHOWN_CHARS else custom_id[:_SHOWN_CHARS] + "…"
        raise UnknownAction(f"Unknown customId: {shown!r}.")
    raise UnknownAction("The customId must be a string.")
