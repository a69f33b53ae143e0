"""Rate limits over real HTTP: fast path and FastAPI routes, per token and per address."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
import pytest

from mjgate.services import accounts
from mjgate.services.runtime import Runtime
from support import ADMIN_TOKEN, ServedApp, make_settings, serve_app

# Measures time or latency: runs alone, after the parallel part (scripts/test).
pytestmark = pytest.mark.timing

OFF: dict[str, object] = {"rate_limit_anonymous_per_second": 0}
AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}


@asynccontextmanager
async def served(tmp_path: Path, database_url: str, **limits: object) -> AsyncIterator[ServedApp]:
    runtime = Runtime.from_settings(make_settings(tmp_path, database_url, **limits))
    await accounts.bootstrap(runtime)
    try:
        async with serve_app(runtime, workers=False) as app:
            yield app
    finally:
        await runtime.db.dispose()


async def imagined(http: httpx.AsyncClient) -> str:
    """A task of the admin's; its 200 also makes the admin's token known."""
    answer = (await http.post("/mj/submit/imagine", json={"prompt": "a cat"}, headers=AUTH)).json()
    assert answer["code"] in (1, 22), answer
    return str(answer["result"])


def assert_limited(response: httpx.Response, retry_after: int) -> None:
    assert response.status_code == 429, response.text
    assert response.headers["content-type"].startswith("application/json")
    assert response.headers["Retry-After"] == str(retry_after)
    assert response.json() == {
        "code": 23,
        "description": "rate_limited",
        "result": None,
        "properties": {"retryAfter": retry_after},
    }


async def test_a_token_is_limited_on_the_fast_path_and_on_routes_alike(
    tmp_path: Path, database_url: str
) -> None:
    limits = {**OFF, "rate_limit_read_per_second": 0.5, "rate_limit_read_burst": 3}
    async with (
        served(tmp_path, database_url, **limits) as app,
        httpx.AsyncClient(base_url=app.base_url) as http,
    ):
        task_id = await imagined(http)
        fetch = f"/mj/task/{task_id}/fetch"
        # The fast path (fetch), a FastAPI route and a mode prefix share one read budget.
        statuses = [
            (await http.get(fetch, headers=AUTH)).status_code,
            (await http.get("/mj/account/self", headers=AUTH)).status_code,
            (await http.get(f"/mj-relax{fetch}", headers=AUTH)).status_code,
        ]
        assert statuses == [200, 200, 200]
        assert_limited(await http.get(fetch, headers=AUTH), 2)  # one request per 2 s
        assert_limited(await http.get("/mj/account/self", headers=AUTH), 2)
        assert_limited(
            await http.post("/mj/task/list-by-condition", json={"ids": [task_id]}, headers=AUTH),
            2,
        )
        # Submits have their own budget (off here).
        assert (await http.post("/mj/submit/imagine", json={"prompt": "b"}, headers=AUTH)).json()[
            "code"
        ] in (1, 22)


async def test_the_budget_comes_back_after_retry_after(tmp_path: Path, database_url: str) -> None:
    limits = {**OFF, "rate_limit_read_per_second": 4, "rate_limit_read_burst": 1}
    async with (
        served(tmp_path, database_url, **limits) as app,
        httpx.AsyncClient(base_url=app.base_url) as http,
    ):
        fetch = f"/mj/task/{await imagined(http)}/fetch"
        assert (await http.get(fetch, headers=AUTH)).status_code == 200
        refused = await http.get(fetch, headers=AUTH)
        assert_limited(refused, 1)
        await asyncio.sleep(float(refused.headers["Retry-After"]))
        assert (await http.get(fetch, headers=AUTH)).status_code == 200


async def test_submits_and_reads_have_separate_budgets(tmp_path: Path, database_url: str) -> None:
    limits = {
        **OFF,
        "rate_limit_submit_per_second": 0.1,
        "rate_limit_submit_burst": 2,
        "rate_limit_read_per_second": 0.1,
        "rate_limit_read_burst": 2,
    }
    async with (
        served(tmp_path, database_url, **limits) as app,
        httpx.AsyncClient(base_url=app.base_url) as http,
    ):
        task_id = await imagined(http)  # unknown token yet: counted under the address (off)
        for _ in range(2):
            answer = await http.post(
                "/mj-fast/mj/submit/shorten", json={"prompt": "a"}, headers=AUTH
            )
            assert answer.status_code == 200, answer.text
        assert_limited(
            await http.post("/mj/submit/imagine", json={"prompt": "x"}, headers=AUTH), 10
        )
        fetch = f"/mj/task/{task_id}/fetch"
        assert [(await http.get(fetch, headers=AUTH)).status_code for _ in range(2)] == [200, 200]
        assert_limited(await http.get(fetch, headers=AUTH), 10)


async def test_without_a_token_the_address_is_limited_whatever_it_claims(
    tmp_path: Path, database_url: str
) -> None:
    limits = {"rate_limit_anonymous_per_second": 0.1, "rate_limit_anonymous_burst": 2}
    async with (
        served(tmp_path, database_url, **limits) as app,
        httpx.AsyncClient(base_url=app.base_url) as http,
    ):
        fetch = "/mj/task/1712158011464906/fetch"
        first = [(await http.get(fetch)).status_code for _ in range(2)]
        assert first == [401, 401]
        # Neither a forged X-Forwarded-For nor a made-up token buys a fresh budget.
        assert_limited(await http.get(fetch, headers={"X-Forwarded-For": "203.0.113.9"}), 10)
        assert_limited(await http.get(fetch, headers={"Authorization": "Bearer mjg_invented"}), 10)
        assert_limited(await http.get(fetch, headers={"mj-api-secret": "another"}), 10)
        # A good token this process has not yet seen accepted counts under the address too.
        assert (await http.get("/mj/account/self", headers=AUTH)).status_code == 429
        # Health probes are never limited.
        assert (await http.get("/healthz")).status_code == 200


async def test_a_trusted_proxy_speaks_for_its_clients(tmp_path: Path, database_url: str) -> None:
    limits = {
        "rate_limit_anonymous_per_second": 0.1,
        "rate_limit_anonymous_burst": 1,
        "trusted_proxies": ["127.0.0.1"],
    }
    async with (
        served(tmp_path, database_url, **limits) as app,
        httpx.AsyncClient(base_url=app.base_url) as http,
    ):
        fetch = "/mj/task/1712158011464906/fetch"

        async def from_(client: str) -> int:
            # What the client wrote first is ignored; the proxy appended the real address.
            forwarded = {"X-Forwarded-For": f"198.51.100.1, {client}"}
            return (await http.get(fetch, headers=forwarded)).status_code

        assert [await from_("203.0.113.1"), await from_("203.0.113.1")] == [401, 429]
        assert await from_("203.0.113.2") == 401
        assert await from_("2001:db8::1") == 401
        assert await from_("2001:db8::2") == 429  # the same /64


async def test_a_token_is_known_after_one_accepted_request(
    tmp_path: Path, database_url: str
) -> None:
    limits = {"rate_limit_anonymous_per_second": 0.1, "rate_limit_anonymous_burst": 1}
    async with (
        served(tmp_path, database_url, **limits) as app,
        httpx.AsyncClient(base_url=app.base_url) as http,
    ):
        assert (await http.get("/mj/account/self", headers=AUTH)).status_code == 200
        # The address's only cell is spent, the token's requests go on (token limits off).
        statuses = {
            (await http.get("/mj/account/self", headers=AUTH)).status_code for _ in range(20)
        }
        assert statuses == {200}
        assert_limited(await http.get("/mj/account/self"), 10)


async def test_with_limits_off_nothing_is_refused(tmp_path: Path, database_url: str) -> None:
    async with (
        served(tmp_path, database_url, **OFF) as app,
        httpx.AsyncClient(base_url=app.base_url) as http,
    ):
        task_id = await imagined(http)
        anonymous = [(await http.get(f"/mj/task/{task_id}/fetch")).status_code for _ in range(150)]
        assert set(anonymous) == {401}
        known = [
            (await http.get(f"/mj/task/{task_id}/fetch", headers=AUTH)).status_code
            for _ in range(150)
        ]
        assert set(known) == {200}
