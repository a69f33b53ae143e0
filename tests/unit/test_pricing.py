"""Prices: defaults per mode, overrides by action and by action and mode."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mjgate.domain.pricing import (
    DEFAULT_PRICES,
    MODE_FACTORS,
    PriceList,
    default_price,
    scale_price,
)
from mjgate.domain.tasks import Mode, TaskAction

FAST_PRICES = {
    TaskAction.IMAGINE: 100,
    TaskAction.UPSCALE: 50,
    TaskAction.VARIATION: 100,
    TaskAction.REROLL: 100,
    TaskAction.BLEND: 100,
    TaskAction.DESCRIBE: 50,
    TaskAction.SHORTEN: 50,
    TaskAction.PAN: 100,
    TaskAction.ZOOM: 100,
    TaskAction.INPAINT: 100,
    TaskAction.UPSCALE_HD: 100,
    TaskAction.VIDEO: 800,
    TaskAction.EDITS: 100,
    TaskAction.SWAP_FACE: 100,
    TaskAction.UPLOAD: 0,
}


def test_every_action_has_a_default_price() -> None:
    assert dict(DEFAULT_PRICES) == FAST_PRICES
    assert set(DEFAULT_PRICES) == set(TaskAction)


def test_defaults_and_factors_cannot_be_changed_by_accident() -> None:
    with pytest.raises(TypeError):
        DEFAULT_PRICES[TaskAction.IMAGINE] = 1  # type: ignore[index]
    with pytest.raises(TypeError):
        MODE_FACTORS[Mode.FAST] = 3  # type: ignore[index]


@pytest.mark.parametrize(
    ("action", "mode", "expected"),
    [
        (TaskAction.IMAGINE, Mode.FAST, 100),
        (TaskAction.IMAGINE, Mode.RELAX, 50),
        (TaskAction.IMAGINE, Mode.TURBO, 200),
        (TaskAction.UPSCALE, Mode.RELAX, 25),
        (TaskAction.VIDEO, Mode.TURBO, 1600),
        (TaskAction.UPLOAD, Mode.TURBO, 0),
    ],
)
def test_default_price_is_fast_price_times_mode_factor(
    action: TaskAction, mode: Mode, expected: int
) -> None:
    assert PriceList().price_of(action, mode) == expected


@pytest.mark.parametrize(
    ("fast", "mode", "expected"),
    [
        (75, Mode.RELAX, 38),
        (1, Mode.RELAX, 1),
        (3, Mode.RELAX, 2),
        (5, Mode.RELAX, 3),
        (2, Mode.RELAX, 1),
        (0, Mode.RELAX, 0),
        (75, Mode.FAST, 75),
        (75, Mode.TURBO, 150),
        (10**15 + 1, Mode.RELAX, 5 * 10**14 + 1),  # exact: no float rounding on big numbers
    ],
)
def test_scale_price_rounds_halves_up(fast: int, mode: Mode, expected: int) -> None:
    assert scale_price(fast, mode) == expected


@pytest.mark.parametrize(
    ("overrides", "action", "mode", "expected"),
    [
        ({"IMAGINE": 30}, TaskAction.IMAGINE, Mode.FAST, 30),
        ({"IMAGINE": 30}, TaskAction.IMAGINE, Mode.RELAX, 30),
        ({"IMAGINE": 30}, TaskAction.IMAGINE, Mode.TURBO, 30),
        ({"IMAGINE": 30}, TaskAction.BLEND, Mode.TURBO, 200),
        ({"IMAGINE:RELAX": 7}, TaskAction.IMAGINE, Mode.RELAX, 7),
        ({"IMAGINE:RELAX": 7}, TaskAction.IMAGINE, Mode.FAST, 100),
        ({"IMAGINE:RELAX": 7, "IMAGINE": 30}, TaskAction.IMAGINE, Mode.RELAX, 7),
        ({"IMAGINE:RELAX": 7, "IMAGINE": 30}, TaskAction.IMAGINE, Mode.TURBO, 30),
        ({"imagine:relax": 7}, TaskAction.IMAGINE, Mode.RELAX, 7),
        ({" Imagine : Turbo ": 9}, TaskAction.IMAGINE, Mode.TURBO, 9),
        ({"UPLOAD": 5}, TaskAction.UPLOAD, Mode.FAST, 5),
        ({"VIDEO:FAST": 0}, TaskAction.VIDEO, Mode.FAST, 0),
    ],
)
def test_the_most_specific_price_wins(
    overrides: dict[str, int], action: TaskAction, mode: Mode, expected: int
) -> None:
    assert PriceList(overrides).price_of(action, mode) == expected


@pytest.mark.parametrize(
    ("key", "expected"),
    [
        ("IMAGINE", (TaskAction.IMAGINE, None)),
        ("imagine", (TaskAction.IMAGINE, None)),
        ("UPSCALE_HD:TURBO", (TaskAction.UPSCALE_HD, Mode.TURBO)),
        ("swap_face:relax", (TaskAction.SWAP_FACE, Mode.RELAX)),
    ],
)
def test_parse_key_reads_action_and_optional_mode(
    key: str, expected: tuple[TaskAction, Mode | None]
) -> None:
    assert PriceList.parse_key(key) == expected


@pytest.mark.parametrize(
    ("key", "message"),
    [
        ("", "unknown action"),
        ("PAINT", "unknown action"),
        (":RELAX", "unknown action"),
        ("IMAGINE:", "unknown mode"),
        ("IMAGINE:SLOW", "unknown mode"),
        ("IMAGINE:RELAX:FAST", "unknown mode"),
        ("IMAGINE RELAX", "unknown action"),
        ("IMAGINE-RELAX", "unknown action"),
    ],
)
def test_parse_key_explains_bad_keys(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        PriceList.parse_key(key)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"IMAGINE": -1}, "negative"),
        ({"IMAGINE:RELAX": -100}, "negative"),
        ({"IMAGINE": 1.5}, "whole number"),
        ({"IMAGINE": "10"}, "whole number"),
        ({"IMAGINE": True}, "whole number"),
        ({"NOPE": 1}, "unknown action"),
        ({"IMAGINE": 1, "imagine": 2}, "twice"),
        ({"IMAGINE:RELAX": 1, "imagine:relax": 2}, "twice"),
    ],
)
def test_bad_overrides_are_refused_when_the_list_is_built(
    overrides: dict[str, object], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        PriceList(overrides)  # type: ignore[arg-type]


def test_table_lists_every_action_in_every_mode() -> None:
    table = PriceList({"VIDEO": 1000, "IMAGINE:TURBO": 150}).table()
    assert len(table) == len(TaskAction) * len(Mode)
    assert [(a, m) for a, m, _ in table] == [(a, m) for a in TaskAction for m in Mode]
    prices = {(a, m): p for a, m, p in table}
    assert prices[TaskAction.VIDEO, Mode.RELAX] == 1000
    assert prices[TaskAction.IMAGINE, Mode.TURBO] == 150
    assert prices[TaskAction.IMAGINE, Mode.RELAX] == 50


def test_price_lists_compare_by_their_overrides() -> None:
    assert PriceList({"IMAGINE": 1}) == PriceList({"IMAGINE": 1})
    assert PriceList({"IMAGINE": 1}) != PriceList({"IMAGINE": 2})


@given(
    st.dictionaries(
        st.builds(
            lambda a, m: a if m is None else f"{a}:{m}",
            st.sampled_from(list(TaskAction)),
            st.none() | st.sampled_from(list(Mode)),
        ),
        st.integers(min_value=0, max_value=10**9),
    )
)
def test_prices_are_never_negative_and_overrides_are_taken_as_given(
    overrides: dict[str, int],
) -> None:
    prices = PriceList(overrides)
    for action, mode, price in prices.table():
        assert price >= 0
        if f"{action}:{mode}" in overrides:
            assert price == overrides[f"{action}:{mode}"]
        elif str(action) in overrides:
            assert price == overrides[str(action)]
        else:
            assert price == default_price(action, mode)
