"""Fetch and list-by-condition, answered before FastAPI's routing (PROTOCOL §3).

Clients and relays poll these two routes every few seconds per task; they are nearly all the
traffic. FastAPI's work per request (matching some fifty routes across the four mode
prefixes, solving dependencies, validating the body, serialising the return value) costs
several times the read itself. This middleware knows the two routes by their path, under any
mode prefix, and calls the same services as the FastAPI routes in ``routes.tasks``. Whatever
it does not recognise, and any body it could not read exactly as FastAPI would, it passes on
to FastAPI untouched, so every answer stays the one the routes give.

It sits in front of the whole middleware stack (each layer is a Python call and a wrapped
``send`` per request, a fifth of a fetch). What of that stack a polled read needs, it applies
itself: the body limit and the 500 envelope. Requests that carry an ``Origin`` header (a
browser's, which CORS must answer) go through the stack to the FastAPI routes.
"""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Any

import orjson
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mjgate.api.deps import MODE_PREFIXES
from mjgate.api.errors import CatchUnexpected, error_response, server_failed
from mjgate.api.limits import BodySizeLimit, BodyTooLarge
from mjgate.errors import ImageTooLarge, MjgateError
from mjgate.services import queries
from mjgate.services.auth import token_from_headers
from mjgate.services.runtime import Runtime

_FETCH_HEAD, _FETCH_TAIL = "/mj/task/", "/fetch"
_LIST_PATHS = frozenset({"/mj/task/list-by-condition", "/mj/task/list-by-ids"})
_JSON_HEADERS = (b"content-type", b"application/json")


def unprefixed(path: str) -> str:
    """The path without its speed-mode prefix (reads do not depend on the mode)."""
    if path.startswith("/mj-"):
        for prefix in MODE_PREFIXES:
            if path.startswith(prefix) and path.startswith("/mj/", len(prefix)):
                return path[len(prefix) :]
    return path


def fetched_task_id(path: str) -> str | None:
    """``{id}`` of ``/mj/task/{id}/fetch``, matched as FastAPI does: one non-empty segment."""
    if path.startswith(_FETCH_HEAD) and path.endswith(_FETCH_TAIL):
        task_id = path[len(_FETCH_HEAD) : -len(_FETCH_TAIL)]
        if task_id and "/" not in task_id:
            return task_id
    return None


def request_token(scope: Scope) -> str | None:
    """The token as ``deps.request_token`` reads it: the first of each header."""
    authorization: str | None = None
    api_secret: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"mj-api-secret" and api_secret is None:
            api_secret = value.decode("latin-1")
    return token_from_headers(authorization, api_secret)


def plain_ids(body: bytes) -> list[str | int] | None:
    """The ``ids`` of a body that ``IdsBody`` would take unchanged, else None.

    Only a JSON object whose ``ids`` is missing or an array of strings and integers is
    read here; everything else (malformed JSON, other types, which pydantic may coerce or
    refuse with its own message) is left to FastAPI.
    """
    try:
        data = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None
    if not isinstance(data, dict):
        return None
    ids = data.get("ids", [])
    if not isinstance(ids, list) or not all(type(v) is str or type(v) is int for v in ids):
        return None
    return ids


async def read_body(receive: Receive) -> bytes | None:
    """The whole request body, or None when the client went away."""
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return None
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            return b"".join(chunks)


async def body_or_refusal(scope: Scope, receive: Receive, send: Send) -> bytes | None:
    """The whole body; None when the client went away or, after answering 413, when the
    body outgrew the limit mid-stream (what FastAPI's handler makes of that refusal)."""
    try:
        return await read_body(receive)
    except BodyTooLarge:
        await error_response(ImageTooLarge())(scope, receive, send)
        return None


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands on a body already read, then the connection's own events."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


def polled_route(scope: Scope) -> str | None:
    """``"fetch"`` or ``"list"`` for a request this module answers, else None."""
    if scope["type"] != "http" or scope.get("root_path"):
        return None
    path = unprefixed(scope["path"])
    method = scope["method"]
    if method == "GET" and fetched_task_id(path) is not None:
        return "fetch"
    if method == "POST" and path in _LIST_PATHS:
        return "list"
    return None


def has_origin(scope: Scope) -> bool:
    return any(name == b"origin" for name, _ in scope["headers"])


async def answer_with(
    scope: Scope, receive: Receive, send: Send, reading: Awaitable[dict[str, Any] | bytes]
) -> None:
    """Send the 200 JSON answer ``reading`` gives, or the envelope of the error it raises."""
    try:
        answer = await reading
        body = answer if isinstance(answer, bytes) else orjson.dumps(answer)
    except MjgateError as error:
        await error_response(error)(scope, receive, send)
        return
    except Exception as exc:
        await server_failed(scope, exc)(scope, receive, send)
        return
    headers = [(b"content-length", str(len(body)).encode()), _JSON_HEADERS]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


class PolledRoutes:
    """In front of ``app`` (the whole FastAPI application with its middleware)."""

    def __init__(self, app: ASGIApp, rt: Runtime, max_body_bytes: int) -> None:
        self.app = app
        self.rt = rt
        # A fetch has no body, and its one await is answered below even when it fails.
        self._list_within_limits = CatchUnexpected(
            BodySizeLimit(self._list, max_bytes=max_body_bytes)
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        route = polled_route(scope)
        if route is None or has_origin(scope):
            await self.app(scope, receive, send)
        elif route == "list":
            await self._list_within_limits(scope, receive, send)
        else:
            task_id = fetched_task_id(unprefixed(scope["path"]))
            reading = queries.fetch_for_token(self.rt, request_token(scope), task_id)
            await answer_with(scope, receive, send, reading)

    async def _list(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = await body_or_refusal(scope, receive, send)
        if body is None:
            return
        ids = plain_ids(body)
        if ids is None:
            await self.app(scope, replaying(body, receive), send)
            return
        reading = queries.tasks_by_ids_json(self.rt, request_token(scope), ids)
        await answer_with(scope, receive, send, reading)
