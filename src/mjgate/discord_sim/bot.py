"""The Midjourney bot's answers to interactions: which command or button or modal submit
starts which job, opens which modal, or switches which setting."""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
from collections.abc import Coroutine
from typing import Any

from mjgate.discord_sim import messages as m
from mjgate.discord_sim.gateway import Gateway
from mjgate.discord_sim.interactions import Interaction
from mjgate.discord_sim.jobs import Jobs, JobSpec
from mjgate.discord_sim.scripts import Script
from mjgate.discord_sim.state import MIDJOURNEY_APP_ID, Account, Job, Json, Modal, World

log = logging.getLogger(__name__)

_CLICK = re.compile(r"MJ::JOB::(?P<action>[a-z0-9_]+)::(?P<index>\d+)::(?P<hash>[0-9a-f-]{36})")
_PAN_WORDS = {"left": "Pan Left", "right": "Pan Right", "up": "Pan Up", "down": "Pan Down"}
_MODES = {"fast": "fast", "relax": "relaxed", "turbo": "turbo"}


class Bot:
    """Turns accepted interactions into the bot's behaviour (each on a task of its own)."""

    def __init__(self, world: World, gateway: Gateway, script: Script) -> None:
        self.world = world
        self.gateway = gateway
        self.script = script
        self.jobs = Jobs(world, gateway, script)
        self._tasks: set[asyncio.Task[object]] = set()

    def start(self, interaction: Interaction, interaction_id: str) -> None:
        self._spawn(self._handle(interaction, interaction_id))

    def _spawn(self, work: Coroutine[Any, Any, object]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _handle(self, it: Interaction, interaction_id: str) -> None:
        account = it.account
        reply = m.Reply(
            account,
            interaction_id,
            it.nonce,
            it.type,
            name=it.command.name if it.command else "",
            parent_message_id=(
                it.message["id"] if it.message else it.modal.message_id if it.modal else None
            ),
            application_id=it.application_id or MIDJOURNEY_APP_ID,
        )
        if account.captcha_next:
            account.captcha_next = False
            self.jobs.open_iframe(reply, "Action required to continue", None)
            return
        self.gateway.dispatch(
            account.token, "INTERACTION_SUCCESS", {"id": interaction_id, "nonce": it.nonce}
        )
        await asyncio.sleep(0)
        try:
            if it.type == 2:
                await self._command(reply, it)
            elif it.type == 3:
                await self._click(reply, it)
            else:
                await self._submit(reply, it)
        except Exception:  # a bug here must not kill the server; tests see the counter
            self.world.counters["bot_errors"] += 1
            log.exception("the simulated bot failed on an interaction")

    # -- slash commands ---------------------------------------------------------------------

    async def _command(self, reply: m.Reply, it: Interaction) -> None:
        assert it.command is not None
        name, options, account = it.command.name, it.options, reply.account
        if name == "imagine":
            prompt = str(options["prompt"])
            await self.jobs.run(reply, JobSpec("grid", prompt, m.shown_prompt(prompt, self.script)))
        elif name == "blend":
            await self._blend(reply, it)
        elif name == "describe":
            await self._describe(reply, it)
        elif name == "shorten":
            await self._shorten(reply, str(options["prompt"]))
        elif name == "show":
            await self._show(reply, str(options["job_id"]).strip())
        elif name in _MODES:
            account.mode = _MODES[name]
            text = f"Done! Your jobs now run in {account.mode} mode."
            self.jobs.create(m.message(self.world, reply, text, nonce=reply.nonce, flags=64))
        elif name == "info":
            self.jobs.create(
                m.message(
                    self.world, reply, "", nonce=reply.nonce, flags=64, embeds=[_info(account)]
                )
            )
        elif name == "settings":
            text = f"Adjust your settings here. Current suffix: `--v 7 --{account.mode}`"
            self.jobs.create(m.message(self.world, reply, text, nonce=reply.nonce, flags=64))

    async def _blend(self, reply: m.Reply, it: Interaction) -> None:
        links = []
        for n in range(1, 6):
            value = it.options.get(f"image{n}")
            if value is None:
                continue
            if str(value) not in it.files:
                self.jobs.fail(reply, "Invalid image", f"image{n} is not an uploaded file")
                return
            links.append(f"<https://s.mj.run/{secrets.token_urlsafe(8)}>")
        dimensions = str(it.options.get("dimensions", "--ar 1:1"))
        prompt = " ".join([*links, dimensions])
        await self.jobs.run(reply, JobSpec("grid", prompt, f"{prompt} --v 7"))

    async def _describe(self, reply: m.Reply, it: Interaction) -> None:
        if "image" in it.options and str(it.options["image"]) in it.files:
            filename, data = it.files[str(it.options["image"])]
            ctype = "image/png" if filename.lower().endswith(".png") else "image/jpeg"
            url = self.world.store_file(
                "ephemeral-attachments", reply.account.channel_id, filename, data, ctype
            )["url"]
            subject = filename.rsplit(".", 1)[0]
        elif "link" in it.options:
            url = str(it.options["link"])
            subject = url.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "a picture"
        else:
            self.jobs.fail(reply, "Invalid image", "Attach an image or give a link")
            return
        await self._describe_url(reply, url, subject)

    async def _describe_url(self, reply: m.Reply, url: str, subject: str) -> None:
        subject = " ".join(re.findall(r"[A-Za-z0-9]+", subject)) or "a picture"
        styles = [
            "in the style of watercolor",
            "cinematic lighting",
            "flat vector art",
            "35mm photo",
        ]
        ratios = ["--ar 1:1", "--ar 3:2", "--ar 2:3", "--ar 16:9"]
        texts = [f"a simulated {subject}, {s} {r}" for s, r in zip(styles, ratios, strict=True)]
        embed: Json = {
            "type": "rich",
            "description": m.numbered(texts),
            "image": {"url": url},
            "color": 0,
            "footer": {"text": "Simulated describe"},
        }
        await self.jobs.deferred_texts(reply, "describe", subject, texts, embed)

    async def _shorten(self, reply: m.Reply, prompt: str) -> None:
        words = prompt.split()
        texts = [" ".join(words[: max(1, len(words) - cut)]) for cut in range(5)]
        tokens = ", ".join(f"{w} (0.{9 - n % 9})" for n, w in enumerate(words[:6]))
        embed: Json = {
            "type": "rich",
            "description": f"**IMPORTANT TOKENS**\n{tokens}\n\n**SHORTENED OPTIONS**\n\n"
            + m.numbered(texts),
            "color": 0,
        }
        await self.jobs.deferred_texts(reply, "shorten", prompt, texts, embed)

    async def _show(self, reply: m.Reply, job_hash: str) -> None:
        job = self.world.jobs.get(job_hash)
        original = (
            self.world.messages[reply.account.channel_id].get(job.message_id or "")
            if job is not None
            else None
        )
        if job is None or original is None:
            self.jobs.fail(reply, "Invalid job id", f"No job `{job_hash}` found.")
            return
        shown = m.message(
            self.world,
            reply,
            original["content"],
            nonce=reply.nonce,
            attachments=original["attachments"],
            components=original["components"],
        )
        self.jobs.create(shown)
        # The seed comes by direct message, as after the ✉️ reaction on Discord.
        seed = m.message(
            self.world,
            reply,
            f"**Job ID**: {job.hash}\n**seed** {job.seed}",
            channel_id=reply.account.dm_channel_id,
            metadata=False,
        )
        seed["type"] = 0
        self.jobs.create(seed)

    # -- buttons ----------------------------------------------------------------------------

    async def _click(self, reply: m.Reply, it: Interaction) -> None:
        custom_id, message_id = it.custom_id, reply.parent_message_id or ""
        parent = self.world.jobs.get(self.world.message_jobs.get(message_id, ""))
        if parent is None:
            self.jobs.fail(reply, "Unknown job", "This job no longer exists.")
            return
        match = _CLICK.match(custom_id)
        if match is not None:
            await self._job_click(reply, parent, match["action"], int(match["index"]))
        elif custom_id.startswith("MJ::Outpaint::"):
            factor = "2" if custom_id.split("::")[2] == "50" else "1.5"
            await self._zoom(reply, parent, f"{parent.prompt} --zoom {factor}")
        elif custom_id.startswith("MJ::CustomZoom::"):
            self._modal(
                reply,
                parent,
                "zoom",
                f"MJ::OutpaintCustomZoomModal::{parent.hash}",
                "Zoom Out",
                "MJ::OutpaintCustomZoomModal::prompt",
                f"{parent.prompt} --zoom 2",
            )
        elif custom_id.startswith("MJ::Inpaint::"):
            modal = self._new_modal(reply, parent, "iframe", "")
            self.jobs.open_iframe(reply, "Vary (Region)", modal)
        elif custom_id.startswith("MJ::Job::PicReader::") or custom_id.startswith(
            "MJ::Job::PromptAnalyzer::"
        ):
            prompt = parent.texts[int(custom_id.rsplit("::", 1)[1]) - 1]
            await self.jobs.run(reply, JobSpec("grid", prompt, m.shown_prompt(prompt, self.script)))
        elif custom_id == "MJ::Picread::Retry":
            await self._describe_url(reply, parent.source_url, parent.prompt)

    async def _job_click(self, reply: m.Reply, parent: Job, action: str, index: int) -> None:
        remix = self.script.remix
        if action == "upsample":
            await self.jobs.upscale(reply, parent, index)
        elif action in ("variation", "low_variation", "high_variation"):
            strong = action != "low_variation"
            if remix:
                self._modal(
                    reply,
                    parent,
                    "remix",
                    f"MJ::RemixModal::{parent.hash}::{index}::{int(strong)}",
                    "Remix Prompt",
                    "MJ::RemixModal::new_prompt",
                    parent.prompt,
                    index,
                    "Strong" if strong else "Subtle",
                )
                return
            words = f"Variations ({'Strong' if strong else 'Subtle'})"
            await self.jobs.run(reply, JobSpec("grid", parent.prompt, parent.shown, words))
        elif action == "reroll":
            if remix:
                self._modal(
                    reply,
                    parent,
                    "reroll",
                    f"MJ::ImagineModal::{parent.message_id}",
                    "Imagine",
                    "MJ::ImagineModal::new_prompt",
                    parent.prompt,
                )
                return
            await self.jobs.run(reply, JobSpec("grid", parent.prompt, parent.shown))
        elif action.startswith("pan_"):
            direction = action[4:]
            if remix:
                self._modal(
                    reply,
                    parent,
                    "pan",
                    f"MJ::PanModal::{direction}::{parent.hash}::{index}",
                    "Pan",
                    "MJ::PanModal::prompt",
                    parent.prompt,
                    index,
                    direction,
                )
                return
            words = _PAN_WORDS.get(direction, "Pan")
            await self.jobs.run(reply, JobSpec("grid", parent.prompt, parent.shown, words))
        elif action.startswith("upsample_v"):
            flavour = action.rsplit("_", 1)[1]
            named = flavour in ("subtle", "creative")
            words = f"Upscaled ({flavour.capitalize() if named else flavour})"
            spec = JobSpec(
                "hd_upscale", parent.prompt, parent.shown, words, "Upscaling", parent.images[0]
            )
            await self.jobs.run(reply, spec)
        elif action.startswith("animate_"):
            motion = action.split("_")[1]
            if remix:
                self._modal(
                    reply,
                    parent,
                    "animate",
                    f"MJ::AnimateModal::{motion}::{parent.hash}::{index}",
                    "Animate",
                    "MJ::AnimateModal::prompt",
                    parent.prompt,
                    index,
                    motion,
                )
                return
            await self._animate(reply, parent, parent.prompt, motion)

    async def _zoom(self, reply: m.Reply, parent: Job, prompt: str) -> None:
        shown = m.shown_prompt(prompt, self.script)
        await self.jobs.run(reply, JobSpec("grid", prompt, shown, "Zoom Out"))

    async def _animate(self, reply: m.Reply, parent: Job, prompt: str, motion: str) -> None:
        shown = f"{m.shown_prompt(prompt, self.script)} --motion {motion} --video 1"
        source = parent.images[0] if parent.images else None
        await self.jobs.run(reply, JobSpec("video", prompt, shown, source=source))

    # -- modals -----------------------------------------------------------------------------

    def _new_modal(
        self,
        reply: m.Reply,
        parent: Job,
        kind: str,
        custom_id: str,
        index: int = 1,
        detail: str = "",
    ) -> Modal:
        return Modal(
            id=reply.interaction_id,
            custom_id=custom_id,
            account_token=reply.account.token,
            kind=kind,
            job_hash=parent.hash,
            interaction_id=reply.interaction_id,
            index=index,
            detail=detail,
            message_id=reply.parent_message_id or "",
        )

    def _modal(
        self, reply: m.Reply, parent: Job, kind: str, custom_id: str, title: str,
        input_id: str, value: str, index: int = 1, detail: str = "",
    ) -> None:  # fmt: skip
        modal = self._new_modal(reply, parent, kind, custom_id, index, detail)
        self.jobs.open_modal(reply, modal, title, input_id, value)

    async def _submit(self, reply: m.Reply, it: Interaction) -> None:
        modal = it.modal
        assert modal is not None
        self.world.modals.pop(modal.id, None)
        parent = self.world.jobs[modal.job_hash]
        prompt = next(iter(it.inputs.values()), "").strip() or parent.prompt
        if modal.kind == "zoom":
            await self._zoom(reply, parent, prompt)
        elif modal.kind == "remix":
            words = f"Remix ({modal.detail})"
            await self.jobs.run(
                reply, JobSpec("grid", prompt, m.shown_prompt(prompt, self.script), words)
            )
        elif modal.kind == "pan":
            words = _PAN_WORDS.get(modal.detail, "Pan")
            await self.jobs.run(
                reply, JobSpec("grid", prompt, m.shown_prompt(prompt, self.script), words)
            )
        elif modal.kind == "reroll":
            await self.jobs.run(reply, JobSpec("grid", prompt, m.shown_prompt(prompt, self.script)))
        elif modal.kind == "animate":
            await self._animate(reply, parent, prompt, modal.detail)

    def submit_iframe(self, token: str, prompt: str) -> bool:
        """The Vary (Region) editor's submit: starts "Variations (Region)"; False if unknown."""
        modal = self.world.iframes.pop(token, None)
        if modal is None:
            return False
        account = self.world.accounts[modal.account_token]
        parent = self.world.jobs[modal.job_hash]
        reply = m.Reply(account, modal.interaction_id, None, 3, parent_message_id=modal.message_id)
        text = prompt.strip() or parent.prompt
        spec = JobSpec("grid", text, m.shown_prompt(text, self.script), "Variations (Region)")
        self._spawn(self.jobs.run(reply, spec))
        return True


def _info(account: Account) -> Json:
    return {
        "type": "rich",
        "title": f"Your info - {account.username}",
        "description": (
            "**Subscription**: Pro (Active monthly, simulated)\n"
            f"**Job Mode**: {account.mode.capitalize()}\n"
            "**Visibility Mode**: Stealth\n"
            "**Fast Time Remaining**: 28.52/30.0 hours (95.07%)\n"
            f"**Queued Jobs (fast)**: 0\n**Running Jobs**: {account.running}"
        ),
        "color": 0,
    }
