"""DISCORD.md §4: reading and classifying the Midjourney bot's messages."""

from __future__ import annotations

from typing import Any

import pytest

from mjgate.providers.discord.messages import (
    AccountProblem,
    BotQueueNotice,
    Described,
    Failed,
    Finished,
    Mode,
    Progress,
    Queued,
    ResultKind,
    Shortened,
    Unrelated,
    classify,
    job_hash_of,
    prompt_key,
    prompt_matches,
    read_message,
    seed_of,
)
from unit.discord.samples import (
    CHANNEL,
    HASH_A,
    HASH_UP,
    MJ,
    USER,
    attachment,
    describe_done,
    error_embed,
    grid_done,
    human,
    loading,
    message,
    progress,
    seed_dm,
    shorten_done,
    upscale_done,
    upscale_rows,
    waiting,
)

PROMPT = "a red fox in the snow --ar 2:3"


def test_read_message_types_every_field() -> None:
    msg = read_message(grid_done("1313000000000000010", PROMPT, HASH_A, "1313000000000000005"))
    assert msg.id == "1313000000000000010"
    assert msg.channel_id == CHANNEL
    assert (msg.author_id, msg.is_bot) == (MJ, True)
    assert msg.nonce is None
    assert msg.interaction_id == "1313000000000000005"
    assert msg.interaction_name == "imagine"
    (image,) = msg.attachments
    assert image.filename.endswith(f"_{HASH_A}.png")
    assert image.url.startswith("https://cdn.discordapp.com/attachments/")
    assert "?ex=" in image.url
    assert image.proxy_url.startswith("https://media.discordapp.net/")
    assert (image.width, image.height, image.content_type) == (2048, 2048, "image/png")
    # Nine buttons; the "Web" link button (style 5, no custom_id) is skipped.
    assert [b.label for b in msg.buttons][:4] == ["U1", "U2", "U3", "U4"]
    assert len(msg.buttons) == 9
    assert msg.buttons[4].emoji == "🔄"


def test_read_message_is_tolerant() -> None:
    raw: dict[str, Any] = {
        "id": 1313000000000000011,
        "content": None,
        "author": "Midjourney",
        "nonce": 12345,
        "attachments": [{"filename": "x.png"}, "junk", {"url": 5}],
        "embeds": [None, {"title": 3, "color": "red", "image": "x"}],
        "components": [{"type": 1, "components": [{"type": 2, "label": "no id"}, 7]}, None],
        "interaction": {"id": "99", "name": "imagine"},
        "message_reference": [],
        "flags": "64",
    }
    msg = read_message(raw)
    assert msg.id == "1313000000000000011"
    assert (msg.content, msg.is_bot, msg.nonce, msg.flags) == ("", False, "12345", 0)
    assert msg.attachments == ()
    assert msg.embeds[0].title == "" and msg.embeds[0].color is None
    assert msg.buttons == ()
    assert (msg.interaction_id, msg.interaction_name) == ("99", "imagine")
    assert msg.referenced_message_id is None
    with pytest.raises(ValueError):
        read_message({"content": "no id"})


def test_queued_and_progress() -> None:
    queued = classify(read_message(waiting("1", f"{PROMPT} --v 7", "777", "555")))
    assert queued == Queued(ResultKind.GRID, f"{PROMPT} --v 7")
    event = classify(read_message(progress("1", PROMPT, 45, HASH_A, "relaxed, stealth")))
    assert isinstance(event, Progress)
    assert (event.percent, event.mode, event.stealth) == (45, Mode.RELAXED, True)
    assert event.job_hash == HASH_A
    assert event.preview_url is not None and "ephemeral-attachments" in event.preview_url
    turbo = classify(read_message(progress("1", PROMPT, 0, None, "turbo")))
    assert isinstance(turbo, Progress) and turbo.mode is Mode.TURBO and turbo.job_hash is None
    hd = message("2", f"**{PROMPT}** - Upscaling by <@{USER}> (31%) (fast)")
    hd_event = classify(read_message(hd))
    assert isinstance(hd_event, Progress) and hd_event.kind is ResultKind.HD_UPSCALE


