"""Prompt rules: speed mode, the flags we read (``--ar``, ``--zoom``, ``--fast``…), banned words.

Midjourney's grammar is "text first, then ``--name [value]`` parameters". We read it leniently,
the way Midjourney does, because prompts come from people: flags are case-insensitive, an em
dash counts as ``--`` (iOS autocorrects ``--`` into ``—``), and a bad value of a flag we read
falls back to the default instead of refusing the prompt (Midjourney is the judge of those).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from mjgate.domain.tasks import Mode
from mjgate.errors import ModeIsInvalid, ZoomIsInvalid

# --- mode ----------------------------------------------------------------------------------


def parse_mode(value: object) -> Mode | None:
    """A client's ``mode`` field: absent or blank is None; RELAX/FAST/TURBO in any case."""
    if value is None:
        return None
    if not isinstance(value, str):
        raise ModeIsInvalid()
    name = value.strip().upper()
    if not name:
        return None
    try:
        return Mode(name)
    except ValueError:
        raise ModeIsInvalid() from None


def mode_flag(prompt: str) -> Mode | None:
    """The last ``--fast`` / ``--relax`` / ``--turbo`` in the prompt, as Midjourney reads it."""
    for flag in reversed(prompt_flags(prompt)):
        if flag.name in _MODE_FLAGS:
            return Mode(flag.name.upper())
    return None


def resolve_mode(
    path_mode: Mode | None, body_mode: Mode | None, prompt: str | None, default: Mode
) -> Mode:
    """PROTOCOL §1: path prefix > body ``mode`` > prompt flag > the server default."""
    if path_mode is not None:
        return path_mode
    if body_mode is not None:
        return body_mode
    from_prompt = mode_flag(prompt) if prompt else None
    return from_prompt if from_prompt is not None else default


_MODE_FLAGS = frozenset({"fast", "relax", "turbo"})

# --- flags ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class PromptFlag:
    name: str  # lower case, without the dashes
    value: str | None  # None for a switch (``--tile``) or a flag given no value


_FLAG_PREFIXES = ("--", "—")
_FLAG_NAME = re.compile(r"[a-z][a-z0-9_-]*", re.ASCII | re.IGNORECASE)
# Flags that never take a value, so that a word after one stays prompt text.
_SWITCHES = frozenset(
    {"fast", "relax", "turbo", "tile", "video", "hd", "test", "testp", "creative", "draft"}
)


def _flag_name(token: str) -> str | None:
    for prefix in _FLAG_PREFIXES:
        if token.startswith(prefix) and _FLAG_NAME.fullmatch(token, len(prefix)):
            return token[len(prefix) :].lower()
    return None


def split_prompt(prompt: str) -> tuple[list[str], list[PromptFlag]]:
    """The prompt's text words and its flags, in order.

    A flag takes the one word after it as its value unless that word is a flag itself; a value
    word ending in a comma goes on into the next word, for lists such as ``--no red, blue``.
    """
    words: list[str] = []
    flags: list[PromptFlag] = []
    tokens = prompt.split()
    i = 0
    while i < len(tokens):
        name = _flag_name(tokens[i])
        i += 1
        if name is None:
            words.append(tokens[i - 1])
            continue
        value: list[str] = []
        if name not in _SWITCHES:
            while i < len(tokens) and _flag_name(tokens[i]) is None:
                value.append(tokens[i])
                i += 1
                if not value[-1].endswith(","):
                    break
        flags.append(PromptFlag(name, " ".join(value) or None))
    return words, flags


@dataclass(frozen=True)
class FlagSpan:
    """Where one ``--flag [value]`` stands in a prompt, as ``split_prompt`` reads it."""

    name: str
    start: int
    name_end: int  # the end of the ``--flag`` word itself
    end: int  # the end of its value (``name_end`` when it has none)


_WORD = re.compile(r"\S+")


def flag_spans(prompt: str) -> list[FlagSpan]:
    """Each flag's place in ``prompt``, by the same rules as ``split_prompt``."""
    spans: list[FlagSpan] = []
    words = list(_WORD.finditer(prompt))
    i = 0
    while i < len(words):
        name = _flag_name(words[i].group())
        i += 1
        if name is None:
            continue
        start, name_end = words[i - 1].start(), words[i - 1].end()
        end = name_end
        if name not in _SWITCHES:
            while i < len(words) and _flag_name(words[i].group()) is None:
                end = words[i].end()
                i += 1
                if prompt[end - 1] != ",":
                    break
        spans.append(FlagSpan(name, start, name_end, end))
    return spans


