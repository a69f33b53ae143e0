"""DISCORD.md §5: matching the bot's messages to our tasks, from the surest key to the prompt."""

from __future__ import annotations

from typing import Any

import pytest

from mjgate.providers.discord.matching import (
    ExpectKind,
    JobRef,
    JobState,
    JobTracker,
    Phase,
    SeedFound,
)
from mjgate.providers.discord.messages import (
    Described,
    Finished,
    Mode,
    ResultKind,
    Shortened,
)
from mjgate.providers.discord.payloads import DISCORD_EPOCH_MS
from unit.discord.samples import (
    CHANNEL,
    DM_CHANNEL,
    HASH_A,
    HASH_B,
    HASH_UP,
    USER,
    attachment,
    describe_done,
    error_embed,
    grid_done,
    grid_rows,
    human,
    loading,
    message,
    progress,
    seed_dm,
    shorten_done,
    upscale_done,
    waiting,
)

PROMPT = "a red fox in the snow --ar 2:3"
N1, N2 = "1313000000000001001", "1313000000000001002"
I1, I2 = "1313000000000002001", "1313000000000002002"
MESSAGE_BASE = 1313000000000100000


def mid(n: int) -> str:
    """A message id: a snowflake a little after the nonces N1 and N2."""
    return str(MESSAGE_BASE + n)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        self.now += 1.0
        return self.now


def _tracker() -> JobTracker:
    return JobTracker(CHANNEL, Clock(), dm_channel_ids=[DM_CHANNEL])


def _state(tracker: JobTracker, task_id: str) -> JobState:
    state = tracker.state(task_id)
    assert state is not None
    return state


def _phase(tracker: JobTracker, task_id: str) -> Phase:
    return _state(tracker, task_id).phase


def _result(tracker: JobTracker, task_id: str) -> Any:
    return _state(tracker, task_id).result


def test_exact_path_nonce_then_edits_then_interaction_id() -> None:
    tracker = _tracker()
    tracker.expect("t1", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    first = tracker.state("t1")
    assert first is not None and first.phase is Phase.WAITING

    tracker.interaction_succeeded(I1, N1)
    assert (
        tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(11), f"{PROMPT} --v 7", N1, I1)) == "t1"
    )
    queued = tracker.state("t1")
    assert queued is not None
    assert (queued.phase, queued.first_message_id, queued.interaction_id) == (
        Phase.QUEUED,
        mid(11),
        I1,
    )
    assert queued.version > first.version

    # Edits carry no nonce; they are matched by the first message's id.
    assert tracker.on_dispatch("MESSAGE_UPDATE", progress(mid(11), PROMPT, 45, HASH_A)) == "t1"
    running = tracker.state("t1")
    assert running is not None
    assert (running.phase, running.progress, running.mode) == (Phase.RUNNING, 45, Mode.FAST)
    assert running.job_hash == HASH_A
    # A partial update (only the content) is read over the message seen before.
    partial = {
        "id": mid(11),
        "channel_id": CHANNEL,
        "content": f"**{PROMPT}** - <@{USER}> (80%) (fast)",
    }
    assert tracker.on_dispatch("MESSAGE_UPDATE", partial) == "t1"
    assert _state(tracker, "t1").progress == 80
    version = _state(tracker, "t1").version
    assert tracker.on_dispatch("MESSAGE_DELETE", {"id": mid(11), "channel_id": CHANNEL}) == "t1"
    assert _state(tracker, "t1").version == version

    # The result is a new message with no nonce, answering our interaction.
    final = grid_done(mid(12), PROMPT, HASH_A, interaction_id=I1)
    assert tracker.on_dispatch("MESSAGE_CREATE", final) == "t1"
    done = tracker.state("t1")
    assert done is not None and done.phase is Phase.FINISHED
    assert done.progress == 100
    assert isinstance(done.result, Finished)
    assert done.result.kind is ResultKind.GRID
    assert len(done.result.buttons) == 9
    assert done.ref == JobRef(N1, mid(11), I1, HASH_A)


