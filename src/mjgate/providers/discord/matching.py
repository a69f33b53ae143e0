"""Which of our tasks a Discord event belongs to, and where each task stands (DISCORD.md §5).

One ``JobTracker`` per account. Pure: events go in, task states come out, the clock is
injected. Matching goes from the surest key to the loosest: a message already claimed (its
edits), the nonce, the interaction id, then, for messages that carry none of those (completions
carry no nonce), the job hash, the parent message with the image index, and last the prompt
as Midjourney rewrote it, among pending jobs of a compatible kind, oldest first. A message is
claimed by at most one task, so one result never finishes two.
"""

from __future__ import annotations

import itertools
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from mjgate.providers.discord.jobs import (
    TERMINAL,
    ExpectKind,
    JobRef,
    JobState,
    Phase,
    SeedFound,
    TrackedJob,
)
from mjgate.providers.discord.messages import (
    AccountProblem,
    BotMessage,
    BotQueueNotice,
    Described,
    Event,
    Failed,
    Finished,
    Progress,
    Queued,
    ResultKind,
    Shortened,
    Unrelated,
    classify,
    job_hashes_of,
    prompt_matches,
    read_message,
    seed_of,
)
from mjgate.providers.discord.payloads import (
    DISCORD_EPOCH_MS,
    iframe_token,
    modal_inputs,
)

# The job vocabulary lives in jobs.py; the provider may take it from here with the tracker.
__all__ = [
    "CAPTCHA_TITLE",
    "TERMINAL",
    "ExpectKind",
    "JobRef",
    "JobState",
    "JobTracker",
    "Phase",
    "SeedFound",
]

MESSAGE_CREATE = "MESSAGE_CREATE"
MESSAGE_UPDATE = "MESSAGE_UPDATE"
MESSAGE_DELETE = "MESSAGE_DELETE"
INTERACTION_SUCCESS = "INTERACTION_SUCCESS"
INTERACTION_MODAL_CREATE = "INTERACTION_MODAL_CREATE"
INTERACTION_IFRAME_MODAL_CREATE = "INTERACTION_IFRAME_MODAL_CREATE"

CAPTCHA_TITLE = "Action required to continue"
_UNCLAIMED_KEPT = 100
_SHORT_CONTENT = 80
_RETIRED_KEPT = 1000
_MIN_SNOWFLAKE_DIGITS = 15  # shorter digit strings are not real snowflakes (tests, junk)

# Phases in which a job still waits for the bot's messages (a modal waits for us instead).
_LISTENING = frozenset({Phase.WAITING, Phase.QUEUED, Phase.RUNNING})

# Which of our jobs a message about a result kind can be, when only weak keys match.
_COMPATIBLE: Mapping[ResultKind, frozenset[ExpectKind]] = {
    ResultKind.GRID: frozenset({ExpectKind.GRID, ExpectKind.BLEND, ExpectKind.SHOW}),
    ResultKind.UPSCALE: frozenset({ExpectKind.UPSCALE, ExpectKind.SHOW}),
    ResultKind.HD_UPSCALE: frozenset({ExpectKind.HD_UPSCALE, ExpectKind.SHOW}),
    ResultKind.VARIATION: frozenset({ExpectKind.VARIATION, ExpectKind.SHOW}),
    ResultKind.PAN: frozenset({ExpectKind.PAN, ExpectKind.SHOW}),
    ResultKind.ZOOM: frozenset({ExpectKind.ZOOM, ExpectKind.SHOW}),
    ResultKind.VIDEO: frozenset({ExpectKind.VIDEO, ExpectKind.SHOW}),
}


