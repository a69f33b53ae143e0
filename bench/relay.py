"""What relaying costs: status latency, upstream requests per task, added submit latency.

Runs in one process on loopback ports: a scripted /mj upstream whose tasks move on a
fixed timetable, mjgate upstreams on the sandbox, and the mjgate under test relaying to
them, all with the default relay settings. Prints the figures; asserts nothing.

    .venv/bin/python bench/relay.py [--samples 10]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from fastapi import FastAPI, Request, Response

from mjgate.api.app import create_app
from mjgate.db.migrate import upgrade_database
from mjgate.services.accounts import add_channel, bootstrap, set_channel_enabled
from mjgate.services.runtime import Runtime
from mjgate.settings import load_settings
from mjgate.workers.runner import Worker

TOKEN = "mjg_bench-admin-token-0123456789abcdef"
PNG = bytes.fromhex(
    "89504e470d0a1a0a0000000d4948445200000001000000010806000000"
    "1f15c4890000000d49444154789c6360000002000001e221bc330000000049454e44ae426082"
)


class Timetable:
    """The scripted upstream's tasks: each moves when the bench says, optionally calling back."""

    def __init__(self) -> None:
        self.tasks: dict[str, dict[str, Any]] = {}
        self.hooks: dict[str, str] = {}
        self.requests = 0
        self.base = ""

    def app(self) -> FastAPI:
        app = FastAPI()

        @app.post("/mj/submit/imagine")
        async def submit(request: Request) -> dict[str, Any]:
            self.requests += 1
            body = await request.json()
            task_id = str(len(self.tasks) + 1)
            self.tasks[task_id] = {"id": task_id, "status": "SUBMITTED", "progress": "0%"}
            if body.get("notifyHook"):
                self.hooks[task_id] = body["notifyHook"]
            return {"code": 1, "description": "Submit success", "result": task_id}

        @app.post("/mj/task/list-by-condition")
        async def listed(request: Request) -> list[dict[str, Any]]:
            self.requests += 1
            ids = (await request.json())["ids"]
            return [self.tasks[i] for i in ids if i in self.tasks]

        @app.get("/files/{name}")
        async def file(name: str) -> Response:
            self.requests += 1
            return Response(PNG, media_type="image/png")

        return app

    async def move(self, task_id: str, call_back: bool, **fields: Any) -> None:
        self.tasks[task_id].update(fields)
        if call_back and task_id in self.hooks:
            async with httpx.AsyncClient() as client:
                await client.post(self.hooks[task_id], json=self.tasks[task_id])


@asynccontextmanager
async def served(app: Any) -> AsyncIterator[str]:
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:  # noqa: ASYNC110 (uvicorn offers no event to wait on)
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        await serving


@asynccontextmanager
async def gateway(workdir: Path, name: str, **overrides: Any) -> AsyncIterator[tuple[Runtime, str]]:
    """An mjgate with its workers, on its own SQLite file."""
    database = f"sqlite:///{workdir / name}.db"
    upgrade_database(database)
    settings = load_settings(
        data_dir=workdir / name,
        database_url=database,
        admin_token=TOKEN,
        secret_key=f"bench-{name}",
        sandbox_duration=0,
        webhook_allow_private=True,
        **overrides,
    )
    rt = Runtime.from_settings(settings)
    await bootstrap(rt)
    worker = Worker(rt)
    try:
        async with served(create_app(rt)) as base:
            worker.start()
            yield rt, base
            await worker.stop()
    finally:
        await rt.close_providers()
        await rt.db.dispose()


async def relay_to(rt: Runtime, base_url: str, **config: Any) -> None:
    await add_channel(
        rt,
        "up",
        "relay",
        config={"base_url": base_url, "secret": TOKEN, "allow_private_media": True, **config},
        core_size=50,
        queue_size=50,
    )
    await set_channel_enabled(rt, "sandbox", False, "bench relays")


