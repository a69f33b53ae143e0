"""Which parts of a prompt a translator sees, and how its answers are put back.

Midjourney wants English; most users of this protocol write Chinese. Only the words are
translated: parameters (``--ar 16:9``, ``--v 7``), links, ``<...>`` references and
multi-prompt weights (``::2``) are kept exactly as written, and the text between them is
translated run by run. The value of ``--no`` is words, so it is translated too.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from mjgate.domain.prompts import flag_spans

# Han (with extensions and compatibility ideographs), kana, Hangul, CJK punctuation.
_CJK = re.compile(
    "[\u3000-\u303f\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
    "\uff00-\uffef\U00020000-\U0003134f]"
)
# Kept inside the text: links, <...> references (and Discord's <:emoji:id>), weights.
_KEPT = re.compile(r"https?://\S+|<[^<>\s]{1,2000}>|::-?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)?")


def has_cjk(text: str) -> bool:
    return _CJK.search(text) is not None


@dataclass(frozen=True)
class Piece:
    text: str
    translate: bool  # a run of words with CJK text in it (its edge whitespace stays put)


@dataclass(frozen=True)
class PromptParts:
    """A prompt cut into kept pieces and runs to translate; ``joined`` puts it back."""

    pieces: tuple[Piece, ...]

    def texts(self) -> list[str]:
        """What the translator is asked, one string per run, without edge whitespace."""
        return [p.text.strip() for p in self.pieces if p.translate]

    def joined(self, translations: Sequence[str]) -> str:
        """The prompt with each run replaced by its translation, everything else as it was."""
        answers = iter(translations)
        out: list[str] = []
        previous_translated = False
        for piece in self.pieces:
            if piece.translate:
                lead, trail = _edges(piece.text)
                text = lead + " ".join(next(answers).split()) + trail
            else:
                text = piece.text
            # CJK needs no spaces between words: "猫https://x" translated would glue.
            if (
                out
                and (piece.translate or previous_translated)
                and not out[-1][-1:].isspace()
                and not text[:1].isspace()
                and not text.startswith("::")
            ):
                out.append(" ")
            out.append(text)
            previous_translated = piece.translate
        return "".join(out)


def translatable_parts(prompt: str) -> PromptParts:
    kept: list[tuple[int, int]] = []
    for span in flag_spans(prompt):
        # --no takes words to leave out of the image: those are translated like the rest.
        kept.append((span.start, span.name_end if span.name == "no" else span.end))
    taken = list(kept)
    for match in _KEPT.finditer(prompt):
        if match.end() > match.start() and not any(
            s < match.end() and match.start() < e for s, e in taken
        ):
            kept.append((match.start(), match.end()))
    kept.sort()
    pieces: list[Piece] = []
    at = 0
    for start, end in kept:
        if start > at:
            pieces.append(_text(prompt[at:start]))
        pieces.append(Piece(prompt[start:end], False))
        at = end
    if at < len(prompt):
        pieces.append(_text(prompt[at:]))
    return PromptParts(tuple(pieces))


def _text(run: str) -> Piece:
    return Piece(run, has_cjk(run))


def _edges(run: str) -> tuple[str, str]:
    """The whitespace before and after a run's words."""
    stripped = run.strip()
    if not stripped:
        return run, ""
    start = run.index(stripped)
    return run[:start], run[start + len(stripped) :]
