"""GET /mj/image/<key>: stored images and videos behind signed capability URLs (PROTOCOL §7)."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import FileResponse

from mjgate.api.deps import RuntimeDep
from mjgate.api.openapi import errors
from mjgate.errors import RouteNotFound
from mjgate.storage import StoredFileMissing

router = APIRouter(tags=["files"])
CACHE_FOREVER = "public, max-age=31536000, immutable"


@router.get(
    "/image/{key:path}",
    summary="A stored image or video (no token needed)",
    response_class=FileResponse,
    responses={
        200: {
            "description": "The file, with a long-lived Cache-Control and an ETag",
            "content": {
                kind: {"schema": {"type": "string", "format": "binary"}}
                for kind in ("image/png", "image/jpeg", "image/webp", "image/gif", "video/mp4")
            },
        },
        **errors(RouteNotFound),
    },
)
@router.head("/image/{key:path}", include_in_schema=False)
async def stored_file(key: str, rt: RuntimeDep, sig: str = "", exp: str = "0") -> FileResponse:
    # A malformed expiry is just another invalid link: 404 like the rest, never a 400. Only
    # ASCII digits, and few of them: int() refuses 4,300+ digits and Unicode digits like "²".
    expires = int(exp) if exp.isascii() and exp.isdigit() and len(exp) <= 20 else -1
    if expires < 0 or not rt.storage.verify(key, expires, sig, rt.clock() // 1000):
        raise RouteNotFound("No such file, or the link is not valid.")
    try:
        stored = rt.storage.locate(key)
    except StoredFileMissing:
        raise RouteNotFound("No such file, or the link is not valid.") from None
    cache = f"public, max-age={max(0, expires - rt.clock() // 1000)}" if expires else CACHE_FOREVER
    return FileResponse(
        stored.path, media_type=stored.content_type, headers={"Cache-Control": cache}
    )