class JobTracker:
    """The pending jobs of one account and what the bot said about each."""

    def __init__(
        self,
        channel_id: str,
        clock: Callable[[], float],
        dm_channel_ids: Iterable[str] = (),
        clock_skew_ms: int = 15_000,
    ) -> None:
        self.channel_id = channel_id
        # How far our clock (which dates the nonces) may be ahead of Discord's.
        self._clock_skew_ms = clock_skew_ms
        self.dm_channel_ids = set(dm_channel_ids)
        self._clock = clock
        self._jobs: dict[str, TrackedJob] = {}
        self._by_nonce: dict[str, str] = {}
        self._by_interaction: dict[str, str] = {}
        self._by_message: dict[str, str] = {}
        # The last full payload of each claimed message: MESSAGE_UPDATE may carry only the
        # fields that changed, and is read merged over it.
        self._payloads: dict[str, dict[str, Any]] = {}
        self._order = itertools.count()
        # Messages of tasks finished and forgotten: the bot edits a grid when one of its
        # buttons is pressed, and that edit must not pass for a new job with the same prompt.
        self._retired: dict[str, None] = {}
        self.unclaimed: deque[tuple[str, str]] = deque(maxlen=_UNCLAIMED_KEPT)
        self._account_problem: AccountProblem | None = None

    # --- what the provider tells us -----------------------------------------------------------

    def watch_dm_channel(self, channel_id: str) -> None:
        """Also read the bot's DMs in ``channel_id`` (seed answers), once the provider knows it."""
        self.dm_channel_ids.add(channel_id)

    def expect(
        self,
        task_id: str,
        *,
        nonce: str | None,
        kind: ExpectKind,
        prompt: str,
        parent_message_id: str | None = None,
        parent_hash: str | None = None,
        index: int | None = None,
    ) -> None:
        """Track an interaction just posted; again for a task after its modal is submitted."""
        previous = self._jobs.get(task_id)
        self._unindex(task_id)
        job = TrackedJob(
            task_id=task_id,
            kind=kind,
            prompt=prompt,
            nonce=nonce or None,
            parent_message_id=parent_message_id,
            parent_hash=parent_hash.lower() if parent_hash else None,
            index=index,
            order=next(self._order),
            changed_at=self._clock(),
            version=previous.version + 1 if previous else 1,
        )
        self._jobs[task_id] = job
        if job.nonce:
            self._by_nonce[job.nonce] = task_id

    def adopt(
        self,
        task_id: str,
        ref: JobRef,
        kind: ExpectKind,
        prompt: str,
        *,
        parent_message_id: str | None = None,
        parent_hash: str | None = None,
        index: int | None = None,
    ) -> None:
        """Rebuild tracking of a task another process started, from its persisted ``JobRef``."""
        self.expect(
            task_id,
            nonce=ref.nonce,
            kind=kind,
            prompt=prompt,
            parent_message_id=parent_message_id,
            parent_hash=parent_hash,
            index=index,
        )
        job = self._jobs[task_id]
        job.interaction_id = ref.interaction_id
        job.job_hash = ref.job_hash.lower() if ref.job_hash else None
        if ref.interaction_id:
            self._by_interaction[ref.interaction_id] = task_id
        if ref.first_message_id:
            job.first_message_id = ref.first_message_id
            job.phase = Phase.QUEUED
            self._claim(job, ref.first_message_id)

    def interaction_succeeded(self, interaction_id: str, nonce: str) -> None:
        """Discord accepted our interaction ``nonce`` as ``interaction_id``."""
        self._interaction_ok(interaction_id, nonce)

    def forget(self, task_id: str) -> None:
        job = self._jobs.get(task_id)
        if job is not None and job.phase in TERMINAL:
            for message_id in job.claimed:
                self._retired[message_id] = None
            while len(self._retired) > _RETIRED_KEPT:
                del self._retired[next(iter(self._retired))]
        self._unindex(task_id)
        self._jobs.pop(task_id, None)

    def state(self, task_id: str) -> JobState | None:
        job = self._jobs.get(task_id)
        return job.snapshot() if job else None

    @property
    def account_problem(self) -> AccountProblem | None:
        """The last account-wide problem the bot reported for one of our jobs, if any."""
        return self._account_problem

    def clear_account_problem(self) -> None:
        self._account_problem = None

    # --- what Discord tells us ----------------------------------------------------------------

    def on_dispatch(self, event_name: str, data: Mapping[str, Any]) -> str | None:
        """Feed one gateway dispatch; the task it belongs to, or None."""
        if not isinstance(data, Mapping):
            return None
        channel = data.get("channel_id")
        if event_name in (MESSAGE_CREATE, MESSAGE_UPDATE):
            if channel in self.dm_channel_ids:
                return self._on_dm(data)
            if channel != self.channel_id:
                return None
            return self._on_message(data)
        # Interaction events may name no channel; only our own nonces can match them anyway.
        if channel is not None and channel != self.channel_id:
            return None
        if event_name == MESSAGE_DELETE:
            # The bot deletes the progress message when the result is posted: nothing to do.
            return self._live_task(self._by_message.get(_text(data.get("id"))))
        if event_name == INTERACTION_SUCCESS:
            return self._interaction_ok(_text(data.get("id")), _text(data.get("nonce")))
        if event_name == INTERACTION_MODAL_CREATE:
            return self._modal_created(data)
        if event_name == INTERACTION_IFRAME_MODAL_CREATE:
            return self._iframe_created(data)
        return None

    def catch_up(self, messages: Sequence[Mapping[str, Any]]) -> list[str]:
        """Feed messages fetched by REST (newest first) in the order they were posted.

        Returns the tasks they matched. Feeding the same messages again changes nothing.
        """
        matched: dict[str, None] = {}
        for raw in reversed(messages):
            task_id = self.on_dispatch(MESSAGE_UPDATE, raw) if isinstance(raw, Mapping) else None
            if task_id is not None:
                matched[task_id] = None
        return list(matched)

    # --- events -------------------------------------------------------------------------------

    def _interaction_ok(self, interaction_id: str, nonce: str) -> str | None:
        task_id = self._live_task(self._by_nonce.get(nonce))
        if task_id is None or not interaction_id:
            return None
        self._by_interaction[interaction_id] = task_id
        self._set(self._jobs[task_id], interaction_id=interaction_id)
        return task_id

    def _modal_created(self, data: Mapping[str, Any]) -> str | None:
        task_id = self._live_task(self._by_nonce.get(_text(data.get("nonce"))))
        if task_id is None:
            return None
        job = self._jobs[task_id]
        try:
            form = modal_inputs(data)
        except ValueError:
            self._set(job, phase=Phase.FAILED, fail_reason="Midjourney opened a malformed modal")
            return task_id
        if job.phase not in TERMINAL:
            self._set(job, phase=Phase.MODAL, modal=form)
        return task_id

    def _iframe_created(self, data: Mapping[str, Any]) -> str | None:
        task_id = self._live_task(self._by_nonce.get(_text(data.get("nonce"))))
        if task_id is None:
            return None
        job = self._jobs[task_id]
        if job.phase in TERMINAL:
            return task_id
        title = _text(data.get("title"))
        try:
            if title.strip().lower() == CAPTCHA_TITLE.lower():
                raise ValueError(title)
            token = iframe_token(data)
        except ValueError:
            # The CAPTCHA, or an editor we don't know: either way a person must look.
            problem = AccountProblem(f"{CAPTCHA_TITLE}: {title or 'Midjourney asks for a person'}")
            self._flag_account(job, problem)
            return task_id
        self._set(job, phase=Phase.IFRAME, iframe_token=token)
        return task_id

    def _on_dm(self, raw: Mapping[str, Any]) -> str | None:
        try:
            msg = read_message(raw)
        except ValueError:
            return None
        found = seed_of(msg) if msg.is_bot else None
        if found is None:
            return None
        job_hash, seed = found
        for job in self._listening():
            if job.kind is ExpectKind.SEED and job_hash in (job.parent_hash, job.job_hash):
                self._set(
                    job,
                    phase=Phase.FINISHED,
                    job_hash=job_hash,
                    result=SeedFound(job_hash, seed),
                )
                return job.task_id
        self._note_unclaimed(msg)
        return None

    def _on_message(self, raw: Mapping[str, Any]) -> str | None:
        message_id = _text(raw.get("id"))
        if message_id in self._retired:
            return None
        merged = {**self._payloads.get(message_id, {}), **raw}
        try:
            msg = read_message(merged)
        except ValueError:
            return None
        event = classify(msg)
        task_id = self._match(msg, event)
        if task_id is None:
            self._note_unclaimed(msg)
            return None
        job = self._jobs[task_id]
        surely_ours = msg.id in job.claimed or (msg.nonce is not None and msg.nonce == job.nonce)
        if surely_ours and msg.interaction_id and job.interaction_id is None:
            # The first message names our interaction: learn it in case INTERACTION_SUCCESS
            # was missed, since the result will be matched by it.
            self._by_interaction[msg.interaction_id] = task_id
            self._set(job, interaction_id=msg.interaction_id)
        self._claim(job, msg.id)
        self._payloads[msg.id] = merged
        self._apply(job, msg, event)
        return task_id

    # --- matching -----------------------------------------------------------------------------

    def _match(self, msg: BotMessage, event: Event) -> str | None:
        for key, index in (
            (msg.id, self._by_message),
            (msg.nonce, self._by_nonce),
            (msg.interaction_id, self._by_interaction),
        ):
            task_id = self._live_task(index.get(key)) if key else None
            if task_id is not None:
                return task_id
        if not msg.is_bot:
            return None
        hashes = job_hashes_of(msg)
        candidates = [job for job in self._listening() if self._could_be(job, msg, event, hashes)]
        for job in candidates:
            if job.job_hash and job.job_hash in hashes:
                return job.task_id
        if msg.referenced_message_id:
            for job in candidates:
                if job.parent_message_id == msg.referenced_message_id:
                    return job.task_id
        shown = _shown_prompt(msg, event)
        if shown:
            for job in candidates:
                if prompt_matches(job.prompt, shown):
                    return job.task_id
        # A describe or shorten answer names no prompt: it is ours if only one can be waiting.
        if isinstance(event, Described | Shortened) and len(candidates) == 1:
            return candidates[0].task_id
        return None

    def _could_be(
        self, job: TrackedJob, msg: BotMessage, event: Event, hashes: tuple[str, ...]
    ) -> bool:
        """Whether nothing in ``msg`` rules ``job`` out and its kind fits ``event``."""
        # A nonce that is not the job's answers another interaction. Jobs without a nonce
        # (Vary Region goes through the iframe host, not an interaction of ours) stay open.
        if msg.nonce and job.nonce and msg.nonce != job.nonce:
            return False
        # Nonces and message ids are snowflakes: a message posted before we asked is not ours.
        posted, asked = _snowflake_ms(msg.id), _snowflake_ms(job.nonce)
        if posted is not None and asked is not None and posted < asked - self._clock_skew_ms:
            return False
        if msg.interaction_id and job.interaction_id and msg.interaction_id != job.interaction_id:
            return False
        if job.job_hash and hashes and job.job_hash not in hashes:
            return False
        if (
            msg.referenced_message_id
            and job.parent_message_id
            and msg.referenced_message_id != job.parent_message_id
        ):
            return False
        if isinstance(event, Queued | Progress | Finished):
            if job.kind not in _COMPATIBLE[event.kind]:
                return False
            index = event.index if isinstance(event, Finished) else None
            return index is None or job.index is None or index == job.index
        if isinstance(event, Described):
            return job.kind is ExpectKind.DESCRIBE
        if isinstance(event, Shortened):
            return job.kind is ExpectKind.SHORTEN
        return isinstance(event, Failed)

    def _listening(self) -> list[TrackedJob]:
        jobs = (job for job in self._jobs.values() if job.phase in _LISTENING)
        return sorted(jobs, key=lambda job: job.order)

    def _live_task(self, task_id: str | None) -> str | None:
        return task_id if task_id is not None and task_id in self._jobs else None

    # --- state changes ------------------------------------------------------------------------

    def _apply(self, job: TrackedJob, msg: BotMessage, event: Event) -> None:
        if job.phase in TERMINAL:
            return
        # The message the bot edits with progress: "(Waiting to start)", or the empty "thinking"
        # reply to our nonce that describe and shorten turn into their answer. Not a notice.
        loading_reply = isinstance(event, Unrelated) and msg.nonce == job.nonce
        if job.first_message_id is None and (isinstance(event, Queued | Progress) or loading_reply):
            self._set(job, first_message_id=msg.id)
        if isinstance(event, Queued | BotQueueNotice):
            if job.phase is Phase.WAITING:
                self._set(job, phase=Phase.QUEUED)
        elif isinstance(event, Progress):
            self._set(
                job,
                phase=Phase.RUNNING,
                progress=max(job.progress or 0, event.percent),
                mode=event.mode or job.mode,
                job_hash=event.job_hash or job.job_hash,
            )
        elif isinstance(event, Finished):
            self._set(
                job,
                phase=Phase.FINISHED,
                progress=100,
                mode=event.mode or job.mode,
                job_hash=event.job_hash or job.job_hash,
                result=event,
                result_message_id=msg.id,
                result_flags=msg.flags,
            )
        elif isinstance(event, Described | Shortened):
            self._set(
                job,
                phase=Phase.FINISHED,
                progress=100,
                result=event,
                result_message_id=msg.id,
                result_flags=msg.flags,
            )
        elif isinstance(event, Failed):
            self._set(job, phase=Phase.FAILED, fail_reason=event.reason)
        elif isinstance(event, AccountProblem):
            self._flag_account(job, event)

    def _flag_account(self, job: TrackedJob, problem: AccountProblem) -> None:
        self._account_problem = problem
        self._set(
            job, phase=Phase.ACCOUNT_PROBLEM, account_problem=problem, fail_reason=problem.reason
        )

    def _set(self, job: TrackedJob, **changes: Any) -> None:
        changed = False
        for name, value in changes.items():
            if getattr(job, name) != value:
                setattr(job, name, value)
                changed = True
        if changed:
            job.version += 1
            job.changed_at = self._clock()

    def _claim(self, job: TrackedJob, message_id: str) -> None:
        self._by_message[message_id] = job.task_id
        job.claimed.add(message_id)

    def _unindex(self, task_id: str) -> None:
        job = self._jobs.get(task_id)
        if job is None:
            return
        if job.nonce:
            self._by_nonce.pop(job.nonce, None)
        if job.interaction_id:
            self._by_interaction.pop(job.interaction_id, None)
        for message_id in job.claimed:
            self._by_message.pop(message_id, None)
            self._payloads.pop(message_id, None)

    def _note_unclaimed(self, msg: BotMessage) -> None:
        # Only the bot's messages: they are what a stranded task would be waiting for.
        if not msg.is_bot or any(seen == msg.id for seen, _ in self.unclaimed):
            return
        text = msg.content or (msg.embeds[0].title if msg.embeds else "")
        self.unclaimed.append((msg.id, " ".join(text.split())[:_SHORT_CONTENT]))


def _shown_prompt(msg: BotMessage, event: Event) -> str:
    if isinstance(event, Queued | Progress | Finished):
        return event.prompt
    if isinstance(event, Failed) and msg.embeds:
        # Error embeds repeat the command in their footer: "/imagine <prompt>".
        footer = msg.embeds[0].footer.strip()
        if footer.startswith("/"):
            return footer.partition(" ")[2]
    return ""


def _snowflake_ms(value: str | None) -> int | None:
    if value is None or len(value) < _MIN_SNOWFLAKE_DIGITS or not value.isdigit():
        return None
    return (int(value) >> 22) + DISCORD_EPOCH_MS


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    return ""
