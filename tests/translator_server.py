"""A scripted translator for tests: answers like OpenAI chat-completions and DeepL's
/v2/translate, on a loopback port, and fails as told (500, a hang, garbage).

It records what it was asked (path, Authorization header, body) so tests can check that only
the prompt's words reached it, with the key it was given.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

import uvicorn

# What the scripted translator knows; anything else comes back as "EN(<text>)".
WORDS = {
    "一只猫": "a cat",
    "一只可爱的猫": "a cute cat",
    "狗": "dog",
    "在草地上": "on the grass",
    "红色": "red",
}


def english(text: str) -> str:
    return WORDS.get(text, f"EN({text})")


@dataclass
class Asked:
    path: str
    authorization: str
    body: Any


@dataclass
class TranslatorServer:
    behaviour: str = "ok"  # ok | 500 | hang | garbage | not_json
    asked: list[Asked] = field(default_factory=list)
    base_url: str = ""

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        raw = b""
        while True:
            message = await receive()
            raw += message.get("body", b"")
            if not message.get("more_body"):
                break
        headers = {k.decode().lower(): v.decode() for k, v in scope["headers"]}
        body: Any = json.loads(raw) if raw else None
        self.asked.append(Asked(scope["path"], headers.get("authorization", ""), body))
        status, answer = 200, b""
        if self.behaviour == "hang":
            await asyncio.sleep(30)
        elif self.behaviour == "500":
            status, answer = 500, b'{"error": "down"}'
        elif self.behaviour == "not_json":
            answer = b"<html>hello</html>"
        elif self.behaviour == "garbage":
            answer = b'{"choices": [], "translations": "no"}'
        elif scope["path"].endswith("/chat/completions"):
            text = body["messages"][-1]["content"]
            reply = {
                "choices": [
                    {"index": 0, "message": {"role": "assistant", "content": english(text)}}
                ]
            }
            answer = json.dumps(reply).encode()
        elif scope["path"] == "/v2/translate":
            items = [{"detected_source_language": "ZH", "text": english(t)} for t in body["text"]]
            answer = json.dumps({"translations": items}).encode()
        else:
            status = 404
        headers_out = [(b"content-type", b"application/json")]
        await send({"type": "http.response.start", "status": status, "headers": headers_out})
        await send({"type": "http.response.body", "body": answer})


@asynccontextmanager
async def translator_server(behaviour: str = "ok") -> AsyncIterator[TranslatorServer]:
    app = TranslatorServer(behaviour)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="critical", lifespan="off")
    server = uvicorn.Server(config)
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    app.base_url = f"http://127.0.0.1:{port}"
    try:
        yield app
    finally:
        server.should_exit = True
        server.force_exit = True  # a hanging request does not hold the test
        await serving
