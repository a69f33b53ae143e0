"""Request bodies: read as JSON whatever their declared type (limits: ``api.admission``)."""

from __future__ import annotations

from starlette.types import ASGIApp, Receive, Scope, Send


class JsonBodies:
    """Every /mj body is JSON, whatever Content-Type the client declared.

    ``curl -d '{...}'`` declares form encoding, and so do some clients; midjourney-proxy
    servers read the body as JSON regardless, so mjgate does too.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] in ("POST", "PUT"):
            headers = [(k, v) for k, v in scope["headers"] if k != b"content-type"]
            headers.append((b"content-type", b"application/json"))
            scope = {**scope, "headers": headers}
        await self.app(scope, receive, send)
