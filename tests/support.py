"""Test helpers: a server on a loopback port, a client that speaks /mj, image makers."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
import uvicorn
from PIL import Image

from mjgate.api.app import create_app
from mjgate.services.runtime import Runtime
from mjgate.workers.runner import Worker

ADMIN_TOKEN = "mjg_test-admin-token"
FINAL = {"SUCCESS", "FAILURE", "CANCEL"}


def png_bytes(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 64)
) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", size, color).save(buffer, format="PNG")
    return buffer.getvalue()


def data_url(data: bytes, kind: str = "png") -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode()}"


def png_data_url(
    color: tuple[int, int, int] = (200, 30, 30), size: tuple[int, int] = (64, 64)
) -> str:
    return data_url(png_bytes(color, size))


@dataclass
class ServedApp:
    base_url: str
    runtime: Runtime
    worker: Worker | None


@asynccontextmanager
async def serve_app(rt: Runtime, *, workers: bool = True) -> AsyncIterator[ServedApp]:
    """The real app under uvicorn on an ephemeral loopback port, with fast worker loops."""
    worker = (
        Worker(rt, poll_interval=0.05, dispatch_interval=0.2, sweep_interval=0.1)
        if workers
        else None
    )
    config = uvicorn.Config(
        create_app(rt), host="127.0.0.1", port=0, log_level="warning", lifespan="off"
    )
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    if worker is not None:
        worker.start()
    try:
        yield ServedApp(f"http://127.0.0.1:{port}", rt, worker)
    finally:
        if worker is not None:
            await worker.stop()
        server.should_exit = True
        await serving


class Gateway:
    """An /mj client as existing apps use it, plus waiting helpers."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.http = client

    @classmethod
    @asynccontextmanager
    async def connect(cls, base_url: str, token: str | None) -> AsyncIterator[Gateway]:
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        async with httpx.AsyncClient(base_url=base_url, headers=headers, timeout=30) as client:
            yield cls(client)

    async def post(self, path: str, body: Any = None, **kwargs: Any) -> httpx.Response:
        return await self.http.post(path, json=body, **kwargs)

    async def submit(
        self, route: str, body: dict[str, Any], *, prefix: str = "/mj"
    ) -> dict[str, Any]:
        response = await self.post(f"{prefix}/submit/{route}", body)
        assert response.status_code == 200, response.text
        answer: dict[str, Any] = response.json()
        assert answer["code"] in (1, 21, 22), answer
        return answer

    async def fetch(self, task_id: str) -> dict[str, Any]:
        response = await self.http.get(f"/mj/task/{task_id}/fetch")
        assert response.status_code == 200, response.text
        task: dict[str, Any] = response.json()
        return task

    async def wait(
        self, task_id: str, statuses: set[str] | None = None, within: float = 20
    ) -> dict[str, Any]:
        wanted = statuses or FINAL
        deadline = time.monotonic() + within
        while True:
            task = await self.fetch(task_id)
            if task["status"] in wanted:
                return task
            if time.monotonic() > deadline:
                raise AssertionError(f"task {task_id} stuck in {task['status']}: {task}")
            await asyncio.sleep(0.05)

    async def finished(self, route: str, body: dict[str, Any], **kwargs: Any) -> dict[str, Any]:
        answer = await self.submit(route, body, **kwargs)
        task = await self.wait(answer["result"])
        assert task["status"] == "SUCCESS", task
        return task
