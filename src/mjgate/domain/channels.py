"""Channels: configured executor instances that tasks run on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mjgate.domain.tasks import Mode, TaskAction

DEFAULT_CORE_SIZE = 3
DEFAULT_QUEUE_SIZE = 10
DEFAULT_TIMEOUT_SECONDS = 600


@dataclass(eq=False)
class Channel:
    name: str
    kind: str
    config: dict[str, Any] = field(default_factory=dict)
    core_size: int = DEFAULT_CORE_SIZE
    queue_size: int = DEFAULT_QUEUE_SIZE
    timeout_seconds: int = DEFAULT_TIMEOUT_SECONDS
    modes: list[str] | None = None
    actions: list[str] | None = None
    weight: int = 1
    priority: int = 0
    enabled: bool = True
    disabled_reason: str | None = None
    created_at: int = 0
    id: int | None = None

    def serves(self, action: TaskAction, mode: Mode) -> bool:
        if self.modes is not None and mode.value not in self.modes:
            return False
        return self.actions is None or action.value in self.actions


@dataclass(frozen=True)
class QueueDecision:
    """What a submit answers, from the channel's load at that moment (PROTOCOL §1)."""

    code: int  # 1 starts now, 22 waits
    ahead: int


def decide_queue(active: int, core_size: int, queue_size: int) -> QueueDecision | None:
    """``active`` counts the channel's tasks that hold or wait for a slot.

    None means the queue is full (code 23): nothing may be created.
    """
    if active < core_size:
        return QueueDecision(code=1, ahead=0)
    ahead = active - core_size
    if ahead >= queue_size:
        return None
    return QueueDecision(code=22, ahead=ahead)
