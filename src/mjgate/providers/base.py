"""The Provider protocol: how the engine starts, follows and cancels work on an executor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from mjgate.domain.buttons import Button
from mjgate.domain.tasks import BotType, Mode, TaskAction, TaskStatus


@dataclass(frozen=True)
class ResultFile:
    """A file the executor produced; the engine stores it and serves its own URL."""

    data: bytes
    extension: str  # png, mp4, ...


@dataclass(frozen=True)
class ProviderUpdate:
    """What an executor says about a task. Fields left None say nothing new."""

    status: TaskStatus | None = None
    progress: int | None = None
    fail_reason: str | None = None
    image: ResultFile | None = None  # the grid, or the single image
    images: tuple[ResultFile, ...] = ()  # the four images of a grid
    video: ResultFile | None = None
    buttons: tuple[Button, ...] | None = None
    message_hash: str | None = None
    final_prompt: str | None = None
    prompt_en: str | None = None
    seed: str | None = None
    texts: tuple[str, ...] | None = None  # describe's or shorten's prompts, for their buttons
    provider_ref: str | None = None
    # When the executor says the work started and finished (epoch ms); apply_update keeps
    # them within our own submit time and clock, and uses its own clock when absent.
    start_time: int | None = None
    finish_time: int | None = None


InputLoader = Callable[[], Awaitable[Mapping[str, bytes]]]


@dataclass(frozen=True)
class ProviderJob:
    """One task as an executor sees it: no database row, no user, just the work."""

    task_id: str
    action: TaskAction
    mode: Mode
    prompt: str
    params: Mapping[str, Any]
    started_at: int  # epoch ms the executor took the task
    load_inputs: InputLoader = field(repr=False)
    provider_ref: str | None = None
    bot_type: BotType = BotType.MID_JOURNEY
    # Where an executor that calls back may post this task's updates (signed, per task).
    callback_url: str | None = None


@dataclass(frozen=True)
class Capabilities:
    """What an executor offers beyond start, poll and cancel. Services read these flags and
    never probe a provider's attributes, so a new kind of channel says what it does here."""

    # The submit hands the job over while the client waits for its answer (relays).
    starts_on_submit: bool = False
    # It implements ``BatchPolling``: one question answers for many tasks.
    polls_in_batches: bool = False
    # It implements ``CallingBack``: updates may arrive as signed callbacks.
    calls_back: bool = False
    # ``image_seed`` asks the executor for a finished task's seed.
    image_seed: bool = False
    # The actions it can run; None means every action.
    actions: frozenset[TaskAction] | None = None


class Provider(Protocol):
    """One channel's executor. Methods raise ``ProviderRetryable`` or ``ProviderRejected``."""

    capabilities: Capabilities

    async def start(self, job: ProviderJob) -> ProviderUpdate:
        """Hand the job over; the answer may already be final."""
        ...

    async def poll(self, job: ProviderJob, now: int) -> ProviderUpdate | None:
        """Where the job is now, or None when nothing changed."""
        ...

    async def cancel(self, job: ProviderJob) -> None:
        """Stop work on the job, as far as the executor allows."""
        ...

    async def image_seed(self, job: ProviderJob) -> str | None:
        """The seed of a finished task, when ``capabilities.image_seed`` says it can tell."""
        ...

    async def close(self) -> None:
        """Let go of connections and background work, at shutdown."""
        ...


class BatchPolling(Protocol):
    """Executors with ``capabilities.polls_in_batches``."""

    async def poll_many(
        self, jobs: Sequence[ProviderJob], now: int
    ) -> dict[str, ProviderUpdate]: ...


class CallingBack(Protocol):
    """Executors with ``capabilities.calls_back``."""

    async def update_from_callback(
        self, job: ProviderJob, body: object, now: int
    ) -> ProviderUpdate | None: ...
