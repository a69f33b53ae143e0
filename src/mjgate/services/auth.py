"""Who is calling: API tokens, looked up by their hash."""

from __future__ import annotations

from mjgate.domain.accounts import TokenHolder, hash_token
from mjgate.errors import Forbidden, Unauthorized
from mjgate.services.runtime import Runtime
from mjgate.services.submit import Caller


def token_from_headers(authorization: str | None, api_secret: str | None) -> str | None:
    """``Authorization: Bearer <t>`` or ``mj-api-secret: <t>`` (a ``Bearer`` there too)."""
    for value in (authorization, api_secret):
        if value:
            token = value.strip()
            if token[:7].lower() == "bearer ":
                token = token[7:].strip()
            if token:
                return token
    return None


def token_hash(token: str | None) -> str:
    """The stored form of the request's token; no token at all is refused before any read."""
    if not token:
        raise Unauthorized()
    return hash_token(token)


def caller_of(holder: TokenHolder | None) -> Caller:
    """Unknown or revoked token: the same 401, so a guess learns nothing about which tokens
    ever existed. A live token of a disabled user: 403."""
    if holder is None or not holder.token_enabled:
        raise Unauthorized()
    if not holder.user_enabled:
        raise Forbidden()
    return Caller(
        user_id=holder.user_id,
        token_id=holder.token_id,
        is_admin=holder.user_is_admin,
        name=holder.user_name,
    )


async def authenticate(rt: Runtime, token: str | None) -> Caller:
    return caller_of(await rt.db.reads.token_holder(token_hash(token)))
