"""Channels: configured executor instances that tasks run on."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from mjgate.domain.tasks import BotType, Mode, TaskAction

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
    disabled_at: int | None = None  # when it left rotation (epoch ms)
    # When an operator last put it back in service (epoch ms): its executor is made afresh.
    enabled_at: int | None = None
    created_at: int = 0
    # Health: failures in a row, and until when the channel rests out of rotation.
    failures: int = 0
    resting_until: int | None = None
    health_reason: str | None = None
    removed_at: int | None = None  # removed by the operator, kept for its tasks' history
    id: int | None = None

    def is_resting(self, now: int) -> bool:
        return self.resting_until is not None and self.resting_until > now

    @property
    def daily_limit(self) -> int | None:
        """Tasks the channel may start per UTC day (account channels lower ban risk so)."""
        limit = self.config.get("daily_limit")
        return int(limit) if limit else None

    def serves(
        self, action: TaskAction, mode: Mode, bot_type: BotType = BotType.MID_JOURNEY
    ) -> bool:
        if self.modes is not None and mode.value not in self.modes:
            return False
        bots = self.config.get("bots")  # an account channel without the niji bot says so
        if isinstance(bots, list) and bot_type.value not in bots:
            return False
        return self.actions is None or action.value in self.actions


@dataclass(frozen=True)
class AccountFilter:
    """A client's narrowing of the channels its new task may use (midjourney-proxy's
    ``accountFilter``): channel names or Discord channel ids, and modes."""

    instances: frozenset[str] = frozenset()
    modes: frozenset[str] = frozenset()

    @property
    def is_empty(self) -> bool:
        return not self.instances and not self.modes

    def to_params(self) -> dict[str, list[str]]:
        return {"instances": sorted(self.instances), "modes": sorted(self.modes)}

    @classmethod
    def from_params(cls, kept: object) -> AccountFilter:
        """The filter a task keeps in its params (none: every channel)."""
        if not isinstance(kept, dict):
            return cls()
        return cls(frozenset(kept.get("instances", [])), frozenset(kept.get("modes", [])))

    def admits(self, channel: Channel) -> bool:
        if self.instances:
            names = {channel.name, str(channel.config.get("channel_id") or "")}
            if not names & self.instances:
                return False
        return not self.modes or channel.modes is None or bool(self.modes & set(channel.modes))


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


HEALTH_THRESHOLD = 3
HEALTH_BACKOFF_MS = 30_000
HEALTH_BACKOFF_MAX_MS = 600_000


def note_failure(channel: Channel, reason: str, now: int) -> None:
    """Count one failure; past the threshold the channel rests, each time twice as long.

    After the rest it is tried again: one more failure rests it again, a success heals it.
    """
    config = channel.config
    threshold = int(config.get("health_threshold", HEALTH_THRESHOLD))
    backoff = int(config.get("health_backoff_ms", HEALTH_BACKOFF_MS))
    ceiling = int(config.get("health_backoff_max_ms", HEALTH_BACKOFF_MAX_MS))
    channel.failures += 1
    channel.health_reason = reason[:300]
    if channel.failures >= threshold:
        doublings = min(channel.failures - threshold, 20)
        channel.resting_until = now + min(ceiling, backoff * 2**doublings)


def note_success(channel: Channel) -> None:
    channel.failures = 0
    channel.resting_until = None
    channel.health_reason = None


def take_out_of_service(channel: Channel, reason: str, now: int) -> None:
    """The executor cannot work until a person acts (a dead token, a CAPTCHA, a blocked
    account): out of rotation with the reason and time, until ``mjgate channel enable``."""
    channel.enabled = False
    channel.disabled_reason = reason[:300]
    channel.disabled_at = now


def put_back_in_service(channel: Channel, now: int) -> None:
    channel.enabled = True
    channel.enabled_at = now
    channel.disabled_reason = None
    channel.disabled_at = None
    note_success(channel)


DAY_MS = 86_400_000


def next_utc_midnight(now: int) -> int:
    return (now // DAY_MS + 1) * DAY_MS


def rest_for_the_day(channel: Channel, now: int) -> None:
    """The channel started its daily share: it rests until the next UTC midnight.

    Not a failure: the count of failures stays, and a success does not end this rest.
    """
    channel.resting_until = next_utc_midnight(now)
    channel.health_reason = f"daily limit of {channel.daily_limit} tasks reached"
