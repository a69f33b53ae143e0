"""Where relay upstreams post task status: one signed URL per task, no API token."""

from __future__ import annotations

import asyncio
from typing import Any

import orjson
from fastapi import APIRouter, Request

from mjgate.api.deps import RuntimeDep
from mjgate.api.errors import envelope
from mjgate.errors import BindRequestBodyFailed
from mjgate.services.relay_callbacks import check_signature
from mjgate.services.relay_status import accept_callback

OFF_LOOP = 64 * 1024
router = APIRouter(tags=["relay"], include_in_schema=False)


@router.post("/relay/callback/{task_id}/{signature}")
async def relay_callback(
    task_id: str, signature: str, request: Request, rt: RuntimeDep
) -> dict[str, Any]:
    raw = await request.body()  # within 1 MiB (api.admission), the signature checked first
    try:
        # orjson refuses what json.loads would choke on later or recurse into: nesting deeper
        # than 1,024 levels and lone surrogates (text no database or encoder takes). A large
        # body is parsed off the event loop, so other requests are not held up.
        body: object = (
            None
            if not raw
            else orjson.loads(raw)
            if len(raw) < OFF_LOOP
            else await asyncio.to_thread(orjson.loads, raw)
        )
    except orjson.JSONDecodeError:
        check_signature(rt, task_id, signature)  # a stranger learns nothing about the body
        raise BindRequestBodyFailed("The callback body is not JSON.") from None
    await accept_callback(rt, task_id, signature, body)
    return envelope(1, "Success", task_id)
