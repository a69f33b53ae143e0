"""The Midjourney bot's answers to interactions: the reply every accepted interaction gets
(INTERACTION_SUCCESS, or the CAPTCHA iframe), the slash commands (imagine, blend, describe,
shorten, show, the mode switches, info, settings); clicks and modal submits go to buttons.py."""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Coroutine
from typing import Any

from mjgate.discord_sim import messages as m
from mjgate.discord_sim.buttons import Buttons
from mjgate.discord_sim.gateway import Gateway
from mjgate.discord_sim.interactions import Interaction
from mjgate.discord_sim.jobs import Jobs, JobSpec
from mjgate.discord_sim.scripts import Script
from mjgate.discord_sim.state import MIDJOURNEY_APP_ID, Account, Job, Json, World

log = logging.getLogger(__name__)

_MODES = {"fast": "fast", "relax": "relaxed", "turbo": "turbo"}


class Bot:
    """Turns accepted interactions into the bot's behaviour (each on a task of its own)."""

    def __init__(self, world: World, gateway: Gateway, script: Script) -> None:
        self.world = world
        self.gateway = gateway
        self.script = script
        self.jobs = Jobs(world, gateway, script)
        self.buttons = Buttons(world, script, self.jobs)
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
                await self.buttons.click(reply, it)
            else:
                await self.buttons.submit(reply, it)
        except Exception:  # a bug here must not kill the server; tests see the counter
            self.world.counters["bot_errors"] += 1
            log.exception("the simulated bot failed on an interaction")

    def submit_iframe(self, token: str, prompt: str) -> bool:
        """The Vary (Region) editor's submit: starts "Variations (Region)"; False if unknown."""
        work = self.buttons.iframe_job(token, prompt)
        if work is None:
            return False
        self._spawn(work)
        return True

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
        texts, embed = m.describe_answer(url, subject)
        await self.jobs.deferred_texts(reply, "describe", subject, texts, embed)

    async def _shorten(self, reply: m.Reply, prompt: str) -> None:
        texts, embed = m.shorten_answer(prompt)
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
        self._seed_message(reply, job)

    def send_seed(self, account: Account, message_id: str) -> None:
        """The ✉️ reaction on a result: its job's seed by direct message (nothing for
        a message that is no job's result, as on Discord)."""
        job_hash = self.world.message_jobs.get(message_id)
        job = self.world.jobs.get(job_hash or "")
        if job is None:
            return
        reply = m.Reply(account, self.world.ids.next(), None, 3)
        self._seed_message(reply, job)

    def _seed_message(self, reply: m.Reply, job: Job) -> None:
        seed = m.message(
            self.world,
            reply,
            f"**Job ID**: {job.hash}\n**seed** {job.seed}",
            channel_id=reply.account.dm_channel_id,
            metadata=False,
        )
        seed["type"] = 0
        self.jobs.create(seed)


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
