"""A blend of five 8 MiB images does not hold the event loop (issue 7).

Server and client share this test's event loop, so a ticker on it sees every stall the
request causes: FastAPI's own parse held it for the whole json.loads of the 53 MiB body
(98-214 ms on a loaded 2-core machine); parsed and decoded in short steps, 17-41 ms there.
The bound leaves room for a loaded machine and is still under what the old path took.
"""

from __future__ import annotations

import asyncio
import base64
import os
import time
from collections.abc import AsyncIterator

import orjson
import pytest

from support import Gateway

# Measures time or latency: runs alone, after the parallel part (scripts/test).
pytestmark = pytest.mark.timing

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MIB = 1024 * 1024
LAG_BOUND_MS = 75


ATTEMPTS = 3


async def test_a_large_blend_leaves_the_event_loop_free(gateway: Gateway) -> None:
    images = [
        "data:image/png;base64,"
        + base64.b64encode(PNG_SIGNATURE + os.urandom(8 * MIB - len(PNG_SIGNATURE))).decode()
        for _ in range(5)
    ]
    # Encoded before the ticker runs: the client's own encoding is not the server's stall.
    body = orjson.dumps({"base64Array": images})
    del images
    # A stall the request causes shows in every attempt; a one-off hiccup of a shared CI
    # machine (seen once: 312 ms, not reproducible) does not fail the test on its own.
    lags = []
    for _ in range(ATTEMPTS):
        lags.append(await _worst_lag_during_blend(gateway, body))
        if lags[-1] < LAG_BOUND_MS:
            break
    print(f"worst event-loop lag during the blend, per attempt: {lags}")
    assert min(lags) < LAG_BOUND_MS, f"the event loop stalled {min(lags):.0f} ms at best"


async def _worst_lag_during_blend(gateway: Gateway, body: bytes) -> float:
    worst = 0.0
    done = asyncio.Event()

    async def ticker() -> None:
        nonlocal worst
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(0.002)
            now = time.perf_counter()
            worst = max(worst, (now - last - 0.002) * 1000)
            last = now

    async def upload() -> AsyncIterator[bytes]:
        # In pieces: one 53 MiB write would be copied into the client transport's buffer in
        # one go, a stall of the client's, on the loop it shares with the server.
        for start in range(0, len(body), 256 * 1024):
            yield body[start : start + 256 * 1024]

    ticking = asyncio.create_task(ticker())
    try:
        response = await asyncio.wait_for(
            gateway.http.post(
                "/mj/submit/blend",
                content=upload(),
                headers={"Content-Type": "application/json"},
                timeout=120,
            ),
            timeout=120,
        )
    finally:
        done.set()
        await ticking
    assert response.status_code == 200, response.text
    assert response.json()["code"] in (1, 22), response.text
    return worst
