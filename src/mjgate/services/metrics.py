"""What the engine measures: Prometheus instruments of this process, and the database's view.

Histograms and counters live in prometheus_client's default registry, observed where the
engine does the work, so each process reports its own (an HTTP process its cancels, a worker
its starts and finishes). Counts of tasks by status are read from the database when scraped:
the database is the queue, so any one process sees the truth of all of them.
"""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import Counter, Histogram

from mjgate.domain.tasks import Task, TaskStatus
from mjgate.services.runtime import Runtime

# From a sandbox at zero duration (milliseconds) to a video on a busy channel (minutes).
_SECONDS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)

START_DELAY = Histogram(
    "mjgate_task_start_delay_seconds",
    "Time from a task's submit to its start on the channel (queue wait included).",
    ["channel"],
    buckets=_SECONDS_BUCKETS,
)
RUN_TIME = Histogram(
    "mjgate_task_run_seconds",
    "Time from a task's start on the channel to its final status.",
    ["channel", "status"],
    buckets=_SECONDS_BUCKETS,
)
PROVIDER_ERRORS = Counter(
    "mjgate_provider_errors_total",
    "Executor calls that failed, by stage (start, poll, cancel) and kind "
    "(retryable, rejected, error).",
    ["channel", "stage", "kind"],
)
LEASE_TAKEOVERS = Counter(
    "mjgate_lease_takeovers_total",
    "Running tasks this process took over from a worker whose lease ran out.",
    ["channel"],
)


def channel_label(task: Task) -> str:
    return str(task.properties.get("channelId") or task.channel_id or "")


def observe_start(task: Task) -> None:
    if task.start_time is not None:
        START_DELAY.labels(channel_label(task)).observe(
            max(0, task.start_time - task.submit_time) / 1000
        )


def observe_finish(task: Task) -> None:
    """Record a task's run time once it is final (one that never started has none)."""
    if task.start_time is not None and task.finish_time is not None:
        RUN_TIME.labels(channel_label(task), TaskStatus(task.status).value).observe(
            max(0, task.finish_time - task.start_time) / 1000
        )


def count_provider_error(channel: str, stage: str, kind: str) -> None:
    PROVIDER_ERRORS.labels(channel, stage, kind).inc()


@dataclass(frozen=True)
class ChannelLoad:
    """One channel as the database has it at a scrape."""

    name: str
    core_size: int
    queue_size: int
    enabled: bool
    by_status: dict[TaskStatus, int]

    @property
    def queued(self) -> int:
        return self.by_status.get(TaskStatus.NOT_START, 0)

    @property
    def running(self) -> int:
        return self.by_status.get(TaskStatus.SUBMITTED, 0) + self.by_status.get(
            TaskStatus.IN_PROGRESS, 0
        )


async def channel_loads(rt: Runtime) -> list[ChannelLoad]:
    """Every channel with its tasks counted by status, in one read transaction."""
    async with rt.db.read() as uow:
        channels = list(await uow.channels())
        counts = await uow.task_counts()
    loads = []
    for channel in channels:
        assert channel.id is not None
        by_status = {status: n for (cid, status), n in counts.items() if cid == channel.id}
        loads.append(
            ChannelLoad(
                channel.name, channel.core_size, channel.queue_size, channel.enabled, by_status
            )
        )
    return loads
