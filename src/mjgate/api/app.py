"""``create_app``: the ASGI application for one runtime."""

from __future__ import annotations

from fastapi import FastAPI
from starlette.types import ASGIApp

from mjgate import __version__
from mjgate.api.admission import Admission
from mjgate.api.deps import MODE_PREFIXES
from mjgate.api.errors import CatchUnexpected, install_error_handlers
from mjgate.api.front import FastRoutes, Frame, Step, through
from mjgate.api.limits import JsonBodies
from mjgate.api.openapi import openapi_document
from mjgate.api.rate_limit_step import RateLimitStep
from mjgate.api.responses import JsonResponse
from mjgate.api.routes import (
    admin,
    docs,
    files,
    health,
    metrics,
    openai_images,
    relay_callbacks,
    submit,
    tasks,
)
from mjgate.services.runtime import Runtime

DESCRIPTION = """\
mjgate speaks the midjourney-proxy `/mj` protocol. Authenticate with
`Authorization: Bearer <token>` or `mj-api-secret: <token>`. Every route also answers under
`/mj-fast/mj/...`, `/mj-relax/mj/...` and `/mj-turbo/mj/...`, which set the task's mode.
The built-in `sandbox` channel simulates Midjourney offline; it is not Midjourney.

Every answer is JSON except image and video bytes. Every error is the envelope
`{"code", "description": "<error id>", "result": null, "properties": {"message"}}` with its
real HTTP status; besides those listed per operation, an unknown path answers 404
`not_found` and a method a path does not take 405 `method_not_allowed`. Submits answer HTTP
200 with `code` 1, 21 or 22 (a task was made) or 23 or 24 (refused, nothing charged).
"""


def create_app(rt: Runtime) -> ASGIApp:
    """The front door: the steps every request takes, then the fast routes or FastAPI."""
    return through(front_steps(rt), FastRoutes(rt, fastapi_app(rt)))


def front_steps(rt: Runtime) -> list[Step]:
    """The cross-cutting steps, outermost first, run for the fast routes and FastAPI's alike.

    Each is a callable ``ASGIApp -> ASGIApp``; adding one is adding a line. A step placed
    after ``Admission`` would see only admitted requests with their body read.
    """
    return [
        # Request id (X-Request-Id echoed or made), access log (MJGATE_ACCESS_LOG), CORS
        # (requests with an Origin) and the 500 net: hooks of one layer (see api.front).
        lambda app: Frame(app, rt.settings),
        # Rate limits: after CORS (a browser can read the 429), before admission (no body is
        # read, no token looked up, for a caller over its rate).
        lambda app: RateLimitStep(app, rt),
        # Credentials from the headers, then the body within the route's limit and the
        # process's budget (api.admission); the matched route is left in the scope.
        lambda app: Admission(app, rt),
    ]


def fastapi_app(rt: Runtime) -> FastAPI:
    app = FastAPI(
        title="mjgate",
        version=__version__,
        description=DESCRIPTION,
        default_response_class=JsonResponse,
        # Served by api.routes.docs with assets of our own, not FastAPI's CDN-loaded pages.
        docs_url=None,
        redoc_url=None,
        # A trailing slash is a 404 envelope like any unknown path, not a bodiless 307 to a
        # Location built from the Host header.
        redirect_slashes=False,
        # operationIds are the handlers' names (imagine, fetch, list_by_condition): what a
        # client generated from the document calls its methods.
        generate_unique_id_function=lambda route: route.name,
        # mjgate exports no OpenTelemetry; left on, FastAPI asks the global providers
        # whether it should, on every request (a tenth of a polled read's time).
        telemetry={"tracing": False, "metrics": False, "logs": False},
    )
    app.state.runtime = rt
    # The document says what the front door does too: security, the real error statuses.
    app.openapi = lambda: openapi_document(app)  # type: ignore[method-assign]
    install_error_handlers(app)
    for router in (submit.router, tasks.router, files.router):
        app.include_router(router, prefix="/mj")
        for prefix in MODE_PREFIXES:
            app.include_router(router, prefix=f"{prefix}/mj", include_in_schema=False)
    app.include_router(admin.router, prefix="/mj")
    app.include_router(relay_callbacks.router, prefix="/mj")
    app.include_router(openai_images.router)
    app.include_router(health.router)
    app.include_router(metrics.router)
    app.include_router(docs.router)
    # FastAPI's own 500 net, inside Starlette's ServerErrorMiddleware (which would answer a
    # plain-text 500 first); the front's net covers everything in front of FastAPI.
    app.add_middleware(CatchUnexpected)
    app.add_middleware(JsonBodies)
    return app
