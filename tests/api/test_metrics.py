"""``GET /metrics``: Prometheus text without a token; gauges from the database, instruments
of the process (start delay, run time, provider errors)."""

from __future__ import annotations

import httpx
from prometheus_client.parser import text_string_to_metric_families

from support import Gateway, ServedApp, update_channel

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


async def scrape(base_url: str) -> Samples:
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as anonymous:
        response = await anonymous.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain; version=0.0.4")
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


async def test_metrics_count_tasks_across_the_database(gateway: Gateway, served: ServedApp) -> None:
    before = await scrape(served.base_url)
    assert value(before, "mjgate_channel_core_size", channel="sandbox") == 3
    assert value(before, "mjgate_tasks", channel="sandbox", status="SUCCESS") == 0

    done = await gateway.finished("imagine", {"prompt": "a metered lighthouse"})
    blocked = await gateway.submit("describe", {"link": "http://127.0.0.1:9/nothing.png"})
    assert (await gateway.wait(blocked["result"]))["status"] == "FAILURE"
    await update_channel(served.runtime, core_size=1, duration=3600)
    queued = [await gateway.submit("imagine", {"prompt": f"slow {n}"}) for n in range(3)]
    running = await gateway.wait(queued[0]["result"], {"SUBMITTED", "IN_PROGRESS"})

    during = await scrape(served.base_url)
    assert value(during, "mjgate_tasks", channel="sandbox", status="SUCCESS") == 1
    assert value(during, "mjgate_tasks", channel="sandbox", status="FAILURE") == 1
    assert value(during, "mjgate_running_tasks", channel="sandbox") == 1
    assert value(during, "mjgate_queue_depth", channel="sandbox") == 2
    assert value(during, "mjgate_channel_core_size", channel="sandbox") == 1
    # This process started three tasks and finished two (the registry is the process's).
    started = "mjgate_task_start_delay_seconds_count"
    assert (
        value(during, started, channel="sandbox") - value(before, started, channel="sandbox") == 3
    )
    ran = "mjgate_task_run_seconds_count"
    for status in ("SUCCESS", "FAILURE"):
        grew = value(during, ran, channel="sandbox", status=status) - value(
            before, ran, channel="sandbox", status=status
        )
        assert grew == 1, status
    errors = "mjgate_provider_errors_total"
    rejected = {"channel": "sandbox", "stage": "start", "kind": "rejected"}
    assert value(during, errors, **rejected) - value(before, errors, **rejected) == 1
    assert done["status"] == "SUCCESS"

    cancelled = await gateway.post(f"/mj/task/{running['id']}/cancel")
    assert cancelled.status_code == 200
    after = await scrape(served.base_url)
    assert value(after, "mjgate_tasks", channel="sandbox", status="CANCEL") == 1
    grew = value(after, ran, channel="sandbox", status="CANCEL") - value(
        during, ran, channel="sandbox", status="CANCEL"
    )
    assert grew == 1
