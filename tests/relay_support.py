"""Upstreams for the relay tests: real mjgate servers on the sandbox, and a scripted one.

The scripted upstream is a bare asyncio HTTP/1.1 server, so a test can make it do what an
ASGI app under uvicorn cannot: drop a connection without answering, or answer garbage.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from mjgate.services.accounts import add_channel, bootstrap, set_channel_enabled
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings
from support import ServedApp, add_user, png_bytes, serve_app

FAST_RELAY = {
    "poll_fast_ms": 50,
    "poll_slow_ms": 300,
    "young_ms": 3_000,
    "callback_fresh_ms": 2_000,
    "vanish_grace_ms": 400,
    "submit_timeout": 3,
    "allow_private_media": True,
    "health_backoff_ms": 60_000,
}


@dataclass
class MjgateUpstream:
    app: ServedApp
    token: str
    user_id: int


def _copy_template(template: Path, database: Path) -> None:
    database.parent.mkdir(parents=True, exist_ok=True)
    shutil.copyfile(template, database)


@asynccontextmanager
async def mjgate_upstream(
    settings: Settings,
    sqlite_template: Path,
    workdir: Path,
    *,
    balance: int = 1000,
    private_hooks: bool = True,
) -> AsyncIterator[MjgateUpstream]:
    """Another mjgate on the sandbox, on its own SQLite file, with a funded user's token."""
    database = workdir / "upstream.db"
    await asyncio.to_thread(_copy_template, sqlite_template, database)
    upstream_settings = settings.model_copy(
        update={
            "data_dir": workdir / "data",
            "database_url": f"sqlite:///{database}",
            "webhook_allow_private": private_hooks,
            "secret_key": "upstream-secret-key",
            "public_url": None,
        }
    )
    rt = Runtime.from_settings(upstream_settings)
    await bootstrap(rt)
    caller, token = await add_user(rt, "reseller", balance)
    try:
        async with serve_app(rt) as app:
            yield MjgateUpstream(app, token, caller.user_id)
    finally:
        await rt.close_providers()
        await rt.db.dispose()


async def use_relay(
    rt: Runtime, base_url: str, secret: str, name: str = "up", **config: Any
) -> None:
    """Route the gateway's new work to a relay channel (the sandbox channel is disabled)."""
    fields: dict[str, Any] = {
        key: config.pop(key)
        for key in ("core_size", "queue_size", "weight", "priority")
        if key in config
    }
    # A config change makes a new provider; drop the old ones' connections.
    await rt.close_providers()
    await add_channel(
        rt,
        name,
        "relay",
        config={"base_url": base_url, "secret": secret, **FAST_RELAY, **config},
        **fields,
    )
    async with rt.db.read() as uow:
        sandbox = await uow.channel_by_name("sandbox")
    if sandbox is not None and sandbox.enabled:
        await set_channel_enabled(rt, "sandbox", False, "tests use relays")


# --- the scripted upstream ---------------------------------------------------------------

Reply = tuple[int, Any]  # (HTTP status, JSON body or raw bytes)
Handler = Callable[["Request"], Awaitable[Reply | None]]  # None: drop the connection


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: Any


