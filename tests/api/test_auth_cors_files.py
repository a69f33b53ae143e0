"""Auth headers, CORS, signed image URLs and who sees which task (PROTOCOL §1, §3, §7)."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote, unquote, urlsplit, urlunsplit

import httpx
import pytest

from mjgate.services import accounts
from mjgate.services.runtime import system_clock_ms
from support import ADMIN_TOKEN, Gateway, ServedApp, png_data_url, serve_with

ORIGIN = "https://app.example"


def assert_error(response: httpx.Response, status: int, code: int, description: str) -> None:
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/json"), response.headers
    body = response.json()
    assert body["code"] == code and body["description"] == description, body
    assert body["result"] is None and body["properties"]["message"], body


# --- tokens -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "headers",
    [
        {"Authorization": f"Bearer {ADMIN_TOKEN}"},
        {"Authorization": f"bearer {ADMIN_TOKEN}"},
        {"mj-api-secret": ADMIN_TOKEN},
        {"mj-api-secret": f"Bearer {ADMIN_TOKEN}"},
        {"MJ-API-SECRET": f"Bearer  {ADMIN_TOKEN}"},
    ],
    ids=[
        "authorization",
        "authorization-lowercase",
        "secret",
        "secret-bearer",
        "secret-upper-name",
    ],
)
async def test_token_headers(served: ServedApp, headers: dict[str, str]) -> None:
    async with httpx.AsyncClient(base_url=served.base_url, headers=headers) as http:
        listed = await http.get("/mj/task/list")
        assert listed.status_code == 200, listed.text
        assert listed.json() == []
        submitted = await http.post("/mj/submit/imagine", json={"prompt": "a heron"})
        assert submitted.status_code == 200, submitted.text
        assert submitted.json()["code"] == 1
        fetched = await http.get(f"/mj/task/{submitted.json()['result']}/fetch")
        assert fetched.status_code == 200, fetched.text


async def test_other_users_token_is_its_own_caller(served: ServedApp) -> None:
    rt = served.runtime
    await accounts.create_user(rt, "carol")
    _, token = await accounts.create_token(rt, "carol")
    async with Gateway.connect(served.base_url, token) as carol:
        listed = await carol.http.get("/mj/task/list")
        assert listed.status_code == 200 and listed.json() == []
        refused = await carol.post("/mj/submit/imagine", {"prompt": "a heron"})
        assert_error(refused, 402, 4, "quota_not_enough")
    await accounts.revoke_token(rt, token)
    async with Gateway.connect(served.base_url, token) as carol:
        # Revoked: answered word for word as a token that never existed.
        revoked = await carol.http.get("/mj/task/list")
        assert_error(revoked, 401, 4, "unauthorized")
    async with Gateway.connect(served.base_url, "mjg_never-issued") as stranger:
        unknown = await stranger.http.get("/mj/task/list")
        assert unknown.json() == revoked.json()


# --- CORS ---------------------------------------------------------------------------------

ASKED_HEADERS = "authorization, mj-api-secret, content-type"


def header_names(value: str) -> set[str]:
    return {part.strip().lower() for part in value.split(",") if part.strip()}


@pytest.mark.parametrize(
    ("path", "method"),
    [
        ("/mj/submit/imagine", "POST"),
        ("/mj-relax/mj/submit/blend", "POST"),
        ("/mj/task/1712158011464906/fetch", "GET"),
        ("/mj/task/list-by-condition", "POST"),
        ("/mj/image/abc/def.png?sig=x", "GET"),
    ],
)
async def test_preflight_allows_the_protocol_headers(
    served: ServedApp, path: str, method: str
) -> None:
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        response = await http.options(
            path,
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": method,
                "Access-Control-Request-Headers": ASKED_HEADERS,
            },
        )
    assert response.status_code == 200, response.text
    assert response.headers["access-control-allow-origin"] == "*"
    assert method.lower() in header_names(response.headers["access-control-allow-methods"])
    allowed = header_names(response.headers["access-control-allow-headers"])
    assert {"authorization", "mj-api-secret", "content-type"} <= allowed


async def test_allow_origin_on_answers_and_on_errors(served: ServedApp) -> None:
    origin = {"Origin": ORIGIN}
    auth = {"Authorization": f"Bearer {ADMIN_TOKEN}", **origin}
    async with httpx.AsyncClient(base_url=served.base_url) as http:
        answers = [
            await http.get("/mj/task/list", headers=auth),
            await http.post("/mj/submit/imagine", json={"prompt": "a wren"}, headers=auth),
            await http.get("/mj/task/list", headers=origin),  # 401
            await http.post("/mj/submit/imagine", content=b"{", headers=auth),  # 400
            await http.get("/mj/task/1712158011464906/fetch", headers=auth),  # 404 task
            await http.get("/mj/no-such-route", headers=auth),  # 404 route
            await http.delete("/mj/task/list", headers=auth),  # 405
        ]
    assert [a.status_code for a in answers] == [200, 200, 401, 400, 404, 404, 405]
    for answer in answers:
        assert answer.headers.get("access-control-allow-origin") == "*", answer.request.url
        assert answer.headers["content-type"].startswith("application/json")


async def test_allow_origin_on_an_oversized_body(tmp_path: Path, database_url: str) -> None:
    async with (
        serve_with(tmp_path, database_url, max_body_bytes=1024) as served,
        httpx.AsyncClient(base_url=served.base_url) as http,
    ):
        response = await http.post(
            "/mj/submit/imagine",
            json={"prompt": "x" * 4096},
            headers={"Authorization": f"Bearer {ADMIN_TOKEN}", "Origin": ORIGIN},
        )
    assert_error(response, 413, 4, "image_too_large")
    assert response.headers.get("access-control-allow-origin") == "*"


async def test_configured_origin(tmp_path: Path, database_url: str) -> None:
    async with (
        serve_with(tmp_path, database_url, cors_origins=ORIGIN) as served,
        httpx.AsyncClient(base_url=served.base_url) as http,
    ):
        auth = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
        ours = await http.get("/mj/task/list", headers={**auth, "Origin": ORIGIN})
        theirs = await http.get("/mj/task/list", headers={**auth, "Origin": "https://evil.example"})
        preflight = await http.options(
            "/mj/submit/imagine",
            headers={
                "Origin": ORIGIN,
                "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": ASKED_HEADERS,
            },
        )
    assert ours.headers.get("access-control-allow-origin") == ORIGIN
    assert "access-control-allow-origin" not in theirs.headers
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == ORIGIN


# --- image URLs ---------------------------------------------------------------------------


def _with_query(url: str, **changes: str) -> str:
    parts = urlsplit(url)
    query = {k: v[0] for k, v in parse_qs(parts.query).items()}
    query.update(changes)
    text = "&".join(f"{k}={v}" for k, v in query.items() if v != "")
    return urlunsplit(parts._replace(query=text))


def _with_key(url: str, key: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/mj/image/" + quote(key)))


def _key_of(url: str) -> str:
    return unquote(urlsplit(url).path.split("/mj/image/", 1)[1])


async def test_image_urls_need_no_token(gateway: Gateway) -> None:
    task = await gateway.finished("imagine", {"prompt": "a kingfisher"})
    urls = [task["imageUrl"], *(item["url"] for item in task["imageUrls"])]
    assert len(urls) == 5
    async with httpx.AsyncClient() as anonymous:
        for url in urls:
            assert url.startswith(str(gateway.http.base_url).rstrip("/") + "/mj/image/"), url
            image = await anonymous.get(url, headers={"Origin": ORIGIN})
            assert image.status_code == 200, image.text
            assert image.headers["content-type"] == "image/png"
            assert int(image.headers["content-length"]) == len(image.content) > 0
            assert image.content.startswith(b"\x89PNG\r\n\x1a\n")
            cache = image.headers["cache-control"]
            assert "public" in cache and "max-age=31536000" in cache, cache
            assert image.headers.get("etag"), image.headers
            assert image.headers.get("access-control-allow-origin") == "*"
        head = await anonymous.head(urls[0])
        assert head.status_code == 200
        assert head.headers["content-type"] == "image/png"


async def test_uploaded_images_are_served(gateway: Gateway) -> None:
    answer = await gateway.post(
        "/mj/submit/upload-discord-images", {"base64Array": [png_data_url(), png_data_url()]}
    )
    assert answer.status_code == 200, answer.text
    urls = answer.json()["result"]
    assert isinstance(urls, list) and len(urls) == 2 and urls[0] != urls[1]
    async with httpx.AsyncClient() as anonymous:
        for url in urls:
            image = await anonymous.get(url)
            assert image.status_code == 200, image.text
            assert image.headers["content-type"] == "image/png"


async def test_tampered_image_urls_are_not_found(gateway: Gateway) -> None:
    task = await gateway.finished("imagine", {"prompt": "an egret"})
    url: str = task["imageUrl"]
    other: str = task["imageUrls"][1]["url"]
    sig = parse_qs(urlsplit(url).query)["sig"][0]
    flipped = ("0" if sig[0] != "0" else "1") + sig[1:]
    key = _key_of(url)
    owner, name = key.split("/", 1)
    tampered = {
        "flipped sig": _with_query(url, sig=flipped),
        "no sig": _with_query(url, sig=""),
        "short sig": _with_query(url, sig=sig[:-1]),
        "sig of another key": _with_query(url, sig=parse_qs(urlsplit(other).query)["sig"][0]),
        "other key, this sig": _with_key(url, _key_of(other)) + "?" + urlsplit(url).query,
        "renamed key": _with_key(url, f"{owner}/x{name}") + "?" + urlsplit(url).query,
        "other extension": _with_key(url, key.rsplit(".", 1)[0] + ".jpg")
        + "?"
        + urlsplit(url).query,
        "added exp": _with_query(url, exp=str(system_clock_ms() // 1000 + 3600)),
        "traversal": _with_key(url, f"../{key}") + "?" + urlsplit(url).query,
        "no key": _with_key(url, "") + "?" + urlsplit(url).query,
    }
    async with httpx.AsyncClient() as anonymous:
        assert (await anonymous.get(url)).status_code == 200
        for label, bad in tampered.items():
            response = await anonymous.get(bad)
            assert response.status_code == 404, (label, bad, response.text)
            assert_error(response, 404, 4, "not_found")


async def test_image_urls_expire(tmp_path: Path, database_url: str) -> None:
    async with (
        serve_with(tmp_path, database_url, image_url_ttl=60) as served,
        Gateway.connect(served.base_url, ADMIN_TOKEN) as gateway,
        httpx.AsyncClient() as anonymous,
    ):
        task = await gateway.finished("imagine", {"prompt": "a stork"})
        url: str = task["imageUrl"]
        expires = int(parse_qs(urlsplit(url).query)["exp"][0])
        now = system_clock_ms() // 1000
        assert now < expires <= now + 61
        fresh = await anonymous.get(url)
        assert fresh.status_code == 200
        max_age = int(fresh.headers["cache-control"].split("max-age=")[1].split(",")[0])
        assert 0 < max_age <= 60
        # Two minutes later the link is dead; a new fetch of the task hands out a live one.
        served.runtime.clock = lambda: system_clock_ms() + 120_000
        assert_error(await anonymous.get(url), 404, 4, "not_found")
        renewed: str = (await gateway.fetch(task["id"]))["imageUrl"]
        assert renewed != url
        assert (await anonymous.get(renewed)).status_code == 200
        # A forged later expiry with the old signature is refused too.
        forged = _with_query(url, exp=str(expires + 3600))
        assert_error(await anonymous.get(forged), 404, 4, "not_found")


# --- who sees what ------------------------------------------------------------------------


async def _ids(response: httpx.Response) -> list[str]:
    assert response.status_code == 200, response.text
    body: Any = response.json()
    assert isinstance(body, list), body
    return [task["id"] for task in body]


async def test_users_see_only_their_tasks(tmp_path: Path, database_url: str) -> None:
    # Long tasks, so the queue has something in it while the test looks.
    async with serve_with(
        tmp_path, database_url, sandbox_duration=30, new_user_quota=10_000
    ) as served:
        rt = served.runtime
        tokens: dict[str, str] = {"admin": ADMIN_TOKEN}
        for name in ("alice", "bob"):
            await accounts.create_user(rt, name)
            tokens[name] = (await accounts.create_token(rt, name))[1]
        mine: dict[str, str] = {}
        async with (
            Gateway.connect(served.base_url, tokens["admin"]) as admin,
            Gateway.connect(served.base_url, tokens["alice"]) as alice,
            Gateway.connect(served.base_url, tokens["bob"]) as bob,
        ):
            clients = {"admin": admin, "alice": alice, "bob": bob}
            for name, client in clients.items():
                mine[name] = (await client.submit("imagine", {"prompt": f"{name}'s owl"}))["result"]
            everything = [mine["admin"], mine["alice"], mine["bob"]]
            for name in ("alice", "bob"):
                client = clients[name]
                own = mine[name]
                assert await _ids(await client.http.get("/mj/task/list")) == [own]
                assert await _ids(await client.http.get("/mj/task/queue")) == [own]
                for route in ("list-by-condition", "list-by-ids"):
                    asked = await client.post(f"/mj/task/{route}", {"ids": everything})
                    assert await _ids(asked) == [own]
                    numbers = await client.post(
                        f"/mj/task/{route}", {"ids": [int(i) for i in everything]}
                    )
                    assert await _ids(numbers) == [own]
                assert (await client.fetch(own))["id"] == own
                for theirs in everything:
                    if theirs == own:
                        continue
                    assert_error(
                        await client.http.get(f"/mj/task/{theirs}/fetch"), 404, 3, "task_not_found"
                    )
                    assert_error(
                        await client.http.post(f"/mj/task/{theirs}/cancel"),
                        404,
                        3,
                        "task_not_found",
                    )
            # The admin reads everyone's tasks, in the order asked.
            for task_id in everything:
                assert (await admin.fetch(task_id))["id"] == task_id
            reversed_ids = everything[::-1]
            asked = await admin.post("/mj/task/list-by-condition", {"ids": reversed_ids})
            assert await _ids(asked) == reversed_ids
            assert set(await _ids(await admin.http.get("/mj/task/list"))) == set(everything)
            assert set(await _ids(await admin.http.get("/mj/task/queue"))) == set(everything)
            # Nothing was cancelled by the refused attempts.
            for task_id in everything:
                assert (await admin.fetch(task_id))["status"] != "CANCEL"
