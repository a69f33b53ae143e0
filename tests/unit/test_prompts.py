"""Prompt rules: mode, the flags we read, and banned words."""

from __future__ import annotations

from importlib import resources

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mjgate.domain.prompts import (
    BannedWords,
    PromptFlag,
    aspect_ratio,
    mode_flag,
    parse_mode,
    prompt_flags,
    require_custom_zoom,
    resolve_mode,
    split_prompt,
    strip_flags,
    zoom_value,
)
from mjgate.domain.tasks import Mode
from mjgate.errors import ModeIsInvalid, ZoomIsInvalid

# --- mode ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (None, None),
        ("", None),
        ("   ", None),
        ("RELAX", Mode.RELAX),
        ("relax", Mode.RELAX),
        ("Fast", Mode.FAST),
        ("tUrBo", Mode.TURBO),
        (" fast ", Mode.FAST),
        (Mode.TURBO, Mode.TURBO),
    ],
)
def test_parse_mode_reads_the_three_modes_in_any_case(value: object, expected: Mode | None) -> None:
    assert parse_mode(value) == expected


@pytest.mark.parametrize(
    "value", ["slow", "FASTER", "fast relax", "--fast", "0", 1, 0, True, False, [], {}, b"FAST"]
)
def test_parse_mode_refuses_anything_else(value: object) -> None:
    with pytest.raises(ModeIsInvalid):
        parse_mode(value)


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a cat", None),
        ("", None),
        ("a cat --fast", Mode.FAST),
        ("a cat --relax", Mode.RELAX),
        ("a cat --turbo", Mode.TURBO),
        ("a cat --FAST", Mode.FAST),
        ("a cat --Relax --ar 2:1", Mode.RELAX),
        ("a cat —turbo", Mode.TURBO),  # an em dash, as iOS autocorrects "--"
        ("a cat --fast --relax", Mode.RELAX),
        ("--turbo a cat --fast", Mode.FAST),
        ("a cat --fastest", None),
        ("a cat --fast-ish", None),
        ("a cat x--fast", None),
        ("a cat -fast", None),
        ("a cat fast relax turbo", None),
        ("a cat ---fast", None),
        ("a cat --no --fast", Mode.FAST),
    ],
)
def test_mode_flag_is_the_last_whole_mode_flag(prompt: str, expected: Mode | None) -> None:
    assert mode_flag(prompt) == expected


@pytest.mark.parametrize(
    ("path", "body", "prompt", "expected"),
    [
        (Mode.TURBO, Mode.RELAX, "x --fast", Mode.TURBO),
        (None, Mode.RELAX, "x --turbo", Mode.RELAX),
        (None, None, "x --turbo", Mode.TURBO),
        (None, None, "x", Mode.FAST),
        (None, None, None, Mode.FAST),
        (None, None, "", Mode.FAST),
        (Mode.RELAX, None, None, Mode.RELAX),
    ],
)
def test_resolve_mode_precedence_is_path_body_prompt_default(
    path: Mode | None, body: Mode | None, prompt: str | None, expected: Mode
) -> None:
    assert resolve_mode(path, body, prompt, default=Mode.FAST) == expected


def test_resolve_mode_uses_the_given_default() -> None:
    assert resolve_mode(None, None, "a cat", default=Mode.RELAX) == Mode.RELAX


