"""OpenAI-style sizes as Midjourney aspect ratios."""

from __future__ import annotations

import pytest

from mjgate.domain.image_sizes import SizeInvalid, aspect_of_size, with_aspect


@pytest.mark.parametrize(
    ("size", "ratio"),
    [
        ("1024x1024", (1, 1)),
        ("256x256", (1, 1)),
        ("1792x1024", (7, 4)),
        ("1024x1792", (4, 7)),
        ("1536x1024", (3, 2)),
        ("1024x1536", (2, 3)),
        ("1920x1080", (16, 9)),
        ("1000x999", (1, 1)),  # reduced it is 1000:999: the nearest common ratio
        ("1366x768", (16, 9)),
        ("auto", None),
        (None, None),
        ("", None),
    ],
)
def test_sizes_become_ratios(size: str | None, ratio: tuple[int, int] | None) -> None:
    assert aspect_of_size(size) == ratio


@pytest.mark.parametrize("size", ["big", "1024", "0x1024", "4096x512", "1024x-1", "1e3x1e3"])
def test_bad_sizes_are_refused(size: str) -> None:
    with pytest.raises(SizeInvalid):
        aspect_of_size(size)


def test_the_prompts_own_ratio_wins() -> None:
    assert with_aspect("a cat", (7, 4)) == "a cat --ar 7:4"
    assert with_aspect("a cat --ar 2:3", (7, 4)) == "a cat --ar 2:3"
    assert with_aspect("a cat --aspect 2:3", (7, 4)) == "a cat --aspect 2:3"
    assert with_aspect("a cat", None) == "a cat"