def test_grid_finished() -> None:
    event = classify(read_message(grid_done("3", PROMPT, HASH_A.upper(), "5")))
    assert isinstance(event, Finished)
    assert event.kind is ResultKind.GRID
    assert event.prompt == PROMPT
    assert event.job_hash == HASH_A
    assert event.image_url is not None and "?ex=" in event.image_url
    assert event.video_url is None
    assert event.mode is Mode.FAST
    assert event.buttons[0].custom_id == f"MJ::JOB::upsample::1::{HASH_A.upper()}"


def test_upscale_finished_has_its_index() -> None:
    event = classify(read_message(upscale_done("4", PROMPT, 2, "3", HASH_UP)))
    assert isinstance(event, Finished)
    assert (event.kind, event.index, event.job_hash) == (ResultKind.UPSCALE, 2, HASH_UP)


def _finished(content: str, filename: str = f"alice_fox_{HASH_UP}.png") -> Finished:
    raw = message(
        "5",
        content,
        attachments=[attachment("1313000000000000601", filename)],
        components=upscale_rows(HASH_UP),
    )
    event = classify(read_message(raw))
    assert isinstance(event, Finished)
    return event


@pytest.mark.parametrize(
    ("words", "kind"),
    [
        ("Upscaled (Subtle) by", ResultKind.HD_UPSCALE),
        ("Upscaled (4x) by", ResultKind.HD_UPSCALE),
        ("Variations (Strong) by", ResultKind.VARIATION),
        ("Variations (Region) by", ResultKind.VARIATION),
        ("Remix (Subtle) by", ResultKind.VARIATION),
        ("Pan Left by", ResultKind.PAN),
        ("Pan Down by", ResultKind.PAN),
        ("Zoom Out by", ResultKind.ZOOM),
    ],
)
def test_finished_kind_from_the_words(words: str, kind: ResultKind) -> None:
    event = _finished(f"**{PROMPT}** - {words} <@{USER}> (relaxed)")
    assert event.kind is kind
    assert event.mode is Mode.RELAXED


def test_video_finished() -> None:
    event = _finished(
        f"**https://s.mj.run/Ab3dE a fox runs --video 1 --motion low** - <@{USER}> (fast)",
        f"{HASH_UP}_0.mp4",
    )
    assert event.kind is ResultKind.VIDEO
    assert event.video_url is not None and f"{HASH_UP}_0.mp4" in event.video_url
    assert event.image_url is None
    assert event.job_hash == HASH_UP


def test_described_and_shortened() -> None:
    described = classify(read_message(describe_done("6", "777", "555")))
    assert isinstance(described, Described)
    assert len(described.prompts) == 4
    assert described.prompts[0].startswith("A red fox sitting in fresh snow")
    assert not any("\u20e3" in p for p in described.prompts)
    assert described.image_url is not None and "fox.png" in described.image_url
    assert described.buttons[-1].custom_id == "MJ::Picread::Retry"
    shortened = classify(read_message(shorten_done("7", "778", "556")))
    assert isinstance(shortened, Shortened)
    assert shortened.prompts == (
        "A red fox sitting in snow, morning light",
        "A red fox sitting in snow",
        "A red fox, snow",
        "red fox snow light",
        "red fox",
    )


@pytest.mark.parametrize(
    ("title", "color"),
    [
        ("Invalid prompt", 0),
        ("Invalid parameter", 16711680),
        ("Banned prompt detected", 0),
        ("Invalid link", 0),
        ("Request cancelled due to output filters", 0),
        ("Queue full", 0),
        ("Something new went wrong", 16711680),
    ],
)
def test_error_embeds_fail(title: str, color: int) -> None:
    event = classify(read_message(error_embed("8", title, "Details here.", color=color)))
    assert event == Failed(f"{title}: Details here.")


def test_failed_content() -> None:
    event = classify(read_message(message("9", "Failed to process your command :(")))
    assert event == Failed("Failed to process your command :(")


