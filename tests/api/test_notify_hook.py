"""notifyHook URLs: refused at submit when they point into private networks (SSRF)."""

from __future__ import annotations

import ipaddress
import socket
from pathlib import Path

import pytest

from support import Gateway, custom_gateway, make_settings

PRIVATE_HOOKS = [
    "http://127.0.0.1:9000/hook",
    "http://10.1.2.3/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://localhost/hook",
    "http://[::1]/hook",
    "http://192.168.0.10/hook",
    "http://name-that-does-not-resolve.invalid/hook",
]


@pytest.mark.parametrize("hook", PRIVATE_HOOKS)
async def test_private_hooks_are_refused_and_nothing_is_created(
    gateway: Gateway, hook: str
) -> None:
    before = (await gateway.http.get("/mj/task/list")).json()
    response = await gateway.post("/mj/submit/imagine", {"prompt": "cat", "notifyHook": hook})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == 4
    assert body["description"] == "notify_hook_is_invalid"
    assert "public address" in body["properties"]["message"]
    assert (await gateway.http.get("/mj/task/list")).json() == before


async def test_a_public_hook_is_accepted(gateway: Gateway) -> None:
    answer = await gateway.submit(
        "imagine", {"prompt": "cat", "notifyHook": "http://93.184.216.34/hook"}
    )
    assert answer["code"] == 1


async def test_the_operator_may_allow_private_hooks(tmp_path: Path, database_url: str) -> None:
    settings = make_settings(tmp_path, database_url, webhook_allow_private=True)
    async with custom_gateway(settings) as (gateway, _rt):
        answer = await gateway.submit(
            "imagine", {"prompt": "cat", "notifyHook": "http://127.0.0.1:9000/hook"}
        )
        assert answer["code"] == 1


def _loopback_name() -> str | None:
    """A plain host name (not 'localhost') that resolves to loopback on this machine."""
    name = socket.gethostname()
    try:
        infos = socket.getaddrinfo(name, None, type=socket.SOCK_STREAM)
    except OSError:
        return None
    if infos and all(ipaddress.ip_address(i[4][0]).is_loopback for i in infos):
        return name
    return None


async def test_a_name_that_resolves_to_loopback_is_refused(gateway: Gateway) -> None:
    name = _loopback_name()
    if name is None:
        pytest.skip("this machine's name does not resolve to loopback")
    response = await gateway.post(
        "/mj/submit/imagine", {"prompt": "cat", "notifyHook": f"http://{name}:9000/hook"}
    )
    assert response.status_code == 400
    assert response.json()["description"] == "notify_hook_is_invalid"
