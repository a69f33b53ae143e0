"""The sandbox's simulated /describe and /shorten texts."""

from __future__ import annotations

import re
from io import BytesIO

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image, ImageDraw

from mjgate.errors import ProviderRejected
from mjgate.providers.sandbox_text import describe, format_describe, shorten

ONE, TWO, THREE, FOUR, FIVE = (f"{digit}\ufe0f\u20e3" for digit in "12345")


def png(image: Image.Image) -> bytes:
    buffer = BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()


def solid(colour: tuple[int, int, int], size: tuple[int, int] = (512, 512)) -> bytes:
    return png(Image.new("RGB", size, colour))


def busy(size: tuple[int, int]) -> bytes:
    image = Image.new("RGB", size, (240, 200, 40))
    draw = ImageDraw.Draw(image)
    for step in range(0, size[0], 16):
        draw.line((step, 0, size[0] - step, size[1]), fill=(20, 20, 120), width=3)
    return png(image)


# ---------------------------------------------------------------- describe


@pytest.mark.parametrize(
    ("size", "ratio"),
    [((1920, 1080), "16:9"), ((512, 768), "2:3"), ((640, 480), "4:3"), ((700, 300), "7:3"),
     ((1920, 1088), "30:17"), ((1000, 10), "100:1"), ((10, 1000), "1:100"),
     ((1001, 1000), "1:1"), ((997, 499), "2:1"), ((1023, 767), "4:3"), ((683, 1024), "2:3")],
)  # fmt: skip
def test_describe_gives_four_prompts_ending_in_the_image_ratio(
    size: tuple[int, int], ratio: str
) -> None:
    prompts = describe(solid((90, 140, 200), size))
    assert len(prompts) == 4
    assert len(set(prompts)) == 4
    for prompt in prompts:
        assert prompt.endswith(f" --ar {ratio}")
        assert prompt.count("--") == 1


@pytest.mark.parametrize(
    ("colour", "name"), [((210, 30, 30), "red"), ((30, 60, 210), "blue"), ((40, 150, 60), "green")]
)
def test_describe_names_the_dominant_colour(colour: tuple[int, int, int], name: str) -> None:
    assert all(name in prompt for prompt in describe(solid(colour)))


def test_describe_reads_light_and_shape() -> None:
    dark = " ".join(describe(solid((10, 10, 14), (600, 1200))))
    bright = " ".join(describe(solid((250, 250, 245), (1200, 700))))
    assert "dark" in dark and "portrait" in dark
    assert "bright" in bright or "high-key" in bright
    assert "landscape" in bright
    assert "smooth" in bright and "intricate" in " ".join(describe(busy((600, 600))))


def test_describe_differs_between_images_and_repeats_for_the_same() -> None:
    first, second = busy((800, 600)), solid((120, 60, 160), (800, 600))
    assert describe(first) == describe(first)
    assert set(describe(first)).isdisjoint(describe(second))


def test_describe_rejects_what_is_not_an_image() -> None:
    with pytest.raises(ProviderRejected):
        describe(b"GIF89a but not really")


def test_format_describe_numbers_with_keycaps() -> None:
    assert format_describe(("p1", "p2", "p3", "p4")) == (
        f"{ONE} p1\n\n{TWO} p2\n\n{THREE} p3\n\n{FOUR} p4"
    )
    assert ONE == "1\ufe0f\u20e3" == "1️⃣"


# ---------------------------------------------------------------- shorten

LONG = (
    "a majestic red fox standing in the deep snow of a quiet birch forest at dawn, "
    "highly detailed, 8k, trending on artstation --ar 3:2 --v 6"
)


def test_shorten_gives_five_distinct_ever_shorter_prompts() -> None:
    _, prompts = shorten(LONG)
    assert len(prompts) == 5
    assert len(set(prompts)) == 5
    assert all(prompt for prompt in prompts)
    lengths = [len(prompt) for prompt in prompts]
    assert lengths == sorted(lengths, reverse=True)
    assert all(prompt.endswith(" --ar 3:2 --v 6") for prompt in prompts)
    assert "fox" in prompts[-1]  # the subject survives to the end
    assert not re.search(r"\b(a|the|of|on|in)\b", prompts[0])  # stop words go first
    assert "8k" not in prompts[2]  # boosters go before content


def test_shorten_analysis_reads_like_midjourney() -> None:
    analysis, prompts = shorten(LONG)
    tokens, shortened = analysis.split("\n\nSHORTENED PROMPTS\n")
    assert tokens.startswith("IMPORTANT TOKENS\n")
    assert "**fox**" in tokens and "~~the~~" in tokens
    assert shortened == format_describe(prompts)
    assert shortened.startswith(f"{ONE} ") and f"\n\n{FIVE} " in shortened


def test_shorten_keeps_image_links_first() -> None:
    _, prompts = shorten("https://example.com/a.png a painting of a lighthouse in a storm --iw 2")
    assert all(
        p.startswith("https://example.com/a.png ") and p.endswith(" --iw 2") for p in prompts
    )


@pytest.mark.parametrize("prompt", ["the of a", "cat", "--ar 16:9", "!!!", "狐狸"])
def test_shorten_never_returns_an_empty_prompt(prompt: str) -> None:
    _, prompts = shorten(prompt)
    assert all(prompts)


def test_shorten_without_words_worth_keeping_returns_the_prompt() -> None:
    _, prompts = shorten("the  of a")
    assert prompts == ("the of a",) * 5


def test_shorten_refuses_a_blank_prompt() -> None:
    with pytest.raises(ProviderRejected):
        shorten("   ")


@settings(max_examples=200, deadline=None, database=None)
@given(
    words=st.lists(
        st.one_of(
            st.sampled_from(["the", "a", "of", "red", "fox", "8k", "highly", "cat::2", ","]),
            st.text(alphabet=st.characters(blacklist_categories=["Cs"]), min_size=1, max_size=8),
        ),
        min_size=1,
        max_size=30,
    ),
    flags=st.sampled_from(["", " --ar 2:3", " --no trees, cars --v 6"]),
)
def test_shorten_properties(words: list[str], flags: str) -> None:
    prompt = " ".join(words) + flags
    if not prompt.strip():
        return
    analysis, prompts = shorten(prompt)
    assert all(p.strip() for p in prompts)
    lengths = [len(p) for p in prompts]
    assert lengths == sorted(lengths, reverse=True)
    assert shorten(prompt) == (analysis, prompts)
    assert analysis.startswith("IMPORTANT TOKENS\n")
