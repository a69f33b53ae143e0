"""The relay provider alone against a scripted upstream: batching and the adaptive poll."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

import pytest

from mjgate.domain.tasks import Mode, TaskAction, TaskStatus
from mjgate.providers.base import ProviderJob
from mjgate.providers.relay import RelayProvider
from mjgate.providers.relay_config import RelayConfig
from relay_support import ScriptedUpstream, scripted_upstream
from support import FakeClock


async def _no_inputs() -> Mapping[str, bytes]:
    return {}


def job(task_id: str, ref: str | None, started_at: int) -> ProviderJob:
    return ProviderJob(
        task_id=task_id,
        action=TaskAction.IMAGINE,
        mode=Mode.FAST,
        prompt="p",
        params={},
        started_at=started_at,
        load_inputs=_no_inputs,
        provider_ref=ref,
    )


@pytest.fixture
async def upstream() -> AsyncIterator[ScriptedUpstream]:
    async with scripted_upstream() as up:
        yield up


@pytest.fixture
async def provider(upstream: ScriptedUpstream) -> AsyncIterator[tuple[RelayProvider, FakeClock]]:
    clock = FakeClock(step=0)
    config = RelayConfig.from_mapping(
        {
            "base_url": upstream.base_url,
            "secret": "sk",
            "poll_fast_ms": 1_000,
            "poll_slow_ms": 10_000,
            "young_ms": 30_000,
            "callback_fresh_ms": 20_000,
            "allow_private_media": True,
        }
    )
    relay = RelayProvider(config, clock)
    yield relay, clock
    await relay.close()


async def test_one_list_call_per_100_tasks(
    upstream: ScriptedUpstream, provider: tuple[RelayProvider, FakeClock]
) -> None:
    relay, clock = provider
    jobs = [job(f"t{n}", upstream.new_task()["id"], clock.now) for n in range(250)]
    await relay.poll_many(jobs, clock.now + 5_000)
    assert [len(r.body["ids"]) for r in upstream.calls("list-by-condition")] == [100, 100, 50]


async def test_young_tasks_often_idle_ones_rarely_called_back_ones_never(
    upstream: ScriptedUpstream, provider: tuple[RelayProvider, FakeClock]
) -> None:
    relay, clock = provider
    start = clock.now
    quiet = job("quiet", upstream.new_task()["id"], start)
    heard = job("heard", upstream.new_task()["id"], start)
    callback = upstream.tasks[heard.provider_ref or ""]
    callback["status"] = "IN_PROGRESS"
    update = await relay.update_from_callback(heard, dict(callback), start)
    assert update is not None and update.status == TaskStatus.IN_PROGRESS

    def polled() -> list[list[str]]:
        return [r.body["ids"] for r in upstream.calls("list-by-condition")]

    for second in range(1, 11):  # young: every second; the called-back one not at all
        await relay.poll_many([quiet, heard], start + second * 1_000)
    assert len(polled()) == 10 and all(ids == [quiet.provider_ref] for ids in polled())

    upstream.requests.clear()
    for second in range(40, 100):  # old and still: every 10 s; the callback went stale
        await relay.poll_many([quiet, heard], start + second * 1_000)
    assert 5 <= len(polled()) <= 7, polled()


async def test_an_unknown_id_answered_empty_204_or_null_is_no_task(
    upstream: ScriptedUpstream, provider: tuple[RelayProvider, FakeClock]
) -> None:
    relay, _ = provider
    assert await relay.client.fetch("404404") is None  # the scripted upstream answers 204
