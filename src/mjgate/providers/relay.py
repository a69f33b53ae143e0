"""The relay provider: a channel that is another /mj server (midjourney-proxy, a gateway,
another mjgate), followed by callbacks and by batched, adaptive polling.

Status arrives two ways. The upstream gets our per-task callback URL as its notifyHook, and
we poll ``list-by-condition`` in batches of at most 100 ids: often while a task is young or
moving, rarely while it sits still, and not at all while callbacks keep arriving. A task the
upstream stops returning fails after a grace period. Result files are downloaded into our
own storage, so clients only ever see our URLs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from mjgate.domain.tasks import TaskAction, TaskStatus
from mjgate.errors import ProviderRejected, ProviderRetryable, StartRefused
from mjgate.providers.base import Capabilities, ProviderJob, ProviderUpdate, ResultFile
from mjgate.providers.outbound import OutboundFetcher
from mjgate.providers.relay_config import RelayConfig
from mjgate.providers.relay_http import LIST_BATCH, RelayClient
from mjgate.providers.relay_requests import build_request, modal_body
from mjgate.providers.relay_wire import (
    UpstreamTask,
    read_task,
    read_task_list,
    refuses_callback,
)

_NUMBERED = re.compile(r"(?:^|\n)\s*\d\ufe0f?\u20e3\s*(.+?)(?=\n\s*\d\ufe0f?\u20e3|\Z)", re.S)


def _refused(reason: str) -> str:
    return f"upstream refused the task: {reason}"


@dataclass
class _Watch:
    """What this process knows of one task's rhythm, for the adaptive poll."""

    last_poll: int = 0
    last_change: int = 0
    last_callback: int = 0
    missing_since: int | None = None
    fingerprint: tuple[object, ...] = ()


