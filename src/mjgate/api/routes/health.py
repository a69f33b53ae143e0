"""Liveness and readiness for process supervisors and load balancers."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from mjgate.api.answers import EXAMPLES, Health, Unready
from mjgate.api.deps import RuntimeDep
from mjgate.api.openapi import ok
from mjgate.api.responses import JsonResponse

router = APIRouter(tags=["health"])


@router.get(
    "/healthz",
    summary="The process answers",
    response_model=None,
    responses=ok(Health, example=EXAMPLES["health"]),
)
async def healthz() -> dict[str, Any]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="The process can reach its database",
    responses={
        **ok(Health, example=EXAMPLES["health"]),
        503: {
            "model": Unready,
            "description": "The database is not reachable",
            "content": {"application/json": {"example": EXAMPLES["unready"]}},
        },
    },
)
async def readyz(rt: RuntimeDep) -> JsonResponse:
    try:
        await rt.db.ping()
    except Exception as exc:  # any failure to reach the database means not ready
        return JsonResponse({"status": "unavailable", "reason": type(exc).__name__}, 503)
    return JsonResponse({"status": "ok"})
