"""The one place where failures become the JSON envelope (PROTOCOL §1): never an HTML page."""

from __future__ import annotations

import logging
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mjgate.api.openai_errors import is_openai_path, openai_error_response
from mjgate.api.responses import JsonResponse
from mjgate.errors import (
    BindRequestBodyFailed,
    ImageTooLarge,
    MethodNotAllowed,
    MjgateError,
    QueueFull,
    RequestRejected,
    RouteNotFound,
    ServerBusy,
)

log = logging.getLogger(__name__)
RETRY_AFTER_SECONDS = "5"


def envelope(code: int, description: str, result: Any = None, **properties: Any) -> dict[str, Any]:
    return {"code": code, "description": description, "result": result, "properties": properties}


def error_response(error: MjgateError) -> JsonResponse:
    properties = dict(error.properties)
    if isinstance(error, RequestRejected) or error.mj_code in (3, 9):
        properties.setdefault("message", error.message)
    body = envelope(error.mj_code, error.error_id, None, **properties)
    busy = isinstance(error, QueueFull | ServerBusy)
    headers = {"Retry-After": RETRY_AFTER_SECONDS} if busy else None
    return JsonResponse(body, status_code=error.http_status, headers=headers)


def error_response_at(path: str, error: MjgateError) -> JsonResponse:
    """The error in the shape the path's clients read: OpenAI's under /v1, else the envelope."""
    if is_openai_path(path):
        return openai_error_response(error)
    return error_response(error)


async def _on_mjgate_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, MjgateError)
    return error_response_at(request.scope["path"], exc)


async def _on_validation_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, RequestValidationError)
    first = exc.errors()[0].get("loc", ()) if exc.errors() else ()
    param = ".".join(str(p) for p in first[1:]) or None
    problems = "; ".join(
        f"{'.'.join(str(p) for p in e.get('loc', ())[1:]) or 'body'}: {e.get('msg', '')}"
        for e in exc.errors()[:5]
    )
    error = BindRequestBodyFailed(problems or None)
    path = request.scope["path"]
    if is_openai_path(path):
        error.properties["param"] = param
    return error_response_at(path, error)


async def _on_http_error(request: Request, exc: Exception) -> JsonResponse:
    assert isinstance(exc, StarletteHTTPException)
    error: MjgateError
    if exc.status_code == 404:
        error = RouteNotFound()
    elif exc.status_code == 405:
        error = MethodNotAllowed()
    elif exc.status_code == 413:
        error = ImageTooLarge()
    elif exc.status_code < 500:
        error = BindRequestBodyFailed(str(exc.detail))
    else:
        error = MjgateError()
    response = error_response_at(request.scope["path"], error)
    if exc.status_code not in (404, 405, 413) and exc.status_code < 500:
        response.status_code = exc.status_code
    return response


async def _on_unexpected(request: Request, exc: Exception) -> JsonResponse:
    log.exception("unexpected error on %s %s", request.method, request.url.path, exc_info=exc)
    return error_response_at(
        request.scope["path"], MjgateError("The server failed; the error was logged.")
    )


class CatchUnexpected:
    """Turn any exception that escaped the routes into the 500 envelope.

    Starlette hands bare exceptions to its outermost middleware, outside CORS, so a browser
    could not read the answer; caught here, inside CORS, the envelope gets its headers.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception as exc:
            if scope["type"] != "http" or started:
                raise
            await server_failed(scope, exc)(scope, receive, send)


def server_failed(scope: Scope, exc: Exception) -> JsonResponse:
    """The 500 envelope for an error nobody expected, logged with its path."""
    log.exception("unexpected error on %s", scope.get("path"), exc_info=exc)
    return error_response_at(
        scope.get("path", ""), MjgateError("The server failed; the error was logged.")
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(MjgateError, _on_mjgate_error)
    app.add_exception_handler(RequestValidationError, _on_validation_error)
    app.add_exception_handler(StarletteHTTPException, _on_http_error)
    app.add_exception_handler(Exception, _on_unexpected)
