"""Judging a real answer by the app's own ``/openapi.json``: the status is one the operation
declares, and the body validates against the schema declared for that status.

OpenAPI 3.1 schemas are JSON Schema 2020-12, so ``jsonschema`` validates them directly: the
whole document is the root (for its ``#/components/...`` references) and a ``$ref`` points
at the one response schema.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
from jsonschema import Draft202012Validator  # type: ignore[import-untyped]  # no stubs ship

MODE_PREFIX = re.compile(r"^/mj-(fast|relax|turbo)(?=/mj/)")


def pointer(*parts: str) -> str:
    return "#/" + "/".join(p.replace("~", "~0").replace("/", "~1") for p in parts)


def declared(spec: dict[str, Any], method: str, template: str) -> dict[str, Any]:
    """The operation's responses, by status, for a path template (mode prefix allowed)."""
    operation = spec["paths"][MODE_PREFIX.sub("", template)][method.lower()]
    responses: dict[str, Any] = operation["responses"]
    return responses


def schema_errors(spec: dict[str, Any], at: str, value: Any) -> list[str]:
    """What is wrong with ``value`` under the schema at JSON pointer ``at`` of the spec."""
    root = {**spec, "$ref": at}
    validator = Draft202012Validator(root)
    return [
        f"{'/'.join(map(str, e.absolute_path)) or '(body)'}: {e.message}"
        for e in validator.iter_errors(value)
    ]


def check_against_spec(
    spec: dict[str, Any], method: str, template: str, response: httpx.Response
) -> None:
    """Fail unless the answer is one the spec declares for this operation, in shape too."""
    where = f"{method.upper()} {template}: {response.status_code} {response.text[:300]}"
    responses = declared(spec, method, template)
    status = str(response.status_code)
    assert status in responses, f"undeclared status: {where}"
    content = responses[status].get("content", {})
    media_type = response.headers.get("content-type", "").split(";")[0].strip()
    assert media_type in content, f"undeclared content type {media_type!r}: {where}"
    if media_type != "application/json":
        return
    path = MODE_PREFIX.sub("", template)
    at = pointer("paths", path, method.lower(), "responses", status, "content", media_type)
    problems = schema_errors(spec, at + "/schema", response.json())
    assert not problems, f"{where}\n" + "\n".join(problems)


def check_examples(spec: dict[str, Any]) -> int:
    """Every example in the spec validates against its schema; returns how many there were."""
    seen = 0
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            for status, response in operation["responses"].items():
                for media_type, media in response.get("content", {}).items():
                    at = pointer("paths", path, method, "responses", status, "content", media_type)
                    values = [media["example"]] if "example" in media else []
                    values += [e["value"] for e in media.get("examples", {}).values()]
                    for value in values:
                        problems = schema_errors(spec, at + "/schema", value)
                        assert not problems, f"{method} {path} {status}: {problems}"
                        seen += 1
    return seen
