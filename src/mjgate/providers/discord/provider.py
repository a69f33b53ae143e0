"""The discord channel's executor: a task becomes an interaction of one Midjourney account,
and the bot's messages become the task's progress and result.

``start`` posts the interaction (uploading files first, answering the modal or the Vary
(Region) editor the bot opens) and returns at once; the gateway's dispatches move the
account's tracker, and ``poll`` reads the task's state from it. A task this process does
not track (another process started it and died, or this process restarted) is adopted from
the reference its row keeps and found again in the channel's recent messages.
"""

from __future__ import annotations

import base64
import logging
import random
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from mjgate.domain.tasks import BotType, TaskStatus
from mjgate.errors import (
    ExecutorOutOfService,
    ProviderRejected,
    Refusal,
    StartRefused,
)
from mjgate.providers.base import Capabilities, ProviderJob, ProviderUpdate, ResultFile
from mjgate.providers.discord.account import AccountSession
from mjgate.providers.discord.config import (
    DISCORD_ACTIONS,
    MIDJOURNEY_APP_ID,
    NIJI_APP_ID,
    DiscordConfig,
)
from mjgate.providers.discord.errors import DiscordUnavailable
from mjgate.providers.discord.matching import (
    ExpectKind,
    JobRef,
    JobState,
    Phase,
    SeedFound,
)
from mjgate.providers.discord.messages import Described, Finished, ResultKind, Shortened
from mjgate.providers.discord.payloads import (
    Command,
    InteractionContext,
    attachment_option,
    attachment_ref,
    button_click,
    dimensions_option,
    iframe_job,
    link_option,
    modal_submit,
    prompt_option,
    slash_command,
)
from mjgate.providers.discord.plans import (
    ClickPlan,
    ResultRef,
    SlashPlan,
    Then,
    plan_for,
)
from mjgate.providers.discord.results import cut_grid, extension_of

log = logging.getLogger(__name__)

# Results that are a 2 × 2 grid: their four images are cut out for ``imageUrls``.
_GRIDS = frozenset({ResultKind.GRID, ResultKind.VARIATION, ResultKind.PAN, ResultKind.ZOOM})
_SEED_WAIT_SECONDS = 15.0
_ENVELOPE = "✉️"


