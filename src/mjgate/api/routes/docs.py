"""``/docs`` (Swagger UI) and ``/redoc`` with their assets served from here, never a CDN.

FastAPI's own pages load Swagger UI and ReDoc from a CDN, so behind a firewall or offline
they are blank. The assets come from the ``fastapi-offline`` distribution (Swagger UI 5,
which renders the OpenAPI 3.1 that FastAPI writes, and ReDoc 2); only its files are used,
under ``/docs/assets/``, with FastAPI's page builders.
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path

from fastapi import APIRouter, Request
from fastapi.openapi.docs import get_redoc_html, get_swagger_ui_html
from fastapi.responses import FileResponse, HTMLResponse

from mjgate.errors import RouteNotFound

router = APIRouter(include_in_schema=False)
ASSETS = "/docs/assets"
_STATIC = Path(str(files("fastapi_offline") / "static"))
# The files served, by name, with their types: nothing else of the package is reachable.
_ASSET_TYPES = {
    "swagger-ui-bundle.js": "text/javascript; charset=utf-8",
    "swagger-ui.css": "text/css; charset=utf-8",
    "redoc.standalone.js": "text/javascript; charset=utf-8",
    "favicon.png": "image/png",
}
_CACHE = "public, max-age=86400"
SWAGGER_PARAMETERS = {
    # Keep the token entered under "Authorize" across reloads of the page.
    "persistAuthorization": True,
    # No badge that sends the spec to an outside validator.
    "validatorUrl": None,
}


def _root(request: Request) -> str:
    return str(request.scope.get("root_path", ""))


@router.get("/docs")
async def swagger_ui(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_swagger_ui_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - Swagger UI",
        swagger_js_url=f"{root}{ASSETS}/swagger-ui-bundle.js",
        swagger_css_url=f"{root}{ASSETS}/swagger-ui.css",
        swagger_favicon_url=f"{root}{ASSETS}/favicon.png",
        oauth2_redirect_url=None,
        swagger_ui_parameters=SWAGGER_PARAMETERS,
    )


@router.get("/redoc")
async def redoc(request: Request) -> HTMLResponse:
    root = _root(request)
    return get_redoc_html(
        openapi_url=f"{root}{request.app.openapi_url}",
        title=f"{request.app.title} - ReDoc",
        redoc_js_url=f"{root}{ASSETS}/redoc.standalone.js",
        redoc_favicon_url=f"{root}{ASSETS}/favicon.png",
        with_google_fonts=False,
    )


@router.get(ASSETS + "/{name}")
async def asset(name: str) -> FileResponse:
    media_type = _ASSET_TYPES.get(name)
    if media_type is None:
        raise RouteNotFound()
    return FileResponse(_STATIC / name, media_type=media_type, headers={"Cache-Control": _CACHE})
