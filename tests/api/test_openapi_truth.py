"""``/openapi.json`` tells the truth (issue 14): a valid OpenAPI 3.1 document whose security
schemes, statuses and schemas are what the server really does, checked against real answers
(fast routes included) and by a client generated from it."""

from __future__ import annotations

from typing import Any

from openapi_spec_validator import validate

from openapi_check import check_against_spec, check_examples
from support import Gateway, ServedApp, add_user, png_data_url

TOKEN_FREE = {"/healthz", "/readyz", "/mj/image/{key}"}


async def spec_of(gateway: Gateway) -> dict[str, Any]:
    response = await gateway.http.get("/openapi.json")
    assert response.status_code == 200
    spec: dict[str, Any] = response.json()
    return spec


async def test_the_document_is_valid_and_promises_no_422(gateway: Gateway) -> None:
    spec = await spec_of(gateway)
    validate(spec)  # a valid OpenAPI 3.1 document
    schemas = spec["components"]["schemas"]
    assert "HTTPValidationError" not in schemas and "ValidationError" not in schemas
    assert spec["components"]["securitySchemes"] == {
        "bearerAuth": {"type": "http", "scheme": "bearer", "description": ANY_TEXT},
        "mjApiSecret": {
            "type": "apiKey",
            "in": "header",
            "name": "mj-api-secret",
            "description": ANY_TEXT,
        },
    }
    for path, operations in spec["paths"].items():
        for method, operation in operations.items():
            where = f"{method} {path}"
            responses = operation["responses"]
            assert "422" not in responses, where
            assert "500" in responses, where
            names = {p["name"].lower() for p in operation.get("parameters", [])}
            assert not names & {"authorization", "mj-api-secret"}, where
            if path in TOKEN_FREE:
                assert "security" not in operation and "401" not in responses, where
            else:
                assert operation["security"] == [{"bearerAuth": []}, {"mjApiSecret": []}], where
                assert {"401", "403", "429"} <= set(responses), where
            ok = responses["200"]["content"]
            for media_type, media in ok.items():
                assert media["schema"] not in ({}, {"type": "string"}) or (
                    media_type != "application/json"
                ), where
            for status, response in responses.items():
                if status.startswith(("4", "5")) and path.startswith("/v1/"):
                    # OpenAI's Images API: its own error shape, which its clients read.
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/OpenAIError"}, where
                elif status.startswith(("4", "5")) and path != "/readyz":
                    schema = response["content"]["application/json"]["schema"]
                    assert schema == {"$ref": "#/components/schemas/ErrorEnvelope"}, where
                    assert response["content"]["application/json"]["examples"], where
            if method in ("post", "put"):
                assert {"400", "413", "503"} <= set(responses), where
    assert check_examples(spec) > 150


class AnyText:
    def __eq__(self, other: object) -> bool:
        return isinstance(other, str) and bool(other)


ANY_TEXT = AnyText()


async def test_the_statuses_a_route_really_gives(gateway: Gateway) -> None:
    spec = await spec_of(gateway)
    paths = spec["paths"]
    imagine = paths["/mj/submit/imagine"]["post"]["responses"]
    assert set(imagine) == {"200", "400", "401", "402", "403", "413", "429", "500", "503"}
    assert set(paths["/mj/task/{task_id}/fetch"]["get"]["responses"]) == {
        "200", "401", "403", "404", "429", "500"
    }  # fmt: skip
    assert set(paths["/mj/image/{key}"]["get"]["responses"]) == {"200", "404", "429", "500"}
    described = imagine["400"]["description"]
    for error_id in ("bind_request_body_failed", "prompt_is_required", "state_too_long"):
        assert f"`{error_id}`" in described
    task = spec["components"]["schemas"]["Task"]
    assert set(task["required"]) == set(task["properties"]) - {"imageUrls", "videoUrls"}
    for listed in ("imageUrls", "videoUrls"):
        assert task["properties"][listed]["type"] == "array"
        assert task["properties"][listed]["minItems"] == 1


