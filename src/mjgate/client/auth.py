"""The two ways a token goes to the server (PROTOCOL §1)."""

from __future__ import annotations

AUTH_STYLES = ("bearer", "mj-api-secret")


def auth_headers(token: str | None, style: str = "bearer") -> dict[str, str]:
    if style not in AUTH_STYLES:
        raise ValueError(f"auth must be one of {', '.join(AUTH_STYLES)}")
    if not token:
        return {}
    if style == "bearer":
        return {"Authorization": f"Bearer {token}"}
    return {"mj-api-secret": token}
