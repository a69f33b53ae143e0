"""Reading the Midjourney bot's Discord messages into typed events (DISCORD.md §3–§4).

Pure: no I/O. Messages come from the gateway or REST and are untrusted in shape, so
``read_message`` fills in whatever is missing or mistyped and only insists on an id.
``classify`` says what a message means for a job. ``prompt_key`` and ``prompt_matches`` live
in ``prompt_match`` and are re-exported here.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from mjgate.domain.buttons import Button
from mjgate.providers.discord.prompt_match import prompt_key, prompt_matches

__all__ = [
    "LOADING_FLAG",
    "RED",
    "AccountProblem",
    "Attachment",
    "BotMessage",
    "BotQueueNotice",
    "Described",
    "Embed",
    "Event",
    "Failed",
    "Finished",
    "Mode",
    "Progress",
    "Queued",
    "ResultKind",
    "Shortened",
    "Unrelated",
    "classify",
    "job_hash_of",
    "job_hashes_of",
    "prompt_key",
    "prompt_matches",
    "read_message",
    "seed_of",
]

RED = 16711680
LOADING_FLAG = 128  # "Midjourney Bot is thinking…": an empty deferred reply

# --- the message ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Attachment:
    url: str
    proxy_url: str = ""
    filename: str = ""
    width: int | None = None
    height: int | None = None
    content_type: str = ""

    @property
    def is_video(self) -> bool:
        return self.content_type.startswith("video/") or _extension(self.filename) in _VIDEO_EXT

    @property
    def is_image(self) -> bool:
        if self.content_type:
            return self.content_type.startswith("image/")
        return _extension(self.filename) in _IMAGE_EXT


_IMAGE_EXT = frozenset({"png", "jpg", "jpeg", "webp", "gif"})
_VIDEO_EXT = frozenset({"mp4", "webm", "mov"})


def _extension(filename: str) -> str:
    return filename.rpartition(".")[2].lower() if "." in filename else ""


@dataclass(frozen=True)
class Embed:
    title: str = ""
    description: str = ""
    color: int | None = None
    image_url: str = ""
    footer: str = ""


@dataclass(frozen=True)
class BotMessage:
    id: str
    channel_id: str = ""
    content: str = ""
    author_id: str = ""
    is_bot: bool = False
    nonce: str | None = None
    attachments: tuple[Attachment, ...] = ()
    embeds: tuple[Embed, ...] = ()
    buttons: tuple[Button, ...] = ()
    interaction_id: str | None = None
    interaction_name: str | None = None
    referenced_message_id: str | None = None
    flags: int = 0


def read_message(raw: Mapping[str, Any]) -> BotMessage:
    """A gateway or REST message, typed; ``ValueError`` only when it has no id."""
    message_id = _id(raw.get("id"))
    if message_id is None:
        raise ValueError("a Discord message needs an id")
    author = _mapping(raw.get("author"))
    # Newer messages carry interaction_metadata; older ones (and some REST answers) interaction.
    metadata = _mapping(raw.get("interaction_metadata")) or _mapping(raw.get("interaction"))
    return BotMessage(
        id=message_id,
        channel_id=_id(raw.get("channel_id")) or "",
        content=_text(raw.get("content")),
        author_id=_id(author.get("id")) or "",
        is_bot=author.get("bot") is True,
        nonce=_id(raw.get("nonce")),
        attachments=tuple(_attachment(a) for a in _list(raw.get("attachments")) if _url_of(a)),
        embeds=tuple(_embed(e) for e in _list(raw.get("embeds")) if isinstance(e, Mapping)),
        buttons=_buttons(raw.get("components")),
        interaction_id=_id(metadata.get("id")),
        interaction_name=_text(metadata.get("name")) or None,
        referenced_message_id=_id(_mapping(raw.get("message_reference")).get("message_id")),
        flags=_int(raw.get("flags")) or 0,
    )


def _url_of(value: object) -> str:
    return _text(value.get("url")) if isinstance(value, Mapping) else ""


def _attachment(raw: Mapping[str, Any]) -> Attachment:
    return Attachment(
        url=_text(raw.get("url")),
        proxy_url=_text(raw.get("proxy_url")),
        filename=_text(raw.get("filename")),
        width=_int(raw.get("width")),
        height=_int(raw.get("height")),
        content_type=_text(raw.get("content_type")),
    )


def _embed(raw: Mapping[str, Any]) -> Embed:
    return Embed(
        title=_text(raw.get("title")),
        description=_text(raw.get("description")),
        color=_int(raw.get("color")),
        image_url=_text(_mapping(raw.get("image")).get("url")),
        footer=_text(_mapping(raw.get("footer")).get("text")),
    )


def _buttons(rows: object) -> tuple[Button, ...]:
    found: list[Button] = []
    for row in _list(rows):
        for component in _list(_mapping(row).get("components")):
            if not isinstance(component, Mapping) or component.get("type") != 2:
                continue
            try:
                found.append(Button.from_wire(component))
            except ValueError:
                continue  # a link button (style 5, a url, no custom_id): nothing to press
    return tuple(found)


def _mapping(value: object) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _text(value: object) -> str:
    return value if isinstance(value, str) else ""


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def _id(value: object) -> str | None:
    if isinstance(value, str) and value:
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return None


# --- what it means ----------------------------------------------------------------------------


class ResultKind(StrEnum):
    """What a job message is about, from the words Midjourney writes after the prompt."""

    GRID = "grid"  # imagine, reroll, blend, show
    UPSCALE = "upscale"
    HD_UPSCALE = "hd_upscale"
    VARIATION = "variation"
    PAN = "pan"
    ZOOM = "zoom"
    VIDEO = "video"


class Mode(StrEnum):
    FAST = "fast"
    RELAXED = "relaxed"
    TURBO = "turbo"


@dataclass(frozen=True)
class Queued:
    kind: ResultKind
    prompt: str


@dataclass(frozen=True)
class Progress:
    kind: ResultKind
    prompt: str
    percent: int
    mode: Mode | None = None
    stealth: bool = False
    preview_url: str | None = None
    job_hash: str | None = None


@dataclass(frozen=True)
class Finished:
    kind: ResultKind
    prompt: str
    job_hash: str | None = None
    image_url: str | None = None
    video_url: str | None = None
    buttons: tuple[Button, ...] = ()
    mode: Mode | None = None
    index: int | None = None  # upscales: the image of the grid (Image #n)


@dataclass(frozen=True)
class Described:
    prompts: tuple[str, ...]
    image_url: str | None = None
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Shortened:
    prompts: tuple[str, ...]
    buttons: tuple[Button, ...] = ()


@dataclass(frozen=True)
class Failed:
    reason: str


@dataclass(frozen=True)
class AccountProblem:
    reason: str
    fast_only: bool = False  # credits are gone: relax still works, fast and turbo do not


@dataclass(frozen=True)
class BotQueueNotice:
    text: str


@dataclass(frozen=True)
class Unrelated:
    pass


Event = (
    Queued
    | Progress
    | Finished
    | Described
    | Shortened
    | Failed
    | AccountProblem
    | BotQueueNotice
    | Unrelated
)
Result = Finished | Described | Shortened

_FAILURE_TITLES = frozenset(
    {
        "invalid prompt",
        "invalid parameter",
        "banned prompt detected",
        "banned prompt",
        "invalid link",
        "request cancelled due to output filters",
        "queue full",
    }
)
_OUT_OF_SERVICE_TITLES = frozenset(
    {
        "pending mod message",
        "blocked",
        "plan cancelled",
        "subscription required",
        "subscription paused",
    }
)
_CREDITS_EXHAUSTED = "credits exhausted"
_JOB_QUEUED = "job queued"


def classify(msg: BotMessage) -> Event:
    """What ``msg`` says about a job; ``Unrelated`` for anything that is not the bot's news."""
    if not msg.is_bot:
        return Unrelated()
    if msg.embeds:
        from_embed = _embed_event(msg)
        if from_embed is not None:
            return from_embed
    if msg.content.lstrip().startswith("Failed"):
        return Failed(msg.content.strip().splitlines()[0])
    return _content_event(msg)