def test_completion_without_metadata_matched_by_the_hash_of_a_preview() -> None:
    tracker = _tracker()
    # An older job with the same prompt would win a prompt match: the hash must decide.
    tracker.expect("older", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.expect("t2", nonce=N2, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(21), PROMPT, N2, None))
    tracker.on_dispatch("MESSAGE_UPDATE", progress(mid(21), PROMPT, 30, HASH_B))
    assert tracker.on_dispatch("MESSAGE_CREATE", grid_done(mid(22), PROMPT, HASH_B)) == "t2"
    assert _phase(tracker, "t2") is Phase.FINISHED
    assert _phase(tracker, "older") is Phase.WAITING


def test_completion_matched_by_a_prompt_the_bot_rewrote() -> None:
    tracker = _tracker()
    ours = "https://example.com/fox.png  a red   fox --q 1 --ar 2:3"
    tracker.expect("t3", nonce=N1, kind=ExpectKind.GRID, prompt=ours)
    shown = "<https://s.mj.run/Ab3dEfG> a red fox --ar 2:3 --v 7"
    assert tracker.on_dispatch("MESSAGE_CREATE", grid_done(mid(31), shown, HASH_A)) == "t3"
    result = _result(tracker, "t3")
    assert isinstance(result, Finished) and result.job_hash == HASH_A


def test_completion_matched_by_a_truncated_prompt() -> None:
    tracker = _tracker()
    ours = (
        "an extremely detailed watercolor painting of a red fox sitting in fresh snow "
        "under the northern lights, soft light, muted palette --ar 16:9 --stylize 250"
    )
    tracker.expect("t4", nonce=N1, kind=ExpectKind.GRID, prompt=ours)
    shown = "an extremely detailed watercolor painting of a red fox sitting in fresh snow…"
    assert (
        tracker.on_dispatch("MESSAGE_CREATE", grid_done(mid(41), shown, HASH_A, status="relaxed"))
        == "t4"
    )
    state = tracker.state("t4")
    assert state is not None and state.mode is Mode.RELAXED


def test_same_prompt_twice_kept_apart_by_nonce_and_interaction_ids() -> None:
    tracker = _tracker()
    tracker.expect("a", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.expect("b", nonce=N2, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.interaction_succeeded(I2, N2)
    tracker.on_dispatch("INTERACTION_SUCCESS", {"id": I1, "nonce": N1})
    assert tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(52), PROMPT, N2, I2)) == "b"
    assert tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(51), PROMPT, N1, I1)) == "a"
    assert tracker.on_dispatch("MESSAGE_UPDATE", progress(mid(52), PROMPT, 50, None)) == "b"
    assert tracker.on_dispatch("MESSAGE_UPDATE", progress(mid(51), PROMPT, 10, None)) == "a"
    # b finishes first, then a: each by its interaction id, whatever their age.
    assert tracker.on_dispatch("MESSAGE_CREATE", grid_done(mid(54), PROMPT, HASH_B, I2)) == "b"
    assert _phase(tracker, "a") is Phase.RUNNING
    assert tracker.on_dispatch("MESSAGE_CREATE", grid_done(mid(53), PROMPT, HASH_A, I1)) == "a"
    assert _result(tracker, "a").job_hash == HASH_A
    assert _result(tracker, "b").job_hash == HASH_B