@pytest.mark.parametrize(
    "title",
    [
        "Pending mod message",
        "Blocked",
        "Plan Cancelled",
        "Subscription required",
        "Subscription paused",
    ],
)
def test_account_problems(title: str) -> None:
    event = classify(read_message(error_embed("10", title, "See your account.", color=0)))
    assert event == AccountProblem(f"{title}: See your account.", fast_only=False)


def test_credits_exhausted_ends_fast_only() -> None:
    event = classify(read_message(error_embed("11", "Credits exhausted", "Use relax.", color=0)))
    assert event == AccountProblem("Credits exhausted: Use relax.", fast_only=True)


def test_queue_notice_and_unrelated() -> None:
    notice = classify(read_message(error_embed("12", "Job queued", "Your job will start", color=0)))
    assert isinstance(notice, BotQueueNotice)
    assert classify(read_message(human("13", f"**{PROMPT}** - <@{USER}> (fast)"))) == Unrelated()
    assert classify(read_message(loading("14", "777", "555"))) == Unrelated()
    assert classify(read_message(message("15", "Hello"))) == Unrelated()


def test_job_hash_sources() -> None:
    link_only = message("16", f"see https://www.midjourney.com/jobs/{HASH_A.upper()}?index=0")
    assert job_hash_of(read_message(link_only)) == HASH_A
    preview = read_message(progress("17", PROMPT, 20, HASH_A))
    assert job_hash_of(preview) == HASH_A
    buttons_only = message("18", "x", components=upscale_rows(HASH_UP))
    assert job_hash_of(read_message(buttons_only)) == HASH_UP
    assert job_hash_of(read_message(message("19", "nothing"))) is None


def test_seed_dm() -> None:
    assert seed_of(read_message(seed_dm("20", HASH_A.upper(), 1234567))) == (HASH_A, 1234567)
    variant = message("21", f"Job ID: {HASH_A}\nSeed: 42")
    assert seed_of(read_message(variant)) == (HASH_A, 42)
    assert seed_of(read_message(message("22", "no seed here"))) is None


@pytest.mark.parametrize(
    ("ours", "shown"),
    [
        ("a red fox", f"**a red fox --v 7** - <@{USER}> (Waiting to start)"),
        ("a red fox --q 1 --ar 2:3", "a red fox --ar 2:3 --v 7"),
        ("A  red\tfox", "a red fox"),
        ("https://example.com/fox.png a red fox", "<https://s.mj.run/Ab3dE> a red fox"),
        ("a red fox —ar 2:3", "a red fox --ar 2:3"),
        ("a red fox --aspect 2:3", "a red fox --ar 2:3"),
        (
            "a very long prompt about a red fox sitting in fresh snow under the northern lights",
            "a very long prompt about a red fox sitting in fresh snow…",
        ),
        (
            "a very long prompt about a red fox sitting in fresh snow under the northern lights",
            "a very long prompt about a red fox sitting in fres",
        ),
    ],
)
def test_prompts_that_match(ours: str, shown: str) -> None:
    assert prompt_matches(ours, shown)


@pytest.mark.parametrize(
    ("ours", "shown"),
    [
        ("a red fox", "a blue fox"),
        ("a red fox --ar 2:3", "a red fox --ar 3:2"),
        ("a red fox sitting", "a red fox"),  # short prefixes are not truncations
        ("", "a red fox"),
        ("a red fox (watercolor)", "a red fox (oil)"),
    ],
)
def test_prompts_that_do_not_match(ours: str, shown: str) -> None:
    assert not prompt_matches(ours, shown)


def test_prompt_key() -> None:
    shown = f"**<https://s.mj.run/x>   A Red  fox --v 7** - <@{USER}> (45%) (fast)"
    assert prompt_key(shown) == "<url> a red fox --v 7"
    assert prompt_key(f"a red fox - <@{USER}> (relaxed)") == "a red fox"
    assert prompt_key("a red fox (Waiting to start)") == "a red fox"
    assert prompt_key("a red fox (watercolor)") == "a red fox (watercolor)"
