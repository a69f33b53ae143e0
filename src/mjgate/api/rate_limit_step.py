"""Rate limits, answered before anything else runs (the fast paths included).

Every request is a *read* or a *submit* (``POST /mj/submit/*``, the face swap, under any
mode prefix, and ``POST /v1/images/generations``), each with its own budget
(``services.rate_limiter``). It counts under its token once this process has seen that
token accepted; otherwise (no token, or one not yet known good) under the client's address,
with the anonymous limits. Health probes, metrics
and relay callbacks (signed by our upstream, which polls us otherwise) are not limited.
Over the limit: HTTP 429, code 23, ``rate_limited``, and ``Retry-After`` in whole seconds.

Whether a token is good is learned from the answers of routes that authenticate: a 2xx
teaches it. So there is no lookup per request, and made-up tokens count against their
sender's address like no token at all. A token revoked after it was learned keeps counting
under itself, within the token limits, until newer tokens push it out of the known ones.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mjgate.api.admission import request_token
from mjgate.api.client_address import client_address
from mjgate.api.errors import error_response_at
from mjgate.api.polled_routes import unprefixed
from mjgate.domain.rate_limits import Rate, rate_or_none, retry_after_seconds
from mjgate.errors import RateLimited
from mjgate.services.rate_limiter import KnownTokens, RateLimiter
from mjgate.services.runtime import Runtime

READ, SUBMIT = "read", "submit"
_UNLIMITED_PREFIXES = ("/mj/relay/callback/", "/healthz", "/readyz", "/metrics")
_SUBMIT_PATHS = ("/mj/submit/", "/mj/insight-face/swap", "/v1/images/")
# Routes under /mj that answer without a token: their 2xx proves nothing about one.
_NOT_AUTHENTICATING = ("/mj/image/", "/mj/relay/")


def request_kind(scope: Scope) -> str | None:
    """READ, SUBMIT, or None for a request no limit applies to."""
    path = unprefixed(scope["path"])
    if path.startswith(_UNLIMITED_PREFIXES):
        return None
    if scope["method"] == "POST" and path.startswith(_SUBMIT_PATHS):
        return SUBMIT
    return READ


def proves_token(scope: Scope) -> bool:
    """Whether a 2xx answer to this request means its token was accepted."""
    path = unprefixed(scope["path"])
    return (
        scope["method"] in ("GET", "POST")
        and path.startswith(("/mj/", "/v1/"))
        and not path.startswith(_NOT_AUTHENTICATING)
    )


class RateLimitStep:
    """ASGI middleware: refuse over-limit requests with 429 before they cost anything."""

    def __init__(self, app: ASGIApp, rt: Runtime) -> None:
        settings = rt.settings
        self.app = app
        self._token_rates: dict[str, Rate | None] = {
            READ: rate_or_none(settings.rate_limit_read_per_second, settings.rate_limit_read_burst),
            SUBMIT: rate_or_none(
                settings.rate_limit_submit_per_second, settings.rate_limit_submit_burst
            ),
        }
        self._anonymous = rate_or_none(
            settings.rate_limit_anonymous_per_second, settings.rate_limit_anonymous_burst
        )
        self._off = self._anonymous is None and not any(self._token_rates.values())
        self._trusted = frozenset(settings.trusted_proxies)
        # One process owns a SQLite database: its budgets need not leave memory.
        self.limiter = RateLimiter(
            None if rt.db.is_sqlite else rt.db.rate_buckets,
            reserve_seconds=settings.rate_limit_reserve_seconds,
        )
        self.known_tokens = KnownTokens()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if self._off or scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        kind = request_kind(scope)
        if kind is None:
            await self.app(scope, receive, send)
            return
        token = request_token(scope)
        hashed = self.known_tokens.hash_of(token) if token else None
        known = hashed is not None and hashed in self.known_tokens
        if known:
            rate, key = self._token_rates[kind], f"{kind}:t:{hashed}"
        else:
            rate = self._anonymous
            key = f"{kind}:a:{client_address(scope, self._trusted)}"
        if rate is not None:
            wait = self.limiter.admit_now(key, rate)
            if wait is None:
                wait = await self.limiter.admit(key, rate)
            if wait:
                await self._refuse(scope, receive, send, retry_after_seconds(wait))
                return
        if known or token is None or hashed is None or not proves_token(scope):
            # A known token stays known (until 100,000 newer ones push it out): watching
            # every answer for the 401 of a revocation would cost each request a wrapped send.
            await self.app(scope, receive, send)
            return
        await self.app(scope, receive, self._learning(token, hashed, send))

    def _learning(self, token: str, hashed: str, send: Send) -> Send:
        known = self.known_tokens

        async def observed(message: Message) -> None:
            if message["type"] == "http.response.start":
                status = message["status"]
                if 200 <= status < 300:
                    known.learn_token(token, hashed)
            await send(message)

        return observed

    @staticmethod
    async def _refuse(scope: Scope, receive: Receive, send: Send, seconds: int) -> None:
        response = error_response_at(scope["path"], RateLimited(retryAfter=seconds))
        response.headers["Retry-After"] = str(seconds)
        await response(scope, receive, send)
