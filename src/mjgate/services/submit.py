"""Submitting work: validate, choose a channel, charge and create the task in one transaction.

The answer code (1 starts now, 22 waits, 23 full) comes from the channel's load counted under
the per-channel lock, so two processes can never both take the last slot (DESIGN §Engine).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlsplit

from mjgate.domain.channels import AccountFilter, Channel, decide_queue
from mjgate.domain.images import ImageData, is_http_url
from mjgate.domain.prompts import parse_mode, resolve_mode
from mjgate.domain.tasks import (
    ACTIVE_STATUSES,
    BotType,
    Mode,
    Task,
    TaskAction,
    TaskStatus,
    start,
)
from mjgate.domain.tasks import new_task_id as make_task_id
from mjgate.errors import (
    BannedPrompt,
    BindRequestBodyFailed,
    MjgateError,
    NoAvailableChannel,
    NotifyHookIsInvalid,
    PromptTooLong,
    QueueFull,
    Refusal,
    StateTooLong,
)
from mjgate.providers.resolution import default_port, is_public_host
from mjgate.services.billing import charge_task
from mjgate.services.handover import SUBMIT_HOLDER, HandOver, hand_over
from mjgate.services.pricing import current_prices
from mjgate.services.runtime import Runtime
from mjgate.services.webhooks import enqueue_webhook

SUBMIT_SUCCESS = "Submit success"
WAITING_FOR_MODAL = "Waiting for window confirm"
_ID_ATTEMPTS = 10
SUBMIT_LEASE_MS = 120_000  # longer than any upstream's submit timeout
_BOT_TYPES = {
    "MJ": BotType.MID_JOURNEY,
    "MID_JOURNEY": BotType.MID_JOURNEY,
    "NIJI": BotType.NIJI_JOURNEY,
    "NIJI_JOURNEY": BotType.NIJI_JOURNEY,
}


@dataclass(frozen=True)
class Caller:
    """Who is asking: the owner of the API token on the request."""

    user_id: int
    token_id: int | None
    is_admin: bool
    name: str = ""

    def owns(self, task: Task) -> bool:
        return self.is_admin or task.user_id == self.user_id


@dataclass(frozen=True)
class SubmitOptions:
    """The optional fields every submit carries (PROTOCOL §3), still as the client sent them."""

    path_mode: Mode | None = None
    mode: object = None
    state: object = None
    notify_hook: object = None
    bot_type: object = None
    public_base: str | None = None
    # Narrows the channels a new task may go to: {"instanceId": <channel name or Discord
    # channel id>} (midjourney-proxy's name; "channelId" too), {"modes": ["RELAX", ...]}.
    account_filter: object = None


@dataclass
class Draft:
    """A task about to be created, before it has an id, a channel or a charge."""

    action: TaskAction
    prompt: str = ""
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    new_inputs: dict[str, ImageData] = field(default_factory=dict)
    parent: Task | None = None
    custom_id: str | None = None
    modal: bool = False
    final_prompt: str | None = None
    # The prompt in English when it was translated (services.translation): what the channel
    # gets; ``prompt`` stays as the user typed it.
    prompt_en: str | None = None
    properties: dict[str, Any] = field(default_factory=dict)
    # For descriptions that name the new task's own id (``/blend <id> 2``).
    description_for: Callable[[str], str] | None = None


@dataclass(frozen=True)
class SubmitAnswer:
    code: int
    description: str
    result: str
    properties: dict[str, Any]


# Midjourney's own limit is a few thousand characters; a longer prompt is an attack or a bug,
# and every later fetch of the task would carry it.
MAX_PROMPT_CHARS = 6000


def check_prompt(rt: Runtime, prompt: str) -> None:
    """A too long prompt (or one holding NUL) is a 400; banned words refuse the submit with
    code 24. Both before anything is created or charged."""
    if len(prompt) > MAX_PROMPT_CHARS:
        raise PromptTooLong()
    if "\x00" in prompt:  # legal JSON, but no text: PostgreSQL refuses it in a text column
        raise BindRequestBodyFailed("A prompt cannot hold a NUL character.")
    word = rt.banned_words.find(prompt)
    if word is not None:
        raise BannedPrompt(promptEn=prompt, bannedWord=word)


def _bot_type(value: object) -> BotType:
    if value is None or value == "":
        return BotType.MID_JOURNEY
    if not isinstance(value, str) or value.upper() not in _BOT_TYPES:
        raise BindRequestBodyFailed("botType must be mj, niji, MID_JOURNEY or NIJI_JOURNEY.")
    return _BOT_TYPES[value.upper()]


ACCOUNT_FILTER = "account_filter"  # params: the client's accountFilter, as AccountFilter keeps it
_FILTER_INSTANCE_KEYS = ("instanceId", "channelId")
_FILTER_MAX_CHARS = 64


def read_account_filter(value: object) -> AccountFilter:
    """midjourney-proxy's ``accountFilter``: ``instanceId`` (or ``channelId``) names one
    channel, by our name or its Discord channel id; ``modes`` lists modes a channel must
    serve one of. Other keys (``remix``, ...) are accepted and have no effect here."""
    if value is None:
        return AccountFilter()
    if not isinstance(value, dict):
        raise BindRequestBodyFailed("accountFilter must be an object.")
    instances: set[str] = set()
    for key in _FILTER_INSTANCE_KEYS:
        given = value.get(key)
        if given in (None, ""):
            continue
        if not isinstance(given, str) or len(given) > _FILTER_MAX_CHARS:
            raise BindRequestBodyFailed(
                f"accountFilter.{key} must be a string of at most {_FILTER_MAX_CHARS} characters."
            )
        instances.add(given)
    modes = value.get("modes")
    if modes in (None, []):
        return AccountFilter(frozenset(instances))
    if not isinstance(modes, list) or not all(
        isinstance(m, str) and m.upper() in Mode.__members__ for m in modes
    ):
        raise BindRequestBodyFailed("accountFilter.modes must list RELAX, FAST or TURBO.")
    return AccountFilter(frozenset(instances), frozenset(m.upper() for m in modes))


# Chat-bot plugins put a JSON object of the chat and the user in ``state`` (PROTOCOL §2).
MAX_STATE_CHARS = 4096


def _state(value: object) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise BindRequestBodyFailed("state must be a string.")
    if len(value) > MAX_STATE_CHARS:
        raise StateTooLong()
    return value


async def _notify_hook(rt: Runtime, value: object) -> str | None:
    """An absolute http(s) URL whose host is a public address (no SSRF into our network)."""
    if value is None or value == "":
        return None
    if not is_http_url(value, max_length=2000):
        raise NotifyHookIsInvalid()
    assert isinstance(value, str)
    host = urlsplit(value).hostname or ""
    if not rt.settings.webhook_allow_private and not await is_public_host(
        host, default_port(value), rt.resolver
    ):
        raise NotifyHookIsInvalid(
            "The notifyHook host does not resolve to a public address "
            "(set MJGATE_WEBHOOK_ALLOW_PRIVATE=true to allow private ones)."
        )
    return value


async def create_task(
    rt: Runtime, caller: Caller, options: SubmitOptions, draft: Draft
) -> SubmitAnswer:
    """Create and charge the task on a channel that can take it, or refuse with nothing made."""
    state = _state(options.state)
    notify_hook = await _notify_hook(rt, options.notify_hook)
    bot_type = _bot_type(options.bot_type)
    mode = resolve_mode(
        options.path_mode, parse_mode(options.mode), draft.prompt, rt.settings.default_mode
    )
    now = rt.clock()
    task_id = make_task_id(now, rt.random)
    params = dict(draft.params)
    params.setdefault("seed", rt.random.randrange(1, 2**31))
    inputs = dict(params.get("inputs", {}))
    if draft.new_inputs:  # storing files is blocking work; a bare prompt needs no thread
        inputs.update(await asyncio.to_thread(_store_inputs, rt, task_id, draft.new_inputs))
    params["inputs"] = inputs
    if draft.parent is not None:
        # A follow-up on an upstream's task names the parent there by the upstream's id.
        params["parent_id"] = draft.parent.id
        if draft.parent.provider_ref:
            params["parent_ref"] = draft.parent.provider_ref
        if draft.custom_id:
            params["custom_id"] = draft.custom_id
    template = Task(
        id=task_id,
        user_id=caller.user_id,
        token_id=caller.token_id,
        action=draft.action,
        status=TaskStatus.MODAL if draft.modal else TaskStatus.NOT_START,
        mode=mode,
        bot_type=bot_type,
        prompt=draft.prompt,
        prompt_en=draft.prompt_en or draft.prompt,
        description=draft.description_for(task_id) if draft.description_for else draft.description,
        state=state,
        custom_id=draft.custom_id,
        notify_hook=notify_hook,
        public_base=options.public_base,
        submit_time=now,
        parent_id=draft.parent.id if draft.parent else None,
        params=params,
        buttons=[],
        result={},
        properties={
            "finalPrompt": draft.final_prompt or draft.prompt_en or draft.prompt,
            **draft.properties,
        },
        updated_at=now,
    )
    refusals: list[HandOver] = []
    wanted = read_account_filter(options.account_filter)
    if not wanted.is_empty:
        # Kept with the task: a task moved later (its channel refused it or went out of
        # service) still goes only where the client allowed.
        template.params = {**template.params, ACCOUNT_FILTER: wanted.to_params()}
    candidates = await _candidate_channels(rt, draft, mode, bot_type, wanted)
    attempts = _attempts(candidates)
    tried: set[int | None] = set()  # full, or refused the task: not asked again
    for attempt, (channel, only_free) in enumerate(attempts):
        if channel.id in tried:
            continue
        # A fresh row per attempt (a voided one is gone); the last attempt takes the
        # template itself: building a mapped Task is a tenth of a submit's time.
        last = attempt == len(attempts) - 1
        task = template if last else replace(template)
        start_now = rt.provider_for(channel).capabilities.starts_on_submit
        try:
            answer = await _insert_on_channel(
                rt, task, channel, draft, start_now=start_now, only_free=only_free
            )
        except _NoFreeSlot:
            continue
        except QueueFull:
            tried.add(channel.id)
            continue
        if start_now and task.status == TaskStatus.SUBMITTED:
            outcome = await hand_over(rt, task, channel)
            if outcome.refusal == Refusal.BANNED:
                found = outcome.properties or {}
                raise BannedPrompt(
                    promptEn=found.get("promptEn") or task.prompt_en,
                    bannedWord=found.get("bannedWord") or "",
                )
            if outcome.refusal is not None:
                refusals.append(outcome)
                tried.add(channel.id)
                continue
        rt.wake()
        return answer
    if refusals and all(r.refusal != Refusal.QUEUE_FULL for r in refusals):
        raise NoAvailableChannel(refusals[-1].reason)
    raise QueueFull()


class _NoFreeSlot(Exception):
    """The channel could only queue the task; another may start it at once."""


def _attempts(candidates: list[Channel]) -> list[tuple[Channel, bool]]:
    """The order a submit tries channels in, each with "only if a slot is free now".

    The ranking's loads were read before any lock: submits arriving together all see the
    same idle pool and would all queue on its first channel while the others sit idle. So
    the channels of the top priority are first tried for a free slot, counted exactly under
    each one's lock; then every candidate in rank order may queue it.
    """
    if len(candidates) == 1:
        return [(candidates[0], False)]
    top = [c for c in candidates if c.priority == candidates[0].priority]
    return [(c, True) for c in top] + [(c, False) for c in candidates]


async def _candidate_channels(
    rt: Runtime, draft: Draft, mode: Mode, bot_type: BotType, wanted: AccountFilter
) -> list[Channel]:
    """A follow-up stays on its parent's channel; new work goes to the least loaded first
    among the channels that serve its action, mode and bot and pass the account filter."""
    if draft.parent is not None:
        assert draft.parent.channel_id is not None
        async with rt.db.read() as uow:
            channel = await uow.channel_by_id(draft.parent.channel_id)
        if channel is None or not channel.enabled:
            raise NoAvailableChannel("The channel that made the parent task is not available.")
        return [channel]
    # Single statements outside any transaction: the order only prefers the least loaded;
    # the decision itself is counted again under the channel's lock.
    channels = [
        c
        for c in await rt.db.reads.enabled_channels()
        if c.serves(draft.action, mode, bot_type) and wanted.admits(c)
    ]
    if not channels:
        if not wanted.is_empty:
            raise NoAvailableChannel("No available channel matches the accountFilter.")
        raise NoAvailableChannel()
    loads: dict[int, int] = {}
    if len(channels) > 1:  # one channel has no order to choose
        loads = await rt.db.reads.active_counts([c.id for c in channels if c.id is not None])
    healthy = rank_channels(channels, loads, rt.clock())
    if not healthy:
        raise NoAvailableChannel(
            "Every channel that serves this is resting (after failures, or at its daily limit)."
        )
    return healthy


def rank_channels(channels: list[Channel], loads: dict[int, int], now: int) -> list[Channel]:
    """The channels not resting, in the order new work tries them: priority, then the least
    loaded for its size, then weight."""

    def load(channel: Channel) -> tuple[int, float, int]:
        assert channel.id is not None
        return (
            -channel.priority,
            loads.get(channel.id, 0) / max(1, channel.core_size),
            -channel.weight,
        )

    return sorted((c for c in channels if not c.is_resting(now)), key=load)


async def _insert_on_channel(
    rt: Runtime,
    task: Task,
    channel: Channel,
    draft: Draft,
    *,
    start_now: bool = False,
    only_free: bool = False,
) -> SubmitAnswer:
    assert channel.id is not None
    now = task.submit_time
    async with rt.db.submit_write() as uow:
        # Priced before the channel's lock is taken (on PostgreSQL that lock is what other
        # submits queue behind), and before the insert: the row is written once, priced.
        prices = await current_prices(rt, uow)
        price = prices.price_of(task.action, task.mode)
        task.price = price
        locked = await uow.lock_channel(channel.id)
        if locked is None or locked.id is None or not locked.enabled:
            raise QueueFull()
        task.channel_id = locked.id
        task.properties = {**task.properties, "channelId": locked.name}
        if task.status == TaskStatus.MODAL:
            code, ahead = 21, 0
            task.deadline_at = now + int(rt.settings.modal_timeout * 1000)
        else:
            active, queue_seq = await uow.load_and_next_seq(locked.id, ACTIVE_STATUSES)
            decision = decide_queue(active, locked.core_size, locked.queue_size)
            if decision is None:
                raise QueueFull()
            if only_free and decision.code != 1:
                raise _NoFreeSlot()
            code, ahead = decision.code, decision.ahead
            task.deadline_at = now + int(rt.settings.queue_timeout * 1000)
            task.queue_seq = queue_seq
            if start_now and code == 1:
                # Reserved for the submit path, which hands it over itself (handover.py);
                # the lease keeps pollers away until the upstream has answered.
                # The one start: the submit path hands it over.
                deadline = now + locked.timeout_seconds * 1000
                start(task, SUBMIT_HOLDER, now, now + SUBMIT_LEASE_MS, deadline)
            else:
                await uow.announce_work()
        # Two submits in the same millisecond may draw the same id: draw again.
        for _ in range(_ID_ATTEMPTS):
            if await uow.insert_task(task):
                break
            task.id = make_task_id(now, rt.random)
            if draft.description_for:
                task.description = draft.description_for(task.id)
        else:
            raise MjgateError("No free task id could be drawn.")
        await charge_task(uow, task, price, now)
        await enqueue_webhook(uow, rt, task, now)
    return submit_answer(task, code, ahead)


def submit_answer(task: Task, code: int, ahead: int) -> SubmitAnswer:
    channel_name = task.properties.get("channelId")
    if code == 21:
        return SubmitAnswer(
            21,
            WAITING_FOR_MODAL,
            task.id,
            {"finalPrompt": task.properties.get("finalPrompt", ""), "remix": True},
        )
    if code == 22:
        return SubmitAnswer(
            22,
            f"In queue, there are {ahead} tasks ahead",
            task.id,
            {"numberOfQueues": ahead, "channelId": channel_name},
        )
    return SubmitAnswer(1, SUBMIT_SUCCESS, task.id, {"channelId": channel_name})


def _store_inputs(rt: Runtime, owner: str, images: dict[str, ImageData]) -> dict[str, str]:
    return {
        role: rt.storage.put(rt.storage.new_key(owner, role, image.extension), image.data)
        for role, image in images.items()
    }