def _embed_event(msg: BotMessage) -> Event | None:
    embed = msg.embeds[0]
    title = embed.title.strip()
    key = title.lower()
    reason = f"{title}: {embed.description.strip()}" if embed.description.strip() else title
    if key in _OUT_OF_SERVICE_TITLES:
        return AccountProblem(reason)
    if key == _CREDITS_EXHAUSTED:
        return AccountProblem(reason, fast_only=True)
    if key == _JOB_QUEUED:
        return BotQueueNotice(reason)
    if key in _FAILURE_TITLES or embed.color == RED:
        return Failed(reason or "Midjourney refused the job")
    custom_ids = [button.custom_id for button in msg.buttons]
    if msg.interaction_name == "describe" or any("PicReader" in c for c in custom_ids):
        image = embed.image_url or None
        return Described(_numbered(embed.description, 4), image, msg.buttons)
    if msg.interaction_name == "shorten" or any("PromptAnalyzer" in c for c in custom_ids):
        return Shortened(_numbered(embed.description, 5), msg.buttons)
    return None


# A keycap digit (1️⃣), an emoji shortcode (:one:) or a plain "1." numbering a prompt.
_NUMBERING = re.compile(r"^\s*(?:[1-9]\ufe0f?\u20e3|:(?:one|two|three|four|five):|[1-9][.)])\s*")


def _numbered(description: str, count: int) -> tuple[str, ...]:
    lines = [line.strip() for line in description.splitlines() if line.strip()]
    numbered = [_NUMBERING.sub("", line, count=1) for line in lines if _NUMBERING.match(line)]
    chosen = numbered or lines
    return tuple(line for line in chosen if line)[:count]