# --- flags ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("prompt", "words", "flags"),
    [
        ("a cat", ["a", "cat"], []),
        ("a cat --ar 16:9", ["a", "cat"], [PromptFlag("ar", "16:9")]),
        (
            "a cat --AR 16:9 --v 6.1",
            ["a", "cat"],
            [PromptFlag("ar", "16:9"), PromptFlag("v", "6.1")],
        ),
        ("a cat --tile", ["a", "cat"], [PromptFlag("tile", None)]),
        ("a cat --tile on a mat", ["a", "cat", "on", "a", "mat"], [PromptFlag("tile", None)]),
        ("a cat --style", ["a", "cat"], [PromptFlag("style", None)]),
        (
            "a cat --style --fast",
            ["a", "cat"],
            [PromptFlag("style", None), PromptFlag("fast", None)],
        ),
        (
            "a cat --no red, blue, green --v 7",
            ["a", "cat"],
            [PromptFlag("no", "red, blue, green"), PromptFlag("v", "7")],
        ),
        (
            "a cat --no red, --fast",
            ["a", "cat"],
            [PromptFlag("no", "red,"), PromptFlag("fast", None)],
        ),
        ("a cat —ar 2:1", ["a", "cat"], [PromptFlag("ar", "2:1")]),
        ("a -- cat", ["a", "--", "cat"], []),
        ("a --1 cat", ["a", "--1", "cat"], []),
        ("https://x.test/a--b.png a cat", ["https://x.test/a--b.png", "a", "cat"], []),
    ],
)
def test_split_prompt_separates_text_and_flags(
    prompt: str, words: list[str], flags: list[PromptFlag]
) -> None:
    assert split_prompt(prompt) == (words, flags)
    assert prompt_flags(prompt) == flags


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a cat", "a cat"),
        ("  a   cat\n\tin a hat  ", "a cat in a hat"),
        ("a cat --ar 16:9 --v 6", "a cat"),
        ("a cat --tile", "a cat"),
        ("a cat --no dogs, birds --stylize 250", "a cat"),
        ("--ar 2:1 a cat", "a cat"),
        ("a cat —ar 2:1", "a cat"),
        ("", ""),
        ("--fast", ""),
    ],
)
def test_strip_flags_keeps_only_the_text(prompt: str, expected: str) -> None:
    assert strip_flags(prompt) == expected


@given(st.text())
def test_strip_flags_is_idempotent_and_collapses_whitespace(prompt: str) -> None:
    stripped = strip_flags(prompt)
    assert strip_flags(stripped) == stripped
    assert stripped == " ".join(stripped.split())


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a cat", (1, 1)),
        ("a cat --ar 16:9", (16, 9)),
        ("a cat --aspect 2:3", (2, 3)),
        ("a cat --AR 3:2", (3, 2)),
        ("a cat —ar 3:2", (3, 2)),
        ("a cat --ar 4:1", (4, 1)),
        ("a cat --ar 1:4", (1, 4)),
        ("a cat --ar 8:2", (8, 2)),
        ("a cat --ar 16:9 --ar 1:2", (1, 2)),
        ("a cat --ar 9:2", (1, 1)),
        ("a cat --ar 1:5", (1, 1)),
        ("a cat --ar 0:1", (1, 1)),
        ("a cat --ar 1:0", (1, 1)),
        ("a cat --ar 0:0", (1, 1)),
        ("a cat --ar 16x9", (1, 1)),
        ("a cat --ar 1.5:1", (1, 1)),
        ("a cat --ar -1:2", (1, 1)),
        ("a cat --ar 16:9:1", (1, 1)),
        ("a cat --ar", (1, 1)),
        ("a cat --ar --v 6", (1, 1)),
        ("a cat --ar 16 : 9", (1, 1)),
        ("a cat --ar ١٦:٩", (1, 1)),  # Arabic-Indic digits
        ("a cat --ar 9999999:9999999", (1, 1)),
        ("a cat --ar " + "1" * 5000 + ":1", (1, 1)),
        ("a cat --ar 16:9 --ar bogus", (1, 1)),
        ("a cat ar 16:9", (1, 1)),
    ],
)
def test_aspect_ratio_reads_the_last_ar_flag_within_bounds(
    prompt: str, expected: tuple[int, int]
) -> None:
    assert aspect_ratio(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a cat --zoom 1.5", 1.5),
        ("a cat --zoom 2", 2.0),
        ("a cat --ZOOM .5", 0.5),
        ("a cat --zoom 1.", 1.0),
        ("a cat --zoom 1.2 --zoom 1.8", 1.8),
        ("a cat", None),
        ("a cat --zoom", None),
        ("a cat --zoom x", None),
        ("a cat --zoom nan", None),
        ("a cat --zoom inf", None),
        ("a cat --zoom 1e0", None),
        ("a cat --zoom 1_5", None),
        ("a cat --zoom -1.5", None),
        ("a cat --zoom 1,5", None),
        ("a cat --zoom ١.٥", None),
    ],
)
def test_zoom_value_reads_a_plain_decimal(prompt: str, expected: float | None) -> None:
    assert zoom_value(prompt) == expected


@pytest.mark.parametrize(
    ("prompt", "expected"), [("x --zoom 1.01", 1.01), ("x --zoom 2", 2.0), ("x --zoom 1.5", 1.5)]
)
def test_require_custom_zoom_accepts_above_one_up_to_two(prompt: str, expected: float) -> None:
    assert require_custom_zoom(prompt) == expected


