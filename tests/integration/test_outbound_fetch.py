"""The outbound fetcher against a real HTTP server on 127.0.0.1, names answered by an
injected resolver (no real DNS): rebinding, redirects, caps, and what failures say."""

from __future__ import annotations

import asyncio
import gzip
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import cast

import pytest

from mjgate.providers.outbound import (
    OutboundFailed,
    OutboundFetcher,
    OutboundRefused,
    OutboundTooLarge,
    origin_of,
)
from mjgate.providers.remote import LINK_NOT_FETCHED, fetch_image
from mjgate.providers.resolution import is_public_host
from mjgate.providers.webhook_sender import WebhookSender
from mjgate.services.accounts import bootstrap
from mjgate.services.runtime import Runtime
from support import ADMIN_TOKEN, Gateway, make_settings, png_bytes, serve_app

PNG = png_bytes()


class _Handler(BaseHTTPRequestHandler):
    hits: list[tuple[str, str]]  # (path, Host header), set per server

    def log_message(self, *_args: object) -> None:
        pass

    def _send(self, status: int, body: bytes, **headers: str) -> None:
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name.replace("_", "-"), value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        self.hits.append((self.path, self.headers.get("Host", "")))
        _, port = cast("tuple[str, int]", self.server.server_address)
        if self.path == "/cat.png":
            self._send(200, PNG, Content_Type="image/png")
        elif self.path == "/to-loopback":
            self._send(302, b"", Location=f"http://127.0.0.1:{port}/cat.png")
        elif self.path == "/to-self":
            self._send(302, b"", Location="/cat.png")
        elif self.path == "/loop":
            self._send(302, b"", Location="/loop")
        elif self.path == "/gzip":
            self._send(200, gzip.compress(b"\0" * 1_000_000), Content_Encoding="gzip")
        elif self.path == "/missing":
            self._send(404, b"secret internal page")
        elif self.path == "/endless":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            try:
                for _ in range(200):  # 50 MiB unless the client stops reading
                    self.wfile.write(b"\0" * 262_144)
            except OSError:
                pass
        elif self.path == "/slow":
            self.send_response(200)
            self.send_header("Content-Type", "image/png")
            self.end_headers()
            time.sleep(3)
        else:
            self._send(404, b"")

    def do_POST(self) -> None:
        self.hits.append((self.path, self.headers.get("Host", "")))
        self.rfile.read(int(self.headers.get("Content-Length", "0")))
        self._send(200, b"{}")


@pytest.fixture
def server() -> Iterator[tuple[int, list[tuple[str, str]]]]:
    hits: list[tuple[str, str]] = []
    handler = type("Handler", (_Handler,), {"hits": hits})
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.daemon_threads = True
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd.server_address[1], hits
    finally:
        httpd.shutdown()
        httpd.server_close()


def answering(table: dict[str, list[list[str]]]):  # type: ignore[no-untyped-def]
    """A resolver that answers each name from a script; the last answer repeats."""
    calls: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        calls.append(host)
        if host not in table:
            raise OSError(f"no such name {host!r}")
        answers = table[host]
        return answers.pop(0) if len(answers) > 1 else answers[0]

    resolve.calls = calls  # type: ignore[attr-defined]
    return resolve


async def test_dns_rebinding_is_refused_and_the_internal_server_never_asked(server) -> None:  # type: ignore[no-untyped-def]
    port, hits = server
    # The attacker's name answers a public address to the check, 127.0.0.1 afterwards.
    resolver = answering({"rebind.example": [["93.184.216.34"], ["127.0.0.1"]]})
    fetcher = OutboundFetcher(resolver=resolver)
    try:
        assert await is_public_host("rebind.example", port, resolver)  # the submit-time check
        with pytest.raises(OutboundRefused):
            await fetcher.fetch(
                f"http://rebind.example:{port}/cat.png", max_bytes=1 << 20, time_limit=5
            )
    finally:
        await fetcher.close()
    assert hits == []
    assert resolver.calls == ["rebind.example", "rebind.example"]  # the fetch looked up once


async def test_a_checked_address_is_the_one_connected_to_under_the_name(server) -> None:  # type: ignore[no-untyped-def]
    port, hits = server
    fetcher = OutboundFetcher(resolver=answering({"images.example": [["127.0.0.1"]]}))
    try:
        url = f"http://images.example:{port}/cat.png"
        fetched = await fetcher.fetch(url, max_bytes=1 << 20, time_limit=5, allow_private=True)
    finally:
        await fetcher.close()
    assert fetched.data == PNG and fetched.content_type == "image/png"
    assert hits == [("/cat.png", f"images.example:{port}")]


