"""The SDK against a real mjgate on loopback: every operation, the buttons, the modal flow,
waiting with progress, downloads, errors as typed exceptions; sync and async clients.

The sync client blocks, and the app is served on this test's event loop, so sync scenarios
run in a thread (``asyncio.to_thread``) as a user's program would beside the server.
"""

from __future__ import annotations

import asyncio
import io
from pathlib import Path

import pytest

from mjgate.client import (
    AsyncClient,
    ButtonNotFound,
    Client,
    ProgressBar,
    RequestRefused,
    Task,
    TaskData,
    TaskNotFound,
    TaskStatus,
    Unauthorized,
    WaitTimedOut,
)
from mjgate.services.runtime import Runtime
from support import ADMIN_TOKEN, ServedApp, png_bytes, update_channel

PNG = b"\x89PNG\r\n\x1a\n"


def check_grid(task: TaskData) -> None:
    assert task.status is TaskStatus.SUCCESS and task.progress == 100
    assert task.image_url and len(task.image_urls) == 4
    labels = [b.label or b.emoji for b in task.buttons]
    assert labels == ["U1", "U2", "U3", "U4", "🔄", "V1", "V2", "V3", "V4"]


async def test_imagine_wait_press_and_download_with_the_sync_client(
    served: ServedApp, tmp_path: Path
) -> None:
    def scenario() -> None:
        seen: list[TaskData] = []
        with Client(served.base_url, ADMIN_TOKEN) as mj:
            task = mj.imagine("a red fox in the snow --ar 3:2", state='{"chat": 1}')
            assert isinstance(task, Task) and task.answer is not None
            assert task.answer.code == 1 and task.answer.task_id == task.id
            assert task.action == "IMAGINE" and task.state == '{"chat": 1}'
            done = task.wait(progress=seen.append, timeout=30, poll_interval=0.05)
            check_grid(done)
            assert seen[-1] == done and all(s.id == task.id for s in seen)
            assert done.properties["finalZhPrompt"] == ""

            files = done.download(tmp_path / "grid")
            assert [f.name for f in files] == [f"{done.id}.png"] + [
                f"{done.id}-{n}.png" for n in range(1, 5)
            ]
            assert all(f.read_bytes().startswith(PNG) for f in files)
            assert not list((tmp_path / "grid").glob(".*.part"))

            up = done.press("u2").wait(timeout=30, poll_interval=0.05)  # a label in any case
            assert up.action == "UPSCALE" and up.description == f"/up {done.id} U2"
            assert up.status is TaskStatus.SUCCESS and up.image_urls == []
            (single,) = up.download(tmp_path / "up")
            assert single.name == f"{up.id}.png" and single.read_bytes().startswith(PNG)

            rerolled = mj.press(done.id, "🔄")  # by emoji, from a task id
            assert rerolled.action == "REROLL"
            varied = mj.action(done, done.button("V1").custom_id)  # by customId
            assert varied.action == "VARIATION"
            assert done.press(done.button("V3").custom_id).action == "VARIATION"
            with pytest.raises(ButtonNotFound, match="U9"):
                done.press("U9")

            listed = mj.list_by_ids([varied.id, "1000000000000000", done])
            assert [t.id for t in listed] == [varied.id, done.id]
            assert mj.image_seed(done).isdigit()
            assert done.id in {t.id for t in mj.list_tasks(limit=10)}
            assert mj.fetch(done.id) == done.refresh()

    await asyncio.to_thread(scenario)


async def test_the_modal_flows(served: ServedApp) -> None:
    def scenario() -> None:
        with Client(served.base_url, ADMIN_TOKEN) as mj:
            up = (
                mj.imagine("a lighthouse")
                .wait(timeout=30, poll_interval=0.05)
                .press("U1")
                .wait(timeout=30, poll_interval=0.05)
            )

            zoom = up.press("Custom Zoom")
            assert zoom.answer is not None and zoom.answer.code == 21
            assert zoom.status is TaskStatus.MODAL and zoom.final_prompt == up.prompt
            assert (
                zoom.wait(timeout=30, poll_interval=0.05).status is TaskStatus.MODAL
            )  # waits for us, not forever
            zoomed = zoom.submit_modal(f"{up.prompt} --zoom 1.5")
            assert zoomed.id == zoom.id and zoomed.answer and zoomed.answer.code == 1
            assert zoomed.wait(timeout=30, poll_interval=0.05).status is TaskStatus.SUCCESS

            region = up.press("Vary (Region)")
            assert region.status is TaskStatus.MODAL
            with pytest.raises(RequestRefused) as refused:
                region.submit_modal("a red roof")
            assert refused.value.description == "mask_base64_is_required"
            mask = png_bytes((255, 255, 255), (64, 64))
            painted = region.submit_modal("a red roof", mask=mask).wait(
                timeout=30, poll_interval=0.05
            )
            assert painted.status is TaskStatus.SUCCESS and painted.action == "INPAINT"

            remixed = mj.press(up, "Vary (Strong)", enable_remix=True)
            assert remixed.status is TaskStatus.MODAL
            assert (
                remixed.submit_modal("").wait(timeout=30, poll_interval=0.05).status
                is TaskStatus.SUCCESS
            )

    await asyncio.to_thread(scenario)