async def seen(client: httpx.AsyncClient, task_id: str, field: str, value: str) -> float:
    """Seconds until the client's fetch shows the value, asking every 5 ms."""
    start = time.perf_counter()
    # Asking again and again is the point: this is how a client sees a change.
    while (await client.get(f"/mj/task/{task_id}/fetch")).json()[field] != value:  # noqa: ASYNC110
        await asyncio.sleep(0.005)
    return time.perf_counter() - start


async def status_latency(workdir: Path, samples: int, callbacks: bool) -> tuple[list[float], float]:
    """Change -> client sees it, and upstream requests per task over a 6 s task."""
    table = Timetable()
    name = "cb" if callbacks else "poll"
    async with served(table.app()) as upstream, gateway(workdir, name) as (rt, base):
        await relay_to(rt, upstream)
        delays: list[float] = []
        requests: list[int] = []
        async with httpx.AsyncClient(base_url=base, headers={"mj-api-secret": TOKEN}) as client:
            for _ in range(samples):
                before = table.requests
                answer = (await client.post("/mj/submit/imagine", json={"prompt": "x"})).json()
                ours, theirs = answer["result"], str(len(table.tasks))
                await asyncio.sleep(1)
                await table.move(theirs, callbacks, status="IN_PROGRESS", progress="10%")
                delays.append(await seen(client, ours, "progress", "10%"))
                await asyncio.sleep(2)
                await table.move(theirs, callbacks, progress="50%")
                delays.append(await seen(client, ours, "progress", "50%"))
                await asyncio.sleep(3)
                urls = [{"url": f"{upstream}/files/{n}.png"} for n in range(4)]
                await table.move(
                    theirs,
                    callbacks,
                    status="SUCCESS",
                    progress="100%",
                    imageUrl=f"{upstream}/files/grid.png",
                    imageUrls=urls,
                )
                delays.append(await seen(client, ours, "status", "SUCCESS"))
                await asyncio.sleep(1)  # any poll in flight lands before counting
                requests.append(table.requests - before)
    return delays, statistics.mean(requests)


async def submit_latency(workdir: Path, samples: int) -> tuple[float, float]:
    async with (
        gateway(workdir, "upstream") as (_, upstream),
        gateway(workdir, "relay") as (
            rt,
            base,
        ),
    ):
        await relay_to(rt, upstream)

        async def p50(url: str) -> float:
            times = []
            async with httpx.AsyncClient(base_url=url, headers={"mj-api-secret": TOKEN}) as c:
                for n in range(samples):
                    start = time.perf_counter()
                    response = await c.post("/mj/submit/shorten", json={"prompt": f"p {n}"})
                    times.append(time.perf_counter() - start)
                    assert response.json()["code"] in (1, 22), response.text
            return statistics.median(times) * 1000

        direct = await p50(upstream)
        relayed = await p50(base)
    return direct, relayed


def summary(delays: list[float]) -> str:
    ms = sorted(d * 1000 for d in delays)
    return f"p50 {statistics.median(ms):.0f} ms, max {ms[-1]:.0f} ms over {len(ms)} changes"


async def main(samples: int) -> None:
    with tempfile.TemporaryDirectory(prefix="mjgate-bench-relay-") as tmp:
        workdir = Path(tmp)
        cb, cb_requests = await status_latency(workdir, samples, callbacks=True)
        print(f"status change -> client, with callbacks: {summary(cb)}")
        print(f"upstream requests per 6 s task, with callbacks: {cb_requests:.1f}")
        polled, poll_requests = await status_latency(workdir, samples, callbacks=False)
        print(f"status change -> client, polling only:   {summary(polled)}")
        print(f"upstream requests per 6 s task, polling only: {poll_requests:.1f}")
        direct, relayed = await submit_latency(workdir, samples * 3)
        print(
            f"submit p50: upstream directly {direct:.1f} ms, through the relay {relayed:.1f} ms "
            f"(+{relayed - direct:.1f} ms)"
        )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--samples", type=int, default=5, help="tasks per measurement")
    asyncio.run(main(parser.parse_args().samples))
