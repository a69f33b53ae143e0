"""The one front door (api.front, api.admission): every step for fast and FastAPI routes
alike, and issue 12's body attacks performed against a real ``mjgate serve`` process.

The figures the attacks measure are printed (``pytest -s``) and recorded in bench/README.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from starlette.types import Receive, Scope, Send

from mjgate.api.front import Frame
from mjgate.services.runtime import Runtime
from processes import Proc, process_env, start
from support import ADMIN_TOKEN, Gateway, serve_with

# Measures time or latency: runs alone, after the parallel part (scripts/test).
pytestmark = pytest.mark.timing

AUTH = {"Authorization": f"Bearer {ADMIN_TOKEN}"}
# One route of each kind: answered by api.front's table, and by FastAPI.
FAST_GET, FASTAPI_GET = "/mj/task/{id}/fetch", "/mj/task/list"


async def _task(gateway: Gateway) -> str:
    answer = (await gateway.post("/mj/submit/shorten", {"prompt": "a door"})).json()
    assert answer["code"] in (1, 22), answer
    task_id: str = answer["result"]
    return task_id


@pytest.mark.parametrize("path", [FAST_GET, FASTAPI_GET])
async def test_request_ids_are_echoed_or_made(gateway: Gateway, path: str) -> None:
    path = path.format(id=await _task(gateway))
    echoed = await gateway.http.get(path, headers={"X-Request-Id": "client-42"})
    assert echoed.status_code == 200 and echoed.headers["x-request-id"] == "client-42"
    made = await gateway.http.get(path)
    other = await gateway.http.get(path)
    assert len(made.headers["x-request-id"]) == 16
    assert made.headers["x-request-id"] != other.headers["x-request-id"]
    # One that could forge a log line is replaced, not echoed.
    odd = await gateway.http.get(path, headers={"X-Request-Id": "a b\tc"})
    assert odd.headers["x-request-id"] != "a b\tc" and len(odd.headers["x-request-id"]) == 16
    # Refusals carry it too, in front of their envelope.
    refused = await gateway.http.get(path, headers={"Authorization": "Bearer nope"})
    assert refused.status_code == 401 and refused.json()["description"] == "unauthorized"
    assert refused.headers["x-request-id"]


@pytest.mark.parametrize("path", [FAST_GET, FASTAPI_GET])
async def test_cors_preflight_and_simple_requests(gateway: Gateway, path: str) -> None:
    path = path.format(id=await _task(gateway))
    origin = {"Origin": "https://app.example"}
    preflight = await gateway.http.options(
        path,
        headers={
            **origin,
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )
    assert preflight.status_code == 200, preflight.text
    assert preflight.headers["access-control-allow-origin"] == "*"
    assert "GET" in preflight.headers["access-control-allow-methods"]
    assert preflight.headers["x-request-id"]
    simple = await gateway.http.get(path, headers=origin)
    assert simple.status_code == 200
    assert simple.headers["access-control-allow-origin"] == "*"
    assert "x-request-id" in simple.headers["access-control-expose-headers"].lower()
    # Without an Origin no CORS header is added (and no CORS work done).
    assert "access-control-allow-origin" not in (await gateway.http.get(path)).headers


@pytest.mark.parametrize("path", [FAST_GET, FASTAPI_GET])
async def test_access_log_lines_when_on(
    tmp_path: Path, database_url: str, path: str, caplog: pytest.LogCaptureFixture
) -> None:
    async with (
        serve_with(tmp_path, database_url, access_log=True) as served,
        Gateway.connect(served.base_url, ADMIN_TOKEN) as gateway,
    ):
        path = path.format(id=await _task(gateway))
        with caplog.at_level(logging.INFO, logger="mjgate.access"):
            await gateway.http.get(path, headers={"X-Request-Id": "logged-1"})
    lines = [r.getMessage() for r in caplog.records if r.name == "mjgate.access"]
    assert any(line.startswith(f"GET {path} 200 ") and "logged-1" in line for line in lines)


async def test_no_access_log_by_default(gateway: Gateway, caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="mjgate.access"):
        await gateway.http.get(FASTAPI_GET)
    assert not [r for r in caplog.records if r.name == "mjgate.access"]


async def test_the_500_net_answers_the_envelope_with_id_and_cors(rt: Runtime) -> None:
    async def failing(scope: Scope, receive: Receive, send: Send) -> None:
        raise RuntimeError("a bug behind the front")

    frame = Frame(failing, rt.settings)
    sent: list[dict[str, object]] = []

    async def send(message: dict[str, object]) -> None:
        sent.append(message)

    async def receive() -> dict[str, object]:
        return {"type": "http.request", "body": b""}

    for headers in ([], [(b"origin", b"https://app.example")]):
        sent.clear()

        scope = {"type": "http", "method": "GET", "path": "/x", "headers": headers}
        await frame(scope, receive, send)  # type: ignore[arg-type]
        start_message = sent[0]
        assert start_message["status"] == 500
        names = dict(start_message["headers"])  # type: ignore[call-overload]
        assert names[b"content-type"] == b"application/json" and names[b"x-request-id"]
        assert (b"access-control-allow-origin" in names) == bool(headers)
        assert b'"description":"internal_error"' in sent[1]["body"]  # type: ignore[operator]


# --- issue 12's attacks, against a real process ------------------------------------------


@pytest.fixture(scope="module")
def pycache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("pycache")


@pytest.fixture
def server(tmp_path: Path, database_url: str, pycache: Path, rt: Runtime) -> Iterator[Proc]:
    env = process_env(
        tmp_path / "data",
        pycache,
        MJGATE_DATABASE_URL=database_url,
        MJGATE_ADMIN_TOKEN=ADMIN_TOKEN,
        MJGATE_SECRET_KEY="test-secret",
        MJGATE_SANDBOX_DURATION="0",
    )
    proc = start(env, tmp_path / "logs", "serve", "serve")
    try:
        proc.wait_ready()
        yield proc
    finally:
        proc.reap()


def rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise AssertionError("no VmRSS")


async def _send_body(
    port: int, path: str, declared: int, headers: str = "", chunk: int = 1 << 20
) -> tuple[int, float]:
    """Declare ``declared`` bytes, stream them until answered: (status, seconds to answer)."""
    began = time.monotonic()
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    head = (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
        f"Content-Length: {declared}\r\n{headers}\r\n"
    )
    writer.write(head.encode())
    answered = asyncio.create_task(reader.readline())
    body = b"[" + b"1," * (chunk // 2 - 1)
    sent = 0
    try:
        while sent < declared and not answered.done():
            writer.write(body[: min(chunk, declared - sent)])
            sent += chunk
            await writer.drain()
    except ConnectionError:
        pass
    try:
        status_line = await asyncio.wait_for(answered, 30)
    except ConnectionResetError:
        # The server answered and closed with our bytes unread: the kernel's reset can
        # overtake its answer. Refused all the same; 0 stands for "reset".
        status_line = b"HTTP/1.1 0"
    elapsed = time.monotonic() - began
    writer.close()
    return int(status_line.split()[1]), elapsed


async def _fetch_latencies(base_url: str, task_id: str, stop: asyncio.Event) -> list[float]:
    latencies = []
    async with httpx.AsyncClient(base_url=base_url, headers=AUTH) as client:
        while not stop.is_set():
            began = time.monotonic()
            assert (await client.get(f"/mj/task/{task_id}/fetch")).status_code == 200
            latencies.append(time.monotonic() - began)
            await asyncio.sleep(0.01)
    return latencies


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_anonymous_64_mib_bodies_are_refused_from_the_headers(server: Proc) -> None:
    assert server.base_url
    port = int(server.base_url.rsplit(":", 1)[1])
    async with Gateway.connect(server.base_url, ADMIN_TOKEN) as gateway:
        task_id = await _task(gateway)
    size = 64 << 20
    stop = asyncio.Event()
    polling = asyncio.create_task(_fetch_latencies(server.base_url, task_id, stop))
    await asyncio.sleep(0.2)
    attacks = await asyncio.gather(
        _send_body(port, "/mj/task/list-by-condition", size),
        _send_body(port, "/mj/submit/imagine", size),
        _send_body(port, "/mj/submit/imagine", size, "Authorization: Bearer mjg_guessed\r\n"),
        _send_body(port, "/mj/submit/action", size),
        _send_body(port, "/mj/relay/callback/1/forged", 512 << 10),
    )
    await asyncio.sleep(0.2)
    stop.set()
    latencies = await polling
    print(f"\nattacks (status, s): {attacks}; fetch worst {max(latencies) * 1000:.1f} ms")
    expected = [413, 401, 401, 413, 404]
    assert all(status in (want, 0) for (status, _), want in zip(attacks, expected, strict=True))
    assert any(status for status, _ in attacks), attacks
    assert all(seconds < 1 for _, seconds in attacks), attacks
    assert max(latencies) < 0.1, max(latencies)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_idle_connections_declaring_60_mb_do_not_bloat_the_process(server: Proc) -> None:
    assert server.base_url
    port = int(server.base_url.rsplit(":", 1)[1])
    before = rss_mib(server.pid)
    connections = []
    for _ in range(10):
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /mj/submit/blend HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 60000000\r\n\r\n".encode()
            + b'{"base64Array": ["'
            + b"A" * 100_000
        )
        await writer.drain()
        connections.append((reader, writer))
    await asyncio.sleep(1.5)
    growth = rss_mib(server.pid) - before
    print(f"\n10 idle connections declaring 60 MB: RSS {before:.0f} MiB, +{growth:.1f} MiB")
    for _, writer in connections:
        writer.close()
    assert growth < 64, growth


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
async def test_a_body_budget_answers_503_when_full(tmp_path: Path, database_url: str) -> None:
    async with serve_with(tmp_path, database_url, max_body_bytes_in_flight=1 << 20) as served:
        port = int(served.base_url.rsplit(":", 1)[1])
        _reader, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /mj/submit/blend HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            + f"Authorization: Bearer {ADMIN_TOKEN}\r\nContent-Length: 3000000\r\n\r\n".encode()
            + b"A" * 900_000
        )
        await writer.drain()
        await asyncio.sleep(0.3)
        async with Gateway.connect(served.base_url, ADMIN_TOKEN) as gateway:
            busy = await gateway.http.post(
                "/mj/submit/blend", content=b'{"base64Array": ["' + b"A" * 300_000 + b'"]}'
            )
        writer.close()
    assert busy.status_code == 503, busy.text
    assert busy.json()["description"] == "server_busy" and busy.headers["retry-after"]


@pytest.mark.parametrize("database_url", ["sqlite", "postgres"], indirect=True)
async def test_submits_stay_responsive_under_64_pollers(server: Proc) -> None:
    assert server.base_url
    async with Gateway.connect(server.base_url, ADMIN_TOKEN) as gateway:
        ids = [await _task(gateway) for _ in range(20)]
    stop = asyncio.Event()

    async def poller(n: int) -> int:
        done = 0
        async with httpx.AsyncClient(base_url=server.base_url or "", headers=AUTH) as client:
            while not stop.is_set():
                await client.post("/mj/task/list-by-condition", json={"ids": ids})
                await client.get(f"/mj/task/{ids[n % len(ids)]}/fetch")
                done += 2
        return done

    pollers = [asyncio.create_task(poller(n)) for n in range(64)]
    await asyncio.sleep(1)
    latencies = []
    async with Gateway.connect(server.base_url, ADMIN_TOKEN) as gateway:
        for n in range(15):
            began = time.monotonic()
            answer = await gateway.post("/mj/submit/shorten", {"prompt": f"under load {n}"})
            latencies.append(time.monotonic() - began)
            assert answer.json()["code"] in (1, 22), answer.text
            await asyncio.sleep(0.1)
    stop.set()
    reads = sum(await asyncio.gather(*pollers))
    print(
        f"\n64 pollers ({reads} reads): submit max {max(latencies) * 1000:.0f} ms, "
        f"median {sorted(latencies)[len(latencies) // 2] * 1000:.0f} ms"
    )
    assert max(latencies) < 1.0, latencies