async def test_describe_shorten_blend_and_video(served: ServedApp, tmp_path: Path) -> None:
    picture = tmp_path / "picture.png"
    picture.write_bytes(png_bytes((20, 120, 200), (96, 64)))

    def scenario() -> None:
        with Client(served.base_url, ADMIN_TOKEN, auth="mj-api-secret") as mj:
            described = mj.describe(picture).wait(timeout=30, poll_interval=0.05)
            assert described.action == "DESCRIBE" and described.status is TaskStatus.SUCCESS
            assert described.final_prompt and described.final_prompt.startswith("1️⃣")
            assert described.press("2️⃣").action == "IMAGINE"

            short = mj.shorten("a very very detailed painting of a cat on a mat").wait(
                timeout=30, poll_interval=0.05
            )
            assert short.action == "SHORTEN" and "5️⃣" in (short.final_prompt or "")

            blended = mj.blend([picture, png_bytes((240, 200, 10))], dimensions="SQUARE")
            check_grid(blended.wait(timeout=30, poll_interval=0.05))

            grid = mj.imagine("a sailing boat", images=[picture]).wait(
                timeout=30, poll_interval=0.05
            )
            up = grid.press("U3").wait(timeout=30, poll_interval=0.05)
            video = mj.video("the boat sails", task=up, index=1).wait(
                timeout=30, poll_interval=0.05
            )
            assert video.action == "VIDEO" and video.status is TaskStatus.SUCCESS
            assert video.video_url and video.video_urls == [video.video_url]
            files = video.download(tmp_path / "video")
            assert files[-1].name == f"{video.id}-video.mp4"
            assert files[-1].read_bytes()[4:8] == b"ftyp"

    await asyncio.to_thread(scenario)


async def test_the_async_client(served: ServedApp, rt: Runtime, tmp_path: Path) -> None:
    bars = io.StringIO()
    async with AsyncClient(served.base_url, ADMIN_TOKEN) as mj:
        task = await mj.imagine("an owl at night", mode="relax")
        assert task.mode == "RELAX"
        done = await task.wait(timeout=30, poll_interval=0.05)
        check_grid(done)
        assert len(await done.download(tmp_path)) == 5
        up = await (await done.press("U4")).wait(timeout=30, poll_interval=0.05)
        assert up.action == "UPSCALE" and up.status is TaskStatus.SUCCESS
        zoom = await up.press("Custom Zoom")
        assert zoom.status is TaskStatus.MODAL
        zoomed = await zoom.submit_modal(f"{up.prompt} --zoom 2")
        assert (await zoomed.wait(timeout=30, poll_interval=0.05)).status is TaskStatus.SUCCESS
        assert [t.id for t in await mj.list_by_ids([up.id, done.id])] == [up.id, done.id]

        await update_channel(rt, duration=30)
        slow = await mj.imagine("a slow one")
        bar = ProgressBar(bars)
        with pytest.raises(WaitTimedOut) as late:
            await mj.wait(slow, timeout=0.3, poll_interval=0.05, progress=bar)
        assert late.value.task.id == slow.id and not late.value.task.is_final
        await mj.cancel(slow)
        cancelled = await mj.wait(slow, poll_interval=0.05, progress=bar, timeout=10)
        assert cancelled.status is TaskStatus.CANCEL and cancelled.fail_reason
        assert cancelled.progress == 100
        assert f"{slow.id} [{'#' * 24}] 100% CANCEL" in bars.getvalue()


async def test_refusals_are_typed_errors(served: ServedApp) -> None:
    async with AsyncClient(served.base_url, "mjg_not-a-token") as stranger:
        with pytest.raises(Unauthorized) as unauthorized:
            await stranger.imagine("a cat")
    assert unauthorized.value.http_status == 401 and unauthorized.value.code == 4
    assert "mjg_not-a-token" not in str(unauthorized.value)
    async with AsyncClient(served.base_url, ADMIN_TOKEN) as mj:
        with pytest.raises(TaskNotFound):
            await mj.fetch("1000000000000000")
        with pytest.raises(RequestRefused) as blank:
            await mj.imagine("   ")
        assert blank.value.description == "prompt_is_required"
        assert "prompt" in str(blank.value).lower()
        with pytest.raises(RequestRefused) as long_state:
            await mj.imagine("a cat", state="x" * 4097)
        assert long_state.value.description == "state_too_long"
        assert (await mj.imagine("a cat", state="x" * 4096)).state == "x" * 4096
