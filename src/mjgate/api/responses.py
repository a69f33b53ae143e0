"""JSON responses encoded with orjson (fast, and exact for the envelope's plain types)."""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse


class JsonResponse(JSONResponse):
    """A ``JSONResponse`` (so FastAPI writes the answers' schemas into the OpenAPI
    document) that renders with orjson."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)
