"""OpenAPI at /openapi.json, the docs page at /docs, health at /healthz and /readyz."""

from __future__ import annotations

from support import Gateway

CONTRACT_PATHS = {
    "/mj/submit/imagine",
    "/mj/submit/blend",
    "/mj/submit/describe",
    "/mj/submit/shorten",
    "/mj/submit/action",
    "/mj/submit/modal",
    "/mj/submit/change",
    "/mj/submit/simple-change",
    "/mj/submit/video",
    "/mj/submit/edits",
    "/mj/submit/upload-discord-images",
    "/mj/insight-face/swap",
    "/mj/task/{task_id}/fetch",
    "/mj/task/list-by-condition",
    "/mj/task/list-by-ids",
    "/mj/task/list",
    "/mj/task/queue",
    "/mj/task/{task_id}/image-seed",
    "/mj/task/{task_id}/cancel",
    "/mj/image/{key}",
}


async def test_openapi_documents_every_contract_route(gateway: Gateway) -> None:
    response = await gateway.http.get("/openapi.json")
    assert response.status_code == 200
    spec = response.json()
    assert set(spec["paths"]) >= CONTRACT_PATHS
    imagine = spec["paths"]["/mj/submit/imagine"]["post"]
    assert "requestBody" in imagine
    operation_ids = [op["operationId"] for path in spec["paths"].values() for op in path.values()]
    assert len(operation_ids) == len(set(operation_ids))


async def test_docs_page_and_health(gateway: Gateway) -> None:
    docs = await gateway.http.get("/docs")
    assert docs.status_code == 200
    assert "swagger" in docs.text.lower()
    assert (await gateway.http.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.http.get("/readyz")).json() == {"status": "ok"}
