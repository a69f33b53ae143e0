"""Tasks: their actions, statuses, modes, and the rules for moving between statuses."""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any, NamedTuple


class TaskStatus(StrEnum):
    NOT_START = "NOT_START"
    SUBMITTED = "SUBMITTED"
    MODAL = "MODAL"
    IN_PROGRESS = "IN_PROGRESS"
    SUCCESS = "SUCCESS"
    FAILURE = "FAILURE"
    CANCEL = "CANCEL"

    @property
    def is_final(self) -> bool:
        return self in FINAL_STATUSES


FINAL_STATUSES = frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCEL})
# Statuses that hold or wait for one of a channel's core slots. MODAL does not: it waits for
# the client, not for the channel.
ACTIVE_STATUSES = frozenset({TaskStatus.NOT_START, TaskStatus.SUBMITTED, TaskStatus.IN_PROGRESS})
RUNNING_STATUSES = frozenset({TaskStatus.SUBMITTED, TaskStatus.IN_PROGRESS})
UNFINISHED_STATUSES = frozenset(TaskStatus) - FINAL_STATUSES

# Which status may follow which. A final status has no successor: a final task never changes.
_TRANSITIONS: dict[TaskStatus, frozenset[TaskStatus]] = {
    TaskStatus.MODAL: frozenset({TaskStatus.NOT_START, TaskStatus.FAILURE, TaskStatus.CANCEL}),
    TaskStatus.NOT_START: frozenset(
        {
            TaskStatus.SUBMITTED,
            TaskStatus.IN_PROGRESS,
            TaskStatus.SUCCESS,
            TaskStatus.FAILURE,
            TaskStatus.CANCEL,
        }
    ),
    TaskStatus.SUBMITTED: frozenset(
        {
            # Back to the queue: its executor refused it before anything existed there,
            # and it waits for another channel (services/reroute.py).
            TaskStatus.NOT_START,
            TaskStatus.IN_PROGRESS,
            TaskStatus.SUCCESS,
            TaskStatus.FAILURE,
            TaskStatus.CANCEL,
        }
    ),
    TaskStatus.IN_PROGRESS: frozenset({TaskStatus.SUCCESS, TaskStatus.FAILURE, TaskStatus.CANCEL}),
}


def can_transition(current: TaskStatus, new: TaskStatus) -> bool:
    """Whether a task in ``current`` may move to ``new`` (staying put is always allowed)."""
    if current == new:
        return not current.is_final
    return new in _TRANSITIONS.get(current, frozenset())


def next_progress(current: int, reported: int | None, new_status: TaskStatus) -> int:
    """Progress never goes backwards and is 100 on every final status (PROTOCOL §4)."""
    if new_status.is_final:
        return 100
    if reported is None:
        return current
    return max(current, min(99, max(0, reported)))


def format_progress(progress: int) -> str:
    return f"{progress}%"


class TaskAction(StrEnum):
    IMAGINE = "IMAGINE"
    UPSCALE = "UPSCALE"
    VARIATION = "VARIATION"
    REROLL = "REROLL"
    BLEND = "BLEND"
    DESCRIBE = "DESCRIBE"
    SHORTEN = "SHORTEN"
    PAN = "PAN"
    ZOOM = "ZOOM"
    INPAINT = "INPAINT"
    UPSCALE_HD = "UPSCALE_HD"
    VIDEO = "VIDEO"
    EDITS = "EDITS"
    SWAP_FACE = "SWAP_FACE"
    UPLOAD = "UPLOAD"


class Mode(StrEnum):
    RELAX = "RELAX"
    FAST = "FAST"
    TURBO = "TURBO"


class BotType(StrEnum):
    MID_JOURNEY = "MID_JOURNEY"
    NIJI_JOURNEY = "NIJI_JOURNEY"


def new_task_id(now_ms: int, rng: secrets.SystemRandom | None = None) -> str:
    """16 digits: the submit time in epoch ms followed by 3 random digits (PROTOCOL §4)."""
    draw = (rng or secrets.SystemRandom()).randrange(1000)
    return f"{now_ms:013d}{draw:03d}"


