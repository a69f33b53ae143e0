"""A job's life as the Midjourney bot lives it: the reply to the interaction, "Job queued"
when the account's slots are full, "(Waiting to start)", progress edits with previews, the
final message with its picture and buttons; instant upscales; deferred describe and shorten
answers; error embeds; modals and iframes the bot opens."""

from __future__ import annotations

import asyncio
import re
import secrets
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass

from mjgate.discord_sim import images
from mjgate.discord_sim import messages as m
from mjgate.discord_sim.gateway import Gateway
from mjgate.discord_sim.scripts import PROBLEM_EMBEDS, Script
from mjgate.discord_sim.state import Job, Json, Modal, World, new_job_hash

QUEUED_COLOUR = 16439902


@dataclass
class JobSpec:
    """What kind of result a job makes and how its messages read."""

    kind: str  # grid | hd_upscale | video
    prompt: str
    shown: str
    words: str = ""  # "Variations (Strong)": the content reads "<words> by <@user>"
    progress_words: str | None = None  # when progress reads otherwise ("Upscaling")
    source: bytes | None = None  # the image an HD upscale or a video starts from


def slug(prompt: str) -> str:
    words = re.sub(r"--\S+(\s+[^-\s]\S*)?", " ", prompt)
    return "_".join(re.findall(r"[a-z0-9]+", words.lower()))[:40].strip("_") or "image"


