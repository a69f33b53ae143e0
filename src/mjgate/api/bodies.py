"""JSON bodies of the image-carrying submits, read and parsed without stalling the event loop.

A blend can carry 50 MiB of base64. FastAPI reads such a body with ``request.body()`` (a
copy of it) and parses it with ``json.loads`` on the loop, which
holds the loop (and, in a thread, the GIL) for the whole parse. Here the body is gathered in
one growing buffer, and a large one is parsed in a worker thread by steps that each hold the
GIL briefly: long plain string literals (base64 is plain ASCII) are cut out of the text with
``find``, the small rest is parsed by ``json.loads``, and the literals go back in as ``str``
built straight from the buffer. Errors are the ones FastAPI raises for the same body, in the
same order: JSON errors before authentication, shape errors after it (``validated``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from typing import Annotated, Any, TypeVar

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from pydantic import BaseModel, ValidationError
from starlette.requests import ClientDisconnect

Model = TypeVar("Model", bound=BaseModel)

# Below this a body is parsed on the loop: json.loads of 1 MiB takes about a millisecond.
THREAD_THRESHOLD = 1024 * 1024
# String literals at least this long are cut out of the text before json.loads.
LONG_LITERAL = 64 * 1024
# Bytes checked per step: each step holds the GIL for well under a millisecond.
STEP = 256 * 1024
_QUOTE, _BACKSLASH = 0x22, 0x5C
# What a JSON string literal may hold raw so that its value is its bytes: printable ASCII
# without escapes. Deleted by ``translate``: what is left over is what disqualifies.
_PLAIN = bytes(b for b in range(0x20, 0x7F) if b not in (_QUOTE, _BACKSLASH))


async def read_json(request: Request) -> object:
    """The parsed JSON body, ``None`` when there is none; ``RequestValidationError`` (400
    ``bind_request_body_failed``) when it is not JSON, as FastAPI's own parse would."""
    # Admission has read the body (within the route's limit) into one buffer and hands it
    # on in one message: used as it is, never copied nor joined.
    chunks: list[bytes | bytearray] = []
    try:
        async for chunk in request.stream():
            if chunk:
                chunks.append(chunk)
    except ClientDisconnect as exc:
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc
    buffer = chunks[0] if len(chunks) == 1 else bytearray().join(chunks)
    del chunks
    if not buffer:
        return None
    try:
        if len(buffer) < THREAD_THRESHOLD:
            return json.loads(buffer)
        return await asyncio.to_thread(parse_large, buffer)
    except json.JSONDecodeError as exc:
        raise RequestValidationError(
            [
                {
                    "type": "json_invalid",
                    "loc": ("body", exc.pos),
                    "msg": "JSON decode error",
                    "input": {},
                    "ctx": {"error": exc.msg},
                }
            ]
        ) from exc
    except Exception as exc:  # e.g. UnicodeDecodeError, RecursionError: FastAPI's 400 too
        raise HTTPException(status_code=400, detail="There was an error parsing the body") from exc
    finally:
        del buffer


def parse_large(body: bytes | bytearray) -> object:
    """``json.loads(body)``, with the GIL held only in short steps (see the module doc)."""
    if json.detect_encoding(body[:4]) != "utf-8":  # UTF-16/32 or a BOM: rare, parse whole
        return json.loads(body)
    nonce = secrets.token_hex(16)  # a client cannot send a placeholder it cannot guess
    skeleton: list[bytes | bytearray] = []
    literals: dict[str, tuple[int, int]] = {}
    done = 0
    for start, end in _long_plain_literals(body):
        placeholder = f"\x00mjgate-{nonce}-{len(literals)}"
        literals[placeholder] = (start, end)
        skeleton += [body[done:start], bytearray(json.dumps(placeholder).encode())]
        done = end + 1
    if not literals:
        return json.loads(body)
    skeleton.append(body[done:])
    parsed = json.loads(b"".join(skeleton))
    view = memoryview(body)
    try:
        values = {p: str(view[s + 1 : e], "ascii") for p, (s, e) in literals.items()}
    finally:
        view.release()
    return _restore(parsed, values)


def _long_plain_literals(body: bytes | bytearray) -> list[tuple[int, int]]:
    """(opening quote, closing quote) of each string literal of at least ``LONG_LITERAL``
    characters whose value is its raw bytes. Outside a literal a quote can only open one (in
    JSON that parses; one that does not parses no better or worse for the cut), inside one
    it closes it unless escaped; so these spans are exactly the parser's string tokens."""
    found: list[tuple[int, int]] = []
    position = 0
    while (start := body.find(b'"', position)) >= 0:
        end = body.find(b'"', start + 1)
        while end >= 0 and _escaped(body, end):
            end = body.find(b'"', end + 1)
        if end < 0:
            break  # unterminated: json.loads reports it
        if end - start - 1 >= LONG_LITERAL and _plain(body, start + 1, end):
            found.append((start, end))
        position = end + 1
    return found


def _escaped(body: bytes | bytearray, at: int) -> bool:
    backslashes = 0
    while body[at - 1 - backslashes] == _BACKSLASH:
        backslashes += 1
    return backslashes % 2 == 1


def _plain(body: bytes | bytearray, start: int, end: int) -> bool:
    return all(
        not body[at : min(at + STEP, end)].translate(None, _PLAIN) for at in range(start, end, STEP)
    )


def _restore(value: Any, literals: dict[str, str]) -> Any:
    if isinstance(value, str):
        return literals.get(value, value)
    if isinstance(value, list):
        return [_restore(item, literals) for item in value]
    if isinstance(value, dict):
        # Rebuilt in order, so a repeated key keeps its first place and its last value.
        return {_restore(k, literals): _restore(v, literals) for k, v in value.items()}
    return value


def validated(model: type[Model], data: object) -> Model:
    """The body as ``model``, or the ``RequestValidationError`` FastAPI would raise."""
    if data is None:
        raise RequestValidationError(
            [{"type": "missing", "loc": ("body",), "msg": "Field required", "input": None}]
        )
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise RequestValidationError(
            [{**error, "loc": ("body", *error["loc"])} for error in exc.errors()]
        ) from exc


def documented(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_extra`` for a route that reads its body with ``read_json``."""
    schema = model.model_json_schema(by_alias=True, mode="validation")
    content = {"application/json": {"schema": schema}}
    return {"requestBody": {"required": True, "content": content}}


JsonBody = Annotated[object, Depends(read_json)]
