"""Liveness and readiness for process supervisors and load balancers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mjgate.api.deps import RuntimeDep
from mjgate.api.responses import JsonResponse

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process answers")
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get("/readyz", summary="The process can reach its database")
async def readyz(rt: RuntimeDep) -> JsonResponse:
    try:
        await rt.db.ping()
    except Exception as exc:  # any failure to reach the database means not ready
        return JsonResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
    return JsonResponse({"status": "ok"})
