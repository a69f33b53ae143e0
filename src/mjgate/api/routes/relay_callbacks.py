"""Where relay upstreams post task status: one signed URL per task, no API token."""

from __future__ import annotations

from typing import Any

import orjson
from fastapi import APIRouter, Request

from mjgate.api.deps import RuntimeDep
from mjgate.api.errors import envelope
from mjgate.errors import BindRequestBodyFailed
from mjgate.services.relay_callbacks import check_signature
from mjgate.services.relay_status import accept_callback

router = APIRouter(tags=["relay"], include_in_schema=False)


@router.post("/relay/callback/{task_id}/{signature}")
async def relay_callback(
    task_id: str, signature: str, request: Request, rt: RuntimeDep
) -> dict[str, Any]:
    raw = await request.body()
    try:
        # orjson refuses what json.loads would choke on later or recurse into: nesting deeper
        # than 1,024 levels and lone surrogates (text no database or encoder takes).
        body: object = orjson.loads(raw) if raw else None
    except orjson.JSONDecodeError:
        check_signature(rt, task_id, signature)  # a stranger learns nothing about the body
        raise BindRequestBodyFailed("The callback body is not JSON.") from None
    await accept_callback(rt, task_id, signature, body)
    return envelope(1, "Success", task_id)
