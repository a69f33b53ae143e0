"""PROTOCOL §6: button sets, their wire form, and the customId parser."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from mjgate.domain.buttons import (
    Button,
    ButtonCommand,
    ButtonKind,
    describe_buttons,
    grid_buttons,
    parse_custom_id,
    shorten_buttons,
    upscale_buttons,
)
from mjgate.domain.tasks import TaskAction
from mjgate.errors import UnknownAction

H = "0b1c2d3e-4f50-6172-8394-a5b6c7d8e9f0"


def _command(
    action: TaskAction,
    kind: ButtonKind,
    index: int,
    message_hash: str | None = H,
    **details: Any,
) -> ButtonCommand:
    return dataclasses.replace(ButtonCommand(action, kind, index, message_hash), **details)


VALID: list[tuple[str, ButtonCommand]] = [
    *(
        (f"MJ::JOB::upsample::{n}::{H}", _command(TaskAction.UPSCALE, ButtonKind.UPSAMPLE, n))
        for n in range(1, 5)
    ),
    *(
        (
            f"MJ::JOB::variation::{n}::{H}",
            _command(TaskAction.VARIATION, ButtonKind.VARIATION, n, remix_modal=True),
        )
        for n in range(1, 5)
    ),
    (
        f"MJ::JOB::low_variation::1::{H}::SOLO",
        _command(TaskAction.VARIATION, ButtonKind.LOW_VARIATION, 1, remix_modal=True),
    ),
    (
        f"MJ::JOB::high_variation::1::{H}::SOLO",
        _command(TaskAction.VARIATION, ButtonKind.HIGH_VARIATION, 1, remix_modal=True),
    ),
    (
        f"MJ::JOB::reroll::0::{H}::SOLO",
        _command(TaskAction.REROLL, ButtonKind.REROLL, 0, remix_modal=True),
    ),
    *(
        (
            f"MJ::JOB::upsample_{version}_{scale}{'_' + flavour if flavour else ''}::1::{H}::SOLO",
            _command(
                TaskAction.UPSCALE_HD,
                ButtonKind.UPSCALE_HD,
                1,
                upscale_version=version,
                upscale_scale=scale,
                upscale_flavour=flavour,
            ),
        )
        for version, scale, flavour in [
            ("v7", "2x", "subtle"),
            ("v7", "2x", "creative"),
            ("v6", "2x", "subtle"),
            ("v6r1", "2x", "creative"),
            ("v5", "2x", None),
            ("v5", "4x", None),
            ("v7", "4x", "subtle"),
        ]
    ),
    (
        f"MJ::Outpaint::50::1::{H}::SOLO",
        _command(TaskAction.ZOOM, ButtonKind.OUTPAINT, 1, zoom_factor=2.0),
    ),
    (
        f"MJ::Outpaint::75::1::{H}::SOLO",
        _command(TaskAction.ZOOM, ButtonKind.OUTPAINT, 1, zoom_factor=1.5),
    ),
    (
        f"MJ::CustomZoom::{H}",
        _command(TaskAction.ZOOM, ButtonKind.CUSTOM_ZOOM, 1, always_modal=True),
    ),
    *(
        (
            f"MJ::JOB::pan_{direction}::1::{H}::SOLO",
            _command(TaskAction.PAN, ButtonKind.PAN, 1, remix_modal=True, direction=direction),
        )
        for direction in ("left", "right", "up", "down")
    ),
    (
        f"MJ::Inpaint::1::{H}::SOLO",
        _command(TaskAction.INPAINT, ButtonKind.INPAINT, 1, always_modal=True),
    ),
    *(
        (
            f"MJ::JOB::animate_{motion}{'_extend' if extend else ''}::{n}::{H}::SOLO",
            _command(
                TaskAction.VIDEO,
                ButtonKind.ANIMATE,
                n,
                remix_modal=True,
                motion=motion,
                extend=extend,
            ),
        )
        for motion in ("low", "high")
        for extend in (False, True)
        for n in (1, 4)
    ),
    *(
        (
            f"MJ::Job::PicReader::{n}",
            _command(TaskAction.IMAGINE, ButtonKind.PIC_READER, n, None),
        )
        for n in range(1, 5)
    ),
    ("MJ::Picread::Retry", _command(TaskAction.DESCRIBE, ButtonKind.PIC_READ_RETRY, 0, None)),
    *(
        (
            f"MJ::Job::PromptAnalyzer::{n}",
            _command(TaskAction.IMAGINE, ButtonKind.PROMPT_ANALYZER, n, None),
        )
        for n in range(1, 6)
    ),
]


@pytest.mark.parametrize(("custom_id", "expected"), VALID, ids=[c for c, _ in VALID])
def test_parse_custom_id_reads_every_shape_of_the_table(
    custom_id: str, expected: ButtonCommand
) -> None:
    assert parse_custom_id(custom_id) == expected


@pytest.mark.parametrize(
    "message_hash", ["abc", "A", "0", "a_b-c", "1234567890123456789", H.upper(), "x" * 300]
)
def test_any_token_of_letters_digits_dash_underscore_is_a_hash(message_hash: str) -> None:
    assert parse_custom_id(f"MJ::JOB::upsample::2::{message_hash}").message_hash == message_hash
    assert parse_custom_id(f"MJ::CustomZoom::{message_hash}").message_hash == message_hash


INVALID = [
    # not a customId at all
    "",
    " ",
    "U1",
    "MJ",
    "MJ::",
    "MJ::JOB",
    "MJ::JOB::upsample",
    # index out of range or not a plain digit
    f"MJ::JOB::upsample::0::{H}",
    f"MJ::JOB::upsample::5::{H}",
    f"MJ::JOB::upsample::01::{H}",
    f"MJ::JOB::upsample::-1::{H}",
    f"MJ::JOB::upsample::१::{H}",  # a Devanagari digit one
    f"MJ::JOB::upsample::１::{H}",  # a fullwidth digit one
    f"MJ::JOB::upsample:: 1::{H}",
    f"MJ::JOB::variation::0::{H}",
    f"MJ::JOB::variation::5::{H}",
    f"MJ::JOB::low_variation::2::{H}::SOLO",
    f"MJ::JOB::high_variation::0::{H}::SOLO",
    f"MJ::JOB::reroll::1::{H}::SOLO",
    f"MJ::JOB::upsample_v7_2x_subtle::2::{H}::SOLO",
    f"MJ::Outpaint::50::2::{H}::SOLO",
    f"MJ::Outpaint::60::1::{H}::SOLO",
    f"MJ::Outpaint::100::1::{H}::SOLO",
    f"MJ::JOB::pan_left::2::{H}::SOLO",
    f"MJ::Inpaint::2::{H}::SOLO",
    f"MJ::JOB::animate_low::0::{H}::SOLO",
    f"MJ::JOB::animate_low::5::{H}::SOLO",
    "MJ::Job::PicReader::0",
    "MJ::Job::PicReader::5",
    "MJ::Job::PromptAnalyzer::0",
    "MJ::Job::PromptAnalyzer::6",
    # missing, empty or malformed hash
    "MJ::JOB::upsample::1",
    "MJ::JOB::upsample::1::",
    "MJ::JOB::reroll::0::::SOLO",
    "MJ::JOB::reroll::0::SOLO",
    "MJ::CustomZoom::",
    "MJ::CustomZoom",
    "MJ::Inpaint::1::::SOLO",
    f"MJ::JOB::upsample::1::{H}/x",
    "MJ::JOB::upsample::1::a b",
    "MJ::JOB::upsample::1::ä",
    "MJ::JOB::upsample::1::abc\n",
    "MJ::JOB::upsample::1::abc:",
    # missing or extra parts
    f"MJ::JOB::upsample::1::{H}::SOLO",
    f"MJ::JOB::variation::1::{H}::SOLO",
    f"MJ::JOB::low_variation::1::{H}",
    f"MJ::JOB::reroll::0::{H}",
    f"MJ::JOB::pan_up::1::{H}",
    f"MJ::JOB::animate_high::1::{H}",
    f"MJ::Outpaint::50::1::{H}",
    f"MJ::Inpaint::1::{H}",
    f"MJ::CustomZoom::{H}::SOLO",
    f"MJ::CustomZoom::1::{H}",
    f"MJ::JOB::reroll::0::{H}::SOLO::x",
    "MJ::Job::PicReader",
    "MJ::Job::PicReader::1::x",
    "MJ::Picread::Retry::1",
    "MJ::Job::PromptAnalyzer",
    # unknown names and variants
    f"MJ::JOB::pan_sideways::1::{H}::SOLO",
    f"MJ::JOB::animate_medium::1::{H}::SOLO",
    f"MJ::JOB::animate_low_loop::1::{H}::SOLO",
    f"MJ::JOB::upsample_v7_3x::1::{H}::SOLO",
    f"MJ::JOB::upsample_v7_2x_strong::1::{H}::SOLO",
    f"MJ::JOB::upsample_7_2x::1::{H}::SOLO",
    f"MJ::JOB::upsample_v_2x::1::{H}::SOLO",
    f"MJ::JOB::medium_variation::1::{H}::SOLO",
    f"MJ::JOB::unknown::1::{H}",
    # wrong case or separators
    f"mj::job::upsample::1::{H}",
    f"MJ::Job::upsample::1::{H}",
    f"MJ::JOB::Upsample::1::{H}",
    f"MJ::JOB::reroll::0::{H}::solo",
    "MJ::JOB::PicReader::1",
    "MJ::job::PromptAnalyzer::1",
    "MJ::PicRead::Retry",
    f"MJ::outpaint::50::1::{H}::SOLO",
    f"MJ::customzoom::{H}",
    f"MJ:JOB:upsample:1:{H}",
    f"MJ::JOB::upsample:::1::{H}",
    # surrounding whitespace: clients send back exactly what they were given
    f" MJ::JOB::upsample::1::{H}",
    f"MJ::JOB::upsample::1::{H} ",
    f"MJ::JOB::upsample::1::{H}\n",
]


@pytest.mark.parametrize("custom_id", INVALID)
def test_parse_custom_id_refuses_anything_else(custom_id: str) -> None:
    with pytest.raises(UnknownAction):
        parse_custom_id(custom_id)


@pytest.mark.parametrize("value", [None, 1, 1.5, b"MJ::Picread::Retry", ["MJ::Picread::Retry"], {}])
def test_parse_custom_id_refuses_non_strings(value: object) -> None:
    with pytest.raises(UnknownAction):
        parse_custom_id(value)


def test_unknown_action_message_is_bounded_for_huge_input() -> None:
    with pytest.raises(UnknownAction) as caught:
        parse_custom_id("MJ::" + "x" * 1_000_000)
    assert len(caught.value.message) < 300


@given(st.text())
def test_parse_custom_id_never_raises_anything_but_unknown_action(text: str) -> None:
    try:
        command = parse_custom_id(text)
    except UnknownAction:
        return
    assert isinstance(command, ButtonCommand)


@given(
    st.from_regex(
        r"MJ::(JOB|Job|Outpaint|CustomZoom|Inpaint|Pic(r|R)ead(er)?)(::[a-z_0-9A-Z-]{0,12}){0,5}",
        fullmatch=True,
    )
)
def test_parse_custom_id_never_crashes_on_near_misses(text: str) -> None:
    try:
        command = parse_custom_id(text)
    except UnknownAction:
        return
    assert command.action in TaskAction


_HASHES = st.from_regex(r"[A-Za-z0-9_-]{1,40}", fullmatch=True)


@given(_HASHES)
def test_every_button_we_offer_parses_back_to_its_hash(message_hash: str) -> None:
    for button in [*grid_buttons(message_hash), *upscale_buttons(message_hash)]:
        assert parse_custom_id(button.custom_id).message_hash == message_hash


@pytest.mark.parametrize("command", [c for _, c in VALID], ids=[c for c, _ in VALID])
@pytest.mark.parametrize("enable_remix", [False, True])
def test_needs_modal_follows_protocol_5(command: ButtonCommand, enable_remix: bool) -> None:
    always = {ButtonKind.CUSTOM_ZOOM, ButtonKind.INPAINT}
    with_remix = {
        ButtonKind.PAN,
        ButtonKind.VARIATION,
        ButtonKind.LOW_VARIATION,
        ButtonKind.HIGH_VARIATION,
        ButtonKind.REROLL,
        ButtonKind.ANIMATE,
    }
    expected = command.kind in always or (enable_remix and command.kind in with_remix)
    assert command.needs_modal(enable_remix) is expected


# --- the button sets ---------------------------------------------------------------------------


def test_grid_buttons_are_u1_to_u4_then_reroll_then_v1_to_v4() -> None:
    buttons = grid_buttons(H)
    assert [(b.custom_id, b.label, b.emoji) for b in buttons] == [
        *((f"MJ::JOB::upsample::{n}::{H}", f"U{n}", "") for n in range(1, 5)),
        (f"MJ::JOB::reroll::0::{H}::SOLO", "", "🔄"),
        *((f"MJ::JOB::variation::{n}::{H}", f"V{n}", "") for n in range(1, 5)),
    ]
    assert {(b.type, b.style) for b in buttons} == {(2, 2)}


def test_upscale_buttons_are_the_protocol_list_in_order() -> None:
    assert [(b.custom_id, b.label, b.emoji) for b in upscale_buttons(H)] == [
        (f"MJ::JOB::upsample_v7_2x_subtle::1::{H}::SOLO", "Upscale (Subtle)", ""),
        (f"MJ::JOB::upsample_v7_2x_creative::1::{H}::SOLO", "Upscale (Creative)", ""),
        (f"MJ::JOB::low_variation::1::{H}::SOLO", "Vary (Subtle)", ""),
        (f"MJ::JOB::high_variation::1::{H}::SOLO", "Vary (Strong)", ""),
        (f"MJ::Inpaint::1::{H}::SOLO", "Vary (Region)", ""),
        (f"MJ::Outpaint::50::1::{H}::SOLO", "Zoom Out 2x", ""),
        (f"MJ::Outpaint::75::1::{H}::SOLO", "Zoom Out 1.5x", ""),
        (f"MJ::CustomZoom::{H}", "Custom Zoom", ""),
        (f"MJ::JOB::pan_left::1::{H}::SOLO", "", "\u2b05\ufe0f"),
        (f"MJ::JOB::pan_right::1::{H}::SOLO", "", "\u27a1\ufe0f"),
        (f"MJ::JOB::pan_up::1::{H}::SOLO", "", "\u2b06\ufe0f"),
        (f"MJ::JOB::pan_down::1::{H}::SOLO", "", "\u2b07\ufe0f"),
        (f"MJ::JOB::animate_low::1::{H}::SOLO", "Animate (Low motion)", ""),
        (f"MJ::JOB::animate_high::1::{H}::SOLO", "Animate (High motion)", ""),
    ]


def test_describe_buttons_pick_one_of_four_prompts_or_retry() -> None:
    assert [(b.custom_id, b.label, b.emoji) for b in describe_buttons()] == [
        *((f"MJ::Job::PicReader::{n}", "", f"{n}\ufe0f\u20e3") for n in range(1, 5)),
        ("MJ::Picread::Retry", "", "\U0001f504"),
    ]


def test_shorten_buttons_pick_one_of_five_prompts() -> None:
    assert [(b.custom_id, b.label, b.emoji) for b in shorten_buttons()] == [
        (f"MJ::Job::PromptAnalyzer::{n}", "", f"{n}\ufe0f\u20e3") for n in range(1, 6)
    ]


@pytest.mark.parametrize(
    "buttons",
    [grid_buttons(H), upscale_buttons(H), describe_buttons(), shorten_buttons()],
    ids=["grid", "upscale", "describe", "shorten"],
)
def test_every_offered_button_parses_and_custom_ids_are_unique(buttons: list[Button]) -> None:
    ids = [b.custom_id for b in buttons]
    assert len(set(ids)) == len(ids)
    for custom_id in ids:
        parse_custom_id(custom_id)


# --- wire form -----------------------------------------------------------------------------------


def test_to_wire_has_exactly_the_protocol_fields() -> None:
    button = Button(f"MJ::JOB::reroll::0::{H}::SOLO", "", emoji="🔄")
    assert button.to_wire() == {
        "customId": f"MJ::JOB::reroll::0::{H}::SOLO",
        "emoji": "🔄",
        "label": "",
        "type": 2,
        "style": 2,
    }


def test_from_wire_reads_what_to_wire_writes() -> None:
    for button in [*grid_buttons(H), *upscale_buttons(H), *describe_buttons()]:
        assert Button.from_wire(button.to_wire()) == button


@pytest.mark.parametrize(
    ("wire", "expected"),
    [
        ({"customId": "MJ::Picread::Retry"}, Button("MJ::Picread::Retry", "")),
        (
            {"customId": "X", "label": None, "emoji": None, "type": None, "style": None},
            Button("X", ""),
        ),
        ({"customId": "X", "label": 5, "emoji": 7, "style": "1", "type": 2.0}, Button("X", "")),
        ({"customId": "X", "style": True}, Button("X", "")),
        ({"customId": "X", "style": 1, "type": 3}, Button("X", "", style=1, type=3)),
        ({"customId": "X", "emoji": {"name": "🔄", "id": None}}, Button("X", "", emoji="🔄")),
        ({"customId": "X", "emoji": {"id": "123"}}, Button("X", "")),
        ({"custom_id": "X", "label": "U1"}, Button("X", "U1")),
        ({"customId": "X", "label": "U1", "extra": [1]}, Button("X", "U1")),
    ],
)
def test_from_wire_tolerates_missing_and_mistyped_fields(
    wire: dict[str, object], expected: Button
) -> None:
    assert Button.from_wire(wire) == expected


@pytest.mark.parametrize("wire", [{}, {"customId": ""}, {"customId": None}, {"customId": 12}])
def test_from_wire_needs_a_custom_id(wire: dict[str, object]) -> None:
    with pytest.raises(ValueError, match="customId"):
        Button.from_wire(wire)


def test_button_command_is_immutable() -> None:
    command = parse_custom_id(f"MJ::JOB::upsample::1::{H}")
    with pytest.raises(dataclasses.FrozenInstanceError):
        command.index = 2  # type: ignore[misc]
