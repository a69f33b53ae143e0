"""Per-task callback URLs that upstreams post status to, and taking those posts in.

The URL carries an HMAC of the task id under the server's secret key: unguessable, so no
one but the upstream we gave it to can post to it, and nothing needs to be stored.
"""

from __future__ import annotations

import hmac

from mjgate.domain.tasks import Task
from mjgate.errors import TaskNotFound
from mjgate.services.runtime import Runtime

CALLBACK_PATH = "/mj/relay/callback"


def callback_signature(rt: Runtime, task_id: str) -> str:
    assert rt.settings.secret_key
    mac = hmac.new(rt.settings.secret_key.encode(), f"relay-callback:{task_id}".encode(), "sha256")
    return mac.hexdigest()[:40]


def callback_url(rt: Runtime, task: Task) -> str | None:
    """Absolute, from the public URL or the one the submit reached; None when neither."""
    base = rt.settings.public_url or task.public_base
    if not base:
        return None
    return f"{base.rstrip('/')}{CALLBACK_PATH}/{task.id}/{callback_signature(rt, task.id)}"


def check_signature(rt: Runtime, task_id: str, signature: str) -> None:
    # compare_digest refuses str with non-ASCII characters (a TypeError, so a 500); bytes it
    # compares whatever they hold, and no such signature is ours.
    given = signature.encode("utf-8", "surrogatepass")
    if not hmac.compare_digest(callback_signature(rt, task_id).encode(), given):
        raise TaskNotFound()
