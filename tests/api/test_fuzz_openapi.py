"""Every route the app serves, fuzzed from its own ``/openapi.json``: never a 500, never HTML,
every error a JSON envelope, and every answer one the spec declares for that operation, its
body valid under the declared schema (``openapi_check``).

The operations come from the spec the running app publishes; to them are added the routes it
keeps out of the spec: each mode prefix (``/mj-fast``, ``/mj-relax``, ``/mj-turbo``) of the
task routes, the relay callback and ``/metrics``. Each request has path and query parameters
drawn from the spec's parameter schemas (or from values that exist, so that fuzzing gets past
the first lookups), and a body drawn from the operation's request schema, or any JSON at all.
Requests carry the admin token, so that the admin routes are reached too.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openapi_check import check_against_spec
from server_thread import ServerThread, finished
from support import ADMIN_TOKEN, make_settings

MODE_PREFIXES = ("/mj-fast", "/mj-relax", "/mj-turbo")
# Routes kept out of the spec, as (method, path template).
UNLISTED = (
    ("post", "/mj/relay/callback/{task_id}/{signature}"),
    ("get", "/metrics"),
    ("head", "/mj/image/{key}"),
)
# Routes whose success is not JSON: the image itself, and the Prometheus text.
NOT_JSON_WHEN_OK = re.compile(r"^(/mj-\w+)?/mj/image/|^/metrics$")
MISSING_ID = "1712158011464906"

# Any text, lone surrogates included (they go out as \\udXXX escapes in JSON, as
# %ED%A0%80-style bytes in a URL).
TEXT = st.text(st.characters(exclude_categories=[]), max_size=24)
SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats(allow_nan=False, allow_infinity=False)
    | TEXT
)
ANY_JSON = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(TEXT, inner, max_size=3),
    max_leaves=8,
)


@dataclass(frozen=True)
class Operation:
    method: str
    path: str  # a template: {name} for each path parameter
    parameters: list[dict[str, Any]]
    body: dict[str, Any] | None  # the request body's JSON schema


@dataclass(frozen=True)
class Target:
    http: httpx.Client
    spec: dict[str, Any]
    operations: list[Operation]
    known: dict[str, list[Any]]  # values that exist, by parameter name


def _operations(spec: dict[str, Any]) -> list[Operation]:
    found = []
    for path, methods in spec["paths"].items():
        for method, op in methods.items():
            parameters = [p for p in op.get("parameters", []) if p["in"] in ("path", "query")]
            content = op.get("requestBody", {}).get("content", {})
            body = content.get("application/json", {}).get("schema")
            found.append(Operation(method, path, parameters, body))
            if re.match(r"^/mj/(submit|task|insight-face|image)/", path):
                found += [
                    Operation(method, prefix + path, parameters, body) for prefix in MODE_PREFIXES
                ]
    for method, path in UNLISTED:
        names = re.findall(r"{(\w+)}", path)
        parameters = [{"name": n, "in": "path", "schema": {"type": "string"}} for n in names]
        found.append(Operation(method, path, parameters, None))
    return found


def from_schema(spec: dict[str, Any], schema: dict[str, Any], depth: int = 0) -> Any:
    """A strategy for values of a JSON schema as FastAPI writes them; a loose one, since the
    point is to reach the checks behind the schema as well as the schema's own."""
    if "$ref" in schema:
        name = schema["$ref"].rsplit("/", 1)[1]
        return from_schema(spec, spec["components"]["schemas"][name], depth)
    for key in ("anyOf", "oneOf", "allOf"):
        if key in schema:
            return st.one_of(*(from_schema(spec, s, depth) for s in schema[key]))
    if "const" in schema:
        return st.just(schema["const"])
    if "enum" in schema:
        return st.sampled_from(schema["enum"])
    kind = schema.get("type")
    if depth > 3:
        return SCALARS
    if kind == "object":
        properties = {
            name: from_schema(spec, s, depth + 1)
            for name, s in schema.get("properties", {}).items()
        }
        required = [n for n in schema.get("required", []) if n in properties]
        return st.fixed_dictionaries(
            {n: properties[n] for n in required},
            optional={n: s for n, s in properties.items() if n not in required},
        )
    if kind == "array":
        return st.lists(from_schema(spec, schema.get("items", {}), depth + 1), max_size=4)
    if kind == "string":
        return TEXT
    if kind == "integer":
        lowest, highest = schema.get("minimum"), schema.get("maximum")
        near = st.integers(
            min_value=lowest - 2 if lowest is not None else -(2**40),
            max_value=highest + 2 if highest is not None else 2**40,
        )
        return near | st.integers(min_value=-(2**64), max_value=2**64)
    if kind == "number":
        return st.floats(allow_nan=False, allow_infinity=False) | st.integers(-5, 5)
    if kind == "boolean":
        return st.booleans()
    if kind == "null":
        return st.none()
    return ANY_JSON


def _value(target: Target, parameter: dict[str, Any]) -> st.SearchStrategy[Any]:
    known = target.known.get(parameter["name"], [])
    drawn = from_schema(target.spec, parameter.get("schema", {}))
    return st.one_of(st.sampled_from(known), drawn) if known else drawn


