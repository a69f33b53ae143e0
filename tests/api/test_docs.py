"""OpenAPI at /openapi.json, the docs page at /docs, health at /healthz and /readyz."""

from __future__ import annotations

import re

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


ASSET_TYPES = {".js": "text/javascript", ".css": "text/css", ".png": "image/png"}


async def test_docs_pages_load_only_our_own_assets(gateway: Gateway) -> None:
    """Swagger UI and ReDoc work offline: every URL on the pages is ours, and answers."""
    for page, marker in (("/docs", "SwaggerUIBundle"), ("/redoc", "<redoc")):
        response = await gateway.http.get(page)
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert marker in response.text
        urls = re.findall(r"""(?:src|href|url)\s*[=:]\s*["']([^"']+)["']""", response.text)
        assert urls, response.text
        assert "/openapi.json" in urls
        for url in urls:
            assert url.startswith("/"), f"{page} loads {url} from elsewhere"
            assert "//" not in url, url
        assert "http://" not in response.text and "https://" not in response.text
        for url in urls:
            if url == "/openapi.json":
                continue
            asset = await gateway.http.get(url)
            assert asset.status_code == 200, url
            suffix = url[url.rindex(".") :]
            assert asset.headers["content-type"].startswith(ASSET_TYPES[suffix]), url
            assert len(asset.content) > 1000, url
    unknown = await gateway.http.get("/docs/assets/LICENSE")
    assert unknown.status_code == 404
    assert unknown.json()["description"] == "not_found"


async def test_health(gateway: Gateway) -> None:
    assert (await gateway.http.get("/healthz")).json() == {"status": "ok"}
    assert (await gateway.http.get("/readyz")).json() == {"status": "ok"}