# ``**prompt** - <tail>``: the tail names the action, the user, then status parentheses.
_PROMPT = re.compile(r"\*\*(?P<prompt>.*?)\*\*(?P<tail>[^\n]*)", re.S)
_PERCENT = re.compile(r"\((\d{1,3})%\)")
_PARENS = re.compile(r"\(([^()]*)\)")
_IMAGE_N = re.compile(r"\bImage #(\d)")
_VIDEO_FLAG = re.compile(r"(?:^|\s)(?:--|—)video\b")


def _content_event(msg: BotMessage) -> Event:
    found = _PROMPT.search(msg.content)
    if found is None:
        return Unrelated()
    prompt, tail = found["prompt"].strip(), found["tail"]
    kind, index = _kind_of(prompt, tail, msg)
    mode, stealth = _mode_of(tail)
    if "(Waiting to start)" in tail:
        return Queued(kind, prompt)
    percent = _PERCENT.search(tail)
    if percent is not None:
        preview = _first_media(msg)
        return Progress(
            kind,
            prompt,
            min(100, int(percent[1])),
            mode,
            stealth,
            preview.url if preview else None,
            job_hash_of(msg),
        )
    images = [a for a in msg.attachments if a.is_image]
    videos = [a for a in msg.attachments if a.is_video]
    if not images and not videos:
        return Unrelated()  # e.g. "(Stopped)" or a status line without a result
    return Finished(
        kind,
        prompt,
        job_hash_of(msg),
        images[0].url if images else None,
        videos[0].url if videos else None,
        msg.buttons,
        mode,
        index,
    )


def _kind_of(prompt: str, tail: str, msg: BotMessage) -> tuple[ResultKind, int | None]:
    image_n = _IMAGE_N.search(tail)
    if image_n is not None:
        return ResultKind.UPSCALE, int(image_n[1])
    if re.search(r"\bUpscal(?:ed|ing)\b", tail):
        return ResultKind.HD_UPSCALE, None
    if re.search(r"\b(?:Variations|Remix)\b", tail):
        return ResultKind.VARIATION, None
    if re.search(r"\bPan (?:Left|Right|Up|Down)\b", tail):
        return ResultKind.PAN, None
    if re.search(r"\bZoom Out\b", tail):
        return ResultKind.ZOOM, None
    if _VIDEO_FLAG.search(prompt) or any(a.is_video for a in msg.attachments):
        return ResultKind.VIDEO, None
    return ResultKind.GRID, None


def _mode_of(tail: str) -> tuple[Mode | None, bool]:
    mode: Mode | None = None
    stealth = False
    for group in _PARENS.findall(tail):
        for word in (w.strip().lower() for w in group.split(",")):
            if word in ("fast", "turbo"):
                mode = Mode(word)
            elif word in ("relaxed", "relax"):
                mode = Mode.RELAXED
            elif word == "stealth":
                stealth = True
    return mode, stealth


def _first_media(msg: BotMessage) -> Attachment | None:
    return msg.attachments[0] if msg.attachments else None


# --- job hashes -------------------------------------------------------------------------------

_UUID = r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}"
_UUID_RE = re.compile(_UUID)
_JOB_LINK = re.compile(rf"midjourney\.com/jobs/({_UUID})")


def job_hashes_of(msg: BotMessage) -> tuple[str, ...]:
    """Every job UUID the message names, most telling first, lower-cased, no repeats.

    The file name and the buttons name this job; a link may name the parent (an upscale
    links to its grid), so links come after them.
    """
    found: list[str] = []
    for attachment in msg.attachments:
        found += _UUID_RE.findall(attachment.filename)
    for button in msg.buttons:
        found += _UUID_RE.findall(button.custom_id)
    found += _JOB_LINK.findall(msg.content)
    for attachment in msg.attachments:
        found += _UUID_RE.findall(attachment.url.partition("?")[0])
        found += _UUID_RE.findall(attachment.proxy_url.partition("?")[0])
    for embed in msg.embeds:
        found += _UUID_RE.findall(embed.image_url.partition("?")[0])
    return tuple(dict.fromkeys(h.lower() for h in found))


def job_hash_of(msg: BotMessage) -> str | None:
    hashes = job_hashes_of(msg)
    return hashes[0] if hashes else None


# --- the seed DM ------------------------------------------------------------------------------

_SEED_JOB = re.compile(rf"job\s*id\W*({_UUID})", re.I)
_SEED = re.compile(r"seed\W*(\d+)", re.I)


def _first_uuid(text: str) -> str | None:
    found = _UUID_RE.search(text)
    return found[0] if found else None


def seed_of(msg: BotMessage) -> tuple[str, int] | None:
    """``(job_hash, seed)`` from the bot's DM ``**Job ID**: <uuid>\\n**seed** 12345``."""
    texts = [msg.content, *(f"{e.title}\n{e.description}\n{e.footer}" for e in msg.embeds)]
    for text in texts:
        labelled = _SEED_JOB.search(text)
        job_hash = labelled[1] if labelled else _first_uuid(text)
        seed = _SEED.search(text)
        if job_hash is not None and seed is not None:
            return job_hash.lower(), int(seed[1])
    return None
