"""accountFilter and botType choose among channels: a named instance, a mode, the niji bot."""

from __future__ import annotations

from typing import Any

from mjgate.services import accounts
from mjgate.services.runtime import Runtime
from support import Gateway


async def _channels(rt: Runtime) -> None:
    await accounts.add_channel(rt, "left", "sandbox", config={"duration": 0})
    await accounts.add_channel(
        rt, "right", "sandbox", config={"duration": 0, "bots": ["MID_JOURNEY"]}
    )


async def _channel_of(gateway: Gateway, body: dict[str, Any]) -> str:
    answer = await gateway.submit("imagine", {"prompt": "a lighthouse", **body})
    task = (await gateway.http.get(f"/mj/task/{answer['result']}/fetch")).json()
    return str(task["properties"]["channelId"])


async def test_an_instance_id_sends_new_work_to_that_channel_only(
    rt: Runtime, gateway: Gateway
) -> None:
    await _channels(rt)
    for name in ("left", "right", "left"):
        assert await _channel_of(gateway, {"accountFilter": {"instanceId": name}}) == name
    # midjourney-proxy forks call it channelId; other keys are accepted and ignored
    body = {"accountFilter": {"channelId": "right", "remix": True}}
    assert await _channel_of(gateway, body) == "right"


async def test_an_unknown_instance_is_answered_with_no_channel(gateway: Gateway) -> None:
    response = await gateway.post(
        "/mj/submit/imagine", {"prompt": "x", "accountFilter": {"instanceId": "nowhere"}}
    )
    assert response.status_code == 503, response.text
    envelope = response.json()
    assert envelope["code"] == 9
    assert envelope["description"] == "no_available_channel"
    assert envelope["properties"]["message"] == "No available channel matches the accountFilter."


async def test_a_malformed_filter_is_a_bad_request(gateway: Gateway) -> None:
    for bad in (
        {"instanceId": 7},
        {"instanceId": "x" * 65},
        {"modes": ["SLOW"]},
        {"modes": "FAST"},
    ):
        response = await gateway.post("/mj/submit/imagine", {"prompt": "x", "accountFilter": bad})
        assert response.status_code == 400, (bad, response.text)
        assert response.json()["code"] == 4
    response = await gateway.post("/mj/submit/imagine", {"prompt": "x", "accountFilter": [1]})
    assert response.status_code == 400


async def test_niji_work_skips_channels_without_the_niji_bot(rt: Runtime, gateway: Gateway) -> None:
    await accounts.set_channel_enabled(rt, "sandbox", False, "test")
    await _channels(rt)
    for _ in range(4):
        assert await _channel_of(gateway, {"botType": "NIJI_JOURNEY"}) == "left"
    await accounts.set_channel_enabled(rt, "left", False, "test")
    response = await gateway.post("/mj/submit/imagine", {"prompt": "x", "botType": "niji"})
    assert response.status_code == 503, response.text
