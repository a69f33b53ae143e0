"""Test helpers: a server on a loopback port, a client that speaks /mj, image makers."""

from __future__ import annotations

import asyncio
import base64
import io
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import uvicorn
from PIL import Image

from mjgate.api.app import create_app
from mjgate.domain.tasks import Task
from mjgate.services.accounts import bootstrap, create_token, create_user
from mjgate.services.billing import top_up
from mjgate.services.runtime import Runtime
from mjgate.services.submissions import submit_imagine
from mjgate.services.submit import Caller, SubmitAnswer, SubmitOptions
from mjgate.settings import Settings, load_settings
from mjgate.workers.runner import Worker

ADMIN_TOKEN = "mjg_test-admin-token-0123456789abcdef"
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
        create_app(rt),
        host="127.0.0.1",
        port=0,
        log_level="warning",
        lifespan="off",
        proxy_headers=False,  # as `mjgate serve`: the peer is the socket
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


# --- helpers for the route and task-state tests --------------------------------------------


@asynccontextmanager
async def custom_gateway(settings: Settings) -> AsyncIterator[tuple[Gateway, Runtime]]:
    """A bootstrapped runtime on its own settings, served, with an admin client."""
    rt = Runtime.from_settings(settings)
    await bootstrap(rt)
    try:
        async with serve_app(rt) as app, Gateway.connect(app.base_url, ADMIN_TOKEN) as client:
            yield client, rt
    finally:
        await rt.db.dispose()


async def update_channel(
    rt: Runtime, name: str = "sandbox", *, duration: float | None = None, **fields: Any
) -> None:
    """Change a channel in place (core_size, timeout_seconds, ...); `duration` is the sandbox's
    imagine time in seconds. Running tasks follow the new duration at their next poll."""
    async with rt.db.write() as uow:
        channel = await uow.channel_by_name(name)
        assert channel is not None, name
        for field_name, value in fields.items():
            setattr(channel, field_name, value)
        if duration is not None:
            channel.config = {**channel.config, "duration": duration}
    rt.wake()


def button_id(task: dict[str, Any], label: str) -> str:
    """The customId of the task's button with this label (or emoji)."""
    for button in task["buttons"]:
        if label in (button["label"], button["emoji"]):
            return str(button["customId"])
    raise AssertionError(f"no button {label!r} on {task['id']}: {task['buttons']}")


async def download(url: str) -> httpx.Response:
    """GET a result URL as a browser would: no token (plain http: no certificates to load)."""
    async with httpx.AsyncClient(timeout=30, verify=False) as anonymous:
        response = await anonymous.get(url)
    assert response.status_code == 200, (url, response.status_code, response.text[:200])
    return response


async def download_image(url: str) -> Image.Image:
    response = await download(url)
    image = Image.open(io.BytesIO(response.content))
    image.load()
    return image.convert("RGB")


# --- helpers for the queue, billing, engine and isolation tests ------------------------------


class FakeClock:
    """An injectable ``Runtime.clock``: epoch ms that move only when told (``step`` per call)."""

    def __init__(self, start: int = 1_750_000_000_000, step: int = 1) -> None:
        self.now = start
        self.step = step

    def __call__(self) -> int:
        self.now += self.step
        return self.now

    def advance(self, ms: int) -> None:
        self.now += ms


@asynccontextmanager
async def runtime_with(settings: Settings, **overrides: Any) -> AsyncIterator[Runtime]:
    """A bootstrapped runtime on a copy of ``settings`` with some fields replaced."""
    runtime = Runtime.from_settings(settings.model_copy(update=overrides))
    await bootstrap(runtime)
    try:
        yield runtime
    finally:
        await runtime.db.dispose()


async def add_user(rt: Runtime, name: str, balance: int = 0) -> tuple[Caller, str]:
    """A user with ``balance`` quota and one API token: the service caller and the token."""
    user = await create_user(rt, name)
    assert user.id is not None
    if balance:
        async with rt.db.write() as uow:
            await top_up(uow, user.id, balance, "test grant", rt.clock())
    row, token = await create_token(rt, name)
    return Caller(user_id=user.id, token_id=row.id, is_admin=False, name=name), token


async def admin_caller(rt: Runtime) -> Caller:
    async with rt.db.read() as uow:
        admin = await uow.user_by_name("admin")
    assert admin is not None and admin.id is not None
    return Caller(user_id=admin.id, token_id=None, is_admin=True, name=admin.name)


async def quota(rt: Runtime, user_id: int) -> tuple[int, int]:
    """The user's balance and the sum of their ledger, which must always be equal."""
    async with rt.db.read() as uow:
        user = await uow.user_by_id(user_id)
        assert user is not None
        return user.balance, await uow.ledger_sum(user_id)


async def ledger_kinds(rt: Runtime, task_id: str) -> list[tuple[str, int]]:
    """The task's ledger entries as (kind, amount), oldest first."""
    async with rt.db.read() as uow:
        return [(e.kind.value, e.amount) for e in await uow.ledger_for_task(task_id)]


async def task_row(rt: Runtime, task_id: str) -> Task:
    async with rt.db.read() as uow:
        task = await uow.task(task_id)
    assert task is not None, task_id
    return task


async def imagine(
    rt: Runtime, caller: Caller, prompt: str = "a lighthouse", **kw: Any
) -> SubmitAnswer:
    """Submit an imagine through the service, as the HTTP route does."""
    return await submit_imagine(rt, caller, SubmitOptions(**kw), prompt, None)


def make_settings(tmp_path: Path, database_url: str, **overrides: object) -> Settings:
    values: dict[str, object] = {
        "data_dir": tmp_path / "data",
        "database_url": database_url,
        "admin_token": ADMIN_TOKEN,
        "sandbox_duration": 0,
        "secret_key": "test-secret",
    }
    values.update(overrides)
    return load_settings(**values)


@asynccontextmanager
async def serve_with(
    tmp_path: Path, database_url: str, **overrides: object
) -> AsyncIterator[ServedApp]:
    """The app under settings of the test's choosing (the ``served`` fixture has defaults)."""
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url, **overrides))
    await bootstrap(runtime)
    try:
        async with serve_app(runtime) as served:
            yield served
    finally:
        await runtime.close_providers()
        await runtime.db.dispose()
