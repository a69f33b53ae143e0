"""DiscordRest against a scripted Discord double (Starlette under uvicorn on 127.0.0.1):
what each answer becomes, what the client sends where, and that the token stays put."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import orjson
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from mjgate.providers.discord.errors import (
    AccountRefused,
    CommandVersionStale,
    DiscordFailed,
    DiscordUnavailable,
)
from mjgate.providers.discord.rest import DiscordRest

TOKEN = "MTA-secret-user-token.Gx7.abcdefghijklmnop"
UA = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) Chrome/131.0.0.0 Safari/537.36"


@dataclass
class Seen:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class DiscordDouble:
    """Answers scripted per path (a queue, the last answer repeats); records every request."""

    base: str = ""
    script: dict[str, list[Response]] = field(default_factory=dict)
    seen: list[Seen] = field(default_factory=list)

    def answer(self, path: str, *responses: Response) -> None:
        self.script[path] = list(responses)

    async def handle(self, request: Request) -> Response:
        path = request.url.path
        self.seen.append(Seen(request.method, path, dict(request.headers), await request.body()))
        queue = self.script.get(path)
        if not queue:
            return Response(status_code=404)
        return queue.pop(0) if len(queue) > 1 else queue[0]


def json_response(status: int, body: Any, **headers: str) -> Response:
    return Response(orjson.dumps(body), status, headers, media_type="application/json")


@pytest.fixture
async def double() -> AsyncIterator[DiscordDouble]:
    recorder = DiscordDouble()
    app = Starlette(routes=[Route("/{rest:path}", recorder.handle, methods=["GET", "POST", "PUT"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    )
    serving = asyncio.create_task(server.serve())
    while not server.started:
        if serving.done():
            serving.result()  # it failed to start: say why
        await asyncio.sleep(0.01)
    port = server.servers[0].sockets[0].getsockname()[1]
    recorder.base = f"http://127.0.0.1:{port}"
    try:
        yield recorder
    finally:
        server.should_exit = True
        await serving


@pytest.fixture
async def rest(double: DiscordDouble) -> AsyncIterator[tuple[DiscordRest, list[float]]]:
    slept: list[float] = []

    async def sleep(seconds: float) -> None:
        slept.append(seconds)

    client = DiscordRest(
        api_url=f"{double.base}/api/v9",
        token=TOKEN,
        user_agent=UA,
        cdn_url=f"{double.base}/cdn",
        upload_url=f"{double.base}/upload",
        iframe_url=f"{double.base}/iframe",
        timeout=5,
        sleep=sleep,
    )
    try:
        yield client, slept
    finally:
        await client.close()


def stale_body() -> dict[str, Any]:
    return {
        "code": 50035,
        "message": "Invalid Form Body",
        "errors": {
            "data": {
                "_errors": [
                    {
                        "code": "INTERACTION_APPLICATION_COMMAND_INVALID_VERSION",
                        "message": "This command is outdated, please try again in a few minutes",
                    }
                ]
            }
        },
    }


async def test_interaction_204_sends_raw_token_agent_and_json(
    double: DiscordDouble, rest: tuple[DiscordRest, list[float]]
) -> None:
    client, _ = rest
    double.answer("/api/v9/interactions", Response(status_code=204))
    await client.post_interaction({"type": 2, "nonce": "123"})
    (seen,) = double.seen
    assert seen.method == "POST"
    assert seen.headers["authorization"] == TOKEN  # raw, no "Bearer"
    assert seen.headers["user-agent"] == UA
    assert seen.headers["content-type"] == "application/json"
    assert orjson.loads(seen.body) == {"type": 2, "nonce": "123"}


async def test_429_then_success_waits_retry_after_capped(
    double: DiscordDouble, rest: tuple[DiscordRest, list[float]]
) -> None:
    client, slept = rest
    double.answer(
        "/api/v9/interactions",
        json_response(429, {"message": "You are being rate limited.", "retry_after": 0.25}),
        json_response(429, {"message": "You are being rate limited.", "retry_after": 999}),
        Response(status_code=204),
    )
    await client.post_interaction({"type": 2})
    assert slept == [0.25, 10.0]
    assert len(double.seen) == 3


async def test_429_every_time_is_unavailable_after_three_retries(
    double: DiscordDouble, rest: tuple[DiscordRest, list[float]]
) -> None:
    client, slept = rest
    double.answer("/api/v9/interactions", json_response(429, {"retry_after": 0.1}))
    with pytest.raises(DiscordUnavailable):
        await client.post_interaction({"type": 2})
    assert len(double.seen) == 4 and slept == [0.1, 0.1, 0.1]


async def test_stale_command_version(
    double: DiscordDouble, rest: tuple[DiscordRest, list[float]]
) -> None:
    client, _ = rest
    double.answer("/api/v9/interactions", json_response(400, stale_body()))
    with pytest.raises(CommandVersionStale):
        await client.post_interaction({"type": 2})


@pytest.mark.parametrize(
    ("status", "body", "kind", "text"),
    [
        (401, {"message": "401: Unauthorized", "code": 0}, AccountRefused, "refused the token"),
        (403, {"message": "Missing Access", "code": 50001}, AccountRefused, "Missing Access"),
        (500, {"message": "oops"}, DiscordUnavailable, "HTTP 500"),
        (502, None, DiscordUnavailable, "HTTP 502"),
        (400, {"message": "Invalid Form Body", "code": 50035}, DiscordFailed, "(code 50035)"),
        # Discord echoing the token back must not carry it into a failReason.
        (404, {"message": f"Unknown Message {TOKEN}", "code": 10008}, DiscordFailed, "10008"),
    ],
)
async def test_refusals_map_to_types_without_the_token(
    double: DiscordDouble,
    rest: tuple[DiscordRest, list[float]],
    status: int,
    body: Any,
    kind: type[Exception],
    text: str,
) -> None:
    client, _ = rest
    answer = json_response(status, body) if body is not None else Response(status_code=status)
    double.answer("/api/v9/interactions", answer)
    with pytest.raises(kind) as caught:
        await client.post_interaction({"type": 2})
    assert text in str(caught.value)
    assert TOKEN not in str(caught.value) and TOKEN not in repr(caught.value)
    if isinstance(caught.value, AccountRefused):
        assert caught.value.reason == str(caught.value)


async def test_network_failure_is_unavailable_without_the_token() -> None:
    client = DiscordRest(api_url="http://127.0.0.1:9/api/v9", token=TOKEN, user_agent=UA)
    try:
        with pytest.raises(DiscordUnavailable) as caught:
            await client.post_interaction({"type": 2})
        assert TOKEN not in str(caught.value) and TOKEN not in repr(client)
    finally:
        await client.close()


async def test_command_index_and_recent_messages(
    double: DiscordDouble, rest: tuple[DiscordRest, list[float]]
) -> None:
    client, _ = rest
    index = {"applications": [{"id": "936929561302675456"}], "application_commands": []}
    double.answer("/api/v9/guilds/11/application-command-index", json_response(200, index))
    double.answer("/api/v9/channels/22/messages", json_response(200, [{"id": "1"}, {"id": "2"}]))
    assert await client.command_index("11") == index
    assert [m["id"] for m in await client.recent_messages("22", limit=7)] == ["1", "2"]
    assert double.seen[1].headers["authorization"] == TOKEN
    assert all(seen.method == "GET" for seen in double.seen)


async def test_upload_rewrites_the_storage_origin_and_puts_without_the_token(
    double: DiscordDouble, rest: tuple[DiscordRest, list[float]]
) -> None:
    client, _ = rest
    slot = {
        "id": "0",
        "upload_url": "https://discord-attachments-uploads-prd.storage.googleapis.com"
        "/ephemeral/abc/photo.png?upload_id=xyz",
        "upload_filename": "ephemeral/abc/photo.png",
    }
    double.answer("/api/v9/channels/22/attachments", json_response(200, {"attachments": [slot]}))
    double.answer("/upload/ephemeral/abc/photo.png", Response(status_code=200))
    uploaded = await client.upload("22", "photo.png", b"\x89PNG-bytes")
    assert uploaded == "ephemeral/abc/photo.png"
    post, put = double.seen
    assert orjson.loads(post.body) == {
        "files": [{"filename": "photo.png", "file_size": 10, "id": "0"}]
    }
    assert post.headers["authorization"] == TOKEN
    assert put.method == "PUT" and put.path == "/upload/ephemeral/abc/photo.png"
    assert put.body == b"\x89PNG-bytes"
    assert "authorization" not in put.headers


async def test_download_rewrites_the_cdn_origin_and_enforces_the_cap(
    double: DiscordDouble, rest: tuple[DiscordRest, list[float]]
) -> None:
    client, _ = rest
    png = b"\x89PNG" + bytes(2000)
    double.answer("/cdn/attachments/1/2/grid.png", Response(png, 200, media_type="image/png"))
    data, kind = await client.download(
        "https://cdn.discordapp.com/attachments/1/2/grid.png?ex=1&is=2&hm=3", max_bytes=4096
    )
    assert (data, kind) == (png, "image/png")
    assert double.seen[0].path == "/cdn/attachments/1/2/grid.png"
    assert "authorization" not in double.seen[0].headers
    with pytest.raises(DiscordFailed, match="larger than 1000 bytes"):
        await client.download("https://media.discordapp.net/attachments/1/2/grid.png", 1000)
    with pytest.raises(DiscordFailed, match="gone"):
        await client.download("https://cdn.discordapp.com/attachments/9/9/missing.png", 4096)
    with pytest.raises(DiscordFailed, match="not on Discord's CDN"):
        await client.download("http://169.254.169.254/latest/meta-data", 4096)


async def test_iframe_job_goes_to_the_configured_host_without_the_token(
    double: DiscordDouble, rest: tuple[DiscordRest, list[float]]
) -> None:
    client, _ = rest
    double.answer("/iframe/inpaint/api/submit-job", Response(status_code=200))
    job = {"customId": "tok", "mask": "iVBOR", "prompt": "a cat", "userId": "0", "username": "0"}
    await client.submit_iframe_job(job)
    (seen,) = double.seen
    assert orjson.loads(seen.body) == job and "authorization" not in seen.headers
    double.answer("/iframe/inpaint/api/submit-job", json_response(400, {"message": "bad mask"}))
    with pytest.raises(DiscordFailed, match="bad mask"):
        await client.submit_iframe_job(job)
    double.answer("/iframe/inpaint/api/submit-job", Response(status_code=503))
    with pytest.raises(DiscordUnavailable):
        await client.submit_iframe_job(job)
