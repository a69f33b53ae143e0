"""Imagine and shorten with a plain text body, fast routes of ``api.front`` (PROTOCOL §3).

After the polled reads these are the busiest routes, and FastAPI's share of one (matching
some fifty routes, solving four dependencies, validating the body with pydantic, encoding
the return value) is about as large as the submit's own work. A body this module reads is
one whose meaning is plain: a JSON object whose known fields, spelled as the protocol spells
them, are strings or null (``accountFilter`` an object, ``base64Array`` empty). Anything
else (malformed JSON, other types, the snake_case spellings pydantic also takes, reference
images) goes to the FastAPI routes untouched, so every answer stays the one they give. The
order of checks is theirs too: JSON, then the token, then the submit's own checks.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import BaseModel
from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from mjgate.api.admission import replaying, request_token
from mjgate.api.deps import CALLER, mode_of_path, public_base_for
from mjgate.api.polled_routes import answer_with
from mjgate.api.routes.submit import answer
from mjgate.api.routes_table import BODY
from mjgate.api.schemas import ImagineBody, ShortenBody
from mjgate.services import submissions
from mjgate.services.auth import authenticate
from mjgate.services.runtime import Runtime
from mjgate.services.submit import Caller, SubmitAnswer, SubmitOptions

Fields = dict[str, Any]
Submit = Callable[[Runtime, Caller, SubmitOptions, Fields], Awaitable[SubmitAnswer]]


def _is_text(value: object) -> bool:
    return value is None or type(value) is str


def _is_object(value: object) -> bool:
    return value is None or type(value) is dict


def _is_no_images(value: object) -> bool:
    return value is None or value == []


_CHECKS: dict[Any, Callable[[object], bool]] = {
    str | None: _is_text,
    dict[str, object] | None: _is_object,
    list[str] | None: _is_no_images,
}


@dataclass(frozen=True)
class PlainShape:
    """What a body must look like for ``model`` to take it unchanged."""

    checks: dict[str, Callable[[object], bool]]  # by the protocol's (camelCase) name
    other_spellings: frozenset[str]  # field names pydantic also takes (populate_by_name)

    @classmethod
    def of(cls, model: type[BaseModel]) -> PlainShape:
        checks = {}
        others = set()
        for name, field in model.model_fields.items():
            alias = field.alias or name
            checks[alias] = _CHECKS[field.annotation]  # a new field type needs a check here
            if alias != name:
                others.add(name)
        return cls(checks, frozenset(others))

    def fields(self, body: bytes | bytearray) -> Fields | None:
        """The body's fields when it has this shape, else None (FastAPI decides)."""
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            return None
        if type(data) is not dict:
            return None
        for key, value in data.items():
            check = self.checks.get(key)
            if check is None:
                if key in self.other_spellings:
                    return None
                continue  # unknown fields are ignored, as the models do
            if not check(value):
                return None
        return data


async def _imagine(rt: Runtime, who: Caller, options: SubmitOptions, f: Fields) -> SubmitAnswer:
    return await submissions.submit_imagine(rt, who, options, f.get("prompt"), None)


async def _shorten(rt: Runtime, who: Caller, options: SubmitOptions, f: Fields) -> SubmitAnswer:
    return await submissions.submit_shorten(rt, who, options, f.get("prompt"))


_ROUTES: dict[str, tuple[PlainShape, Submit]] = {
    "/mj/submit/imagine": (PlainShape.of(ImagineBody), _imagine),
    "/mj/submit/shorten": (PlainShape.of(ShortenBody), _shorten),
}


class TextSubmits:
    """The two text submits, over ``fastapi`` for the bodies they leave to it."""

    def __init__(self, rt: Runtime, fastapi: ASGIApp) -> None:
        self.rt = rt
        self.fastapi = fastapi

    async def imagine(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, receive, send, "/mj/submit/imagine")

    async def shorten(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._serve(scope, receive, send, "/mj/submit/shorten")

    async def _serve(self, scope: Scope, receive: Receive, send: Send, path: str) -> None:
        shape, submit = _ROUTES[path]
        body = scope[BODY]
        fields = shape.fields(body)
        if fields is None:
            await self.fastapi(scope, replaying(body, receive), send)
            return
        await answer_with(scope, receive, send, self._submitted(scope, submit, fields))

    async def _submitted(self, scope: Scope, submit: Submit, fields: Fields) -> dict[str, Any]:
        who = scope.get(CALLER) or await authenticate(self.rt, request_token(scope))
        options = SubmitOptions(
            path_mode=mode_of_path(scope["path"]),
            mode=fields.get("mode"),
            state=fields.get("state"),
            notify_hook=fields.get("notifyHook"),
            bot_type=fields.get("botType"),
            account_filter=fields.get("accountFilter"),
            public_base=public_base_for(self.rt, Request(scope)),
        )
        return answer(await submit(self.rt, who, options, fields))
