"""Webhook delivery lag: from a task change to the receiver's hit, at a steady change rate.

Seeds tasks with no hook, then, with the server's default hook pointing at a receiver
process on a loopback port, finishes them at ``--rate`` changes per second through
``apply_update`` (each change commits its outbox row) while one delivery loop sends them.
The receiver records, per push, its arrival time minus the task's ``finishTime`` (the clock
reading of the change). Prints the achieved rate, median, p99 and max lag. Bounded in tasks
and time; everything it starts it stops; the data dir (and PostgreSQL database) is temporary.

    .venv/bin/python bench/webhooks.py [--postgres URL] [--rate 300] [--seconds 10]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
from scratch import database, free_port

from mjgate.db.migrate import upgrade_database
from mjgate.domain.tasks import TaskStatus
from mjgate.providers.base import ProviderUpdate
from mjgate.services.accounts import bootstrap
from mjgate.services.runtime import Runtime
from mjgate.services.submissions import submit_imagine
from mjgate.services.submit import Caller, SubmitOptions
from mjgate.services.updates import apply_update
from mjgate.settings import load_settings
from mjgate.workers.runner import new_worker_id
from mjgate.workers.webhooks import WebhookDeliverer

SEED_CONCURRENCY = 8
PRODUCERS = 16


# --- the receiver (run as its own process: `bench/webhooks.py --receiver PORT`) ------------


def serve_receiver(port: int) -> None:
    import uvicorn

    lags: list[int] = []

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        if scope["method"] == "POST":
            arrived = time.time_ns() // 1_000_000
            finished = json.loads(body).get("finishTime")
            if finished is not None:
                lags.append(arrived - int(finished))
            answer = b"ok"
        else:
            answer = json.dumps(lags).encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": answer})

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


@contextmanager
def receiver_process() -> Iterator[str]:
    port = free_port()
    process = subprocess.Popen([sys.executable, __file__, "--receiver", str(port)])
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                httpx.get(url, timeout=1)
                break
            except httpx.TransportError:
                assert time.monotonic() < deadline, "the receiver did not start"
                time.sleep(0.05)
        yield url
    finally:
        process.terminate()
        process.wait(timeout=15)


# --- the database -----------------------------------------------------------------------


@asynccontextmanager
async def runtime(data_dir: Path, url: str, **overrides: Any) -> AsyncIterator[Runtime]:
    settings = load_settings(data_dir=data_dir, database_url=url, **overrides)
    rt = Runtime.from_settings(settings)
    try:
        yield rt
    finally:
        await rt.db.dispose()


# --- the run ----------------------------------------------------------------------------


async def seed(data_dir: Path, url: str, count: int) -> list[str]:
    """Queued tasks without a hook: their submits owe nobody a push."""
    async with runtime(data_dir, url, queue_timeout=3600) as rt:
        await bootstrap(rt)
        async with rt.db.write() as uow:
            admin = await uow.user_by_name("admin")
            channel = await uow.channel_by_name("sandbox")
            assert admin is not None and admin.id is not None and channel is not None
            channel.queue_size = count + 10  # no refusals while seeding
        caller = Caller(user_id=admin.id, token_id=None, is_admin=True, name="admin")
        ids: list[str] = []

        async def submit(n: int) -> None:
            for k in range(n, count, SEED_CONCURRENCY):
                answer = await submit_imagine(rt, caller, SubmitOptions(), f"bench {k}", None)
                ids.append(answer.result)

        await asyncio.gather(*(submit(n) for n in range(SEED_CONCURRENCY)))
        return ids


async def measure(data_dir: Path, url: str, hook: str, ids: list[str], rate: float) -> float:
    """Finish the tasks at ``rate`` per second with a delivery loop running; the rate reached."""
    async with runtime(data_dir, url, webhook_default_url=hook, webhook_allow_private=True) as rt:
        deliverer = WebhookDeliverer(rt, new_worker_id())
        rt.wake_webhooks = deliverer.wake
        stopping = asyncio.Event()
        delivering = asyncio.create_task(deliverer.run(stopping))
        done = ProviderUpdate(status=TaskStatus.SUCCESS, progress=100)
        started = time.monotonic()

        async def produce(n: int) -> None:
            for k in range(n, len(ids), PRODUCERS):
                delay = started + k / rate - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
                await apply_update(rt, ids[k], done)

        await asyncio.gather(*(produce(n) for n in range(PRODUCERS)))
        produced = time.monotonic() - started
        async with httpx.AsyncClient() as client:
            deadline = time.monotonic() + 60
            while len((await client.get(hook)).json()) < len(ids):
                if time.monotonic() > deadline:
                    break
                await asyncio.sleep(0.1)
        stopping.set()
        deliverer.wake()
        await delivering
        return len(ids) / produced


def percentile(values: list[int], fraction: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--postgres", help="a PostgreSQL server URL (its /postgres database)")
    parser.add_argument("--rate", type=float, default=300.0, help="task changes per second")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long to produce")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.receiver:
        serve_receiver(args.receiver)
        return
    count = min(20_000, int(args.rate * args.seconds))
    with tempfile.TemporaryDirectory() as tmp, database(args.postgres, Path(tmp)) as url:
        upgrade_database(url)
        ids = asyncio.run(seed(Path(tmp), url, count))
        with receiver_process() as hook:
            reached = asyncio.run(measure(Path(tmp), url, hook, ids, args.rate))
            lags = httpx.get(hook, timeout=30).json()
    backend = "PostgreSQL" if args.postgres else "SQLite"
    print(f"{backend}: {count} task changes at {reached:.0f}/s (asked {args.rate:.0f}/s)")
    if not lags:
        print("no push arrived")
        return
    print(
        f"received {len(lags)}; lag ms: median {statistics.median(lags):.0f}, "
        f"p99 {percentile(lags, 0.99):.0f}, max {max(lags)}"
    )


if __name__ == "__main__":
    os.environ.pop("MJGATE_CONFIG_FILE", None)
    main()
