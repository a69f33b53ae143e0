"""A webhook receiver for tests: a tiny ASGI app under uvicorn on a loopback port.

It records every POST (headers, body, arrival time) and answers as the test scripts it:
a status per request, a delay, or a hang until released. It can be stopped and started
again on the same port, as a receiver that is down for a while.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import uvicorn

from mjgate.domain.webhooks import sign


@dataclass
class Hit:
    path: str
    headers: dict[str, str]
    body: bytes
    at_ms: int
    answered: int | None = None  # the status the receiver answered (None: it never did)

    @property
    def task(self) -> dict[str, Any]:
        value: dict[str, Any] = json.loads(self.body)
        return value

    @property
    def event_id(self) -> str:
        return self.headers["x-mjgate-event-id"]

    def signed_by(self, secret: str) -> bool:
        timestamp = int(self.headers["x-mjgate-timestamp"])
        return self.headers["x-mjgate-signature"] == sign(secret, timestamp, self.body)


Script = Callable[[Hit], Awaitable[int]]


async def answer_ok(_hit: Hit) -> int:
    return 200


@dataclass
class Receiver:
    script: Script = answer_ok
    hits: list[Hit] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _serving: asyncio.Task[None] | None = None

    def url(self, path: str = "/hook", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        hit = Hit(scope["path"], headers, body, time.time_ns() // 1_000_000)
        self.hits.append(hit)
        status = await self.script(hit)
        hit.answered = status
        await send({"type": "http.response.start", "status": status, "headers": []})
        await send({"type": "http.response.body", "body": b"ok"})

    async def start(self) -> None:
        config = uvicorn.Config(
            self, host="127.0.0.1", port=self.port, log_level="critical", lifespan="off"
        )
        self._server = uvicorn.Server(config)
        self._serving = asyncio.create_task(self._server.serve())
        while not self._server.started:
            if self._serving.done():
                self._serving.result()
            await asyncio.sleep(0.01)
        self.port = self._server.servers[0].sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self._server is None or self._serving is None:
            return
        self._server.should_exit = True
        self._server.force_exit = True  # do not wait for hanging requests
        await self._serving
        self._server = None

    def accepted(self) -> list[Hit]:
        """Pushes answered 2xx, each event once (a receiver dedupes repeats by event id)."""
        seen: set[str] = set()
        kept = []
        for hit in self.hits:
            ok = hit.answered is not None and 200 <= hit.answered < 300
            if ok and hit.event_id not in seen:
                seen.add(hit.event_id)
                kept.append(hit)
        return kept

    def finals(self) -> dict[str, dict[str, Any]]:
        """The accepted final push of each task, by task id."""
        return {
            hit.task["id"]: hit.task
            for hit in self.accepted()
            if hit.task["status"] in ("SUCCESS", "FAILURE", "CANCEL")
        }

    def pushes_of(self, task_id: str) -> list[dict[str, Any]]:
        """The task's accepted pushes, in the order they arrived."""
        return [hit.task for hit in self.accepted() if hit.task["id"] == task_id]

    async def wait_for(self, done: Callable[[], bool], within: float = 20) -> None:
        deadline = time.monotonic() + within
        while not done():
            if time.monotonic() > deadline:
                raise AssertionError(f"receiver never saw it; got {len(self.hits)} hits")
            await asyncio.sleep(0.02)
