"""What the checked, pinned fetch costs against a bare httpx GET of the same file.

A local HTTP server on 127.0.0.1 serves one image; the fetcher reaches it under a name its
injected resolver answers (the policy lifted for loopback, every other step as in
production: lookup, check, pin, streamed byte cap). Prints the median and p95 per fetch.

    .venv/bin/python bench/outbound_fetch.py [--fetches 300] [--kib 256]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import threading
import time
from collections.abc import Awaitable, Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx

from mjgate.providers.outbound import OutboundFetcher


def serve(body: bytes) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # keep-alive, as a real image host would

        def log_message(self, *_args: object) -> None:
            pass

        def do_GET(self) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    httpd.daemon_threads = True
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    return httpd


async def timed(fetch: Callable[[], Awaitable[int]], count: int, size: int) -> list[float]:
    for _ in range(10):  # warm the pool
        await fetch()
    times = []
    for _ in range(count):
        started = time.perf_counter()
        assert await fetch() == size
        times.append((time.perf_counter() - started) * 1000)
    return times


def report(name: str, times: list[float]) -> None:
    p95 = statistics.quantiles(times, n=20)[18]
    print(f"{name:>22}: median {statistics.median(times):.2f} ms, p95 {p95:.2f} ms")


async def main(count: int, kib: int) -> None:
    body = b"\x89PNG\r\n\x1a\n" + b"\0" * (kib * 1024 - 8)
    httpd = serve(body)
    port = httpd.server_address[1]

    async def loopback(_host: str, _port: int) -> list[str]:
        return ["127.0.0.1"]

    fetcher = OutboundFetcher(resolver=loopback)
    bare = httpx.AsyncClient(trust_env=False)
    try:

        async def checked() -> int:
            fetched = await fetcher.fetch(
                f"http://images.example:{port}/cat.png",
                max_bytes=len(body),
                time_limit=10,
                allow_private=True,
            )
            return len(fetched.data)

        async def plain() -> int:
            return len((await bare.get(f"http://127.0.0.1:{port}/cat.png")).content)

        print(f"{count} fetches of {kib} KiB from 127.0.0.1")
        report("bare httpx GET", await timed(plain, count, len(body)))
        report("OutboundFetcher.fetch", await timed(checked, count, len(body)))
    finally:
        await fetcher.close()
        await bare.aclose()
        httpd.shutdown()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fetches", type=int, default=300)
    parser.add_argument("--kib", type=int, default=256)
    args = parser.parse_args()
    asyncio.run(main(args.fetches, args.kib))
