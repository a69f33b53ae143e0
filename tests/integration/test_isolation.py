"""Two users: each sees and touches only their own tasks; a stranger's task looks missing."""

from __future__ import annotations

from typing import Any

import httpx

from mjgate.services.runtime import Runtime
from support import Gateway, ServedApp, add_user, button_id

MISSING_ID = "1000000000000999"


async def _same_as_missing(
    client: Gateway, method: str, path: str, body: Any, other_id: str
) -> None:
    """A request about someone else's task answers exactly as one about a missing id."""

    async def call(task_id: str) -> httpx.Response:
        if method == "GET":
            return await client.http.get(path.format(id=task_id))
        filled = {k: (v.format(id=task_id) if isinstance(v, str) else v) for k, v in body.items()}
        return await client.post(path.format(id=task_id), filled)

    theirs, missing = await call(other_id), await call(MISSING_ID)
    assert theirs.status_code == missing.status_code == 404, (path, theirs.text)
    assert theirs.json() == missing.json(), (path, theirs.text, missing.text)
    assert theirs.json()["code"] == 3 and theirs.json()["description"] == "task_not_found"


async def test_users_see_only_their_own_tasks(
    rt: Runtime, served: ServedApp, gateway: Gateway
) -> None:
    _, alice_token = await add_user(rt, "alice", 10_000)
    _, bob_token = await add_user(rt, "bob", 10_000)
    async with (
        Gateway.connect(served.base_url, alice_token) as alice,
        Gateway.connect(served.base_url, bob_token) as bob,
    ):
        grid = await alice.finished("imagine", {"prompt": "alice's garden"})
        vary = button_id(grid, "V1")
        waiting = await alice.submit(
            "action", {"taskId": grid["id"], "customId": vary, "enableRemix": True}
        )
        assert waiting["code"] == 21
        modal_id = waiting["result"]
        mine = await bob.finished("imagine", {"prompt": "bob's boat"})

        # fetch, image-seed, cancel: 404 as for a missing id.
        for method, path in [
            ("GET", "/mj/task/{id}/fetch"),
            ("GET", "/mj/task/{id}/image-seed"),
            ("POST", "/mj/task/{id}/cancel"),
        ]:
            await _same_as_missing(bob, method, path, {}, grid["id"])
        await _same_as_missing(bob, "POST", "/mj/task/{id}/cancel", {}, modal_id)
        # Every follow-up naming her task: 404 as for a missing id.
        follow_ups: list[tuple[str, dict[str, Any], str]] = [
            ("/mj/submit/action", {"taskId": "{id}", "customId": vary}, grid["id"]),
            ("/mj/submit/change", {"taskId": "{id}", "action": "UPSCALE", "index": 1}, grid["id"]),
            ("/mj/submit/change", {"taskId": "{id}", "action": "REROLL"}, grid["id"]),
            ("/mj/submit/simple-change", {"content": "{id} U2"}, grid["id"]),
            ("/mj/submit/video", {"taskId": "{id}", "index": 1}, grid["id"]),
            ("/mj/submit/modal", {"taskId": "{id}", "prompt": "mine now"}, modal_id),
        ]
        for path, body, target in follow_ups:
            await _same_as_missing(bob, "POST", path, body, target)

        # Lists leave her tasks out.
        both = [grid["id"], modal_id, mine["id"], int(grid["id"])]
        listed = (await bob.post("/mj/task/list-by-condition", {"ids": both})).json()
        assert [t["id"] for t in listed] == [mine["id"]]
        by_ids = (await bob.post("/mj/task/list-by-ids", {"ids": [grid["id"]]})).json()
        assert by_ids == []
        assert [t["id"] for t in (await bob.http.get("/mj/task/list")).json()] == [mine["id"]]
        assert (await bob.http.get("/mj/task/queue")).json() == []

        # Alice still has everything, untouched by Bob's attempts.
        assert (await alice.fetch(modal_id))["status"] == "MODAL"
        assert {t["id"] for t in (await alice.http.get("/mj/task/list")).json()} == {
            grid["id"],
            modal_id,
        }
        assert [t["id"] for t in (await alice.http.get("/mj/task/queue")).json()] == [modal_id]
        seed = (await alice.http.get(f"/mj/task/{grid['id']}/image-seed")).json()
        assert seed["code"] == 1 and seed["result"]

    # The admin reads everyone's.
    for task_id in (grid["id"], modal_id, mine["id"]):
        assert (await gateway.fetch(task_id))["id"] == task_id
    listed = (await gateway.post("/mj/task/list-by-condition", {"ids": both})).json()
    assert [t["id"] for t in listed] == [grid["id"], modal_id, mine["id"]]
    everyone = {t["id"] for t in (await gateway.http.get("/mj/task/list")).json()}
    assert {grid["id"], modal_id, mine["id"]} <= everyone
    assert modal_id in {t["id"] for t in (await gateway.http.get("/mj/task/queue")).json()}