Request = tuple[Operation, dict[str, Any], dict[str, Any], Any]


def requests(target: Target) -> st.SearchStrategy[Request]:
    """An operation, its path parameters, its query and its body."""

    def for_operation(op: Operation) -> st.SearchStrategy[Request]:
        path_values = st.fixed_dictionaries(
            {p["name"]: _value(target, p) for p in op.parameters if p["in"] == "path"}
        )
        query = st.fixed_dictionaries(
            {},
            optional={p["name"]: _value(target, p) for p in op.parameters if p["in"] == "query"},
        )
        body = (
            st.one_of(*[from_schema(target.spec, op.body)] * 3, ANY_JSON)
            if op.body
            else st.none() | ANY_JSON
        )
        return st.tuples(st.just(op), path_values, query, body)

    return st.sampled_from(target.operations).flatmap(for_operation)


def fill(template: str, values: dict[str, Any]) -> str:
    def one(match: re.Match[str]) -> str:
        return quote(str(values[match[1]]), safe="", errors="surrogatepass")

    return re.sub(r"{(\w+)}", one, template)


def check_openai(response: httpx.Response, where: str) -> None:
    """OpenAI-style routes answer OpenAI's error shape; a task that failed or outlived the
    wait is a 502 / 504 and no channel a 503, never a 500."""
    assert response.status_code != 500 and response.status_code < 505, where
    assert response.headers.get("content-type", "").startswith("application/json"), where
    body = response.json()
    if response.is_success:
        return
    assert set(body) == {"error"}, where
    assert set(body["error"]) >= {"message", "type", "param", "code"}, where
    assert isinstance(body["error"]["message"], str) and body["error"]["message"], where


def check(method: str, path: str, response: httpx.Response) -> None:
    where = f"{method.upper()} {path}: {response.status_code} {response.text[:300]}"
    if path.startswith("/v1/"):
        check_openai(response, where)
        return
    assert response.status_code < 500, where
    content_type = response.headers.get("content-type", "")
    assert "html" not in content_type, where
    if response.is_success and NOT_JSON_WHEN_OK.match(path):
        return
    if method == "head":
        return  # no body to judge
    assert content_type.startswith("application/json"), where
    body = response.json()
    if response.is_success:
        return
    assert isinstance(body, dict), where
    assert set(body) == {"code", "description", "result", "properties"}, where
    assert isinstance(body["description"], str) and body["description"], where
    assert body["result"] is None and body["properties"]["message"], where


@pytest.fixture
def target(tmp_path: Path, database_url: str) -> Iterator[Target]:
    app_settings = make_settings(tmp_path, database_url, sandbox_duration=0.2)
    with (
        ServerThread(app_settings) as server,
        httpx.Client(
            base_url=server.base_url,
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}"},
            timeout=30,
        ) as http,
    ):
        spec = http.get("/openapi.json").json()
        grid = finished(http, "/mj/submit/imagine", {"prompt": "a fuzzy moth"})
        image_key = grid["imageUrl"].split("/mj/image/", 1)[1].split("?", 1)[0]
        http.post("/mj/admin/users", json={"name": "fuzzed"})
        yield Target(
            http=http,
            spec=spec,
            operations=_operations(spec),
            known={
                "task_id": [grid["id"], MISSING_ID],
                "name": ["admin", "fuzzed", "nobody"],
                "key": [image_key, "IMAGINE", "UPSCALE:RELAX", "imagine:turbo"],
                "delivery_id": [1, 0, -1],
                "limit": [1, 0, -1, 1000],
            },
        )


FUZZ = settings(
    max_examples=int(os.environ.get("MJGATE_FUZZ_EXAMPLES", "1500")),
    # The same 1,500 requests on every run, so a green CI stays green for the same code;
    # MJGATE_FUZZ_RANDOM=1 explores new ones (how the NUL user name was found).
    derandomize=os.environ.get("MJGATE_FUZZ_RANDOM") != "1",
    deadline=None,
    database=None,
    suppress_health_check=[
        HealthCheck.function_scoped_fixture,
        HealthCheck.too_slow,
        HealthCheck.filter_too_much,
    ],
)


@FUZZ
@given(data=st.data())
def test_every_route(target: Target, data: st.DataObject) -> None:
    op, path_values, query, body = data.draw(requests(target), label="request")
    path = fill(op.path, path_values)
    content = None if body is None else json.dumps(body).encode()
    headers = {"Content-Type": "application/json"} if content is not None else {}
    response = target.http.request(
        op.method.upper(), path, params=query, content=content, headers=headers
    )
    check(op.method, path, response)
    if (op.method, op.path) not in UNLISTED:
        check_against_spec(target.spec, op.method, op.path, response)


def test_the_fuzz_reaches_every_kind_of_route(target: Target) -> None:
    paths = {op.path for op in target.operations}
    assert "/mj/admin/users/{name}/quota" in paths
    assert "/mj-relax/mj/submit/imagine" in paths
    assert "/mj/relay/callback/{task_id}/{signature}" in paths
    assert len(paths) >= 30 + len(MODE_PREFIXES) * 20
