"""Reading every dialect of /mj upstream answers into our contract."""

from __future__ import annotations

import pytest

from mjgate.domain.tasks import TaskStatus
from mjgate.errors import Refusal
from mjgate.providers.relay_config import RelayConfig, mask_secret, public_config
from mjgate.providers.relay_wire import (
    read_progress,
    read_submit_reply,
    read_task,
    read_task_list,
    refuses_callback,
)


@pytest.mark.parametrize(
    ("status", "body", "accepted", "refusal"),
    [
        (200, {"code": 1, "description": "提交成功", "result": "17"}, True, None),
        (200, {"code": 22, "description": "排队中，前面还有3个任务", "result": 17}, True, None),
        (
            200,
            {"code": 21, "description": "Waiting for window confirm", "result": "17"},
            True,
            None,
        ),
        (200, {"code": 23, "description": "Queue is full"}, False, Refusal.QUEUE_FULL),
        (200, {"code": 9, "description": "队列已满，请稍后尝试"}, False, Refusal.QUEUE_FULL),
        (200, {"code": 24, "description": "可能包含敏感词"}, False, Refusal.BANNED),
        (200, {"code": 9, "description": "无可用的账号实例"}, False, Refusal.UNAVAILABLE),
        (200, {"code": 1, "description": "ok", "result": None}, False, Refusal.REFUSED),
        (400, {"description": "bad", "type": "mj_error", "code": 4}, False, Refusal.REFUSED),
        (502, None, False, Refusal.UNAVAILABLE),
        (503, {"code": 9, "description": "internal"}, False, Refusal.UNAVAILABLE),
        (200, "not an object", False, Refusal.REFUSED),
    ],
)
def test_submit_replies(status: int, body: object, accepted: bool, refusal: Refusal | None) -> None:
    reply = read_submit_reply(status, body)
    assert (reply.accepted, reply.refusal) == (accepted, refusal)
    if accepted:
        assert reply.upstream_id == "17"


def test_a_queued_and_a_modal_reply_say_so() -> None:
    assert read_submit_reply(200, {"code": 22, "result": "5"}).queued
    assert read_submit_reply(200, {"code": 21, "result": "5"}).modal


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("45%", 45),
        ("45", 45),
        (45, 45),
        (45.7, 45),
        ("", None),
        (None, None),
        ("x", None),
        ("100%", 100),
        (True, None),
        ("12.5%", 12),
    ],
)
def test_progress(value: object, expected: int | None) -> None:
    assert read_progress(value) == expected


@pytest.mark.parametrize("body", [None, "", {}, {"id": ""}, [], {"status": "SUCCESS"}])
def test_no_task(body: object) -> None:
    assert read_task(body) is None


def test_a_failure_with_blank_progress_and_statuses_from_other_dialects() -> None:
    failed = read_task({"id": 7, "status": "FAILED", "progress": "", "failReason": "  x \n y "})
    assert failed is not None
    assert (failed.status, failed.progress, failed.fail_reason) == (TaskStatus.FAILURE, None, "x y")
    blank = read_task({"id": "7", "status": "FAILURE"})
    assert blank is not None and blank.fail_reason
    assert read_task({"id": "7", "status": "CANCEL"}).status == TaskStatus.FAILURE  # type: ignore[union-attr]
    assert read_task({"id": "7", "status": "WEIRD"}).status == TaskStatus.IN_PROGRESS  # type: ignore[union-attr]


def test_a_success_with_files_buttons_and_prompts() -> None:
    task = read_task(
        {
            "id": "9",
            "status": "SUCCESS",
            "progress": "100%",
            "imageUrl": "http://up/a.png",
            "imageUrls": [{"url": "http://up/1.png"}, "http://up/2.png", {"url": ""}],
            "videoUrl": "http://up/v.mp4",
            "buttons": [{"customId": "MJ::JOB::upsample::1::h", "label": "U1"}, {"label": "x"}],
            "promptEn": "a cat",
            "properties": {"finalPrompt": "a cat --v 7", "messageHash": "h"},
        }
    )
    assert task is not None
    assert task.image_urls == ("http://up/1.png", "http://up/2.png")
    assert task.video_urls == ("http://up/v.mp4",)
    assert [b.custom_id for b in task.buttons or ()] == ["MJ::JOB::upsample::1::h"]
    assert (task.final_prompt, task.prompt_en, task.message_hash) == ("a cat --v 7", "a cat", "h")


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        (1712158012001, 1712158012001),
        ("1712158012001", 1712158012001),
        (None, None),
        (0, None),
        ("soon", None),
        (True, None),
        (1.7e12, 1_700_000_000_000),
    ],
)
def test_upstream_times(value: object, expected: int | None) -> None:
    task = read_task({"id": "7", "status": "SUCCESS", "startTime": value, "finishTime": value})
    assert task is not None
    assert (task.start_time, task.finish_time) == (expected, expected)


def test_a_list_leaves_out_what_is_not_a_task() -> None:
    found = read_task_list([{"id": "1", "status": "SUCCESS"}, None, {"x": 1}, {"id": 2}])
    assert set(found) == {"1", "2"}
    assert read_task_list({"not": "a list"}) == {}


def test_config_and_masking() -> None:
    config = RelayConfig.from_mapping(
        {"base_url": "http://up.example/", "secret": "sk-1234567890", "poll_fast_ms": "250"}
    )
    assert (config.base_url, config.poll_fast_ms) == ("http://up.example", 250)
    assert config.allowed_media_hosts == {"up.example"}
    assert "1234567890" not in mask_secret("sk-1234567890")
    assert public_config({"secret": "sk-1234567890"})["secret"] != "sk-1234567890"
    for bad in ({"secret": "s"}, {"base_url": "ftp://x", "secret": "s"}, {"base_url": "http://x"}):
        with pytest.raises(ValueError):
            RelayConfig.from_mapping(bad)
    with pytest.raises(ValueError):
        RelayConfig.from_mapping({"base_url": "http://x", "secret": "s", "auth": "basic"})


def test_a_refused_callback_url_is_told_from_a_refused_task() -> None:
    # What a mjgate upstream answers for a notifyHook on a private address.
    hook = read_submit_reply(400, {"code": 4, "description": "notify_hook_is_invalid"})
    assert refuses_callback(hook)
    other = read_submit_reply(400, {"code": 4, "description": "prompt_is_required"})
    assert not refuses_callback(other)
    full = read_submit_reply(200, {"code": 23, "description": "notifyHook queue full"})
    assert not refuses_callback(full)  # a full queue is not about the hook