async def test_redirects_are_checked_again_and_loopback_is_refused(server) -> None:  # type: ignore[no-untyped-def]
    port, hits = server
    fetcher = OutboundFetcher(resolver=answering({"relay.example": [["127.0.0.1"]]}))
    # The relay's own origin may be private; a redirect elsewhere (127.0.0.1) may not.
    trusted = origin_of(f"http://relay.example:{port}")
    try:
        same = await fetcher.fetch(
            f"http://relay.example:{port}/to-self",
            max_bytes=1 << 20,
            time_limit=5,
            trusted_origin=trusted,
        )
        assert same.data == PNG
        with pytest.raises(OutboundRefused):
            await fetcher.fetch(
                f"http://relay.example:{port}/to-loopback",
                max_bytes=1 << 20,
                time_limit=5,
                trusted_origin=trusted,
            )
        with pytest.raises(OutboundFailed, match="redirects"):
            await fetcher.fetch(
                f"http://relay.example:{port}/loop",
                max_bytes=1 << 20,
                time_limit=5,
                trusted_origin=trusted,
            )
        # Another port of the same host is not the relay's origin.
        with pytest.raises(OutboundRefused):
            await fetcher.fetch(
                f"http://relay.example:{port + 1}/cat.png",
                max_bytes=1 << 20,
                time_limit=5,
                trusted_origin=trusted,
            )
    finally:
        await fetcher.close()
    assert ("/cat.png", f"127.0.0.1:{port}") not in hits
    assert [path for path, _ in hits].count("/loop") == 4  # the first try and 3 redirects


async def test_byte_cap_time_cap_and_compressed_bodies(server) -> None:  # type: ignore[no-untyped-def]
    port, _hits = server
    fetcher = OutboundFetcher(resolver=answering({"images.example": [["127.0.0.1"]]}))
    base = f"http://images.example:{port}"
    try:
        started = time.monotonic()
        with pytest.raises(OutboundTooLarge):
            await fetcher.fetch(
                f"{base}/endless", max_bytes=1 << 20, time_limit=10, allow_private=True
            )
        with pytest.raises(OutboundFailed, match="within"):
            await fetcher.fetch(
                f"{base}/slow", max_bytes=1 << 20, time_limit=0.5, allow_private=True
            )
        assert time.monotonic() - started < 2.5
        with pytest.raises(OutboundFailed, match="compressed"):
            await fetcher.fetch(f"{base}/gzip", max_bytes=1 << 20, time_limit=5, allow_private=True)
    finally:
        await fetcher.close()


async def test_fail_reasons_do_not_tell_what_answered(server) -> None:  # type: ignore[no-untyped-def]
    port, _hits = server
    closed_port = 9
    resolver = answering(
        {"a.example": [["93.184.216.34", "127.0.0.1"]], "b.example": [["127.0.0.1"]]}
    )
    fetcher = OutboundFetcher(resolver=resolver)
    reasons = set()
    try:
        for url, allow_private in [
            (f"http://a.example:{port}/cat.png", False),  # refused by the policy
            (f"http://b.example:{port}/missing", True),  # HTTP 404
            (f"http://b.example:{closed_port}/x.png", True),  # connection refused
            ("http://unknown.example/x.png", False),  # no such name
        ]:
            with pytest.raises(Exception) as caught:
                await fetch_image(fetcher, url, max_bytes=1 << 20, allow_private=allow_private)
            reasons.add(str(caught.value))
    finally:
        await fetcher.close()
    assert reasons == {LINK_NOT_FETCHED}


async def test_a_describe_link_to_a_name_hiding_loopback_stores_nothing(
    server: tuple[int, list[tuple[str, str]]],
    tmp_path: Path,
    database_url: str,
) -> None:
    port, hits = server
    rt = Runtime.from_settings(make_settings(tmp_path, database_url))
    rt.resolver = answering({"cats.example": [["93.184.216.34", "127.0.0.1"]]})
    await bootstrap(rt)
    try:
        async with serve_app(rt) as app, Gateway.connect(app.base_url, ADMIN_TOKEN) as gateway:
            answer = await gateway.submit(
                "describe", {"link": f"http://cats.example:{port}/cat.png"}
            )
            task = await gateway.wait(answer["result"])
        await rt.close_providers()
    finally:
        await rt.db.dispose()
    assert task["status"] == "FAILURE"
    assert task["failReason"] == LINK_NOT_FETCHED
    assert task["imageUrl"] is None and not task["prompt"]
    assert hits == []


async def test_webhooks_still_go_to_the_checked_address(server) -> None:  # type: ignore[no-untyped-def]
    port, hits = server
    sender = WebhookSender(
        timeout=5,
        allow_private=False,
        max_connections=1,
        resolver=answering({"hooks.example": [["127.0.0.1"]]}),
    )
    try:
        refused = await sender.post(f"http://hooks.example:{port}/cb", b"{}", {})
    finally:
        await sender.close()
    assert refused.refused and hits == []
    allowed = WebhookSender(
        timeout=5,
        allow_private=True,
        max_connections=1,
        resolver=answering({"hooks.example": [["127.0.0.1"]]}),
    )
    try:
        sent = await allowed.post(f"http://hooks.example:{port}/cb", b"{}", {})
    finally:
        await allowed.close()
    assert sent.ok and hits == [("/cb", f"hooks.example:{port}")]
    await asyncio.sleep(0)
