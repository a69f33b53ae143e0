"""The OpenAPI document at ``/openapi.json``, made to say what the server really does.

FastAPI's own document promised a 422 on every operation (errors here are envelopes with
their own statuses), typed every answer ``string`` and named no security scheme. Here:

- routes declare their answers with ``ok(...)`` and the errors only they raise with
  ``errors(...)`` (from ``mjgate.errors``, so ids, statuses and messages are the real ones);
- ``openapi_document`` adds what the front door does to every request, from the same
  table ``Admission`` obeys (``routes_table``) and the rate limiter's own classification:
  the token schemes and 401/403 on token routes, 400/413/503 on routes with a body, 429 where
  a rate limit applies, 404 for a path parameter that does not match, 500 everywhere;
- the Authorization and mj-api-secret header parameters become two security schemes (the
  Authorize button of ``/docs``), and FastAPI's 422 and its schemas are removed.
"""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from pydantic import BaseModel

import mjgate.errors
from mjgate.api.answers import ErrorEnvelope, OpenAIError, SubmitAnswer
from mjgate.api.errors import RETRY_AFTER_SECONDS, error_response
from mjgate.api.rate_limit_step import request_kind
from mjgate.api.routes_table import Credentials, route_of
from mjgate.errors import (
    BindRequestBodyFailed,
    Forbidden,
    ImageTooLarge,
    MjgateError,
    RateLimited,
    RouteNotFound,
    ServerBusy,
    Unauthorized,
)

Responses = dict[int | str, dict[str, Any]]
JSON = "application/json"
ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"
OPENAI_ERROR_REF = "#/components/schemas/OpenAIError"
# OpenAI's Images API under /v1: its errors (api/openai_errors.py), by status.
_OPENAI_STATUSES = {
    400: "A parameter is wrong (`param` names it), or the prompt is refused",
    401: "No key, or an unknown one",
    403: "A disabled key or user",
    404: "No such model or route",
    413: "A body over the limit",
    429: "Quota, queue or rate limit; `Retry-After` when waiting helps",
    500: "The server failed; the error was logged",
    502: "The image task failed",
    503: "No channel can take the work",
    504: "The task outlived the wait; it goes on, and the message names it",
}
SECURITY_SCHEMES = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "`Authorization: Bearer <token>` (a bare token there is taken too).",
    },
    "mjApiSecret": {
        "type": "apiKey",
        "in": "header",
        "name": "mj-api-secret",
        "description": "The same API token (a leading `Bearer ` is tolerated).",
    },
}
# Either header will do: two alternatives, not both.
TOKEN_SECURITY: list[dict[str, list[str]]] = [{"bearerAuth": []}, {"mjApiSecret": []}]
_TOKEN_HEADERS = frozenset({"authorization", "mj-api-secret"})
_WHY = {
    400: "Refused before any work",
    401: "No token, or an unknown one",
    402: "The balance is below the price",
    403: "A disabled token or user, or not an administrator",
    404: "Not found (never says whose)",
    413: "A body or an image over the limit",
    429: "Over the rate limit; `Retry-After` says when to try again",
    500: "The server failed; the error was logged",
    503: "No channel can take the work, or the server holds as many bodies as it can",
}
RETRY_AFTER = {
    "Retry-After": {
        "description": "Whole seconds to wait before trying again.",
        "schema": {"type": "string", "examples": ["5"]},
    }
}


def ok(
    model: Any,
    description: str = "Success",
    *,
    example: Any = None,
    examples: dict[str, Any] | None = None,
    headers: dict[str, Any] | None = None,
) -> Responses:
    """The 200 answer: its schema from ``model`` (a documentation model, ``list[...]``)."""
    response: dict[str, Any] = {"model": model, "description": description}
    # Examples travel as JSON text until ``openapi_document`` puts them back: FastAPI drops
    # every null from the document it writes, and a task's nulls are part of its shape.
    content: dict[str, Any] = {}
    if example is not None:
        content["x-example"] = orjson.dumps(example).decode()
    if examples:
        content["x-examples"] = orjson.dumps(examples).decode()
    if content:
        response["content"] = {JSON: content}
    if headers:
        response["headers"] = headers
    return {200: response}


def errors(*kinds: type[MjgateError]) -> Responses:
    """The error answers of these kinds, by status; ``openapi_document`` adds each one's
    envelope as an example and its id to the description."""
    by_status: Responses = {}
    for kind in kinds:
        response = by_status.setdefault(
            kind.http_status,
            {
                "model": ErrorEnvelope,
                "description": _WHY.get(kind.http_status, "Error"),
                "content": {JSON: {"x-errors": []}},
            },
        )
        response["content"][JSON]["x-errors"].append(kind.__name__)
    return by_status


def _example_of(kind: type[MjgateError]) -> dict[str, Any]:
    error = kind(retryAfter=int(RETRY_AFTER_SECONDS)) if kind is RateLimited else kind()
    body: dict[str, Any] = orjson.loads(error_response(error).body)
    return body


def _add_example(response: dict[str, Any], kind: type[MjgateError]) -> None:
    media = response.setdefault("content", {}).setdefault(JSON, {})
    examples = media.setdefault("examples", {})
    examples.setdefault(kind.error_id, {"value": _example_of(kind)})
    ids = ", ".join(f"`{name}`" for name in examples)
    response["description"] = f"{_WHY.get(kind.http_status, 'Error')}: {ids}."
    if kind in (RateLimited, ServerBusy):
        response["headers"] = RETRY_AFTER


