"""The one front door: the cross-cutting steps, then the fast routes or FastAPI.

Every request, whichever route serves it, goes through the steps ``api.app.front_steps``
lists (request id, access log, CORS, the 500 net, then admission), and then through
``FastRoutes``: a table of the busiest routes (fetch, the id lists, imagine and shorten,
under every mode prefix), answered without FastAPI's routing and validation, which cost
several times their own work; whatever is not in the table goes to FastAPI.

The first four steps are hooks of one layer, ``Frame``: each nested ASGI layer costs a call
and a wrapped ``send`` per request, and five of them took a fetch from 46% to 41% of the
bare endpoint's rate. Here the request id is added to the headers when the response starts
(one wrapped ``send``), the access log line is written only when it is on, CORS is applied
only to requests that carry an ``Origin`` header (Starlette's CORSMiddleware, not ours), and
the 500 net is one ``try``.
"""

from __future__ import annotations

import logging
import re
import secrets
import time
from collections.abc import Callable, Sequence

from starlette.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mjgate.api.errors import error_response_at, server_failed
from mjgate.api.polled_routes import PolledReads
from mjgate.api.routes_table import ROUTE, route_of
from mjgate.api.text_submits import TextSubmits
from mjgate.errors import MjgateError
from mjgate.services.runtime import Runtime
from mjgate.settings import Settings

Step = Callable[[ASGIApp], ASGIApp]
access_log = logging.getLogger("mjgate.access")
REQUEST_ID = b"x-request-id"
# An id a client sends is echoed only when it is short and plain (it ends up in logs).
_PLAIN_ID = re.compile(rb"[A-Za-z0-9._:-]{1,128}")


def through(steps: Sequence[Step], app: ASGIApp) -> ASGIApp:
    """``app`` behind ``steps``, the first step outermost."""
    for step in reversed(steps):
        app = step(app)
    return app


def request_id_of(scope: Scope) -> bytes:
    for name, value in scope["headers"]:
        if name == REQUEST_ID:
            if _PLAIN_ID.fullmatch(value):
                echoed: bytes = value
                return echoed
            break
    return secrets.token_hex(8).encode()


class Frame:
    """Request id, access log, CORS and the 500 net: the outermost step, one layer."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.log = settings.access_log
        cors = {
            "allow_origins": [o.strip() for o in settings.cors_origins.split(",")],
            "allow_methods": ["GET", "POST", "OPTIONS", "HEAD"],
            "allow_headers": ["Authorization", "mj-api-secret", "Content-Type", "X-Request-Id"],
            "expose_headers": ["X-Request-Id"],
            "max_age": 86400,
        }
        self.cors = CORSMiddleware(app, **cors)  # type: ignore[arg-type]
        self.cors_failed = CORSMiddleware(_failed, **cors)  # type: ignore[arg-type]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = request_id_of(scope)
        status = 0

        async def framed_send(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), (REQUEST_ID, request_id)]
            await send(message)

        started = time.perf_counter() if self.log else 0.0
        origin = any(name == b"origin" for name, _ in scope["headers"])
        try:
            await (self.cors if origin else self.app)(scope, receive, framed_send)
        except Exception as exc:
            if status:  # the answer is under way: only closing the connection is left
                raise
            server_failed(scope, exc)  # logged here, with the path; answered below
            await (self.cors_failed if origin else _failed)(scope, receive, framed_send)
        finally:
            if self.log:
                access_log.info(
                    "%s %s %d %.1fms %s",
                    scope["method"],
                    scope["path"],
                    status,
                    (time.perf_counter() - started) * 1000,
                    request_id.decode("latin-1"),
                )


async def _failed(scope: Scope, receive: Receive, send: Send) -> None:
    failed = MjgateError("The server failed; the error was logged.")
    await error_response_at(scope["path"], failed)(scope, receive, send)


class FastRoutes:
    """The route table: the fast routes by name, everything else to ``fastapi``."""

    def __init__(self, rt: Runtime, fastapi: ASGIApp) -> None:
        self.fastapi = fastapi
        reads = PolledReads(rt, fastapi)
        submits = TextSubmits(rt, fastapi)
        self.table: dict[str, ASGIApp] = {
            "fetch": reads.fetch,
            "list": reads.list,
            "imagine": submits.imagine,
            "shorten": submits.shorten,
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope.get("root_path"):
            await self.fastapi(scope, receive, send)
            return
        route = scope.get(ROUTE) or route_of(scope["method"], scope["path"])
        handler = self.table.get(route.name)
        await (handler or self.fastapi)(scope, receive, send)
