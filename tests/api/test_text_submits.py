"""Imagine and shorten with plain text bodies, answered before FastAPI (api.text_submits).

The short way must give exactly the FastAPI routes' answers: the same envelopes for every
error in the same order (JSON, then token, then the submit's checks), the same tasks, the
same modes under the prefixes. Bodies it does not read plainly go to FastAPI unchanged.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mjgate.api.admission import Admission
from mjgate.api.front import FastRoutes
from mjgate.api.schemas import ImagineBody, ShortenBody
from mjgate.api.text_submits import PlainShape
from mjgate.services.runtime import Runtime
from support import ADMIN_TOKEN, Gateway

IMAGINE = PlainShape.of(ImagineBody)
# Spelled as pydantic also takes it (populate_by_name): same meaning, read by FastAPI.
TO_FASTAPI = {"account_filter": None}


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": "a fox"},
        {"prompt": "a fox", "base64Array": [], "notifyHook": None, "accountFilter": {}},
        {"prompt": "a fox", "botType": "niji", "state": "s", "mode": "RELAX"},
        {"prompt": "a fox", "somethingElse": [1, {"x": 2}]},  # unknown: ignored
        {},
    ],
)
def test_plain_bodies_are_read_here(body: dict[str, Any]) -> None:
    assert IMAGINE.fields(orjson.dumps(body)) == body


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"{",
        b"null",
        b"[]",
        b'"a fox"',
        b'{"prompt": NaN}',
        b'{"prompt": 12}',
        b'{"prompt": "a fox", "state": 7}',
        b'{"prompt": "a fox", "accountFilter": []}',
        b'{"prompt": "a fox", "base64Array": ["data:image/png;base64,AAAA"]}',
        b'{"prompt": "a fox", "notify_hook": "https://example.com/hook"}',
        b'{"prompt": "a fox", "base64_array": []}',
    ],
)
def test_other_bodies_are_left_to_fastapi(body: bytes) -> None:
    assert IMAGINE.fields(body) is None


def test_shorten_has_its_own_fields() -> None:
    shorten = PlainShape.of(ShortenBody)
    # base64Array is no field of shorten: ignored there, as ShortenBody ignores it.
    assert shorten.fields(b'{"prompt": "p", "base64Array": ["x"]}') is not None
    assert shorten.fields(b'{"prompt": "p", "bot_type": "mj"}') is None


async def _call(app: ASGIApp, path: str, body: bytes) -> tuple[int, dict[str, Any]]:
    scope: Scope = {
        "type": "http",
        "method": "POST",
        "path": path,
        "root_path": "",
        "scheme": "http",
        "server": ("127.0.0.1", 8080),
        "client": ("127.0.0.1", 50000),
        "query_string": b"",
        "headers": [
            (b"host", b"127.0.0.1:8080"),
            (b"authorization", f"Bearer {ADMIN_TOKEN}".encode()),
            (b"content-length", str(len(body)).encode()),
        ],
    }
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: Message) -> None:
        sent.append(message)

    await app(scope, receive, send)
    return sent[0]["status"], orjson.loads(sent[1]["body"])


async def test_plain_bodies_are_answered_here_and_the_rest_handed_on(rt: Runtime) -> None:
    handed_on: list[bytes] = []

    async def fastapi(scope: Scope, receive: Receive, send: Send) -> None:
        handed_on.append((await receive())["body"])
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b'{"by": "fastapi"}'})

    # The fast routes behind the admission step that reads their bodies (api.front).
    app = Admission(FastRoutes(rt, fastapi), rt)
    status, answer = await _call(app, "/mj-relax/mj/submit/imagine", b'{"prompt": "a fox"}')
    assert status == 200 and answer["code"] in (1, 22) and not handed_on
    status, answer = await _call(app, "/mj/submit/shorten", b'{"prompt": "a long fox"}')
    assert status == 200 and answer["code"] in (1, 22) and not handed_on

    odd = b'{"prompt": "a fox", "bot_type": "mj"}'
    assert await _call(app, "/mj/submit/imagine", odd) == (299, {"by": "fastapi"})
    assert handed_on == [odd]  # the body FastAPI reads is the one the client sent
    # A text submit's body is limited to 64 KiB (api.routes_table), whatever the server's.
    assert (await _call(app, "/mj/submit/shorten", b"x" * (65 * 1024)))[0] == 413


def _same_task(task: dict[str, Any]) -> dict[str, Any]:
    kept = ("action", "prompt", "promptEn", "description", "state", "mode", "botType")
    return {key: task[key] for key in kept}


@pytest.mark.parametrize("route", ["imagine", "shorten"])
@pytest.mark.parametrize("prefix", ["/mj", "/mj-relax/mj", "/mj-turbo/mj"])
async def test_the_same_tasks_as_the_routes_make(gateway: Gateway, route: str, prefix: str) -> None:
    body = {"prompt": f"a fox to {route}", "state": "mine", "botType": "niji", "mode": "fast"}
    fast = await gateway.submit(route, body, prefix=prefix)
    slow = await gateway.submit(route, {**body, **TO_FASTAPI}, prefix=prefix)
    assert {fast["description"], slow["description"]} <= {"Submit success"} | {
        a["description"] for a in (fast, slow) if a["code"] == 22
    }
    fast_task = await gateway.fetch(fast["result"])
    slow_task = await gateway.fetch(slow["result"])
    assert _same_task(fast_task) == _same_task(slow_task)
    assert fast_task["mode"] == {"/mj": "FAST", "/mj-relax/mj": "RELAX"}.get(prefix, "TURBO")
    assert fast_task["botType"] == "NIJI_JOURNEY" and fast_task["state"] == "mine"


@pytest.mark.parametrize(
    "body",
    [
        {"prompt": ""},
        {"prompt": "   "},
        {},
        {"prompt": "a NUDE statue"},
        {"prompt": "a fox", "state": "s" * 4097},
        {"prompt": "a fox", "botType": "dalle"},
        {"prompt": "a fox", "mode": "SLOW"},
        {"prompt": "a fox", "notifyHook": "not a url"},
        {"prompt": "a fox", "notifyHook": "http://127.0.0.1:9/hook"},
        {"prompt": "a fox", "notifyHook": "ftp://example.com/hook"},
    ],
)
async def test_the_same_refusals_as_the_routes_give(gateway: Gateway, body: dict[str, Any]) -> None:
    for route in ("imagine", "shorten"):
        fast = await gateway.post(f"/mj/submit/{route}", body)
        slow = await gateway.post(f"/mj/submit/{route}", {**body, **TO_FASTAPI})
        assert fast.status_code == slow.status_code, (route, fast.text, slow.text)
        assert fast.json() == slow.json(), route
        assert fast.json()["code"] not in (1, 22), fast.text


async def test_a_bad_token_is_answered_after_the_json_and_before_the_prompt(
    gateway: Gateway,
) -> None:
    async with Gateway.connect(gateway.http.base_url.__str__(), "mjg_not-a-token") as stranger:
        refused = await stranger.post("/mj/submit/imagine", {"prompt": ""})
        assert refused.status_code == 401
        assert refused.json()["description"] == "unauthorized"
        malformed = await stranger.http.post("/mj/submit/imagine", content=b"{")
        assert malformed.status_code == 400
        assert malformed.json()["description"] == "bind_request_body_failed"
