"""A scripted /mj server for the client's fault tests: a tiny ASGI app under uvicorn on a
loopback port that answers each request with the next scripted reply for its path (a status,
a JSON body, headers, a delay), and records what it received."""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import uvicorn


@dataclass
class Reply:
    status: int = 200
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    delay: float = 0.0  # seconds before answering (longer than the client's timeout: lost)
    raw: bytes | None = None  # a body that is not JSON


def envelope(code: int, description: str, result: Any = None, **properties: Any) -> Reply:
    return Reply(
        200, {"code": code, "description": description, "result": result, "properties": properties}
    )


def task_json(task_id: str, status: str = "SUCCESS") -> dict[str, Any]:
    return {
        "id": task_id,
        "action": "IMAGINE",
        "status": status,
        "progress": "100%",
        "prompt": "a cat",
        "buttons": [],
        "properties": {"finalZhPrompt": ""},
    }


@dataclass
class ScriptedServer:
    """``script[path]`` is the replies in order; the last one repeats."""

    script: dict[str, list[Reply]] = field(default_factory=dict)
    hits: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    bodies: list[tuple[str, bytes]] = field(default_factory=list)
    port: int = 0
    _server: uvicorn.Server | None = None
    _serving: asyncio.Task[None] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        body = b""
        while True:
            message = await receive()
            body += message.get("body", b"")
            if not message.get("more_body"):
                break
        path = scope["path"]
        self.bodies.append((path, body))
        count = self.hits[path]
        self.hits[path] += 1
        replies = self.script.get(path) or [
            Reply(404, {"code": 4, "description": "route_not_found"})
        ]
        reply = replies[min(count, len(replies) - 1)]
        if reply.delay:
            await asyncio.sleep(reply.delay)
        payload = reply.raw if reply.raw is not None else json.dumps(reply.body).encode()
        given = {k.lower(): v for k, v in reply.headers.items()}
        given.setdefault("content-type", "application/json")
        headers = [(k.encode(), v.encode()) for k, v in given.items()]
        await send({"type": "http.response.start", "status": reply.status, "headers": headers})
        await send({"type": "http.response.body", "body": payload})

    async def start(self) -> None:
        config = uvicorn.Config(
            self, host="127.0.0.1", port=0, log_level="critical", lifespan="off"
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
        self._server.force_exit = True
        await self._serving