def test_a_final_message_is_never_matched_to_two_tasks() -> None:
    tracker = _tracker()
    tracker.expect("a", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.expect("b", nonce=N2, kind=ExpectKind.GRID, prompt=PROMPT)
    final = grid_done(mid(61), PROMPT, HASH_A)
    assert tracker.on_dispatch("MESSAGE_CREATE", final) == "a"  # oldest first
    assert tracker.on_dispatch("MESSAGE_UPDATE", final) == "a"
    assert tracker.catch_up([final]) == ["a"]
    assert _phase(tracker, "b") is Phase.WAITING
    assert tracker.on_dispatch("MESSAGE_CREATE", grid_done(mid(62), PROMPT, HASH_B)) == "b"


def test_upscale_matched_by_its_parent_message_and_image_index() -> None:
    tracker = _tracker()
    grid_id = mid(71)
    for task_id, index in (("u1", 1), ("u2", 2)):
        tracker.expect(
            task_id,
            nonce=f"99{index}",
            kind=ExpectKind.UPSCALE,
            prompt=PROMPT,
            parent_message_id=grid_id,
            parent_hash=HASH_A,
            index=index,
        )
    other_grid = upscale_done(mid(72), PROMPT, 2, mid(70), HASH_UP)
    assert tracker.on_dispatch("MESSAGE_CREATE", other_grid) is None
    assert (
        tracker.on_dispatch("MESSAGE_CREATE", upscale_done(mid(73), PROMPT, 2, grid_id, HASH_UP))
        == "u2"
    )
    result = _result(tracker, "u2")
    assert isinstance(result, Finished)
    assert (result.kind, result.index, result.job_hash) == (ResultKind.UPSCALE, 2, HASH_UP)
    assert _phase(tracker, "u1") is Phase.WAITING


def test_describe_from_a_loading_reply_edited_into_the_answer() -> None:
    tracker = _tracker()
    tracker.expect("d", nonce=N1, kind=ExpectKind.DESCRIBE, prompt="")
    tracker.interaction_succeeded(I1, N1)
    assert tracker.on_dispatch("MESSAGE_CREATE", loading(mid(81), N1, I1)) == "d"
    state = tracker.state("d")
    assert state is not None and state.first_message_id == mid(81) and state.phase is Phase.WAITING
    answer = describe_done(mid(81), None, I1)
    assert tracker.on_dispatch("MESSAGE_UPDATE", answer) == "d"
    result = _result(tracker, "d")
    assert isinstance(result, Described) and len(result.prompts) == 4


def test_shorten() -> None:
    tracker = _tracker()
    tracker.expect("s", nonce=N2, kind=ExpectKind.SHORTEN, prompt=PROMPT)
    assert tracker.on_dispatch("MESSAGE_CREATE", shorten_done(mid(82), N2, I2)) == "s"
    result = _result(tracker, "s")
    assert isinstance(result, Shortened) and result.prompts[-1] == "red fox"


def test_error_embed_fails_the_task_it_answers() -> None:
    tracker = _tracker()
    tracker.expect("a", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.expect("b", nonce=N2, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.interaction_succeeded(I1, N1)
    refused = error_embed(mid(91), "Invalid parameter", "Unrecognized --foo", nonce=N2)
    assert tracker.on_dispatch("MESSAGE_CREATE", refused) == "b"
    failed = tracker.state("b")
    assert failed is not None and failed.phase is Phase.FAILED
    assert failed.fail_reason == "Invalid parameter: Unrecognized --foo"
    banned = error_embed(mid(92), "Banned prompt detected", "No.", interaction_id=I1, color=0)
    assert tracker.on_dispatch("MESSAGE_CREATE", banned) == "a"
    assert _phase(tracker, "a") is Phase.FAILED


def test_account_problem_flags_the_task_and_the_account() -> None:
    tracker = _tracker()
    tracker.expect("a", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    credits = error_embed(mid(93), "Credits exhausted", "Switch to relax.", nonce=N1, color=0)
    assert tracker.on_dispatch("MESSAGE_CREATE", credits) == "a"
    state = tracker.state("a")
    assert state is not None and state.phase is Phase.ACCOUNT_PROBLEM
    assert state.account_problem is not None and state.account_problem.fast_only
    assert tracker.account_problem == state.account_problem
    tracker.clear_account_problem()
    assert tracker.account_problem is None


def test_catch_up_after_a_gap_is_idempotent() -> None:
    tracker = _tracker()
    tracker.expect("t", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.interaction_succeeded(I1, N1)
    tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(101), PROMPT, N1, I1))
    # The websocket was down: the progress message is gone, the result is in the channel.
    recent = [
        grid_done(mid(104), PROMPT, HASH_A, I1),
        human(mid(103), "hello"),
        grid_done(mid(102), "a job somebody else started", HASH_B, "1313000000000009999"),
    ]
    assert tracker.catch_up(recent) == ["t"]
    state = tracker.state("t")
    assert state is not None and state.phase is Phase.FINISHED
    unclaimed = list(tracker.unclaimed)
    assert tracker.catch_up(recent) == ["t"]
    again = tracker.state("t")
    assert again == state
    assert list(tracker.unclaimed) == unclaimed


def test_unclaimed_bot_messages_are_recorded_once() -> None:
    tracker = _tracker()
    stray = grid_done(mid(111), "a lighthouse in a storm", HASH_B)
    assert tracker.on_dispatch("MESSAGE_CREATE", stray) is None
    assert tracker.on_dispatch("MESSAGE_UPDATE", stray) is None
    assert tracker.on_dispatch("MESSAGE_CREATE", human(mid(112), "hi")) is None
    ((message_id, short),) = tracker.unclaimed
    assert message_id == mid(111)
    assert short.startswith(f"**a lighthouse in a storm** - <@{USER}> (fast)")
    assert len(short) <= 80


def test_other_channels_are_ignored() -> None:
    tracker = _tracker()
    tracker.expect("t", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    elsewhere = {**waiting(mid(121), PROMPT, N1, None), "channel_id": "1180000000000000999"}
    assert tracker.on_dispatch("MESSAGE_CREATE", elsewhere) is None
    assert _phase(tracker, "t") is Phase.WAITING
    assert not tracker.unclaimed


def test_job_ref_round_trip_and_adopt() -> None:
    ref = JobRef(N1, mid(131), I1, HASH_A)
    text = ref.to_text()
    assert len(text) <= 400
    assert JobRef.from_text(text) == ref
    assert JobRef.from_text(JobRef(nonce=N1).to_text()) == JobRef(nonce=N1)
    for bad in ("", "[]", '{"x": "1"}', '{"n": 5}', "x" * 401):
        with pytest.raises(ValueError):
            JobRef.from_text(bad)

    # Another process picks the task up from its persisted reference and catches up.
    tracker = _tracker()
    tracker.adopt(
        "t", JobRef.from_text(JobRef(N1, mid(131), I1, None).to_text()), ExpectKind.GRID, PROMPT
    )
    assert _phase(tracker, "t") is Phase.QUEUED
    assert tracker.on_dispatch("MESSAGE_UPDATE", progress(mid(131), PROMPT, 60, HASH_A)) == "t"
    assert tracker.catch_up([grid_done(mid(132), PROMPT, HASH_A, I1)]) == ["t"]
    assert _phase(tracker, "t") is Phase.FINISHED


def test_modal_then_expect_again() -> None:
    tracker = _tracker()
    tracker.expect(
        "z", nonce=N1, kind=ExpectKind.MODAL_CLICK, prompt=PROMPT, parent_message_id=mid(71)
    )
    modal = {
        "id": mid(141),
        "nonce": N1,
        "channel_id": CHANNEL,
        "custom_id": f"MJ::OutpaintCustomZoomModal::{HASH_A}",
        "title": "Zoom Out",
        "components": [
            {
                "type": 1,
                "components": [
                    {"type": 4, "custom_id": "MJ::OutpaintCustomZoomModal::prompt", "value": PROMPT}
                ],
            }
        ],
    }
    assert tracker.on_dispatch("INTERACTION_MODAL_CREATE", modal) == "z"
    state = tracker.state("z")
    assert state is not None and state.phase is Phase.MODAL and state.modal is not None
    assert state.modal.prompt_input_id == "MJ::OutpaintCustomZoomModal::prompt"
    tracker.expect("z", nonce=N2, kind=ExpectKind.ZOOM, prompt=f"{PROMPT} --zoom 1.5")
    again = tracker.state("z")
    assert again is not None and again.phase is Phase.WAITING and again.version > state.version
    zoomed = message(
        mid(142),
        f"**{PROMPT} --zoom 1.5** - Zoom Out by <@{USER}> (fast)",
        attachments=[attachment("1313000000000000701", f"alice_fox_{HASH_B}.png")],
        components=grid_rows(HASH_B),
    )
    assert tracker.on_dispatch("MESSAGE_CREATE", zoomed) == "z"
    assert _result(tracker, "z").kind is ResultKind.ZOOM


def test_iframe_and_captcha() -> None:
    tracker = _tracker()
    tracker.expect("r", nonce=N1, kind=ExpectKind.IFRAME_CLICK, prompt=PROMPT)
    tracker.expect("c", nonce=N2, kind=ExpectKind.IFRAME_CLICK, prompt=PROMPT)
    editor = {
        "id": mid(151),
        "nonce": N1,
        "custom_id": "MJ::iframe::tok-xyz",
        "title": "Vary Region",
    }
    assert tracker.on_dispatch("INTERACTION_IFRAME_MODAL_CREATE", editor) == "r"
    state = tracker.state("r")
    assert state is not None and (state.phase, state.iframe_token) == (Phase.IFRAME, "tok-xyz")
    captcha = {
        "id": mid(152),
        "nonce": N2,
        "custom_id": "MJ::iframe::c",
        "title": "Action required to continue",
    }
    assert tracker.on_dispatch("INTERACTION_IFRAME_MODAL_CREATE", captcha) == "c"
    assert _phase(tracker, "c") is Phase.ACCOUNT_PROBLEM
    assert tracker.account_problem is not None


def test_seed_from_the_dm() -> None:
    tracker = _tracker()
    tracker.expect("s", nonce=None, kind=ExpectKind.SEED, prompt="", parent_hash=HASH_A.upper())
    assert tracker.on_dispatch("MESSAGE_CREATE", seed_dm(mid(161), HASH_B, 1)) is None
    assert tracker.on_dispatch("MESSAGE_CREATE", seed_dm(mid(162), HASH_A, 987654)) == "s"
    assert _result(tracker, "s") == SeedFound(HASH_A, 987654)
    # A DM channel learned later is read too; other channels' seeds are not.
    tracker.expect("s2", nonce=None, kind=ExpectKind.SEED, prompt="", parent_hash=HASH_B)
    later = {**seed_dm(mid(163), HASH_B, 5), "channel_id": "1180000000000000004"}
    assert tracker.on_dispatch("MESSAGE_CREATE", later) is None
    tracker.watch_dm_channel("1180000000000000004")
    assert tracker.on_dispatch("MESSAGE_CREATE", later) == "s2"


def test_forget() -> None:
    tracker = _tracker()
    tracker.expect("t", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(171), PROMPT, N1, None))
    tracker.forget("t")
    assert tracker.state("t") is None
    assert tracker.on_dispatch("MESSAGE_UPDATE", progress(mid(171), PROMPT, 5, None)) is None


def test_interaction_id_learned_from_the_first_message() -> None:
    tracker = _tracker()
    tracker.expect("a", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    tracker.expect("b", nonce=N2, kind=ExpectKind.GRID, prompt=PROMPT)
    # No INTERACTION_SUCCESS came through; the first messages name the interactions.
    tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(181), PROMPT, N1, I1))
    tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(182), PROMPT, N2, I2))
    assert _state(tracker, "b").interaction_id == I2
    assert tracker.on_dispatch("MESSAGE_CREATE", grid_done(mid(183), PROMPT, HASH_B, I2)) == "b"
    assert _phase(tracker, "a") is Phase.QUEUED


