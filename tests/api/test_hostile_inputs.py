"""Inputs an outsider sends to stall or break the gateway (issue 12, findings 4, 7 and 8).

Each test performs the attack over HTTP against the real served app and pins the envelope
that refuses it: a 400 (or 404) with its error id, never a 500, and nothing stored.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from mjgate.services.relay_callbacks import callback_signature
from support import (
    ADMIN_TOKEN,
    Gateway,
    ServedApp,
    add_user,
    button_id,
    custom_gateway,
    make_settings,
    png_data_url,
    task_row,
)

# Measures time or latency: runs alone, after the parallel part (scripts/test).
pytestmark = pytest.mark.timing

SURROGATE = "\\ud800"  # as a JSON escape: json.loads makes it a lone surrogate


def assert_envelope(response: httpx.Response, status: int, error_id: str) -> dict[str, Any]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json")
    answer: dict[str, Any] = response.json()
    assert answer["description"] == error_id, answer
    assert answer["result"] is None
    return answer


async def task_count(gateway: Gateway) -> int:
    response = await gateway.post("/mj/task/list-by-condition", {})
    assert response.status_code == 200, response.text
    return len(response.json())


# --- finding 4: prompt length -------------------------------------------------------------

PROMPT_ROUTES = [
    ("imagine", {}),
    ("shorten", {}),
    ("edits", {"image": "https://example.com/a.png"}),
    ("video", {}),
]


@pytest.mark.parametrize(("route", "extra"), PROMPT_ROUTES, ids=[r for r, _ in PROMPT_ROUTES])
async def test_a_prompt_over_6000_characters_is_refused(
    gateway: Gateway, route: str, extra: dict[str, Any]
) -> None:
    before = await task_count(gateway)
    response = await gateway.post(f"/mj/submit/{route}", {"prompt": "a" * 6001, **extra})
    answer = assert_envelope(response, 400, "prompt_too_long")
    assert answer["code"] == 4
    assert await task_count(gateway) == before
    # 6,000 exactly is still a prompt.
    ok = await gateway.post("/mj/submit/imagine", {"prompt": "a" * 6000})
    assert ok.json()["code"] == 1, ok.text


async def test_a_modal_prompt_over_the_limit_is_refused(gateway: Gateway) -> None:
    grid = await gateway.finished("imagine", {"prompt": "a cat"})
    u1 = button_id(grid, "U1")
    upscaled = await gateway.finished("action", {"taskId": grid["id"], "customId": u1})
    vary = button_id(upscaled, "Custom Zoom")
    modal = await gateway.submit("action", {"taskId": upscaled["id"], "customId": vary})
    response = await gateway.post(
        "/mj/submit/modal", {"taskId": modal["result"], "prompt": "b" * 6001}
    )
    assert_envelope(response, 400, "prompt_too_long")


async def test_a_ten_million_character_prompt_is_refused_fast_without_stalling_fetches(
    served: ServedApp, gateway: Gateway
) -> None:
    task = await gateway.finished("imagine", {"prompt": "a cat"})
    huge = {"prompt": "word " * 2_000_000}  # 10 million characters
    worst = 0.0

    async def fetch_meanwhile(stop: asyncio.Event) -> None:
        nonlocal worst
        async with Gateway.connect(served.base_url, ADMIN_TOKEN) as other:
            while not stop.is_set():
                started = time.perf_counter()
                await other.fetch(task["id"])
                worst = max(worst, time.perf_counter() - started)
                await asyncio.sleep(0.005)

    stop = asyncio.Event()
    poller = asyncio.create_task(fetch_meanwhile(stop))
    started = time.perf_counter()
    response = await gateway.post("/mj/submit/imagine", huge)
    took = time.perf_counter() - started
    stop.set()
    await poller
    assert_envelope(response, 400, "prompt_too_long")
    assert took < 1.0, f"the refusal took {took:.2f} s"
    assert worst < 0.5, f"a fetch waited {worst:.3f} s"


# --- finding 7: lone surrogates, huge expiries, deep JSON --------------------------------


def raw_json(template: str) -> bytes:
    return template.replace("@", SURROGATE).encode()


SURROGATE_BODIES = [
    ("/mj/submit/imagine", '{"prompt": "a cat @"}'),
    ("/mj/submit/imagine", '{"prompt": "a cat", "state": "@"}'),
    ("/mj/submit/describe", '{"link": "https://example.com/@.png"}'),
    ("/mj/submit/describe", '{"base64": "@"}'),
    ("/mj/submit/blend", '{"base64Array": ["@", "@"]}'),
    ("/mj/submit/shorten", '{"prompt": "@"}'),
    ("/mj/submit/video", '{"prompt": "@"}'),
    ("/mj/submit/edits", '{"prompt": "@", "image": "https://example.com/a.png"}'),
    ("/mj/task/list-by-condition", '{"ids": ["@"]}'),
    ("/mj/admin/users", '{"name": "eve@"}'),
    ("/mj/admin/users/admin/quota", '{"amount": 5, "reason": "@"}'),
    ("/mj/admin/users/admin/tokens", '{"label": "@"}'),
]


@pytest.mark.parametrize(("path", "body"), SURROGATE_BODIES)
async def test_a_lone_surrogate_is_a_400_not_a_500(gateway: Gateway, path: str, body: str) -> None:
    before = await task_count(gateway)
    response = await gateway.http.post(
        path, content=raw_json(body), headers={"content-type": "application/json"}
    )
    answer = assert_envelope(response, 400, "bind_request_body_failed")
    assert answer["code"] == 4
    assert await task_count(gateway) == before
    users = (await gateway.http.get("/mj/admin/users")).json()
    assert all("eve" not in user["name"] for user in users)


@pytest.mark.parametrize("exp", ["9" * 5000, "²", "-1", "1e9", "99999999999999999999999"])
async def test_an_image_url_with_a_monstrous_expiry_is_404(gateway: Gateway, exp: str) -> None:
    task = await gateway.finished("imagine", {"prompt": "a cat"})
    url = httpx.URL(task["imageUrl"])
    response = await gateway.http.get(url.copy_merge_params({"exp": exp}))
    assert_envelope(response, 404, "not_found")


async def test_a_deep_relay_callback_is_a_400(served: ServedApp, gateway: Gateway) -> None:
    deep = b"[" * 100_000 + b"]" * 100_000
    task_id = "1712158011464906"
    signature = callback_signature(served.runtime, task_id)
    signed = f"/mj/relay/callback/{task_id}/{signature}"
    response = await gateway.http.post(signed, content=deep)
    assert_envelope(response, 400, "bind_request_body_failed")
    response = await gateway.http.post(signed, content=raw_json('{"status": "@"}'))
    assert_envelope(response, 400, "bind_request_body_failed")
    # Without the signature nobody learns whether the body was acceptable.
    response = await gateway.http.post(f"/mj/relay/callback/{task_id}/{'0' * 40}", content=deep)
    assert_envelope(response, 404, "task_not_found")


# --- finding 8: admin amounts -------------------------------------------------------------


async def balance_of(gateway: Gateway, name: str) -> Any:
    response = await gateway.http.get(f"/mj/admin/users/{name}/quota")
    assert response.status_code == 200, response.text
    return response.json()["user"]["balance"]


async def test_grants_beyond_the_bounds_are_refused_and_the_balance_stays_an_int(
    served: ServedApp, gateway: Gateway
) -> None:
    await add_user(served.runtime, "rich", balance=10**15 - 10**12)
    grant = "/mj/admin/users/rich/quota"
    for amount in (2**63 - 1, 10**30, -(10**30), 10**12 + 1):
        response = await gateway.post(grant, {"amount": amount})
        assert_envelope(response, 400, "amount_out_of_range")
    # Up to 10^15 exactly, then one more unit is refused.
    response = await gateway.post(grant, {"amount": 10**12})
    assert response.json() == {"name": "rich", "balance": 10**15}, response.text
    response = await gateway.post(grant, {"amount": 5})
    assert_envelope(response, 400, "amount_out_of_range")
    balance = await balance_of(gateway, "rich")
    assert balance == 10**15 and isinstance(balance, int)
    report = (await gateway.http.get(grant)).json()
    assert report["ledgerSum"] == 10**15, report


@pytest.mark.parametrize("value", [2**63 - 1, 10**30, 10**12 + 1])
async def test_prices_and_caps_beyond_the_bound_are_refused(gateway: Gateway, value: int) -> None:
    response = await gateway.http.put("/mj/admin/prices/IMAGINE", json={"price": value})
    assert_envelope(response, 400, "amount_out_of_range")
    response = await gateway.post("/mj/admin/users/admin/tokens", {"spendCap": value})
    assert_envelope(response, 400, "amount_out_of_range")


# --- finding 9: the Host header never becomes our URLs -----------------------------------


async def test_a_forged_host_never_appears_in_our_urls(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, allowed_hosts="gw.example:8080")
    async with custom_gateway(settings) as (gateway, rt):
        evil = {"Host": "evil.example"}
        response = await gateway.http.post(
            "/mj/submit/imagine", json={"prompt": "a cat"}, headers=evil
        )
        task_id = response.json()["result"]
        task = await gateway.wait(task_id)
        upload = await gateway.http.post(
            "/mj/submit/upload-discord-images", json={"base64Array": [png_data_url()]}, headers=evil
        )
        fetched = await gateway.http.get(f"/mj/task/{task_id}/fetch", headers=evil)
        record = await task_row(rt, task_id)
        assert "evil.example" not in (record.public_base or "")
        for text in (response.text, str(task), upload.text, fetched.text):
            assert "evil.example" not in text
        assert task["imageUrl"].startswith(gateway.http.base_url.join("/").__str__()[:-1])
        # A Host the operator allowed is kept as the client named it.
        allowed = await gateway.http.post(
            "/mj/submit/imagine", json={"prompt": "a dog"}, headers={"Host": "gw.example:8080"}
        )
        done = await gateway.wait(allowed.json()["result"])
        assert done["imageUrl"].startswith("http://gw.example:8080/mj/image/"), done


def test_a_short_admin_token_is_refused_at_start(tmp_path: Path, database_url: str) -> None:
    with pytest.raises(ValueError, match="at least 32 characters"):
        make_settings(tmp_path, database_url, admin_token="mjg_short-and-guessable")
    assert make_settings(tmp_path, database_url, admin_token="x" * 32).admin_token == "x" * 32
