"""What the front door knows of each route before FastAPI: credentials, body limit, fast way.

Matched once per request by ``Admission`` and left in the scope (``ROUTE``) for the steps
after it (a rate limit can tell reads from submits by ``Route.kind``) and for ``FastRoutes``.
Paths are matched without their speed-mode prefix (``/mj-fast``, ``/mj-relax``,
``/mj-turbo``), as the FastAPI routes are mounted under each.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from mjgate.api.deps import MODE_PREFIXES

KIB = 1024
# A fetch list of 100 ids or a text submit is a few kilobytes; 64 KiB leaves room.
SMALL_BODY = 64 * KIB
# Relay status posts carry a task's JSON, image URLs included, never images.
RELAY_BODY = 1024 * KIB

# Keys this project adds to the ASGI scope.
ROUTE = "mjgate.route"
BODY = "mjgate.body"  # the body Admission read (a bytearray)


class Credentials(enum.Enum):
    NONE = "none"
    TOKEN = "token"
    RELAY_SIGNATURE = "relay_signature"


@dataclass(frozen=True)
class Route:
    name: str  # the fast route's name, or "" for one FastAPI alone serves
    kind: str  # "read", "submit", "admin", "relay" or "other"
    credentials: Credentials
    body_limit: int | None  # None: the server's max_body_bytes (image-carrying routes)


_FETCH_HEAD, _FETCH_TAIL = "/mj/task/", "/fetch"
FETCH = Route("fetch", "read", Credentials.TOKEN, SMALL_BODY)
_LIST = Route("list", "read", Credentials.TOKEN, SMALL_BODY)
_EXACT = {
    ("POST", "/mj/task/list-by-condition"): _LIST,
    ("POST", "/mj/task/list-by-ids"): _LIST,
    ("POST", "/mj/submit/imagine"): Route("imagine", "submit", Credentials.TOKEN, None),
    ("POST", "/mj/submit/shorten"): Route("shorten", "submit", Credentials.TOKEN, SMALL_BODY),
    # OpenAI-style images (api.routes.openai_images): a JSON body with a prompt, no images.
    ("POST", "/v1/images/generations"): Route("", "submit", Credentials.TOKEN, SMALL_BODY),
}
# Submits whose bodies are text only; the others may carry images (base64).
_TEXT_SUBMITS = frozenset({"action", "change", "simple-change"})
_READ = Route("", "read", Credentials.TOKEN, SMALL_BODY)
_SUBMIT_TEXT = Route("", "submit", Credentials.TOKEN, SMALL_BODY)
_SUBMIT_IMAGES = Route("", "submit", Credentials.TOKEN, None)
_ADMIN = Route("", "admin", Credentials.TOKEN, SMALL_BODY)
_RELAY = Route("", "relay", Credentials.RELAY_SIGNATURE, RELAY_BODY)
_OTHER = Route("", "other", Credentials.NONE, None)


def unprefixed(path: str) -> str:
    """The path without its speed-mode prefix."""
    if path.startswith("/mj-"):
        for prefix in MODE_PREFIXES:
            if path.startswith(prefix) and path.startswith("/mj/", len(prefix)):
                return path[len(prefix) :]
    return path


def fetched_task_id(path: str) -> str | None:
    """``{id}`` of ``/mj/task/{id}/fetch``, matched as FastAPI does: one non-empty segment."""
    if path.startswith(_FETCH_HEAD) and path.endswith(_FETCH_TAIL):
        task_id = path[len(_FETCH_HEAD) : -len(_FETCH_TAIL)]
        if task_id and "/" not in task_id:
            return task_id
    return None


def route_of(method: str, path: str) -> Route:
    path = unprefixed(path)
    exact = _EXACT.get((method, path))
    if exact is not None:
        return exact
    if method == "GET" and fetched_task_id(path) is not None:
        return FETCH
    if path.startswith("/mj/submit/"):
        return _SUBMIT_TEXT if path[len("/mj/submit/") :] in _TEXT_SUBMITS else _SUBMIT_IMAGES
    if path.startswith("/mj/insight-face/"):
        return _SUBMIT_IMAGES
    if path.startswith("/mj/task/"):
        return _READ
    if path.startswith(("/mj/admin/", "/mj/account/")):
        return _ADMIN
    if path.startswith("/mj/relay/callback/") and path.count("/") == 5:
        return _RELAY
    if path.startswith("/v1/"):  # /v1/models and whatever an OpenAI client tries
        return _READ
    return _OTHER
