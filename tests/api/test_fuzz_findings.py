"""Inputs the OpenAPI fuzz run (tests/api/test_fuzz_openapi.py) found answering 500, each
pinned here with the envelope it is answered with now."""

from __future__ import annotations

from typing import Any

import pytest

from support import Gateway


def _envelope(body: dict[str, Any], code: int) -> None:
    assert set(body) == {"code", "description", "result", "properties"}
    assert body["code"] == code and body["result"] is None and body["properties"]["message"]


@pytest.mark.parametrize("signature", ["%C3%A9t%C3%A9", "%E2%9C%93" * 20, "%ED%A0%80"])
async def test_relay_callback_with_a_non_ascii_signature_is_task_not_found(
    gateway: Gateway, signature: str
) -> None:
    # hmac.compare_digest raised TypeError on a str with non-ASCII characters.
    response = await gateway.post(f"/mj/relay/callback/1712158011464906/{signature}", {})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/json")
    _envelope(response.json(), 3)


@pytest.mark.parametrize("sig", ["été", "✓" * 16, "%ED%A0%80"])
async def test_image_with_a_non_ascii_signature_is_not_found(gateway: Gateway, sig: str) -> None:
    # The same TypeError, from the signed image URLs' check.
    answer = await gateway.submit("imagine", {"prompt": "a lighthouse"})
    task = await gateway.wait(str(answer["result"]))
    path = task["imageUrl"].split("?", 1)[0].split("/mj/image/", 1)[1]
    response = await gateway.http.get(f"/mj/image/{path}", params={"sig": sig})
    assert response.status_code == 404, response.text
    assert response.headers["content-type"].startswith("application/json")
    _envelope(response.json(), 4)  # not_found: no such file, or the link is not valid


@pytest.mark.parametrize(
    ("method", "path"),
    [("PUT", "/mj/admin/prices/"), ("GET", "/mj/admin/users/"), ("GET", "/mj/task/list/")],
)
async def test_a_trailing_slash_is_a_404_envelope_not_a_redirect(
    gateway: Gateway, method: str, path: str
) -> None:
    # Starlette answered a bodiless 307 whose Location came from the Host header.
    response = await gateway.http.request(
        method, path, json={"price": 1}, headers={"Host": "evil.example"}
    )
    assert response.status_code == 404, response.text
    assert "location" not in response.headers
    assert response.headers["content-type"].startswith("application/json")
    _envelope(response.json(), 4)


@pytest.mark.parametrize("delivery_id", [2**31, 2**63, 2**64, 0])
async def test_a_webhook_retry_of_an_id_past_the_column_is_a_400_envelope(
    gateway: Gateway, delivery_id: int
) -> None:
    # On PostgreSQL an id past INTEGER reached asyncpg and came back as a DataError 500.
    response = await gateway.post(f"/mj/admin/webhooks/{delivery_id}/retry")
    assert response.status_code == 400, response.text
    assert response.headers["content-type"].startswith("application/json")
    _envelope(response.json(), 4)
