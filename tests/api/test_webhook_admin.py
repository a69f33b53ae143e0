"""The operator's view of webhook deliveries: /mj/admin/webhooks and its retry route."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

from support import Gateway, custom_gateway, make_settings

# Refused at delivery (a private address, MJGATE_WEBHOOK_ALLOW_PRIVATE off): dead at once,
# and nothing leaves the machine.
PRIVATE_DEFAULT_HOOK = "http://10.1.2.3/hook"


async def _dead_rows(
    gateway: Gateway, within: float = 20, *, with_final: bool = False
) -> list[dict[str, Any]]:
    """The failed rows once all are dead; ``with_final``: once the final push is among them
    (the task's earlier pushes can all be dead while its final one is still unsent, and so
    not listed yet)."""
    deadline = time.monotonic() + within
    while True:
        response = await gateway.http.get("/mj/admin/webhooks", params={"failed": "true"})
        assert response.status_code == 200, response.text
        rows: list[dict[str, Any]] = response.json()
        final_there = not with_final or any(row["final"] for row in rows)
        if rows and final_there and all(row["status"] == "dead" for row in rows):
            return rows
        assert time.monotonic() < deadline, rows
        await asyncio.sleep(0.05)


async def test_dead_deliveries_are_listed_and_can_be_retried(
    tmp_path: Path, database_url: str
) -> None:
    settings = make_settings(
        tmp_path, database_url, webhook_default_url=PRIVATE_DEFAULT_HOOK, webhook_poll_interval=0.05
    )
    async with custom_gateway(settings) as (gateway, _rt):
        answer = await gateway.submit("imagine", {"prompt": "a moth"})
        await gateway.wait(answer["result"])
        [dead] = [row for row in await _dead_rows(gateway, with_final=True) if row["final"]]
        assert dead["taskId"] == answer["result"]
        assert dead["url"] == PRIVATE_DEFAULT_HOOK
        assert dead["lastError"].startswith("refused:")
        assert dead["attempts"] == 1 and dead["deliveredAt"] is None
        everything = (await gateway.http.get("/mj/admin/webhooks")).json()
        assert dead["id"] in [row["id"] for row in everything]

        retried = await gateway.post(f"/mj/admin/webhooks/{dead['id']}/retry")
        assert retried.status_code == 200, retried.text
        assert retried.json()["status"] == "pending"
        again = [row for row in await _dead_rows(gateway) if row["id"] == dead["id"]]
        assert again[0]["attempts"] == 2  # sent (refused) once more

        missing = await gateway.post("/mj/admin/webhooks/999999/retry")
        assert missing.status_code == 404
        assert missing.json()["description"] == "webhook_delivery_not_found"

        user = await gateway.post("/mj/admin/users", {"name": "nosy"})
        assert user.status_code == 200
        token = (await gateway.post("/mj/admin/users/nosy/tokens", {})).json()["token"]
        async with Gateway.connect(str(gateway.http.base_url), token) as nosy:
            refused = await nosy.http.get("/mj/admin/webhooks")
        assert refused.status_code == 403
