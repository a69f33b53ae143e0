"""Admission: who may send a body, how large, and how much body the process holds at once.

Issue 12 found an anonymous caller could stall or bloat the gateway with bodies: a 64 MiB
JSON body was read and parsed before its token was looked at, and the reader allocated the
declared Content-Length before a byte arrived. Here, for every request that may carry a
body, in this order and before the body is read:

1. the route's body limit against the declared Content-Length (413, nothing read);
2. the credentials from the headers: no token at all on a token route is a 401 at once; a
   token is looked up first when the body may be large (declared above
   ``AUTHENTICATE_FIRST_ABOVE`` or not declared), since reading a few kilobytes costs less
   than the lookup and the route checks the token anyway; the relay callback's signature,
   which is in its path, is checked (404);
3. the body, read into one buffer grown with what arrives, within the route's limit (413)
   and the process's budget of body bytes in flight (503 ``server_busy``).

The body is then handed on in one message (the fast routes also find it in the scope), and
its bytes return to the budget when the request is answered.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mjgate.api.deps import CALLER
from mjgate.api.errors import error_response_at
from mjgate.api.routes_table import BODY, ROUTE, Credentials, Route, route_of
from mjgate.errors import ImageTooLarge, MjgateError, ServerBusy, TaskNotFound, Unauthorized
from mjgate.services.auth import authenticate, token_from_headers
from mjgate.services.relay_callbacks import check_signature
from mjgate.services.runtime import Runtime

AUTHENTICATE_FIRST_ABOVE = 16 * 1024
_BODYLESS = frozenset({"GET", "HEAD", "OPTIONS"})


class BodyBudget:
    """Body bytes held across all connections of this process (one event loop: no lock)."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.held = 0

    def take(self, size: int) -> bool:
        if self.held + size > self.limit:
            return False
        self.held += size
        return True

    def give_back(self, size: int) -> None:
        self.held -= size


class Refused(Exception):
    def __init__(self, error: MjgateError) -> None:
        self.error = error


def request_token(scope: Scope) -> str | None:
    """The token as ``deps.request_token`` reads it: the first of each header."""
    authorization: str | None = None
    api_secret: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization" and authorization is None:
            authorization = value.decode("latin-1")
        elif name == b"mj-api-secret" and api_secret is None:
            api_secret = value.decode("latin-1")
    return token_from_headers(authorization, api_secret)


def declared_length(scope: Scope) -> int | None:
    for name, value in scope["headers"]:
        if name == b"content-length":
            return int(value) if value.isdigit() else None
    return None


async def read_within(receive: Receive, limit: int, budget: BodyBudget) -> bytearray | None:
    """The body, grown as it arrives, or None when the client went away. Raises ``Refused``
    past ``limit`` or the budget; what it took from the budget it gives back then."""
    buffer = bytearray()
    try:
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                budget.give_back(len(buffer))
                return None
            chunk = message.get("body", b"")
            if len(buffer) + len(chunk) > limit:
                raise Refused(ImageTooLarge("The request body is larger than this route accepts."))
            if not budget.take(len(chunk)):
                raise Refused(ServerBusy())
            buffer += chunk
            if not message.get("more_body", False):
                return buffer
    except BaseException:
        budget.give_back(len(buffer))
        raise


def replaying(body: bytes | bytearray, receive: Receive) -> Receive:
    """A ``receive`` that hands on a body already read, then the connection's own events."""
    pending = True

    async def replay() -> Message:
        nonlocal pending
        if pending:
            pending = False
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay


class Admission:
    """The last cross-cutting step: route matched, credentials and body admitted."""

    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        self.app = app
        self.rt = rt
        self.default_limit = rt.settings.max_body_bytes
        self.budget = BodyBudget(rt.settings.max_body_bytes_in_flight)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        route = route_of(scope["method"], scope["path"])
        scope[ROUTE] = route
        if scope["method"] in _BODYLESS:
            await self.app(scope, receive, send)
            return
        limit = route.body_limit or self.default_limit
        try:
            await self._check_headers(scope, route, limit)
            body = await read_within(receive, limit, self.budget)
        except Refused as refused:
            await _refuse(refused.error, scope, receive, send)
            return
        if body is None:
            return
        scope[BODY] = body
        try:
            await self.app(scope, replaying(body, receive), send)
        finally:
            self.budget.give_back(len(body))

    async def _check_headers(self, scope: Scope, route: Route, limit: int) -> None:
        declared = declared_length(scope)
        if declared is not None and declared > limit:
            raise Refused(ImageTooLarge("The request body is larger than this route accepts."))
        if route.credentials is Credentials.TOKEN:
            token = request_token(scope)
            if token is None:
                raise Refused(Unauthorized())
            if declared is None or declared > AUTHENTICATE_FIRST_ABOVE:
                try:
                    scope[CALLER] = await authenticate(self.rt, token)
                except MjgateError as error:
                    raise Refused(error) from error
        elif route.credentials is Credentials.RELAY_SIGNATURE:
            parts = scope["path"].rsplit("/", 2)
            try:
                check_signature(self.rt, parts[-2], parts[-1])
            except TaskNotFound as error:
                raise Refused(error) from error


async def _refuse(error: MjgateError, scope: Scope, receive: Receive, send: Send) -> None:
    """The envelope, on a connection then closed: the rest of the body is not read."""
    response = error_response_at(scope["path"], error)
    response.headers["connection"] = "close"
    await response(scope, receive, send)
