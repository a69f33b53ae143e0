"""Who is calling: API tokens, looked up by their hash."""

from __future__ import annotations

from mjgate.domain.accounts import hash_token
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


async def authenticate(rt: Runtime, token: str | None) -> Caller:
    if not token:
        raise Unauthorized()
    async with rt.db.read() as uow:
        found = await uow.token_with_user(hash_token(token))
    if found is None:
        raise Unauthorized()
    api_token, user = found
    if not api_token.enabled or not user.enabled:
        raise Forbidden()
    assert user.id is not None
    return Caller(user_id=user.id, token_id=api_token.id, is_admin=user.is_admin, name=user.name)