@pytest.mark.parametrize(
    "prompt",
    [
        "x",
        "x --zoom",
        "x --zoom 1",
        "x --zoom 1.0",
        "x --zoom 2.01",
        "x --zoom 0.5",
        "x --zoom 3",
        "x --zoom abc",
        "x --zoom nan",
    ],
)
def test_require_custom_zoom_refuses_the_rest(prompt: str) -> None:
    with pytest.raises(ZoomIsInvalid):
        require_custom_zoom(prompt)


@given(st.text())
def test_flag_readers_never_raise(prompt: str) -> None:
    width, height = aspect_ratio(prompt)
    assert width > 0 and height > 0
    assert width <= 4 * height and height <= 4 * width
    zoom_value(prompt)
    mode_flag(prompt)


# --- banned words --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("words", "text", "expected"),
    [
        (["blood"], "Blood on the snow", "blood"),
        (["blood"], "BLOOD", "blood"),
        (["blood"], "a bloodhound", None),
        (["blood"], "lifeblood", None),
        (["blood"], "blood_bath", None),
        (["blood"], "blood2", None),
        (["blood"], "blood, sweat", "blood"),
        (["blood"], "(blood)", "blood"),
        (["blood"], "x--blood", "blood"),
        (["Blood"], "a blood moon", "Blood"),
        (["nude"], "NUDE", "nude"),
        (["ÜBEL"], "ganz übel hier", "ÜBEL"),
        (["übel"], "Übelkeit", None),
        (["кровь"], "Кровь на снегу", "кровь"),
        (["кровь"], "кровью", None),
        (["血"], "血", "血"),
        (["blood bath"], "a Blood   Bath scene", "blood bath"),
        (["blood bath"], "a blood\nbath", "blood bath"),
        (["blood bath"], "blood baths", None),
        (["blood bath"], "a bloodbath", None),
        (["self-harm"], "no Self-Harm here", "self-harm"),
        (["a.b"], "axb", None),
        (["a.b"], "see a.b now", "a.b"),
        (["18+"], "18+ only", "18+"),
        (["cat", "dog"], "a dog and a cat", "dog"),
        (["cat", "cat food"], "some cat food", "cat food"),
        ([], "anything", None),
        (["", "   "], "anything", None),
    ],
)
def test_banned_words_match_whole_words_case_insensitively(
    words: list[str], text: str, expected: str | None
) -> None:
    assert BannedWords(words).find(text) == expected


def test_banned_words_report_the_listed_word_for_unusual_case_folds() -> None:
    # "İ" matches "i" under case-insensitive matching, but casefolds to "i" + a combining dot.
    assert BannedWords(["sin"]).find("a SİN here") == "sin"
    assert BannedWords(["sex"]).find("ſex") == "sex"  # long s


def test_banned_words_deduplicate_case_insensitively_keeping_the_first_spelling() -> None:
    banned = BannedWords(["Gore", "gore", "GORE", " blood   bath ", "Blood Bath"])
    assert banned.words == ("Gore", "blood bath")
    assert len(banned) == 2


def test_banned_words_from_text_skips_comments_and_blank_lines() -> None:
    banned = BannedWords.from_text(
        "# a header\n\n  nude  \ngore # trailing comment\n   # indented comment\nblood bath\r\n"
    )
    assert banned.words == ("nude", "gore", "blood bath")


@given(st.lists(st.text(min_size=1, max_size=12), max_size=8), st.text())
def test_banned_words_find_never_raises_and_returns_a_listed_word(
    words: list[str], text: str
) -> None:
    banned = BannedWords(words)
    found = banned.find(text)
    assert found is None or found in banned.words


@given(st.from_regex(r"[a-z]{1,10}", fullmatch=True), st.text(max_size=20), st.text(max_size=20))
def test_a_banned_word_surrounded_by_spaces_is_always_found(
    word: str, before: str, after: str
) -> None:
    banned = BannedWords([word])
    assert banned.find(f"{before} {word.upper()} {after}") is not None


def test_default_list_is_valid_and_blocks_what_it_should() -> None:
    text = resources.files("mjgate").joinpath("data/banned_words.txt").read_text("utf-8")
    banned = BannedWords.from_text(text)
    assert len(banned) >= 30
    assert banned.find("a NSFW picture") == "nsfw"
    assert banned.find("naked man") == "naked"
    assert banned.find("a gory scene") == "gory"
    assert banned.find("a gorilla in a nude-coloured dress") == "nude"
    assert banned.find("a gorilla eating a banana") is None
    assert banned.find("Cat --ar 1:1") is None
