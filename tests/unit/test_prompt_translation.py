"""Which parts of a prompt a translator sees, and how the answers are put back."""

from __future__ import annotations

import pytest

from mjgate.domain.translation import has_cjk, translatable_parts


@pytest.mark.parametrize(
    ("prompt", "asked", "joined"),
    [
        ("一只猫 --ar 16:9 --v 7", ["一只猫"], "T0 --ar 16:9 --v 7"),
        ("猫::2 狗::1.5 在草地上", ["猫", "狗", "在草地上"], "T0::2 T1::1.5 T2"),
        (
            "https://example.com/a.png 红色的车 --stylize 100",
            ["红色的车"],
            "https://example.com/a.png T0 --stylize 100",
        ),
        ("<https://x.y/b.png> 猫 <:emoji:123>", ["猫"], "<https://x.y/b.png> T0 <:emoji:123>"),
        # --no takes words to leave out: they are translated; other flags' values are not.
        ("猫 --no 蓝色, 绿色 --ar 3:2", ["猫", "蓝色, 绿色"], "T0 --no T1 --ar 3:2"),
        ("猫 —ar 2:3", ["猫"], "T0 —ar 2:3"),
        # No spaces in Chinese: a translated run is not glued to a link after it.
        ("你好https://x.y/z", ["你好"], "T0 https://x.y/z"),
        ("a cat --ar 1:1", [], "a cat --ar 1:1"),
        ("  一只猫  ", ["一只猫"], "  T0  "),
        ("猫\n\n狗", ["猫\n\n狗"], "T0"),
    ],
)
def test_only_the_words_are_asked_and_the_rest_survives(
    prompt: str, asked: list[str], joined: str
) -> None:
    parts = translatable_parts(prompt)
    assert parts.texts() == asked
    assert parts.joined([f"T{n}" for n in range(len(asked))]) == joined


def test_a_multi_line_answer_becomes_one_line() -> None:
    parts = translatable_parts("一只猫 --ar 16:9")
    assert parts.joined(["a cat\n sitting"]) == "a cat sitting --ar 16:9"


@pytest.mark.parametrize(
    ("text", "cjk"),
    [("一只猫", True), ("ねこ", True), ("고양이", True), ("a cat", False), ("café —ar", False)],
)
def test_cjk_is_detected(text: str, cjk: bool) -> None:
    assert has_cjk(text) is cjk