@dataclass(eq=False)
class Task:
    """One job, from submit to its final status. The database row is the job (DESIGN §Engine).

    ``params`` holds what the executor needs (stored input files by key, flags, the button that
    made the task); ``result`` what it produced (stored files by key, hash, seed, texts).
    Times are epoch milliseconds.
    """

    id: str
    user_id: int
    action: TaskAction
    status: TaskStatus
    mode: Mode
    submit_time: int
    token_id: int | None = None
    channel_id: int | None = None
    parent_id: str | None = None
    bot_type: BotType = BotType.MID_JOURNEY
    prompt: str = ""
    prompt_en: str = ""
    description: str = ""
    state: str | None = None
    custom_id: str | None = None
    notify_hook: str | None = None
    public_base: str | None = None
    start_time: int | None = None
    finish_time: int | None = None
    progress: int = 0
    fail_reason: str | None = None
    buttons: list[dict[str, Any]] = field(default_factory=list)
    properties: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    result: dict[str, Any] = field(default_factory=dict)
    price: int = 0
    refunded: bool = False
    deadline_at: int | None = None
    worker_id: str | None = None
    lease_until: int | None = None
    provider_ref: str | None = None
    updated_at: int = 0
    queue_seq: int | None = None
    start_count: int = 0  # times handed to the executor's start: one, or the engine erred
    takeovers: int = 0  # times another worker took the task over from an expired lease

    @property
    def is_final(self) -> bool:
        return TaskStatus(self.status).is_final

    def has_button(self, custom_id: str) -> bool:
        return any(button.get("customId") == custom_id for button in self.buttons)


class TaskRecord(NamedTuple):
    """A task as the read paths see it: plain values, no change tracking.

    Fetch and the lists are polled a hundred times for every submit; building a mapped
    ``Task`` (with its ORM instance state) costs more than the whole row read, so they read
    only the fields a client sees into this tuple. Field names are the column names.
    """

    id: str
    user_id: int
    action: TaskAction
    status: TaskStatus
    mode: Mode
    bot_type: BotType
    prompt: str
    prompt_en: str
    description: str
    state: str | None
    custom_id: str | None
    public_base: str | None
    submit_time: int
    start_time: int | None
    finish_time: int | None
    progress: int
    fail_reason: str | None
    buttons: list[dict[str, Any]]
    properties: dict[str, Any]
    result: dict[str, Any]
    price: int
    refunded: bool


class TaskVersion(NamedTuple):
    """Enough of a task to tell whether a view made of it earlier still holds."""

    id: str
    status: TaskStatus
    updated_at: int
    refunded: bool


# --- transitions: the only code that changes a task's status ---------------------------------


class TransitionNotAllowed(Exception):
    """A status change the table does not allow: a bug of ours, never a client's doing."""


def move(task: Task, status: TaskStatus) -> None:
    """Change the task's status, as the table of transitions allows."""
    if not can_transition(TaskStatus(task.status), status):
        raise TransitionNotAllowed(f"task {task.id}: {task.status} may not become {status}")
    task.status = status


def _require(task: Task, status: TaskStatus) -> None:
    if task.status != status:
        raise TransitionNotAllowed(f"task {task.id}: {task.status}, not {status}")


def start(task: Task, worker_id: str, now: int, lease_until: int, deadline_at: int) -> None:
    """A queued task taken by a worker (or by the submit path) for its executor."""
    move(task, TaskStatus.SUBMITTED)
    task.start_time = now
    task.worker_id = worker_id
    task.lease_until = lease_until
    task.deadline_at = deadline_at
    task.start_count += 1  # the one start this leads to
    task.updated_at = now


def requeue(task: Task, channel_id: int, queue_seq: int, deadline_at: int, now: int) -> None:
    """The task waits in another channel's queue: a started one whose executor refused it
    (nothing exists there: the refused start is not counted), or a waiting one whose
    channel went out of service."""
    if task.status == TaskStatus.SUBMITTED:
        move(task, TaskStatus.NOT_START)
        task.start_time = None
        task.worker_id = None
        task.lease_until = None
        task.start_count -= 1
    else:
        _require(task, TaskStatus.NOT_START)
    task.channel_id = channel_id
    task.queue_seq = queue_seq
    task.deadline_at = deadline_at
    task.updated_at = now


def leave_modal(task: Task, queue_seq: int, deadline_at: int, now: int) -> None:
    """The client gave what the modal asked for: the task joins its channel's queue."""
    _require(task, TaskStatus.MODAL)
    move(task, TaskStatus.NOT_START)
    task.queue_seq = queue_seq
    task.deadline_at = deadline_at
    task.updated_at = now


def finish(
    task: Task,
    status: TaskStatus,
    fail_reason: str | None,
    now: int,
    *,
    finished_at: int | None = None,
) -> None:
    """The bookkeeping of every way a task ends. ``finished_at`` is the executor's own
    finish time, kept only where it is no earlier than the start and no later than now."""
    if not status.is_final:
        raise TransitionNotAllowed(f"task {task.id}: {status} is not a final status")
    move(task, status)
    task.progress = 100
    if task.start_time is None and status != TaskStatus.CANCEL:
        task.start_time = now
    floor = task.start_time if task.start_time is not None else task.submit_time
    task.finish_time = now if finished_at is None else min(max(finished_at, floor), now)
    task.deadline_at = None
    task.worker_id = None
    task.lease_until = None
    if status != TaskStatus.SUCCESS:
        task.fail_reason = fail_reason or task.fail_reason or status.value.lower()
    task.updated_at = now
