"""Operator and self-service JSON routes: users, tokens, quota, prices, /mj/account/self."""

from __future__ import annotations

from support import Gateway, ServedApp


async def _user_with_token(gateway: Gateway, name: str) -> str:
    created = await gateway.post("/mj/admin/users", {"name": name})
    assert created.status_code == 200, created.text
    token = await gateway.post(f"/mj/admin/users/{name}/tokens", {"label": "test"})
    assert token.status_code == 200, token.text
    value: str = token.json()["token"]
    return value


async def test_admin_grants_quota_and_user_spends_it(gateway: Gateway, served: ServedApp) -> None:
    token = await _user_with_token(gateway, "carol")
    grant = await gateway.post("/mj/admin/users/carol/quota", {"amount": 250, "reason": "trial"})
    assert grant.json() == {"name": "carol", "balance": 250}
    async with Gateway.connect(served.base_url, token) as carol:
        first = await carol.submit("imagine", {"prompt": "a lighthouse"})
        second = await carol.submit("imagine", {"prompt": "a harbour"})
        refused = await carol.post("/mj/submit/imagine", {"prompt": "a third"})
        assert refused.status_code == 402
        assert refused.json()["description"] == "quota_not_enough"
        await carol.wait(first["result"])
        await carol.wait(second["result"])
        me = (await carol.http.get("/mj/account/self")).json()
    assert me["balance"] == 50
    assert me["spent"] == 200
    assert me["ledgerSum"] == me["balance"]
    kinds = [row["kind"] for row in me["ledger"]]
    assert kinds == ["charge", "charge", "topup"]
    assert {row["taskId"] for row in me["ledger"][:2]} == {first["result"], second["result"]}


async def test_price_override_applies_to_the_next_submit(gateway: Gateway) -> None:
    prices = (await gateway.http.get("/mj/admin/prices")).json()
    assert {"action": "IMAGINE", "mode": "RELAX", "price": 50} in prices
    changed = await gateway.http.put("/mj/admin/prices/imagine:relax", json={"price": 7})
    assert changed.json() == {"key": "IMAGINE:RELAX", "price": 7}
    before = (await gateway.http.get("/mj/account/self")).json()["balance"]
    await gateway.submit("imagine", {"prompt": "a cheap fox"}, prefix="/mj-relax/mj")
    after = (await gateway.http.get("/mj/account/self")).json()["balance"]
    assert before - after == 7
    reset = await gateway.http.put("/mj/admin/prices/IMAGINE:RELAX", json={"price": None})
    assert reset.status_code == 200
    prices = (await gateway.http.get("/mj/admin/prices")).json()
    assert {"action": "IMAGINE", "mode": "RELAX", "price": 50} in prices


async def test_bad_price_key_and_unknown_user_are_refused(gateway: Gateway) -> None:
    bad = await gateway.http.put("/mj/admin/prices/DANCE", json={"price": 5})
    assert bad.status_code == 400
    assert bad.json()["description"] == "price_is_invalid"
    negative = await gateway.http.put("/mj/admin/prices/IMAGINE", json={"price": -1})
    assert negative.json()["description"] == "price_is_invalid"
    missing = await gateway.post("/mj/admin/users/nobody/quota", {"amount": 5})
    assert missing.status_code == 404
    assert missing.json()["description"] == "user_not_found"
    duplicate = await gateway.post("/mj/admin/users", {"name": "admin"})
    assert duplicate.status_code == 400
    assert duplicate.json()["description"] == "invalid_request"
    # NUL is legal in JSON and URLs, but no name holds it (PostgreSQL text cannot): asking
    # for such a user is a 404, creating one a 400, never a 500 (the OpenAPI fuzz found it).
    for route in ("/mj/admin/users/%00/quota", "/mj/admin/users/a%00b/tokens"):
        nul = await gateway.post(route, {"amount": 5, "label": "x"})
        assert nul.status_code == 404, nul.text
        assert nul.json()["description"] == "user_not_found"
    for name in ("a\x00b", "tab\there"):
        control = await gateway.post("/mj/admin/users", {"name": name})
        assert control.status_code == 400, control.text
        assert control.json()["description"] == "invalid_request"


async def test_taking_back_more_than_the_balance_is_refused(gateway: Gateway) -> None:
    await _user_with_token(gateway, "dave")
    await gateway.post("/mj/admin/users/dave/quota", {"amount": 30})
    refused = await gateway.post("/mj/admin/users/dave/quota", {"amount": -31})
    assert refused.status_code == 402
    shown = (await gateway.http.get("/mj/admin/users/dave/quota")).json()
    assert shown["balance"] == 30
    assert shown["ledgerSum"] == 30


async def test_admin_routes_need_an_admin_token(gateway: Gateway, served: ServedApp) -> None:
    token = await _user_with_token(gateway, "erin")
    async with Gateway.connect(served.base_url, token) as erin:
        for method, path in [
            ("GET", "/mj/admin/users"),
            ("POST", "/mj/admin/users/erin/quota"),
            ("GET", "/mj/admin/prices"),
        ]:
            response = await erin.http.request(method, path, json={"amount": 1})
            assert response.status_code == 403, path
            assert response.json()["description"] == "forbidden"
    async with Gateway.connect(served.base_url, None) as anonymous:
        response = await anonymous.http.get("/mj/account/self")
        assert response.status_code == 401
    # The same routes answer the admin's token (the gateway fixture's).
    assert (await gateway.http.get("/mj/admin/users")).status_code == 200
    assert (await gateway.http.get("/mj/admin/prices")).status_code == 200


async def test_token_spend_cap_limits_that_token_only(gateway: Gateway, served: ServedApp) -> None:
    await gateway.post("/mj/admin/users", {"name": "frank"})
    await gateway.post("/mj/admin/users/frank/quota", {"amount": 1000})
    capped = (await gateway.post("/mj/admin/users/frank/tokens", {"spendCap": 150})).json()
    assert capped["spendCap"] == 150
    async with Gateway.connect(served.base_url, capped["token"]) as frank:
        await frank.submit("imagine", {"prompt": "one"})
        over = await frank.post("/mj/submit/imagine", {"prompt": "two"})
        assert over.status_code == 402
    balance = (await gateway.http.get("/mj/admin/users/frank/quota")).json()["balance"]
    assert balance == 900
