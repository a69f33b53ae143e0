"""Where relay upstreams post task status: one signed URL per task, no API token."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from fastapi import APIRouter, Request

from mjgate.api.deps import RuntimeDep
from mjgate.api.errors import envelope
from mjgate.services.relay_status import accept_callback

OFF_LOOP = 64 * 1024
router = APIRouter(tags=["relay"], include_in_schema=False)


@router.post("/relay/callback/{task_id}/{signature}")
async def relay_callback(
    task_id: str, signature: str, request: Request, rt: RuntimeDep
) -> dict[str, Any]:
    raw = await request.body()  # within 1 MiB (api.admission), the signature checked first
    try:
        # A large one is parsed off the event loop, so other requests are not held up.
        body: object = (
            json.loads(raw) if len(raw) < OFF_LOOP else await asyncio.to_thread(json.loads, raw)
        )
    except ValueError:
        body = None  # garbage from an upstream is no update; the poll still follows the task
    await accept_callback(rt, task_id, signature, body)
    return envelope(1, "Success", task_id)
