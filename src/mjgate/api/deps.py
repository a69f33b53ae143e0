"""Request-scoped inputs the routes share: runtime, caller, mode prefix, base URL."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Header, Request

from mjgate.api.schemas import CommonFields
from mjgate.domain.tasks import Mode
from mjgate.services.auth import authenticate, token_from_headers
from mjgate.services.runtime import Runtime
from mjgate.services.submit import Caller, SubmitOptions

MODE_PREFIXES = ("/mj-fast", "/mj-relax", "/mj-turbo")
_PREFIX_MODES = {"/mj-fast/": Mode.FAST, "/mj-relax/": Mode.RELAX, "/mj-turbo/": Mode.TURBO}


def runtime(request: Request) -> Runtime:
    rt: Runtime = request.app.state.runtime
    return rt


# The dependencies are ``async def``: FastAPI runs a plain ``def`` dependency on its thread
# pool, a hop to another thread (and back through the GIL) for a dictionary lookup.
async def runtime_dependency(request: Request) -> Runtime:
    return runtime(request)


async def request_token(
    authorization: Annotated[str | None, Header()] = None,
    mj_api_secret: Annotated[str | None, Header(alias="mj-api-secret")] = None,
) -> str | None:
    return token_from_headers(authorization, mj_api_secret)


# The scope key under which Admission leaves the Caller when it looked the token up before
# reading a large body; the routes take it from there instead of asking the database again.
CALLER = "mjgate.caller"


async def caller(request: Request, token: Annotated[str | None, Depends(request_token)]) -> Caller:
    found: Caller | None = request.scope.get(CALLER)
    return found if found is not None else await authenticate(runtime(request), token)


def path_mode(request: Request) -> Mode | None:
    return mode_of_path(request.url.path)


def mode_of_path(path: str) -> Mode | None:
    """The speed mode a path's prefix sets, if it has one."""
    for prefix, mode in _PREFIX_MODES.items():
        if path.startswith(prefix):
            return mode
    return None


def public_base(request: Request) -> str:
    return public_base_for(runtime(request), request)


def public_base_for(rt: Runtime, request: Request) -> str:
    """The base of the absolute URLs we hand out (images, relay callbacks).

    The configured public URL; else the Host the client named (X-Forwarded-* only from known
    proxies) when it is one of MJGATE_ALLOWED_HOSTS; else the address this socket serves on.
    Anyone can send ``Host: evil.example``: it must never become a link others follow.
    """
    if rt.settings.public_url:
        return rt.settings.public_url.rstrip("/")
    scheme, host = request.url.scheme, request.headers.get("host", "")
    client = request.client.host if request.client else None
    if client is not None and client in rt.settings.trusted_proxies:
        scheme = request.headers.get("x-forwarded-proto", scheme).split(",")[0].strip()
        host = request.headers.get("x-forwarded-host", host).split(",")[0].strip()
    if scheme not in ("http", "https"):
        scheme = request.url.scheme
    if host and _host_allowed(host, rt.settings.allowed_hosts):
        return f"{scheme}://{host}"
    return f"{scheme}://{_server_address(request)}"


def _host_allowed(host: str, allowed: list[str]) -> bool:
    """``host`` (``name`` or ``name:port``) matches an entry, with or without its port."""
    host = host.lower()
    name = host.rsplit(":", 1)[0] if not host.endswith("]") else host
    return any(entry.lower() in (host, name) for entry in allowed)


def _server_address(request: Request) -> str:
    server = request.scope.get("server")
    if not server:
        return "127.0.0.1"
    address, port = server[0], server[1]
    if ":" in address:
        address = f"[{address}]"
    return address if port is None else f"{address}:{port}"


def submit_options(request: Request, body: CommonFields) -> SubmitOptions:
    return SubmitOptions(
        path_mode=path_mode(request),
        mode=body.mode,
        state=body.state,
        notify_hook=body.notify_hook,
        bot_type=body.bot_type,
        public_base=public_base(request),
        account_filter=body.account_filter,
    )


RuntimeDep = Annotated[Runtime, Depends(runtime_dependency)]
CallerDep = Annotated[Caller, Depends(caller)]
# For reads that authenticate in the same statement as they read (services.queries).
TokenDep = Annotated[str | None, Depends(request_token)]