def prompt_flags(prompt: str) -> list[PromptFlag]:
    return split_prompt(prompt)[1]


def strip_flags(prompt: str) -> str:
    """The prompt's text without its ``--flag [value]`` parts, whitespace collapsed."""
    return " ".join(split_prompt(prompt)[0])


def _last_value(prompt: str, names: frozenset[str]) -> str | None:
    for flag in reversed(prompt_flags(prompt)):
        if flag.name in names:
            return flag.value
    return None


# --- aspect ratio --------------------------------------------------------------------------

_ASPECT_FLAGS = frozenset({"ar", "aspect"})
# Whole numbers only, as Midjourney takes them; the digit cap keeps int() cheap.
_RATIO = re.compile(r"([0-9]{1,6}):([0-9]{1,6})", re.ASCII)
_MAX_ELONGATION = 4  # Midjourney's own limit is wider, but our renderers stop at 1:4 and 4:1


def aspect_ratio(prompt: str) -> tuple[int, int]:
    """``--ar W:H`` / ``--aspect W:H`` (the last one); (1, 1) if absent, malformed or extreme."""
    value = _last_value(prompt, _ASPECT_FLAGS)
    match = _RATIO.fullmatch(value) if value else None
    if match is None:
        return (1, 1)
    width, height = int(match[1]), int(match[2])
    if width == 0 or height == 0:
        return (1, 1)
    if width > _MAX_ELONGATION * height or height > _MAX_ELONGATION * width:
        return (1, 1)
    return (width, height)


# --- zoom ----------------------------------------------------------------------------------

_ZOOM_FLAGS = frozenset({"zoom"})
# Plain decimals only: float() alone would also take "nan", "inf", "1e3" and "1_5".
_DECIMAL = re.compile(r"[0-9]{1,9}(?:\.[0-9]{0,9})?|\.[0-9]{1,9}", re.ASCII)


def zoom_value(prompt: str) -> float | None:
    """The value of the last ``--zoom X``, if there is one and it is a plain decimal."""
    value = _last_value(prompt, _ZOOM_FLAGS)
    if value is None or _DECIMAL.fullmatch(value) is None:
        return None
    return float(value)


def require_custom_zoom(prompt: str) -> float:
    """Custom Zoom's factor: ``--zoom X`` with 1 < X <= 2, else ``ZoomIsInvalid``."""
    zoom = zoom_value(prompt)
    if zoom is None or not 1 < zoom <= 2:
        raise ZoomIsInvalid()
    return zoom


# --- banned words --------------------------------------------------------------------------


def _key(phrase: str) -> str:
    return " ".join(phrase.casefold().split())


def _phrase_pattern(phrase: str) -> str:
    # Words of a phrase may be split by any run of whitespace in the prompt.
    return r"\s+".join(re.escape(word) for word in phrase.split())


class BannedWords:
    """Whole-word, case-insensitive matching of a list of words and phrases."""

    def __init__(self, words: Iterable[str]) -> None:
        by_key: dict[str, str] = {}
        for word in words:
            phrase = " ".join(word.split())
            if phrase:
                by_key.setdefault(_key(phrase), phrase)
        self._by_key = by_key
        self.words: tuple[str, ...] = tuple(by_key.values())
        self._pattern: re.Pattern[str] | None = None
        if self.words:
            # Longest first: at one position the alternation takes the first that fits, so a
            # phrase wins over a word it starts with. \w is Unicode-aware in str patterns.
            alternatives = "|".join(
                _phrase_pattern(w) for w in sorted(self.words, key=len, reverse=True)
            )
            self._pattern = re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)", re.IGNORECASE)

    @classmethod
    def from_text(cls, text: str) -> BannedWords:
        """One word or phrase a line; ``#`` starts a comment; blank lines are skipped."""
        return cls(line.split("#", 1)[0].strip() for line in text.splitlines())

    def __len__(self) -> int:
        return len(self.words)

    def find(self, text: str) -> str | None:
        """The listed word that occurs first in ``text``, or None."""
        if self._pattern is None:
            return None
        match = self._pattern.search(text)
        if match is None:
            return None
        found = match.group()
        word = self._by_key.get(_key(found))
        if word is not None:
            return word
        # Case-insensitive regex matching and casefold() disagree on a few letters (e.g. "ſ"
        # against "s"); ask each listed word which one the match was.
        return next(
            (w for w in self.words if re.fullmatch(_phrase_pattern(w), found, re.IGNORECASE)),
            found,
        )
