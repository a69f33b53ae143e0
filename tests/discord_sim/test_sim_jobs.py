"""The simulated Midjourney bot: a job's messages from the nonce to the final grid, buttons,
modals, the Vary (Region) iframe, video, errors and account problems, queueing, prompt rewrites."""

from __future__ import annotations

import asyncio
import base64
import io
import re
import time
from collections.abc import Iterator

import httpx
import pytest
from PIL import Image

from discord_sim_support import RawDiscord, button, local_url, raw_discord, running_simulator
from mjgate.discord_sim import Simulator

UUID = r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"


@pytest.fixture
def sim() -> Iterator[Simulator]:
    with running_simulator() as simulator:
        yield simulator


def hash_in(text: str) -> str:
    found = re.search(UUID, text)
    assert found is not None, text
    return found[0]


async def finished(discord: RawDiscord, prompt: str) -> dict[str, object]:
    nonce = await discord.imagine(prompt)
    return dict((await discord.final_message(nonce))[-1]["d"])


async def test_imagine_from_nonce_to_the_final_grid(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        started = time.monotonic()
        nonce = await discord.imagine("a red fox in snow")
        success = await discord.gateway.dispatch("INTERACTION_SUCCESS")
        assert success["d"]["nonce"] == nonce
        events = await discord.final_message(nonce)
        elapsed = time.monotonic() - started
        first, *progress, final = (e["d"] for e in events)
        user = f"<@{sim.account.user_id}>"
        assert first["content"] == f"**a red fox in snow --v 7** - {user} (Waiting to start)"
        assert first["interaction_metadata"]["id"] == success["d"]["id"]
        assert first["interaction_metadata"]["name"] == "imagine"
        updates = [e for e in progress if "content" in e]
        assert [re.findall(r"\((\d+)%\)", u["content"]) for u in updates] == [
            ["0"],
            ["31"],
            ["62"],
            ["93"],
        ]
        job_hash = hash_in(updates[-1]["attachments"][0]["filename"])
        assert progress[-1] == {
            "id": first["id"],
            "channel_id": first["channel_id"],
            "guild_id": first["guild_id"],
        }
        assert "nonce" not in final
        assert final["content"].startswith(f"**a red fox in snow --v 7** - {user} (fast)")
        assert f"https://midjourney.com/jobs/{job_hash}" in final["content"]
        attachment = final["attachments"][0]
        assert attachment["filename"] == f"simuser1_a_red_fox_in_snow_{job_hash}.png"
        assert attachment["url"].startswith("https://cdn.discordapp.com/attachments/")
        assert "?ex=" in attachment["url"]
        assert final["interaction_metadata"]["id"] == success["d"]["id"]
        assert button(final, "U1") == f"MJ::JOB::upsample::1::{job_hash}"
        assert button(final, "V4") == f"MJ::JOB::variation::4::{job_hash}"
        assert button(final, "🔄") == f"MJ::JOB::reroll::0::{job_hash}::SOLO"
        async with httpx.AsyncClient() as http:
            png = await http.get(local_url(sim, attachment["proxy_url"]))
        assert Image.open(io.BytesIO(png.content)).size == (512, 512)
    assert elapsed < 2.0, elapsed  # speed 0.05: a few hundred milliseconds


async def test_u_button_gives_an_upscale_referring_to_the_grid(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        grid = await finished(discord, "a teapot")
        answer, _ = await discord.click(grid, button(grid, "U2"))
        assert answer.status_code == 204
        success = await discord.gateway.dispatch("INTERACTION_SUCCESS")
        upscale = (await discord.gateway.dispatch("MESSAGE_CREATE"))["d"]
        assert upscale["content"] == f"**a teapot --v 7** - Image #2 <@{sim.account.user_id}>"
        assert upscale["message_reference"]["message_id"] == grid["id"]
        assert upscale["interaction_metadata"]["id"] == success["d"]["id"]
        new_hash = hash_in(upscale["attachments"][0]["filename"])
        assert button(upscale, "Custom Zoom") == f"MJ::CustomZoom::{new_hash}"
        assert button(upscale, "Vary (Region)") == f"MJ::Inpaint::1::{new_hash}::SOLO"
        assert button(upscale, "⬅️") == f"MJ::JOB::pan_left::1::{new_hash}::SOLO"
        hd, _ = await discord.click(upscale, button(upscale, "Upscale (Subtle)"))
        assert hd.status_code == 204
        done = await discord.gateway.dispatch(
            "MESSAGE_CREATE", lambda d: "Upscaled (Subtle) by" in d["content"]
        )
        assert done["d"]["attachments"][0]["width"] == 256


async def test_custom_zoom_modal_round_trip(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        grid = await finished(discord, "a canyon")
        await discord.click(grid, button(grid, "U1"))
        upscale = (await discord.gateway.dispatch("MESSAGE_CREATE"))["d"]
        job_hash = hash_in(upscale["attachments"][0]["filename"])
        await discord.click(upscale, button(upscale, "Custom Zoom"))
        success = await discord.gateway.dispatch("INTERACTION_SUCCESS")
        modal = (await discord.gateway.dispatch("INTERACTION_MODAL_CREATE"))["d"]
        assert modal["id"] == success["d"]["id"]
        assert modal["custom_id"] == f"MJ::OutpaintCustomZoomModal::{job_hash}"
        text_input = modal["components"][0]["components"][0]
        assert text_input["custom_id"] == "MJ::OutpaintCustomZoomModal::prompt"
        assert text_input["value"] == "a canyon --zoom 2"
        answer, nonce = await discord.submit_modal(modal, "a canyon --zoom 1.8")
        assert answer.status_code == 204, answer.text
        final = (await discord.final_message(nonce))[-1]["d"]
        assert "Zoom Out by" in final["content"] and "--zoom 1.8" in final["content"]
        again, _ = await discord.submit_modal(modal, "twice")  # a modal is submitted once
        assert again.status_code == 400


async def test_inpaint_through_the_iframe(sim: Simulator) -> None:
    mask = io.BytesIO()
    Image.new("L", (256, 256), 255).save(mask, "PNG")
    async with raw_discord(sim) as discord:
        grid = await finished(discord, "a garden")
        await discord.click(grid, button(grid, "U3"))
        upscale = (await discord.gateway.dispatch("MESSAGE_CREATE"))["d"]
        await discord.click(upscale, button(upscale, "Vary (Region)"))
        iframe = (await discord.gateway.dispatch("INTERACTION_IFRAME_MODAL_CREATE"))["d"]
        token = iframe["custom_id"].removeprefix("MJ::iframe::")
        submit = f"{sim.base_url}/iframe/inpaint/api/submit-job"
        body = {"customId": token, "prompt": "a garden with a pond", "userId": "0", "username": "0"}
        async with httpx.AsyncClient() as http:
            bad = await http.post(submit, json={**body, "mask": "data:image/png;base64,AAAA"})
            assert bad.status_code == 400
            mask_b64 = base64.b64encode(mask.getvalue()).decode()
            good = await http.post(submit, json={**body, "mask": mask_b64})
            assert good.json() == {"success": True}
        final = await discord.gateway.dispatch(
            "MESSAGE_CREATE", lambda d: "Variations (Region) by" in d["content"] and d["components"]
        )
        assert "a garden with a pond" in final["d"]["content"]
        assert final["d"]["message_reference"]["message_id"] == upscale["id"]
    assert sim.counters["iframe_submits"] == 1  # the refused one is not counted


async def test_variation_and_pan_open_modals_under_remix(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        grid = await finished(discord, "a boat")
        sim.remix()
        await discord.click(grid, button(grid, "V2"))
        modal = (await discord.gateway.dispatch("INTERACTION_MODAL_CREATE"))["d"]
        assert re.fullmatch(rf"MJ::RemixModal::{UUID}::2::1", modal["custom_id"])
        assert modal["components"][0]["components"][0]["custom_id"] == "MJ::RemixModal::new_prompt"
        answer, nonce = await discord.submit_modal(modal, "a red boat")
        assert answer.status_code == 204
        final = (await discord.final_message(nonce))[-1]["d"]
        assert final["content"].startswith("**a red boat --v 7** - Remix (Strong) by")
        await discord.click(final, button(final, "🔄"))
        modal = (await discord.gateway.dispatch("INTERACTION_MODAL_CREATE"))["d"]
        assert modal["custom_id"] == f"MJ::ImagineModal::{final['id']}"


async def test_animate_posts_an_mp4(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        grid = await finished(discord, "a wave")
        await discord.click(grid, button(grid, "U1"))
        upscale = (await discord.gateway.dispatch("MESSAGE_CREATE"))["d"]
        _, nonce = await discord.click(upscale, button(upscale, "Animate (High motion)"))
        events = await discord.final_message(nonce)
        assert "(Waiting to start)" in events[0]["d"]["content"]
        video = events[-1]["d"]
        assert "--video 1** - <@" in video["content"]
        attachment = video["attachments"][0]
        assert re.fullmatch(rf"{UUID}_0\.mp4", attachment["filename"])
        assert attachment["content_type"] == "video/mp4"
        assert button(video, "Extend (High motion)").startswith("MJ::JOB::animate_high_extend::1::")
        async with httpx.AsyncClient() as http:
            mp4 = await http.get(local_url(sim, attachment["url"]))
        assert mp4.headers["content-type"] == "video/mp4" and mp4.content[4:8] == b"ftyp"


async def error_embed(discord: RawDiscord, nonce: str) -> dict[str, object]:
    reply = await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: d.get("nonce") == nonce)
    return dict(reply["d"]["embeds"][0])


async def test_errors_answer_red_embeds(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        sim.fail_next("Invalid prompt", "That prompt is not allowed.")
        embed = await error_embed(discord, await discord.imagine("anything"))
        assert (embed["title"], embed["color"]) == ("Invalid prompt", 16711680)
        embed = await error_embed(discord, await discord.imagine("a simfail prompt"))
        assert embed["title"] == "Invalid parameter"
        embed = await error_embed(discord, await discord.imagine("a simban prompt"))
        assert embed["title"] == "Banned prompt detected"
        assert "(fast)" in str((await finished(discord, "fine again"))["content"])


async def test_account_problems(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        sim.account_problem("credits_exhausted")
        embed = await error_embed(discord, await discord.imagine("fast job"))
        assert embed["title"] == "Credits exhausted"
        relaxed = await finished(discord, "slow job --relax")
        assert "(relaxed)" in str(relaxed["content"])
        sim.account_problem("blocked")
        embed = await error_embed(discord, await discord.imagine("any job --relax"))
        assert embed["title"] == "Blocked"
        sim.account_problem("captcha")
        await discord.imagine("after captcha")
        first = await discord.gateway.dispatch()
        assert first["t"] == "INTERACTION_IFRAME_MODAL_CREATE"
        assert first["d"]["title"] == "Action required to continue"
        sim.account_problem(None)
        assert "(fast)" in str((await finished(discord, "all well"))["content"])


async def test_mode_commands_switch_the_mode_word(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        answer, nonce = await discord.command("relax", [])
        assert answer.status_code == 204
        reply = await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: d["nonce"] == nonce)
        assert reply["d"]["flags"] == 64
        assert "(relaxed)" in str((await finished(discord, "a slow owl"))["content"])
        assert "(turbo)" in str((await finished(discord, "a quick owl --turbo"))["content"])


async def test_a_full_account_answers_job_queued_then_runs(sim: Simulator) -> None:
    sim.max_concurrent(1)
    async with raw_discord(sim) as discord:
        first = await discord.imagine("first")
        second = await discord.imagine("second")
        queued = await discord.gateway.dispatch(
            "MESSAGE_CREATE", lambda d: d.get("nonce") == second
        )
        assert queued["d"]["embeds"][0]["title"] == "Job queued"
        await discord.gateway.dispatch(
            "MESSAGE_CREATE", lambda d: "first" in d["content"] and d["components"]
        )
        await discord.gateway.dispatch(
            "MESSAGE_CREATE", lambda d: "second" in d["content"] and d["components"]
        )
        assert first != second


async def test_prompts_are_rewritten_and_cut(sim: Simulator) -> None:
    sim.rewrite_prompts()
    async with raw_discord(sim) as discord:
        grid = await finished(discord, "a  map   of http://example.com/x.png --q 1 --ar 3:2")
        assert re.match(
            r"\*\*a map of https://s\.mj\.run/\S+ --ar 3:2 --v 7\*\*", str(grid["content"])
        )
        long_prompt = "word " * 60
        grid = await finished(discord, long_prompt)
        shown = str(grid["content"]).split("**")[1]
        assert shown.endswith("…") and len(shown) == 180


async def test_final_message_without_metadata_when_stripped(sim: Simulator) -> None:
    sim.strip_metadata()
    async with raw_discord(sim) as discord:
        nonce = await discord.imagine("a kite")
        await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: d.get("nonce") == nonce)
        final = await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: bool(d["components"]))
        assert "interaction_metadata" not in final["d"]


async def test_show_reposts_the_job_and_dms_the_seed(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        grid = await finished(discord, "a comet")
        job_hash = button(grid, "U1").rsplit("::", 1)[1]
        _, nonce = await discord.command("show", [{"type": 3, "name": "job_id", "value": job_hash}])
        shown = await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: d.get("nonce") == nonce)
        assert shown["d"]["components"] == grid["components"]
        seed = await discord.gateway.dispatch(
            "MESSAGE_CREATE", lambda d: d["channel_id"] == sim.account.dm_channel_id
        )
        assert re.fullmatch(rf"\*\*Job ID\*\*: {job_hash}\n\*\*seed\*\* \d+", seed["d"]["content"])


async def test_two_accounts_see_only_their_own_channel(sim: Simulator) -> None:
    other = sim.add_account("second-token", guild_id=sim.account.guild_id)
    assert other.channel_id != sim.account.channel_id
    async with raw_discord(sim) as first, raw_discord(sim, "second-token") as second:
        second.channel_id = other.channel_id
        nonce = await second.imagine("second account")
        final = (await second.final_message(nonce))[-1]["d"]
        assert final["channel_id"] == other.channel_id
        with pytest.raises(TimeoutError):
            await first.gateway.dispatch(within=0.2)


async def test_blend_and_shorten(sim: Simulator) -> None:
    picture = io.BytesIO()
    Image.new("RGB", (16, 16)).save(picture, "PNG")
    async with raw_discord(sim) as discord:
        a = await discord.upload("a.png", picture.getvalue())
        b = await discord.upload("b.png", picture.getvalue())
        _, nonce = await discord.command(
            "blend",
            [
                {"type": 11, "name": "image1", "value": 0},
                {"type": 11, "name": "image2", "value": 1},
                {"type": 3, "name": "dimensions", "value": "--ar 2:3"},
            ],
            [
                {"id": "0", "filename": "a.png", "uploaded_filename": a},
                {"id": "1", "filename": "b.png", "uploaded_filename": b},
            ],
        )
        final = (await discord.final_message(nonce))[-1]["d"]
        assert re.match(
            r"\*\*<https://s\.mj\.run/\S+> <https://s\.mj\.run/\S+> --ar 2:3", final["content"]
        )
        _, nonce = await discord.command(
            "shorten", [{"type": 3, "name": "prompt", "value": "a very long and ornate prompt"}]
        )
        await discord.gateway.dispatch("MESSAGE_CREATE", lambda d: d.get("nonce") == nonce)
        done = (await discord.gateway.dispatch("MESSAGE_UPDATE"))["d"]
        assert button(done, "5️⃣") == "MJ::Job::PromptAnalyzer::5"
        await discord.click(done, "MJ::Job::PromptAnalyzer::1")
        await discord.gateway.dispatch(
            "MESSAGE_CREATE", lambda d: "ornate" in d["content"] and d["components"]
        )


async def test_imagine_timing_at_speed_005(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        await finished(discord, "warm up")
        started = time.monotonic()
        await asyncio.gather(*(finished(discord, f"timed {n}") for n in range(1)))
        print(f"one imagine at speed 0.05: {time.monotonic() - started:.3f} s")


async def test_buttons_after_an_upscale_start_their_jobs_side_by_side(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        grid = await finished(discord, "a bridge")
        await discord.click(grid, button(grid, "U4"))
        upscale = (await discord.gateway.dispatch("MESSAGE_CREATE"))["d"]
        expected = {
            "Zoom Out 2x": "Zoom Out by",
            "⬅️": "Pan Left by",
            "Vary (Subtle)": "Variations (Subtle) by",
            "Vary (Strong)": "Variations (Strong) by",
        }
        for label in expected:
            answer, _ = await discord.click(upscale, button(upscale, label))
            assert answer.status_code == 204
        seen: set[str] = set()
        while len(seen) < len(expected):
            final = await discord.gateway.dispatch(
                "MESSAGE_CREATE", lambda d: bool(d["components"])
            )
            words = next(w for w in expected.values() if w in final["d"]["content"])
            assert final["d"]["message_reference"]["message_id"] == upscale["id"]
            seen.add(words)
        zoomed = [m for m in sim.channel_messages() if "Zoom Out by" in m["content"]]
        assert "--zoom 2" in zoomed[0]["content"]
    counters = sim.counters
    assert counters["jobs_finished"] == 5 and counters["dispatch:MESSAGE_CREATE"] >= 7


async def test_niji_commands_are_answered_by_the_niji_bot(sim: Simulator) -> None:
    async with raw_discord(sim) as discord:
        niji = (await discord.commands("1022952195194359889"))["imagine"]
        payload = discord.base(2, discord.nonce())
        payload["application_id"] = niji["application_id"]
        payload["data"] = {
            "id": niji["id"],
            "version": niji["version"],
            "name": "imagine",
            "type": 1,
            "options": [{"type": 3, "name": "prompt", "value": "an anime cat --niji 6"}],
        }
        assert (await discord.http.post("/interactions", json=payload)).status_code == 204
        final = (await discord.final_message(payload["nonce"]))[-1]["d"]
        assert final["author"]["id"] == "1022952195194359889"
        assert final["content"].startswith("**an anime cat --niji 6** - ")
