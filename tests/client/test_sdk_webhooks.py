"""verify_webhook against the pushes a real mjgate delivers, and against forgeries."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from email.message import Message
from pathlib import Path

import pytest

from mjgate.client import (
    AsyncClient,
    WebhookSignatureInvalid,
    WebhookTooOld,
    verify_webhook,
    webhook_signature,
)
from mjgate.domain.webhooks import sign
from support import ADMIN_TOKEN, serve_with
from webhook_receiver import Receiver

FAST = {
    "webhook_allow_private": True,
    "webhook_poll_interval": 0.05,
    "webhook_retry_base": 0.05,
    "webhook_retry_max_interval": 0.2,
    "sandbox_duration": 0.5,
}


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    hooked = Receiver()
    await hooked.start()
    yield hooked
    await hooked.stop()


async def test_pushes_from_mjgate_verify_and_forgeries_do_not(
    tmp_path: Path, database_url: str, receiver: Receiver
) -> None:
    async with serve_with(tmp_path, database_url, **FAST) as served:
        secret = served.runtime.settings.webhook_secret
        assert secret
        async with AsyncClient(served.base_url, ADMIN_TOKEN) as mj:
            task = await mj.imagine("a heron", notify_hook=receiver.url(), state="s1")
            await receiver.wait_for(lambda: task.id in receiver.finals())
            final = await mj.fetch(task)

    assert len(receiver.hits) >= 2  # the submit, progress steps, the final state
    for hit in receiver.hits:
        assert verify_webhook(hit.body, hit.headers, secret) == hit.task
    last = receiver.hits[-1]
    assert verify_webhook(last.body, last.headers, secret) == final.raw

    headers = {name.title(): value for name, value in last.headers.items()}  # any case
    assert verify_webhook(last.body, headers, secret)["id"] == task.id
    message = Message()  # what http.server hands a handler as self.headers
    for name, value in last.headers.items():
        message[name] = value
    assert verify_webhook(last.body, message, secret)["id"] == task.id
    tampered = last.body.replace(b'"SUCCESS"', b'"FAILURE"')
    assert tampered != last.body
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(tampered, last.headers, secret)
    with pytest.raises(WebhookSignatureInvalid):
        verify_webhook(last.body, last.headers, secret + "x")
    for missing in ("x-mjgate-signature", "x-mjgate-timestamp"):
        partial = {k: v for k, v in last.headers.items() if k != missing}
        with pytest.raises(WebhookSignatureInvalid, match="missing"):
            verify_webhook(last.body, partial, secret)
    stamp = int(last.headers["x-mjgate-timestamp"])
    with pytest.raises(WebhookTooOld):
        verify_webhook(last.body, last.headers, secret, now=stamp + 301)
    assert verify_webhook(last.body, last.headers, secret, now=stamp + 299, max_age=300)
    resigned = {**last.headers, "x-mjgate-timestamp": str(stamp + 1)}
    with pytest.raises(WebhookSignatureInvalid):  # a replay with a new timestamp
        verify_webhook(last.body, resigned, secret)


@pytest.mark.parametrize(
    "body", [b"{}", b'{"id": "1", "prompt": "\\u732b"}', '{"p": "猫"}'.encode()]
)
def test_the_signature_is_the_servers(body: bytes) -> None:
    now = int(time.time())
    assert webhook_signature("s3cret", now, body) == sign("s3cret", now, body)
    headers = {"X-Mjgate-Signature": sign("s3cret", now, body), "X-Mjgate-Timestamp": str(now)}
    assert verify_webhook(body, headers, "s3cret") == json.loads(body)
