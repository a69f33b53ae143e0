"""Fetch and list-by-condition as fast routes of ``api.front`` (PROTOCOL §3).

Clients and relays poll these two routes every few seconds per task; they are nearly all the
traffic. FastAPI's work per request (matching some fifty routes across the four mode
prefixes, solving dependencies, validating the body, serialising the return value) costs
several times the read itself. These handlers call the same services as the FastAPI routes
in ``routes.tasks``; a list body they could not read exactly as FastAPI would goes to
FastAPI untouched, so every answer stays the one the routes give.

At most ``reads_in_flight`` of them run at once: 64 pollers would otherwise fill the
database's queue (SQLite's reader threads, the PostgreSQL pool) and every submit would wait
behind them (issue 12, finding 10).
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Any

import orjson
from starlette.types import ASGIApp, Receive, Scope, Send

from mjgate.api.admission import replaying, request_token
from mjgate.api.errors import error_response, server_failed
from mjgate.api.routes_table import BODY, fetched_task_id, unprefixed
from mjgate.errors import MjgateError
from mjgate.services import queries
from mjgate.services.runtime import Runtime

__all__ = ["PolledReads", "answer_with", "fetched_task_id", "plain_ids", "unprefixed"]

_JSON_HEADERS = (b"content-type", b"application/json")


def plain_ids(body: bytes | bytearray) -> list[str | int] | None:
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


class PolledReads:
    """The two polled routes, over ``fastapi`` for the list bodies they leave to it."""

    def __init__(self, rt: Runtime, fastapi: ASGIApp) -> None:
        self.rt = rt
        self.fastapi = fastapi
        self.turns = asyncio.Semaphore(rt.settings.reads_in_flight)

    async def fetch(self, scope: Scope, receive: Receive, send: Send) -> None:
        task_id = fetched_task_id(unprefixed(scope["path"]))
        async with self.turns:
            reading = queries.fetch_for_token(self.rt, request_token(scope), task_id)
            await answer_with(scope, receive, send, reading)

    async def list(self, scope: Scope, receive: Receive, send: Send) -> None:
        body = scope[BODY]
        ids = plain_ids(body)
        if ids is None:
            await self.fastapi(scope, replaying(body, receive), send)
            return
        async with self.turns:
            reading = queries.tasks_by_ids_json(self.rt, request_token(scope), ids)
            await answer_with(scope, receive, send, reading)