@dataclass
class ScriptedUpstream:
    """A /mj upstream whose answers a test sets, recording every request it gets."""

    base_url: str = ""
    requests: list[Request] = field(default_factory=list)
    tasks: dict[str, dict[str, Any]] = field(default_factory=dict)
    hooks: dict[str, str] = field(default_factory=dict)  # upstream id -> notifyHook
    submit_script: list[Handler] = field(default_factory=list)  # used first, one per submit
    list_script: list[Handler] = field(default_factory=list)
    cancel_script: list[Handler] = field(default_factory=list)
    image: bytes = field(default_factory=png_bytes)
    _next: int = 1000

    def new_task(self, status: str = "SUBMITTED", **fields: Any) -> dict[str, Any]:
        self._next += 1
        task = {"id": str(self._next), "status": status, "progress": "0%", **fields}
        self.tasks[task["id"]] = task
        return task

    def finish(self, upstream_id: str, **fields: Any) -> dict[str, Any]:
        task = self.tasks[upstream_id]
        task.update(
            {
                "status": "SUCCESS",
                "progress": "100%",
                "imageUrl": f"{self.base_url}/files/{upstream_id}.png",
                "buttons": [
                    {"customId": f"MJ::JOB::upsample::1::{upstream_id}-hash", "label": "U1"}
                ],
                "properties": {"finalPrompt": "a cat", "messageHash": f"{upstream_id}-hash"},
                **fields,
            }
        )
        return task

    async def call_back(self, upstream_id: str) -> httpx.Response:
        """POST the task to the notifyHook it was submitted with, as upstreams do."""
        async with httpx.AsyncClient(timeout=10) as client:
            return await client.post(self.hooks[upstream_id], json=self.tasks[upstream_id])

    def calls(self, path_part: str) -> list[Request]:
        return [r for r in self.requests if path_part in r.path]

    async def answer(self, request: Request) -> Reply | None:
        self.requests.append(request)
        if request.path.startswith("/files/"):
            return 200, self.image
        if "/submit/" in request.path or "/insight-face/" in request.path:
            if self.submit_script:
                return await self.submit_script.pop(0)(request)
            task = self.new_task()
            if isinstance(request.body, dict) and request.body.get("notifyHook"):
                self.hooks[task["id"]] = request.body["notifyHook"]
            return 200, {"code": 1, "description": "提交成功", "result": task["id"]}
        if request.path.endswith("/list-by-condition"):
            if self.list_script:
                return await self.list_script.pop(0)(request)
            ids = request.body.get("ids", []) if isinstance(request.body, dict) else []
            return 200, [self.tasks[i] for i in ids if i in self.tasks]
        if request.path.endswith("/fetch"):
            upstream_id = request.path.split("/")[-2]
            return (200, self.tasks[upstream_id]) if upstream_id in self.tasks else (204, b"")
        if request.path.endswith("/image-seed"):
            return 200, {"code": 1, "description": "Success", "result": "424242"}
        if request.path.endswith("/cancel"):
            if self.cancel_script:
                return await self.cancel_script.pop(0)(request)
            return 200, {"code": 1, "description": "Success"}
        return 404, {"code": 3, "description": "not found"}


async def _read_request(reader: asyncio.StreamReader) -> Request | None:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    method, path, _ = lines[0].split(" ", 2)
    headers = {}
    for line in lines[1:]:
        if ":" in line:
            key, value = line.split(":", 1)
            headers[key.strip().lower()] = value.strip()
    raw = await reader.readexactly(int(headers.get("content-length", "0")))
    try:
        body = json.loads(raw) if raw else None
    except ValueError:
        body = raw
    return Request(method, path, headers, body)


@asynccontextmanager
async def scripted_upstream() -> AsyncIterator[ScriptedUpstream]:
    upstream = ScriptedUpstream()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                try:
                    request = await _read_request(reader)
                except (asyncio.IncompleteReadError, ConnectionError):
                    return
                if request is None:
                    return
                reply = await upstream.answer(request)
                if reply is None:
                    return  # dropped: the connection closes without an answer
                status, body = reply
                data = body if isinstance(body, bytes) else json.dumps(body).encode()
                kind = "image/png" if request.path.startswith("/files/") else "application/json"
                writer.write(
                    f"HTTP/1.1 {status} X\r\nContent-Type: {kind}\r\n"
                    f"Content-Length: {len(data)}\r\n\r\n".encode()
                    + data
                )
                await writer.drain()
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    upstream.base_url = f"http://127.0.0.1:{port}"
    try:
        yield upstream
    finally:
        server.close()
        await server.wait_closed()