def test_region_variation_without_a_nonce_matched_by_its_parent() -> None:
    tracker = _tracker()
    tracker.expect(
        "r",
        nonce=None,
        kind=ExpectKind.VARIATION,
        prompt="a completely new idea",
        parent_message_id=mid(191),
        parent_hash=HASH_UP,
    )
    reference = {"type": 0, "channel_id": CHANNEL, "message_id": mid(191)}
    started = message(
        mid(192),
        f"**a red fox** - Variations (Region) by <@{USER}> (Waiting to start)",
        nonce="1313000000000007777",
        message_reference=reference,
    )
    assert tracker.on_dispatch("MESSAGE_CREATE", started) == "r"
    done = message(
        mid(193),
        f"**a red fox** - Variations (Region) by <@{USER}> (fast)",
        attachments=[attachment("1313000000000000801", f"alice_fox_{HASH_B}.png")],
        components=grid_rows(HASH_B),
        message_reference=reference,
    )
    assert tracker.on_dispatch("MESSAGE_CREATE", done) == "r"
    assert _result(tracker, "r").kind is ResultKind.VARIATION


def test_the_edit_of_a_forgotten_grid_is_not_a_new_job() -> None:
    tracker = _tracker()
    tracker.expect("g", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    grid = grid_done(mid(201), PROMPT, HASH_A, I1)
    assert tracker.on_dispatch("MESSAGE_CREATE", grid) == "g"
    tracker.forget("g")
    # A reroll of it (same prompt); pressing a button makes the bot edit the old grid.
    tracker.expect("reroll", nonce=N2, kind=ExpectKind.GRID, prompt=PROMPT)
    assert tracker.on_dispatch("MESSAGE_UPDATE", grid) is None
    assert _phase(tracker, "reroll") is Phase.WAITING
    assert not tracker.unclaimed


def test_messages_older_than_the_interaction_are_not_matched() -> None:
    # After a crash, another process adopts a job it knows only by its nonce; the channel's
    # history still holds an older result with the same prompt.
    tracker = _tracker()
    asked_ms = 1_764_863_180_000
    nonce = str((asked_ms - DISCORD_EPOCH_MS) << 22)
    old = str((asked_ms - 60_000 - DISCORD_EPOCH_MS) << 22)
    new = str((asked_ms + 20_000 - DISCORD_EPOCH_MS) << 22)
    tracker.adopt("t", JobRef(nonce=nonce), ExpectKind.GRID, PROMPT)
    recent = [grid_done(new, PROMPT, HASH_B), grid_done(old, PROMPT, HASH_A)]
    assert tracker.catch_up(recent) == ["t"]
    assert _state(tracker, "t").job_hash == HASH_B


def test_queue_notice_is_not_the_first_message() -> None:
    tracker = _tracker()
    tracker.expect("t", nonce=N1, kind=ExpectKind.GRID, prompt=PROMPT)
    notice = error_embed(mid(211), "Job queued", "Your job will start soon", nonce=N1, color=0)
    assert tracker.on_dispatch("MESSAGE_CREATE", notice) == "t"
    assert _phase(tracker, "t") is Phase.QUEUED
    assert tracker.on_dispatch("MESSAGE_CREATE", waiting(mid(212), PROMPT, N1, I1)) == "t"
    assert _state(tracker, "t").first_message_id == mid(212)


def test_error_without_ids_matched_by_the_prompt_in_its_footer() -> None:
    tracker = _tracker()
    tracker.expect("t", nonce=N1, kind=ExpectKind.GRID, prompt="a red fox")
    refused = error_embed(mid(221), "Invalid link", "Could not fetch the image.")
    assert tracker.on_dispatch("MESSAGE_CREATE", refused) == "t"
    assert _state(tracker, "t").fail_reason == "Invalid link: Could not fetch the image."