class RelayProvider:
    capabilities = Capabilities(
        starts_on_submit=True,  # the submit path hands work over while the client waits
        polls_in_batches=True,
        calls_back=True,
        image_seed=True,
    )

    def __init__(
        self,
        config: RelayConfig,
        clock: Callable[[], int],
        client: RelayClient | None = None,
        fetcher: OutboundFetcher | None = None,
    ) -> None:
        self.config = config
        self.client = client or RelayClient(config, fetcher=fetcher)
        self._clock = clock
        self._watches: dict[str, _Watch] = {}

    # -- start ------------------------------------------------------------------------

    async def start(self, job: ProviderJob) -> ProviderUpdate:
        """Submit upstream once. A refusal raises ``StartRefused``; a lost answer raises
        ``SubmitLost`` (the task may exist upstream, so it is never sent again)."""
        inputs = await job.load_inputs()
        request = build_request(job, inputs)
        reply = await self.client.submit(request.route, request.body)
        if "notifyHook" in request.body and refuses_callback(reply):
            # The upstream will not call us back (a mjgate upstream refuses a hook on a
            # private network): submit again at once without one; polling follows the task.
            body = {k: v for k, v in request.body.items() if k != "notifyHook"}
            reply = await self.client.submit(request.route, body)
        if not reply.accepted or reply.upstream_id is None:
            assert reply.refusal is not None
            raise StartRefused(reply.refusal, _refused(self._scrub(reply.reason)), reply.properties)
        upstream_id = reply.upstream_id
        if reply.modal:  # our client already answered our own modal: confirm the upstream's
            answer = await self.client.submit("modal", modal_body(job, upstream_id, inputs))
            if not answer.accepted:
                assert answer.refusal is not None
                raise StartRefused(answer.refusal, _refused(self._scrub(answer.reason)))
            upstream_id = answer.upstream_id or upstream_id
        now = self._clock()
        self._watches[job.task_id] = _Watch(last_poll=now, last_change=now)
        return ProviderUpdate(status=TaskStatus.SUBMITTED, provider_ref=upstream_id)

    # -- follow ---------------------------------------------------------------------------

    async def poll(self, job: ProviderJob, now: int) -> ProviderUpdate | None:
        return (await self.poll_many([job], now)).get(job.task_id)

    def _due(self, job: ProviderJob, now: int) -> bool:
        watch = self._watches.setdefault(job.task_id, _Watch())
        if now - watch.last_callback < self.config.callback_fresh_ms:
            return False
        moving = max(job.started_at, watch.last_change)
        interval = (
            self.config.poll_fast_ms
            if now - moving < self.config.young_ms
            else self.config.poll_slow_ms
        )
        return now - watch.last_poll >= interval

    async def poll_many(self, jobs: Sequence[ProviderJob], now: int) -> dict[str, ProviderUpdate]:
        """Updates for the jobs that are due, from one list call per 100 of them."""
        updates: dict[str, ProviderUpdate] = {}
        due: list[ProviderJob] = []
        for job in jobs:
            if job.provider_ref is None:
                lost = self._lost_submit(job, now)
                if lost is not None:
                    updates[job.task_id] = lost
            elif self._due(job, now):
                due.append(job)
        for start in range(0, len(due), LIST_BATCH):
            batch = due[start : start + LIST_BATCH]
            found = read_task_list(
                await self.client.list_tasks([j.provider_ref or "" for j in batch])
            )
            for job in batch:
                watch = self._watches[job.task_id]
                watch.last_poll = now
                snapshot = found.get(job.provider_ref or "")
                update = (
                    self._vanished(job, watch, now)
                    if snapshot is None
                    else await self._observe(job, watch, snapshot, now)
                )
                if update is not None:
                    updates[job.task_id] = update
        return updates

    def _lost_submit(self, job: ProviderJob, now: int) -> ProviderUpdate | None:
        """A task handed over but whose upstream id we never learned: not sent again."""
        waited = now - job.started_at
        if waited < self.config.submit_timeout * 1000 + self.config.lost_submit_grace_ms:
            return None  # the submit may still be under way
        return ProviderUpdate(
            status=TaskStatus.FAILURE,
            fail_reason=(
                "the upstream's answer to the submit was lost; the task was not sent again "
                "so that it cannot run or be charged twice"
            ),
        )

    def _vanished(self, job: ProviderJob, watch: _Watch, now: int) -> ProviderUpdate | None:
        if watch.missing_since is None:
            watch.missing_since = now
        if now - watch.missing_since < self.config.vanish_grace_ms:
            return None
        self._watches.pop(job.task_id, None)
        return ProviderUpdate(
            status=TaskStatus.FAILURE, fail_reason="the upstream no longer knows this task"
        )

    async def _observe(
        self, job: ProviderJob, watch: _Watch, snapshot: UpstreamTask, now: int
    ) -> ProviderUpdate | None:
        watch.missing_since = None
        if snapshot.fingerprint == watch.fingerprint:
            return None
        update = await self._safe_update(job, snapshot)
        if update is None:
            return None  # a result file is not ready to download: asked again next round
        watch.fingerprint = snapshot.fingerprint
        watch.last_change = now
        if update.status is not None and update.status.is_final:
            self._watches.pop(job.task_id, None)
        return update

    async def update_from_callback(
        self, job: ProviderJob, body: object, now: int
    ) -> ProviderUpdate | None:
        """An upstream's POST to our callback URL for this task."""
        snapshot = read_task(body)
        if snapshot is None:
            return None
        if job.provider_ref is not None and snapshot.upstream_id != job.provider_ref:
            return None  # a callback for another upstream task: not this one's word
        watch = self._watches.setdefault(job.task_id, _Watch())
        watch.last_callback = now
        update = await self._safe_update(job, snapshot)
        if update is None:
            watch.last_callback = 0  # polling fetches the files at its next round
            return None
        watch.fingerprint = snapshot.fingerprint
        watch.last_change = now
        return update

    async def _safe_update(self, job: ProviderJob, snapshot: UpstreamTask) -> ProviderUpdate | None:
        """A result we refuse to re-host fails the task; one not downloadable yet waits."""
        try:
            return await self._update_from(job, snapshot)
        except ProviderRetryable:
            return None
        except ProviderRejected as exc:
            return ProviderUpdate(status=TaskStatus.FAILURE, fail_reason=exc.message)

    async def _update_from(self, job: ProviderJob, snapshot: UpstreamTask) -> ProviderUpdate:
        files: dict[str, object] = {}
        if snapshot.status == TaskStatus.SUCCESS:
            files = await self._rehost(job, snapshot)
        reason = self._scrub(snapshot.fail_reason) if snapshot.fail_reason else None
        text = snapshot.final_prompt or snapshot.prompt_en or ""
        texts = (
            tuple(m.strip() for m in _NUMBERED.findall(text))
            if job.action in (TaskAction.DESCRIBE, TaskAction.SHORTEN)
            and snapshot.status == TaskStatus.SUCCESS
            else None
        )
        image = files.get("image")
        video = files.get("video")
        images = files.get("images", ())
        return ProviderUpdate(
            status=snapshot.status,
            progress=snapshot.progress,
            fail_reason=reason,
            image=image if isinstance(image, ResultFile) else None,
            images=images if isinstance(images, tuple) else (),
            video=video if isinstance(video, ResultFile) else None,
            buttons=snapshot.buttons if snapshot.status == TaskStatus.SUCCESS else None,
            message_hash=snapshot.message_hash,
            final_prompt=snapshot.final_prompt,
            prompt_en=snapshot.prompt_en,
            texts=texts or None,
            provider_ref=snapshot.upstream_id,
            start_time=snapshot.start_time,
            finish_time=snapshot.finish_time if snapshot.status.is_final else None,
        )

    async def _rehost(self, job: ProviderJob, snapshot: UpstreamTask) -> dict[str, object]:
        """The upstream's result files, downloaded: clients get our URLs, never theirs."""
        files: dict[str, object] = {}
        if snapshot.image_url:
            data, extension = await self.client.download(snapshot.image_url, video=False)
            files["image"] = ResultFile(data, extension)
        if len(snapshot.image_urls) > 1:
            parts = []
            for url in snapshot.image_urls:
                data, extension = await self.client.download(url, video=False)
                parts.append(ResultFile(data, extension))
            files["images"] = tuple(parts)
        if snapshot.video_urls:
            data, extension = await self.client.download(snapshot.video_urls[0], video=True)
            files["video"] = ResultFile(data, extension)
        return files

    # -- the rest -------------------------------------------------------------------------

    async def close(self) -> None:
        await self.client.close()

    async def cancel(self, job: ProviderJob) -> None:
        self._watches.pop(job.task_id, None)
        if job.provider_ref is not None:
            await self.client.cancel(job.provider_ref)

    async def image_seed(self, job: ProviderJob) -> str:
        if job.provider_ref is None:
            raise ProviderRejected("the task has no upstream id")
        return await self.client.image_seed(job.provider_ref)

    def _scrub(self, text: str) -> str:
        """An upstream's words, without its address or our secret for it."""
        for secret in (self.config.base_url, self.config.upstream_host, self.config.secret):
            if secret:
                text = text.replace(secret, "[upstream]")
        return text