class Jobs:
    """Posts the bot's messages for jobs and keeps the jobs it finished."""

    def __init__(self, world: World, gateway: Gateway, script: Script) -> None:
        self.world = world
        self.gateway = gateway
        self.script = script
        self._slots: dict[str, asyncio.Condition] = {}

    # -- messages ---------------------------------------------------------------------------

    def _owner(self, msg: Json) -> str:
        return self.world.channels[msg["channel_id"]]

    def create(self, msg: Json) -> None:
        self.world.store_message(msg)
        self.gateway.dispatch(self._owner(msg), "MESSAGE_CREATE", msg)

    def update(self, msg: Json) -> None:
        self.world.store_message(msg)
        self.gateway.dispatch(self._owner(msg), "MESSAGE_UPDATE", msg)

    def delete(self, msg: Json) -> None:
        self.world.messages[msg["channel_id"]].pop(msg["id"], None)
        gone = {"id": msg["id"], "channel_id": msg["channel_id"], "guild_id": msg.get("guild_id")}
        self.gateway.dispatch(self._owner(msg), "MESSAGE_DELETE", gone)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(self.script.delay(seconds))

    def fail(
        self, reply: m.Reply, title: str, description: str, colour: int = m.ERROR_COLOUR
    ) -> None:
        embed = m.error_embed(title, description, colour)
        self.create(m.message(self.world, reply, "", nonce=reply.nonce, embeds=[embed]))

    def refused(self, reply: m.Reply, prompt: str, mode: str) -> bool:
        """Answer an error embed instead of running, when something says so."""
        problem = reply.account.problem
        failure: tuple[str, str, int] | None = None
        if self.script.fail_next:
            scripted = self.script.fail_next.popleft()
            failure = (scripted.title, scripted.description, scripted.color)
        elif problem in ("blocked", "subscription") or (
            problem == "credits_exhausted" and mode in ("fast", "turbo")
        ):
            failure = (*PROBLEM_EMBEDS[problem], m.ERROR_COLOUR)
        elif "simban" in prompt:
            failure = (
                "Banned prompt detected",
                "Sorry! Our AI moderators feel your prompt might be against our community "
                "standards.",
                m.ERROR_COLOUR,
            )
        elif "simfail" in prompt:
            failure = ("Invalid parameter", "Unrecognized parameter(s): `simfail`", m.ERROR_COLOUR)
        if failure is None:
            return False
        self.world.counters["failed_jobs"] += 1
        self.fail(reply, *failure)
        return True

    @asynccontextmanager
    async def slot(self, reply: m.Reply) -> AsyncIterator[None]:
        """One of the account's concurrent job slots; "Job queued" first when none is free."""
        account = reply.account
        condition = self._slots.setdefault(account.token, asyncio.Condition())
        if self.script.job_queued or account.running >= self.script.max_concurrent:
            embed = m.error_embed(
                "Job queued",
                "Your job is queued and will start as soon as a slot is free.",
                QUEUED_COLOUR,
            )
            self.create(m.message(self.world, reply, "", nonce=reply.nonce, embeds=[embed]))
            await self.sleep(0.2)
        async with condition:
            await condition.wait_for(lambda: account.running < self.script.max_concurrent)
            account.running += 1
        try:
            yield
        finally:
            async with condition:
                account.running -= 1
                condition.notify_all()

    # -- jobs with progress -----------------------------------------------------------------

    async def run(self, reply: m.Reply, spec: JobSpec) -> Job | None:
        account = reply.account
        mode = m.job_mode(spec.prompt, account)
        if self.refused(reply, spec.prompt, mode):
            return None
        job = Job(new_job_hash(), spec.kind, spec.prompt, spec.shown, account.token, mode)
        user = f"<@{account.user_id}>"

        def content(tail: str, final: bool = False) -> str:
            words = spec.words if final else (spec.progress_words or spec.words)
            return f"**{spec.shown}** - {f'{words} by {user}' if words else user} {tail}"

        async with self.slot(reply):
            self.world.counters["jobs_started"] += 1
            current = m.message(self.world, reply, content("(Waiting to start)"), nonce=reply.nonce)
            self.create(current)
            steps = self.script.progress_steps
            pause = self.script.job_duration / (len(steps) + 1)
            for percent in steps:
                await self.sleep(pause)
                data, ctype = images.draw_preview(spec.prompt, job.hash, percent)
                name = f"{job.hash}_grid_0.{ctype.split('/')[1]}"
                preview = self.world.store_file(
                    "ephemeral-attachments", account.channel_id, name, data, ctype
                )
                preview.update(width=64, height=64)
                current = m.edited(
                    current,
                    content=content(f"({percent}%) ({mode})"),
                    attachments=[preview],
                )
                self.update(current)
            await self.sleep(pause)
            attachment = await asyncio.to_thread(self._render, spec, job)
            self.delete(current)
            text = content(f"({mode})", final=True)
            if spec.kind != "video":
                text += f"\n[(Open on website for full quality)](<https://midjourney.com/jobs/{job.hash}>)"
            buttons = {"grid": m.grid_buttons, "hd_upscale": m.hd_buttons, "video": m.video_buttons}
            final = m.message(
                self.world,
                reply,
                text,
                attachments=[attachment],
                components=buttons[spec.kind](job.hash),
                metadata=not self.script.strip_metadata,
            )
            self.create(final)
            self.world.final_times[job.hash] = time.monotonic()
        self._keep(job, final)
        self.world.counters["jobs_finished"] += 1
        return job

    def _keep(self, job: Job, final: Json) -> None:
        job.message_id = final["id"]
        self.world.jobs[job.hash] = job
        self.world.message_jobs[final["id"]] = job.hash

    def _render(self, spec: JobSpec, job: Job) -> Json:
        """Draw the result and put it on the CDN (runs on a worker thread)."""
        account = self.world.accounts[job.account_token]
        if spec.kind == "video":
            name, data, ctype = f"{job.hash}_0.mp4", images.tiny_mp4(), "video/mp4"
            job.images = [spec.source or images.draw_tile(spec.prompt, job.hash, 1)]
            size = (64, 64)
        else:
            if spec.kind == "grid":
                job.images = [images.draw_tile(spec.prompt, job.hash, n) for n in range(1, 5)]
                data = images.draw_grid(job.images)
            else:
                data = spec.source or images.draw_tile(spec.prompt, job.hash, 1)
                job.images = [data]
            name = f"{account.username}_{slug(spec.prompt)}_{job.hash}.png"
            ctype, size = "image/png", images.image_size(data)
        attachment = self.world.store_file("attachments", account.channel_id, name, data, ctype)
        attachment.update(width=size[0], height=size[1])
        return attachment

    # -- instant and deferred answers -------------------------------------------------------

    async def upscale(self, reply: m.Reply, parent: Job, index: int) -> None:
        if self.refused(reply, parent.prompt, "relaxed"):  # upscales cost no fast time
            return
        await self.sleep(self.script.job_duration * 0.1)
        account = reply.account
        job = Job(
            new_job_hash(), "upscale", parent.prompt, parent.shown, account.token, parent.mode
        )
        job.images = [parent.images[min(index, len(parent.images)) - 1]]
        name = f"{account.username}_{slug(parent.prompt)}_{job.hash}.png"
        attachment = self.world.store_file(
            "attachments", account.channel_id, name, job.images[0], "image/png"
        )
        attachment.update(width=images.TILE, height=images.TILE)
        final = m.message(
            self.world,
            reply,
            f"**{parent.shown}** - Image #{index} <@{account.user_id}>",
            attachments=[attachment],
            components=m.upscale_buttons(job.hash),
            metadata=not self.script.strip_metadata,
        )
        self.create(final)
        self._keep(job, final)

    async def deferred_texts(
        self, reply: m.Reply, kind: str, prompt: str, texts: list[str], embed: Json
    ) -> None:
        """Describe and shorten: a "thinking" reply with our nonce, then its edit."""
        if self.refused(reply, prompt, "relaxed"):
            return
        loading = m.message(self.world, reply, "", nonce=reply.nonce, flags=m.LOADING)
        self.create(loading)
        await self.sleep(self.script.job_duration * 0.3)
        components = m.describe_buttons() if kind == "describe" else m.shorten_buttons()
        answer = m.edited(loading, embeds=[embed], components=components, flags=0)
        self.update(answer)
        job = Job(new_job_hash(), kind, prompt, prompt, reply.account.token, reply.account.mode)
        job.texts = texts
        job.source_url = str(embed.get("image", {}).get("url", ""))
        self._keep(job, answer)

    # -- modals and iframes -----------------------------------------------------------------

    def open_modal(
        self, reply: m.Reply, modal: Modal, title: str, input_id: str, value: str
    ) -> None:
        self.world.modals[modal.id] = modal
        body = m.text_input_modal(modal.id, modal.custom_id, title, input_id, value)
        body.update(nonce=reply.nonce, channel_id=reply.account.channel_id)
        body["guild_id"] = reply.account.guild_id
        self.gateway.dispatch(reply.account.token, "INTERACTION_MODAL_CREATE", body)

    def open_iframe(self, reply: m.Reply, title: str, modal: Modal | None) -> None:
        token = secrets.token_hex(16)
        if modal is not None:
            modal.custom_id = f"MJ::iframe::{token}"
            self.world.iframes[token] = modal
        body: Json = {
            "id": reply.interaction_id,
            "nonce": reply.nonce,
            "custom_id": f"MJ::iframe::{token}",
            "title": title,
            "iframe_path": f"/inpaint/index.html?custom_id={token}",
            "modal_size": 2,
            "channel_id": reply.account.channel_id,
            "guild_id": reply.account.guild_id,
            "application": {"id": reply.application_id, "name": "Midjourney Bot"},
        }
        self.gateway.dispatch(reply.account.token, "INTERACTION_IFRAME_MODAL_CREATE", body)
