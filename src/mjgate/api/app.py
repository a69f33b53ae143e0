"""``create_app``: the ASGI application for one runtime."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from starlette.types import ASGIApp

from mjgate import __version__
from mjgate.api.deps import MODE_PREFIXES
from mjgate.api.errors import CatchUnexpected, install_error_handlers
from mjgate.api.limits import BodySizeLimit, JsonBodies
from mjgate.api.polled_routes import PolledRoutes
from mjgate.api.responses import JsonResponse
from mjgate.api.routes import admin, files, health, metrics, relay_callbacks, submit, tasks
from mjgate.api.text_submits import TextSubmits
from mjgate.services.runtime import Runtime

DESCRIPTION = """\
mjgate speaks the midjourney-proxy `/mj` protocol. Authenticate with
`Authorization: Bearer <token>` or `mj-api-secret: <token>`. Every route also answers under
`/mj-fast/mj/...`, `/mj-relax/mj/...` and `/mj-turbo/mj/...`, which set the task's mode.
The built-in `sandbox` channel simulates Midjourney offline; it is not Midjourney.
"""


def create_app(rt: Runtime) -> ASGIApp:
    """The FastAPI application, behind the short ways round it of the busiest routes."""
    limit = rt.settings.max_body_bytes
    return PolledRoutes(TextSubmits(fastapi_app(rt), rt, limit), rt, limit)


def fastapi_app(rt: Runtime) -> FastAPI:
    app = FastAPI(
        title="mjgate",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JsonResponse,
        # A trailing slash is a 404 envelope like any unknown path, not a bodiless 307 to a
        # Location built from the Host header.
        redirect_slashes=False,
        # mjgate exports no OpenTelemetry; left on, FastAPI asks the global providers
        # whether it should, on every request (a tenth of a polled read's time).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = rt
    install_error_handlers(app)
    for router in (submit.router, tasks.router, files.router):
        app.include_router(router, prefix="/mj")
        for prefix in MODE_PREFIXES:
            app.include_router(router, prefix=f"{prefix}/mj", include_in_schema=False)
    app.include_router(admin.router, prefix="/mj")
    app.include_router(relay_callbacks.router, prefix="/mj")
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.add_middleware(CatchUnexpected)
    app.add_middleware(JsonBodies)
    app.add_middleware(BodySizeLimit, max_bytes=rt.settings.max_body_bytes)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=[o.strip() for o in rt.settings.cors_origins.split(",")],
        allow_methods=["GET", "POST", "OPTIONS", "HEAD"],
        allow_headers=["Authorization", "mj-api-secret", "Content-Type"],
        max_age=86400,
    )
    return app
