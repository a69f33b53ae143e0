"""The bot's answers to button clicks and modal submits: which custom_id starts which job
(upscale, variation, reroll, pan, zoom, HD upscale, video, describe/shorten follow-ups) and
which opens a modal (Custom Zoom, remix) or the Vary (Region) iframe."""

from __future__ import annotations

import re
from collections.abc import Coroutine
from typing import Any

from mjgate.discord_sim import messages as m
from mjgate.discord_sim.interactions import Interaction
from mjgate.discord_sim.jobs import Jobs, JobSpec
from mjgate.discord_sim.scripts import Script
from mjgate.discord_sim.state import Job, Modal, World

_CLICK = re.compile(r"MJ::JOB::(?P<action>[a-z0-9_]+)::(?P<index>\d+)::(?P<hash>[0-9a-f-]{36})")
_PAN_WORDS = {"left": "Pan Left", "right": "Pan Right", "up": "Pan Up", "down": "Pan Down"}


class Buttons:
    """Clicks (interaction type 3) and modal submits (type 5) of accepted interactions."""

    def __init__(self, world: World, script: Script, jobs: Jobs) -> None:
        self.world = world
        self.script = script
        self.jobs = jobs

    # -- buttons ----------------------------------------------------------------------------

    async def click(self, reply: m.Reply, it: Interaction) -> None:
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
            texts, embed = m.describe_answer(parent.source_url, parent.prompt)
            await self.jobs.deferred_texts(reply, "describe", parent.prompt, texts, embed)

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

    async def submit(self, reply: m.Reply, it: Interaction) -> None:
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

    def iframe_job(self, token: str, prompt: str) -> Coroutine[Any, Any, Job | None] | None:
        """The job a Vary (Region) submit starts, or None for a token the bot never gave."""
        modal = self.world.iframes.pop(token, None)
        if modal is None:
            return None
        account = self.world.accounts[modal.account_token]
        parent = self.world.jobs[modal.job_hash]
        reply = m.Reply(account, modal.interaction_id, None, 3, parent_message_id=modal.message_id)
        text = prompt.strip() or parent.prompt
        spec = JobSpec("grid", text, m.shown_prompt(text, self.script), "Variations (Region)")
        return self.jobs.run(reply, spec)