def openapi_document(app: FastAPI) -> dict[str, Any]:
    """The document, built once per application and kept (as FastAPI does)."""
    if app.openapi_schema is None:
        spec = get_openapi(
            title=app.title,
            version=app.version,
            description=app.description,
            routes=app.routes,
        )
        components = spec.setdefault("components", {})
        schemas = components.setdefault("schemas", {})
        for path, operations in spec["paths"].items():
            for method, operation in operations.items():
                _describe_front_door(method.upper(), path, operation)
                _body_schema_by_name(operation, schemas)
        for name in ("HTTPValidationError", "ValidationError"):
            schemas.pop(name, None)
        _add_schema(schemas, ErrorEnvelope)
        _add_schema(schemas, OpenAIError)
        components["securitySchemes"] = SECURITY_SCHEMES
        app.openapi_schema = spec
    return app.openapi_schema


def _describe_front_door(method: str, path: str, operation: dict[str, Any]) -> None:
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.pop("422", None)
    parameters = [
        p
        for p in operation.get("parameters", [])
        if not (p["in"] == "header" and p["name"].lower() in _TOKEN_HEADERS)
    ]
    if parameters:
        operation["parameters"] = parameters
    else:
        operation.pop("parameters", None)
    if path.startswith("/v1/"):
        _describe_openai(method, path, operation, responses)
        return
    route = route_of(method, path)
    kinds: list[type[MjgateError]] = []
    if route.credentials is Credentials.TOKEN:
        operation["security"] = TOKEN_SECURITY
        kinds += [Unauthorized, Forbidden]
    if method in ("POST", "PUT", "PATCH"):
        kinds += [BindRequestBodyFailed, ImageTooLarge, ServerBusy]
    if any(p.get("schema", {}).get("type") != "string" for p in parameters):
        kinds.append(BindRequestBodyFailed)  # a number or a flag that is not one
    if any(p["in"] == "path" for p in parameters):
        kinds.append(RouteNotFound)
    if request_kind({"path": path, "method": method}) is not None:
        kinds.append(RateLimited)
    kinds.append(MjgateError)
    for response in responses.values():
        media = response.get("content", {}).get(JSON, {})
        if "x-example" in media:
            media["example"] = orjson.loads(media.pop("x-example"))
        if "x-examples" in media:
            named = orjson.loads(media.pop("x-examples"))
            media["examples"] = {name: {"value": value} for name, value in named.items()}
        for name in media.pop("x-errors", []):
            _add_example(response, getattr(mjgate.errors, name))
    for kind in kinds:
        status = str(kind.http_status)
        response = responses.setdefault(status, {"description": _WHY[kind.http_status]})
        media = response.setdefault("content", {}).setdefault(JSON, {})
        media.setdefault("schema", {"$ref": ENVELOPE_REF})
        _add_example(response, kind)


def _describe_openai(
    method: str, path: str, operation: dict[str, Any], responses: dict[str, Any]
) -> None:
    """OpenAI-style routes answer OpenAI's error shape, never the /mj envelope."""
    if route_of(method, path).credentials is Credentials.TOKEN:
        operation["security"] = TOKEN_SECURITY
    statuses = [401, 403, 404, 429, 500]
    if method == "POST":
        statuses += [400, 413, 502, 503, 504]
    for status in sorted(statuses):
        response = responses.setdefault(str(status), {"description": _OPENAI_STATUSES[status]})
        media = response.setdefault("content", {}).setdefault(JSON, {})
        media["schema"] = {"$ref": OPENAI_ERROR_REF}


def _body_schema_by_name(operation: dict[str, Any], schemas: dict[str, Any]) -> None:
    """A body schema written inline (``bodies.documented``) goes to the components under
    its model's name, as FastAPI does for the bodies it reads itself."""
    media = operation.get("requestBody", {}).get("content", {}).get(JSON, {})
    schema = media.get("schema", {})
    name = schema.get("title")
    if "properties" in schema and name:
        schemas.setdefault(name, schema)
        media["schema"] = {"$ref": f"#/components/schemas/{name}"}


def _add_schema(schemas: dict[str, Any], model: type[BaseModel]) -> None:
    schema = model.model_json_schema(
        by_alias=True, mode="serialization", ref_template="#/components/schemas/{model}"
    )
    for name, definition in schema.pop("$defs", {}).items():
        schemas.setdefault(name, definition)
    schemas.setdefault(model.__name__, schema)


def _submit_examples() -> dict[str, Any]:
    task_id, channel = "1712158011464906", "sandbox"
    return {
        "1 accepted": {
            "code": 1,
            "description": "Submit success",
            "result": task_id,
            "properties": {"channelId": channel},
        },
        "21 waits for the modal": {
            "code": 21,
            "description": "Waiting for window confirm",
            "result": task_id,
            "properties": {"finalPrompt": "Cat --ar 1:1", "remix": True},
        },
        "22 queued": {
            "code": 22,
            "description": "In queue, there are 3 tasks ahead",
            "result": task_id,
            "properties": {"numberOfQueues": 3, "channelId": channel},
        },
        "23 queue full": {
            "code": 23,
            "description": "Queue is full, please try again later",
            "result": None,
            "properties": {},
        },
        "24 banned word": {
            "code": 24,
            "description": "May contain sensitive words",
            "result": None,
            "properties": {"promptEn": "a banned thing", "bannedWord": "banned"},
        },
    }


SUBMITTED = ok(
    SubmitAnswer,
    "Accepted (1, 21, 22: a task was made and charged) or refused (23, 24: nothing made)",
    examples=_submit_examples(),
    headers={
        "Retry-After": {
            "description": "With code 23: whole seconds to wait before trying again.",
            "schema": {"type": "string"},
        }
    },
)
