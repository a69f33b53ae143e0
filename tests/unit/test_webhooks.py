"""Webhook signatures, the retry schedule, and pinning a hook to the address checked."""

from __future__ import annotations

import hashlib
import hmac
import random

import pytest

from mjgate.domain.webhooks import retry_delay_ms, sign
from mjgate.providers import webhook_sender
from mjgate.providers.resolution import AddressRefused, pin


def test_the_signature_is_hmac_sha256_of_timestamp_dot_body() -> None:
    body = b'{"id":"1712158011464906","status":"SUCCESS"}'
    expected = hmac.new(b"k3y", b"1712158031." + body, hashlib.sha256).hexdigest()
    assert sign("k3y", 1712158031, body) == f"sha256={expected}"
    assert sign("k3y", 1712158032, body) != sign("k3y", 1712158031, body)
    assert sign("other", 1712158031, body) != sign("k3y", 1712158031, body)


@pytest.mark.parametrize(
    ("attempts", "low", "high"),
    [(1, 500, 1000), (2, 1000, 2000), (3, 2000, 4000), (4, 4000, 8000), (30, 30_000, 60_000)],
)
def test_retries_back_off_exponentially_with_jitter_up_to_a_cap(
    attempts: int, low: int, high: int
) -> None:
    rng = random.Random(attempts)
    delays = [retry_delay_ms(attempts, 1000, 60_000, rng) for _ in range(200)]
    assert all(low <= delay <= high for delay in delays)
    assert len(set(delays)) > 100  # jitter: many receivers retrying do not move in step


@pytest.mark.parametrize(
    ("url", "address", "target", "host"),
    [
        (
            "http://hooks.example/cb?x=1",
            "93.184.216.34",
            "http://93.184.216.34/cb?x=1",
            "hooks.example",
        ),
        (
            "https://hooks.example:8443/cb",
            "2606:2800:220:1::1",
            "https://[2606:2800:220:1::1]:8443/cb",
            "hooks.example:8443",
        ),
        (
            "http://u:p@hooks.example/cb",
            "93.184.216.34",
            "http://u:p@93.184.216.34/cb",
            "hooks.example",
        ),
    ],
)
def test_a_hook_is_sent_to_the_checked_address_under_its_own_name(
    url: str, address: str, target: str, host: str
) -> None:
    pinned = pin(url, address)
    assert pinned.url == target
    assert pinned.host_header == host
    if url.startswith("https:"):
        assert pinned.extensions == {"sni_hostname": "hooks.example"}


async def test_a_checked_address_is_reused_briefly_and_refusals_are_never_remembered(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    answers = {"hooks.example": ["93.184.216.34", "93.184.216.35"], "inside.example": []}
    lookups: list[str] = []

    async def resolve(host: str, port: int) -> list[str]:
        lookups.append(host)
        return [answers[host].pop(0)] if answers[host] else ["10.0.0.1"]

    now = [100.0]
    sender = webhook_sender.WebhookSender(
        timeout=1,
        allow_private=False,
        max_connections=1,
        resolve_ttl=5,
        clock=lambda: now[0],
        resolver=resolve,
    )
    try:
        assert await sender._address("hooks.example", 443) == "93.184.216.34"
        now[0] += 4.9
        assert await sender._address("hooks.example", 443) == "93.184.216.34"
        assert lookups == ["hooks.example"]  # one lookup for the burst
        now[0] += 0.2
        assert await sender._address("hooks.example", 443) == "93.184.216.35"  # checked again
        for _ in range(2):
            with pytest.raises(AddressRefused):
                await sender._address("inside.example", 443)
        assert lookups == ["hooks.example", "hooks.example", "inside.example", "inside.example"]
    finally:
        await sender.close()