async def test_real_answers_validate_against_the_spec(gateway: Gateway) -> None:
    spec = await spec_of(gateway)
    http = gateway.http

    async def judged(method: str, template: str, url: str, **kwargs: Any) -> Any:
        response = await http.request(method, url, **kwargs)
        check_against_spec(spec, method, template, response)
        return response.json() if response.headers["content-type"].endswith("json") else None

    submitted = await judged(
        "POST", "/mj/submit/imagine", "/mj/submit/imagine", json={"prompt": "a lighthouse"}
    )
    assert submitted["code"] == 1
    task_id = submitted["result"]
    fresh = await judged("GET", "/mj/task/{task_id}/fetch", f"/mj/task/{task_id}/fetch")
    assert fresh["id"] == task_id
    done = await gateway.wait(task_id)
    assert done["status"] == "SUCCESS" and len(done["imageUrls"]) == 4
    fetched = await judged("GET", "/mj/task/{task_id}/fetch", f"/mj/task/{task_id}/fetch")
    assert fetched["status"] == "SUCCESS" and "videoUrls" not in fetched
    # The same through a mode prefix, and through FastAPI (an Origin skips the fast route).
    await judged("GET", "/mj/task/{task_id}/fetch", f"/mj-relax/mj/task/{task_id}/fetch")
    await judged(
        "GET",
        "/mj/task/{task_id}/fetch",
        f"/mj/task/{task_id}/fetch",
        headers={"Origin": "https://ui.example"},
    )
    listed = await judged(
        "POST",
        "/mj/task/list-by-condition",
        "/mj/task/list-by-condition",
        json={"ids": [task_id, int(task_id), "1712158011464906"]},
    )
    assert [t["id"] for t in listed] == [task_id]
    await judged("POST", "/mj/task/list-by-ids", "/mj/task/list-by-ids", json={"ids": []})
    await judged("GET", "/mj/task/list", "/mj/task/list?limit=5")
    await judged("GET", "/mj/task/queue", "/mj/task/queue")
    await judged("GET", "/mj/task/{task_id}/image-seed", f"/mj/task/{task_id}/image-seed")
    await judged("POST", "/mj/task/{task_id}/cancel", f"/mj/task/{task_id}/cancel")
    image = fetched["imageUrl"].split("/mj/image/", 1)[1]
    await judged("GET", "/mj/image/{key}", f"/mj/image/{image}")
    upscale = await judged(
        "POST",
        "/mj/submit/simple-change",
        "/mj/submit/simple-change",
        json={"content": f"{task_id} U2"},
    )
    upscaled = await gateway.wait(upscale["result"])
    await judged("GET", "/mj/task/{task_id}/fetch", f"/mj/task/{upscaled['id']}/fetch")
    described = await judged(
        "POST", "/mj/submit/describe", "/mj/submit/describe", json={"base64": png_data_url()}
    )
    await gateway.wait(described["result"])
    await judged("GET", "/mj/task/{task_id}/fetch", f"/mj/task/{described['result']}/fetch")
    await judged(
        "POST",
        "/mj/submit/upload-discord-images",
        "/mj/submit/upload-discord-images",
        json={"base64Array": [png_data_url()]},
    )
    for path in ("/mj/admin/users", "/mj/admin/prices", "/mj/admin/webhooks", "/mj/account/self"):
        await judged("GET", path, path)
    await judged("GET", "/mj/admin/users/{name}/quota", "/mj/admin/users/admin/quota")
    await judged("GET", "/healthz", "/healthz")
    await judged("GET", "/readyz", "/readyz")

    # Errors: each an envelope with a declared status.
    missing = await judged("GET", "/mj/task/{task_id}/fetch", "/mj/task/1712158011464906/fetch")
    assert missing["description"] == "task_not_found"
    blank = await judged("POST", "/mj/submit/imagine", "/mj/submit/imagine", json={"prompt": ""})
    assert blank["description"] == "prompt_is_required"
    broken = await judged("POST", "/mj/submit/imagine", "/mj/submit/imagine", content=b"{not json")
    assert broken["description"] == "bind_request_body_failed"
    nobody = await judged(
        "POST",
        "/mj/task/list-by-condition",
        "/mj/task/list-by-condition",
        json={"ids": [task_id]},
        headers={"Authorization": "Bearer mjg_nobody"},
    )
    assert nobody["description"] == "unauthorized"
    expired = await judged("GET", "/mj/image/{key}", f"/mj/image/{image.split('?')[0]}?sig=x")
    assert expired["description"] == "not_found"
    limited = await judged("GET", "/mj/task/list", "/mj/task/list?limit=0")
    assert limited["description"] == "bind_request_body_failed"
    unknown_user = await judged(
        "GET", "/mj/admin/users/{name}/quota", "/mj/admin/users/nobody/quota"
    )
    assert unknown_user["description"] == "user_not_found"


async def test_the_other_token_header_and_a_poor_user(served: ServedApp, gateway: Gateway) -> None:
    """mj-api-secret works as documented; 402 and 403 come as declared envelopes."""
    spec = await spec_of(gateway)
    _, token = await add_user(served.runtime, "poor", balance=0)
    headers = {"mj-api-secret": token, "Authorization": ""}
    response = await gateway.http.post(
        "/mj/submit/imagine", json={"prompt": "a coin"}, headers=headers
    )
    check_against_spec(spec, "POST", "/mj/submit/imagine", response)
    assert response.status_code == 402
    admin_only = await gateway.http.get("/mj/admin/users", headers=headers)
    check_against_spec(spec, "GET", "/mj/admin/users", admin_only)
    assert admin_only.status_code == 403