class DiscordProvider:
    capabilities = Capabilities(image_seed=True, actions=DISCORD_ACTIONS)

    def __init__(
        self,
        config: DiscordConfig,
        *,
        rng: random.Random | None = None,
        gateway_options: Mapping[str, Any] | None = None,
        on_news: Callable[[], None] = lambda: None,
    ) -> None:
        self.config = config
        self.account = AccountSession(
            config, rng=rng, gateway_options=gateway_options, on_news=on_news
        )
        # The tracker version each task was last reported at: poll answers changes only.
        self._reported: dict[str, int] = {}

    # -- start -----------------------------------------------------------------------------

    async def start(self, job: ProviderJob) -> ProviderUpdate:
        plan = plan_for(job)
        application_id = self._application_for(job)
        try:
            if isinstance(plan, SlashPlan):
                nonce = await self._slash(job, plan, application_id)
            else:
                nonce = await self._press(job, plan, application_id)
        except ExecutorOutOfService as exc:
            # Nothing reached the bot: the task moves to another account.
            raise StartRefused(Refusal.OUT_OF_SERVICE, exc.message) from None
        except DiscordUnavailable as exc:
            raise StartRefused(Refusal.UNAVAILABLE, exc.message) from None
        except BaseException:
            self.account.forget(job.task_id)
            raise
        return ProviderUpdate(status=TaskStatus.SUBMITTED, provider_ref=JobRef(nonce).to_text())

    def _application_for(self, job: ProviderJob) -> str:
        if job.bot_type != BotType.NIJI_JOURNEY:
            return MIDJOURNEY_APP_ID
        if not self.config.niji:
            raise StartRefused(Refusal.REFUSED, "this account's channel has no niji・journey bot")
        return NIJI_APP_ID

    async def _slash(self, job: ProviderJob, plan: SlashPlan, application_id: str) -> str:
        inputs = await job.load_inputs() if plan.uploads else {}
        channel_id = self.config.channel_id
        options: list[dict[str, Any]] = []
        attachments: list[dict[str, Any]] = []
        references: list[tuple[str, bytes]] = []
        for upload in plan.uploads:
            data = inputs.get(upload.role)
            if data is None:
                raise ProviderRejected(f"the task's {upload.role} image is missing")
            if upload.option is None:
                references.append((upload.filename, data))
                continue
            uploaded = await self.account.rest.upload(channel_id, upload.filename, data)
            options.append(attachment_option(upload.option, len(attachments)))
            attachments.append(attachment_ref(len(attachments), upload.filename, uploaded))
        prompt = plan.prompt
        if references:
            urls = await self._reference_urls(references)
            prompt = " ".join([*urls, prompt]).strip()
        if plan.command in ("imagine", "shorten"):
            options.append(prompt_option(prompt))
        if plan.link is not None:
            options.append(link_option(plan.link))
        if plan.dimensions is not None:
            options.append(dimensions_option(plan.dimensions))
        nonce = self.account.nonce()
        self.account.tracker.expect(job.task_id, nonce=nonce, kind=plan.expect, prompt=prompt)

        def build(
            context: InteractionContext, nonce: str, command: Command | None
        ) -> Mapping[str, Any]:
            assert command is not None
            return slash_command(context, nonce, command, options, attachments)

        await self.account.post(application_id, nonce, build, plan.command)
        return nonce

    async def _reference_urls(self, files: Sequence[tuple[str, bytes]]) -> list[str]:
        """Reference images are posted to the channel; their CDN links go in the prompt."""
        channel_id = self.config.channel_id
        refs = []
        for n, (filename, data) in enumerate(files):
            uploaded = await self.account.rest.upload(channel_id, filename, data)
            refs.append(attachment_ref(n, filename, uploaded))
        await self.account.session_id()  # a message, like an interaction, needs the session
        message = await self.account.rest.post_message(
            channel_id, {"content": "", "nonce": self.account.nonce(), "attachments": refs}
        )
        urls = [
            str(a.get("url"))
            for a in message.get("attachments", [])
            if isinstance(a, Mapping) and a.get("url")
        ]
        if len(urls) != len(files):
            raise ProviderRejected("Discord did not keep the reference images")
        return urls

    async def _press(self, job: ProviderJob, plan: ClickPlan, application_id: str) -> str:
        nonce = self.account.nonce()
        first_kind = {
            Then.MODAL: ExpectKind.MODAL_CLICK,
            Then.IFRAME: ExpectKind.IFRAME_CLICK,
        }.get(plan.then, plan.expect)
        self._expect(job, plan, nonce, first_kind)

        def click(
            context: InteractionContext, nonce: str, command: Command | None
        ) -> Mapping[str, Any]:
            return button_click(context, nonce, plan.message_id, plan.message_flags, plan.custom_id)

        await self.account.post(application_id, nonce, click)
        if plan.then == Then.NOTHING:
            return nonce
        opened = await self.account.wait_for(
            job.task_id,
            lambda s: s.phase is not Phase.WAITING,
            self.config.modal_wait,
        )
        self.account.check_in_service()
        if opened is None or opened.phase is Phase.WAITING:
            if plan.then == Then.MAYBE_MODAL:
                return nonce  # no remix form: the job simply runs; polls follow it
            raise ProviderRejected(
                f"Midjourney did not open its form within {self.config.modal_wait:g} s"
            )
        if opened.phase is Phase.MODAL and opened.modal is not None:
            return await self._submit_modal(job, plan, application_id, opened)
        if opened.phase is Phase.IFRAME and opened.iframe_token is not None:
            await self._submit_region(job, plan, opened.iframe_token)
            return nonce
        if opened.phase is Phase.FAILED:
            raise ProviderRejected(opened.fail_reason or "Midjourney refused the button")
        return nonce  # already queued or running: nothing to answer

    async def _submit_modal(
        self, job: ProviderJob, plan: ClickPlan, application_id: str, opened: JobState
    ) -> str:
        form = opened.modal
        assert form is not None
        nonce = self.account.nonce()
        self._expect(job, plan, nonce, plan.expect)
        values = form.filled(job.prompt)

        def submit(
            context: InteractionContext, nonce: str, command: Command | None
        ) -> Mapping[str, Any]:
            return modal_submit(context, nonce, form.modal_id, form.custom_id, values)

        await self.account.post(application_id, nonce, submit)
        return nonce

    async def _submit_region(self, job: ProviderJob, plan: ClickPlan, token: str) -> None:
        inputs = await job.load_inputs()
        mask = inputs.get("mask")
        if mask is None:
            raise ProviderRejected("Vary (Region) needs the mask the modal gave")
        # The editor's job carries no nonce of ours: it is matched as the button's result.
        self._expect(job, plan, None, plan.expect)
        payload = iframe_job(token, base64.b64encode(mask).decode("ascii"), job.prompt)
        await self.account.rest.submit_iframe_job(payload)

    def _expect(
        self, job: ProviderJob, plan: ClickPlan, nonce: str | None, kind: ExpectKind
    ) -> None:
        self.account.tracker.expect(
            job.task_id,
            nonce=nonce,
            kind=kind,
            prompt=plan.prompt,
            parent_message_id=plan.message_id,
            parent_hash=plan.parent_hash,
            index=plan.index,
        )

    # -- poll ------------------------------------------------------------------------------

    async def poll(self, job: ProviderJob, now: int) -> ProviderUpdate | None:
        if not job.provider_ref:
            # Its start has not answered yet (it may be running right now, in this process):
            # the start decides. Failing it here as out of service would beat the start's
            # refusal, which moves the task to another account instead.
            return None
        self.account.check_in_service()
        self.account.connect()
        state = self.account.tracker.state(job.task_id)
        if state is None:
            state = await self._adopt(job)
            if state is None:
                return None
        if self._reported.get(job.task_id) == state.version:
            return None
        update = await self._update_from(state)
        self._reported[job.task_id] = state.version
        if update is not None and update.status is not None and update.status.is_final:
            self._reported.pop(job.task_id, None)
            self.account.forget(job.task_id)
        return update

    async def _adopt(self, job: ProviderJob) -> JobState | None:
        """Follow a task this process did not start, from the reference in its row."""
        if not job.provider_ref:
            return None
        try:
            ref = JobRef.from_text(job.provider_ref)
        except ValueError:
            raise ProviderRejected("the task's Discord reference is unreadable") from None
        try:
            plan = plan_for(job)
        except ProviderRejected:
            return None
        if isinstance(plan, SlashPlan):
            self.account.tracker.adopt(job.task_id, ref, plan.expect, plan.prompt)
        else:
            self.account.tracker.adopt(
                job.task_id,
                ref,
                plan.expect,
                plan.prompt,
                parent_message_id=plan.message_id,
                parent_hash=plan.parent_hash,
                index=plan.index,
            )
        log.info("task %s: adopted from its Discord reference; catching up", job.task_id)
        # Live first, then history: a message posted before READY is in the history, one
        # posted after it arrives live; nothing falls between the two.
        await self.account.session_id()
        await self.account.catch_up(adopted=True)
        return self.account.tracker.state(job.task_id)

    async def _update_from(self, state: JobState) -> ProviderUpdate | None:
        ref = state.ref.to_text()
        phase = state.phase
        if phase in (Phase.WAITING, Phase.MODAL, Phase.IFRAME):
            return None
        if phase is Phase.QUEUED:
            return ProviderUpdate(status=TaskStatus.IN_PROGRESS, progress=0, provider_ref=ref)
        if phase is Phase.RUNNING:
            return ProviderUpdate(
                status=TaskStatus.IN_PROGRESS, progress=state.progress, provider_ref=ref
            )
        if phase is Phase.FAILED:
            return ProviderUpdate(
                status=TaskStatus.FAILURE, fail_reason=state.fail_reason or "Midjourney failed"
            )
        if phase is Phase.ACCOUNT_PROBLEM:
            problem = state.account_problem
            raise ExecutorOutOfService(problem.reason if problem else "the account has a problem")
        return await self._success(state)

    async def _success(self, state: JobState) -> ProviderUpdate:
        result = state.result
        message_id = state.result_message_id or state.first_message_id or ""
        ref = ResultRef(message_id, state.result_flags, state.job_hash).to_text()
        if isinstance(result, Described):
            image = await self._download(result.image_url) if result.image_url else None
            text = "\n\n".join(result.prompts)
            return ProviderUpdate(
                status=TaskStatus.SUCCESS,
                image=image,
                buttons=result.buttons,
                final_prompt=text,
                prompt_en=text,
                texts=result.prompts,
                message_hash=state.job_hash,
                provider_ref=ref,
            )
        if isinstance(result, Shortened):
            return ProviderUpdate(
                status=TaskStatus.SUCCESS,
                buttons=result.buttons,
                final_prompt="\n".join(result.prompts),
                texts=result.prompts,
                message_hash=state.job_hash,
                provider_ref=ref,
            )
        if not isinstance(result, Finished):
            raise ProviderRejected("Midjourney answered something this task cannot use")
        image = await self._download(result.image_url) if result.image_url else None
        video = await self._download(result.video_url) if result.video_url else None
        if image is None and video is None:
            raise ProviderRejected("Midjourney's result has no file")
        images: tuple[ResultFile, ...] = ()
        if image is not None and result.kind in _GRIDS:
            images = await cut_grid(image.data)
        return ProviderUpdate(
            status=TaskStatus.SUCCESS,
            image=image,
            images=images,
            video=video,
            buttons=result.buttons,
            message_hash=result.job_hash or state.job_hash,
            final_prompt=result.prompt or None,
            provider_ref=ref,
        )

    async def _download(self, url: str) -> ResultFile:
        data, content_type = await self.account.rest.download(url, self.config.download_max_bytes)
        return ResultFile(data, extension_of(data, content_type))

    # -- the rest --------------------------------------------------------------------------

    async def cancel(self, job: ProviderJob) -> None:
        # Midjourney has no way to stop a job from Discord: we stop following it.
        self._reported.pop(job.task_id, None)
        self.account.forget(job.task_id)

    async def image_seed(self, job: ProviderJob) -> str | None:
        """React ✉️ to the result; the bot sends the seed by direct message."""
        if not job.provider_ref:
            return None
        try:
            result = ResultRef.from_text(job.provider_ref)
        except ValueError:
            return None
        if result.job_hash is None:
            return None
        asking = f"seed:{job.task_id}"
        self.account.tracker.expect(
            asking,
            nonce=None,
            kind=ExpectKind.SEED,
            prompt="",
            parent_message_id=result.message_id,
            parent_hash=result.job_hash,
        )
        try:
            await self.account.session_id()  # the answer comes over the gateway
            await self.account.rest.add_reaction(
                self.config.channel_id, result.message_id, _ENVELOPE
            )
            state = await self.account.wait_for(
                asking, lambda s: s.phase is Phase.FINISHED, _SEED_WAIT_SECONDS
            )
        finally:
            self.account.forget(asking)
        if state is None or not isinstance(state.result, SeedFound):
            return None
        return str(state.result.seed)

    async def close(self) -> None:
        await self.account.close()
