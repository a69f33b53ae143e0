"""``GET /metrics``: Prometheus text, outside the /mj auth like the health routes.

Two parts: this process's instruments from the default registry (the engine's histograms and
counters, and whatever other modules register there), and gauges counted from the database
at each scrape, which are right for all processes together however many there are.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

from fastapi import APIRouter
from prometheus_client import (
    CONTENT_TYPE_PLAIN_0_0_4,
    REGISTRY,
    CollectorRegistry,
    generate_latest,
)
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.responses import Response

from mjgate.api.deps import RuntimeDep
from mjgate.domain.tasks import TaskStatus
from mjgate.services.metrics import ChannelLoad, channel_loads

router = APIRouter(tags=["health"])


class ChannelLoadCollector(Collector):
    """The database's view at one scrape, as gauges per channel."""

    def __init__(self, loads: Sequence[ChannelLoad]) -> None:
        self._loads = loads

    def collect(self) -> Iterator[Metric]:
        tasks = GaugeMetricFamily(
            "mjgate_tasks",
            "Tasks in the database by channel and status.",
            labels=["channel", "status"],
        )
        queued = GaugeMetricFamily(
            "mjgate_queue_depth", "Tasks waiting for a slot (NOT_START).", labels=["channel"]
        )
        running = GaugeMetricFamily(
            "mjgate_running_tasks",
            "Tasks holding a slot (SUBMITTED or IN_PROGRESS), across all processes.",
            labels=["channel"],
        )
        core = GaugeMetricFamily(
            "mjgate_channel_core_size", "Tasks a channel runs at once at most.", labels=["channel"]
        )
        queue = GaugeMetricFamily(
            "mjgate_channel_queue_size",
            "Tasks a channel holds waiting at most.",
            labels=["channel"],
        )
        enabled = GaugeMetricFamily(
            "mjgate_channel_enabled", "1 when the channel takes work.", labels=["channel"]
        )
        for load in self._loads:
            for status in TaskStatus:
                tasks.add_metric([load.name, status.value], load.by_status.get(status, 0))
            queued.add_metric([load.name], load.queued)
            running.add_metric([load.name], load.running)
            core.add_metric([load.name], load.core_size)
            queue.add_metric([load.name], load.queue_size)
            enabled.add_metric([load.name], 1 if load.enabled else 0)
        yield from (tasks, queued, running, core, queue, enabled)


@router.get("/metrics", include_in_schema=False)
async def metrics(rt: RuntimeDep) -> Response:
    scrape = CollectorRegistry(auto_describe=False)
    scrape.register(ChannelLoadCollector(await channel_loads(rt)))
    body = generate_latest(REGISTRY) + generate_latest(scrape)
    # The classic text format: our names need no escaping, and every Prometheus reads it.
    return Response(body, media_type=CONTENT_TYPE_PLAIN_0_0_4)
